# Cross-compiling for arm64 against a Debian 12 arm64 root used as sysroot
# (scripts/arm64/build-and-test.sh makes it). The compiler is Debian's
# aarch64-linux-gnu-g++ 12, the same GCC 12 the root itself ships; headers
# and libraries come only from the root. Code generators (protoc, flatc) are
# the host's, from the same Debian release.
#   cmake -DCMAKE_TOOLCHAIN_FILE=scripts/arm64/aarch64-toolchain.cmake -DEDGEVISION_ARM64_ROOT=/path/to/root
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

if(NOT EDGEVISION_ARM64_ROOT)
  set(EDGEVISION_ARM64_ROOT "$ENV{EDGEVISION_ARM64_ROOT}")
endif()
if(NOT EDGEVISION_ARM64_ROOT OR NOT EXISTS "${EDGEVISION_ARM64_ROOT}/usr/lib/aarch64-linux-gnu")
  message(FATAL_ERROR "EDGEVISION_ARM64_ROOT must name a Debian arm64 root (scripts/arm64/build-and-test.sh)")
endif()
# Seen again by try_compile projects.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES EDGEVISION_ARM64_ROOT)
set(ENV{EDGEVISION_ARM64_ROOT} "${EDGEVISION_ARM64_ROOT}")

set(CMAKE_SYSROOT "${EDGEVISION_ARM64_ROOT}")
set(CMAKE_FIND_ROOT_PATH "${EDGEVISION_ARM64_ROOT}")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# pkg-config answers from the root only, with paths prefixed by it.
set(ENV{PKG_CONFIG_SYSROOT_DIR} "${EDGEVISION_ARM64_ROOT}")
set(ENV{PKG_CONFIG_LIBDIR}
    "${EDGEVISION_ARM64_ROOT}/usr/lib/aarch64-linux-gnu/pkgconfig:${EDGEVISION_ARM64_ROOT}/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")

# Test binaries are listed when ctest runs (inside the root, under qemu), not
# at build time on this host.
set(CMAKE_GTEST_DISCOVER_TESTS_DISCOVERY_MODE PRE_TEST)
