// B7: a fleet of simulated boxes on one broker and one controller. Real processes throughout: a
// Mosquitto (tests/support), a PostgreSQL 15 (tests/support, durable unless --fast-postgres), the
// `reclothes-controller serve` binary with its config file (as tests/e2e runs it), and as many
// `reclothes-sim fleet` processes as needed (at most 1,000 boxes each: one process holds about
// that many, because the Paho C library serves all clients of a process under one mutex,
// docs/simulator.md). Every simulated box is the real firmware with its own journal and MQTT
// session; the controller acks their events (no --ack in the fleets). The boxes are registered
// at the controller beforehand with bulk SQL (the rows register_box() writes, and a config
// revision to publish, as the registration API leaves it), so the controller publishes each
// box's retained config before the fleets start.
//
// Heartbeats are the firmware's state reports (every --state-interval, 60 s as on a board, plus
// after every change); events are each box's boot event and, in --visiting-boxes of them (100),
// synthetic courier visits (docs/simulator.md). The fleets start one after the other, each
// once the controller has caught up with the previous one; then a window of fixed length is
// measured. Figures:
//   - boxes flowing: online at the controller, a heartbeat applied during the window, and events
//     applied (its boxes row: online, last_state_at, last_applied_seq); target: every box asked
//     (10,000 in full mode);
//   - errors: boxes that failed or never connected, firmware step errors, failed visits, events
//     the controller rejected, events acked but not in the database, fleets that crashed, a
//     controller that stalled or did not stop cleanly; target 0;
//   - boxes the controller caught up with during the ramp (where it stood if it stalled);
//   - events applied per second in the window, beside what the fleets offered;
//   - memory per box of the simulators (their RSS / boxes), the broker and the controller (their
//     RSS growth from before the fleet / boxes), from /proc/PID/status VmRSS.
// No baseline: the issue sets absolute targets here (docs/performance.md, B7).
#include <httplib.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "reclothes/bench/main.h"
#include "reclothes/bench/proc.h"
#include "reclothes/bench/report.h"
#include "reclothes/bench/stats.h"
#include "reclothes/testsupport/mosquitto.h"
#include "reclothes/testsupport/postgres.h"
#include "reclothes/testsupport/process.h"

#ifndef RECLOTHES_CONTROLLER_BIN
#define RECLOTHES_CONTROLLER_BIN "reclothes-controller"
#endif
#ifndef RECLOTHES_SIM_BIN
#define RECLOTHES_SIM_BIN "reclothes-sim"
#endif

namespace reclothes::bench {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testsupport::Process;
using testsupport::SpawnOptions;

constexpr int kCompartments = 24;
constexpr const char* kIdPrefix = "b7p";  // box ids b7p01-00001 ...: one prefix per process
constexpr int kFleetKeyId = 64000;        // the visit tokens' key (see spawn_fleet)

struct B7Options {
  int boxes = 0;                  // 0: 10,000 (quick: 200)
  int per_process = 1000;         // boxes per reclothes-sim process
  int window_seconds = 0;         // 0: 90 (quick: 8)
  int state_interval_s = 0;       // 0: 60, the firmware's default (quick: 5)
  double events_per_minute = -1;  // <0: 2 (quick: 12)
  double step_hz = 1;
  // How many boxes play visits (events); they get process(es) of their own, the other boxes only
  // heartbeat. <0: 100 (quick: all). The simulator's visits run nearly back to back, about 14
  // events a minute per box whatever --events-per-minute asks (docs/performance.md, B7): visits in
  // every box would offer the controller seven times the asked rate.
  int visiting_boxes = -1;
  // New broker connections per second while a fleet starts. Each box starts with a burst of
  // messages for the controller; the fleet's default (500/s) makes a 1,000-box start a burst the
  // controller's queue may not hold (see the ramp in run()).
  int connect_rate = 100;
  bool durable = true;  // PostgreSQL with fsync, as in production
  std::string controller = RECLOTHES_CONTROLLER_BIN;
  std::string sim = RECLOTHES_SIM_BIN;
  std::string log_level = "warn";
};

// VmRSS in KiB, 0 if the process is gone.
double rss_kib(pid_t pid) {
  const auto status = read_text("/proc/" + std::to_string(pid) + "/status");
  if (!status.ok()) return 0;
  const std::size_t at = status->find("VmRSS:");
  if (at == std::string::npos) return 0;
  return std::strtod(status->c_str() + at + 6, nullptr);
}

// CPU of a process and its direct children (PostgreSQL: the postmaster and its backends).
double cpu_seconds_with_children(pid_t parent) {
  double total = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    const auto pid = static_cast<pid_t>(std::stol(name));
    const auto s = proc_stat(pid);
    if (s && (pid == parent || s->ppid == parent)) total += s->cpu_s;
  }
  return total;
}

std::string load_average() {
  const std::string t = read_text("/proc/loadavg").value_or("");
  std::istringstream in(t);
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

// Every box holds a socket in the broker and 4 descriptors in its simulator (journal, WAL,
// shared memory, socket); children inherit our limit, so raise the soft limit to the hard one.
// Returns the limit now in force.
rlim_t raise_fd_limit() {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) != 0) return 0;
  if (r.rlim_cur < r.rlim_max) {
    rlimit raised = r;
    raised.rlim_cur = r.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) return raised.rlim_cur;
  }
  return r.rlim_cur;
}

Result<int> run_to_end(std::vector<std::string> argv, const fs::path& log,
                       milliseconds timeout = seconds(120)) {
  SpawnOptions o;
  o.log_path = log;
  RC_ASSIGN_OR_RETURN(auto p, Process::spawn(std::move(argv), o));
  auto status = p->wait(timeout);
  if (!status.ok()) {
    (void)p->kill();
    return make_error(ErrorCode::kDeadlineExceeded,
                      log.filename().string() + ": did not finish:\n" + tail(log));
  }
  return *status;
}

