# Cross-compiling for a Debian ARM architecture against a Debian 12 root of
# that architecture used as sysroot (scripts/arm/lib.sh makes it):
#   cmake -DCMAKE_TOOLCHAIN_FILE=scripts/arm/cross-toolchain.cmake \
#         -DEDGEVISION_CROSS_ARCH=arm64|armhf -DEDGEVISION_CROSS_ROOT=/path/to/root
# The compiler is Debian's cross GCC 12 (g++-aarch64-linux-gnu,
# g++-arm-linux-gnueabihf), the same GCC 12 the root itself ships, with
# Debian's defaults for the architecture (armhf: ARMv7-A, Thumb-2, VFPv3-D16,
# hard float, no NEON: XNNPACK picks its NEON kernels at run time). Headers
# and libraries come only from the root. Code generators (protoc, flatc) are
# the host's, from the same Debian release.
foreach(var EDGEVISION_CROSS_ARCH EDGEVISION_CROSS_ROOT)
  if(NOT ${var})
    set(${var} "$ENV{${var}}")
  endif()
  # Seen again by try_compile projects.
  list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES ${var})
  set(ENV{${var}} "${${var}}")
endforeach()

if(EDGEVISION_CROSS_ARCH STREQUAL "arm64")
  set(CMAKE_SYSTEM_PROCESSOR aarch64)
  set(_ev_triplet aarch64-linux-gnu)
elseif(EDGEVISION_CROSS_ARCH STREQUAL "armhf")
  set(CMAKE_SYSTEM_PROCESSOR armv7l)
  set(_ev_triplet arm-linux-gnueabihf)
else()
  message(FATAL_ERROR "EDGEVISION_CROSS_ARCH must be arm64 or armhf (got '${EDGEVISION_CROSS_ARCH}')")
endif()
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_C_COMPILER ${_ev_triplet}-gcc)
set(CMAKE_CXX_COMPILER ${_ev_triplet}-g++)
set(CMAKE_LIBRARY_ARCHITECTURE ${_ev_triplet})

if(NOT EDGEVISION_CROSS_ROOT OR NOT EXISTS "${EDGEVISION_CROSS_ROOT}/usr/lib/${_ev_triplet}")
  message(FATAL_ERROR "EDGEVISION_CROSS_ROOT must name a Debian ${EDGEVISION_CROSS_ARCH} root (scripts/arm/lib.sh)")
endif()

set(CMAKE_SYSROOT "${EDGEVISION_CROSS_ROOT}")
set(CMAKE_FIND_ROOT_PATH "${EDGEVISION_CROSS_ROOT}")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# pkg-config answers from the root only, with paths prefixed by it.
set(ENV{PKG_CONFIG_SYSROOT_DIR} "${EDGEVISION_CROSS_ROOT}")
set(ENV{PKG_CONFIG_LIBDIR}
    "${EDGEVISION_CROSS_ROOT}/usr/lib/${_ev_triplet}/pkgconfig:${EDGEVISION_CROSS_ROOT}/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")

# Test binaries are listed when ctest runs (inside the root, under qemu), not
# at build time on this host.
set(CMAKE_GTEST_DISCOVER_TESTS_DISCOVERY_MODE PRE_TEST)

# cpack's dpkg-shlibdeps: the root's shlibs/symbols files name the Debian
# packages of the target architecture (scripts/release).
set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE ${EDGEVISION_CROSS_ARCH})
