// End-to-end suites of the order domain: real PostgreSQL and Mosquitto servers, the real
// reclothes-controller binary (migrate, create-staff, serve) and simulated boxes running the
// firmware code in reclothes-sim, which plays the scenario files of tests/e2e/scenarios (REST
// calls as customers and staff, QR codes shown to the box camera, doors opened and closed).
//
// Each test gets its own servers, database and controller process, so the suites run in parallel
// under ctest. After a scenario has passed, the test also checks what no scenario step can see:
// every event the box journaled reached the controller exactly once (box_events holds seqs
// 1..N, N = the journal's last seq, all acknowledged), and no coin balance went below zero.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "reclothes/testsupport/files.h"
#include "reclothes/testsupport/mosquitto.h"
#include "reclothes/testsupport/postgres.h"
#include "reclothes/testsupport/process.h"

#ifndef RECLOTHES_CONTROLLER_BIN
#error "RECLOTHES_CONTROLLER_BIN must name the reclothes-controller binary"
#endif
#ifndef RECLOTHES_SIM_BIN
#error "RECLOTHES_SIM_BIN must name the reclothes-sim binary"
#endif
#ifndef RECLOTHES_SMTP_SINK
#error "RECLOTHES_SMTP_SINK must name controller/tests/integration/smtp_sink.py"
#endif
#ifndef RECLOTHES_E2E_SCENARIOS
#error "RECLOTHES_E2E_SCENARIOS must name tests/e2e/scenarios"
#endif

namespace reclothes::e2e {
namespace {

namespace fs = std::filesystem;
using testsupport::MosquittoServer;
using testsupport::PostgresServer;
using testsupport::Process;
using testsupport::read_file;
using testsupport::SpawnOptions;
using testsupport::tail;
using testsupport::TempDir;

constexpr const char* kStaffPassword = "e2e-staff-password";

struct Case {
  const char* name;      // the test's name
  const char* scenario;  // file in tests/e2e/scenarios
  // Merged into the controller's "domain" section for this run.
  const char* domain_overrides = "{}";
  // Mail notifications go to an SMTP server the test starts; the scenario's customer (alice)
  // must have received the pickup-ready mail by the end.
  bool pickup_mail = false;
  // How many donations the scenario leaves (-1: not checked).
  std::int64_t donations = -1;
  // Mail notifications go to an SMTP server the test starts (as with pickup_mail); exactly one
  // mail to the courier (courier@reclothes.test, the staff on call in the scenario) must have a
  // subject starting with this text by the end (the alarm: once per fault).
  const char* staff_mail = nullptr;
};

// For gtest's and ctest's test names: the case, not its bytes.
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class OrderDomainE2E : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    auto dir = TempDir::create("reclothes-e2e-");
    ASSERT_TRUE(dir.ok()) << dir.error().to_string();
    dir_ = std::make_unique<TempDir>(std::move(dir).value());
    auto pg = PostgresServer::start();
    ASSERT_TRUE(pg.ok()) << pg.error().to_string();
    pg_ = std::move(pg).value();
    auto db = pg_->create_database("reclothes");
    ASSERT_TRUE(db.ok()) << db.error().to_string();
    conninfo_ = *db;
    auto broker = MosquittoServer::start();
    ASSERT_TRUE(broker.ok()) << broker.error().to_string();
    broker_ = std::move(broker).value();
    if (uses_mail()) start_smtp_sink();
    start_controller();
  }

  bool uses_mail() const { return GetParam().pickup_mail || GetParam().staff_mail != nullptr; }

  // tests/integration/smtp_sink.py (python3-aiosmtpd): each mail it accepts is a file in mail/.
  void start_smtp_sink() {
    auto port = testsupport::free_tcp_port();
    ASSERT_TRUE(port.ok()) << port.error().to_string();
    smtp_port_ = *port;
    fs::create_directories(dir_->path() / "mail");
    auto p = Process::spawn({"/usr/bin/python3", RECLOTHES_SMTP_SINK, std::to_string(smtp_port_),
                             (dir_->path() / "mail").string()},
                            SpawnOptions{dir_->path() / "smtp.log", std::nullopt, {}, {}});
    ASSERT_TRUE(p.ok()) << p.error().to_string();
    smtp_ = std::move(p).value();
    auto up = testsupport::wait_until_listening(*smtp_, smtp_port_, std::chrono::seconds(20));
    ASSERT_TRUE(up.ok()) << up.error().to_string() << "\n" << read_file(dir_->path() / "smtp.log");
  }

