# B3: outbox backlog drain. The firmware's Journal and Sync drain 10,000 journaled events over
# MQTT QoS 1 to a real Mosquitto (tests/support) and an acker child process, beside
# mosquitto_pub/mosquitto_sub QoS 1 on the same broker (docs/performance.md, B3).
if(TARGET reclothes::firmware_sync AND TARGET reclothes::testsupport AND TARGET reclothes::acker)
  reclothes_add_benchmark(NAME bench_b3_outbox_drain
    SOURCES "${CMAKE_CURRENT_SOURCE_DIR}/b3_outbox_drain.cpp"
    LIBS reclothes::firmware_sync reclothes::testsupport reclothes::acker
         spdlog::spdlog Threads::Threads)
else()
  message(STATUS
    "bench: B3 not built (needs reclothes::firmware_sync, reclothes::testsupport, reclothes::acker)")
endif()