// GET a path on 127.0.0.1:port; the body, or an error naming what failed.
Result<std::string> http_get(int port, const std::string& path) {
  httplib::Client cli("127.0.0.1", port);
  cli.set_connection_timeout(seconds(2));
  cli.set_read_timeout(seconds(10));
  auto res = cli.Get(path.c_str());
  if (!res) {
    return make_error(ErrorCode::kUnavailable, "GET " + path + " on port " + std::to_string(port) +
                                                   ": " + httplib::to_string(res.error()));
  }
  if (res->status != 200) {
    return make_error(ErrorCode::kUnavailable,
                      "GET " + path + ": HTTP " + std::to_string(res->status));
  }
  return res->body;
}

// The sum of every sample of a Prometheus metric whose line contains `label` (e.g.
// `reason="unknown_box"`; empty: all of them).
double metric_sum(const std::string& text, const std::string& name, const std::string& label = "") {
  double sum = 0;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (line.rfind(name, 0) != 0) continue;
    const char next = line.size() > name.size() ? line[name.size()] : '\0';
    if (next != '{' && next != ' ') continue;  // another metric with this prefix
    if (!label.empty() && line.find(label) == std::string::npos) continue;
    const std::size_t space = line.rfind(' ');
    if (space == std::string::npos) continue;
    sum += std::strtod(line.c_str() + space + 1, nullptr);
  }
  return sum;
}

// ---- the servers -------------------------------------------------------------------------------

Result<fs::path> write_controller_config(const fs::path& dir, const std::string& conninfo,
                                         const std::string& broker_uri, int public_port,
                                         int internal_port, const B7Options& o) {
  const nlohmann::json c = {{"database", {{"conninfo", conninfo}}},
                            {"public_listener", {{"host", "127.0.0.1"}, {"port", public_port}}},
                            {"internal_listener", {{"host", "127.0.0.1"}, {"port", internal_port}}},
                            {"passwords", {{"opslimit", 1}, {"memlimit_bytes", 8192}}},
                            {"mqtt", {{"uri", broker_uri}, {"client_id", "bench-b7-controller"}}},
                            {"tokens", {{"key_dir", (dir / "keys").string()}}},
                            {"log", {{"level", o.log_level}, {"format", "text"}}}};
  const fs::path path = dir / "controller.json";
  std::ofstream f(path);
  f << c.dump(2) << "\n";
  f.close();
  if (!f) return make_error(ErrorCode::kIo, "cannot write " + path.string());
  return path;
}

struct FleetSpec {
  std::string prefix;  // "b7p01-"
  int boxes = 0;
};

// The rows register_box() writes (boxes, 24 compartments each), in bulk: 10,000 boxes one by one
// through the API would take minutes. config_revision 1 > config_published_revision 0 marks a
// config to publish, which the registration API's publish_config() would have done: the
// controller's bridge publishes every pending config when it connects.
Status register_boxes(const std::string& conninfo, const std::vector<FleetSpec>& fleets) {
  try {
    pqxx::connection conn(conninfo);
    pqxx::work tx(conn);
    for (const FleetSpec& f : fleets) {
      tx.exec_params(
          "INSERT INTO boxes (id, created_at, config_revision) SELECT $1 || lpad(i::text, 5, '0'), "
          "now(), 1 FROM generate_series(1, $2) AS i",
          f.prefix, f.boxes);
    }
    tx.exec(
        "INSERT INTO compartments (box_id, number, size_class) SELECT b.id, c, (ARRAY['S', 'M', "
        "'L', 'XL'])[(c - 1) % 4 + 1] FROM boxes b, generate_series(1, " +
        std::to_string(kCompartments) + ") AS c WHERE b.id LIKE '" + kIdPrefix + "%'");
    tx.commit();
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kUnavailable, std::string("registering boxes: ") + e.what());
  }
  return ok_status();
}

Result<std::int64_t> scalar(const std::string& conninfo, const std::string& sql) {
  try {
    pqxx::connection conn(conninfo);
    pqxx::nontransaction tx(conn);
    const auto r = tx.exec(sql);
    return r[0][0].is_null() ? 0 : r[0][0].as<std::int64_t>();
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kUnavailable, sql + ": " + e.what());
  }
}

// Polls `sql` until it returns `want` or `timeout` passes; the last value.
std::int64_t wait_for_value(const std::string& conninfo, const std::string& sql, std::int64_t want,
                            milliseconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  std::int64_t last = -1;
  while (SteadyClock::now() < deadline) {
    last = scalar(conninfo, sql).value_or(-1);
    if (last == want) break;
    std::this_thread::sleep_for(milliseconds(250));
  }
  return last;
}

struct BoxCounts {
  std::int64_t online = 0;
  std::int64_t heartbeat = 0;  // a state report applied since the window began
  std::int64_t events = 0;     // at least one event applied
  std::int64_t flowing = 0;    // all three
  std::int64_t applied = 0;    // sum of last_applied_seq
};

Result<BoxCounts> box_counts(const std::string& conninfo, std::int64_t since_wall_ms) {
  try {
    pqxx::connection conn(conninfo);
    pqxx::nontransaction tx(conn);
    const auto r = tx.exec_params(
        "SELECT count(*) FILTER (WHERE online), "
        "count(*) FILTER (WHERE last_state_at >= to_timestamp($1::double precision / 1000)), "
        "count(*) FILTER (WHERE last_applied_seq > 0), "
        "count(*) FILTER (WHERE online AND last_applied_seq > 0 AND "
        "last_state_at >= to_timestamp($1::double precision / 1000)), "
        "COALESCE(sum(last_applied_seq), 0) FROM boxes WHERE id LIKE $2",
        static_cast<double>(since_wall_ms), std::string(kIdPrefix) + "%");
    BoxCounts c;
    c.online = r[0][0].as<std::int64_t>();
    c.heartbeat = r[0][1].as<std::int64_t>();
    c.events = r[0][2].as<std::int64_t>();
    c.flowing = r[0][3].as<std::int64_t>();
    c.applied = r[0][4].as<std::int64_t>();
    return c;
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kUnavailable, std::string("counting boxes: ") + e.what());
  }
}

