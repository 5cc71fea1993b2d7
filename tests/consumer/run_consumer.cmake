# Builds and runs tests/consumer/app against tickflow, consumed in mode MODE:
#   find_package      install tickflow to WORK_DIR/prefix, then find_package(tickflow CONFIG REQUIRED)
#   add_subdirectory  add_subdirectory(TICKFLOW_SOURCE_DIR)
foreach(v TICKFLOW_SOURCE_DIR WORK_DIR MODE GENERATOR CXX_COMPILER)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "run_consumer.cmake: ${v} is not set")
  endif()
endforeach()

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "command failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
set(app_src "${CMAKE_CURRENT_LIST_DIR}/app")
set(common -G "${GENERATOR}" -DCMAKE_CXX_COMPILER=${CXX_COMPILER} -DCMAKE_BUILD_TYPE=Release)

if(MODE STREQUAL "find_package")
  run("${CMAKE_COMMAND}" -S "${TICKFLOW_SOURCE_DIR}" -B "${WORK_DIR}/lib" ${common}
      -DTICKFLOW_BUILD_TESTS=OFF -DTICKFLOW_BUILD_BENCH=OFF -DTICKFLOW_BUILD_EXAMPLES=OFF
      -DCMAKE_INSTALL_PREFIX=${WORK_DIR}/prefix)
  run("${CMAKE_COMMAND}" --install "${WORK_DIR}/lib")
  if(NOT EXISTS "${WORK_DIR}/prefix/include/tickflow/tickflow.hpp")
    message(FATAL_ERROR "install did not place the umbrella header")
  endif()
  run("${CMAKE_COMMAND}" -S "${app_src}" -B "${WORK_DIR}/app" ${common}
      -DTICKFLOW_CONSUME=find_package -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix)
elseif(MODE STREQUAL "add_subdirectory")
  run("${CMAKE_COMMAND}" -S "${app_src}" -B "${WORK_DIR}/app" ${common}
      -DTICKFLOW_CONSUME=add_subdirectory -DTICKFLOW_SOURCE_DIR=${TICKFLOW_SOURCE_DIR})
  # tickflow is not the top-level project here: its tests must stay off.
  file(READ "${WORK_DIR}/app/CMakeCache.txt" cache)
  if(NOT cache MATCHES "TICKFLOW_BUILD_TESTS:BOOL=OFF")
    message(FATAL_ERROR "tests default on in a subproject")
  endif()
else()
  message(FATAL_ERROR "unknown MODE ${MODE}")
endif()

run("${CMAKE_COMMAND}" --build "${WORK_DIR}/app")
run("${WORK_DIR}/app/consumer")
if(NOT last_output MATCHES "consumer ok")
  message(FATAL_ERROR "consumer printed: ${last_output}")
endif()
message(STATUS "${MODE} consumer: ${last_output}")
