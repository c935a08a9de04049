// Fleet mode: many boxes in one process, for load and scale tests of the broker and the
// controller, and to measure what a box costs.
//
// Every box is the real firmware: its own SimCabinet, Journal (SQLite file in the state dir),
// Mailbox, Box and MQTT session. A small pool of worker threads steps the boxes (box i belongs to
// worker i % threads, so each Box and Sync is always used by the same thread), drives their MQTT
// sync (--sync pooled: the firmware's own Sync in polled mode, no thread per box; --sync threaded:
// the same Sync with a thread of its own, as on a board, for comparison) and plays synthetic
// visits: a courier token for a random compartment is minted, rendered and shown to the camera,
// the lock pulses, the door springs open (the sim's auto-open knob), stays open a moment and is
// closed: unlocked, door_opened, door_closed, access_completed. Heartbeats are the firmware's own
// state reports (--state-interval).
//
// docs/simulator.md ("Fleet mode") explains the numbers in the summary.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "reclothes/common/result.h"
#include "reclothes/simulator/resources.h"

namespace reclothes::simulator {

struct FleetOptions {
  std::size_t boxes = 10;
  std::string broker_uri;  // tcp://host:port
  int compartments = 24;
  // Journal events per box per minute from visits (4 per visit); 0: heartbeats only.
  double events_per_minute = 4;
  std::chrono::seconds duration{0};  // for the CLI loop; the Fleet itself runs until stop()
  int threads = 2;
  std::string sync_mode = "pooled";  // pooled | threaded | none
  double step_hz = 2;                // Box::step() per box per second
  int state_interval_s = 60;         // the firmware's state report interval
  std::string state_dir;             // empty: a temporary directory, removed by stop()
  std::string box_prefix = "fleet-";
  std::string signing_key;  // empty: a fresh key for this run
  int key_id = 1;
  bool ack = false;        // an in-process Acker (acker.h) plays the controller's side
  bool no_fsync = false;   // journals with durable=false
  int connect_rate = 500;  // new connections per second at start-up
  std::chrono::milliseconds progress_interval{5000};
  std::string http;               // HOST:PORT for GET /api/fleet, empty: none
  std::uint32_t camera_px = 160;  // the sim camera's frame is camera_px x camera_px
};

// Kilobytes and seconds; counters are totals over the fleet.
struct FleetSummary {
  double elapsed_s = 0;
  double setup_s = 0;  // creating and starting every box (journal, boot)
  std::size_t boxes = 0;
  std::size_t boxes_running = 0;
  std::size_t boxes_failed = 0;  // could not start, or their main loop failed
  std::size_t connected = 0;
  std::string sync_mode;
  int threads = 0;
  std::uint64_t steps = 0;
  double steps_per_s = 0;
  double max_step_lag_ms = 0;  // how late the slowest step ran (a fleet too big for its cores)
  std::uint64_t visits_started = 0;
  std::uint64_t visits_completed = 0;
  std::uint64_t visits_failed = 0;  // the door did not open in time
  std::uint64_t events_journaled = 0;
  std::uint64_t events_acked = 0;
  std::uint64_t backlog = 0;
  std::uint64_t events_sent = 0;  // batches' events published (resends included)
  std::uint64_t state_reports = 0;
  std::uint64_t acker_events = 0;  // events the in-process acker received
  std::uint64_t acker_acks = 0;
  std::uint64_t errors = 0;  // step failures, journal read failures
  std::string last_error;
  ProcessResources resources;
  std::uint64_t rss_baseline_kb = 0;  // before the first box
  std::uint64_t rss_after_setup_kb = 0;
  double rss_per_box_kb = 0;  // (after setup - baseline) / boxes
  double cpu_percent = 0;     // of one core, since start (200 = both cores busy)
};
nlohmann::json to_json(const FleetSummary& summary);

class Fleet {
 public:
  // Checks the options (broker uri, counts, rates) and loads or makes the signing key. Nothing
  // runs yet. kInvalidArgument naming the option.
  static Result<std::unique_ptr<Fleet>> create(FleetOptions options);
  ~Fleet();  // stop()
  Fleet(const Fleet&) = delete;
  Fleet& operator=(const Fleet&) = delete;

  // Starts the acker (if asked), then the workers, which create and start their boxes and begin
  // stepping. Returns once every box is created (or failed). kUnavailable if the acker cannot
  // connect; box failures are counted, not fatal.
  Status start();
  // The numbers now (any thread).
  FleetSummary summary();
  // "t=10s boxes=50/50 connected=50 visits=12/12 events=85 acked=85 backlog=0 errors=0 rss=85MB
  // cpu=34%"
  std::string progress_line();
  // Stops the workers, shuts every box down cleanly (locks released, status offline), and returns
  // the final summary. Idempotent.
  FleetSummary stop();

  struct Impl;

 private:
  explicit Fleet(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace reclothes::simulator
