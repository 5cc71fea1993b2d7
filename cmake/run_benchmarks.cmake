# Runs the tickflow bench binaries and gathers their results into one file.
#   cmake -DBINARIES="a|b" -DOUT_DIR=dir [-DEXTRA_ARGS="--benchmark_repetitions=9"] [-DPYTHON=python3]
#         [-DCOMPILER=text] [-DFLAGS=text] -P run_benchmarks.cmake
# For each binary: its console output streams through and is kept in OUT_DIR/<binary>.out (its
# exit code in <binary>.rc); its Google Benchmark JSON goes to OUT_DIR/<binary>.json; its budget
# lines (DESIGN.md §3) are collected. At the end every budget line is printed again together, and
# tools/results.py writes OUT_DIR/results.json (docs/results-schema.json), then tools/report.py
# OUT_DIR/report.html. The script fails if a binary fails (a crash, a checksum error) or the
# results cannot be written, not because a budget is missed: budgets are reported, PASS/FAIL.
if(NOT DEFINED BINARIES OR NOT DEFINED OUT_DIR)
  message(FATAL_ERROR "run_benchmarks.cmake: BINARIES and OUT_DIR are required")
endif()
# Binaries may be separated by ';' or '|' (the latter survives custom-command quoting).
string(REPLACE "|" ";" BINARIES "${BINARIES}")
file(MAKE_DIRECTORY "${OUT_DIR}")
separate_arguments(extra UNIX_COMMAND "${EXTRA_ARGS}")

set(all_budgets "")
set(npass 0)
set(nfail 0)
set(nskip 0)
set(failed_binaries "")
foreach(bin IN LISTS BINARIES)
  get_filename_component(name "${bin}" NAME)
  set(json_out "${OUT_DIR}/${name}.json")
  message(STATUS "running ${name}")
  execute_process(
    COMMAND "${bin}" --benchmark_out=${json_out} --benchmark_out_format=json --benchmark_color=false ${extra}
    OUTPUT_VARIABLE out
    ECHO_OUTPUT_VARIABLE
    RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    list(APPEND failed_binaries "${name}(${rc})")
  endif()
  file(WRITE "${OUT_DIR}/${name}.out" "${out}")
  file(WRITE "${OUT_DIR}/${name}.rc" "${rc}\n")

  # ';' and unbalanced '[' ']' would break CMake's list splitting: neutralise them first.
  string(REPLACE ";" "," flat "${out}")
  string(REPLACE "[" "(" flat "${flat}")
  string(REPLACE "]" ")" flat "${flat}")
  string(REPLACE "\n" ";" lines "${flat}")
  foreach(line IN LISTS lines)
    if(line MATCHES "^budget ([^ ]+) value=([^ ]+) unit=([^ ]+) goal=([^ ]+) (PASS|FAIL|SKIP)$")
      if(CMAKE_MATCH_5 STREQUAL "PASS")
        math(EXPR npass "${npass} + 1")
      elseif(CMAKE_MATCH_5 STREQUAL "FAIL")
        math(EXPR nfail "${nfail} + 1")
      else()
        math(EXPR nskip "${nskip} + 1")
      endif()
      string(APPEND all_budgets "${line}\n")
    elseif(line MATCHES "^# ")
      string(APPEND all_budgets "${line}\n")
    endif()
  endforeach()
endforeach()

message("\n==== tickflow budgets ====\n${all_budgets}")
message("budgets: ${npass} PASS, ${nfail} FAIL, ${nskip} SKIP")
# results.json (schema docs/results-schema.json) and report.html, by the report tools.
get_filename_component(tools "${CMAKE_CURRENT_LIST_DIR}/../tools" ABSOLUTE)
set(names "")
foreach(bin IN LISTS BINARIES)
  get_filename_component(name "${bin}" NAME)
  list(APPEND names "${name}")
endforeach()
list(JOIN names "," names)
if(NOT PYTHON)
  set(PYTHON python3)
endif()
execute_process(
  COMMAND "${PYTHON}" "${tools}/results.py" --dir "${OUT_DIR}" --binaries "${names}" --compiler "${COMPILER}" --flags "${FLAGS}"
  RESULT_VARIABLE results_rc)
if(results_rc EQUAL 0)
  execute_process(COMMAND "${PYTHON}" "${tools}/report.py" "${OUT_DIR}/results.json" RESULT_VARIABLE report_rc)
endif()
if(NOT results_rc EQUAL 0 OR NOT report_rc EQUAL 0)
  message(SEND_ERROR "the results file or the report could not be written (the report tools: bash cmake/setup-deps.sh --report)")
endif()
if(failed_binaries)
  message(FATAL_ERROR "bench binaries failed: ${failed_binaries}")
endif()
