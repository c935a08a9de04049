# install() rules and the Debian packages (CPack DEB, one package per component):
#   reclothes-box         the box daemon, its unit, its user and the GPIO group, the udev rule
#   reclothes-controller  the controller, its unit and user
#   reclothes-tools       the simulator, the provisioning CLI, the token tool, the Mosquitto files
# scripts/package builds them (the `package` preset for amd64; the arm64 preset's tree for the
# box). docs/deploy-board.md says what each installs and how to configure and start it.
include(GNUInstallDirs)

set(RECLOTHES_PKG_DIR "${CMAKE_CURRENT_SOURCE_DIR}/packaging")
# Debian 12 keeps units and udev rules under /lib (the /usr merge moves them after bookworm);
# absolute, so a CMAKE_INSTALL_PREFIX other than /usr does not put them where systemd never looks.
set(RECLOTHES_UNIT_DIR "/lib/systemd/system" CACHE PATH "systemd system unit directory")
set(RECLOTHES_UDEV_DIR "/lib/udev/rules.d" CACHE PATH "udev rules directory")
set(RECLOTHES_SYSUSERS_DIR "${CMAKE_INSTALL_PREFIX}/lib/sysusers.d" CACHE PATH "sysusers.d directory")
set(RECLOTHES_CONF_DIR "/etc/reclothes")
set(CMAKE_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS
    OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)

# The Debian copyright and changelog every package carries (lintian: no-copyright-file,
# no-changelog), and the docs of a component.
function(reclothes_install_docs component package)
  set(doc_dir "${CMAKE_INSTALL_DATAROOTDIR}/doc/${package}")
  install(FILES "${RECLOTHES_PKG_DIR}/copyright" DESTINATION "${doc_dir}" COMPONENT ${component})
  set(changelog "${CMAKE_CURRENT_BINARY_DIR}/packaging/${package}/changelog.Debian")
  configure_file("${RECLOTHES_PKG_DIR}/changelog.Debian.in" "${changelog}" @ONLY)
  execute_process(COMMAND gzip -9 -n -f -k "${changelog}" COMMAND_ERROR_IS_FATAL ANY)
  install(FILES "${changelog}.gz" DESTINATION "${doc_dir}" COMPONENT ${component})
  # Not uploaded to Debian, so there is no bug for the first changelog entry to close.
  set(overrides "${CMAKE_CURRENT_BINARY_DIR}/packaging/${package}/lintian-overrides")
  file(WRITE "${overrides}" "${package}: initial-upload-closes-no-bugs\n")
  install(FILES "${overrides}" DESTINATION "${CMAKE_INSTALL_DATAROOTDIR}/lintian/overrides"
          RENAME ${package} COMPONENT ${component})
  list(TRANSFORM ARGN PREPEND "${CMAKE_CURRENT_SOURCE_DIR}/docs/")
  install(FILES ${ARGN} DESTINATION "${doc_dir}" COMPONENT ${component})
endfunction()

set(RECLOTHES_PACKAGES "")
if(TARGET reclothes-box)
  list(APPEND RECLOTHES_PACKAGES box)
  install(TARGETS reclothes-box RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}" COMPONENT box)
  install(FILES firmware/deploy/reclothes-box.service DESTINATION "${RECLOTHES_UNIT_DIR}"
          COMPONENT box)
  install(FILES packaging/sysusers/reclothes-box.conf DESTINATION "${RECLOTHES_SYSUSERS_DIR}"
          COMPONENT box)
  install(FILES packaging/udev/60-reclothes-gpio.rules DESTINATION "${RECLOTHES_UDEV_DIR}"
          COMPONENT box)
  install(FILES firmware/config/box.example.json DESTINATION "${RECLOTHES_CONF_DIR}"
          RENAME box.json.example COMPONENT box)
  reclothes_install_docs(box reclothes-box deploy-board.md box-sync.md firmware.md
                         mqtt-contract.md token-format.md)
