# `cmake --install build --prefix P`: the public headers with the generated
# .inc files and the .td sources, the libraries, the tools, and the CMake
# package (P/lib/cmake/Cascade) that `find_package(Cascade CONFIG)` reads.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(CASCADE_LIBRARIES
  CascadeDialect CascadeSupport CascadeAnalysis CascadeInterpreter
  CascadeTransforms CascadeToCPU CascadeToGPU CascadeCpuTarget
  CascadeRegistration)
# In the build tree the include paths are the directory's; installed, every
# library's users get <prefix>/include.
foreach(library ${CASCADE_LIBRARIES})
  target_include_directories(${library} INTERFACE
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
endforeach()
target_compile_features(CascadeDialect INTERFACE cxx_std_17)

# Cascade::Cascade: everything in C++ (dialect, analyses, rewrites, interpreter,
# CPU pipeline and JIT/AOT, registration).
add_library(Cascade INTERFACE)
target_link_libraries(Cascade INTERFACE ${CASCADE_LIBRARIES})

# The C API (include/cascade-c), a shared library: the static libraries it
# is made of are private to it.
target_include_directories(CascadeCAPI INTERFACE
  $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)

install(TARGETS ${CASCADE_LIBRARIES} Cascade CascadeCAPI
  EXPORT CascadeTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS attn-opt attn-run attn-compile
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/cascade
                  ${PROJECT_SOURCE_DIR}/include/cascade-c
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  FILES_MATCHING PATTERN "*.h" PATTERN "*.td")
install(DIRECTORY ${PROJECT_BINARY_DIR}/include/cascade
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  FILES_MATCHING PATTERN "*.inc")

set(CASCADE_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/Cascade)
install(EXPORT CascadeTargets NAMESPACE Cascade::
  DESTINATION ${CASCADE_CMAKE_DIR})
configure_package_config_file(
  ${PROJECT_SOURCE_DIR}/cmake/CascadeConfig.cmake.in
  ${PROJECT_BINARY_DIR}/cmake/CascadeConfig.cmake
  INSTALL_DESTINATION ${CASCADE_CMAKE_DIR})
write_basic_package_version_file(
  ${PROJECT_BINARY_DIR}/cmake/CascadeConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/cmake/CascadeConfig.cmake
              ${PROJECT_BINARY_DIR}/cmake/CascadeConfigVersion.cmake
  DESTINATION ${CASCADE_CMAKE_DIR})
