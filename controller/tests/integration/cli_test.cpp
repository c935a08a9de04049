// The reclothes-controller binary: --version, check-config, migrate, create-staff, serve and a
// clean stop on SIGTERM.
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
  EXPECT_EQ(run({}).status, 2);
  EXPECT_EQ(run({"serve"}).status, 2);  // --config is required
}

TEST_F(CliTest, CheckConfigNamesTheBadField) {
  const auto path = write_config(conninfo_, 0, 0);
  EXPECT_EQ(run({"check-config", "--config", path}).status, 0);
  std::ofstream(path) << R"({"database": {"conninfo": 5}})";
  auto bad = run({"check-config", "--config", path});
  EXPECT_EQ(bad.status, 2);
  EXPECT_NE(bad.output.find("/database/conninfo"), std::string::npos) << bad.output;
}

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
