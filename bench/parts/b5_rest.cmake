# B5: REST GET/POST of the controller under wrk beside pgbench, then 1,000 keep-alive
# connections. Runs the real reclothes-controller binary against real PostgreSQL and Mosquitto
# (reclothes_bench_servers); wrk and pgbench are Debian packages, found at run time.
if(TARGET reclothes-controller AND TARGET reclothes_bench_servers)
  reclothes_add_benchmark(NAME bench_b5_rest
    SOURCES "${CMAKE_CURRENT_SOURCE_DIR}/b5_rest.cpp"
    LIBS reclothes_bench_servers PkgConfig::PQXX PkgConfig::HTTPLIB nlohmann_json::nlohmann_json
    RUNS reclothes-controller=RECLOTHES_CONTROLLER_BIN)
else()
  message(STATUS "bench: B5 not built (needs reclothes-controller and reclothes::testsupport)")
endif()
