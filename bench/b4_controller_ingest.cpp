// B4: controller ingest. The real `reclothes-controller serve` (its own process, as deployed),
// a real Mosquitto and a real, durable PostgreSQL 15 (fsync and synchronous_commit on, as in
// production: batching only pays where a commit costs something). K boxes (50) are registered
// with the controller's own register_box(); K Paho clients, one per box, publish `events` batches
// of 64 consecutive events (the firmware's batch_events) with a window of 2 batches per box, and
// slide the window on the controller's cumulative acks, as the firmware's sender does
// (docs/box-sync.md). Figure: events acked per second (an ack follows the commit of the batch's
// transaction). Baseline, in the same run and against the same server and database: pgbench
// with a single-row INSERT script into a table of box_events' shape. The target compares with
// pgbench at 1 client, because the controller applies with 1 (one MQTT worker thread, one
// transaction at a time: docs/controller.md, "MQTT bridge"); pgbench at K clients is recorded
// beside it. Controller and pgbench rounds alternate so that load bursts and slow disk phases
// hit both. At the end, SQL checks that box_events holds every published event exactly once,
// and every box sends its last batch again (a redelivery): nothing may change.
#include <httplib.h>
#include <mqtt/async_client.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "reclothes/bench/main.h"
#include "reclothes/bench/proc.h"
#include "reclothes/bench/report.h"
#include "reclothes/bench/stats.h"
#include "reclothes/common/clock.h"
#include "reclothes/common/messages.h"
#include "reclothes/controller/fleet.h"
#include "reclothes/testsupport/mosquitto.h"
#include "reclothes/testsupport/postgres.h"
#include "reclothes/testsupport/process.h"

#ifndef RECLOTHES_CONTROLLER_BIN
#define RECLOTHES_CONTROLLER_BIN "reclothes-controller"
#endif

namespace reclothes::bench {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testsupport::Process;
using testsupport::SpawnOptions;

constexpr int kCompartments = 24;

struct B4Options {
  int boxes = 50;
  int batch = 64;          // events per `events` message (the firmware's batch_events)
  int window_batches = 2;  // batches in flight per box before it waits for an ack
  int round_seconds = 0;   // 0: 5 (quick: 2)
  int rounds = 0;          // 0: 4 (quick: 1)
  bool durable = true;     // false: fsync=off, synchronous_commit=off (the tests' fast cluster)
  std::string controller = RECLOTHES_CONTROLLER_BIN;
  std::string log_level = "info";
};

// Runs a program to completion with its output in `log`; its exit status.
Result<int> run_to_end(std::vector<std::string> argv, const fs::path& log,
                       std::map<std::string, std::string> env = {},
                       milliseconds timeout = seconds(120)) {
  SpawnOptions o;
  o.log_path = log;
  o.env = std::move(env);
  RC_ASSIGN_OR_RETURN(auto p, Process::spawn(std::move(argv), o));
  auto status = p->wait(timeout);
  if (!status.ok()) {
    (void)p->kill();
    return make_error(ErrorCode::kDeadlineExceeded,
                      log.filename().string() + ": did not finish:\n" + tail(log));
  }
  return *status;
}

// ---- the boxes ---------------------------------------------------------------------------------

// One box's MQTT side: publishes event batches in seq order and records the controller's
// cumulative acks. `published` is touched by the driver thread only; `acked` by Paho's callback.
struct Box {
  std::string id;
  std::unique_ptr<mqtt::async_client> client;
  std::uint64_t published = 0;
  std::atomic<std::uint64_t> acked{0};
  std::string last_payload;  // the last batch sent, for the redelivery check
};

class Fleet {
 public:
  static Result<std::unique_ptr<Fleet>> connect(const std::string& uri,
                                                const std::vector<std::string>& ids) {
    std::unique_ptr<Fleet> fleet(new Fleet());
    for (const auto& id : ids) {
      auto box = std::make_unique<Box>();
      box->id = id;
      try {
        box->client = std::make_unique<mqtt::async_client>(uri, "bench-b4-" + id);
      } catch (const std::exception& e) {
        return make_error(ErrorCode::kInvalidArgument, "MQTT client for " + id + ": " + e.what());
      }
      Box* b = box.get();
      Fleet* f = fleet.get();
      b->client->set_message_callback([f, b](mqtt::const_message_ptr m) { f->on_message(*b, m); });
      fleet->boxes_.push_back(std::move(box));
    }
    // All connects first, then all subscribes: Paho completes each in its own time (about a
    // second here), so one after the other would take a minute for 50 boxes.
    mqtt::connect_options opts;
    opts.set_clean_session(true);
    opts.set_keep_alive_interval(seconds(30));
    try {
      std::vector<mqtt::token_ptr> tokens;
      for (auto& b : fleet->boxes_) tokens.push_back(b->client->connect(opts));
      RC_TRY(wait_all(tokens, "connect"));
      tokens.clear();
      for (auto& b : fleet->boxes_) {
        tokens.push_back(b->client->subscribe(msg::topic(b->id, msg::Topic::kAcks), 1));
      }
      RC_TRY(wait_all(tokens, "subscribe"));
    } catch (const std::exception& e) {
      return make_error(ErrorCode::kUnavailable, std::string("box MQTT clients: ") + e.what());
    }
    return fleet;
  }

