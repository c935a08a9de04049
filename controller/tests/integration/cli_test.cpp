// The reclothes-controller binary: --version, check-config, migrate, create-staff, serve and a
// clean stop on SIGTERM; what systemd hears from serve (READY=1, WATCHDOG=1, STOPPING=1).
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <fstream>
#include <sstream>

#include "fixture.h"

#ifndef RECLOTHES_CONTROLLER_BIN
#error "RECLOTHES_CONTROLLER_BIN must name the reclothes-controller binary"
#endif

namespace reclothes::controller::testing {
namespace {

class CliTest : public ControllerTest {
 protected:
  struct Run {
    int status = -1;
    std::string output;
  };

  void SetUp() override {
    ControllerTest::SetUp();
    auto dir = testsupport::TempDir::create("reclothes-ctl-cli-");
    ASSERT_TRUE(dir.ok());
    dir_ = std::make_unique<testsupport::TempDir>(std::move(dir).value());
  }

  std::string write_config(const std::string& conninfo, int public_port, int internal_port) {
    nlohmann::json c = {{"database", {{"conninfo", conninfo}, {"pool_size", 2}}},
                        {"public_listener", {{"host", "127.0.0.1"}, {"port", public_port}}},
                        {"internal_listener", {{"host", "127.0.0.1"}, {"port", internal_port}}},
                        {"passwords", {{"opslimit", 1}, {"memlimit_bytes", 8192}}},
                        {"mqtt", {{"uri", broker_->uri()}, {"client_id", "cli-" + db_name_}}},
                        {"tokens", {{"key_dir", (dir_->path() / "keys").string()}}},
                        {"log", {{"level", "info"}, {"format", "json"}}}};
    const auto path = dir_->path() / "controller.json";
    std::ofstream(path) << c.dump(2);
    return path.string();
  }

  Run run(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
    args.insert(args.begin(), RECLOTHES_CONTROLLER_BIN);
    const auto log = dir_->path() / ("run" + std::to_string(++runs_) + ".log");
    auto p = testsupport::Process::spawn(args, {log, std::nullopt, env, {}});
    EXPECT_TRUE(p.ok());
    Run r;
    if (!p.ok()) return r;
    auto status = (*p)->wait(std::chrono::seconds(30));
    EXPECT_TRUE(status.ok());
    r.status = status.ok() ? *status : -1;
    std::ifstream in(log);
    std::stringstream ss;
    ss << in.rdbuf();
    r.output = ss.str();
    return r;
  }

