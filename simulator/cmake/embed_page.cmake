# Writes OUTPUT, a C++ file defining reclothes::simulator::FUNCTION() (box_page unless given), from
# the file INPUT (the box page, its stylesheet or its script).
# The page is split into raw string literals joined at run time with +, so no single literal grows
# past what compilers promise to accept (C++ guarantees 65,536 characters per literal).
if(NOT FUNCTION)
  set(FUNCTION box_page)
endif()
file(READ "${INPUT}" page)
string(FIND "${page}" ")RCPAGE" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains the raw string delimiter )RCPAGE")
endif()
string(LENGTH "${page}" page_length)
set(chunk 12000)
set(body "")
set(offset 0)
while(offset LESS page_length)
  string(SUBSTRING "${page}" ${offset} ${chunk} part)
  string(APPEND body "      + R\"RCPAGE(${part})RCPAGE\"\n")
  math(EXPR offset "${offset} + ${chunk}")
endwhile()
file(WRITE "${OUTPUT}.tmp"
"// Generated from ${INPUT} by simulator/cmake/embed_page.cmake. Do not edit.
#include <string>
#include <string_view>

namespace reclothes::simulator {

std::string_view ${FUNCTION}();

std::string_view ${FUNCTION}() {
  static const std::string page = std::string()
${body}  ;
  return page;
}

}  // namespace reclothes::simulator
")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
