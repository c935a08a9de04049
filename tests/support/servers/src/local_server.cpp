#include "reclothes/testsupport/local_server.h"

#include <utility>

#include "internal.h"

namespace reclothes::testsupport {
namespace {

using std::chrono::milliseconds;

// One start attempt on `port`. Sets port_taken when it failed because the port was in use.
using StartAttempt = std::function<Status(int port, bool& port_taken)>;

// Runs attempt up to 5 times. A free port is picked first when `port` is 0 and again after each
// port_taken failure; a known port (a restart) is retried as is after a pause, since its clients
// expect it. Any other failure returns at once.
Status start_with_port_retries(int& port, const StartAttempt& attempt) {
  constexpr int kAttempts = 5;
  const bool fresh_port = port == 0;
  std::string ports;
  std::string last_failure;
  for (int i = 1; i <= kAttempts; ++i) {
    if (fresh_port) {
      RC_ASSIGN_OR_RETURN(port, free_tcp_port());
    }
    bool port_taken = false;
    Status started = attempt(port, port_taken);
    if (started.ok() || !port_taken) return started;
    ports += " " + std::to_string(port);
    last_failure = started.error().message;
    if (!fresh_port) internal::sleep_for(milliseconds{200});
  }
  return make_error(ErrorCode::kUnavailable, "port already in use on all " +
                                                 std::to_string(kAttempts) + " attempts (port" +
                                                 ports + "); last attempt: " + last_failure);
}

}  // namespace

Result<TempDir> LocalServer::make_dir(const Kind& kind) {
  RC_ASSIGN_OR_RETURN(TempDir dir, TempDir::create("reclothes-" + kind.name + "-"));
  RC_TRY(chown_to_user(dir.path(), kind.user));
  return dir;
}

LocalServer::LocalServer(Kind kind, TempDir dir) : kind_(std::move(kind)), dir_(std::move(dir)) {}

LocalServer::~LocalServer() = default;

std::filesystem::path LocalServer::log_path() const { return dir() / kind_.log_name; }

pid_t LocalServer::pid() const { return process_ ? process_->pid() : -1; }

bool LocalServer::running() const { return process_ && process_->running(); }

Status LocalServer::launch(const CommandLine& command_line, milliseconds ready_timeout,
                           const Readiness& ready, const std::function<void()>& after_kill) {
  return start_with_port_retries(port_, [&](int port, bool& port_taken) -> Status {
    RC_ASSIGN_OR_RETURN(std::vector<std::string> argv, command_line(port));
    const auto log_offset = internal::file_size_or_zero(log_path());
    SpawnOptions options;
    options.log_path = log_path();
    options.working_dir = dir();
    // As root we switch users ourselves: a server dropping privileges on its own would clear the
    // death signal that ties it to the test process.
    options.run_as_user = kind_.user;
    auto process = Process::spawn(std::move(argv), options);
    if (!process.ok()) return std::move(process).error().with_context("starting " + kind_.name);
    process_ = std::move(process).value();

    const auto deadline = std::chrono::steady_clock::now() + ready_timeout;
    Status status = wait_until_listening(*process_, port, ready_timeout);
    if (status.ok() && ready) status = ready(*process_, deadline);
    if (status.ok()) return ok_status();
    (void)process_->kill();
    if (after_kill) after_kill();
    const std::string log = internal::read_log_from(log_path(), log_offset);
    port_taken = log.find("Address already in use") != std::string::npos;
    return std::move(status).error().with_context(
        "starting " + kind_.name + " (log " + log_path().string() + " ends with:\n" + log + ")");
  });
}

Status LocalServer::check_stopped() const {
  if (!running()) return ok_status();
  return make_error(ErrorCode::kFailedPrecondition,
                    kind_.name + " is still running: stop() or kill() it before restart()");
}

Status LocalServer::stop_with(milliseconds grace, int signal, std::string_view how) {
  if (!running()) return ok_status();
  RC_ASSIGN_OR_RETURN(const int status, process_->stop(grace, signal));
  if (status != 0) {
    return make_error(ErrorCode::kInternal, kind_.name + " exited with status " +
                                                std::to_string(status) + " " + std::string(how) +
                                                "; see " + log_path().string());
  }
  return ok_status();
}

Status LocalServer::kill_now() {
  if (!running()) return ok_status();
  RC_TRY(process_->kill());
  return ok_status();
}

void LocalServer::stop_quietly(milliseconds grace, int signal) {
  if (running()) (void)process_->stop(grace, signal);
}

}  // namespace reclothes::testsupport
