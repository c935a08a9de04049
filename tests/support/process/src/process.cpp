#include "reclothes/testsupport/process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

extern char** environ;

namespace reclothes::testsupport {

namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr milliseconds kKillTimeout{10'000};  // SIGKILL cannot be ignored: this is a safety net

ErrorCode code_for_errno(int err) {
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return ErrorCode::kNotFound;
    case EACCES:
    case EPERM:
      return ErrorCode::kPermissionDenied;
    default:
      return ErrorCode::kIo;
  }
}

Error errno_error(std::string_view what, int err) {
  return make_error(code_for_errno(err), std::string(what) + ": " + std::strerror(err));
}

// Owns a file descriptor.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

// The child dup2()s onto 0, 1 and 2 and keeps the error pipe open until exec, so none of the fds it
// inherits for that may sit on 0..2 (only possible if the test process closed its own stdio).
Result<Fd> above_stdio(Fd fd) {
  if (fd.get() > 2) return fd;
  const int moved = ::fcntl(fd.get(), F_DUPFD_CLOEXEC, 3);
  if (moved < 0) return errno_error("fcntl(F_DUPFD_CLOEXEC)", errno);
  return Fd(moved);
}

// The child's stdin, stdout and stderr, opened before fork on descriptors above 0..2. O_CLOEXEC
// everywhere: another thread may fork+exec at the same time, and its child must not keep our
// pipe's write end open (we would never see EOF) or our log files.
struct ChildStdio {
  Fd in;
  Fd out;
  Fd err;  // -1: stderr goes to `out`
};

// `path` opened for the child: read-only, or appended to (created 0644) when `write`; /dev/null
// when the path is empty.
Result<Fd> open_for_child(const std::filesystem::path& path, bool write, const std::string& what) {
  const std::string name = path.empty() ? std::string("/dev/null") : path.string();
  const int flags = write ? O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC : O_RDONLY | O_CLOEXEC;
  Fd fd(::open(name.c_str(), flags, 0644));
  if (fd.get() < 0) return errno_error(what + ": opening " + name, errno);
  return above_stdio(std::move(fd));
}

Result<ChildStdio> open_child_stdio(const SpawnOptions& options, const std::string& what) {
  ChildStdio stdio;
  RC_ASSIGN_OR_RETURN(stdio.in, open_for_child(options.stdin_path, false, what));
  RC_ASSIGN_OR_RETURN(stdio.out, open_for_child(options.log_path, true, what));
  if (!options.stderr_path.empty()) {
    RC_ASSIGN_OR_RETURN(stdio.err, open_for_child(options.stderr_path, true, what));
  }
  return stdio;
}

struct UserIds {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  std::string name;
  std::string home;
};

Result<UserIds> lookup_user(const std::string& name) {
  std::vector<char> buffer(16384);
  passwd entry{};
  passwd* found = nullptr;
  int rc = 0;
  while ((rc = ::getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found)) ==
         ERANGE) {
    buffer.resize(buffer.size() * 2);
  }
  if (rc != 0) return errno_error("looking up user " + name, rc);
  if (found == nullptr) return make_error(ErrorCode::kNotFound, "no such user: " + name);
  UserIds ids;
  ids.uid = entry.pw_uid;
  ids.gid = entry.pw_gid;
  ids.name = name;
  ids.home = entry.pw_dir != nullptr ? entry.pw_dir : "/";
  // initgroups() reads /etc/group and may allocate, neither of which is allowed between fork and
  // exec; resolve the group list here and let the child only call setgroups().
  int count = 32;
  ids.groups.resize(static_cast<std::size_t>(count));
  while (::getgrouplist(name.c_str(), ids.gid, ids.groups.data(), &count) < 0) {
    ids.groups.resize(static_cast<std::size_t>(count) + 1);
    count = static_cast<int>(ids.groups.size());
  }
  ids.groups.resize(static_cast<std::size_t>(count));
  return ids;
}

