# Runs the tickflow bench binaries and gathers their results into one file.
#   cmake -DBINARIES="a|b" -DOUT_DIR=dir [-DEXTRA_ARGS="--benchmark_repetitions=9"] -P run_benchmarks.cmake
# For each binary: its console output streams through; its Google Benchmark JSON goes to
# OUT_DIR/<binary>.json; its budget lines (DESIGN.md §3) are collected. At the end every
# budget line is printed again together, and OUT_DIR/results.json holds, per binary, the exit
# code, the parsed budgets and the Google Benchmark JSON. The script fails if a binary fails
# (a crash, a checksum error), not because a budget is missed: budgets are reported, PASS/FAIL.
if(NOT DEFINED BINARIES OR NOT DEFINED OUT_DIR)
  message(FATAL_ERROR "run_benchmarks.cmake: BINARIES and OUT_DIR are required")
endif()
# Binaries may be separated by ';' or '|' (the latter survives custom-command quoting).
string(REPLACE "|" ";" BINARIES "${BINARIES}")
file(MAKE_DIRECTORY "${OUT_DIR}")
separate_arguments(extra UNIX_COMMAND "${EXTRA_ARGS}")

string(TIMESTAMP now "%Y-%m-%dT%H:%M:%SZ" UTC)
set(results "{}")
string(JSON results SET "${results}" schema "\"tickflow.results/1\"")
string(JSON results SET "${results}" generated "\"${now}\"")
string(JSON results SET "${results}" binaries "[]")

set(all_budgets "")
set(npass 0)
set(nfail 0)
set(nskip 0)
set(failed_binaries "")
set(index 0)
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

  set(entry "{}")
  string(JSON entry SET "${entry}" name "\"${name}\"")
  string(JSON entry SET "${entry}" exit_code "\"${rc}\"")
  string(JSON entry SET "${entry}" budgets "[]")
  # ';' and unbalanced '[' ']' would break CMake's list splitting: neutralise them first.
  string(REPLACE ";" "," flat "${out}")
  string(REPLACE "[" "(" flat "${flat}")
  string(REPLACE "]" ")" flat "${flat}")
  string(REPLACE "\n" ";" lines "${flat}")
  set(b 0)
  foreach(line IN LISTS lines)
    if(line MATCHES "^budget ([^ ]+) value=([^ ]+) unit=([^ ]+) goal=([^ ]+) (PASS|FAIL|SKIP)$")
      set(budget "{}")
      string(JSON budget SET "${budget}" metric "\"${CMAKE_MATCH_1}\"")
      if(CMAKE_MATCH_2 STREQUAL "nan")
        string(JSON budget SET "${budget}" value "null")
      else()
        string(JSON budget SET "${budget}" value "${CMAKE_MATCH_2}")
      endif()
      string(JSON budget SET "${budget}" unit "\"${CMAKE_MATCH_3}\"")
      string(JSON budget SET "${budget}" goal "\"${CMAKE_MATCH_4}\"")
      string(JSON budget SET "${budget}" status "\"${CMAKE_MATCH_5}\"")
      string(JSON entry SET "${entry}" budgets ${b} "${budget}")
      math(EXPR b "${b} + 1")
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
  if(EXISTS "${json_out}")
    file(READ "${json_out}" gb)
    string(JSON entry SET "${entry}" google_benchmark "${gb}")
  endif()
  string(JSON results SET "${results}" binaries ${index} "${entry}")
  math(EXPR index "${index} + 1")
endforeach()

string(JSON results SET "${results}" summary "{\"pass\": ${npass}, \"fail\": ${nfail}, \"skip\": ${nskip}}")
file(WRITE "${OUT_DIR}/results.json" "${results}\n")

message("\n==== tickflow budgets ====\n${all_budgets}")
message("budgets: ${npass} PASS, ${nfail} FAIL, ${nskip} SKIP")
message("results: ${OUT_DIR}/results.json")
if(failed_binaries)
  message(FATAL_ERROR "bench binaries failed: ${failed_binaries}")
endif()