  // The mails the sink received so far, each as its file's text (a JSON line with the envelope,
  // then the message).
  std::vector<std::string> mails() {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir_->path() / "mail", ec)) {
      if (e.path().extension() == ".eml") out.push_back(read_file(e.path()));
    }
    return out;
  }

  void TearDown() override {
    if (controller_) {
      auto stopped = controller_->stop(std::chrono::seconds(10));
      EXPECT_TRUE(stopped.ok());
      if (stopped.ok()) {
        EXPECT_EQ(*stopped, 0) << "the controller stops cleanly on SIGTERM";
      }
    }
    if (HasFailure()) {
      std::cerr << "---- controller log (end) ----\n"
                << tail(read_file(dir_->path() / "controller.log"), 6000) << "\n";
    }
  }

  fs::path write_config() {
    nlohmann::json domain = {{"donations", {{"reservation_s", 3600}, {"expiry_warning_s", 600}}},
                             {"collecting", {{"compartment_threshold", 1}}},
                             {"payments", {{"sandbox", true}}},
                             {"worker_interval_ms", 200}};
    if (uses_mail()) {
      domain["notifications"] = {{"channels", {"log", "smtp"}},
                                 {"smtp_url", "smtp://127.0.0.1:" + std::to_string(smtp_port_)},
                                 {"smtp_from", "noreply@reclothes.test"}};
    }
    domain.merge_patch(nlohmann::json::parse(GetParam().domain_overrides));
    auto pub = testsupport::free_tcp_port();
    auto internal = testsupport::free_tcp_port();
    EXPECT_TRUE(pub.ok() && internal.ok());
    public_port_ = pub.ok() ? *pub : 0;
    internal_port_ = internal.ok() ? *internal : 0;
    const nlohmann::json c = {
        {"database", {{"conninfo", conninfo_}, {"pool_size", 4}}},
        {"public_listener", {{"host", "127.0.0.1"}, {"port", public_port_}}},
        {"internal_listener", {{"host", "127.0.0.1"}, {"port", internal_port_}}},
        // Argon2id at libsodium's minimum: the suites log in a handful of accounts.
        {"passwords", {{"opslimit", 1}, {"memlimit_bytes", 8192}}},
        {"mqtt", {{"uri", broker_->uri()}, {"client_id", "e2e-controller"}, {"keepalive_s", 5}}},
        {"tokens", {{"key_dir", (dir_->path() / "keys").string()}}},
        {"log", {{"level", "info"}, {"format", "text"}}},
        {"domain", domain}};
    const auto path = dir_->path() / "controller.json";
    std::ofstream(path) << c.dump(2);
    return path;
  }

  // Runs a command to completion; returns its exit status, output in `output`.
  int run(std::vector<std::string> argv, const std::string& log_name, std::string* output,
          std::map<std::string, std::string> env = {},
          std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
    const auto log = dir_->path() / log_name;
    auto p = Process::spawn(std::move(argv), SpawnOptions{log, std::nullopt, std::move(env), {}});
    EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.error().to_string());
    if (!p.ok()) return -1;
    auto status = (*p)->wait(timeout);
    if (!status.ok()) {
      ADD_FAILURE() << log_name << ": did not finish within " << timeout.count() << " ms";
      (void)(*p)->kill();
    }
    if (output) *output = read_file(log);
    return status.ok() ? *status : -1;
  }

  void start_controller() {
    const auto config = write_config().string();
    std::string out;
    ASSERT_EQ(run({RECLOTHES_CONTROLLER_BIN, "migrate", "--config", config}, "migrate.log", &out),
              0)
        << out;
    // The staff the scenarios log in as (setup.yaml): one account per role.
    for (const auto& [who, role] :
         std::vector<std::pair<std::string, std::string>>{{"manager", "manager"},
                                                          {"courier", "delivery"},
                                                          {"checker", "checker"},
                                                          {"packer", "packer"}}) {
      ASSERT_EQ(
          run({RECLOTHES_CONTROLLER_BIN, "create-staff", "--config", config, "--email",
               who + "@reclothes.test", "--role", role, "--name", who},
              "create-staff-" + who + ".log", &out, {{"RECLOTHES_STAFF_PASSWORD", kStaffPassword}}),
          0)
          << out;
    }
    auto p = Process::spawn({RECLOTHES_CONTROLLER_BIN, "serve", "--config", config},
                            SpawnOptions{dir_->path() / "controller.log", std::nullopt, {}, {}});
    ASSERT_TRUE(p.ok()) << p.error().to_string();
    controller_ = std::move(p).value();
    for (int port : {public_port_, internal_port_}) {
      auto up = testsupport::wait_until_listening(*controller_, port, std::chrono::seconds(20));
      ASSERT_TRUE(up.ok()) << up.error().to_string() << "\n"
                           << read_file(dir_->path() / "controller.log");
    }
  }

  // Plays the scenario with reclothes-sim; its journals stay in state/ for the checks below.
  void play(const std::string& scenario, const std::string& box) {
    const fs::path file = fs::path(RECLOTHES_E2E_SCENARIOS) / scenario;
    std::string out;
    const int status = run({RECLOTHES_SIM_BIN, "scenario", file.string(), "--keep-state",
                            (dir_->path() / "state").string(), "--var",
                            "public_url=http://127.0.0.1:" + std::to_string(public_port_), "--var",
                            "internal_url=http://127.0.0.1:" + std::to_string(internal_port_),
                            "--var", "broker=" + broker_->uri(), "--var", "box=" + box, "--var",
                            std::string("staff_password=") + kStaffPassword},
                           "scenario.log", &out, {}, std::chrono::minutes(4));
    EXPECT_EQ(status, 0) << "reclothes-sim scenario " << scenario << " failed:\n"
                         << tail(out, 8000);
    if (status == 0) std::cout << tail(out, 1500) << "\n";
  }

  std::int64_t scalar(const std::string& sql) {
    pqxx::connection c(conninfo_);
    pqxx::nontransaction tx(c);
    const auto r = tx.exec(sql);
    return r[0][0].is_null() ? 0 : r[0][0].as<std::int64_t>();
  }

  struct JournalCounters {
    std::int64_t last_seq = -1;
    std::int64_t acked = -1;
  };
  JournalCounters journal(const std::string& box) {
    JournalCounters j;
    const auto path = dir_->path() / "state" / (box + ".journal.db");
    sqlite3* db = nullptr;
    if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
      ADD_FAILURE() << "cannot open the box journal " << path;
      sqlite3_close(db);
      return j;
    }
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, "SELECT key, value FROM meta", -1, &st, nullptr) == SQLITE_OK) {
      while (sqlite3_step(st) == SQLITE_ROW) {
        const std::string key = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
        const std::int64_t value = sqlite3_column_int64(st, 1);
        if (key == "next_seq") j.last_seq = value - 1;
        if (key == "acked_upto") j.acked = value;
      }
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return j;
  }

  // Nothing lost, nothing doubled: the controller holds each journaled event exactly once.
  void expect_events_applied_exactly_once(const std::string& box) {
    const auto j = journal(box);
    ASSERT_GT(j.last_seq, 0) << "the box journaled nothing";
    EXPECT_EQ(j.acked, j.last_seq) << "every journaled event is acknowledged";
    const std::string where = " FROM box_events WHERE box_id = '" + box + "'";
    EXPECT_EQ(scalar("SELECT count(*)" + where), j.last_seq);
    EXPECT_EQ(scalar("SELECT count(DISTINCT seq)" + where), j.last_seq);
    EXPECT_EQ(scalar("SELECT min(seq)" + where), 1);
    EXPECT_EQ(scalar("SELECT max(seq)" + where), j.last_seq);
    EXPECT_EQ(scalar("SELECT last_applied_seq FROM boxes WHERE id = '" + box + "'"), j.last_seq);
  }

  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<PostgresServer> pg_;
  std::unique_ptr<MosquittoServer> broker_;
  std::unique_ptr<Process> controller_;
  std::unique_ptr<Process> smtp_;
  int smtp_port_ = 0;
  std::string conninfo_;
  int public_port_ = 0;
  int internal_port_ = 0;
};

