# edgevision_add_library(<name> SOURCES ... [DEPS ...])
#   A static library edgevision_<name> with alias edgevision::<name>; sources
#   are relative to the calling folder, includes are rooted at src/.
function(edgevision_add_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(edgevision_${name} STATIC ${ARG_SOURCES})
  add_library(edgevision::${name} ALIAS edgevision_${name})
  target_include_directories(edgevision_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src
                                                       ${PROJECT_BINARY_DIR}/src)
  target_link_libraries(edgevision_${name} PUBLIC ${ARG_DEPS})
endfunction()

# edgevision_add_test(<name> SOURCES ... [DEPS ...] [LABELS ...])
#   A GoogleTest executable registered with CTest, one CTest test per gtest
#   test. Tests run with the source tree's root as working directory.
function(edgevision_add_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests)
  target_compile_definitions(${name} PRIVATE
    EDGEVISION_TEST_SOURCE_DIR="${PROJECT_SOURCE_DIR}" EDGEVISION_TEST_BINARY_DIR="${PROJECT_BINARY_DIR}")
  # Tests find the source and build trees through the compile definitions
  # above (overridable with EDGEVISION_SOURCE_DIR / EDGEVISION_BINARY_DIR).
  # A label list must reach set_tests_properties as one escaped value.
  string(REPLACE ";" "\\;" _labels "${ARG_LABELS}")
  gtest_discover_tests(${name}
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
    PROPERTIES LABELS "${_labels}"
    DISCOVERY_TIMEOUT 60)
endfunction()
