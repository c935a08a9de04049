# B4: controller ingest (box events applied exactly once into PostgreSQL) beside pgbench
# single-row inserts. Runs the real reclothes-controller binary against real Mosquitto and
# PostgreSQL (reclothes_bench_servers); links the controller core only for register_box().
if(TARGET reclothes-controller AND TARGET reclothes::controller_core
   AND TARGET reclothes_bench_servers)
  reclothes_add_benchmark(NAME bench_b4_controller_ingest
    SOURCES "${CMAKE_CURRENT_SOURCE_DIR}/b4_controller_ingest.cpp"
    LIBS reclothes::controller_core reclothes_bench_servers PahoMqttCpp::paho-mqttpp3
         PkgConfig::PQXX nlohmann_json::nlohmann_json
    RUNS reclothes-controller=RECLOTHES_CONTROLLER_BIN)
else()
  message(STATUS
    "bench: B4 not built (needs reclothes-controller, reclothes::controller_core and "
    "reclothes::testsupport)")
endif()
