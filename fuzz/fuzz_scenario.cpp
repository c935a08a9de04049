// libFuzzer target for the simulator's scenario reader (simulator::parse_scenario: YAML through
// yaml-cpp, then the step vocabulary, field and type checks, variables and includes), which
// `reclothes-sim scenario FILE` and the e2e suites run on every scenario file.
//
// The scenario's own path is in a directory that does not exist, so `include:` steps are refused
// as missing files (the include logic up to the file read is covered, the nesting of real files
// is not). Nothing is run: scenario_runner.cpp is not part of this target.
//
// Besides "never crash, never hang": an accepted scenario has steps with a known kind, each
// argument list an object, and describe() names every step.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "reclothes/simulator/scenario.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto scenario =
      reclothes::simulator::parse_scenario(text, "/nonexistent/reclothes-fuzz/scenario.yaml");
  if (!scenario.ok()) {
    check(scenario.error().code != reclothes::ErrorCode::kInternal);
    return 0;
  }
  for (const auto& step : scenario->steps) {
    check(!step.kind.empty());
    check(step.args.is_object());
    check(!reclothes::simulator::describe(*scenario, step).empty());
  }
  return 0;
}
