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
#include <string>
#include <thread>
#include <vector>

#include "reclothes/bench/main.h"
#include "reclothes/bench/pgbench.h"
#include "reclothes/bench/proc.h"
#include "reclothes/bench/report.h"
#include "reclothes/bench/servers.h"
#include "reclothes/bench/stats.h"
#include "reclothes/common/clock.h"
#include "reclothes/common/messages.h"
#include "reclothes/controller/fleet.h"

namespace reclothes::bench {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kCompartments = 24;

struct B4Options {
  int boxes = 50;
  int batch = 64;          // events per `events` message (the firmware's batch_events)
  int window_batches = 2;  // batches in flight per box before it waits for an ack
  int round_seconds = 0;   // 0: 5 (quick: 2)
  int rounds = 0;          // 0: 4 (quick: 1)
  bool durable = true;     // false: fsync=off, synchronous_commit=off (the tests' fast cluster)
  ControllerChoice controller{RECLOTHES_CONTROLLER_BIN, "info"};
};

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
  r.machine_busy = busy_between(j0, machine_jiffies());
  RC_TRY(fleet.drain(seconds(120)));
  return r;
}

// pgbench -f script -c clients for `secs` seconds (its log <dir>/pgbench-<tag>.log);
// transactions and their duration.
Result<Round> pgbench_round(ControllerStack& stack, const fs::path& script, int clients, int secs,
                            const fs::path& dir, const std::string& tag) {
  PgbenchSpec spec;
  spec.script = script;
  spec.clients = clients;
  spec.seconds = secs;
  const auto j0 = machine_jiffies();
  RC_ASSIGN_OR_RETURN(const PgbenchRun run,
                      run_pgbench(stack.postgres(), "reclothes", spec, dir, tag));
  Round r;
  r.operations = run.transactions;
  r.seconds = run.seconds;
  r.machine_busy = busy_between(j0, machine_jiffies());
  return r;
}

struct Side : RoundTotals {
  double cpu_s = 0;
  std::vector<double> busy;
  void add_round(const Round& r) {
    add(r.operations, r.seconds);
    cpu_s += r.own_cpu_s;
    busy.push_back(r.machine_busy);
  }
};

// The controller's rounds and pgbench's at 1 and at K clients.
struct Sides {
  Side ctl;
  Side pg1;
  Side pgk;
};

// ---- set-up ------------------------------------------------------------------------------------

// The defaults that depend on --quick, and the checks of the options.
Status settle(B4Options& o, const CommonOptions& options) {
  if (o.round_seconds <= 0) o.round_seconds = options.quick ? 2 : 5;
  if (o.rounds <= 0) o.rounds = options.quick ? 1 : 4;
  if (o.batch < 1 || o.batch > static_cast<int>(msg::kMaxEventsPerBatch) || o.boxes < 1 ||
      o.window_batches < 1) {
    return make_error(ErrorCode::kInvalidArgument,
                      "--boxes >= 1, --batch 1..256 and --window >= 1 are required");
  }
  return ok_status();
}