  static Status wait_all(const std::vector<mqtt::token_ptr>& tokens, const std::string& what) {
    for (const auto& t : tokens) {
      if (!t->wait_for(seconds(30))) {
        return make_error(ErrorCode::kUnavailable, "box MQTT " + what + " timed out");
      }
    }
    return ok_status();
  }

  ~Fleet() {
    for (auto& b : boxes_) {
      try {
        if (b->client->is_connected()) b->client->disconnect()->wait_for(seconds(2));
      } catch (...) {
      }
    }
  }

  std::vector<std::unique_ptr<Box>>& boxes() { return boxes_; }

  // Publishes the next `count` events of `box` as one batch.
  Status publish_batch(Box& box, int count, std::int64_t now_ms) {
    msg::Events batch;
    for (int i = 0; i < count; ++i) {
      batch.events.push_back(make_event(box.published + 1 + static_cast<std::uint64_t>(i), now_ms));
    }
    RC_ASSIGN_OR_RETURN(std::string payload,
                        msg::serialize(msg::make_envelope(box.id, now_ms, std::move(batch))));
    RC_TRY(send(box, payload));
    box.published += static_cast<std::uint64_t>(count);
    box.last_payload = std::move(payload);
    ++batches_;
    return ok_status();
  }

  Status send(Box& box, const std::string& payload) {
    try {
      box.client->publish(
          mqtt::make_message(msg::topic(box.id, msg::Topic::kEvents), payload, 1, false));
    } catch (const std::exception& e) {
      return make_error(ErrorCode::kUnavailable, box.id + ": publish: " + e.what());
    }
    return ok_status();
  }

  // Waits until something is acked or `timeout` passes.
  void wait_for_ack(milliseconds timeout) {
    std::unique_lock lock(mu_);
    const std::uint64_t seen = ack_messages_;
    cv_.wait_for(lock, timeout, [&] { return ack_messages_ != seen; });
  }

  std::uint64_t total_acked() const {
    std::uint64_t n = 0;
    for (const auto& b : boxes_) n += b->acked.load();
    return n;
  }
  std::uint64_t total_published() const {
    std::uint64_t n = 0;
    for (const auto& b : boxes_) n += b->published;
    return n;
  }
  std::uint64_t batches() const { return batches_; }
  std::uint64_t ack_messages() {
    std::lock_guard lock(mu_);
    return ack_messages_;
  }
  std::string problem() {
    std::lock_guard lock(mu_);
    return problem_;
  }

