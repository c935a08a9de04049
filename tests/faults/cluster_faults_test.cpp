// Fault suites on the whole system, all real processes: PostgreSQL and Mosquitto started by the
// test, `reclothes-controller` replicas as separate processes on the same database and broker
// (one shared subscription group), and `reclothes-box` processes on the sim HAL that journal
// events while the test opens and closes their doors through --sim-control. While the boxes
// produce, a fault hits: a replica is killed with -9, PostgreSQL restarts or stops for 10 s,
// Mosquitto is killed with -9. Afterwards the check is always the same: every event a box
// journaled is applied exactly once (the journal's outbox, read from its SQLite file after the box
// stopped, against the controller's box_events: same seqs 1..N, none missing, none twice, each
// the event the box journaled, everything acked). Each test prints its figures.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "reclothes/common/token.h"
#include "reclothes/testsupport/files.h"
#include "reclothes/testsupport/mosquitto.h"
#include "reclothes/testsupport/postgres.h"
#include "reclothes/testsupport/process.h"

#ifndef RECLOTHES_CONTROLLER_BIN
#error "RECLOTHES_CONTROLLER_BIN must name the reclothes-controller binary"
#endif
#ifndef RECLOTHES_BOX_BIN
#error "RECLOTHES_BOX_BIN must name the reclothes-box binary"
#endif

namespace reclothes::faults {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using testsupport::MosquittoServer;
using testsupport::PostgresServer;
using testsupport::Process;
using testsupport::read_file;
using testsupport::SpawnOptions;
using testsupport::tail;
using testsupport::TempDir;

constexpr const char* kAdminEmail = "faults-admin@reclothes.test";
constexpr const char* kAdminPassword = "faults-admin-password";
constexpr int kCompartments = 4;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Polls cond every 50 ms until it holds or the timeout passes (other processes: no other way).
bool eventually(const std::function<bool()>& cond, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return cond();
}

// The ASan options of this test plus the narrow Paho suppression the sync tests use: the boxes
// and the controllers lose their broker here on purpose (firmware/tests/sync/paho.supp).
std::map<std::string, std::string> child_env() {
  const char* asan = std::getenv("ASAN_OPTIONS");
  std::string options = asan ? std::string(asan) + ":" : "";
  return {{"ASAN_OPTIONS", options + "suppressions=" RECLOTHES_PAHO_ASAN_SUPPRESSIONS}};
}

// One box: its process, configuration, journal and the FIFO its doors are moved through.
struct Box {
  std::string id;
  fs::path dir;
  int fifo = -1;
  std::unique_ptr<Process> process;
  fs::path journal() const { return dir / "journal.db"; }
};

// What the journal holds, read with SQLite directly (read-only: the box may still run).
struct JournalDump {
  std::int64_t last_seq = 0;
  std::int64_t acked = 0;
  std::map<std::int64_t, nlohmann::json> events;  // seq -> the event as journaled (wire JSON)
};

JournalDump read_journal(const fs::path& path, bool with_events) {
  JournalDump d;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return d;
  }
  sqlite3_busy_timeout(db, 2000);
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, "SELECT key, value FROM meta", -1, &st, nullptr) == SQLITE_OK) {
    while (sqlite3_step(st) == SQLITE_ROW) {
      const std::string key = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
      const std::int64_t value = sqlite3_column_int64(st, 1);
      if (key == "next_seq") d.last_seq = value - 1;
      if (key == "acked_upto") d.acked = value;
    }
  }
  sqlite3_finalize(st);
  if (with_events &&
      sqlite3_prepare_v2(db, "SELECT seq, body FROM outbox", -1, &st, nullptr) == SQLITE_OK) {
    while (sqlite3_step(st) == SQLITE_ROW) {
      d.events[sqlite3_column_int64(st, 0)] = nlohmann::json::parse(
          reinterpret_cast<const char*>(sqlite3_column_text(st, 1)), nullptr, false);
    }
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  return d;
}

class ClusterFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::create("reclothes-faults-");
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
    auto signer = TokenSigner::generate(1);
    ASSERT_TRUE(signer.ok()) << signer.error().to_string();
    auto pem = signer->public_pem();
    ASSERT_TRUE(pem.ok());
    box_key_pem_ = *pem;
  }

  void TearDown() override {
    stop_producing();
    for (auto& b : boxes_) {
      if (b.fifo >= 0) ::close(b.fifo);
    }
    if (HasFailure()) {
      for (std::size_t i = 0; i < replicas_.size(); ++i) {
        std::cerr << "---- controller " << i << " log (end) ----\n"
                  << tail(read_file(dir_->path() / ("controller-" + std::to_string(i) + ".log")),
                          4000)
                  << "\n";
      }
      for (const auto& b : boxes_) {
        std::cerr << "---- " << b.id << " log (end) ----\n"
                  << tail(read_file(b.dir / "box.log"), 2000) << "\n";
      }
    }
  }

  // ---- controllers ----

  fs::path controller_config(int replica) {
    auto pub = testsupport::free_tcp_port();
    auto internal = testsupport::free_tcp_port();
    EXPECT_TRUE(pub.ok() && internal.ok());
    Replica& r = replicas_[static_cast<std::size_t>(replica)];
    r.public_port = pub.ok() ? *pub : 0;
    r.internal_port = internal.ok() ? *internal : 0;
    const nlohmann::json c = {
        {"database", {{"conninfo", conninfo_}, {"pool_size", 4}}},
        {"public_listener", {{"host", "127.0.0.1"}, {"port", r.public_port}}},
        {"internal_listener", {{"host", "127.0.0.1"}, {"port", r.internal_port}}},
        {"passwords", {{"opslimit", 1}, {"memlimit_bytes", 8192}}},
        {"mqtt",
         {{"uri", broker_->uri()},
          {"client_id", "faults-controller-" + std::to_string(replica)},
          {"keepalive_s", 5}}},
        {"tokens", {{"key_dir", (dir_->path() / "keys").string()}}},
        {"log", {{"level", "info"}, {"format", "text"}}}};
    const auto path = dir_->path() / ("controller-" + std::to_string(replica) + ".json");
    std::ofstream(path) << c.dump(2);
    return path;
  }

  int run(std::vector<std::string> argv, const std::string& log_name,
          std::map<std::string, std::string> env = {}) {
    const auto log = dir_->path() / log_name;
    auto p = Process::spawn(std::move(argv), SpawnOptions{log, std::nullopt, std::move(env), {}});
    EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.error().to_string());
    if (!p.ok()) return -1;
    auto status = (*p)->wait(60s);
    EXPECT_TRUE(status.ok()) << log_name << " did not finish";
    if (!status.ok() || *status != 0) std::cerr << log_name << ":\n" << read_file(log) << "\n";
    return status.ok() ? *status : -1;
  }

  // Migrates, creates the admin and starts `count` replicas; then registers `boxes` boxes.
  void start_cluster(int count) {
    replicas_.resize(static_cast<std::size_t>(count));
    for (int i = 0; i < count; ++i) controller_config(i);
    const auto config = (dir_->path() / "controller-0.json").string();
    ASSERT_EQ(run({RECLOTHES_CONTROLLER_BIN, "migrate", "--config", config}, "migrate.log"), 0);
    ASSERT_EQ(run({RECLOTHES_CONTROLLER_BIN, "create-staff", "--config", config, "--email",
                   kAdminEmail, "--role", "super_admin", "--name", "admin"},
                  "create-staff.log", {{"RECLOTHES_STAFF_PASSWORD", kAdminPassword}}),
              0);
    for (int i = 0; i < count; ++i) start_replica(i);
  }

  void start_replica(int i) {
    Replica& r = replicas_[static_cast<std::size_t>(i)];
    const auto config = dir_->path() / ("controller-" + std::to_string(i) + ".json");
    auto p =
        Process::spawn({RECLOTHES_CONTROLLER_BIN, "serve", "--config", config.string()},
                       SpawnOptions{dir_->path() / ("controller-" + std::to_string(i) + ".log"),
                                    std::nullopt,
                                    child_env(),
                                    {}});
    ASSERT_TRUE(p.ok()) << p.error().to_string();
    r.process = std::move(p).value();
    for (int port : {r.public_port, r.internal_port}) {
      auto up = testsupport::wait_until_listening(*r.process, port, 30s);
      ASSERT_TRUE(up.ok()) << up.error().to_string();
    }
  }

  struct Reply {
    int status = 0;  // 0: no answer
    nlohmann::json body;
    double seconds = 0;
  };
  Reply http(int port, const std::string& method, const std::string& path,
             const std::optional<nlohmann::json>& body = std::nullopt,
             const std::string& token = "") {
    httplib::Client cli("127.0.0.1", port);
    cli.set_connection_timeout(5s);
    cli.set_read_timeout(15s);
    httplib::Headers headers;
    if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
    const auto start = Clock::now();
    auto res = method == "GET"
                   ? cli.Get(path.c_str(), headers)
                   : cli.Post(path.c_str(), headers, body ? body->dump() : "", "application/json");
    Reply r;
    r.seconds = seconds_since(start);
    if (!res) return r;
    r.status = res->status;
    r.body = nlohmann::json::parse(res->body, nullptr, false);
    return r;
  }
  int internal_port(int replica = 0) const {
    return replicas_[static_cast<std::size_t>(replica)].internal_port;
  }

  std::string admin_token() {
    auto r = http(internal_port(), "POST", "/internal/v1/sessions",
                  nlohmann::json{{"email", kAdminEmail}, {"password", kAdminPassword}});
    EXPECT_EQ(r.status, 201) << r.body.dump();
    return r.status == 201 ? r.body["token"].get<std::string>() : "";
  }

  // ---- boxes ----

  void add_boxes(int count) {
    const std::string token = admin_token();
    ASSERT_FALSE(token.empty());
    for (int i = 0; i < count; ++i) {
      Box b;
      b.id = "fault-box-" + std::to_string(i + 1);
      nlohmann::json compartments = nlohmann::json::array();
      for (int c = 1; c <= kCompartments; ++c)
        compartments.push_back({{"number", c}, {"size", "M"}});
      auto r = http(internal_port(), "POST", "/internal/v1/boxes",
                    nlohmann::json{{"box_id", b.id}, {"compartments", compartments}}, token);
      ASSERT_EQ(r.status, 201) << r.body.dump();
      b.dir = dir_->path() / b.id;
      fs::create_directories(b.dir);
      nlohmann::json box_compartments = nlohmann::json::array();
      for (int c = 1; c <= kCompartments; ++c) {
        box_compartments.push_back({{"id", c}, {"size", "M"}, {"pulse_ms", 100}});
      }
      const nlohmann::json config = {
          {"box_id", b.id},
          {"journal_path", b.journal().string()},
          {"broker", {{"uri", broker_->uri()}, {"keepalive_s", 5}}},
          {"trusted_keys", {{{"key_id", 1}, {"public_key_pem", box_key_pem_}}}},
          {"compartments", box_compartments},
          {"timeouts", {{"door_open_after_unlock_s", 2}, {"scan_repeat_s", 0}}},
          {"hal", {{"backend", "sim"}}},
          {"camera", {{"width", 160}, {"height", 120}, {"fps", 5}}},
          {"state_report_interval_s", 5},
      };
      std::ofstream(b.dir / "box.json") << config.dump(2);
      const auto fifo = b.dir / "sim-control";
      ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
      b.fifo = ::open(fifo.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
      ASSERT_GE(b.fifo, 0);
      SpawnOptions options;
      options.log_path = b.dir / "box.log";
      options.env = child_env();
      auto p = Process::spawn({RECLOTHES_BOX_BIN, "run", "--config", (b.dir / "box.json").string(),
                               "--sim-control", fifo.string()},
                              options);
      ASSERT_TRUE(p.ok()) << p.error().to_string();
      b.process = std::move(p).value();
      boxes_.push_back(std::move(b));
    }
  }

  // A thread that opens and closes the boxes' doors (no unlock: forced, door_opened,
  // door_closed ... events) until stop_producing(). It only writes to the FIFOs.
  void start_producing() {
    producing_ = true;
    producer_ = std::thread([this] {
      for (int k = 0; producing_; ++k) {
        for (auto& b : boxes_) {
          const int c = 1 + (k / 2) % kCompartments;
          const std::string line = (k % 2 == 0 ? "open " : "close ") + std::to_string(c) + "\n";
          (void)!::write(b.fifo, line.data(), line.size());
        }
        std::this_thread::sleep_for(100ms);
      }
      for (auto& b : boxes_) {
        for (int c = 1; c <= kCompartments; ++c) {
          const std::string line = "close " + std::to_string(c) + "\n";
          (void)!::write(b.fifo, line.data(), line.size());
        }
      }
    });
  }
  void stop_producing() {
    producing_ = false;
    if (producer_.joinable()) producer_.join();
  }

  std::int64_t scalar(const std::string& sql) {
    try {
      pqxx::connection c(conninfo_);
      pqxx::nontransaction tx(c);
      const auto r = tx.exec(sql);
      return r.empty() || r[0][0].is_null() ? 0 : r[0][0].as<std::int64_t>();
    } catch (const std::exception&) {
      return -1;
    }
  }
  std::int64_t applied_upto(const Box& b) {
    return scalar("SELECT last_applied_seq FROM boxes WHERE id = '" + b.id + "'");
  }
  std::int64_t total_applied() { return scalar("SELECT count(*) FROM box_events"); }

  // Every box's journal seq is applied (read live from the journals), and it stays so for 1 s.
  bool wait_drained(std::chrono::milliseconds timeout) {
    std::optional<Clock::time_point> since;
    return eventually(
        [&] {
          bool all = true;
          for (const auto& b : boxes_) {
            const auto j = read_journal(b.journal(), false);
            all = all && j.last_seq > 0 && applied_upto(b) == j.last_seq;
          }
          if (!all) {
            since.reset();
            return false;
          }
          if (!since) since = Clock::now();
          return Clock::now() - *since >= 1s;
        },
        timeout);
  }

  // Seconds until every box's applied seq reaches what its journal held at the call.
  double seconds_to_catch_up(std::chrono::milliseconds timeout) {
    std::map<std::string, std::int64_t> target;
    for (const auto& b : boxes_) target[b.id] = read_journal(b.journal(), false).last_seq;
    const auto start = Clock::now();
    const bool ok = eventually(
        [&] {
          for (const auto& b : boxes_) {
            if (applied_upto(b) < target[b.id]) return false;
          }
          return true;
        },
        timeout);
    return ok ? seconds_since(start) : -1;
  }

  // The check: stops the producer, drains, stops every box and compares journal and database.
  void expect_every_event_applied_exactly_once(const std::string& what) {
    stop_producing();
    ASSERT_TRUE(wait_drained(40s)) << "the controller did not catch up with the journals";
    std::int64_t journaled = 0, applied = 0, doubled = 0;
    for (auto& b : boxes_) {
      auto stopped = b.process->stop(15s);
      ASSERT_TRUE(stopped.ok()) << b.id << ": " << stopped.error().to_string();
      EXPECT_EQ(*stopped, 0) << b.id << " stops cleanly";
      const auto j = read_journal(b.journal(), true);
      ASSERT_GT(j.last_seq, 0) << b.id << " journaled nothing";
      EXPECT_EQ(j.acked, j.last_seq) << b.id << ": every journaled event is acknowledged";
      EXPECT_EQ(static_cast<std::int64_t>(j.events.size()), j.last_seq) << b.id;
      const std::string where = " FROM box_events WHERE box_id = '" + b.id + "'";
      const auto rows = scalar("SELECT count(*)" + where);
      const auto distinct = scalar("SELECT count(DISTINCT seq)" + where);
      EXPECT_EQ(rows, j.last_seq) << b.id << ": events stored";
      EXPECT_EQ(distinct, j.last_seq) << b.id;
      EXPECT_EQ(scalar("SELECT min(seq)" + where), 1) << b.id;
      EXPECT_EQ(scalar("SELECT max(seq)" + where), j.last_seq) << b.id;
      EXPECT_EQ(applied_upto(b), j.last_seq) << b.id;
      // Each stored event is the one the box journaled.
      pqxx::connection c(conninfo_);
      pqxx::nontransaction tx(c);
      int differ = 0;
      for (const auto& row : tx.exec("SELECT seq, payload::text" + where)) {
        const auto it = j.events.find(row[0].as<std::int64_t>());
        if (it == j.events.end() ||
            it->second != nlohmann::json::parse(row[1].as<std::string>(), nullptr, false)) {
          ++differ;
        }
      }
      EXPECT_EQ(differ, 0) << b.id << ": stored events that differ from the journal";
      journaled += j.last_seq;
      applied += distinct;
      doubled += rows - distinct;
    }
    std::cout << "[faults] " << what << ": " << boxes_.size() << " boxes, events journaled "
              << journaled << ", applied " << applied << ", doubled " << doubled << ", missing "
              << journaled - applied << "\n";
  }

  struct Replica {
    std::unique_ptr<Process> process;
    int public_port = 0;
    int internal_port = 0;
  };

  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<PostgresServer> pg_;
  std::unique_ptr<MosquittoServer> broker_;
  std::string conninfo_;
  std::string box_key_pem_;
  std::vector<Replica> replicas_;
  std::vector<Box> boxes_;
  std::thread producer_;
  std::atomic<bool> producing_{false};
};

