// Loads paho.supp into AddressSanitizer for this test binary (see that file for why). ASan calls
// this hook at start-up; in a build without ASan it is an unused function. The reclothes-box
// processes the tests spawn get the same file through ASAN_OPTIONS (box_process_test.cpp).
extern "C" const char* __asan_default_options() {
  return "suppressions=" RECLOTHES_SYNC_ASAN_SUPPRESSIONS;
}
