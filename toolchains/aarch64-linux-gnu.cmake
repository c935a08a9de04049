# Cross build for arm64 boards with Debian's cross compiler and multiarch libraries:
#   apt-get install g++-aarch64-linux-gnu qemu-user-static
#   dpkg --add-architecture arm64 && apt-get update
#   apt-get install libsqlite3-dev:arm64 libpaho-mqttpp-dev:arm64 libpaho-mqtt-dev:arm64 \
#     libmbedtls-dev:arm64 libgpiod-dev:arm64 libzxing-dev:arm64 libstb-dev:arm64 ...
# (scripts/install-deps --arm64 does this). Do not install libpq-dev:arm64 or libpqxx-dev:arm64: they
# are not Multi-Arch: same and would remove the amd64 ones; the box does not need them.
# Tests run under qemu-user without -L (see the shared STACK.md, section 8, trap 2).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_CROSSCOMPILING_EMULATOR /usr/bin/qemu-aarch64-static)