  // Waits until every box's events are acked; kDeadlineExceeded naming the laggards otherwise.
  Status drain(milliseconds timeout) {
    const auto deadline = SteadyClock::now() + timeout;
    while (total_acked() < total_published()) {
      if (!problem().empty()) return make_error(ErrorCode::kInternal, problem());
      if (SteadyClock::now() > deadline) {
        std::string late;
        for (const auto& b : boxes_) {
          if (b->acked.load() < b->published) {
            late += " " + b->id + " (" + std::to_string(b->acked.load()) + "/" +
                    std::to_string(b->published) + ")";
          }
        }
        return make_error(ErrorCode::kDeadlineExceeded,
                          "the controller did not ack every event within " +
                              std::to_string(timeout.count()) + " ms:" + late);
      }
      wait_for_ack(milliseconds(50));
    }
    return ok_status();
  }

 private:
  Fleet() = default;

  // A visit to a compartment, as the firmware journals it: unlocked (deposit token), door
  // opened, door closed (occupied); the next visit goes to the next compartment.
  static msg::Event make_event(std::uint64_t seq, std::int64_t now_ms) {
    msg::Event e;
    e.seq = seq;
    e.at_ms = now_ms;
    const std::uint64_t visit = (seq - 1) / 3;
    e.compartment = static_cast<int>(visit % kCompartments) + 1;
    switch ((seq - 1) % 3) {
      case 0:
        e.kind = msg::EventKind::kUnlocked;
        e.token_id = "be00000000000001";
        e.action = TokenAction::kDeposit;
        e.order_ref = 100000 + visit;
        break;
      case 1:
        e.kind = msg::EventKind::kDoorOpened;
        break;
      default:
        e.kind = msg::EventKind::kDoorClosed;
        e.occupied = true;
        break;
    }
    return e;
  }

  void on_message(Box& box, const mqtt::const_message_ptr& m) {
    auto env = msg::parse_received(m->get_topic(), m->to_string());
    std::lock_guard lock(mu_);
    if (!env.ok()) {
      problem_ = box.id + ": unparsable message from the controller: " + env.error().message;
    } else if (const auto* ack = std::get_if<msg::Ack>(&env->body)) {
      // Cumulative: a late or repeated ack may be lower than what we have.
      std::uint64_t prev = box.acked.load();
      while (ack->upto > prev && !box.acked.compare_exchange_weak(prev, ack->upto)) {
      }
      ++ack_messages_;
    }
    cv_.notify_all();
  }

