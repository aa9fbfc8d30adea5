// The libFuzzer entry point every target in this folder defines. Built two
// ways: with clang and -fsanitize=fuzzer (scripts/fuzz; EDGEVISION_BUILD_FUZZERS)
// and, in every test build, with standalone_main.cc, which replays the seeds
// and every kept crash (fuzz/regressions/<target>/) as an ordinary test.
#pragma once

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
