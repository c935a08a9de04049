# B7: a fleet of simulated boxes (reclothes-sim fleet processes) on one real Mosquitto and one
# real reclothes-controller with PostgreSQL (tests/support): boxes flowing, errors, and memory per
# box of the simulators, the broker and the controller (docs/performance.md, B7).
if(TARGET reclothes-controller AND TARGET reclothes-sim AND TARGET reclothes::testsupport)
  reclothes_add_benchmark(NAME bench_b7_fleet
    SOURCES "${CMAKE_CURRENT_SOURCE_DIR}/b7_fleet.cpp"
    LIBS reclothes::testsupport PkgConfig::PQXX PkgConfig::HTTPLIB nlohmann_json::nlohmann_json)
  add_dependencies(bench_b7_fleet reclothes-controller reclothes-sim)
  target_compile_definitions(bench_b7_fleet PRIVATE
    RECLOTHES_CONTROLLER_BIN="$<TARGET_FILE:reclothes-controller>"
    RECLOTHES_SIM_BIN="$<TARGET_FILE:reclothes-sim>")
else()
  message(STATUS
    "bench: B7 not built (needs reclothes-controller, reclothes-sim and reclothes::testsupport)")
endif()
