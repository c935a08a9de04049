# Warnings for our own targets only (never for third-party headers, which come in as SYSTEM).
add_library(reclothes_warnings INTERFACE)
target_compile_options(reclothes_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
  -Woverloaded-virtual -Wconversion -Wsign-conversion -Wnull-dereference -Wimplicit-fallthrough
  -Wformat=2)
if(RECLOTHES_WERROR)
  target_compile_options(reclothes_warnings INTERFACE -Werror)
  # GCC 12's flow-sensitive warnings give false positives inside libstdc++ and GoogleTest once
  # the optimiser or a sanitizer runs (std::regex "may be used uninitialized" at -O1 with ASan,
  # gtest "potential null pointer dereference" at -O2): they stay visible as warnings but do not
  # fail the build.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_compile_options(reclothes_warnings INTERFACE
      -Wno-error=maybe-uninitialized -Wno-error=null-dereference -Wno-error=array-bounds
      -Wno-error=stringop-overflow -Wno-error=restrict)
  endif()
endif()

# reclothes_add_test(NAME name LABEL unit|integration|e2e SOURCES ... LIBS ... [TIMEOUT s]
#                    [SINGLE_PROCESS])
# One GoogleTest executable. By default every test in it is registered with CTest on its own (one
# process per test). SINGLE_PROCESS registers the executable as one CTest test instead, so that a
# suite's shared servers (SetUpTestSuite) really are shared; GoogleTest still prints every test.
# A test that calls GTEST_SKIP is reported by CTest as skipped, never as passed.
function(reclothes_add_test)
  cmake_parse_arguments(T "SINGLE_PROCESS" "NAME;LABEL;TIMEOUT" "SOURCES;LIBS" ${ARGN})
  if(NOT T_LABEL MATCHES "^(unit|integration|e2e)$")
    message(FATAL_ERROR "reclothes_add_test(${T_NAME}): LABEL must be unit, integration or e2e")
  endif()
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} GTest::gtest GTest::gmock GTest::gtest_main reclothes_warnings)
  if(T_SINGLE_PROCESS)
    add_test(NAME ${T_NAME} COMMAND ${T_NAME})
    set_tests_properties(${T_NAME} PROPERTIES LABELS ${T_LABEL} TIMEOUT ${T_TIMEOUT}
      SKIP_REGULAR_EXPRESSION "\\[  SKIPPED \\] [1-9]")
  else()
    gtest_discover_tests(${T_NAME}
      PROPERTIES LABELS ${T_LABEL} TIMEOUT ${T_TIMEOUT} SKIP_REGULAR_EXPRESSION "\\[  SKIPPED \\]"
      DISCOVERY_TIMEOUT 60)
  endif()
endfunction()
