# B7: a fleet of simulated boxes (reclothes-sim fleet processes) on one real Mosquitto and one
# real reclothes-controller with PostgreSQL (reclothes_bench_servers): boxes flowing, errors, and
# memory per box of the simulators, the broker and the controller (docs/performance.md, B7).
if(TARGET reclothes-controller AND TARGET reclothes-sim AND TARGET reclothes_bench_servers)
  reclothes_add_benchmark(NAME bench_b7_fleet
    SOURCES "${CMAKE_CURRENT_SOURCE_DIR}/b7_fleet.cpp"
    LIBS reclothes_bench_servers PkgConfig::PQXX PkgConfig::HTTPLIB nlohmann_json::nlohmann_json
    RUNS reclothes-controller=RECLOTHES_CONTROLLER_BIN reclothes-sim=RECLOTHES_SIM_BIN)
else()
  message(STATUS
    "bench: B7 not built (needs reclothes-controller, reclothes-sim and reclothes::testsupport)")
endif()