std::map<std::string, std::string> child_environment(const SpawnOptions& options,
                                                     const std::optional<UserIds>& user) {
  std::map<std::string, std::string> env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string_view text(*entry);
    const auto eq = text.find('=');
    if (eq == std::string_view::npos) continue;
    env[std::string(text.substr(0, eq))] = std::string(text.substr(eq + 1));
  }
  if (user) {
    env["HOME"] = user->home;
    env["USER"] = user->name;
    env["LOGNAME"] = user->name;
  }
  for (const auto& [key, value] : options.env) env[key] = value;
  return env;
}

// execvp() searches PATH with allocations of its own, which a child of a multi-threaded parent
// (Paho runs threads) must not do; search here and let the child call execve().
Result<std::string> resolve_program(const std::string& name, const std::string& path_var) {
  if (name.find('/') != std::string::npos) return name;
  std::string_view rest = path_var;
  while (true) {
    const auto colon = rest.find(':');
    std::string dir(rest.substr(0, colon));
    if (dir.empty()) dir = ".";
    const std::string candidate = dir + "/" + name;
    struct stat info {};
    if (::stat(candidate.c_str(), &info) == 0 && S_ISREG(info.st_mode) &&
        ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
    if (colon == std::string_view::npos) break;
    rest.remove_prefix(colon + 1);
  }
  return make_error(ErrorCode::kNotFound, "program '" + name + "' not found in PATH=" + path_var);
}

// Everything the child needs, prepared before fork so that the child only makes system calls.
struct ChildPlan {
  const char* program = nullptr;
  char* const* argv = nullptr;
  char* const* envp = nullptr;
  const char* working_dir = nullptr;  // null: inherit
  int stdin_fd = -1;
  int output_fd = -1;
  int error_fd = -1;  // output_fd when stderr goes with stdout
  int error_pipe = -1;
  bool switch_user = false;
  uid_t uid = 0;
  gid_t gid = 0;
  const gid_t* groups = nullptr;
  std::size_t group_count = 0;
  pid_t parent = 0;
  int max_fd = 0;
};

// What the child reports through the error pipe when it cannot exec.
struct ChildFailure {
  int stage;
  int error;
};

enum Stage : int {
  kStageSetsid = 1,
  kStageStdio,
  kStageGroups,
  kStageGid,
  kStageUid,
  kStageDeathSignal,
  kStageChdir,
  kStageExec,
};

std::string_view stage_name(int stage) {
  switch (stage) {
    case kStageSetsid:
      return "setsid";
    case kStageStdio:
      return "redirecting stdio";
    case kStageGroups:
      return "setgroups";
    case kStageGid:
      return "setgid";
    case kStageUid:
      return "setuid";
    case kStageDeathSignal:
      return "prctl(PR_SET_PDEATHSIG)";
    case kStageChdir:
      return "chdir to the working dir";
    case kStageExec:
      return "exec";
    default:
      return "child setup";
  }
}

[[noreturn]] void child_fail(const ChildPlan& plan, int stage, int error) {
  const ChildFailure failure{stage, error};
  // 8 bytes into an empty pipe: the write is atomic. There is nothing to do if it fails.
  if (::write(plan.error_pipe, &failure, sizeof failure) < 0) {
  }
  ::_exit(127);
}

bool move_fd(int from, int to) {
  if (from == to) return ::fcntl(to, F_SETFD, 0) == 0;  // dup2 would leave FD_CLOEXEC set
  return ::dup2(from, to) == to;
}

// Runs in the child of fork(). Only async-signal-safe calls from here to exec: the parent may have
// threads (Paho, gtest), and whatever lock one of them held at the fork stays held in the child.
[[noreturn]] void run_child(const ChildPlan& plan) {
  if (::setsid() < 0) child_fail(plan, kStageSetsid, errno);

  // Ignored signals and the blocked mask survive exec; a server must start with defaults even when
  // the test process (or a library in it) ignores SIGPIPE or blocks signals.
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) sigaction(sig, &default_action, nullptr);

  if (!move_fd(plan.stdin_fd, STDIN_FILENO) || !move_fd(plan.output_fd, STDOUT_FILENO) ||
      !move_fd(plan.error_fd, STDERR_FILENO)) {
    child_fail(plan, kStageStdio, errno);
  }
  // No other descriptor of ours (sockets of the test, other children's pipes) may leak into the
  // server. CLOEXEC rather than close keeps the error pipe usable until the exec itself.
  if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
    for (int fd = 3; fd < plan.max_fd; ++fd) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  }

  if (plan.switch_user) {
    if (::setgroups(plan.group_count, plan.groups) != 0) child_fail(plan, kStageGroups, errno);
    if (::setgid(plan.gid) != 0) child_fail(plan, kStageGid, errno);
    if (::setuid(plan.uid) != 0) child_fail(plan, kStageUid, errno);
  }
  // After the user switch: any change of the effective uid or gid clears the death signal. For the
  // same reason a server must not drop privileges by itself (mosquitto would, if started as root),
  // which is why the fixtures start it as its user already.
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) child_fail(plan, kStageDeathSignal, errno);
  // The parent may have died between fork and prctl, and then no signal will ever come.
  if (::getppid() != plan.parent) ::_exit(127);

  if (plan.working_dir != nullptr && ::chdir(plan.working_dir) != 0) {
    child_fail(plan, kStageChdir, errno);
  }
  ::execve(plan.program, plan.argv, plan.envp);
  child_fail(plan, kStageExec, errno);
}

