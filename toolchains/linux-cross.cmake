# The part of a board toolchain file that does not depend on the board: included by
# aarch64-linux-gnu.cmake and arm-linux-gnueabihf.cmake after they set RECLOTHES_CROSS_DEFAULT_TRIPLET,
# RECLOTHES_CROSS_PROCESSOR and RECLOTHES_CROSS_QEMU (qemu-user's name for the architecture).
#
# With nothing set it cross-compiles with Debian's cross compiler against Debian's multiarch
# libraries in the host's own root (scripts/install-deps --arm64 / --armhf). Everything Debian-only
# is a default that a cache variable (-D...) or an environment variable of the same name replaces,
# so the same file works with a Yocto or Buildroot SDK:
#
#   RECLOTHES_CROSS_TRIPLET  the target's GNU triplet (default: the file's, e.g.
#                            arm-linux-gnueabihf); the compilers are <prefix>gcc and <prefix>g++
#   RECLOTHES_CROSS_PREFIX   the compilers' prefix, possibly with a directory
#                            (default: $CROSS_COMPILE, else "<triplet>-")
#   CMAKE_SYSROOT            the target's root file system (default: $RECLOTHES_SYSROOT, else a
#                            sourced Yocto SDK's $OECORE_TARGET_SYSROOT / $SDKTARGETSYSROOT, else
#                            none: Debian multiarch, libraries under /usr/lib/<triplet>)
#   RECLOTHES_CROSS_EMULATOR how the build runs target programs (test discovery, ctest): default
#                            qemu-<arch>-static or qemu-<arch> from PATH, with "-L <sysroot>"
#                            when there is a sysroot. Without one found, tests cannot run.
#
# A sourced Yocto SDK environment (environment-setup-*) exports CC and CXX with the target's
# -march/-mfloat-abi flags and --sysroot: they are used as they are. A compiler given with
# -DCMAKE_C_COMPILER=... always wins.
#
#   Buildroot: cmake --preset armhf -DCMAKE_SYSROOT=$BR/output/host/arm-buildroot-linux-gnueabihf/sysroot \
#                -DRECLOTHES_CROSS_PREFIX=$BR/output/host/bin/arm-buildroot-linux-gnueabihf-
#   Yocto:     . /opt/poky/4.0/environment-setup-cortexa7t2hf-neon-vfpv4-poky-linux-gnueabi
#              cmake --preset armhf
#
# CMake reads a toolchain file again for every try_compile project, where cache variables are
# not set: the values are kept in the environment for those runs.

set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR ${RECLOTHES_CROSS_PROCESSOR})

# The first non-empty of a cache/normal variable NAME, then environment variables in ARGN.
macro(reclothes_cross_setting name default)
  if(NOT ${name})
    foreach(env_name ${name} ${ARGN})
      if(NOT "$ENV{${env_name}}" STREQUAL "")
        set(${name} "$ENV{${env_name}}")
        break()
      endif()
    endforeach()
  endif()
  if(NOT ${name})
    set(${name} "${default}")
  endif()
  # Kept in the cache (a later re-run of cmake from a shell without the SDK's environment builds
  # the same way) and in the environment (for try_compile's reading of this file).
  set(${name} "${${name}}" CACHE STRING "toolchains/linux-cross.cmake")
  set(ENV{${name}} "${${name}}")
endmacro()

reclothes_cross_setting(RECLOTHES_CROSS_TRIPLET "${RECLOTHES_CROSS_DEFAULT_TRIPLET}")
reclothes_cross_setting(RECLOTHES_CROSS_PREFIX "${RECLOTHES_CROSS_TRIPLET}-" CROSS_COMPILE)
reclothes_cross_setting(CMAKE_SYSROOT "" RECLOTHES_SYSROOT OECORE_TARGET_SYSROOT SDKTARGETSYSROOT)
if(CMAKE_SYSROOT STREQUAL "/")
  set(CMAKE_SYSROOT "")
endif()

# Compilers: -D wins, then a Yocto SDK's CC/CXX (with their target flags), then <prefix>gcc/g++.
if(NOT CMAKE_C_COMPILER)
  if(NOT "$ENV{OECORE_TARGET_SYSROOT}" STREQUAL "" AND NOT "$ENV{CC}" STREQUAL "")
    # CMake takes CC and CXX (flags included) from the environment itself.
  else()
    set(CMAKE_C_COMPILER "${RECLOTHES_CROSS_PREFIX}gcc")
    set(CMAKE_CXX_COMPILER "${RECLOTHES_CROSS_PREFIX}g++")
  endif()
endif()

# Libraries: Debian multiarch keeps them in <root>/usr/lib/<triplet>; SDK sysroots in <root>/usr/lib.
if(IS_DIRECTORY "${CMAKE_SYSROOT}/usr/lib/${RECLOTHES_CROSS_TRIPLET}")
  set(CMAKE_LIBRARY_ARCHITECTURE ${RECLOTHES_CROSS_TRIPLET})
endif()

# pkg-config must see only the target's .pc files (an SDK environment's own settings are kept).
if("$ENV{PKG_CONFIG_LIBDIR}" STREQUAL "" OR NOT "$ENV{RECLOTHES_CROSS_PKG_CONFIG_LIBDIR}" STREQUAL "")
  set(pc_dirs "")
  if(CMAKE_LIBRARY_ARCHITECTURE)
    list(APPEND pc_dirs "${CMAKE_SYSROOT}/usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/pkgconfig")
  endif()
  list(APPEND pc_dirs "${CMAKE_SYSROOT}/usr/lib/pkgconfig" "${CMAKE_SYSROOT}/usr/share/pkgconfig")
  string(REPLACE ";" ":" pc_dirs "${pc_dirs}")
  set(ENV{PKG_CONFIG_LIBDIR} "${pc_dirs}")
  set(ENV{RECLOTHES_CROSS_PKG_CONFIG_LIBDIR} "${pc_dirs}")  # ours, so the next run recomputes it
  if(CMAKE_SYSROOT)
    set(ENV{PKG_CONFIG_SYSROOT_DIR} "${CMAKE_SYSROOT}")
  endif()
endif()

# Programs (code generators, qemu) come from the host; with a sysroot, everything else from it.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
if(CMAKE_SYSROOT)
  set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
  set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
  set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
endif()

# Running target programs. Debian multiarch: qemu without -L, or the first pthread_create hangs
# (the cross package's ld.so against the multiarch libc; STACK.md, section 8, trap 2).
if(NOT RECLOTHES_CROSS_EMULATOR AND "$ENV{RECLOTHES_CROSS_EMULATOR}" STREQUAL "")
  find_program(RECLOTHES_QEMU NAMES qemu-${RECLOTHES_CROSS_QEMU}-static qemu-${RECLOTHES_CROSS_QEMU}
               NO_CMAKE_FIND_ROOT_PATH)
  if(RECLOTHES_QEMU)
    set(RECLOTHES_CROSS_EMULATOR "${RECLOTHES_QEMU}")
    if(CMAKE_SYSROOT)
      list(APPEND RECLOTHES_CROSS_EMULATOR -L "${CMAKE_SYSROOT}")
    endif()
  endif()
endif()
reclothes_cross_setting(RECLOTHES_CROSS_EMULATOR "")
if(RECLOTHES_CROSS_EMULATOR)
  set(CMAKE_CROSSCOMPILING_EMULATOR "${RECLOTHES_CROSS_EMULATOR}")
endif()