  std::unique_ptr<testsupport::TempDir> dir_;
  int runs_ = 0;
};

TEST_F(CliTest, VersionHelpAndUsageErrors) {
  auto version = run({"--version"});
  EXPECT_EQ(version.status, 0);
  EXPECT_NE(version.output.find("reclothes-controller "), std::string::npos);
  auto help = run({"serve", "--help"});
  EXPECT_EQ(help.status, 0);
  EXPECT_NE(help.output.find("--config"), std::string::npos);
  // The exit codes the systemd unit's RestartPreventExitStatus names.
  auto top = run({"--help"});
  EXPECT_EQ(top.status, 0);
  EXPECT_NE(top.output.find("4  configuration file missing or invalid"), std::string::npos)
      << top.output;
  EXPECT_EQ(run({}).status, 2);
  EXPECT_EQ(run({"serve"}).status, 2);  // --config is required
}

TEST_F(CliTest, CheckConfigNamesTheBadField) {
  const auto path = write_config(conninfo_, 0, 0);
  EXPECT_EQ(run({"check-config", "--config", path}).status, 0);
  std::ofstream(path) << R"({"database": {"conninfo": 5}})";
  auto bad = run({"check-config", "--config", path});
  EXPECT_EQ(bad.status, 4) << "a configuration error has its own exit code (not 2, usage)";
  EXPECT_NE(bad.output.find("/database/conninfo"), std::string::npos) << bad.output;
  EXPECT_EQ(run({"check-config", "--config", (dir_->path() / "missing.json").string()}).status, 4);
  // serve refuses the same file with the same code, so systemd does not restart it in a loop.
  EXPECT_EQ(run({"serve", "--config", path}).status, 4);
}

// A datagram socket standing in for systemd's notify socket.
class NotifySocket {
 public:
  explicit NotifySocket(const std::filesystem::path& path) : path_(path.string()) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (fd_ < 0 || path_.size() >= sizeof(addr.sun_path)) return;
    std::memcpy(addr.sun_path, path_.data(), path_.size());
    if (::bind(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~NotifySocket() {
    if (fd_ >= 0) ::close(fd_);
  }
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;
  bool ok() const { return fd_ >= 0; }
  const std::string& path() const { return path_; }
  // The next datagram, or "" after the timeout.
  std::string receive(std::chrono::milliseconds timeout) const {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return "";
    char buf[1024];
    const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "";
  }

 private:
  std::string path_;
  int fd_ = -1;
};

// Whether a TCP connection to 127.0.0.1:port is accepted right now (no waiting, no retry).
bool accepts_now(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool connected = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return connected;
}

TEST_F(CliTest, ServeTellsSystemdReadyOnlyWhenListeningThenWatchdogAndStopping) {
  auto public_port = testsupport::free_tcp_port();
  auto internal_port = testsupport::free_tcp_port();
  ASSERT_TRUE(public_port.ok() && internal_port.ok());
  const auto config = write_config(conninfo_, *public_port, *internal_port);
  NotifySocket notify(dir_->path() / "notify.sock");
  ASSERT_TRUE(notify.ok());

  // A schema behind the binary: exit 3 and never READY=1.
  auto empty = pg_->create_database(db_name_ + "_notify");
  ASSERT_TRUE(empty.ok());
  const auto unmigrated = dir_->path() / "unmigrated.json";
  {
    std::ifstream in(config);
    auto j = nlohmann::json::parse(in);
    j["database"]["conninfo"] = *empty;
    std::ofstream(unmigrated) << j.dump();
  }
  EXPECT_EQ(
      run({"serve", "--config", unmigrated.string()}, {{"NOTIFY_SOCKET", notify.path()}}).status,
      3);
  EXPECT_EQ(notify.receive(std::chrono::milliseconds(100)), "") << "READY=1 without serving";

  auto server =
      testsupport::Process::spawn({RECLOTHES_CONTROLLER_BIN, "serve", "--config", config},
                                  {dir_->path() / "notify-serve.log",
                                   std::nullopt,
                                   {{"NOTIFY_SOCKET", notify.path()}, {"WATCHDOG_USEC", "400000"}},
                                   {}});
  ASSERT_TRUE(server.ok());
  const std::string ready = notify.receive(std::chrono::seconds(30));
  ASSERT_EQ(ready.rfind("READY=1", 0), 0u) << "got \"" << ready << "\"";
  // Both listeners accept at the moment systemd is told, not a moment later.
  EXPECT_TRUE(accepts_now(*public_port));
  EXPECT_TRUE(accepts_now(*internal_port));
  EXPECT_NE(ready.find("STATUS=listening: public port " + std::to_string(*public_port)),
            std::string::npos)
      << ready;

  // WATCHDOG=1 at half of WATCHDOG_USEC (200 ms): four pings take about 800 ms.
  const auto start = std::chrono::steady_clock::now();
  for (int pings = 0; pings < 4; ++pings) {
    ASSERT_EQ(notify.receive(std::chrono::seconds(2)), "WATCHDOG=1") << "ping " << pings;
  }
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, std::chrono::milliseconds(500)) << "pinging faster than half the watchdog";
  EXPECT_LE(took, std::chrono::seconds(3)) << "pinging slower than half the watchdog";

  ASSERT_TRUE((*server)->send_signal(SIGTERM).ok());
  std::string message;
  do {
    message = notify.receive(std::chrono::seconds(10));
  } while (message == "WATCHDOG=1");
  EXPECT_EQ(message, "STOPPING=1");
  auto exited = (*server)->wait(std::chrono::seconds(10));
  ASSERT_TRUE(exited.ok());
  EXPECT_EQ(*exited, 0);
}

// Without NOTIFY_SOCKET (a terminal, a container) serve runs as before: covered by
// MigrateCreateStaffServeAndStop below, which sets no NOTIFY_SOCKET.

TEST_F(CliTest, MigrateCreateStaffServeAndStop) {
  auto empty = pg_->create_database(db_name_ + "_cli");
  ASSERT_TRUE(empty.ok());
  auto public_port = testsupport::free_tcp_port();
  auto internal_port = testsupport::free_tcp_port();
  ASSERT_TRUE(public_port.ok() && internal_port.ok());
  const auto config = write_config(*empty, *public_port, *internal_port);

  // Serving an unmigrated database is refused with a hint.
  auto refused = run({"serve", "--config", config});
  EXPECT_EQ(refused.status, 3);
  EXPECT_NE(refused.output.find("reclothes-controller migrate"), std::string::npos)
      << refused.output;

  auto migrated = run({"migrate", "--config", config});
  ASSERT_EQ(migrated.status, 0) << migrated.output;
  EXPECT_NE(migrated.output.find("applied migration 0001"), std::string::npos);
  EXPECT_NE(run({"migrate", "--config", config}).output.find("up to date"), std::string::npos);

  auto staff = run(
      {"create-staff", "--config", config, "--email", "root@example.org", "--role", "super_admin"},
      {{"RECLOTHES_STAFF_PASSWORD", kPassword}});
  ASSERT_EQ(staff.status, 0) << staff.output;
  auto weak = run({"create-staff", "--config", config, "--email", "x@example.org"},
                  {{"RECLOTHES_STAFF_PASSWORD", "short"}});
  EXPECT_EQ(weak.status, 2);

  const auto log = dir_->path() / "serve.log";
  auto server = testsupport::Process::spawn({RECLOTHES_CONTROLLER_BIN, "serve", "--config", config},
                                            {log, std::nullopt, {}, {}});
  ASSERT_TRUE(server.ok());
  ASSERT_TRUE(testsupport::wait_for_tcp_port(*internal_port, std::chrono::seconds(10)).ok());
  httplib::Client internal_client("127.0.0.1", *internal_port);
  auto login = internal_client.Post(
      "/internal/v1/sessions",
      nlohmann::json{{"email", "root@example.org"}, {"password", kPassword}}.dump(),
      "application/json");
  ASSERT_TRUE(login);
  EXPECT_EQ(login->status, 201) << login->body;
  EXPECT_TRUE(eventually(
      [&] {
        auto r = internal_client.Get("/readyz");
        return r && r->status == 200;
      },
      std::chrono::seconds(10)));
  auto stopped = (*server)->stop(std::chrono::seconds(10));
  ASSERT_TRUE(stopped.ok());
  EXPECT_EQ(*stopped, 0);
  // Structured JSON log lines with the request id.
  std::ifstream in(log);
  std::string line;
  bool saw_request = false;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.value("msg", "") == "request" &&
        j.value("path", "") == "/internal/v1/sessions") {
      saw_request = !j.value("request_id", "").empty();
    }
  }
  EXPECT_TRUE(saw_request);
  // The create-staff bootstrap is in the audit log.
  pqxx::connection conn(*empty);
  pqxx::work tx(conn);
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM audit_log WHERE action = 'staff.create' AND actor_kind "
                     "= 'system'")[0]
                .as<int>(),
            1);
}

}  // namespace
}  // namespace reclothes::controller::testing