int decode_wait_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// The listening socket's inode for 127.0.0.1:port (or 0.0.0.0:port), from /proc/net/tcp.
std::optional<std::string> listening_socket_inode(int port) {
  std::ifstream in("/proc/net/tcp");
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
    fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >>
        timeout >> inode;
    if (state != "0A") continue;  // TCP_LISTEN
    const auto colon = local.find(':');
    if (colon == std::string::npos) continue;
    int local_port = 0;
    const std::string_view port_hex = std::string_view(local).substr(colon + 1);
    if (std::from_chars(port_hex.data(), port_hex.data() + port_hex.size(), local_port, 16).ec !=
        std::errc{}) {
      continue;
    }
    const std::string_view address = std::string_view(local).substr(0, colon);
    if (local_port == port && (address == "0100007F" || address == "00000000")) return inode;
  }
  return std::nullopt;
}

bool process_holds_socket(pid_t pid, const std::string& inode) {
  const std::string wanted = "socket:[" + inode + "]";
  std::error_code ec;
  std::filesystem::directory_iterator it("/proc/" + std::to_string(pid) + "/fd", ec);
  if (ec) return false;
  for (const auto& entry : it) {
    const auto target = std::filesystem::read_symlink(entry.path(), ec);
    if (!ec && target.string() == wanted) return true;
  }
  return false;
}

