# Fails unless the first ```cpp block of README.md is exactly the file EXAMPLE.
#   cmake -DREADME=README.md -DEXAMPLE=examples/quick_start.cpp -P check_readme_snippet.cmake
file(READ "${README}" readme)
file(READ "${EXAMPLE}" example)
string(FIND "${readme}" "```cpp\n" start)
if(start EQUAL -1)
  message(FATAL_ERROR "README has no cpp block")
endif()
math(EXPR start "${start} + 7")
string(SUBSTRING "${readme}" ${start} -1 rest)
string(FIND "${rest}" "```" stop)
string(SUBSTRING "${rest}" 0 ${stop} snippet)
# The example file may carry a leading comment block that the README leaves out.
string(REGEX REPLACE "^(//[^\n]*\n)+" "" example_body "${example}")
if(NOT snippet STREQUAL example_body)
  message(FATAL_ERROR "README snippet and ${EXAMPLE} differ; keep them identical")
endif()