TEST_P(OrderDomainE2E, ScenarioPassesAndEveryBoxEventIsAppliedOnce) {
  const std::string box = std::string("e2e-") + GetParam().name;
  play(GetParam().scenario, box);
  if (HasFailure()) return;
  expect_events_applied_exactly_once(box);
  // A coin balance is the sum of its records; nothing went below zero.
  EXPECT_EQ(scalar("SELECT count(*) FROM (SELECT customer_id FROM coin_ledger GROUP BY customer_id "
                   "HAVING sum(delta) < 0) n"),
            0);
  if (GetParam().donations >= 0) {
    EXPECT_EQ(scalar("SELECT count(*) FROM donations"), GetParam().donations);
  }
  if (GetParam().pickup_mail) {
    // The worker mails within a pass or two of the courier's load event.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    bool found = false;
    while (!found && std::chrono::steady_clock::now() < deadline) {
      for (const auto& m : mails()) {
        // The envelope line names the recipient; the subject says what happened.
        found = found || (m.find("\"rcpt_tos\": [\"alice@example.org\"]") != std::string::npos &&
                          m.find("is ready for pickup") != std::string::npos);
      }
      if (!found) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    std::string seen;
    for (const auto& m : mails()) seen += tail(m, 600) + "\n----\n";
    EXPECT_TRUE(found) << "no pickup-ready mail to alice@example.org; the sink has:\n" << seen;
  }
  if (GetParam().staff_mail != nullptr) {
    // The scenario saw the alarm queued (alarm_recipients); the worker mails within a pass.
    const std::string subject = std::string("\r\nSubject: ") + GetParam().staff_mail;
    const auto alarm_mails = [&] {
      int n = 0;
      for (const auto& m : mails()) {
        if (m.find("\"rcpt_tos\": [\"courier@reclothes.test\"]") != std::string::npos &&
            m.find(subject) != std::string::npos) {
          ++n;
        }
      }
      return n;
    };
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (alarm_mails() == 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    std::string seen;
    for (const auto& m : mails()) seen += tail(m, 600) + "\n----\n";
    EXPECT_EQ(alarm_mails(), 1) << "one mail \"" << GetParam().staff_mail
                                << "...\" to courier@reclothes.test; the sink has:\n"
                                << seen;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Scenarios, OrderDomainE2E,
    ::testing::Values(
        Case{"donation_lifecycle", "donation_lifecycle.yaml"},
        Case{"donation_cancel", "donation_cancel.yaml"},
        Case{"offline_deposit", "offline_deposit.yaml"},
        Case{"reservation_expiry", "reservation_expiry.yaml",
             R"({"donations": {"reservation_s": 20, "expiry_warning_s": 10}})"},
        Case{"buying_lifecycle", "buying_lifecycle.yaml"},
        Case{"purchase_cancel", "purchase_cancel.yaml"},
        Case{"purchase_return", "purchase_return.yaml"}, Case{"open_online", "open_online.yaml"},
        Case{"customer_journey", "customer_journey.yaml", "{}", true, 1},
        Case{"no_show", "no_show.yaml",
             R"({"buying": {"pickup_window_s": 20, "pickup_reminder_s": 10}})"},
        Case{"stuck_collecting", "stuck_collecting.yaml",
             R"({"collecting": {"compartment_threshold": 2}})", false, 2},
        Case{"offline_conflict", "offline_conflict.yaml",
             R"({"donations": {"reservation_s": 20, "expiry_warning_s": 10}})", false, 2},
        Case{"donor_return", "donor_return.yaml"},
        Case{"jammed_alarm", "jammed_alarm.yaml", "{}", false, 1, "Alarm: jammed at box"}),
    [](const ::testing::TestParamInfo<Case>& param) { return std::string(param.param.name); });

// The scenario files (and what they include) parse: a broken file fails here with its line.
TEST(E2EScenarioFiles, AllParse) {
  int checked = 0;
  for (const auto& entry : fs::directory_iterator(RECLOTHES_E2E_SCENARIOS)) {
    if (entry.path().extension() != ".yaml") continue;
    const auto log = fs::temp_directory_path() /
                     ("reclothes-e2e-check-" + entry.path().stem().string() + ".log");
    auto p = Process::spawn({RECLOTHES_SIM_BIN, "scenario", "--check", entry.path().string()},
                            SpawnOptions{log, std::nullopt, {}, {}});
    ASSERT_TRUE(p.ok());
    auto status = (*p)->wait(std::chrono::seconds(30));
    ASSERT_TRUE(status.ok());
    EXPECT_EQ(*status, 0) << entry.path() << ": " << read_file(log);
    fs::remove(log);
    ++checked;
  }
  EXPECT_GE(checked, 7);
}

}  // namespace
}  // namespace reclothes::e2e
