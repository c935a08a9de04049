#include "cli_runner.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

#include "reclothes/testsupport/process.h"

namespace reclothes::provisioning::cli::testing {
namespace {

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

RunResult run_cli(const std::vector<std::string>& args,
                  const std::map<std::string, std::string>& env, const std::string& stdin_text,
                  std::chrono::seconds timeout) {
  RunResult result;
  auto dir = testsupport::TempDir::create("reclothes-cli-io-");
  if (!dir.ok()) {
    result.err = dir.error().to_string();
    return result;
  }
  testsupport::SpawnOptions options;
  options.stdin_path = *dir / "stdin";
  options.log_path = *dir / "stdout";
  options.stderr_path = *dir / "stderr";
  std::ofstream(options.stdin_path) << stdin_text;
  // A developer's own password must not leak into tests that expect none; the CLI takes an empty
  // one for none.
  options.env["RECLOTHES_STAFF_PASSWORD"] = "";
  for (const auto& [key, value] : env) options.env[key] = value;

  std::vector<std::string> argv = {RECLOTHES_PROVISION_BIN};
  argv.insert(argv.end(), args.begin(), args.end());
  auto process = testsupport::Process::spawn(std::move(argv), options);
  if (!process.ok()) {
    result.err = process.error().to_string();
    return result;
  }
  const auto status = (*process)->wait(timeout);
  if (status.ok()) {
    result.exit_code = *status;
  } else {
    (void)(*process)->kill();
  }
  result.out = read_text(options.log_path);
  result.err = read_text(options.stderr_path);
  if (!status.ok()) result.err += "\n(killed after the test's timeout)";
  return result;
}

}  // namespace reclothes::provisioning::cli::testing
