# Included from src/http/CMakeLists.txt: embeds the review page's files into
# the http library (see embed_assets.cmake) and sets REVIEW_PAGE_SOURCES.
set(_review_dir ${CMAKE_CURRENT_SOURCE_DIR}/review_page)
set(_review_files index.html review.js review.css favicon.svg)
set(_review_inputs "")
foreach(f IN LISTS _review_files)
  list(APPEND _review_inputs ${_review_dir}/${f})
endforeach()
set(_review_out ${CMAKE_CURRENT_BINARY_DIR}/review_page_assets.cc)
string(REPLACE ";" "," _review_files_arg "${_review_files}")
add_custom_command(
  OUTPUT ${_review_out}
  COMMAND ${CMAKE_COMMAND} -DOUT=${_review_out} -DSRC_DIR=${_review_dir} "-DFILES=${_review_files_arg}"
          -P ${_review_dir}/embed_assets.cmake
  DEPENDS ${_review_inputs} ${_review_dir}/embed_assets.cmake
  COMMENT "Embedding the review page"
  VERBATIM)
set(REVIEW_PAGE_SOURCES ${_review_out})