// ---- the fleets --------------------------------------------------------------------------------

struct FleetProcess {
  FleetSpec spec;
  double events_per_minute = 0;  // 0: heartbeats only
  int http_port = 0;
  fs::path log;
  fs::path json_out;
  std::unique_ptr<Process> process;
  nlohmann::json live;   // /api/fleet at the end of the window
  nlohmann::json final;  // the summary it wrote when stopped
};

Result<nlohmann::json> fleet_summary(const FleetProcess& f) {
  RC_ASSIGN_OR_RETURN(const std::string body, http_get(f.http_port, "/api/fleet"));
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return make_error(ErrorCode::kDataLoss, "/api/fleet of " + f.spec.prefix + ": not JSON");
  }
  return j;
}

std::uint64_t u64(const nlohmann::json& j, const nlohmann::json::json_pointer& at) {
  return j.contains(at) && j.at(at).is_number() ? j.at(at).get<std::uint64_t>() : 0;
}

Status spawn_fleet(FleetProcess& f, const std::string& broker_uri, const B7Options& o,
                   int state_interval_s) {
  RC_ASSIGN_OR_RETURN(f.http_port, testsupport::free_tcp_port());
  std::ostringstream epm;
  epm << f.events_per_minute;
  std::ostringstream hz;
  hz << o.step_hz;
  SpawnOptions spawn;
  spawn.log_path = f.log;
  // --no-fsync: each box's journal with synchronous=NORMAL. A real box syncs to its own SD card;
  // ten thousand journals syncing to this one shared virtual disk would measure the disk.
  // --key-id: the visits' tokens are signed with a fresh key the fleet's box configurations trust.
  // Its id must differ from the controller's signing keys (1, 2, ...): the controller's config,
  // which every box receives, carries those, and a controller key replaces a configured key of
  // the same id in the box (Box::rebuild_keys), after which every visit would be refused.
  const std::vector<std::pair<std::string, std::string>> args = {
      {"--boxes", std::to_string(f.spec.boxes)},
      {"--broker", broker_uri},
      {"--box-prefix", f.spec.prefix},
      {"--compartments", std::to_string(kCompartments)},
      {"--events-per-minute", epm.str()},
      {"--state-interval", std::to_string(state_interval_s)},
      {"--step-hz", hz.str()},
      {"--key-id", std::to_string(kFleetKeyId)},
      {"--connect-rate", std::to_string(o.connect_rate)},
      {"--duration", "0"},
      {"--progress", "10"},
      {"--http", "127.0.0.1:" + std::to_string(f.http_port)},
      {"--json-out", f.json_out.string()},
      {"--log-level", "warn"}};
  std::vector<std::string> argv = {o.sim, "fleet", "--no-fsync"};
  for (const auto& [name, value] : args) {
    argv.push_back(name);
    argv.push_back(value);
  }
  RC_ASSIGN_OR_RETURN(f.process, Process::spawn(std::move(argv), spawn));
  return ok_status();
}

// Waits until every box of the fleet runs and is connected (or failed), `timeout` at most.
// Returns the last summary seen.
Result<nlohmann::json> wait_fleet_up(FleetProcess& f, milliseconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  nlohmann::json last;
  while (SteadyClock::now() < deadline) {
    if (!f.process->running()) {
      return make_error(ErrorCode::kUnavailable,
                        "reclothes-sim fleet " + f.spec.prefix + " exited:\n" + tail(f.log));
    }
    auto j = fleet_summary(f);
    if (j.ok()) {
      last = *j;
      const auto boxes = static_cast<std::uint64_t>(f.spec.boxes);
      const std::uint64_t failed = u64(last, "/boxes_failed"_json_pointer);
      if (u64(last, "/boxes_running"_json_pointer) + failed >= boxes &&
          u64(last, "/connected"_json_pointer) + failed >= boxes) {
        return last;
      }
    }
    std::this_thread::sleep_for(milliseconds(250));
  }
  return last;  // not all up: the figures will say how many
}

// Copies the logs of the run into <out>/b7-logs/ when it goes out of scope, whatever happened,
// because the scratch directory (and the servers' own) are removed: a missed target or a failure
// is explained by them.
class LogKeeper {
 public:
  explicit LogKeeper(fs::path to) : to_(std::move(to)) {}
  ~LogKeeper() {
    std::error_code ec;
    fs::create_directories(to_, ec);
    for (const auto& [from, name] : files_) {
      fs::copy_file(from, to_ / name, fs::copy_options::overwrite_existing, ec);
    }
  }
  LogKeeper(const LogKeeper&) = delete;
  LogKeeper& operator=(const LogKeeper&) = delete;
  void add(fs::path from, std::string name) {
    files_.emplace_back(std::move(from), std::move(name));
  }

 private:
  fs::path to_;
  std::vector<std::pair<fs::path, std::string>> files_;
};

// ---- the run -----------------------------------------------------------------------------------

struct Sampled {
  std::vector<double> sims_rss;  // KiB, one per second
  std::vector<double> broker_rss;
  std::vector<double> controller_rss;
};

