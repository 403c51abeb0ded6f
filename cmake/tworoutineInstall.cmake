# Install the libraries and the `tworoutine` CMake package:
#   find_package(tworoutine) -> tw::runtime, tw::drivers, tw::algorithms (and tw::sim)
# Headers are installed by each layer's own CMakeLists.txt.
include(CMakePackageConfigHelpers)

set(TW_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/tworoutine)

# tw::sim (the simulator library) is built with the tools (TW_BUILD_TOOLS).
set(_tw_exported tw_runtime tw_drivers tw_algorithms)
set(TW_EXPORT_SIM OFF)
if(TARGET tw_sim)
  list(APPEND _tw_exported tw_sim)
  set(TW_EXPORT_SIM ON)
endif()
install(TARGETS ${_tw_exported}
  EXPORT tworoutineTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

install(EXPORT tworoutineTargets
  NAMESPACE tw::
  DESTINATION ${TW_INSTALL_CMAKEDIR})

configure_package_config_file(
  ${CMAKE_CURRENT_LIST_DIR}/tworoutineConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/tworoutineConfig.cmake
  INSTALL_DESTINATION ${TW_INSTALL_CMAKEDIR})
write_basic_package_version_file(
  ${CMAKE_CURRENT_BINARY_DIR}/tworoutineConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMajorVersion)

install(FILES
  ${CMAKE_CURRENT_BINARY_DIR}/tworoutineConfig.cmake
  ${CMAKE_CURRENT_BINARY_DIR}/tworoutineConfigVersion.cmake
  ${CMAKE_CURRENT_LIST_DIR}/tworoutinePlugin.cmake
  DESTINATION ${TW_INSTALL_CMAKEDIR})