std::vector<std::string> box_ids(int boxes) {
  std::vector<std::string> ids;
  for (int i = 1; i <= boxes; ++i) {
    char id[32];
    std::snprintf(id, sizeof id, "b4-box-%03d", i);
    ids.emplace_back(id);
  }
  return ids;
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

// The baseline's pgbench script: one single-row insert of a door event per transaction.
Status write_insert_script(const fs::path& script) {
  return write_text(
      script,
      "INSERT INTO bench_ingest (box_id, seq, kind, at, compartment, payload, applied_at) "
      "VALUES ('pgbench-' || :client_id, nextval('bench_ingest_seq'), 'door_opened', now(), 3, "
      "'{\"seq\":1,\"kind\":\"door_opened\",\"at_ms\":1767225600000,\"compartment\":3}', "
      "now());\n");
}

// PostgreSQL, Mosquitto and the controller, migrated, with the boxes registered and the
// baseline's table and script made; then the controller serving.
Result<std::unique_ptr<ControllerStack>> start_servers(const fs::path& dir, const B4Options& o,
                                                       const std::vector<std::string>& ids,
                                                       std::int64_t now_ms) {
  std::cout << "B4: starting PostgreSQL (" << (o.durable ? "durable" : "fsync off")
            << "), Mosquitto and " << o.controller.binary << " ..." << std::endl;
  ControllerStackOptions servers;
  servers.controller = o.controller;
  servers.client_id = "bench-b4-controller";
  servers.durable_postgres = o.durable;
  RC_ASSIGN_OR_RETURN(auto stack, ControllerStack::start(dir, servers));
  RC_TRY(stack->migrate());
  RC_TRY(register_boxes(stack->conninfo(), ids, now_ms));
  RC_TRY(write_insert_script(dir / "insert.sql"));
  RC_TRY(stack->serve());
  return stack;
}

// The boxes' MQTT clients, connected, and a warm-up round that is not counted: connections in
// the pool, plans, the broker's sessions.
Result<std::unique_ptr<Fleet>> connect_boxes(ControllerStack& stack, const B4Options& o,
                                             const std::vector<std::string>& ids,
                                             const SystemClock& clock, bool quick) {
  const pid_t pid = stack.controller().pid();
  std::cout << "B4: controller pid " << pid << "; connecting " << o.boxes << " boxes ..."
            << std::endl;
  const auto connect_start = SteadyClock::now();
  RC_ASSIGN_OR_RETURN(auto fleet, Fleet::connect(stack.broker().uri(), ids));
  std::cout << "B4: boxes connected in "
            << format_number(ms_between(connect_start, SteadyClock::now()), 0) << " ms"
            << std::endl;
  if (auto w = controller_round(*fleet, o, milliseconds(quick ? 300 : 1000), clock, pid); !w.ok()) {
    return std::move(w).error().with_context("warm-up (controller log:\n" + tail(stack.log()) +
                                             ")");
  }
  return fleet;
}

// ---- the rounds --------------------------------------------------------------------------------

Result<Sides> run_rounds(ControllerStack& stack, Fleet& fleet, const B4Options& o,
                         const SystemClock& clock, const fs::path& dir) {
  std::cout << "B4: " << o.rounds << " rounds of " << o.round_seconds << " s each: controller ("
            << o.boxes << " boxes, batches of " << o.batch << ", window " << o.window_batches
            << " batches), pgbench -c 1, pgbench -c " << o.boxes << " ..." << std::endl;
  const pid_t pid = stack.controller().pid();
  const fs::path script = dir / "insert.sql";
  Sides s;
  for (int i = 0; i < o.rounds; ++i) {
    auto c = controller_round(fleet, o, seconds(o.round_seconds), clock, pid);
    if (!c.ok()) {
      return std::move(c).error().with_context("controller round (log:\n" + tail(stack.log()) +
                                               ")");
    }
    s.ctl.add_round(*c);
    RC_ASSIGN_OR_RETURN(const Round p1, pgbench_round(stack, script, 1, o.round_seconds, dir,
                                                      "1-" + std::to_string(i)));
    s.pg1.add_round(p1);
    RC_ASSIGN_OR_RETURN(const Round pk, pgbench_round(stack, script, o.boxes, o.round_seconds, dir,
                                                      "k-" + std::to_string(i)));
    s.pgk.add_round(pk);
    std::cout << "  round " << i + 1 << ": controller " << format_number(s.ctl.rates.back(), 0)
              << " events/s (controller CPU " << format_number(100 * c->own_cpu_s / c->seconds, 0)
              << " %, machine " << format_number(100 * c->machine_busy, 0)
              << " % busy), pgbench -c 1 " << format_number(s.pg1.rates.back(), 0) << " tps, -c "
              << o.boxes << " " << format_number(s.pgk.rates.back(), 0) << " tps" << std::endl;
  }
  return s;
}

// ---- exactly once ------------------------------------------------------------------------------

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

struct ExactlyOnce {
  Checks before;  // after the rounds
  Checks after;   // after the redelivery
  bool redelivery_acked = false;
  std::int64_t published = 0;
  std::uint64_t batches = 0;
  std::size_t redelivered = 0;
  bool ok() const {
    return before.rows == published && before.distinct == published && before.per_box_ok &&
           after.rows == published && after.distinct == published && after.per_box_ok &&
           redelivery_acked;
  }
};

// Every published event is in box_events once; then a redelivery of every box's last batch (what
// a box does after a reconnect) changes nothing and is acked again. kDataLoss if not.
Result<ExactlyOnce> check_with_redelivery(const std::string& conninfo, Fleet& fleet) {
  ExactlyOnce e;
  RC_ASSIGN_OR_RETURN(e.before, check_exactly_once(conninfo, fleet));
  const std::uint64_t acks_before = fleet.ack_messages();
  for (auto& b : fleet.boxes()) RC_TRY(fleet.send(*b, b->last_payload));
  e.redelivered = fleet.boxes().size();
  const auto redelivery_deadline = SteadyClock::now() + seconds(60);
  while (fleet.ack_messages() < acks_before + e.redelivered &&
         SteadyClock::now() < redelivery_deadline) {
    fleet.wait_for_ack(milliseconds(50));
  }
  e.redelivery_acked = fleet.ack_messages() >= acks_before + e.redelivered;
  RC_ASSIGN_OR_RETURN(e.after, check_exactly_once(conninfo, fleet));
  e.published = static_cast<std::int64_t>(fleet.total_published());
  e.batches = fleet.batches();
  std::cout << "  exactly once: " << e.published << " events published, box_events holds "
            << e.before.rows << " rows (" << e.before.distinct << " distinct (box, seq)); after "
            << e.redelivered << " redelivered batches: " << e.after.rows << " rows, "
            << (e.redelivery_acked ? "all acked again" : "NOT all acked") << std::endl;
  if (!e.ok()) {
    return make_error(
        ErrorCode::kDataLoss,
        "events were not applied exactly once: published " + std::to_string(e.published) +
            ", box_events " + std::to_string(e.before.rows) + " rows / " +
            std::to_string(e.before.distinct) + " distinct, after redelivery " +
            std::to_string(e.after.rows) + "; " + e.before.first_problem + e.after.first_problem +
            (e.redelivery_acked ? "" : "; the redelivered batches were not acked"));
  }
  return e;
}

// ---- the box lock statement (commit 94a3d40) ---------------------------------------------------

// The applier's box lock (controller/src/events.cpp, "apply_lock_box") as it is since 94a3d40,
// reading the box's compartment numbers too, and as it was before; on a random registered box.
// Each transaction as the applier runs it (the lock, then the commit), with synchronous_commit
// off so the figure is the statement's work and not the disk's sync.
constexpr const char* kLockWithCompartments =
    "SELECT status, last_applied_seq, (SELECT COALESCE(string_agg(number::text, ',' ORDER BY "
    "number), '') FROM compartments c WHERE c.box_id = b.id) FROM boxes b WHERE id = 'b4-box-' "
    "|| lpad(:n::text, 3, '0') FOR UPDATE OF b";
constexpr const char* kLockBefore =
    "SELECT status, last_applied_seq FROM boxes WHERE id = 'b4-box-' || lpad(:n::text, 3, '0') "
    "FOR UPDATE";

struct LockCost {
  Side with;    // the statement since 94a3d40
  Side before;  // the statement before it
};

// pgbench at 1 client (the applier's one worker), prepared, the two statements alternating.
Result<LockCost> measure_lock_cost(ControllerStack& stack, const B4Options& o,
                                   const fs::path& dir) {
  LockCost c;
  const auto write_script = [&](const std::string& name,
                                const char* statement) -> Result<fs::path> {
    const fs::path path = dir / name;
    RC_TRY(write_text(path, "\\set n random(1, " + std::to_string(o.boxes) +
                                ")\nBEGIN;\nSET LOCAL synchronous_commit = off;\n" +
                                std::string(statement) + ";\nCOMMIT;\n"));
    return path;
  };
  RC_ASSIGN_OR_RETURN(const fs::path with, write_script("lock-with.sql", kLockWithCompartments));
  RC_ASSIGN_OR_RETURN(const fs::path before, write_script("lock-before.sql", kLockBefore));
  const int secs = std::max(1, o.round_seconds / 2);
  for (int i = 0; i < o.rounds; ++i) {
    for (const bool w : {true, false}) {
      PgbenchSpec spec;
      spec.script = w ? with : before;
      spec.seconds = secs;
      spec.prepared = true;
      const std::string tag = std::string(w ? "lock-with-" : "lock-before-") + std::to_string(i);
      RC_ASSIGN_OR_RETURN(const PgbenchRun run,
                          run_pgbench(stack.postgres(), "reclothes", spec, dir, tag));
      (w ? c.with : c.before).add(run.transactions, run.seconds);
    }
  }
  return c;
}

// ---- records -----------------------------------------------------------------------------------

Status add_records(Output& out, const CommonOptions& options, const B4Options& o, const Sides& s,
                   const ExactlyOnce& e, int controller_exit) {
  const nlohmann::json details = {{"quick", options.quick},
                                  {"durable_postgres", o.durable},
                                  {"boxes", o.boxes},
                                  {"batch_events", o.batch},
                                  {"window_batches", o.window_batches},
                                  {"rounds", o.rounds},
                                  {"round_s", o.round_seconds},
                                  {"events_in_rounds", s.ctl.operations},
                                  {"events_published_total", e.published},
                                  {"batches_total", e.batches},
                                  {"controller_rounds_events_s", s.ctl.rates},
                                  {"controller_cpu_percent_of_one_core",
                                   s.ctl.seconds > 0 ? 100 * s.ctl.cpu_s / s.ctl.seconds : 0},
                                  {"machine_busy_controller_rounds", s.ctl.busy},
                                  {"pgbench_c1_rounds_tps", s.pg1.rates},
                                  {"machine_busy_pgbench_c1_rounds", s.pg1.busy},
                                  {"pgbench_ck_rounds_tps", s.pgk.rates},
                                  {"machine_busy_pgbench_ck_rounds", s.pgk.busy},
                                  {"box_events_rows", e.after.rows},
                                  {"redelivered_batches", e.redelivered},
                                  {"exactly_once", e.ok()},
                                  {"controller_exit_status", controller_exit}};
  Record rec;
  rec.id = "B4";
  rec.figure = "controller ingest events/s (" + std::to_string(o.boxes) + " boxes, batches of " +
               std::to_string(o.batch) + ", exactly once)";
  rec.unit = "events/s";
  rec.value = s.ctl.rate();
  rec.baseline = "pgbench single-row INSERT, 1 client (the apply path's concurrency)";
  rec.baseline_value = s.pg1.rate();
  rec.target = Target::ratio_at_least(1.0);
  rec.details = details;
  RC_TRY(out.add(rec));

  Record k;
  k.id = "B4";
  k.figure = "controller ingest events/s vs pgbench at " + std::to_string(o.boxes) + " clients";
  k.unit = "events/s";
  k.value = s.ctl.rate();
  k.baseline = "pgbench single-row INSERT, " + std::to_string(o.boxes) + " clients";
  k.baseline_value = s.pgk.rate();
  k.details = {{"quick", options.quick}, {"pgbench_ck_rounds_tps", s.pgk.rates}};
  return out.add(k);
}

// The lock statement since 94a3d40 (with the compartment numbers) beside the one before it: ms
// per transaction at 1 client; the difference is what each batch of events pays for the check.
Status add_lock_record(Output& out, const CommonOptions& options, const B4Options& o,
                       const LockCost& c) {
  const auto ms = [](const Side& s) {
    return s.operations > 0 ? 1000 * s.seconds / static_cast<double>(s.operations) : 0;
  };
  Record r;
  r.id = "B4";
  r.figure = "box lock statement with the compartment numbers (94a3d40), ms per transaction";
  r.unit = "ms";
  r.value = ms(c.with);
  r.baseline = "the lock statement before 94a3d40, pgbench 1 client, prepared, alternating";
  r.baseline_value = ms(c.before);
  const double extra = ms(c.with) - ms(c.before);
  r.details = {{"quick", options.quick},
               {"with_rounds_tps", c.with.rates},
               {"before_rounds_tps", c.before.rates},
               {"extra_ms_per_batch", extra},
               {"extra_us_per_event", 1000 * extra / o.batch},
               {"synchronous_commit", "off (the statement's work, not the sync)"}};
  return out.add(r);
}

Status run(Output& out, const CommonOptions& options, B4Options o) {
  RC_TRY(settle(o, options));
  const SystemClock clock;
  RC_ASSIGN_OR_RETURN(ScratchDir scratch, ScratchDir::create(out.dir(), "b4-work-"));
  const fs::path dir = scratch.path();
  const std::vector<std::string> ids = box_ids(o.boxes);
  RC_ASSIGN_OR_RETURN(auto stack, start_servers(dir, o, ids, clock.wall_ms()));
  RC_ASSIGN_OR_RETURN(auto fleet, connect_boxes(*stack, o, ids, clock, options.quick));
  RC_ASSIGN_OR_RETURN(const Sides sides, run_rounds(*stack, *fleet, o, clock, dir));
  RC_ASSIGN_OR_RETURN(const ExactlyOnce once, check_with_redelivery(stack->conninfo(), *fleet));
  RC_ASSIGN_OR_RETURN(const int stopped, stack->stop_controller(seconds(10)));
  RC_TRY(add_records(out, options, o, sides, once, stopped));
  RC_ASSIGN_OR_RETURN(const LockCost lock, measure_lock_cost(*stack, o, dir));
  return add_lock_record(out, options, o, lock);
}

}  // namespace
}  // namespace reclothes::bench

int main(int argc, char** argv) {
  CLI::App app{
      "B4: controller ingest (events applied exactly once) beside pgbench single-row "
      "inserts",
      "bench_b4_controller_ingest"};
  reclothes::bench::B4Options b4;
  app.add_option("--boxes", b4.boxes, "boxes publishing at once")->capture_default_str();
  app.add_option("--batch", b4.batch, "events per batch (1..256)")->capture_default_str();
  app.add_option("--window", b4.window_batches, "batches in flight per box")->capture_default_str();
  app.add_option("--round-seconds", b4.round_seconds, "seconds per round and side (0: default)");
  app.add_option("--rounds", b4.rounds, "rounds (0: default)");
  app.add_flag("!--no-durable", b4.durable,
               "PostgreSQL with fsync and synchronous_commit off (the tests' cluster)");
  reclothes::bench::add_controller_options(app, b4.controller);
  return reclothes::bench::run_benchmark(
      argc, argv, app,
      [&](reclothes::bench::Output& out, const reclothes::bench::CommonOptions& options) {
        return reclothes::bench::run(out, options, b4);
      });
}
