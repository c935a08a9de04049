# Every third-party library comes from a Debian 12 package (scripts/install-deps).
# STACK.md in the shared folder lists why each is found the way it is.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(nlohmann_json 3.11 REQUIRED)
find_package(spdlog 1.10 REQUIRED)
find_package(CLI11 2.1 REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(ZXing 1.4 REQUIRED)
find_package(PahoMqttCpp 1.2 REQUIRED)
# stb: Debian builds the implementation into libstb (stb.pc); an SDK's sysroot (Yocto, Buildroot)
# usually has the headers alone, or nothing. RECLOTHES_STB=auto takes the library when pkg-config
# finds one and otherwise compiles the implementation from the headers (stb_image.h and
# stb_image_write.h, found by header in <include>/stb or <include>); =header always does that.
# Either way the target is PkgConfig::STB.
set(RECLOTHES_STB auto CACHE STRING "stb: auto (library if pkg-config finds one, else headers) or header")
set_property(CACHE RECLOTHES_STB PROPERTY STRINGS auto header)
if(NOT RECLOTHES_STB MATCHES "^(auto|header)$")
  message(FATAL_ERROR "RECLOTHES_STB must be auto or header, not '${RECLOTHES_STB}'")
endif()
if(RECLOTHES_STB STREQUAL "auto")
  pkg_check_modules(STB IMPORTED_TARGET stb)
endif()
if(NOT TARGET PkgConfig::STB)
  find_path(STB_INCLUDE_DIR stb_image.h PATH_SUFFIXES stb)
  if(NOT STB_INCLUDE_DIR OR NOT EXISTS "${STB_INCLUDE_DIR}/stb_image_write.h")
    message(FATAL_ERROR "stb not found: neither a library (pkg-config stb; Debian: libstb-dev) nor "
      "the headers stb_image.h and stb_image_write.h (in <include>/stb or <include>). Install "
      "libstb-dev, or put the two headers from https://github.com/nothings/stb in the sysroot, or "
      "set -DSTB_INCLUDE_DIR=<their directory>.")
  endif()
  message(STATUS "stb: compiling the implementation from the headers in ${STB_INCLUDE_DIR}")
  add_library(reclothes_stb STATIC "${CMAKE_CURRENT_LIST_DIR}/stb_implementation.c")
  target_include_directories(reclothes_stb SYSTEM PUBLIC "${STB_INCLUDE_DIR}")
  target_link_libraries(reclothes_stb PRIVATE m)
  set_target_properties(reclothes_stb PROPERTIES POSITION_INDEPENDENT_CODE ON)
  add_library(PkgConfig::STB ALIAS reclothes_stb)
endif()
pkg_check_modules(SODIUM REQUIRED IMPORTED_TARGET libsodium>=1.0.18)

# mbedTLS 2.28 ships no CMake config and no .pc file: import it by hand, using upstream 3.x names.
find_path(MBEDTLS_INCLUDE_DIR mbedtls/version.h REQUIRED)
find_library(MBEDCRYPTO_LIBRARY mbedcrypto REQUIRED)
find_library(MBEDX509_LIBRARY mbedx509 REQUIRED)
find_library(MBEDTLS_LIBRARY mbedtls REQUIRED)
if(NOT TARGET MbedTLS::mbedcrypto)
  add_library(MbedTLS::mbedcrypto UNKNOWN IMPORTED)
  set_target_properties(MbedTLS::mbedcrypto PROPERTIES
    IMPORTED_LOCATION "${MBEDCRYPTO_LIBRARY}" INTERFACE_INCLUDE_DIRECTORIES "${MBEDTLS_INCLUDE_DIR}")
  add_library(MbedTLS::mbedx509 UNKNOWN IMPORTED)
  set_target_properties(MbedTLS::mbedx509 PROPERTIES
    IMPORTED_LOCATION "${MBEDX509_LIBRARY}" INTERFACE_LINK_LIBRARIES MbedTLS::mbedcrypto)
  add_library(MbedTLS::mbedtls UNKNOWN IMPORTED)
  set_target_properties(MbedTLS::mbedtls PROPERTIES
    IMPORTED_LOCATION "${MBEDTLS_LIBRARY}" INTERFACE_LINK_LIBRARIES MbedTLS::mbedx509)
endif()

# libgpiod 1.6 (C++ bindings): only the Linux HAL backend needs it.
pkg_check_modules(GPIODCXX IMPORTED_TARGET libgpiodcxx>=1.6)

if(RECLOTHES_CONTROLLER)
  pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib>=0.11)
  pkg_check_modules(PQXX REQUIRED IMPORTED_TARGET libpqxx>=6.4)
  find_package(PostgreSQL 15 REQUIRED)
  find_package(prometheus-cpp REQUIRED COMPONENTS core)  # prometheus-cpp::core
  find_package(CURL 7.74 REQUIRED)  # CURL::libcurl: the SMTP notification channel
  # sd_notify: the controller's readiness, watchdog and stopping notifications under systemd.
  pkg_check_modules(SYSTEMD REQUIRED IMPORTED_TARGET libsystemd>=247)
endif()

if(RECLOTHES_TESTS)
  find_package(GTest REQUIRED)
endif()