sockaddr_in loopback(int port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

// One connect attempt with a short timeout (a full accept backlog would otherwise block).
bool try_connect(int port) {
  Fd sock(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (sock.get() < 0) return false;
  const sockaddr_in address = loopback(port);
  if (::connect(sock.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0) {
    return true;
  }
  if (errno != EINPROGRESS) return false;
  pollfd waiting{sock.get(), POLLOUT, 0};
  if (::poll(&waiting, 1, 200) != 1) return false;
  int error = 0;
  socklen_t length = sizeof error;
  return ::getsockopt(sock.get(), SOL_SOCKET, SO_ERROR, &error, &length) == 0 && error == 0;
}

bool port_bindable(int port) {
  Fd sock(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (sock.get() < 0) return false;
  const sockaddr_in address = loopback(port);
  return ::bind(sock.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
}

}  // namespace

Result<std::unique_ptr<Process>> Process::spawn(std::vector<std::string> argv,
                                                SpawnOptions options) {
  if (argv.empty() || argv[0].empty()) {
    return make_error(ErrorCode::kInvalidArgument, "spawn: empty command line");
  }
  const std::string what = "spawning " + argv[0];

  std::optional<UserIds> user;
  if (options.run_as_user && ::geteuid() == 0) {
    auto ids = lookup_user(*options.run_as_user);
    if (!ids.ok()) return std::move(ids).error().with_context(what);
    user = std::move(ids).value();
  }

  const auto env = child_environment(options, user);
  const auto path_it = env.find("PATH");
  auto program = resolve_program(
      argv[0], path_it != env.end() ? path_it->second : "/usr/local/bin:/usr/bin:/bin");
  if (!program.ok()) return std::move(program).error().with_context(what);

  std::vector<std::string> env_strings;
  env_strings.reserve(env.size());
  for (const auto& [key, value] : env) env_strings.push_back(key + "=" + value);
  std::vector<char*> envp;
  for (auto& entry : env_strings) envp.push_back(entry.data());
  envp.push_back(nullptr);
  std::vector<char*> argv_ptrs;
  for (auto& arg : argv) argv_ptrs.push_back(arg.data());
  argv_ptrs.push_back(nullptr);
  const std::string working_dir = options.working_dir.string();

  RC_ASSIGN_OR_RETURN(const ChildStdio stdio, open_child_stdio(options, what));
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return errno_error(what + ": pipe2", errno);
  Fd read_end(pipe_fds[0]);
  RC_ASSIGN_OR_RETURN(Fd write_end, above_stdio(Fd(pipe_fds[1])));

  ChildPlan plan;
  plan.program = program->c_str();
  plan.argv = argv_ptrs.data();
  plan.envp = envp.data();
  plan.working_dir = working_dir.empty() ? nullptr : working_dir.c_str();
  plan.stdin_fd = stdio.in.get();
  plan.output_fd = stdio.out.get();
  plan.error_fd = stdio.err.get() >= 0 ? stdio.err.get() : stdio.out.get();
  plan.error_pipe = write_end.get();
  if (user) {
    plan.switch_user = true;
    plan.uid = user->uid;
    plan.gid = user->gid;
    plan.groups = user->groups.data();
    plan.group_count = user->groups.size();
  }
  plan.parent = ::getpid();
  const long open_max = ::sysconf(_SC_OPEN_MAX);
  plan.max_fd = static_cast<int>(std::clamp(open_max, 1024L, 65536L));

  const pid_t pid = ::fork();
  if (pid < 0) return errno_error(what + ": fork", errno);
  if (pid == 0) run_child(plan);

  write_end.reset();
  // EOF means the exec succeeded (the pipe was CLOEXEC); a record means the child failed first.
  ChildFailure failure{};
  std::size_t received = 0;
  while (received < sizeof failure) {
    const ssize_t n = ::read(read_end.get(), reinterpret_cast<char*>(&failure) + received,
                             sizeof failure - received);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    received += static_cast<std::size_t>(n);
  }
  if (received == 0) return std::unique_ptr<Process>(new Process(pid));

  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (received < sizeof failure) {
    return make_error(ErrorCode::kInternal, what + ": the child failed before exec");
  }
  return errno_error(what + ": " + std::string(stage_name(failure.stage)) + " (" + *program + ")",
                     failure.error);
}

Process::~Process() {
  if (status_) return;
  ::kill(-pid_, SIGKILL);
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
}

bool Process::try_reap() {
  if (status_) return true;
  int status = 0;
  pid_t reaped = 0;
  do {
    reaped = ::waitpid(pid_, &status, WNOHANG);
  } while (reaped < 0 && errno == EINTR);
  if (reaped == pid_) {
    status_ = decode_wait_status(status);
  } else if (reaped < 0) {
    status_ = -1;  // ECHILD: reaped by someone else
  }
  return status_.has_value();
}

bool Process::running() { return !try_reap(); }

std::optional<int> Process::exit_status() {
  try_reap();
  return status_;
}

Status Process::send_signal(int sig) {
  if (try_reap()) {
    return make_error(ErrorCode::kFailedPrecondition,
                      "process " + std::to_string(pid_) + " has already exited");
  }
  // The child leads its own process group (setsid); the group holds the zombie's id until we reap.
  if (::kill(-pid_, sig) != 0 && ::kill(pid_, sig) != 0) {
    return errno_error("kill(" + std::to_string(pid_) + ")", errno);
  }
  return ok_status();
}

Result<int> Process::wait(milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  milliseconds pause{1};
  while (!try_reap()) {
    const auto now = Clock::now();
    if (now >= deadline) {
      return make_error(ErrorCode::kDeadlineExceeded, "process " + std::to_string(pid_) +
                                                          " still running after " +
                                                          std::to_string(timeout.count()) + " ms");
    }
    std::this_thread::sleep_for(std::min(pause, std::chrono::ceil<milliseconds>(deadline - now)));
    pause = std::min(pause * 2, milliseconds{20});
  }
  return *status_;
}

Result<int> Process::stop(milliseconds grace, int signal) {
  if (try_reap()) return *status_;
  RC_TRY(send_signal(signal));
  auto status = wait(grace);
  if (status.ok()) return status;
  return kill();
}

Result<int> Process::kill() {
  if (try_reap()) return *status_;
  RC_TRY(send_signal(SIGKILL));
  return wait(kKillTimeout);
}

Result<int> free_tcp_port() {
  int low = 32768;
  int high = 60999;
  {
    std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
    range >> low >> high;
  }
  // Prefer ports the kernel never hands out as the source port of an outgoing connection.
  int first = 10000;
  int last = low - 1;
  if (last - first < 1000) {
    first = high + 1;
    last = 65535;
  }
  if (last - first < 1000) {
    first = 1024;
    last = 65535;
  }
  std::mt19937 random(std::random_device{}());
  std::uniform_int_distribution<int> pick(first, last);
  for (int attempt = 0; attempt < 200; ++attempt) {
    const int port = pick(random);
    if (port_bindable(port)) return port;
  }
  return make_error(
      ErrorCode::kResourceExhausted,
      "no free loopback port found in " + std::to_string(first) + ".." + std::to_string(last));
}

Status wait_for_tcp_port(int port, milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!try_connect(port)) {
    if (Clock::now() >= deadline) {
      return make_error(ErrorCode::kDeadlineExceeded,
                        "nothing accepted connections on 127.0.0.1:" + std::to_string(port) +
                            " within " + std::to_string(timeout.count()) + " ms");
    }
    std::this_thread::sleep_for(milliseconds{10});
  }
  return ok_status();
}

Status wait_until_listening(Process& process, int port, milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  const std::string where = "127.0.0.1:" + std::to_string(port);
  while (true) {
    if (!process.running()) {
      return make_error(ErrorCode::kUnavailable,
                        "process " + std::to_string(process.pid()) + " exited with status " +
                            std::to_string(process.exit_status().value_or(-1)) +
                            " before listening on " + where);
    }
    const auto inode = listening_socket_inode(port);
    const bool ours = inode && process_holds_socket(process.pid(), *inode);
    if (ours && try_connect(port)) return ok_status();
    if (Clock::now() >= deadline) {
      return make_error(ErrorCode::kDeadlineExceeded,
                        "process " + std::to_string(process.pid()) + " did not listen on " + where +
                            " within " + std::to_string(timeout.count()) + " ms" +
                            (inode && !ours ? " (another process holds the port)" : ""));
    }
    std::this_thread::sleep_for(milliseconds{10});
  }
}

Status chown_to_user(const std::filesystem::path& path, const std::string& user) {
  if (::geteuid() != 0) return ok_status();
  RC_ASSIGN_OR_RETURN(const UserIds ids, lookup_user(user));
  if (::chown(path.c_str(), ids.uid, ids.gid) != 0) {
    return errno_error("chown " + path.string() + " to " + user, errno);
  }
  return ok_status();
}

}  // namespace reclothes::testsupport
