# B10: a soak. The real reclothes-controller with a fleet of simulated boxes (reclothes-sim fleet)
# on real Mosquitto and PostgreSQL (reclothes_bench_servers), under wrk at 80 % of the REST rate
# measured in the same run, for 10 minutes: errors, and the controller's RSS over time
# (docs/performance.md, B10). wrk is a Debian package, found at run time.
if(TARGET reclothes-controller AND TARGET reclothes-sim AND TARGET reclothes_bench_servers)
  reclothes_add_benchmark(NAME bench_b10_soak
    SOURCES "${CMAKE_CURRENT_SOURCE_DIR}/b10_soak.cpp"
    LIBS reclothes_bench_servers PkgConfig::PQXX PkgConfig::HTTPLIB nlohmann_json::nlohmann_json
    RUNS reclothes-controller=RECLOTHES_CONTROLLER_BIN reclothes-sim=RECLOTHES_SIM_BIN)
else()
  message(STATUS
    "bench: B10 not built (needs reclothes-controller, reclothes-sim and reclothes::testsupport)")
endif()
