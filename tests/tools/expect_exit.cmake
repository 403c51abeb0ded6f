# expect_exit.cmake: run a command, check its exit code and optionally its output.
#
#   cmake -DEXPECT_EXIT=<code> [-DEXPECT_OUTPUT=<regex>] -P expect_exit.cmake -- <command> [args...]
#
# EXPECT_OUTPUT is matched against stdout and stderr together. Used instead of
# WILL_FAIL, which would also pass on a crash or any other non-zero exit.
set(_cmd "")
set(_after_dashes FALSE)
foreach(_i RANGE ${CMAKE_ARGC})
  if(_after_dashes)
    list(APPEND _cmd "${CMAKE_ARGV${_i}}")
  elseif(CMAKE_ARGV${_i} STREQUAL "--")
    set(_after_dashes TRUE)
  endif()
endforeach()
if(NOT _cmd OR NOT DEFINED EXPECT_EXIT)
  message(FATAL_ERROR "usage: cmake -DEXPECT_EXIT=<code> [-DEXPECT_OUTPUT=<regex>] -P expect_exit.cmake -- <command> [args...]")
endif()

execute_process(COMMAND ${_cmd} RESULT_VARIABLE _rc OUTPUT_VARIABLE _out ERROR_VARIABLE _err)
message("${_out}${_err}")
if(NOT _rc STREQUAL EXPECT_EXIT)
  message(FATAL_ERROR "'${_cmd}' exited with '${_rc}', expected ${EXPECT_EXIT}")
endif()
if(DEFINED EXPECT_OUTPUT AND NOT "${_out}${_err}" MATCHES "${EXPECT_OUTPUT}")
  message(FATAL_ERROR "'${_cmd}' output does not match '${EXPECT_OUTPUT}'")
endif()
