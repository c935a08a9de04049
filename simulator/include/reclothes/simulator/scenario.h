// Scenario files: readable scripts that drive simulated boxes (and, through HTTP steps, the
// controller) for the end-to-end suites. YAML (or JSON, which yaml-cpp reads too):
//
//   name: a courier loads compartment 3
//   vars: {key: keys/signing.pem}
//   steps:
//     - start: {box: box-0001, config: box-0001.json, broker: none}
//     - mint: {key: "${key}", action: courier_load, compartments: [3], save_as: tok}
//     - present: "${tok}"
//     - expect_compartment: {compartment: 3, state: unlocked, within: 2s}
//     - open_door: 3
//     - close_door: 3
//     - expect_event: {kind: access_completed, compartment: 3, within: 2s}
//
// docs/simulator.md ("Scenario files") is the reference of every step, its fields and defaults.
// Errors name the file and line (and the step's index), e.g.
//   "deposit.yaml:14: step 5 (expect_compartment): unknown field \"stat\" (known: box, ...)".
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "reclothes/common/result.h"

namespace reclothes::simulator {

struct ScenarioStep {
  std::size_t index = 0;  // 1-based
  int line = 0;           // 1-based line of the step in the file
  std::string source;     // the file name of an included step (empty: the scenario's own file)
  std::string kind;       // "start", "present", "expect_event", ...
  nlohmann::json args;    // always an object (a shorthand scalar is stored under its field)
};

struct Scenario {
  std::filesystem::path file;  // relative paths in steps are resolved against its directory
  std::string name;
  std::string description;
  std::map<std::string, std::string> vars;  // defaults; --var overrides
  std::vector<ScenarioStep> steps;
};

// "step 5 (expect_compartment, deposit.yaml:14)".
std::string describe(const Scenario& scenario, const ScenarioStep& step);

// Parses and checks a scenario: the structure, every step's kind, its fields (unknown and
// missing ones), the types of literal values (values holding ${...} are checked when the step
// runs), and which box a step without `box:` means. kInvalidArgument with "file:line: ..." .
Result<Scenario> parse_scenario(std::string_view text, const std::filesystem::path& file);
// Reads the file first: kNotFound / kIo naming it.
Result<Scenario> load_scenario(const std::filesystem::path& file);

// "2s", "500ms", "1.5s", "2m", "1h" or a number of seconds. kInvalidArgument otherwise.
Result<std::chrono::milliseconds> parse_duration(const nlohmann::json& value);

// "$.a.b[0].c" or a JSON pointer "/a/b/0/c" -> the value in `doc`. kNotFound if absent.
Result<nlohmann::json> extract_path(const nlohmann::json& doc, std::string_view path);

struct ScenarioRunOptions {
  std::map<std::string, std::string> vars;  // override the file's vars
  // Boxes are stepped by the runner on a ManualClock: waits and timeouts take no real time.
  // MQTT and HTTP still run in real time, so scenarios with a broker should not use it.
  bool virtual_time = false;
  // Journals go here and are kept; otherwise into a temporary directory removed at the end.
  std::optional<std::filesystem::path> state_dir;
  // How often a condition is re-checked (real time) / how far the virtual clock moves per turn.
  std::chrono::milliseconds poll{20};
  std::chrono::milliseconds virtual_tick{50};
  // Called after each step as it finishes (live progress): the step, whether it passed, and its
  // report line ("ok   step 3 (...): note" or "FAIL step 3 (...): why").
  std::function<void(const ScenarioStep&, bool passed, const std::string& line)> on_step;
};

struct ScenarioReport {
  bool passed = false;
  std::size_t steps_run = 0;                // steps that passed
  std::optional<std::size_t> failed_step;   // 1-based index
  std::string failure;                      // "step 5 (expect_compartment, f.yaml:14): ..."
  std::vector<std::string> log;             // one line per step
  std::map<std::string, std::string> vars;  // the variables at the end
  std::chrono::milliseconds elapsed{0};
};

// Plays the steps in order and stops at the first failure. Boxes are shut down cleanly at the
// end, whatever happened. Never throws.
ScenarioReport run_scenario(const Scenario& scenario, const ScenarioRunOptions& options = {});

}  // namespace reclothes::simulator