  std::vector<std::unique_ptr<Box>> boxes_;
  std::uint64_t batches_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  std::uint64_t ack_messages_ = 0;
  std::string problem_;
};

// ---- one round of each side ---------------------------------------------------------------------

struct Round {
  std::uint64_t operations = 0;
  double seconds = 0;
  double own_cpu_s = 0;     // the controller's CPU time (controller rounds only)
  double machine_busy = 0;  // fraction of all cores busy during the round
};

// Keeps every box's window full for `duration`; counts the events acked meanwhile, then waits
// (untimed) until everything published is acked, so the next round starts from an idle
// controller.
Result<Round> controller_round(Fleet& fleet, const B4Options& o, milliseconds duration,
                               const SystemClock& clock, pid_t controller_pid) {
  const auto window = static_cast<std::uint64_t>(o.batch * o.window_batches);
  const std::uint64_t acked0 = fleet.total_acked();
  const double cpu0 = cpu_seconds(controller_pid);
  const auto j0 = machine_jiffies();
  const auto t0 = SteadyClock::now();
  const auto end = t0 + duration;
  while (SteadyClock::now() < end) {
    for (auto& b : fleet.boxes()) {
      while (b->published - b->acked.load() + static_cast<std::uint64_t>(o.batch) <= window) {
        RC_TRY(fleet.publish_batch(*b, o.batch, clock.wall_ms()));
      }
    }
    if (auto p = fleet.problem(); !p.empty()) return make_error(ErrorCode::kInternal, p);
    fleet.wait_for_ack(milliseconds(20));
  }
  const auto t1 = SteadyClock::now();
  Round r;
  r.operations = fleet.total_acked() - acked0;
  r.seconds = std::chrono::duration<double>(t1 - t0).count();
  r.own_cpu_s = cpu_seconds(controller_pid) - cpu0;
  const auto j1 = machine_jiffies();
  r.machine_busy = j1.second > j0.second ? (j1.first - j0.first) / (j1.second - j0.second) : 0;
  RC_TRY(fleet.drain(seconds(120)));
  return r;
}

// pgbench -f script -c clients for `secs` seconds; transactions and their duration.
Result<Round> pgbench_round(const testsupport::PostgresServer& pg, const std::string& db,
                            const fs::path& script, int clients, int secs, const fs::path& log) {
  const auto j0 = machine_jiffies();
  const int jobs = std::min(clients, 2);
  RC_ASSIGN_OR_RETURN(
      const int status,
      run_to_end({pg_bindir() + "/pgbench", "-n", "-h", "127.0.0.1", "-p",
                  std::to_string(pg.port()), "-U", "postgres", "-c", std::to_string(clients), "-j",
                  std::to_string(jobs), "-T", std::to_string(secs), "-f", script.string(), db},
                 log));
  RC_ASSIGN_OR_RETURN(const std::string out, read_text(log));
  if (status != 0) {
    return make_error(ErrorCode::kInternal,
                      "pgbench exited with " + std::to_string(status) + ":\n" + tail(log));
  }
  std::smatch m;
  const std::regex processed(R"(number of transactions actually processed: (\d+))");
  const std::regex tps(R"(tps = ([0-9.]+) \(without initial connection time\))");
  std::smatch m2;
  if (!std::regex_search(out, m, processed) || !std::regex_search(out, m2, tps)) {
    return make_error(ErrorCode::kInternal, "cannot read pgbench's output:\n" + tail(log));
  }
  if (out.find("number of failed transactions: 0 ") == std::string::npos &&
      out.find("number of failed transactions") != std::string::npos) {
    return make_error(ErrorCode::kInternal, "pgbench had failed transactions:\n" + tail(log));
  }
  Round r;
  r.operations = std::stoull(m[1].str());
  const double rate = std::stod(m2[1].str());
  // tps excludes connection set-up; the duration that goes with it.
  r.seconds = rate > 0 ? static_cast<double>(r.operations) / rate : static_cast<double>(secs);
  const auto j1 = machine_jiffies();
  r.machine_busy = j1.second > j0.second ? (j1.first - j0.first) / (j1.second - j0.second) : 0;
  return r;
}

struct Side {
  std::uint64_t operations = 0;
  double seconds = 0;
  double cpu_s = 0;
  std::vector<double> rates;
  std::vector<double> busy;
  void add(const Round& r) {
    operations += r.operations;
    seconds += r.seconds;
    cpu_s += r.own_cpu_s;
    rates.push_back(r.seconds > 0 ? static_cast<double>(r.operations) / r.seconds : 0);
    busy.push_back(r.machine_busy);
  }
  double rate() const { return seconds > 0 ? static_cast<double>(operations) / seconds : 0; }
};

// ---- set-up ------------------------------------------------------------------------------------

Result<fs::path> write_config(const fs::path& dir, const std::string& conninfo,
                              const std::string& broker_uri, int public_port, int internal_port,
                              const B4Options& o) {
  const nlohmann::json c = {{"database", {{"conninfo", conninfo}}},
                            {"public_listener", {{"host", "127.0.0.1"}, {"port", public_port}}},
                            {"internal_listener", {{"host", "127.0.0.1"}, {"port", internal_port}}},
                            {"passwords", {{"opslimit", 1}, {"memlimit_bytes", 8192}}},
                            {"mqtt", {{"uri", broker_uri}, {"client_id", "bench-b4-controller"}}},
                            {"tokens", {{"key_dir", (dir / "keys").string()}}},
                            {"log", {{"level", o.log_level}, {"format", "text"}}}};
  const fs::path path = dir / "controller.json";
  std::ofstream f(path);
  f << c.dump(2) << "\n";
  f.close();
  if (!f) return make_error(ErrorCode::kIo, "cannot write " + path.string());
  return path;
}

Status register_boxes(const std::string& conninfo, const std::vector<std::string>& ids,
                      std::int64_t now_ms) {
  try {
    pqxx::connection conn(conninfo);
    pqxx::work tx(conn);
    std::vector<controller::CompartmentSpec> comps;
    for (int n = 1; n <= kCompartments; ++n) comps.push_back({n, n % 3 == 0 ? "L" : "M"});
    for (const auto& id : ids) {
      RC_TRY(controller::register_box(tx, id, std::nullopt, comps, now_ms));
    }
    // The baseline's table: box_events' columns, checks and primary key (LIKE copies no foreign
    // key), and a sequence for its seqs, so every pgbench insert is a new row.
    tx.exec("CREATE TABLE bench_ingest (LIKE box_events INCLUDING ALL)");
    tx.exec("CREATE SEQUENCE bench_ingest_seq");
    tx.commit();
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kUnavailable, std::string("registering boxes: ") + e.what());
  }
  return ok_status();
}

