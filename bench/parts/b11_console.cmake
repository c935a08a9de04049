# B11: the staff console's first load (time to the fleet table with 10,000 boxes, bytes) beside
# static files of the same size from the same listener. The real reclothes-controller with
# PostgreSQL and Mosquitto (reclothes_bench_servers) and Debian's Chromium driven by
# playwright-core (bench/console/: its package.json and lockfile are copied into the build tree,
# where the benchmark runs `npm ci` once).
if(TARGET reclothes-controller AND TARGET reclothes_bench_servers)
  reclothes_add_benchmark(NAME bench_b11_console
    SOURCES "${CMAKE_CURRENT_SOURCE_DIR}/b11_console.cpp"
    LIBS reclothes_bench_servers nlohmann_json::nlohmann_json
    RUNS reclothes-controller=RECLOTHES_CONTROLLER_BIN)
  set(b11_dir "${CMAKE_CURRENT_BINARY_DIR}/console")
  foreach(f IN ITEMS package.json package-lock.json first_load.mjs)
    configure_file("${CMAKE_CURRENT_SOURCE_DIR}/console/${f}" "${b11_dir}/${f}" COPYONLY)
  endforeach()
  target_compile_definitions(bench_b11_console PRIVATE RECLOTHES_B11_SCRIPT_DIR="${b11_dir}")
else()
  message(STATUS "bench: B11 not built (needs reclothes-controller and reclothes::testsupport)")
endif()
