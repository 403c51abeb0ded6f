# tworoutine_add_plugin(<target> <sources>...)
#
# Builds a plugin library of algorithms for `tw run --plugin` and
# `tw shell --plugin`: a MODULE library compiled with tw's headers and usage
# requirements (include directories, definitions, C++20) but *not linked* with
# tw's static libraries. Its tw, Boost and fmt symbols resolve, when tw loads
# it, from the running tw executable (which exports them), so the plugin's
# algorithms run on tw's own runtime: one scheduler, one copy of every
# thread-local. Linking tw::algorithms into the plugin instead would give it a
# second, separate runtime.
#
# The plugin defines its registration function with TW_PLUGIN
# (<tw/algorithms/registry.hpp>).
#
# Example:
#   find_package(tworoutine REQUIRED)
#   tworoutine_add_plugin(my_algorithms my_algorithms.cpp)
#   # tw run --plugin ./my_algorithms.so my_algorithm --boards 10.0.0.1:9000
function(tworoutine_add_plugin target)
  if(NOT TARGET tw::algorithms)
    message(FATAL_ERROR "tworoutine_add_plugin: find_package(tworoutine) first")
  endif()
  add_library(${target} MODULE ${ARGN})
  # TARGET_PROPERTY of an INTERFACE_* usage requirement is transitive: it
  # includes what tw::algorithms' own dependencies (drivers, runtime, Boost,
  # fmt, spdlog) require of their users.
  set(_tw tw::algorithms)
  target_include_directories(${target} PRIVATE $<TARGET_PROPERTY:${_tw},INTERFACE_INCLUDE_DIRECTORIES>)
  target_compile_definitions(${target} PRIVATE $<TARGET_PROPERTY:${_tw},INTERFACE_COMPILE_DEFINITIONS>)
  target_compile_options(${target} PRIVATE $<TARGET_PROPERTY:${_tw},INTERFACE_COMPILE_OPTIONS>)
  target_compile_features(${target} PRIVATE cxx_std_20)
  # "my_algorithms.so", not "libmy_algorithms.so": it is named on a command line.
  set_target_properties(${target} PROPERTIES PREFIX "")
endfunction()