Status wait_ready(int port, const fs::path& log) {
  httplib::Client cli("127.0.0.1", port);
  cli.set_connection_timeout(seconds(2));
  cli.set_read_timeout(seconds(5));
  const auto deadline = SteadyClock::now() + seconds(30);
  while (SteadyClock::now() < deadline) {
    auto res = cli.Get("/readyz");
    if (res && res->status == 200) return ok_status();
    std::this_thread::sleep_for(milliseconds(50));
  }
  return make_error(ErrorCode::kDeadlineExceeded,
                    "the controller did not become ready (database and broker):\n" + tail(log));
}

struct Checks {
  std::int64_t rows = 0;
  std::int64_t distinct = 0;
  bool per_box_ok = true;
  std::string first_problem;
};

Result<Checks> check_exactly_once(const std::string& conninfo, Fleet& fleet) {
  Checks c;
  try {
    pqxx::connection conn(conninfo);
    pqxx::work tx(conn);
    const auto row = tx.exec1("SELECT count(*), count(DISTINCT (box_id, seq)) FROM box_events");
    c.rows = row[0].as<std::int64_t>();
    c.distinct = row[1].as<std::int64_t>();
    std::map<std::string, std::tuple<std::int64_t, std::int64_t, std::int64_t, std::int64_t>> per;
    for (const auto& r :
         tx.exec("SELECT e.box_id, count(*), min(e.seq), max(e.seq), b.last_applied_seq FROM "
                 "box_events e JOIN boxes b ON b.id = e.box_id GROUP BY e.box_id, "
                 "b.last_applied_seq")) {
      per[r[0].as<std::string>()] = {r[1].as<std::int64_t>(), r[2].as<std::int64_t>(),
                                     r[3].as<std::int64_t>(), r[4].as<std::int64_t>()};
    }
    for (const auto& b : fleet.boxes()) {
      const auto n = static_cast<std::int64_t>(b->published);
      const auto it = per.find(b->id);
      const bool ok = it != per.end() && std::get<0>(it->second) == n &&
                      std::get<1>(it->second) == 1 && std::get<2>(it->second) == n &&
                      std::get<3>(it->second) == n;
      if (!ok && c.per_box_ok) {
        c.per_box_ok = false;
        c.first_problem =
            b->id + ": published " + std::to_string(n) + ", box_events " +
            (it == per.end() ? std::string("none")
                             : std::to_string(std::get<0>(it->second)) + " rows, seq " +
                                   std::to_string(std::get<1>(it->second)) + ".." +
                                   std::to_string(std::get<2>(it->second)) + ", last_applied_seq " +
                                   std::to_string(std::get<3>(it->second)));
      }
    }
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kUnavailable, std::string("checking box_events: ") + e.what());
  }
  return c;
}

