// The x86-64 intrinsics (<immintrin.h>) for the engine's own AVX-512 kernels
// (depthwise_conv.cc, pointwise_gemm.cc, max_pool_ring.cc, int8_gemm.cc,
// int16_gemm.cc, vnni_tiles.h). Include it from a kernel's .cc (or a header only kernels
// include, as vnni_tiles.h), never from a header that other modules include:
// see the pragmas below.
//
// EV_X86_INTRINSICS is defined where the kernels are compiled in (x86-64
// under GCC or a GCC-compatible compiler; the kernels pick their instruction
// sets per function with target attributes and check the CPU at run time).
// Elsewhere (aarch64) this header is empty and the kernels' files keep only
// their portable paths. engine/int8_gemm.h's EV_Q8_GEMM_BUILT uses the same
// condition (int8_gemm.cc checks that they agree).
//
// Why the pragmas: GCC 12's own avx512fintrin.h trips -Wuninitialized and
// -Wmaybe-uninitialized (GCC bug 105593: its _mm512_undefined_* helpers
// initialise a vector from itself). They stay off for the rest of the
// including file, as when each kernel carried its own copy: a push/pop around
// the include would silence the header but bring back one false positive in
// a kernel (depthwise_conv.cc's row table, "rows may be used uninitialized").
#pragma once

#if defined(__x86_64__) && defined(__GNUC__)
#define EV_X86_INTRINSICS 1
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#endif
