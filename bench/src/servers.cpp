#include "reclothes/bench/servers.h"

#include <httplib.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "reclothes/bench/proc.h"
#include "reclothes/bench/stats.h"

namespace reclothes::bench {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;

}  // namespace

Result<int> run_to_end(std::vector<std::string> argv, const fs::path& log,
                       testsupport::SpawnOptions options, milliseconds timeout) {
  options.log_path = log;
  RC_ASSIGN_OR_RETURN(auto p, testsupport::Process::spawn(std::move(argv), options));
  auto status = p->wait(timeout);
  if (!status.ok()) {
    (void)p->kill();
    return make_error(ErrorCode::kDeadlineExceeded,
                      log.filename().string() + ": did not finish:\n" + tail(log));
  }
  return *status;
}

void add_controller_options(CLI::App& app, ControllerChoice& choice) {
  app.add_option("--controller", choice.binary, "the reclothes-controller binary")
      ->capture_default_str();
  app.add_option("--log-level", choice.log_level, "the controller's log level")
      ->capture_default_str();
}

Result<std::unique_ptr<ControllerStack>> ControllerStack::start(const fs::path& dir,
                                                                ControllerStackOptions options) {
  std::unique_ptr<ControllerStack> stack(new ControllerStack(dir, std::move(options)));
  testsupport::PostgresServer::Options pg;
  pg.durable = stack->options_.durable_postgres;
  RC_ASSIGN_OR_RETURN(stack->postgres_, testsupport::PostgresServer::start(pg));
  RC_ASSIGN_OR_RETURN(stack->conninfo_, stack->postgres_->create_database("reclothes"));
  testsupport::MosquittoServer::Options broker;
  broker.persistence = stack->options_.broker_persistence;
  RC_ASSIGN_OR_RETURN(stack->broker_, testsupport::MosquittoServer::start(broker));
  RC_ASSIGN_OR_RETURN(stack->public_port_, testsupport::free_tcp_port());
  RC_ASSIGN_OR_RETURN(stack->internal_port_, testsupport::free_tcp_port());
  RC_TRY(stack->write_config());
  return stack;
}

ControllerStack::~ControllerStack() = default;

Status ControllerStack::write_config() {
  nlohmann::json public_listener = {{"host", "127.0.0.1"}, {"port", public_port_}};
  if (options_.listener_threads > 0) public_listener["threads"] = options_.listener_threads;
  const nlohmann::json c = {
      {"database", {{"conninfo", conninfo_}}},
      {"public_listener", public_listener},
      {"internal_listener", {{"host", "127.0.0.1"}, {"port", internal_port_}}},
      // Libsodium's minimum Argon2id: only the set-up logs in (B6 measures logins).
      {"passwords", {{"opslimit", 1}, {"memlimit_bytes", 8192}}},
      {"mqtt", {{"uri", broker_->uri()}, {"client_id", options_.client_id}}},
      {"tokens", {{"key_dir", (dir_ / "keys").string()}}},
      {"log", {{"level", options_.controller.log_level}, {"format", "text"}}}};
  config_ = dir_ / "controller.json";
  return write_text(config_, c.dump(2) + "\n");
}

Status ControllerStack::migrate() {
  RC_ASSIGN_OR_RETURN(const int status, run_to_end({options_.controller.binary, "migrate",
                                                    "--config", config_.string()},
                                                   migrate_log()));
  if (status != 0) {
    return make_error(ErrorCode::kInternal, "reclothes-controller migrate exited with " +
                                                std::to_string(status) + ":\n" +
                                                tail(migrate_log()));
  }
  return ok_status();
}

Status ControllerStack::serve() {
  testsupport::SpawnOptions spawn;
  spawn.log_path = log();
  RC_ASSIGN_OR_RETURN(
      controller_, testsupport::Process::spawn(
                       {options_.controller.binary, "serve", "--config", config_.string()}, spawn));
  RC_TRY(testsupport::wait_until_listening(*controller_, public_port_, seconds(30)));
  RC_TRY(testsupport::wait_until_listening(*controller_, internal_port_, seconds(30)));
  return wait_ready();
}

Status ControllerStack::wait_ready() {
  httplib::Client cli("127.0.0.1", public_port_);
  cli.set_connection_timeout(seconds(2));
  cli.set_read_timeout(seconds(5));
  const auto deadline = SteadyClock::now() + seconds(30);
  while (SteadyClock::now() < deadline) {
    auto res = cli.Get("/readyz");
    if (res && res->status == 200) return ok_status();
    std::this_thread::sleep_for(milliseconds(50));
  }
  return make_error(ErrorCode::kDeadlineExceeded,
                    "the controller did not become ready (database and broker):\n" + tail(log()));
}

Result<int> ControllerStack::stop_controller(milliseconds grace) {
  if (!controller_)
    return make_error(ErrorCode::kFailedPrecondition, "the controller is not serving");
  return controller_->stop(grace);
}

}  // namespace reclothes::bench
