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

#include "reclothes/bench/fleet.h"
#include "reclothes/bench/main.h"
#include "reclothes/bench/proc.h"
#include "reclothes/bench/report.h"
#include "reclothes/bench/servers.h"
#include "reclothes/bench/stats.h"

namespace reclothes::bench {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testsupport::Process;
using testsupport::SpawnOptions;

constexpr int kCompartments = 24;
constexpr const char* kIdPrefix = "b7p";  // box ids b7p01-00001 ...: one prefix per process

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
  // controller's queue may not hold (see ramp_up()).
  int connect_rate = 100;
  bool durable = true;  // PostgreSQL with fsync, as in production
  ControllerChoice controller{RECLOTHES_CONTROLLER_BIN, "warn"};
  std::string sim = RECLOTHES_SIM_BIN;
};

std::string load_average() {
  const std::string t = read_text("/proc/loadavg").value_or("");
  std::istringstream in(t);
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

// ---- the servers -------------------------------------------------------------------------------

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

// ---- the plan and the servers ------------------------------------------------------------------

// The run's settings: the options with the defaults that depend on --quick, and how the boxes are
// spread over the simulator processes.
struct Plan {
  B7Options o;  // boxes and window_seconds filled in
  int state_interval_s = 0;
  double events_per_minute = 0;
  int visiting = 0;  // boxes that play visits
  int visiting_processes = 0;
  int processes = 0;
  rlim_t fd_limit = 0;
};

Result<Plan> make_plan(B7Options o, bool quick) {
  Plan p;
  if (o.boxes == 0) o.boxes = quick ? 200 : 10'000;
  // Full: longer than the heartbeat interval, so that every box's periodic report falls inside.
  if (o.window_seconds == 0) o.window_seconds = quick ? 8 : 90;
  p.state_interval_s = o.state_interval_s > 0 ? o.state_interval_s : (quick ? 5 : 60);
  p.events_per_minute = o.events_per_minute >= 0 ? o.events_per_minute : (quick ? 12.0 : 2.0);
  if (o.boxes < 1 || o.per_process < 1 || o.per_process > 99'999 || o.window_seconds < 1) {
    return make_error(ErrorCode::kInvalidArgument,
                      "--boxes >= 1, --per-process 1..99999 and --window >= 1 are required");
  }
  p.visiting =
      std::min(o.boxes, o.visiting_boxes >= 0 ? o.visiting_boxes : (quick ? o.boxes : 100));
  const auto processes_for = [&](int n) { return (n + o.per_process - 1) / o.per_process; };
  p.visiting_processes = processes_for(p.visiting);
  p.processes = p.visiting_processes + processes_for(o.boxes - p.visiting);
  if (p.processes > 99) {
    return make_error(ErrorCode::kInvalidArgument, "at most 99 simulator processes");
  }
  // Every box holds a socket in the broker and 4 descriptors in its simulator (journal, WAL,
  // shared memory, socket); the children inherit our limit.
  p.fd_limit = raise_open_file_limit();
  p.o = std::move(o);
  return p;
}

Result<std::unique_ptr<ControllerStack>> start_servers(const fs::path& dir, const Plan& p) {
  const B7Options& o = p.o;
  std::cout << "B7: " << o.boxes << " boxes in " << p.processes << " reclothes-sim process(es), "
            << "a state report every " << p.state_interval_s << " s per box, visits ("
            << p.events_per_minute << " events/min asked) in " << p.visiting << " of the boxes, "
            << "window " << o.window_seconds << " s; fd limit " << p.fd_limit
            << "; starting PostgreSQL (" << (o.durable ? "durable" : "fsync off")
            << "), Mosquitto and the controller ..." << std::endl;
  // No broker persistence: tests/support saves the whole broker state every second when it is
  // on, which with ten thousand sessions would be the broker's main work (production saves far
  // less often).
  ControllerStackOptions servers;
  servers.controller = o.controller;
  servers.client_id = "bench-b7-controller";
  servers.durable_postgres = o.durable;
  servers.broker_persistence = false;
  return ControllerStack::start(dir, servers);
}

// The fleet processes to start: the visiting boxes first, then the others; each group spread
// evenly over its processes (9,900 in 10 of 990). Their logs and summaries are kept.
std::vector<FleetProcess> plan_fleets(const Plan& p, const fs::path& dir, LogKeeper& logs) {
  std::vector<FleetProcess> fleets(static_cast<std::size_t>(p.processes));
  for (int i = 0; i < p.processes; ++i) {
    FleetProcess& f = fleets[static_cast<std::size_t>(i)];
    char prefix[16];
    std::snprintf(prefix, sizeof prefix, "%s%02d-", kIdPrefix, i + 1);
    f.spec.prefix = prefix;
    const bool visits = i < p.visiting_processes;
    const int group = visits ? p.visiting : p.o.boxes - p.visiting;
    const int group_processes = visits ? p.visiting_processes : p.processes - p.visiting_processes;
    const int k = visits ? i : i - p.visiting_processes;
    f.spec.boxes = group / group_processes + (k < group % group_processes ? 1 : 0);
    f.events_per_minute = visits ? p.events_per_minute : 0.0;
    f.log = dir / ("fleet-" + std::to_string(i + 1) + ".log");
    f.json_out = dir / ("fleet-" + std::to_string(i + 1) + ".json");
    logs.add(f.log, f.log.filename().string());
    logs.add(f.json_out, f.json_out.filename().string());
  }
  return fleets;
}

double seconds_since(SteadyClock::time_point from) {
  return std::chrono::duration<double>(SteadyClock::now() - from).count();
}

struct Setup {
  double register_s = 0;
  double configs_s = 0;
  std::int64_t unpublished = 0;  // box configs the controller had not published in time
};

// Registers the boxes, starts the controller, and waits until it has published the configs of the
// registration before any box starts (they are retained: each box gets its own when it
// subscribes).
Result<Setup> register_and_serve(ControllerStack& stack, const std::vector<FleetProcess>& fleets,
                                 const Plan& p, bool quick) {
  Setup s;
  std::vector<FleetSpec> specs;
  for (const FleetProcess& f : fleets) specs.push_back(f.spec);
  const auto t_register = SteadyClock::now();
  RC_TRY(register_boxes(stack.conninfo(), specs, kCompartments));
  s.register_s = seconds_since(t_register);
  RC_TRY(stack.serve());
  const auto t_configs = SteadyClock::now();
  s.unpublished =
      wait_for_value(stack.conninfo(),
                     "SELECT count(*) FROM boxes WHERE config_published_revision < config_revision",
                     0, quick ? seconds(30) : seconds(300));
  s.configs_s = seconds_since(t_configs);
  std::cout << "B7: " << p.o.boxes << " boxes registered in " << format_number(s.register_s, 1)
            << " s; controller published their configs in " << format_number(s.configs_s, 1) << " s"
            << (s.unpublished != 0 ? " (" + std::to_string(s.unpublished) + " not published)"
                                   : std::string())
            << std::endl;
  return s;
}

// ---- the ramp ----------------------------------------------------------------------------------

struct Ramp {
  std::size_t fleets = 0;  // started
  std::string stopped;     // why no more fleets were started; empty: all were
  nlohmann::json steps = nlohmann::json::array();
  std::int64_t kept_up = 0;  // boxes the controller had caught up with (see ramp_up)
  int started_boxes = 0;
  double seconds = 0;
  std::int64_t online = 0;  // at the controller when the ramp ended
};

// Starts one fleet and waits until its boxes are up and the controller has caught up with them
// (every box online and its boot event applied); the ramp's step.
Result<nlohmann::json> start_fleet(FleetProcess& f, ControllerStack& stack, const Plan& p,
                                   bool quick) {
  const auto t_fleet = SteadyClock::now();
  FleetSettings settings;
  settings.sim = p.o.sim;
  settings.compartments = kCompartments;
  settings.state_interval_s = p.state_interval_s;
  settings.step_hz = p.o.step_hz;
  settings.connect_rate = p.o.connect_rate;
  RC_TRY(spawn_fleet(f, stack.broker().uri(), settings));
  RC_ASSIGN_OR_RETURN(const nlohmann::json up,
                      wait_fleet_up(f, quick ? seconds(30) : seconds(120)));
  const double up_s = seconds_since(t_fleet);
  const std::string like = " AND id LIKE '" + f.spec.prefix + "%'";
  const std::int64_t caught_up = wait_for_value(
      stack.conninfo(), "SELECT count(*) FROM boxes WHERE online AND last_applied_seq > 0" + like,
      f.spec.boxes, quick ? seconds(20) : seconds(90));
  const double caught_s = seconds_since(t_fleet);
  std::cout << "B7: fleet " << f.spec.prefix << ": " << u64(up, "/connected"_json_pointer) << "/"
            << f.spec.boxes << " connected in " << format_number(up_s, 1) << " s ("
            << u64(up, "/boxes_failed"_json_pointer) << " failed); controller caught up with "
            << caught_up << " of them after " << format_number(caught_s, 1) << " s; load "
            << load_average() << std::endl;
  return nlohmann::json{{"prefix", f.spec.prefix},
                        {"boxes", f.spec.boxes},
                        {"visits", f.events_per_minute > 0},
                        {"connected", u64(up, "/connected"_json_pointer)},
                        {"connected_s", up_s},
                        {"controller_caught_up", caught_up},
                        {"caught_up_s", caught_s},
                        {"load", load_average()}};
}

// The fleets, one after the other. Each connects its boxes (--connect-rate a second), and every
// box starts with a burst (status, state reports, its boot event and, with visits, a first
// visit): the next fleet starts once the controller has caught up with this one. If it does not
// within the time limit, no more fleets are started: the controller's bridge blocks Paho's receive
// thread when its queue is full and can then deadlock (docs/performance.md, B7), and a run past
// that point would measure nothing. The fleets not started are dropped.
Result<Ramp> ramp_up(std::vector<FleetProcess>& fleets, ControllerStack& stack, const Plan& p,
                     bool quick) {
  Ramp r;
  const auto t_fleets = SteadyClock::now();
  for (FleetProcess& f : fleets) {
    ++r.fleets;
    RC_ASSIGN_OR_RETURN(const nlohmann::json step, start_fleet(f, stack, p, quick));
    r.steps.push_back(step);
    const auto caught_up = step["controller_caught_up"].get<std::int64_t>();
    if (caught_up != f.spec.boxes) {
      r.stopped = "the controller did not catch up with fleet " + f.spec.prefix + " (" +
                  std::to_string(caught_up) + "/" + std::to_string(f.spec.boxes) +
                  " boxes online with their boot event applied)";
      std::cout << "B7: " << r.stopped << ": no more fleets started" << std::endl;
      break;
    }
    // Every box of every fleet before one that failed: where the controller stood before a
    // stall, if one came.
    r.kept_up += f.spec.boxes;
  }
  fleets.resize(r.fleets);
  for (const FleetProcess& f : fleets) r.started_boxes += f.spec.boxes;
  r.seconds = seconds_since(t_fleets);
  r.online = scalar(stack.conninfo(), "SELECT count(*) FROM boxes WHERE online AND id LIKE '" +
                                          std::string(kIdPrefix) + "%'")
                 .value_or(-1);
  std::cout << "B7: " << r.started_boxes << " boxes started, " << r.online
            << " online at the controller after " << format_number(r.seconds, 1) << " s; measuring "
            << p.o.window_seconds << " s ..." << std::endl;
  std::this_thread::sleep_for(quick ? seconds(1) : seconds(5));
  return r;
}

// ---- the window --------------------------------------------------------------------------------

// The processes whose CPU and memory are measured.
struct Pids {
  pid_t broker = 0;
  pid_t controller = 0;
  pid_t postgres = 0;
  explicit Pids(ControllerStack& stack)
      : broker(stack.broker().pid()),
        controller(stack.controller().pid()),
        postgres(stack.postgres().pid()) {}
};

// CPU seconds of everyone at one moment.
struct Cpu {
  std::vector<double> sims;
  double broker = 0;
  double controller = 0;
  double postgres = 0;
  std::pair<double, double> machine;
};

Cpu cpu_now(const std::vector<FleetProcess>& fleets, const Pids& pids) {
  Cpu c;
  for (const FleetProcess& f : fleets) c.sims.push_back(cpu_seconds(f.process->pid()));
  c.broker = cpu_seconds(pids.broker);
  c.controller = cpu_seconds(pids.controller);
  c.postgres = cpu_seconds_with_children(pids.postgres);
  c.machine = machine_jiffies();
  return c;
}

// The fleets' counters summed (from /api/fleet of each): events journaled and state reports.
std::pair<std::uint64_t, std::uint64_t> fleet_counters(const std::vector<FleetProcess>& fleets) {
  std::pair<std::uint64_t, std::uint64_t> sums{0, 0};
  for (const FleetProcess& f : fleets) {
    const auto j = fleet_summary(f);
    if (j.ok()) {
      sums.first += u64(*j, "/events/journaled"_json_pointer);
      sums.second += u64(*j, "/state_reports"_json_pointer);
    }
  }
  return sums;
}

// One reading for each of the processes measured.
struct PerProcess {
  double sims = 0;  // the simulators together
  double broker = 0;
  double controller = 0;
  double postgres = 0;  // the postmaster and its children
};

// What the measured window saw.
struct Window {
  std::int64_t start_wall_ms = 0;
  BoxCounts start_counts;
  BoxCounts end_counts;
  std::string metrics_start;
  std::string metrics_end;
  std::pair<std::uint64_t, std::uint64_t> counters_start;  // journaled, state reports
  std::uint64_t journaled_end = 0;
  std::uint64_t reports_end = 0;
  Sampled sampled;
  std::string crashed;              // prefixes of fleets that exited during the window
  std::optional<int> stalled_at_s;  // when the controller stopped taking messages
  double seconds = 0;
  PerProcess cpu_s;
  double machine_busy = 0;      // percent of all cores
  PerProcess rss_end;           // KiB
  std::uint64_t connected = 0;  // boxes the fleets reported connected at the end
  std::uint64_t max_lag_ms = 0;
};

Status open_window(Window& w, const std::vector<FleetProcess>& fleets, ControllerStack& stack) {
  w.start_wall_ms =
      std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  RC_ASSIGN_OR_RETURN(w.start_counts, box_counts(stack.conninfo(), w.start_wall_ms));
  RC_ASSIGN_OR_RETURN(w.metrics_start, http_get(stack.internal_port(), "/metrics"));
  w.counters_start = fleet_counters(fleets);
  return ok_status();
}

// Messages the controller has taken from the broker.
double received_messages(const std::string& metrics) {
  return metric_sum(metrics, "reclothes_mqtt_messages_received_total");
}

// The window itself: every second the memory of everyone, every 5 s whether the controller still
// takes messages (one that takes none for 10 s while boxes report is stalled: see ramp_up). Ends
// early when a fleet or the controller exits.
void watch_window(Window& w, std::vector<FleetProcess>& fleets, ControllerStack& stack,
                  const Pids& pids, int window_seconds) {
  double last_received = received_messages(w.metrics_start);
  int quiet_s = 0;
  for (int s = 0; s < window_seconds; ++s) {
    std::this_thread::sleep_for(seconds(1));
    double sims = 0;
    for (FleetProcess& f : fleets) {
      if (!f.process->running()) {
        w.crashed += f.spec.prefix + " ";
        continue;
      }
      sims += status_field(f.process->pid(), "VmRSS");
    }
    w.sampled.sims_rss.push_back(sims);
    w.sampled.broker_rss.push_back(status_field(pids.broker, "VmRSS"));
    w.sampled.controller_rss.push_back(status_field(pids.controller, "VmRSS"));
    if (!w.crashed.empty() || !stack.controller().running()) break;
    if ((s + 1) % 5 == 0) {
      const double received =
          received_messages(http_get(stack.internal_port(), "/metrics").value_or(""));
      quiet_s = received > last_received ? 0 : quiet_s + 5;
      last_received = std::max(last_received, received);
      if (quiet_s >= 10 && !w.stalled_at_s) {
        w.stalled_at_s = s + 1 - quiet_s;
        std::cout << "B7: the controller has taken no MQTT message for " << quiet_s << " s: stalled"
                  << std::endl;
      }
    }
  }
}

void take_cpu(Window& w, const Cpu& before, const Cpu& after) {
  for (std::size_t i = 0; i < before.sims.size(); ++i) {
    w.cpu_s.sims += after.sims[i] - before.sims[i];
  }
  w.cpu_s.broker = after.broker - before.broker;
  w.cpu_s.controller = after.controller - before.controller;
  w.cpu_s.postgres = after.postgres - before.postgres;
  w.machine_busy = 100.0 * busy_between(before.machine, after.machine);
}

Status close_window(Window& w, std::vector<FleetProcess>& fleets, ControllerStack& stack,
                    const Pids& pids) {
  for (FleetProcess& f : fleets) {
    if (f.process->running()) w.rss_end.sims += status_field(f.process->pid(), "VmRSS");
  }
  w.rss_end.broker = status_field(pids.broker, "VmRSS");
  w.rss_end.controller = status_field(pids.controller, "VmRSS");
  RC_ASSIGN_OR_RETURN(w.end_counts, box_counts(stack.conninfo(), w.start_wall_ms));
  RC_ASSIGN_OR_RETURN(w.metrics_end, http_get(stack.internal_port(), "/metrics"));
  for (FleetProcess& f : fleets) {
    auto live = fleet_summary(f);
    if (!live.ok()) continue;
    f.live = *live;
    w.connected += u64(f.live, "/connected"_json_pointer);
    w.journaled_end += u64(f.live, "/events/journaled"_json_pointer);
    w.reports_end += u64(f.live, "/state_reports"_json_pointer);
    if (f.live.contains("max_step_lag_ms") && f.live["max_step_lag_ms"].is_number()) {
      w.max_lag_ms = std::max(w.max_lag_ms,
                              static_cast<std::uint64_t>(f.live["max_step_lag_ms"].get<double>()));
    }
  }
  return ok_status();
}

Result<Window> measure_window(std::vector<FleetProcess>& fleets, ControllerStack& stack,
                              const Pids& pids, int window_seconds) {
  Window w;
  RC_TRY(open_window(w, fleets, stack));
  const Cpu before = cpu_now(fleets, pids);
  const auto t0 = SteadyClock::now();
  watch_window(w, fleets, stack, pids, window_seconds);
  w.seconds = seconds_since(t0);
  take_cpu(w, before, cpu_now(fleets, pids));
  RC_TRY(close_window(w, fleets, stack, pids));
  return w;
}

// ---- the end -----------------------------------------------------------------------------------

// Stops the fleets (each closes its sessions cleanly and writes its summary); how many did not
// exit with 0.
int stop_fleets(std::vector<FleetProcess>& fleets) {
  std::cout << "B7: stopping the fleets ..." << std::endl;
  for (FleetProcess& f : fleets) {
    if (f.process->running()) (void)f.process->send_signal(SIGINT);
  }
  int bad_exits = 0;
  for (FleetProcess& f : fleets) {
    if (!stop_fleet(f, seconds(90))) ++bad_exits;
  }
  return bad_exits;
}

// Lets the controller apply what was still on its way (until the sum of last_applied_seq stops
// changing, 30 s at most); that sum.
std::int64_t settle_applied(const std::string& conninfo, std::int64_t since_wall_ms) {
  std::int64_t applied = -1;
  for (int i = 0; i < 60; ++i) {
    auto c = box_counts(conninfo, since_wall_ms);
    if (c.ok() && c->applied == applied) break;
    if (c.ok()) applied = c->applied;
    std::this_thread::sleep_for(milliseconds(500));
  }
  return applied;
}

// The fleets' final summaries added up (their live one at the end of the window where a fleet
// wrote none).
struct Tally {
  struct Errors {
    std::uint64_t failed = 0;  // boxes
    std::uint64_t steps = 0;   // firmware step errors
    std::uint64_t visits = 0;  // failed visits
  } errors;
  struct Events {
    std::uint64_t journaled = 0;
    std::uint64_t acked = 0;
    std::uint64_t backlog = 0;
    std::uint64_t state_reports = 0;
  } events;
  std::uint64_t visits = 0;  // completed
  int no_summary = 0;        // fleets that wrote no summary
  std::string last_error;
  nlohmann::json per_fleet = nlohmann::json::array();
};

Tally tally(const std::vector<FleetProcess>& fleets) {
  Tally t;
  for (const FleetProcess& f : fleets) {
    const nlohmann::json& j = f.final.is_object() ? f.final : f.live;
    if (!f.final.is_object()) ++t.no_summary;
    t.errors.failed += u64(j, "/boxes_failed"_json_pointer);
    t.errors.steps += u64(j, "/errors"_json_pointer);
    t.visits += u64(j, "/visits/completed"_json_pointer);
    t.errors.visits += u64(j, "/visits/failed"_json_pointer);
    t.events.journaled += u64(j, "/events/journaled"_json_pointer);
    t.events.acked += u64(j, "/events/acked"_json_pointer);
    t.events.backlog += u64(j, "/events/backlog"_json_pointer);
    t.events.state_reports += u64(j, "/state_reports"_json_pointer);
    if (j.contains("last_error") && j["last_error"].is_string() &&
        !j["last_error"].get<std::string>().empty()) {
      t.last_error = j["last_error"].get<std::string>();
    }
    t.per_fleet.push_back({{"prefix", f.spec.prefix},
                           {"boxes", f.spec.boxes},
                           {"connected_in_window", u64(f.live, "/connected"_json_pointer)},
                           {"live", f.live},
                           {"final", f.final}});
  }
  return t;
}

// How the run ended, and its errors.
struct Outcome {
  Tally tally;
  int bad_exits = 0;  // fleets that did not exit with 0 or wrote no summary
  std::int64_t applied_final = -1;
  int controller_exit = 0;
  double rejected = 0;              // events the controller rejected
  std::int64_t lost = 0;            // acked by the controller but not in its table
  std::uint64_t not_connected = 0;  // started but not connected at the end of the window
  double errors = 0;
};

// Stops the fleets and then the controller: a controller that does not stop cleanly on SIGTERM
// (a stalled bridge never does) is an error.
Result<Outcome> finish(std::vector<FleetProcess>& fleets, ControllerStack& stack, const Window& w,
                       const std::string& metrics_before, int started_boxes) {
  Outcome e;
  e.bad_exits = stop_fleets(fleets);
  e.applied_final = settle_applied(stack.conninfo(), w.start_wall_ms);
  RC_ASSIGN_OR_RETURN(const std::string metrics_final, http_get(stack.internal_port(), "/metrics"));
  RC_ASSIGN_OR_RETURN(e.controller_exit, stack.stop_controller(seconds(30)));
  e.tally = tally(fleets);
  e.bad_exits += e.tally.no_summary;
  e.rejected = metric_sum(metrics_final, "reclothes_box_events_rejected_total") -
               metric_sum(metrics_before, "reclothes_box_events_rejected_total");
  // Cannot happen if apply-then-ack holds.
  e.lost =
      std::max<std::int64_t>(0, static_cast<std::int64_t>(e.tally.events.acked) - e.applied_final);
  // Boxes never started (the ramp stopped) are the figure's shortfall, not errors.
  const auto started = static_cast<std::uint64_t>(started_boxes);
  e.not_connected = w.connected >= started ? 0 : started - w.connected;
  const int controller_errors = (w.stalled_at_s ? 1 : 0) + (e.controller_exit != 0 ? 1 : 0);
  const Tally& t = e.tally;
  e.errors = static_cast<double>(t.errors.failed + t.errors.steps + t.errors.visits +
                                 e.not_connected + static_cast<std::uint64_t>(e.bad_exits)) +
             e.rejected + static_cast<double>(e.lost) + controller_errors;
  return e;
}

// ---- the report --------------------------------------------------------------------------------

// Before the fleets: the broker's and the controller's memory, the controller's counters.
struct Before {
  double broker_rss = 0;      // KiB
  double controller_rss = 0;  // KiB
  std::string metrics;
};

// Per second of the window: what the boxes offered (from the fleets), beside what the controller
// applied.
struct Rates {
  double offered_events = 0;
  double offered_reports = 0;
  double applied_events = 0;
  double applied_reports = 0;
};

Rates window_rates(const Window& w) {
  Rates r;
  const auto [journaled0, reports0] = w.counters_start;
  r.offered_events =
      static_cast<double>(w.journaled_end - std::min(w.journaled_end, journaled0)) / w.seconds;
  r.offered_reports =
      static_cast<double>(w.reports_end - std::min(w.reports_end, reports0)) / w.seconds;
  r.applied_events = (metric_sum(w.metrics_end, "reclothes_box_events_applied_total") -
                      metric_sum(w.metrics_start, "reclothes_box_events_applied_total")) /
                     w.seconds;
  r.applied_reports =
      (metric_sum(w.metrics_end, "reclothes_mqtt_messages_received_total", "\"state\"") -
       metric_sum(w.metrics_start, "reclothes_mqtt_messages_received_total", "\"state\"")) /
      w.seconds;
  return r;
}

struct Results {
  Plan plan;
  Setup setup;
  Before before;
  Ramp ramp;
  Window window;
  Rates rates;
  Outcome outcome;
  double cpu_percent(double cpu_s) const { return 100.0 * cpu_s / window.seconds; }
};

void print_summary(const Results& r) {
  const Window& w = r.window;
  const Tally& t = r.outcome.tally;
  const Outcome& e = r.outcome;
  std::cout << "  boxes: " << w.end_counts.flowing << " flowing of " << r.ramp.started_boxes
            << " started (online " << w.end_counts.online << ", heartbeat in window "
            << w.end_counts.heartbeat << ", events applied " << w.end_counts.events
            << "), fleets report " << w.connected << " connected"
            << (r.ramp.stopped.empty() ? "" : "; ramp stopped: " + r.ramp.stopped)
            << (w.stalled_at_s ? "; controller stalled at " + std::to_string(*w.stalled_at_s) +
                                     " s into the window"
                               : "")
            << "\n"
            << "  in the window: offered " << format_number(r.rates.offered_events, 1)
            << " events/s and " << format_number(r.rates.offered_reports, 1)
            << " state reports/s; applied " << format_number(r.rates.applied_events, 1)
            << " events/s and " << format_number(r.rates.applied_reports, 1)
            << " state reports/s; max step lag " << w.max_lag_ms << " ms\n"
            << "  CPU % of one core: simulators " << format_number(r.cpu_percent(w.cpu_s.sims), 0)
            << ", broker " << format_number(r.cpu_percent(w.cpu_s.broker), 0) << ", controller "
            << format_number(r.cpu_percent(w.cpu_s.controller), 0) << ", PostgreSQL "
            << format_number(r.cpu_percent(w.cpu_s.postgres), 0) << "; machine busy "
            << format_number(w.machine_busy, 0) << " % of all cores; load " << load_average()
            << "\n"
            << "  RSS: simulators " << format_number(w.rss_end.sims / 1024, 0) << " MiB, broker "
            << format_number(w.rss_end.broker / 1024, 1) << " MiB (was "
            << format_number(r.before.broker_rss / 1024, 1) << "), controller "
            << format_number(w.rss_end.controller / 1024, 1) << " MiB (was "
            << format_number(r.before.controller_rss / 1024, 1) << ")\n"
            << "  after stop: journaled " << t.events.journaled << ", acked " << t.events.acked
            << ", in the controller " << e.applied_final << ", backlog " << t.events.backlog
            << "; errors: failed " << t.errors.failed << ", step errors " << t.errors.steps
            << ", visits failed " << t.errors.visits << ", not connected " << e.not_connected
            << ", rejected " << e.rejected << ", lost " << e.lost << ", bad exits " << e.bad_exits
            << ", controller stalled " << (w.stalled_at_s ? "yes" : "no") << ", controller exit "
            << e.controller_exit << (w.crashed.empty() ? "" : ", crashed: " + w.crashed)
            << (t.last_error.empty() ? "" : "; last error: " + t.last_error) << std::endl;
  if (r.setup.unpublished != 0) {
    std::cout << "  note: " << r.setup.unpublished << " box configs were not published in time"
              << std::endl;
  }
}

nlohmann::json errors_json(const Results& r) {
  const Tally& t = r.outcome.tally;
  return {{"boxes_failed", t.errors.failed},
          {"step_errors", t.errors.steps},
          {"visits_failed", t.errors.visits},
          {"not_connected", r.outcome.not_connected},
          {"rejected_by_controller", r.outcome.rejected},
          {"acked_not_applied", r.outcome.lost},
          {"bad_exits", r.outcome.bad_exits},
          {"controller_stalled", r.window.stalled_at_s.has_value()},
          {"controller_exit_status", r.outcome.controller_exit},
          {"crashed", r.window.crashed},
          {"last_error", t.last_error}};
}

// The settings of the run, its set-up and its ramp.
nlohmann::json setup_json(const Results& r, bool quick) {
  const B7Options& o = r.plan.o;
  return {{"quick", quick},
          {"boxes", o.boxes},
          {"processes", r.plan.processes},
          {"per_process", o.per_process},
          {"window_s", r.window.seconds},
          {"events_per_minute_per_box", r.plan.events_per_minute},
          {"state_interval_s", r.plan.state_interval_s},
          {"step_hz", o.step_hz},
          {"postgres_durable", o.durable},
          {"fd_limit", static_cast<std::uint64_t>(r.plan.fd_limit)},
          {"register_s", r.setup.register_s},
          {"configs_published_s", r.setup.configs_s},
          {"configs_unpublished", r.setup.unpublished},
          {"ramp_s", r.ramp.seconds},
          {"ramp", r.ramp.steps},
          {"ramp_stopped", r.ramp.stopped},
          {"kept_up_in_ramp", r.ramp.kept_up},
          {"connect_rate", o.connect_rate},
          {"started_boxes", r.ramp.started_boxes},
          {"visiting_boxes", r.plan.visiting},
          {"online_before_window", r.ramp.online}};
}

// What the window and the end of the run saw.
nlohmann::json outcome_json(const Results& r) {
  const Window& w = r.window;
  const Tally& t = r.outcome.tally;
  return {{"controller_stalled_at_s",
           w.stalled_at_s ? nlohmann::json(*w.stalled_at_s) : nlohmann::json(nullptr)},
          {"offered_events_per_s", r.rates.offered_events},
          {"offered_state_reports_per_s", r.rates.offered_reports},
          {"counts_at_window_start",
           {{"online", w.start_counts.online}, {"events", w.start_counts.events}}},
          {"counts_at_window_end",
           {{"online", w.end_counts.online},
            {"heartbeat_in_window", w.end_counts.heartbeat},
            {"events_applied", w.end_counts.events},
            {"flowing", w.end_counts.flowing}}},
          {"fleets_connected", w.connected},
          {"events_applied_per_s", r.rates.applied_events},
          {"state_reports_applied_per_s", r.rates.applied_reports},
          {"max_step_lag_ms", w.max_lag_ms},
          {"cpu_percent_of_one_core",
           {{"simulators", r.cpu_percent(w.cpu_s.sims)},
            {"broker", r.cpu_percent(w.cpu_s.broker)},
            {"controller", r.cpu_percent(w.cpu_s.controller)},
            {"postgres", r.cpu_percent(w.cpu_s.postgres)},
            {"machine_busy_percent_of_all", w.machine_busy}}},
          {"load_average_end", load_average()},
          {"events",
           {{"journaled", t.events.journaled},
            {"acked", t.events.acked},
            {"in_controller", r.outcome.applied_final},
            {"backlog_at_stop", t.events.backlog},
            {"visits_completed", t.visits},
            {"state_reports", t.events.state_reports}}},
          {"errors", errors_json(r)},
          {"fleets", t.per_fleet}};
}

Record b7_record(std::string figure, std::string unit, double value) {
  Record r;
  r.id = "B7";
  r.figure = std::move(figure);
  r.unit = std::move(unit);
  r.value = value;
  return r;
}

// Boxes flowing (target: every box asked), errors (target 0), boxes the controller kept up with
// in the ramp, events applied per second.
Status add_flow_records(Output& out, const Results& r, bool quick) {
  const double asked = static_cast<double>(r.plan.o.boxes);
  Record flowing = b7_record("fleet: boxes connected, heartbeats and events flowing (" +
                                 format_number(asked, 0) + " asked)",
                             "boxes", static_cast<double>(r.window.end_counts.flowing));
  flowing.target = Target::value_at_least(asked);
  flowing.details = setup_json(r, quick);
  flowing.details.update(outcome_json(r));
  RC_TRY(out.add(flowing));

  Record err = b7_record("fleet: errors", "errors", r.outcome.errors);
  err.target = Target::value_at_most(0);
  err.details = errors_json(r);
  err.details["quick"] = quick;
  RC_TRY(out.add(err));

  Record ramped = b7_record("fleet: boxes the controller caught up with while they started",
                            "boxes", static_cast<double>(r.ramp.kept_up));
  ramped.details = {{"quick", quick},
                    {"ramp", r.ramp.steps},
                    {"ramp_stopped", r.ramp.stopped},
                    {"connect_rate", r.plan.o.connect_rate}};
  RC_TRY(out.add(ramped));

  Record rate =
      b7_record("fleet: events applied by the controller", "events/s", r.rates.applied_events);
  rate.details = {{"quick", quick},
                  {"state_reports_applied_per_s", r.rates.applied_reports},
                  {"offered_events_per_s", r.rates.offered_events},
                  {"offered_state_reports_per_s", r.rates.offered_reports},
                  {"visiting_boxes", r.plan.visiting},
                  {"events_per_minute_asked", r.plan.events_per_minute},
                  {"boxes", r.ramp.started_boxes}};
  return out.add(rate);
}

// Memory per box of the simulators (their RSS / boxes), the broker and the controller (their RSS
// growth from before the fleets / boxes).
Status add_memory_records(Output& out, const Results& r, bool quick) {
  const Window& w = r.window;
  const double boxes = static_cast<double>(std::max(r.ramp.started_boxes, 1));
  const auto mem = [&](const std::string& figure, double kib, nlohmann::json d) -> Status {
    Record rec = b7_record(figure, "KiB", kib);
    d["quick"] = quick;
    d["boxes"] = r.ramp.started_boxes;
    rec.details = std::move(d);
    return out.add(rec);
  };
  const auto peak = [](const std::vector<double>& v) {
    return v.empty() ? 0.0 : *std::max_element(v.begin(), v.end());
  };
  RC_TRY(mem("fleet: memory per box, simulator (RSS / boxes)", w.rss_end.sims / boxes,
             {{"rss_kib", w.rss_end.sims},
              {"peak_rss_kib", peak(w.sampled.sims_rss)},
              {"processes", r.plan.processes}}));
  RC_TRY(mem("fleet: memory per box, broker (RSS growth / boxes)",
             (w.rss_end.broker - r.before.broker_rss) / boxes,
             {{"rss_kib", w.rss_end.broker},
              {"rss_before_fleet_kib", r.before.broker_rss},
              {"peak_rss_kib", peak(w.sampled.broker_rss)}}));
  return mem("fleet: memory per box, controller (RSS growth / boxes)",
             (w.rss_end.controller - r.before.controller_rss) / boxes,
             {{"rss_kib", w.rss_end.controller},
              {"rss_before_fleet_kib", r.before.controller_rss},
              {"peak_rss_kib", peak(w.sampled.controller_rss)}});
}

Status run(Output& out, const CommonOptions& options, B7Options b7) {
  Results r;
  RC_ASSIGN_OR_RETURN(r.plan, make_plan(std::move(b7), options.quick));
  RC_ASSIGN_OR_RETURN(ScratchDir scratch, ScratchDir::create(out.dir(), "b7-work-"));
  RC_ASSIGN_OR_RETURN(auto stack, start_servers(scratch.path(), r.plan));
  // Declared after the servers and the scratch directory, so it copies before they are removed.
  LogKeeper logs(out.dir() / "b7-logs");
  logs.add(stack->broker().log_path(), "mosquitto.log");
  logs.add(stack->postgres().log_path(), "postgres.log");
  logs.add(stack->migrate_log(), "migrate.log");
  logs.add(stack->log(), "controller.log");
  RC_TRY(stack->migrate());
  std::vector<FleetProcess> fleets = plan_fleets(r.plan, scratch.path(), logs);
  RC_ASSIGN_OR_RETURN(r.setup, register_and_serve(*stack, fleets, r.plan, options.quick));
  const Pids pids(*stack);
  r.before.broker_rss = status_field(pids.broker, "VmRSS");
  r.before.controller_rss = status_field(pids.controller, "VmRSS");
  RC_ASSIGN_OR_RETURN(r.before.metrics, http_get(stack->internal_port(), "/metrics"));
  RC_ASSIGN_OR_RETURN(r.ramp, ramp_up(fleets, *stack, r.plan, options.quick));
  RC_ASSIGN_OR_RETURN(r.window, measure_window(fleets, *stack, pids, r.plan.o.window_seconds));
  r.rates = window_rates(r.window);
  RC_ASSIGN_OR_RETURN(r.outcome,
                      finish(fleets, *stack, r.window, r.before.metrics, r.ramp.started_boxes));
  print_summary(r);
  RC_TRY(add_flow_records(out, r, options.quick));
  return add_memory_records(out, r, options.quick);
}

}  // namespace
}  // namespace reclothes::bench

int main(int argc, char** argv) {
  CLI::App app{"B7: simulated boxes on one broker and controller: how many flow, errors, memory",
               "bench_b7_fleet"};
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
  app.add_option("--sim", b7.sim, "the reclothes-sim binary")->capture_default_str();
  reclothes::bench::add_controller_options(app, b7.controller);
  return reclothes::bench::run_benchmark(
      argc, argv, app,
      [&](reclothes::bench::Output& out, const reclothes::bench::CommonOptions& options) {
        return reclothes::bench::run(out, options, b7);
      });
}