Status run(Output& out, const CommonOptions& options, B4Options o) {
  if (o.round_seconds <= 0) o.round_seconds = options.quick ? 2 : 5;
  if (o.rounds <= 0) o.rounds = options.quick ? 1 : 4;
  if (o.batch < 1 || o.batch > static_cast<int>(msg::kMaxEventsPerBatch) || o.boxes < 1 ||
      o.window_batches < 1) {
    return make_error(ErrorCode::kInvalidArgument,
                      "--boxes >= 1, --batch 1..256 and --window >= 1 are required");
  }
  const SystemClock clock;
  RC_ASSIGN_OR_RETURN(ScratchDir scratch, ScratchDir::create(out.dir(), "b4-work-"));
  const fs::path dir = scratch.path();

  std::cout << "B4: starting PostgreSQL (" << (o.durable ? "durable" : "fsync off")
            << "), Mosquitto and " << o.controller << " ..." << std::endl;
  testsupport::PostgresServer::Options pg_options;
  pg_options.durable = o.durable;
  RC_ASSIGN_OR_RETURN(auto pg, testsupport::PostgresServer::start(pg_options));
  RC_ASSIGN_OR_RETURN(const std::string conninfo, pg->create_database("reclothes"));
  RC_ASSIGN_OR_RETURN(auto broker, testsupport::MosquittoServer::start());
  RC_ASSIGN_OR_RETURN(const int public_port, testsupport::free_tcp_port());
  RC_ASSIGN_OR_RETURN(const int internal_port, testsupport::free_tcp_port());
  RC_ASSIGN_OR_RETURN(const fs::path config,
                      write_config(dir, conninfo, broker->uri(), public_port, internal_port, o));
  RC_ASSIGN_OR_RETURN(
      const int migrated,
      run_to_end({o.controller, "migrate", "--config", config.string()}, dir / "migrate.log"));
  if (migrated != 0) {
    return make_error(ErrorCode::kInternal, "reclothes-controller migrate exited with " +
                                                std::to_string(migrated) + ":\n" +
                                                tail(dir / "migrate.log"));
  }
  std::vector<std::string> ids;
  for (int i = 1; i <= o.boxes; ++i) {
    char id[32];
    std::snprintf(id, sizeof id, "b4-box-%03d", i);
    ids.emplace_back(id);
  }
  RC_TRY(register_boxes(conninfo, ids, clock.wall_ms()));

  const fs::path script = dir / "insert.sql";
  {
    std::ofstream f(script);
    f << "INSERT INTO bench_ingest (box_id, seq, kind, at, compartment, payload, applied_at) "
         "VALUES ('pgbench-' || :client_id, nextval('bench_ingest_seq'), 'door_opened', now(), 3, "
         "'{\"seq\":1,\"kind\":\"door_opened\",\"at_ms\":1767225600000,\"compartment\":3}', "
         "now());\n";
    if (!f) return make_error(ErrorCode::kIo, "cannot write " + script.string());
  }

  const fs::path log = dir / "controller.log";
  SpawnOptions spawn;
  spawn.log_path = log;
  RC_ASSIGN_OR_RETURN(auto controller,
                      Process::spawn({o.controller, "serve", "--config", config.string()}, spawn));
  RC_TRY(testsupport::wait_until_listening(*controller, public_port, seconds(30)));
  RC_TRY(wait_ready(public_port, log));
  const pid_t pid = controller->pid();
  std::cout << "B4: controller pid " << pid << "; connecting " << o.boxes << " boxes ..."
            << std::endl;
  const auto connect_start = SteadyClock::now();
  RC_ASSIGN_OR_RETURN(auto fleet, Fleet::connect(broker->uri(), ids));
  std::cout << "B4: boxes connected in "
            << format_number(ms_between(connect_start, SteadyClock::now()), 0) << " ms"
            << std::endl;

  // Warm-up, not counted: connections in the pool, plans, the broker's sessions.
  if (auto w = controller_round(*fleet, o, milliseconds(options.quick ? 300 : 1000), clock, pid);
      !w.ok()) {
    return std::move(w).error().with_context("warm-up (controller log:\n" + tail(log) + ")");
  }

  std::cout << "B4: " << o.rounds << " rounds of " << o.round_seconds << " s each: controller ("
            << o.boxes << " boxes, batches of " << o.batch << ", window " << o.window_batches
            << " batches), pgbench -c 1, pgbench -c " << o.boxes << " ..." << std::endl;
  Side ctl;
  Side pg1;
  Side pgk;
  for (int i = 0; i < o.rounds; ++i) {
    auto c = controller_round(*fleet, o, seconds(o.round_seconds), clock, pid);
    if (!c.ok()) {
      return std::move(c).error().with_context("controller round (log:\n" + tail(log) + ")");
    }
    ctl.add(*c);
    RC_ASSIGN_OR_RETURN(const Round p1,
                        pgbench_round(*pg, "reclothes", script, 1, o.round_seconds,
                                      dir / ("pgbench-1-" + std::to_string(i) + ".log")));
    pg1.add(p1);
    RC_ASSIGN_OR_RETURN(const Round pk,
                        pgbench_round(*pg, "reclothes", script, o.boxes, o.round_seconds,
                                      dir / ("pgbench-k-" + std::to_string(i) + ".log")));
    pgk.add(pk);
    std::cout << "  round " << i + 1 << ": controller " << format_number(ctl.rates.back(), 0)
              << " events/s (controller CPU " << format_number(100 * c->own_cpu_s / c->seconds, 0)
              << " %, machine " << format_number(100 * c->machine_busy, 0)
              << " % busy), pgbench -c 1 " << format_number(pg1.rates.back(), 0) << " tps, -c "
              << o.boxes << " " << format_number(pgk.rates.back(), 0) << " tps" << std::endl;
  }

  // Exactly once: every published event is in box_events once, then a redelivery of every box's
  // last batch (what a box does after a reconnect) changes nothing and is acked again.
  RC_ASSIGN_OR_RETURN(const Checks before, check_exactly_once(conninfo, *fleet));
  const std::uint64_t acks_before = fleet->ack_messages();
  for (auto& b : fleet->boxes()) RC_TRY(fleet->send(*b, b->last_payload));
  const auto redelivery_deadline = SteadyClock::now() + seconds(60);
  while (fleet->ack_messages() < acks_before + fleet->boxes().size() &&
         SteadyClock::now() < redelivery_deadline) {
    fleet->wait_for_ack(milliseconds(50));
  }
  const bool redelivery_acked = fleet->ack_messages() >= acks_before + fleet->boxes().size();
  RC_ASSIGN_OR_RETURN(const Checks after, check_exactly_once(conninfo, *fleet));
  const auto published = static_cast<std::int64_t>(fleet->total_published());
  const bool exactly_once = before.rows == published && before.distinct == published &&
                            before.per_box_ok && after.rows == published &&
                            after.distinct == published && after.per_box_ok && redelivery_acked;
  std::cout << "  exactly once: " << published << " events published, box_events holds "
            << before.rows << " rows (" << before.distinct << " distinct (box, seq)); after "
            << fleet->boxes().size() << " redelivered batches: " << after.rows << " rows, "
            << (redelivery_acked ? "all acked again" : "NOT all acked") << std::endl;
  if (!exactly_once) {
    return make_error(
        ErrorCode::kDataLoss,
        "events were not applied exactly once: published " + std::to_string(published) +
            ", box_events " + std::to_string(before.rows) + " rows / " +
            std::to_string(before.distinct) + " distinct, after redelivery " +
            std::to_string(after.rows) + "; " + before.first_problem + after.first_problem +
            (redelivery_acked ? "" : "; the redelivered batches were not acked"));
  }
  RC_ASSIGN_OR_RETURN(const int stopped, controller->stop(seconds(10)));

  const nlohmann::json details = {
      {"quick", options.quick},
      {"durable_postgres", o.durable},
      {"boxes", o.boxes},
      {"batch_events", o.batch},
      {"window_batches", o.window_batches},
      {"rounds", o.rounds},
      {"round_s", o.round_seconds},
      {"events_in_rounds", ctl.operations},
      {"events_published_total", published},
      {"batches_total", fleet->batches()},
      {"controller_rounds_events_s", ctl.rates},
      {"controller_cpu_percent_of_one_core", ctl.seconds > 0 ? 100 * ctl.cpu_s / ctl.seconds : 0},
      {"machine_busy_controller_rounds", ctl.busy},
      {"pgbench_c1_rounds_tps", pg1.rates},
      {"machine_busy_pgbench_c1_rounds", pg1.busy},
      {"pgbench_ck_rounds_tps", pgk.rates},
      {"machine_busy_pgbench_ck_rounds", pgk.busy},
      {"box_events_rows", after.rows},
      {"redelivered_batches", fleet->boxes().size()},
      {"exactly_once", exactly_once},
      {"controller_exit_status", stopped}};

  Record rec;
  rec.id = "B4";
  rec.figure = "controller ingest events/s (" + std::to_string(o.boxes) + " boxes, batches of " +
               std::to_string(o.batch) + ", exactly once)";
  rec.unit = "events/s";
  rec.value = ctl.rate();
  rec.baseline = "pgbench single-row INSERT, 1 client (the apply path's concurrency)";
  rec.baseline_value = pg1.rate();
  rec.target = Target::ratio_at_least(1.0);
  rec.details = details;
  RC_TRY(out.add(rec));

  Record k;
  k.id = "B4";
  k.figure = "controller ingest events/s vs pgbench at " + std::to_string(o.boxes) + " clients";
  k.unit = "events/s";
  k.value = ctl.rate();
  k.baseline = "pgbench single-row INSERT, " + std::to_string(o.boxes) + " clients";
  k.baseline_value = pgk.rate();
  k.details = {{"quick", options.quick}, {"pgbench_ck_rounds_tps", pgk.rates}};
  return out.add(k);
}

}  // namespace
}  // namespace reclothes::bench

int main(int argc, char** argv) {
  CLI::App app{
      "B4: controller ingest (events applied exactly once) beside pgbench single-row "
      "inserts",
      "bench_b4_controller_ingest"};
  reclothes::bench::CommonOptions options;
  reclothes::bench::B4Options b4;
  app.add_option("--boxes", b4.boxes, "boxes publishing at once")->capture_default_str();
  app.add_option("--batch", b4.batch, "events per batch (1..256)")->capture_default_str();
  app.add_option("--window", b4.window_batches, "batches in flight per box")->capture_default_str();
  app.add_option("--round-seconds", b4.round_seconds, "seconds per round and side (0: default)");
  app.add_option("--rounds", b4.rounds, "rounds (0: default)");
  app.add_flag("!--no-durable", b4.durable,
               "PostgreSQL with fsync and synchronous_commit off (the tests' cluster)");
  app.add_option("--controller", b4.controller, "the reclothes-controller binary")
      ->capture_default_str();
  app.add_option("--log-level", b4.log_level, "the controller's log level")->capture_default_str();
  return reclothes::bench::run_benchmark(
      argc, argv, app, options,
      [&](reclothes::bench::Output& out) { return reclothes::bench::run(out, options, b4); });
}