Status run(Output& out, const CommonOptions& options, B7Options o) {
  if (o.boxes == 0) o.boxes = options.quick ? 200 : 10'000;
  // Full: longer than the heartbeat interval, so that every box's periodic report falls inside.
  if (o.window_seconds == 0) o.window_seconds = options.quick ? 8 : 90;
  const int state_interval_s =
      o.state_interval_s > 0 ? o.state_interval_s : (options.quick ? 5 : 60);
  const double events_per_minute =
      o.events_per_minute >= 0 ? o.events_per_minute : (options.quick ? 12.0 : 2.0);
  if (o.boxes < 1 || o.per_process < 1 || o.per_process > 99'999 || o.window_seconds < 1) {
    return make_error(ErrorCode::kInvalidArgument,
                      "--boxes >= 1, --per-process 1..99999 and --window >= 1 are required");
  }
  const int visiting =
      std::min(o.boxes, o.visiting_boxes >= 0 ? o.visiting_boxes : (options.quick ? o.boxes : 100));
  const auto processes_for = [&](int n) { return (n + o.per_process - 1) / o.per_process; };
  const int visiting_processes = processes_for(visiting);
  const int processes = visiting_processes + processes_for(o.boxes - visiting);
  if (processes > 99) {
    return make_error(ErrorCode::kInvalidArgument, "at most 99 simulator processes");
  }
  const rlim_t fd_limit = raise_fd_limit();

  RC_ASSIGN_OR_RETURN(ScratchDir scratch, ScratchDir::create(out.dir(), "b7-work-"));
  const fs::path dir = scratch.path();

  std::cout << "B7: " << o.boxes << " boxes in " << processes << " reclothes-sim process(es), "
            << "a state report every " << state_interval_s << " s per box, visits ("
            << events_per_minute << " events/min asked) in " << visiting << " of the boxes, "
            << "window " << o.window_seconds << " s; fd limit " << fd_limit
            << "; starting PostgreSQL (" << (o.durable ? "durable" : "fsync off")
            << "), Mosquitto and the controller ..." << std::endl;
  testsupport::PostgresServer::Options pg_options;
  pg_options.durable = o.durable;
  RC_ASSIGN_OR_RETURN(auto pg, testsupport::PostgresServer::start(pg_options));
  RC_ASSIGN_OR_RETURN(const std::string conninfo, pg->create_database("reclothes"));
  testsupport::MosquittoServer::Options broker_options;
  // No persistence: tests/support saves the whole broker state every second when it is on, which
  // with ten thousand sessions would be the broker's main work (production saves far less often).
  broker_options.persistence = false;
  RC_ASSIGN_OR_RETURN(auto broker, testsupport::MosquittoServer::start(broker_options));
  // Declared after the servers and the scratch directory, so it copies before they are removed.
  LogKeeper logs(out.dir() / "b7-logs");
  logs.add(broker->log_path(), "mosquitto.log");
  logs.add(pg->log_path(), "postgres.log");
  logs.add(dir / "migrate.log", "migrate.log");
  logs.add(dir / "controller.log", "controller.log");

  RC_ASSIGN_OR_RETURN(const int public_port, testsupport::free_tcp_port());
  RC_ASSIGN_OR_RETURN(const int internal_port, testsupport::free_tcp_port());
  RC_ASSIGN_OR_RETURN(
      const fs::path config,
      write_controller_config(dir, conninfo, broker->uri(), public_port, internal_port, o));
  RC_ASSIGN_OR_RETURN(
      const int migrated,
      run_to_end({o.controller, "migrate", "--config", config.string()}, dir / "migrate.log"));
  if (migrated != 0) {
    return make_error(ErrorCode::kInternal, "reclothes-controller migrate exited with " +
                                                std::to_string(migrated) + ":\n" +
                                                tail(dir / "migrate.log"));
  }

  std::vector<FleetProcess> fleets(static_cast<std::size_t>(processes));
  std::vector<FleetSpec> specs;
  for (int i = 0; i < processes; ++i) {
    FleetProcess& f = fleets[static_cast<std::size_t>(i)];
    char prefix[16];
    std::snprintf(prefix, sizeof prefix, "%s%02d-", kIdPrefix, i + 1);
    f.spec.prefix = prefix;
    // The visiting boxes first, then the others; each group spread evenly over its processes
    // (9,900 in 10 of 990).
    const bool visits = i < visiting_processes;
    const int group = visits ? visiting : o.boxes - visiting;
    const int group_processes = visits ? visiting_processes : processes - visiting_processes;
    const int k = visits ? i : i - visiting_processes;
    f.spec.boxes = group / group_processes + (k < group % group_processes ? 1 : 0);
    f.events_per_minute = visits ? events_per_minute : 0.0;
    f.log = dir / ("fleet-" + std::to_string(i + 1) + ".log");
    f.json_out = dir / ("fleet-" + std::to_string(i + 1) + ".json");
    specs.push_back(f.spec);
    logs.add(f.log, f.log.filename().string());
    logs.add(f.json_out, f.json_out.filename().string());
  }
  const auto t_register = SteadyClock::now();
  RC_TRY(register_boxes(conninfo, specs));
  const double register_s = std::chrono::duration<double>(SteadyClock::now() - t_register).count();

  const fs::path controller_log = dir / "controller.log";
  SpawnOptions spawn;
  spawn.log_path = controller_log;
  RC_ASSIGN_OR_RETURN(auto controller,
                      Process::spawn({o.controller, "serve", "--config", config.string()}, spawn));
  RC_TRY(testsupport::wait_until_listening(*controller, internal_port, seconds(30)));
  {
    const auto deadline = SteadyClock::now() + seconds(30);
    while (!http_get(internal_port, "/readyz").ok()) {
      if (SteadyClock::now() > deadline) {
        return make_error(ErrorCode::kDeadlineExceeded,
                          "the controller did not become ready:\n" + tail(controller_log));
      }
      std::this_thread::sleep_for(milliseconds(100));
    }
  }
  // The configs of the registration, published by the controller before any box starts (they
  // are retained: each box gets its own when it subscribes).
  const auto t_configs = SteadyClock::now();
  const std::int64_t unpublished = wait_for_value(
      conninfo, "SELECT count(*) FROM boxes WHERE config_published_revision < config_revision", 0,
      options.quick ? seconds(30) : seconds(300));
  const double configs_s = std::chrono::duration<double>(SteadyClock::now() - t_configs).count();
  std::cout << "B7: " << o.boxes << " boxes registered in " << format_number(register_s, 1)
            << " s; controller published their configs in " << format_number(configs_s, 1) << " s"
            << (unpublished != 0 ? " (" + std::to_string(unpublished) + " not published)"
                                 : std::string())
            << std::endl;

  const pid_t broker_pid = broker->pid();
  const pid_t controller_pid = controller->pid();
  const pid_t pg_pid = pg->pid();
  const double broker_rss0 = rss_kib(broker_pid);
  const double controller_rss0 = rss_kib(controller_pid);
  RC_ASSIGN_OR_RETURN(const std::string metrics0, http_get(internal_port, "/metrics"));

  // The fleets, one after the other. Each connects its boxes (500 a second), and every box
  // starts with a burst (status, state reports, its boot event and, with visits, a first visit):
  // the next fleet starts once the controller has caught up with it (every box online and its
  // boot event applied). If it does not within the time limit, no more fleets are started: the
  // controller's bridge blocks Paho's receive thread when its queue is full and can then deadlock
  // (docs/performance.md, B7), and a run past that point would measure nothing.
  const auto t_fleets = SteadyClock::now();
  std::size_t started = 0;
  std::string ramp_stopped;
  nlohmann::json ramp = nlohmann::json::array();
  for (FleetProcess& f : fleets) {
    const auto t_fleet = SteadyClock::now();
    RC_TRY(spawn_fleet(f, broker->uri(), o, state_interval_s));
    ++started;
    RC_ASSIGN_OR_RETURN(const nlohmann::json up,
                        wait_fleet_up(f, options.quick ? seconds(30) : seconds(120)));
    const double up_s = std::chrono::duration<double>(SteadyClock::now() - t_fleet).count();
    const std::string like = " AND id LIKE '" + f.spec.prefix + "%'";
    const std::int64_t caught_up = wait_for_value(
        conninfo, "SELECT count(*) FROM boxes WHERE online AND last_applied_seq > 0" + like,
        f.spec.boxes, options.quick ? seconds(20) : seconds(90));
    const double caught_s = std::chrono::duration<double>(SteadyClock::now() - t_fleet).count();
    std::cout << "B7: fleet " << f.spec.prefix << ": " << u64(up, "/connected"_json_pointer) << "/"
              << f.spec.boxes << " connected in " << format_number(up_s, 1) << " s ("
              << u64(up, "/boxes_failed"_json_pointer) << " failed); controller caught up with "
              << caught_up << " of them after " << format_number(caught_s, 1) << " s; load "
              << load_average() << std::endl;
    ramp.push_back({{"prefix", f.spec.prefix},
                    {"boxes", f.spec.boxes},
                    {"visits", f.events_per_minute > 0},
                    {"connected", u64(up, "/connected"_json_pointer)},
                    {"connected_s", up_s},
                    {"controller_caught_up", caught_up},
                    {"caught_up_s", caught_s},
                    {"load", load_average()}});
    if (caught_up != f.spec.boxes) {
      ramp_stopped = "the controller did not catch up with fleet " + f.spec.prefix + " (" +
                     std::to_string(caught_up) + "/" + std::to_string(f.spec.boxes) +
                     " boxes online with their boot event applied)";
      std::cout << "B7: " << ramp_stopped << ": no more fleets started" << std::endl;
      break;
    }
  }
  fleets.resize(started);
  // The most boxes the controller had caught up with during the ramp (every box of every fleet
  // before the one that failed): where it stood before a stall, if one came.
  std::int64_t kept_up = 0;
  for (const auto& step : ramp) {
    if (step["controller_caught_up"].get<std::int64_t>() != step["boxes"].get<std::int64_t>())
      break;
    kept_up += step["boxes"].get<std::int64_t>();
  }
  int started_boxes = 0;
  for (const FleetProcess& f : fleets) started_boxes += f.spec.boxes;
  const double ramp_s = std::chrono::duration<double>(SteadyClock::now() - t_fleets).count();
  const std::int64_t online = scalar(conninfo,
                                     "SELECT count(*) FROM boxes WHERE online AND id "
                                     "LIKE '" +
                                         std::string(kIdPrefix) + "%'")
                                  .value_or(-1);
  std::cout << "B7: " << started_boxes << " boxes started, " << online
            << " online at the controller after " << format_number(ramp_s, 1) << " s; measuring "
            << o.window_seconds << " s ..." << std::endl;
  std::this_thread::sleep_for(options.quick ? seconds(1) : seconds(5));

  // ---- the window ----
  const std::int64_t window_start_ms =
      std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  RC_ASSIGN_OR_RETURN(const BoxCounts start_counts, box_counts(conninfo, window_start_ms));
  RC_ASSIGN_OR_RETURN(const std::string metrics1, http_get(internal_port, "/metrics"));
  std::uint64_t journaled0 = 0;
  std::uint64_t reports0 = 0;
  for (const FleetProcess& f : fleets) {
    const auto j = fleet_summary(f);
    if (j.ok()) {
      journaled0 += u64(*j, "/events/journaled"_json_pointer);
      reports0 += u64(*j, "/state_reports"_json_pointer);
    }
  }
  // A controller that applies nothing for 10 s while boxes report is stalled (see above).
  const auto applied_messages = [](const std::string& metrics) {
    return metric_sum(metrics, "mqtt_messages_received_total");
  };
  double last_received = applied_messages(metrics1);
  int quiet_s = 0;
  std::optional<int> stalled_at_s;
  std::vector<double> sim_cpu0;
  for (const FleetProcess& f : fleets) sim_cpu0.push_back(cpu_seconds(f.process->pid()));
  const double broker_cpu0 = cpu_seconds(broker_pid);
  const double controller_cpu0 = cpu_seconds(controller_pid);
  const double pg_cpu0 = cpu_seconds_with_children(pg_pid);
  const auto machine0 = machine_jiffies();
  const auto t0 = SteadyClock::now();
  Sampled sampled;
  std::string crashed;
  for (int s = 0; s < o.window_seconds; ++s) {
    std::this_thread::sleep_for(seconds(1));
    double sims = 0;
    for (FleetProcess& f : fleets) {
      if (!f.process->running()) {
        crashed += f.spec.prefix + " ";
        continue;
      }
      sims += rss_kib(f.process->pid());
    }
    sampled.sims_rss.push_back(sims);
    sampled.broker_rss.push_back(rss_kib(broker_pid));
    sampled.controller_rss.push_back(rss_kib(controller_pid));
    if (!crashed.empty() || !controller->running()) break;
    if ((s + 1) % 5 == 0) {
      const double received = applied_messages(http_get(internal_port, "/metrics").value_or(""));
      quiet_s = received > last_received ? 0 : quiet_s + 5;
      last_received = std::max(last_received, received);
      if (quiet_s >= 10 && !stalled_at_s) {
        stalled_at_s = s + 1 - quiet_s;
        std::cout << "B7: the controller has taken no MQTT message for " << quiet_s << " s: stalled"
                  << std::endl;
      }
    }
  }
  const double window_s = std::chrono::duration<double>(SteadyClock::now() - t0).count();
  const auto machine1 = machine_jiffies();
  double sims_cpu = 0;
  for (std::size_t i = 0; i < fleets.size(); ++i) {
    sims_cpu += cpu_seconds(fleets[i].process->pid()) - sim_cpu0[i];
  }
  const double broker_cpu = cpu_seconds(broker_pid) - broker_cpu0;
  const double controller_cpu = cpu_seconds(controller_pid) - controller_cpu0;
  const double pg_cpu = cpu_seconds_with_children(pg_pid) - pg_cpu0;
  double sims_rss_end = 0;
  for (FleetProcess& f : fleets) {
    if (f.process->running()) sims_rss_end += rss_kib(f.process->pid());
  }
  const double broker_rss_end = rss_kib(broker_pid);
  const double controller_rss_end = rss_kib(controller_pid);
  RC_ASSIGN_OR_RETURN(const BoxCounts end_counts, box_counts(conninfo, window_start_ms));
  RC_ASSIGN_OR_RETURN(const std::string metrics2, http_get(internal_port, "/metrics"));
  std::uint64_t connected = 0;
  std::uint64_t max_lag_ms = 0;
  std::uint64_t journaled1 = 0;
  std::uint64_t reports1 = 0;
  for (FleetProcess& f : fleets) {
    auto live = fleet_summary(f);
    if (live.ok()) {
      f.live = *live;
      connected += u64(f.live, "/connected"_json_pointer);
      journaled1 += u64(f.live, "/events/journaled"_json_pointer);
      reports1 += u64(f.live, "/state_reports"_json_pointer);
      if (f.live.contains("max_step_lag_ms") && f.live["max_step_lag_ms"].is_number()) {
        max_lag_ms = std::max(max_lag_ms,
                              static_cast<std::uint64_t>(f.live["max_step_lag_ms"].get<double>()));
      }
    }
  }

  // ---- stop the fleets (each closes its sessions cleanly and writes its summary) ----
  std::cout << "B7: stopping the fleets ..." << std::endl;
  for (FleetProcess& f : fleets) {
    if (f.process->running()) (void)f.process->send_signal(SIGINT);
  }
  int bad_exits = 0;
  for (FleetProcess& f : fleets) {
    auto status = f.process->stop(seconds(90), SIGINT);
    if (!status.ok() || *status != 0) ++bad_exits;
    auto text = read_text(f.json_out);
    if (text.ok()) {
      auto j = nlohmann::json::parse(*text, nullptr, false);
      if (!j.is_discarded()) f.final = std::move(j);
    }
  }
  // Let the controller apply what was still on its way, then compare with the journals.
  std::int64_t applied_final = -1;
  for (int i = 0; i < 60; ++i) {
    auto c = box_counts(conninfo, window_start_ms);
    if (c.ok() && c->applied == applied_final) break;
    if (c.ok()) applied_final = c->applied;
    std::this_thread::sleep_for(milliseconds(500));
  }
  RC_ASSIGN_OR_RETURN(const std::string metrics3, http_get(internal_port, "/metrics"));
  // A controller that does not stop cleanly on SIGTERM (a stalled bridge never does) is an error.
  RC_ASSIGN_OR_RETURN(const int controller_exit, controller->stop(seconds(30)));

  std::uint64_t failed = 0, step_errors = 0, visits_failed = 0, visits = 0;
  std::uint64_t journaled = 0, acked = 0, backlog = 0, state_reports = 0;
  std::string last_error;
  nlohmann::json per_fleet = nlohmann::json::array();
  for (const FleetProcess& f : fleets) {
    const nlohmann::json& j = f.final.is_object() ? f.final : f.live;
    if (!f.final.is_object()) ++bad_exits;  // no summary written
    failed += u64(j, "/boxes_failed"_json_pointer);
    step_errors += u64(j, "/errors"_json_pointer);
    visits += u64(j, "/visits/completed"_json_pointer);
    visits_failed += u64(j, "/visits/failed"_json_pointer);
    journaled += u64(j, "/events/journaled"_json_pointer);
    acked += u64(j, "/events/acked"_json_pointer);
    backlog += u64(j, "/events/backlog"_json_pointer);
    state_reports += u64(j, "/state_reports"_json_pointer);
    if (j.contains("last_error") && j["last_error"].is_string() &&
        !j["last_error"].get<std::string>().empty()) {
      last_error = j["last_error"].get<std::string>();
    }
    per_fleet.push_back({{"prefix", f.spec.prefix},
                         {"boxes", f.spec.boxes},
                         {"connected_in_window", u64(f.live, "/connected"_json_pointer)},
                         {"live", f.live},
                         {"final", f.final}});
  }
  const double rejected = metric_sum(metrics3, "box_events_rejected_total") -
                          metric_sum(metrics0, "box_events_rejected_total");
  // Acked by the controller but not in its table: lost (cannot happen if apply-then-ack holds).
  const std::int64_t lost =
      std::max<std::int64_t>(0, static_cast<std::int64_t>(acked) - applied_final);
  // Boxes that were started but not connected at the end of the window. Boxes never started
  // (the ramp stopped) are the figure's shortfall, not errors.
  const auto started_u = static_cast<std::uint64_t>(started_boxes);
  const std::uint64_t not_connected = connected >= started_u ? 0 : started_u - connected;
  const int controller_errors = (stalled_at_s ? 1 : 0) + (controller_exit != 0 ? 1 : 0);
  const double errors = static_cast<double>(failed + step_errors + visits_failed + not_connected +
                                            static_cast<std::uint64_t>(bad_exits)) +
                        rejected + static_cast<double>(lost) + controller_errors;

  const double applied_in_window = metric_sum(metrics2, "box_events_applied_total") -
                                   metric_sum(metrics1, "box_events_applied_total");
  const double states_in_window =
      metric_sum(metrics2, "mqtt_messages_received_total", "\"state\"") -
      metric_sum(metrics1, "mqtt_messages_received_total", "\"state\"");
  const double machine_busy =
      machine1.second > machine0.second
          ? 100.0 * (machine1.first - machine0.first) / (machine1.second - machine0.second)
          : 0;
  auto pct = [&](double cpu_s) { return 100.0 * cpu_s / window_s; };
  const double asked_d = static_cast<double>(o.boxes);
  const double boxes_d = static_cast<double>(std::max(started_boxes, 1));
  // What the boxes offered in the window (from the fleets), beside what the controller applied.
  const double offered_events = static_cast<double>(journaled1 - std::min(journaled1, journaled0));
  const double offered_reports = static_cast<double>(reports1 - std::min(reports1, reports0));

  std::cout << "  boxes: " << end_counts.flowing << " flowing of " << started_boxes
            << " started (online " << end_counts.online << ", heartbeat in window "
            << end_counts.heartbeat << ", events applied " << end_counts.events
            << "), fleets report " << connected << " connected"
            << (ramp_stopped.empty() ? "" : "; ramp stopped: " + ramp_stopped)
            << (stalled_at_s ? "; controller stalled at " + std::to_string(*stalled_at_s) +
                                   " s into the window"
                             : "")
            << "\n"
            << "  in the window: offered " << format_number(offered_events / window_s, 1)
            << " events/s and " << format_number(offered_reports / window_s, 1)
            << " state reports/s; applied " << format_number(applied_in_window / window_s, 1)
            << " events/s and " << format_number(states_in_window / window_s, 1)
            << " state reports/s; max step lag " << max_lag_ms << " ms\n"
            << "  CPU % of one core: simulators " << format_number(pct(sims_cpu), 0) << ", broker "
            << format_number(pct(broker_cpu), 0) << ", controller "
            << format_number(pct(controller_cpu), 0) << ", PostgreSQL "
            << format_number(pct(pg_cpu), 0) << "; machine busy " << format_number(machine_busy, 0)
            << " % of all cores; load " << load_average() << "\n"
            << "  RSS: simulators " << format_number(sims_rss_end / 1024, 0) << " MiB, broker "
            << format_number(broker_rss_end / 1024, 1) << " MiB (was "
            << format_number(broker_rss0 / 1024, 1) << "), controller "
            << format_number(controller_rss_end / 1024, 1) << " MiB (was "
            << format_number(controller_rss0 / 1024, 1) << ")\n"
            << "  after stop: journaled " << journaled << ", acked " << acked << ", in the "
            << "controller " << applied_final << ", backlog " << backlog << "; errors: failed "
            << failed << ", step errors " << step_errors << ", visits failed " << visits_failed
            << ", not connected " << not_connected << ", rejected " << rejected << ", lost " << lost
            << ", bad exits " << bad_exits << ", controller stalled "
            << (stalled_at_s ? "yes" : "no") << ", controller exit " << controller_exit
            << (crashed.empty() ? "" : ", crashed: " + crashed)
            << (last_error.empty() ? "" : "; last error: " + last_error) << std::endl;
  if (unpublished != 0) {
    std::cout << "  note: " << unpublished << " box configs were not published in time"
              << std::endl;
  }

  const nlohmann::json details = {
      {"quick", options.quick},
      {"boxes", o.boxes},
      {"processes", processes},
      {"per_process", o.per_process},
      {"window_s", window_s},
      {"events_per_minute_per_box", events_per_minute},
      {"state_interval_s", state_interval_s},
      {"step_hz", o.step_hz},
      {"postgres_durable", o.durable},
      {"fd_limit", static_cast<std::uint64_t>(fd_limit)},
      {"register_s", register_s},
      {"configs_published_s", configs_s},
      {"configs_unpublished", unpublished},
      {"ramp_s", ramp_s},
      {"ramp", ramp},
      {"ramp_stopped", ramp_stopped},
      {"kept_up_in_ramp", kept_up},
      {"connect_rate", o.connect_rate},
      {"started_boxes", started_boxes},
      {"visiting_boxes", visiting},
      {"controller_stalled_at_s",
       stalled_at_s ? nlohmann::json(*stalled_at_s) : nlohmann::json(nullptr)},
      {"offered_events_per_s", offered_events / window_s},
      {"offered_state_reports_per_s", offered_reports / window_s},
      {"online_before_window", online},
      {"counts_at_window_start",
       {{"online", start_counts.online}, {"events", start_counts.events}}},
      {"counts_at_window_end",
       {{"online", end_counts.online},
        {"heartbeat_in_window", end_counts.heartbeat},
        {"events_applied", end_counts.events},
        {"flowing", end_counts.flowing}}},
      {"fleets_connected", connected},
      {"events_applied_per_s", applied_in_window / window_s},
      {"state_reports_applied_per_s", states_in_window / window_s},
      {"max_step_lag_ms", max_lag_ms},
      {"cpu_percent_of_one_core",
       {{"simulators", pct(sims_cpu)},
        {"broker", pct(broker_cpu)},
        {"controller", pct(controller_cpu)},
        {"postgres", pct(pg_cpu)},
        {"machine_busy_percent_of_all", machine_busy}}},
      {"load_average_end", load_average()},
      {"events",
       {{"journaled", journaled},
        {"acked", acked},
        {"in_controller", applied_final},
        {"backlog_at_stop", backlog},
        {"visits_completed", visits},
        {"state_reports", state_reports}}},
      {"errors",
       {{"boxes_failed", failed},
        {"step_errors", step_errors},
        {"visits_failed", visits_failed},
        {"not_connected", not_connected},
        {"rejected_by_controller", rejected},
        {"acked_not_applied", lost},
        {"bad_exits", bad_exits},
        {"controller_stalled", stalled_at_s.has_value()},
        {"controller_exit_status", controller_exit},
        {"crashed", crashed},
        {"last_error", last_error}}},
      {"fleets", per_fleet}};

  Record flowing;
  flowing.id = "B7";
  flowing.figure = "fleet: boxes connected, heartbeats and events flowing (" +
                   format_number(asked_d, 0) + " asked)";
  flowing.unit = "boxes";
  flowing.value = static_cast<double>(end_counts.flowing);
  flowing.target = Target::value_at_least(asked_d);
  flowing.details = details;
  RC_TRY(out.add(flowing));

  Record err;
  err.id = "B7";
  err.figure = "fleet: errors";
  err.unit = "errors";
  err.value = errors;
  err.target = Target::value_at_most(0);
  err.details = details["errors"];
  err.details["quick"] = options.quick;
  RC_TRY(out.add(err));

  Record ramped;
  ramped.id = "B7";
  ramped.figure = "fleet: boxes the controller caught up with while they started";
  ramped.unit = "boxes";
  ramped.value = static_cast<double>(kept_up);
  ramped.details = {{"quick", options.quick},
                    {"ramp", ramp},
                    {"ramp_stopped", ramp_stopped},
                    {"connect_rate", o.connect_rate}};
  RC_TRY(out.add(ramped));

  Record rate;
  rate.id = "B7";
  rate.figure = "fleet: events applied by the controller";
  rate.unit = "events/s";
  rate.value = applied_in_window / window_s;
  rate.details = {{"quick", options.quick},
                  {"state_reports_applied_per_s", states_in_window / window_s},
                  {"offered_events_per_s", offered_events / window_s},
                  {"offered_state_reports_per_s", offered_reports / window_s},
                  {"visiting_boxes", visiting},
                  {"events_per_minute_asked", events_per_minute},
                  {"boxes", started_boxes}};
  RC_TRY(out.add(rate));

  const auto mem = [&](const std::string& figure, double kib, nlohmann::json d) -> Status {
    Record r;
    r.id = "B7";
    r.figure = figure;
    r.unit = "KiB";
    r.value = kib;
    d["quick"] = options.quick;
    d["boxes"] = started_boxes;
    r.details = std::move(d);
    return out.add(r);
  };
  const auto peak = [](const std::vector<double>& v) {
    return v.empty() ? 0.0 : *std::max_element(v.begin(), v.end());
  };
  RC_TRY(mem("fleet: memory per box, simulator (RSS / boxes)", sims_rss_end / boxes_d,
             {{"rss_kib", sims_rss_end},
              {"peak_rss_kib", peak(sampled.sims_rss)},
              {"processes", processes}}));
  RC_TRY(mem("fleet: memory per box, broker (RSS growth / boxes)",
             (broker_rss_end - broker_rss0) / boxes_d,
             {{"rss_kib", broker_rss_end},
              {"rss_before_fleet_kib", broker_rss0},
              {"peak_rss_kib", peak(sampled.broker_rss)}}));
  RC_TRY(mem("fleet: memory per box, controller (RSS growth / boxes)",
             (controller_rss_end - controller_rss0) / boxes_d,
             {{"rss_kib", controller_rss_end},
              {"rss_before_fleet_kib", controller_rss0},
              {"peak_rss_kib", peak(sampled.controller_rss)}}));

  return ok_status();
}

}  // namespace
}  // namespace reclothes::bench

