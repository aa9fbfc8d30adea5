# Every third-party dependency, found from Debian 12 packages. The package
# names are listed once, in scripts/setup-debian.sh.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(Protobuf REQUIRED)         # libprotobuf-dev, protobuf-compiler
find_package(ONNX REQUIRED)             # libonnx-dev (ONNX-ML protobuf classes)
find_package(FlatBuffers REQUIRED)      # libflatbuffers-dev, flatbuffers-compiler
find_package(nlohmann_json REQUIRED)    # nlohmann-json3-dev
# libleveldb-dev (a SavedModel's variables.index is an SSTable). Not its CMake
# config: that one also wants libsnappy-dev, which only a static link needs.
find_path(LEVELDB_INCLUDE_DIR leveldb/table.h REQUIRED)
find_library(LEVELDB_LIBRARY leveldb REQUIRED)
add_library(leveldb::leveldb UNKNOWN IMPORTED)
set_target_properties(leveldb::leveldb PROPERTIES IMPORTED_LOCATION "${LEVELDB_LIBRARY}"
                                                  INTERFACE_INCLUDE_DIRECTORIES "${LEVELDB_INCLUDE_DIR}")
find_package(CLI11 REQUIRED)            # libcli11-dev
find_package(spdlog REQUIRED)           # libspdlog-dev
pkg_check_modules(LIBZIP REQUIRED IMPORTED_TARGET libzip)     # libzip-dev (its CMake config needs libzip-tools)
find_package(CURL REQUIRED)             # libcurl4-openssl-dev
find_package(OpenSSL REQUIRED)          # libssl-dev
find_package(SQLite3 REQUIRED)          # libsqlite3-dev
find_package(PNG REQUIRED)              # libpng-dev
find_package(GTest)                     # libgtest-dev, libgmock-dev
pkg_check_modules(TURBOJPEG REQUIRED IMPORTED_TARGET libturbojpeg)   # libturbojpeg0-dev
pkg_check_modules(LIBJPEG REQUIRED IMPORTED_TARGET libjpeg)          # libjpeg62-turbo-dev
pkg_check_modules(WEBP REQUIRED IMPORTED_TARGET libwebp)             # libwebp-dev
pkg_check_modules(LIBEXIF REQUIRED IMPORTED_TARGET libexif)          # libexif-dev
pkg_check_modules(MOSQUITTO REQUIRED IMPORTED_TARGET libmosquitto)   # libmosquitto-dev

# libxnnpack-dev and libpthreadpool-dev ship no CMake or pkg-config files.
find_path(XNNPACK_INCLUDE_DIR xnnpack.h REQUIRED)
find_library(XNNPACK_LIBRARY XNNPACK REQUIRED)
find_path(PTHREADPOOL_INCLUDE_DIR pthreadpool.h REQUIRED)
find_library(PTHREADPOOL_LIBRARY pthreadpool REQUIRED)
add_library(edgevision_xnnpack INTERFACE)
target_include_directories(edgevision_xnnpack INTERFACE ${XNNPACK_INCLUDE_DIR} ${PTHREADPOOL_INCLUDE_DIR})
target_link_libraries(edgevision_xnnpack INTERFACE ${XNNPACK_LIBRARY} ${PTHREADPOOL_LIBRARY} Threads::Threads)

# cpp-httplib: Debian ships it compiled (libcpp-httplib.so, with OpenSSL,
# zlib and brotli support); its pkg-config file carries the matching defines.
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)                # libcpp-httplib-dev

if(EDGEVISION_BUILD_TESTS)
  if(NOT GTest_FOUND)
    message(FATAL_ERROR "EDGEVISION_BUILD_TESTS needs GoogleTest (libgtest-dev libgmock-dev)")
  endif()
  include(GoogleTest)
endif()
