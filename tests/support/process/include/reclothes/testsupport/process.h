// Child processes for tests: real servers and our own binaries, started with fork+exec, watched by
// PID, and never left behind (the child gets PR_SET_PDEATHSIG, so it dies with the test process).
//
// Each child leads a new session (setsid), so signals from the terminal do not reach it and stop()
// and kill() reach its whole process group (a shell's children too). Trap: Linux sends the death
// signal when the *thread* that called spawn() exits, not the process; spawn from a thread that
// outlives the Process (the test's main thread), never from a short-lived helper thread.
// A Process is not thread-safe: use it from one thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "reclothes/common/result.h"
#include "reclothes/testsupport/temp_dir.h"  // TempDir, for the users of this header

namespace reclothes::testsupport {

struct SpawnOptions {
  std::filesystem::path log_path;  // stdout and stderr go here (appended); empty: /dev/null
  // When root: the child takes this user's uid, gid and groups (and HOME, USER, LOGNAME) before
  // exec. Ignored when not root (the child runs as we do). Unknown user: kNotFound.
  std::optional<std::string> run_as_user;
  std::map<std::string, std::string> env;  // added to (or replacing in) the inherited environment
  std::filesystem::path working_dir;       // empty: inherit
  // Read as the child's stdin; empty: /dev/null. Not found: kNotFound.
  std::filesystem::path stdin_path = {};
  // The child's stderr apart from its stdout (appended); empty: into log_path with stdout.
  std::filesystem::path stderr_path = {};
};

class Process {
 public:
  // Starts argv[0] (a path, or a name looked up in PATH) with fork+exec and returns once the exec
  // has succeeded. Errors: kInvalidArgument (empty argv), kNotFound (no such program, user or
  // working dir), kPermissionDenied, kIo; a failed child is reaped before spawn() returns.
  static Result<std::unique_ptr<Process>> spawn(std::vector<std::string> argv,
                                                SpawnOptions options = {});
  ~Process();  // kills (SIGKILL) and reaps the child if it is still running

  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  bool running();  // reaps the child if it has exited
  // Exit code, or 128+signal; nullopt while running; -1 if someone else reaped it (waitpid(-1)).
  std::optional<int> exit_status();

  // Sends sig to the child's process group. kFailedPrecondition once the child has been reaped
  // (its pid may belong to someone else by then).
  Status send_signal(int sig);
  // `signal` (SIGTERM; PostgreSQL wants SIGINT or SIGQUIT), then SIGKILL after grace; returns the
  // exit status (128+9 when the SIGKILL was needed). Already exited: its status.
  Result<int> stop(std::chrono::milliseconds grace = std::chrono::seconds(10),
                   int signal = SIGTERM);
  // SIGKILL now, as a crash or power loss would.
  Result<int> kill();
  // Waits for the child to exit by itself.
  Result<int> wait(std::chrono::milliseconds timeout);

 private:
  explicit Process(pid_t pid) : pid_(pid) {}
  bool try_reap();
  pid_t pid_;
  std::optional<int> status_;
};

// A loopback TCP port that was free a moment ago: a random port below the kernel's ephemeral range
// (so outgoing connections cannot take it between our probe and the server's bind), checked by
// binding it. Another test may still take it first: servers retry with a new port.
Result<int> free_tcp_port();
// Polls until a TCP connect to 127.0.0.1:port succeeds. kDeadlineExceeded on timeout.
Status wait_for_tcp_port(int port, std::chrono::milliseconds timeout);
// Polls until `process` itself holds a listening socket on 127.0.0.1:port (so a stranger that took
// the port does not count) and a connect succeeds. kUnavailable as soon as the process exits,
// kDeadlineExceeded on timeout.
Status wait_until_listening(Process& process, int port, std::chrono::milliseconds timeout);

// chown of one path (not recursive) to user and its primary group, when root; no-op otherwise.
Status chown_to_user(const std::filesystem::path& path, const std::string& user);

}  // namespace reclothes::testsupport
