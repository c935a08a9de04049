# B6: logins/s. The controller core in-process (real PostgreSQL and Mosquitto from tests/support)
# with its default Argon2id parameters, POST /v1/sessions from one client thread per core, beside
# raw libsodium crypto_pwhash_str_verify on as many threads (docs/performance.md, B6).
if(TARGET reclothes::controller_core AND TARGET reclothes::testsupport)
  reclothes_add_benchmark(NAME bench_b6_logins
    SOURCES "${CMAKE_CURRENT_SOURCE_DIR}/b6_logins.cpp"
    LIBS reclothes::controller_core reclothes::testsupport PkgConfig::HTTPLIB PkgConfig::SODIUM
         PkgConfig::PQXX Threads::Threads)
else()
  message(STATUS
    "bench: B6 not built (needs reclothes::controller_core and reclothes::testsupport)")
endif()
