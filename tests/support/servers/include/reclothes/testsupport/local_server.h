// What the server fixtures share: one server process of ours listening on a loopback port, in a
// temporary directory of its own that also holds its log. MosquittoServer and PostgresServer are
// the two kinds; this class is not used on its own.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "reclothes/common/result.h"
#include "reclothes/testsupport/process.h"

namespace reclothes::testsupport {

class LocalServer {
 public:
  // What differs between the kinds of server here.
  struct Kind {
    std::string name;      // in messages and in the directory's name: "mosquitto"
    std::string user;      // the server runs as this user when we are root
    std::string log_name;  // the log's file name in dir()
  };

  LocalServer(const LocalServer&) = delete;
  LocalServer& operator=(const LocalServer&) = delete;

  int port() const { return port_; }
  const std::filesystem::path& dir() const { return dir_.path(); }
  std::filesystem::path log_path() const;  // the server's stdout and stderr (appended)
  pid_t pid() const;                       // -1 before the first start
  bool running() const;

 protected:
  // The command line for a start on `port` (it may write the server's configuration first).
  using CommandLine = std::function<Result<std::vector<std::string>>(int port)>;
  // What must hold once the server listens (e.g. it answers queries), by `deadline`.
  using Readiness =
      std::function<Status(Process& server, std::chrono::steady_clock::time_point deadline)>;

  // A new directory "reclothes-<name>-XXXXXX", handed to kind.user (the server writes there).
  static Result<TempDir> make_dir(const Kind& kind);
  LocalServer(Kind kind, TempDir dir);
  ~LocalServer();  // SIGKILLs a server still running, then removes the directory

  // Starts the server on a free port the first time and on the same port again after a stop; up
  // to 5 attempts when the port was taken (a new free port each time, or after a pause for a
  // restart). An attempt waits until the server itself listens and `ready` holds, within
  // ready_timeout; a failed one kills the server, runs after_kill and quotes the end of the log.
  Status launch(const CommandLine& command_line, std::chrono::milliseconds ready_timeout,
                const Readiness& ready = {}, const std::function<void()>& after_kill = {});
  // kFailedPrecondition while the server runs (a restart wants it stopped or killed first).
  Status check_stopped() const;
  // `signal`, then SIGKILL after grace. kInternal when the server exits with a status other than
  // 0; `how` names the signal in that message ("on SIGTERM"). Not running: OK.
  Status stop_with(std::chrono::milliseconds grace, int signal, std::string_view how);
  // SIGKILL, as a crash would. Not running: OK.
  Status kill_now();
  // For the destructors: as stop_with, whatever the outcome.
  void stop_quietly(std::chrono::milliseconds grace, int signal);

 private:
  Kind kind_;
  TempDir dir_;
  std::unique_ptr<Process> process_;
  int port_ = 0;
};

}  // namespace reclothes::testsupport
