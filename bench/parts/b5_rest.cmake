# B5: REST GET/POST of the controller under wrk beside pgbench, then 1,000 keep-alive
# connections. Runs the real reclothes-controller binary against real PostgreSQL and Mosquitto
# (reclothes::testsupport); wrk and pgbench are Debian packages, found at run time.
if(TARGET reclothes-controller AND TARGET reclothes::testsupport)
  reclothes_add_benchmark(NAME bench_b5_rest
    SOURCES "${CMAKE_CURRENT_SOURCE_DIR}/b5_rest.cpp"
    LIBS reclothes::testsupport PkgConfig::PQXX PkgConfig::HTTPLIB nlohmann_json::nlohmann_json)
  add_dependencies(bench_b5_rest reclothes-controller)
  target_compile_definitions(bench_b5_rest PRIVATE
    RECLOTHES_CONTROLLER_BIN="$<TARGET_FILE:reclothes-controller>")
else()
  message(STATUS "bench: B5 not built (needs reclothes-controller and reclothes::testsupport)")
endif()
