// The servers of the benchmarks that run the real controller (B4, B5, B7), started in one place: a
// PostgreSQL and a Mosquitto from tests/support, and the `reclothes-controller` binary as it is
// deployed, with a config file in the benchmark's scratch directory, migrated (`migrate`) and then
// serving (`serve`). Also how they run a program to completion (migrate, pgbench) and the
// command-line options they share about the controller.
#pragma once

#include <CLI/CLI.hpp>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "reclothes/common/result.h"
#include "reclothes/testsupport/mosquitto.h"
#include "reclothes/testsupport/postgres.h"
#include "reclothes/testsupport/process.h"

// The reclothes-controller a benchmark runs by default: the one built beside it
// (bench/CMakeLists.txt, RUNS reclothes-controller=RECLOTHES_CONTROLLER_BIN), else the name, looked
// up in PATH.
#ifndef RECLOTHES_CONTROLLER_BIN
#define RECLOTHES_CONTROLLER_BIN "reclothes-controller"
#endif

namespace reclothes::bench {

// Runs a program to completion with its output in `log` (which replaces options.log_path); its
// exit status. kDeadlineExceeded, with the end of the log, if it has not finished after `timeout`
// (it is killed then); spawn's errors.
Result<int> run_to_end(std::vector<std::string> argv, const std::filesystem::path& log,
                       testsupport::SpawnOptions options = {},
                       std::chrono::milliseconds timeout = std::chrono::seconds(120));

// What a benchmark's command line chooses about the controller it runs.
struct ControllerChoice {
  std::string binary;     // the reclothes-controller binary
  std::string log_level;  // the controller's log level
};
// Adds --controller and --log-level to `app`, each showing its default.
void add_controller_options(CLI::App& app, ControllerChoice& choice);

struct ControllerStackOptions {
  ControllerChoice controller;
  std::string client_id;           // the controller's MQTT client id
  int listener_threads = 0;        // the public listener's threads; 0: the controller's default
  bool durable_postgres = true;    // fsync and synchronous_commit on, as in production
  bool broker_persistence = true;  // see testsupport::MosquittoServer::Options
};

// PostgreSQL, Mosquitto and one reclothes-controller. Not thread-safe; use it from the thread that
// started it (the controller process dies with that thread: testsupport/process.h).
class ControllerStack {
 public:
  // Starts PostgreSQL (with a database "reclothes") and Mosquitto, picks free ports for the
  // controller's two listeners and writes <dir>/controller.json. The servers' errors; kIo if the
  // config cannot be written.
  static Result<std::unique_ptr<ControllerStack>> start(const std::filesystem::path& dir,
                                                        ControllerStackOptions options);
  ControllerStack(const ControllerStack&) = delete;
  ControllerStack& operator=(const ControllerStack&) = delete;
  ~ControllerStack();  // kills a controller still serving, then stops the servers

  // `reclothes-controller migrate` (its output in migrate_log()). kInternal with the end of that
  // log if it fails; kDeadlineExceeded after 2 minutes.
  Status migrate();
  // Spawns `reclothes-controller serve` (its output in log()) and returns once both listeners
  // listen and GET /readyz answers 200 (the database and the broker reached), 30 s at most each.
  // kUnavailable if the controller exits, kDeadlineExceeded with the end of its log otherwise.
  Status serve();
  // The serving controller: SIGTERM, then SIGKILL after `grace`; its exit status.
  Result<int> stop_controller(std::chrono::milliseconds grace);

  testsupport::PostgresServer& postgres() { return *postgres_; }
  testsupport::MosquittoServer& broker() { return *broker_; }
  const std::string& conninfo() const { return conninfo_; }
  int public_port() const { return public_port_; }
  int internal_port() const { return internal_port_; }
  const std::filesystem::path& config() const { return config_; }
  std::filesystem::path log() const { return dir_ / "controller.log"; }
  std::filesystem::path migrate_log() const { return dir_ / "migrate.log"; }
  // The serving controller; only after serve() succeeded.
  testsupport::Process& controller() { return *controller_; }

 private:
  ControllerStack(std::filesystem::path dir, ControllerStackOptions options)
      : dir_(std::move(dir)), options_(std::move(options)) {}
  Status write_config();
  Status wait_ready();

  std::filesystem::path dir_;
  ControllerStackOptions options_;
  std::unique_ptr<testsupport::PostgresServer> postgres_;
  std::unique_ptr<testsupport::MosquittoServer> broker_;
  std::string conninfo_;
  int public_port_ = 0;
  int internal_port_ = 0;
  std::filesystem::path config_;
  std::unique_ptr<testsupport::Process> controller_;  // declared last: stopped first
};

}  // namespace reclothes::bench
