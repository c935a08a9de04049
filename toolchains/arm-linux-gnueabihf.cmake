# Cross build for 32-bit arm boards (ARMv7 hard-float: armhf) with Debian's cross compiler and
# multiarch libraries:
#   apt-get install g++-arm-linux-gnueabihf qemu-user-static
#   dpkg --add-architecture armhf && apt-get update
#   apt-get install libsqlite3-dev:armhf libpaho-mqttpp-dev:armhf libpaho-mqtt-dev:armhf \
#     libmbedtls-dev:armhf libgpiod-dev:armhf libzxing-dev:armhf libstb-dev:armhf ...
# (scripts/install-deps --armhf does this; the same traps as arm64: no libpq-dev:armhf, and qemu
# without -L). Under a Yocto or Buildroot SDK: see linux-cross.cmake for the variables that
# replace the Debian defaults (triplet, compiler prefix, sysroot, emulator).
set(RECLOTHES_CROSS_DEFAULT_TRIPLET arm-linux-gnueabihf)
set(RECLOTHES_CROSS_PROCESSOR armv7l)
set(RECLOTHES_CROSS_QEMU arm)
include(${CMAKE_CURRENT_LIST_DIR}/linux-cross.cmake)
# GCC notes every std::map iterator passed by value that its ABI changed in GCC 7.1 (-Wpsabi): it
# matters only when linking objects from a GCC before 7, which no supported sysroot has.
if(NOT CMAKE_CXX_FLAGS_INIT MATCHES "-Wno-psabi")  # this file is read more than once
  string(APPEND CMAKE_CXX_FLAGS_INIT " -Wno-psabi")
endif()
