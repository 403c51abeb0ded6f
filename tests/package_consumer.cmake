# package_consumer.cmake: install the build tree into a scratch prefix, then
# configure, build and run tests/package against it with find_package(tworoutine).
#
#   cmake -DBUILD_DIR=... -DSOURCE_DIR=<tests/package> -DGENERATOR=... -DCXX=...
#         -DBUILD_TYPE=... [-DSANITIZE_FLAGS=...] -P package_consumer.cmake
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