endif()
if(TARGET reclothes-controller)
  list(APPEND RECLOTHES_PACKAGES controller)
  install(TARGETS reclothes-controller RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}"
          COMPONENT controller)
  install(FILES controller/deploy/reclothes-controller.service DESTINATION "${RECLOTHES_UNIT_DIR}"
          COMPONENT controller)
  install(FILES packaging/sysusers/reclothes-controller.conf
          DESTINATION "${RECLOTHES_SYSUSERS_DIR}" COMPONENT controller)
  install(FILES controller/deploy/controller.example.json DESTINATION "${RECLOTHES_CONF_DIR}"
          RENAME controller.json.example COMPONENT controller)
  install(FILES controller/openapi.json
          DESTINATION "${CMAKE_INSTALL_DATAROOTDIR}/doc/reclothes-controller" COMPONENT controller)
  reclothes_install_docs(controller reclothes-controller deploy-board.md operations.md
                         controller.md rest-api.md orders.md architecture.md mqtt-contract.md)
endif()
if(TARGET reclothes-provision AND TARGET reclothes-sim)
  list(APPEND RECLOTHES_PACKAGES tools)
  install(TARGETS reclothes-sim reclothes-provision reclothes-token
          RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}" COMPONENT tools)
  # The broker configuration template and ACL (provisioning/mosquitto/README.md).
  install(FILES provisioning/mosquitto/reclothes-broker.conf.in provisioning/mosquitto/reclothes.acl
                provisioning/mosquitto/README.md
          DESTINATION "${CMAKE_INSTALL_DATADIR}/reclothes-tools/mosquitto" COMPONENT tools)
  install(DIRECTORY simulator/scenarios/
          DESTINATION "${CMAKE_INSTALL_DATADIR}/reclothes-tools/scenarios" COMPONENT tools)
  reclothes_install_docs(tools reclothes-tools provisioning.md simulator.md broker-security.md
                         token-format.md)
endif()

if(NOT RECLOTHES_PACKAGES)
  return()
endif()

# The package architecture is the build's target, not the machine running cpack: the arm64 and
# armhf cross builds make reclothes-box for their boards. From the compiler's target triplet,
# so that an SDK's compiler (Yocto, Buildroot) answers too.
execute_process(COMMAND "${CMAKE_CXX_COMPILER}" -dumpmachine OUTPUT_VARIABLE reclothes_triplet
                OUTPUT_STRIP_TRAILING_WHITESPACE)
if(reclothes_triplet MATCHES "^x86_64-")
  set(reclothes_deb_arch amd64)
elseif(reclothes_triplet MATCHES "^aarch64-")
  set(reclothes_deb_arch arm64)
elseif(reclothes_triplet MATCHES "^arm.*-gnueabihf$")
  set(reclothes_deb_arch armhf)
elseif(reclothes_triplet MATCHES "^i[3-6]86-")
  set(reclothes_deb_arch i386)
else()
  set(reclothes_deb_arch "")
endif()
set(RECLOTHES_DEB_ARCH "${reclothes_deb_arch}" CACHE STRING
    "Debian architecture of the packages (from the compiler's target ${reclothes_triplet})")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME reclothes)
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_VENDOR "ReClothes")
set(CPACK_PACKAGE_CONTACT "ReClothes maintainers <maintainers@users.noreply.b-seed-99572aed.example>")
set(CPACK_PACKAGE_DIRECTORY "${CMAKE_BINARY_DIR}/packages")
set(CPACK_COMPONENTS_ALL ${RECLOTHES_PACKAGES})
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_SECTION misc)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS OFF)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://reclothes.example/")
if(RECLOTHES_DEB_ARCH)
  set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE "${RECLOTHES_DEB_ARCH}")
endif()

