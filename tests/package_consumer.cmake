# package_consumer.cmake: install the build tree into a scratch prefix, then
# configure, build and run tests/package against it with find_package(tworoutine).
#
#   cmake -DBUILD_DIR=... -DSOURCE_DIR=<tests/package> -DGENERATOR=... -DCXX=...
#         -DBUILD_TYPE=... [-DSANITIZE_FLAGS=...] [-DPLUGIN_SOURCE_DIR=<examples/plugin>]
#         -P package_consumer.cmake
#
# Fails on the first step that fails.
set(_root ${BUILD_DIR}/pkg-test)
set(_prefix ${_root}/prefix)
set(_build ${_root}/build)
file(REMOVE_RECURSE ${_root})

function(step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE _rc)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "package consumer: '${ARGN}' failed (${_rc})")
  endif()
endfunction()

step(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${_prefix} --config ${BUILD_TYPE})
# A sanitized tw_runtime (TW_SANITIZE) needs the sanitizer runtime at link time.
step(${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${_build} -G ${GENERATOR}
     -DCMAKE_CXX_COMPILER=${CXX}
     -DCMAKE_BUILD_TYPE=${BUILD_TYPE}
     -DCMAKE_PREFIX_PATH=${_prefix}
     "-DCMAKE_EXE_LINKER_FLAGS=${SANITIZE_FLAGS}")
step(${CMAKE_COMMAND} --build ${_build} --config ${BUILD_TYPE})
step(${_build}/consumer)
step(${_build}/drivers_consumer)
if(EXISTS ${_build}/sim_consumer)
  step(${_build}/sim_consumer)
endif()

# The example plugin (examples/plugin), built against the installed package the
# way a user builds theirs, and loaded by the installed tw.
if(PLUGIN_SOURCE_DIR AND EXISTS ${_prefix}/bin/tw)
  set(_plugin_build ${_root}/plugin)
  step(${CMAKE_COMMAND} -S ${PLUGIN_SOURCE_DIR} -B ${_plugin_build} -G ${GENERATOR}
       -DCMAKE_CXX_COMPILER=${CXX}
       -DCMAKE_BUILD_TYPE=${BUILD_TYPE}
       -DCMAKE_PREFIX_PATH=${_prefix})
  step(${CMAKE_COMMAND} --build ${_plugin_build} --config ${BUILD_TYPE})
  execute_process(COMMAND ${_prefix}/bin/tw run --plugin ${_plugin_build}/tw_example_plugin.so
                          temperature_stats readings=2 --sim 2
                  RESULT_VARIABLE _rc OUTPUT_VARIABLE _out ERROR_VARIABLE _err)
  if(NOT _rc EQUAL 0 OR NOT _out MATCHES "\\(sim-0\\)  ok  {\"readings\":2,.*\\(sim-1\\)  ok  {\"readings\":2,")
    message(FATAL_ERROR "package consumer: the installed tw did not run the example plugin (${_rc}):\n${_out}${_err}")
  endif()
  message(STATUS "package consumer: installed tw ran the example plugin:\n${_out}")
endif()
