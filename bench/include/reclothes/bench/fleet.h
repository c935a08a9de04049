// Fleets of simulated boxes for the benchmarks that run them beside the real controller (B7, B10):
// the boxes registered at the controller by bulk SQL, `reclothes-sim fleet` processes (the real
// firmware per box, each with its journal and MQTT session) and what they report over HTTP; plus
// the small readings of the controller those benchmarks share (an HTTP GET, a Prometheus sum, a
// SQL scalar).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "reclothes/common/result.h"
#include "reclothes/testsupport/process.h"

#ifndef RECLOTHES_SIM_BIN
#define RECLOTHES_SIM_BIN "reclothes-sim"
#endif

namespace reclothes::bench {

// GET a path on 127.0.0.1:port; the body, or kUnavailable naming what failed (no answer, a status
// other than 200).
Result<std::string> http_get(int port, const std::string& path);

// The sum of every sample of a Prometheus metric whose line contains `label` (e.g.
// `reason="unknown_box"`; empty: all of them).
double metric_sum(const std::string& text, const std::string& name, const std::string& label = "");

// The first column of the first row of `sql` as an integer (NULL: 0); kUnavailable with the
// database's error.
Result<std::int64_t> scalar(const std::string& conninfo, const std::string& sql);
// Polls `sql` until it returns `want` or `timeout` passes; the last value (-1: never read).
std::int64_t wait_for_value(const std::string& conninfo, const std::string& sql, std::int64_t want,
                            std::chrono::milliseconds timeout);

// The boxes of one simulator process: ids <prefix>00001 ...
struct FleetSpec {
  std::string prefix;  // "b7p01-"
  int boxes = 0;
};

// The rows register_box() writes (boxes, `compartments` each), in bulk: 10,000 boxes one by one
// through the API would take minutes. config_revision 1 > config_published_revision 0 marks a
// config to publish, which the registration API's publish_config() would have done: the
// controller's bridge publishes every pending config when it connects.
Status register_boxes(const std::string& conninfo, const std::vector<FleetSpec>& fleets,
                      int compartments);

// How the fleets run (the same for every process of a benchmark).
struct FleetSettings {
  std::string sim = RECLOTHES_SIM_BIN;
  int compartments = 24;
  int state_interval_s = 60;  // a state report this often, plus one after every change
  double step_hz = 1;
  int connect_rate = 100;  // new broker connections per second while the fleet starts
  // The visit tokens' key. Its id must differ from the controller's signing keys (1, 2, ...):
  // the controller's config, which every box receives, carries those, and a controller key
  // replaces a configured key of the same id in the box (Box::rebuild_keys), after which every
  // visit would be refused.
  int key_id = 64000;
};

struct FleetProcess {
  FleetSpec spec;
  double events_per_minute = 0;  // 0: heartbeats only
  int http_port = 0;
  std::filesystem::path log;
  std::filesystem::path json_out;
  std::unique_ptr<testsupport::Process> process;
  nlohmann::json live;   // /api/fleet at the end of the measurement
  nlohmann::json final;  // the summary it wrote when stopped
};

// Starts `reclothes-sim fleet` for f.spec on the broker, journals with --no-fsync (each box's
// journal with synchronous=NORMAL: a real box syncs to its own SD card; thousands of journals
// syncing to one shared virtual disk would measure the disk), serving /api/fleet on f.http_port
// (picked here), its summary to f.json_out when stopped. spawn's errors.
Status spawn_fleet(FleetProcess& f, const std::string& broker_uri, const FleetSettings& s);

// The fleet's live summary (/api/fleet); kUnavailable, kDataLoss if it is not JSON.
Result<nlohmann::json> fleet_summary(const FleetProcess& f);

// A non-negative number at `at` in `j`, 0 where there is none.
std::uint64_t u64(const nlohmann::json& j, const nlohmann::json::json_pointer& at);

// Waits until every box of the fleet runs and is connected (or failed), `timeout` at most.
// Returns the last summary seen; kUnavailable if the fleet exited.
Result<nlohmann::json> wait_fleet_up(FleetProcess& f, std::chrono::milliseconds timeout);

// Stops a fleet with SIGINT (it closes its sessions cleanly and writes its summary, read into
// f.final); false if it did not exit with 0.
bool stop_fleet(FleetProcess& f, std::chrono::milliseconds grace);

}  // namespace reclothes::bench