set(CPACK_DEBIAN_BOX_PACKAGE_NAME reclothes-box)
set(CPACK_DEBIAN_BOX_PACKAGE_SECTION misc)
# systemd-sysusers (the user, the gpio group) and deb-systemd-helper (enable, mask on removal)
# come from systemd and init-system-helpers (essential); useradd is the fallback without systemd.
set(CPACK_DEBIAN_BOX_PACKAGE_DEPENDS "passwd")
set(CPACK_DEBIAN_BOX_PACKAGE_RECOMMENDS "systemd, udev")
set(CPACK_COMPONENT_BOX_DESCRIPTION
    "ReClothes drop-off box daemon\n\
The daemon of a ReClothes drop-off box: it scans signed QR tokens, pulses the\n\
compartment locks, watches the doors and sensors through libgpiod and V4L2,\n\
keeps every event in a local SQLite journal and syncs it with the controller\n\
over MQTT (TLS, client certificate).\n\
.\n\
This package installs the daemon, its systemd unit (Type=notify, watchdog),\n\
the reclothes user with the gpio group, a udev rule giving that group the GPIO\n\
chips, and /etc/reclothes/box.json.example. The service starts once\n\
/etc/reclothes/box.json exists and passes `reclothes-box check-config`.")

set(CPACK_DEBIAN_CONTROLLER_PACKAGE_NAME reclothes-controller)
set(CPACK_DEBIAN_CONTROLLER_PACKAGE_SECTION net)
set(CPACK_DEBIAN_CONTROLLER_PACKAGE_DEPENDS "passwd")
set(CPACK_DEBIAN_CONTROLLER_PACKAGE_RECOMMENDS "systemd")
set(CPACK_DEBIAN_CONTROLLER_PACKAGE_SUGGESTS "postgresql (>= 15), mosquitto (>= 2.0), reclothes-tools")
set(CPACK_COMPONENT_CONTROLLER_DESCRIPTION
    "ReClothes controller: REST API, PostgreSQL store and MQTT bridge\n\
The server side of ReClothes: the customer and staff REST APIs on two HTTP\n\
listeners, the order domain, the PostgreSQL store (forward-only migrations)\n\
and the MQTT bridge to the drop-off boxes.\n\
.\n\
This package installs the controller, its systemd unit (Type=notify,\n\
watchdog, hardened), the reclothes-controller user and\n\
/etc/reclothes/controller.json.example. The service starts once\n\
/etc/reclothes/controller.json exists and passes check-config; run\n\
`reclothes-controller migrate` first.")

set(CPACK_DEBIAN_TOOLS_PACKAGE_NAME reclothes-tools)
set(CPACK_DEBIAN_TOOLS_PACKAGE_SECTION utils)
set(CPACK_DEBIAN_TOOLS_PACKAGE_SUGGESTS "mosquitto (>= 2.0)")
set(CPACK_COMPONENT_TOOLS_DESCRIPTION
    "ReClothes tools: box simulator, provisioning CLI, token tool\n\
The workstation tools of ReClothes: reclothes-sim (simulated boxes and\n\
scripted scenarios), reclothes-provision (the fleet CA, box registration,\n\
hardware self-test, the Mosquitto configuration and ACL) and reclothes-token\n\
(make, sign, inspect and verify QR tokens). The Mosquitto template and ACL\n\
are in /usr/share/reclothes-tools/mosquitto.")

# Maintainer scripts and conffiles (packaging/debian/<component>/), written by hand in
# debhelper's style since CPack has no dh_installsystemd.
foreach(component ${RECLOTHES_PACKAGES})
  string(TOUPPER ${component} upper)
  set(extra "")
  foreach(script postinst prerm postrm conffiles)
    set(source "${RECLOTHES_PKG_DIR}/debian/${component}/${script}")
    if(EXISTS "${source}")
      configure_file("${source}" "${CMAKE_BINARY_DIR}/packaging/${component}/${script}" COPYONLY)
      list(APPEND extra "${CMAKE_BINARY_DIR}/packaging/${component}/${script}")
    endif()
  endforeach()
  set(CPACK_DEBIAN_${upper}_PACKAGE_CONTROL_EXTRA "${extra}")
endforeach()

include(CPack)
