# Cross build for arm64 boards with Debian's cross compiler and multiarch libraries:
#   apt-get install g++-aarch64-linux-gnu qemu-user-static
#   dpkg --add-architecture arm64 && apt-get update
#   apt-get install libsqlite3-dev:arm64 libpaho-mqttpp-dev:arm64 libpaho-mqtt-dev:arm64 \
#     libmbedtls-dev:arm64 libgpiod-dev:arm64 libzxing-dev:arm64 libstb-dev:arm64 ...
# (scripts/install-deps --arm64 does this). Do not install libpq-dev:arm64 or libpqxx-dev:arm64: they
# are not Multi-Arch: same and would remove the amd64 ones; the box does not need them.
# Tests run under qemu-user without -L (see the shared STACK.md, section 8, trap 2).
# Under a Yocto or Buildroot SDK: see linux-cross.cmake for the variables that replace the Debian
# defaults (triplet, compiler prefix, sysroot, emulator).
set(RECLOTHES_CROSS_DEFAULT_TRIPLET aarch64-linux-gnu)
set(RECLOTHES_CROSS_PROCESSOR aarch64)
set(RECLOTHES_CROSS_QEMU aarch64)
include(${CMAKE_CURRENT_LIST_DIR}/linux-cross.cmake)
