// Runs the reclothes-provision binary as a technician would and captures what it printed.
#pragma once

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#ifndef RECLOTHES_PROVISION_BIN
#error "RECLOTHES_PROVISION_BIN must name the reclothes-provision executable"
#endif

namespace reclothes::provisioning::cli::testing {

struct RunResult {
  int exit_code = -1;  // 128 + signal if killed; -1 if it could not be started or timed out
  std::string out;
  std::string err;
  // stdout parsed as JSON (discarded value if it is not JSON).
  nlohmann::json json() const { return nlohmann::json::parse(out, nullptr, false); }
  std::string describe() const {
    return "exit " + std::to_string(exit_code) + "\n--- stdout\n" + out + "--- stderr\n" + err;
  }
};

// argv without the program name; env entries are added to (or replace) the inherited ones.
RunResult run_cli(const std::vector<std::string>& args,
                  const std::map<std::string, std::string>& env = {},
                  const std::string& stdin_text = "",
                  std::chrono::seconds timeout = std::chrono::seconds(120));

}  // namespace reclothes::provisioning::cli::testing