int main(int argc, char** argv) {
  CLI::App app{"B7: simulated boxes on one broker and controller: how many flow, errors, memory",
               "bench_b7_fleet"};
  reclothes::bench::CommonOptions options;
  reclothes::bench::B7Options b7;
  app.add_option("--boxes", b7.boxes, "boxes in all (default 10,000, quick 200)")
      ->check(CLI::Range(1, 100'000));
  app.add_option("--per-process", b7.per_process, "boxes per reclothes-sim process")
      ->check(CLI::Range(1, 99'999))
      ->capture_default_str();
  app.add_option("--window", b7.window_seconds, "measured seconds (default 90, quick 8)")
      ->check(CLI::Range(1, 3600));
  app.add_option("--state-interval", b7.state_interval_s,
                 "seconds between heartbeats per box (default 60, quick 5)")
      ->check(CLI::Range(5, 86'400));
  app.add_option("--events-per-minute", b7.events_per_minute,
                 "journal events per box per minute (default 2, quick 12)")
      ->check(CLI::Range(0.0, 600.0));
  app.add_option("--step-hz", b7.step_hz, "main-loop steps per box per second")
      ->check(CLI::Range(0.1, 20.0))
      ->capture_default_str();
  app.add_option("--visiting-boxes", b7.visiting_boxes,
                 "boxes that play visits, the others only heartbeat (default 100, quick all)")
      ->check(CLI::Range(0, 100'000));
  app.add_option("--connect-rate", b7.connect_rate, "new broker connections per second per fleet")
      ->check(CLI::Range(1, 100'000))
      ->capture_default_str();
  app.add_flag("!--fast-postgres", b7.durable,
               "PostgreSQL without fsync (default: durable, as in production)");
  app.add_option("--controller", b7.controller, "the reclothes-controller binary")
      ->capture_default_str();
  app.add_option("--sim", b7.sim, "the reclothes-sim binary")->capture_default_str();
  app.add_option("--log-level", b7.log_level, "the controller's log level")->capture_default_str();
  return reclothes::bench::run_benchmark(
      argc, argv, app, options,
      [&](reclothes::bench::Output& out) { return reclothes::bench::run(out, options, b7); });
}