// 1. Two replicas as separate processes share the ingest; one is killed with -9 while the boxes
//    produce, runs again later, and nothing is lost or applied twice.
TEST_F(ClusterFaultTest, ControllerReplicaKilledDuringIngest) {
  ASSERT_NO_FATAL_FAILURE(start_cluster(2));
  ASSERT_NO_FATAL_FAILURE(add_boxes(3));
  start_producing();
  ASSERT_TRUE(eventually([&] { return total_applied() > 30; }, 30s)) << "no ingest";
  const auto before = total_applied();
  ASSERT_TRUE(replicas_[1].process->kill().ok());
  const auto killed = Clock::now();
  // The other replica goes on alone (the broker gives it the shared subscription's messages).
  ASSERT_TRUE(eventually([&] { return total_applied() > before + 30; }, 20s))
      << "ingest stopped with one replica killed";
  const double alone = seconds_since(killed);
  ASSERT_NO_FATAL_FAILURE(start_replica(1));
  std::this_thread::sleep_for(1s);  // both replicas share the load again for a moment
  expect_every_event_applied_exactly_once("replica kill -9");
  std::cout << "[faults] replica kill -9: 30 more events applied by the survivor " << alone
            << " s after the kill\n";
}

// 2. PostgreSQL restarts, then stops for 10 s, while the boxes produce. Meanwhile the REST API
//    answers 503 with the error body (never a hang, never a 500); afterwards REST and ingest
//    recover, and exactly once holds.
TEST_F(ClusterFaultTest, PostgresRestartAndTenSecondStopUnderLoad) {
  ASSERT_NO_FATAL_FAILURE(start_cluster(1));
  ASSERT_NO_FATAL_FAILURE(add_boxes(3));
  const std::string token = admin_token();
  ASSERT_FALSE(token.empty());
  start_producing();
  ASSERT_TRUE(eventually([&] { return total_applied() > 30; }, 30s)) << "no ingest";

  // A restart (fast shutdown and start again).
  ASSERT_TRUE(pg_->stop().ok());
  ASSERT_TRUE(pg_->restart().ok());
  const double restart_catch_up = seconds_to_catch_up(30s);
  EXPECT_GE(restart_catch_up, 0) << "ingest did not recover after the restart";

  // A 10 s stop under load, REST probed all along.
  ASSERT_TRUE(pg_->stop().ok());
  const auto stopped_at = Clock::now();
  std::map<int, int> statuses;
  double slowest = 0;
  int probes = 0;
  while (Clock::now() - stopped_at < 10s) {
    for (const auto& [method, path, body, tok] : std::vector<
             std::tuple<std::string, std::string, std::optional<nlohmann::json>, std::string>>{
             {"GET", "/internal/v1/boxes", std::nullopt, token},
             {"POST", "/internal/v1/sessions",
              nlohmann::json{{"email", kAdminEmail}, {"password", kAdminPassword}}, ""},
             {"GET", "/readyz", std::nullopt, ""}}) {
      const auto r = http(internal_port(), method, path, body, tok);
      ++statuses[r.status];
      ++probes;
      slowest = std::max(slowest, r.seconds);
      EXPECT_EQ(r.status, 503) << method << " " << path
                               << " with PostgreSQL stopped: " << r.body.dump();
      if (r.status == 503 && path != "/readyz") {
        EXPECT_EQ(r.body["error"].value("code", ""), "unavailable") << r.body.dump();
      }
    }
    std::this_thread::sleep_for(250ms);
  }
  EXPECT_LT(slowest, 6.0) << "a request waited too long for the database";
  ASSERT_TRUE(pg_->restart().ok());
  const auto back = Clock::now();
  // Watched side by side: the first REST 200 of a request that needs the database, and the
  // first event applied after the database came back (counted from the first count that could be
  // read, so an upper bound).
  std::int64_t applied_at_return = -1;
  double ingest_resumed = -1, rest_recovery = -1;
  ASSERT_TRUE(eventually(
      [&] {
        if (rest_recovery < 0 &&
            http(internal_port(), "GET", "/internal/v1/boxes", {}, token).status == 200) {
          rest_recovery = seconds_since(back);
        }
        const auto n = total_applied();
        if (applied_at_return < 0 && n >= 0) applied_at_return = n;
        if (ingest_resumed < 0 && applied_at_return >= 0 && n > applied_at_return) {
          ingest_resumed = seconds_since(back);
        }
        return rest_recovery >= 0 && ingest_resumed >= 0;
      },
      20s))
      << "REST " << rest_recovery << " s, ingest " << ingest_resumed << " s";
  // The controller holds the batches it could not apply and retries them (0.1 s to 1 s
  // back-off): without that the boxes' 10 s ack timeout decides. Generous for ASan on a shared
  // machine.
  EXPECT_LT(ingest_resumed, 5.0);
  // Ingest: everything journaled by then is applied (the backlog of the stop: how long depends
  // on how fast the database applies, under ASan here).
  const double catch_up = seconds_to_catch_up(40s);
  EXPECT_GE(catch_up, 0) << "ingest did not catch up";
  const auto caught_up_at = seconds_since(back);
  expect_every_event_applied_exactly_once("PostgreSQL restart + 10 s stop");
  std::cout << "[faults] PostgreSQL: catch-up after a restart " << restart_catch_up
            << " s; 10 s stop: " << probes << " REST probes, all 503: "
            << (statuses.size() == 1 && statuses.count(503) ? "yes" : "no") << ", slowest "
            << slowest << " s; after it came back ingest resumed in " << ingest_resumed
            << " s, REST answered in " << rest_recovery << " s, ingest caught up in "
            << caught_up_at << " s\n";
}

// 3. Mosquitto is killed with -9 (no clean shutdown: what it had not saved is gone) while the
//    boxes produce, and started again on the same port and directory.
TEST_F(ClusterFaultTest, MosquittoKilledDuringIngest) {
  ASSERT_NO_FATAL_FAILURE(start_cluster(2));
  ASSERT_NO_FATAL_FAILURE(add_boxes(3));
  start_producing();
  ASSERT_TRUE(eventually([&] { return total_applied() > 30; }, 30s)) << "no ingest";
  ASSERT_TRUE(broker_->kill().ok());
  std::this_thread::sleep_for(1s);  // the outage: the boxes journal on meanwhile
  ASSERT_TRUE(broker_->restart().ok());
  const auto back = Clock::now();
  const auto before = total_applied();
  ASSERT_TRUE(eventually([&] { return total_applied() > before + 10; }, 30s))
      << "ingest did not resume after the broker came back";
  const double resumed = seconds_since(back);
  expect_every_event_applied_exactly_once("Mosquitto kill -9");
  std::cout << "[faults] Mosquitto kill -9: ingest resumed " << resumed
            << " s after the broker was back\n";
}

}  // namespace
}  // namespace reclothes::faults
