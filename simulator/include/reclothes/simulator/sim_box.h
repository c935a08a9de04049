// SimBox: one simulated drop-off box. The real firmware (Box, Journal, Mailbox, and Sync when the
// box has a broker) runs on a SimCabinet; the simulator plays the world around it: the person at
// the cabinet (doors, QR codes, fill levels), the weather, the network cable and the power plug.
//
// Power: pull_power() is a hard stop. The Box is dropped without Box::stop() (nothing is
// de-energised or journaled on the way down; the network link is cut first so the broker sees the
// connection die and publishes the last will), and restore_power() starts a new Box from the
// journal: the firmware's real start-up recovery (locks released, doors reconciled, unlock intents
// turned into unlock_unknown). The cut lands between two main-loop steps: the sim lock returns
// from pulse() at once, so a cut inside a pulse cannot be staged here (the firmware's own tests
// kill reclothes-box for that).
//
// Threading: step() is called by one thread at a time (the box's loop: a SimBoxRunner thread, a
// scenario runner or a fleet worker). Every other method is thread-safe and may be called from the
// web server's threads meanwhile; they serialise with step() on one mutex where they touch the
// firmware, and go straight to the (thread-safe) SimCabinet where they only play the world.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "reclothes/common/clock.h"
#include "reclothes/common/messages.h"
#include "reclothes/common/result.h"
#include "reclothes/firmware/box.h"
#include "reclothes/firmware/config.h"
#include "reclothes/firmware/journal.h"
#include "reclothes/firmware/mailbox.h"
#include "reclothes/firmware/sync.h"
#include "reclothes/hal/sim/sim_cabinet.h"
#include "reclothes/simulator/frame_tools.h"
#include "reclothes/simulator/journal_tail.h"
#include "reclothes/simulator/network_link.h"

namespace reclothes::simulator {

struct SimBoxOptions {
  firmware::BoxConfig config;  // journal_path is used as given (callers point it at a state dir)
  // The customer opens the door this long after the lock clicks (the sim's auto-open knob). Can
  // be changed at run time with set_auto_open().
  bool auto_open = true;
  std::chrono::milliseconds auto_open_delay{800};
  // Run the firmware's MQTT sync (config.broker). Off: the box works offline, as in the field.
  bool sync = true;
  // Route the sync through a NetworkLink, so pull_network() is a real connection loss. Without
  // it pull_network() stops the Sync (which says goodbye to the broker first).
  bool network_link = true;
  // Reconnect back-off of the Sync (the firmware default is 1..30 s; a tester wants 1..5 s).
  std::chrono::milliseconds reconnect_min{500};
  std::chrono::milliseconds reconnect_max{5'000};
  // synchronous=FULL commits (the product). Off only for load tests that say so.
  bool durable_journal = true;
};

struct CompartmentView {
  int id = 0;
  std::string size;        // "S", "M", "L", "XL"
  std::string state;       // the firmware's state: "free", "unlocked", ... ("off" without power)
  bool door_open = false;  // the physical door (the sim's truth)
  bool energised = false;  // the lock coil right now
  // The lock was pulsed and the door has not opened yet, or the coil is energised: the door can
  // be pulled open. This is the page's UNLOCKED badge.
  bool unlocked = false;
  bool jammed = false;              // a stuck latch (the sim fault)
  std::optional<int> fill_percent;  // the sensor's value (nullopt without a sensor)
};

struct BoxView {
  std::string box_id;
  bool powered = false;
  std::optional<std::string> firmware_error;  // the main loop stopped with this error
  std::string firmware_version;
  bool maintenance = false;
  std::uint64_t config_revision = 0;
  std::vector<CompartmentView> compartments;
  std::optional<hal::sim::IndicatorRecord> indicator;
  hal::EnvironmentReading environment;
  bool tampered = false;
  struct Network {
    bool sync_enabled = false;
    std::string broker;   // the broker the box is configured for
    bool link_up = true;  // the cable (NetworkLink) is in
    bool connected = false;
    firmware::SyncStats stats;
  } network;
  struct JournalInfo {
    std::uint64_t last_seq = 0;
    std::uint64_t acked_upto = 0;
    std::uint64_t backlog = 0;
  } journal;
  bool auto_open = false;
  std::chrono::milliseconds auto_open_delay{0};
  std::size_t pulses = 0;  // lock pulses performed since the simulator started
  std::vector<msg::CommandResult> command_results;  // recent, when there is no sync to take them
};
nlohmann::json to_json(const BoxView& view);
nlohmann::json to_json(const JournalEvent& event);

struct PresentReport {
  // The simulator's own look at the frame with the firmware's Scanner (same options as the Box's):
  // whether the camera can see a code at all. The Box decides separately, on its next steps.
  bool camera_sees_code = false;
  std::optional<std::string> decoded_text;
  std::uint32_t width = 0;
  std::uint32_t height = 0;
  int frames = 0;  // frames queued (a phone is held still for a moment)
};

class SimBox {
 public:
  static constexpr std::size_t kMaxCommandResults = 20;
  // A phone in front of the camera is seen in this many consecutive frames.
  static constexpr int kFramesPerPresent = 3;

  // Builds the cabinet from the configuration (to_sim_config) and, for a sync through a link,
  // the NetworkLink. The firmware is not running yet: call power_on(). `clock` must outlive it.
  static Result<std::unique_ptr<SimBox>> create(SimBoxOptions options, const Clock& clock);
  ~SimBox();  // a clean shutdown()
  SimBox(const SimBox&) = delete;
  SimBox& operator=(const SimBox&) = delete;

  const std::string& box_id() const { return options_.config.box_id; }
  const firmware::BoxConfig& config() const { return options_.config; }
  hal::sim::SimCabinet& cabinet() { return *sim_; }

  // ---- power ----
  // Opens the journal, creates and starts the Box (start-up recovery), starts the Sync.
  // kFailedPrecondition if already on; the journal's or the Box's error otherwise.
  Status power_on();
  // Hard stop (see the file comment). No effect when off.
  void pull_power();
  // Clean stop: Box::stop() (locks de-energised), Sync::stop() (status offline). No effect when
  // off.
  void shutdown();
  bool powered() const;

  // ---- the main loop ----
  // One turn: the world's scheduled actions (auto-open), then Box::step() if powered. If the Box
  // fails (its journal cannot be written), the firmware is stopped as the daemon would exit, the
  // error is kept in the view, and it is returned.
  Status step();
  // The pause between steps: the Box's step_interval (camera fps).
  std::chrono::milliseconds step_interval() const;

  // ---- the world ----
  // Renders `text` as the camera would see it and holds it in front of the camera.
  Result<PresentReport> present_token(std::string_view text, const PresentOptions& options = {});
  // Holds a picture (a PNG, such as a screenshot of a phone's screen) in front of the camera, as
  // frame_from_png fits it into the camera's frame. kFailedPrecondition without a camera,
  // kInvalidArgument for a picture that cannot be read.
  Result<PresentReport> present_image(std::string_view png);
  Status present_frame(hal::Frame frame, int frames = kFramesPerPresent);
  // The last frame presented (for the page).
  std::optional<hal::Frame> last_frame() const;
  // Compartments are 1-based here, as on the cabinet's labels.
  Status open_door(int compartment);
  Status close_door(int compartment);
  Status set_fill(int compartment, int percent);
  Status set_jammed(int compartment, bool jammed);
  void set_environment(double temperature_c, double humidity_percent);
  void set_tampered(bool tampered);
  void set_auto_open(bool enabled, std::optional<std::chrono::milliseconds> delay = std::nullopt);

  // ---- the network ----
  Status pull_network();
  Status restore_network();

  // ---- the controller's side, without a controller ----
  // Queues a command for the Box as the sync thread would (reserve, open, maintenance ...).
  // kFailedPrecondition when off, kResourceExhausted when the mailbox is full.
  Status push_command(msg::Command command);

  // ---- observations ----
  BoxView view();
  // Journal events with seq > after (acked ones too), oldest first.
  Result<std::vector<JournalEvent>> events_after(std::uint64_t after, std::size_t limit);
  Result<std::vector<JournalEvent>> latest_events(std::size_t count);
  std::vector<hal::sim::PulseRecord> pulses() const;
  // The firmware's state of one compartment ("off" when unpowered, "" for an unknown id).
  std::string compartment_state(int compartment);

 private:
  SimBox(SimBoxOptions options, const Clock& clock, std::unique_ptr<hal::sim::SimCabinet> sim,
         std::unique_ptr<NetworkLink> link);
  Result<std::size_t> index(int compartment) const;
  Status start_sync_locked();
  void stop_sync_locked(bool clean);
  void run_auto_open_locked();
  Result<JournalTail*> tail_locked();

  SimBoxOptions options_;
  const Clock& clock_;
  std::unique_ptr<hal::sim::SimCabinet> sim_;
  std::unique_ptr<NetworkLink> link_;

  mutable std::mutex mu_;  // guards everything below
  std::unique_ptr<firmware::Journal> journal_;
  std::unique_ptr<firmware::Mailbox> mailbox_;
  std::unique_ptr<firmware::Box> box_;
  std::unique_ptr<firmware::Sync> sync_;
  std::unique_ptr<JournalTail> tail_;
  std::optional<std::string> firmware_error_;
  bool network_up_ = true;
  BoxView::JournalInfo journal_info_;  // the last numbers read, kept while off
  std::deque<msg::CommandResult> command_results_;
  std::optional<hal::Frame> last_frame_;

  // Auto-open: pulses already seen (by start time) and doors due to spring open.
  bool auto_open_ = true;
  std::chrono::milliseconds auto_open_delay_{800};
  std::optional<Clock::Monotonic> last_pulse_seen_;
  std::size_t pulses_seen_at_last_ = 0;  // pulses with start == *last_pulse_seen_ already seen
  std::size_t pulse_count_ = 0;
  std::multimap<Clock::Monotonic, std::size_t> auto_open_due_;
};

// Runs a SimBox's loop on its own thread (the box mode): step(), then wait step_interval().
class SimBoxRunner {
 public:
  explicit SimBoxRunner(SimBox& box);
  ~SimBoxRunner();  // stop()
  SimBoxRunner(const SimBoxRunner&) = delete;
  SimBoxRunner& operator=(const SimBoxRunner&) = delete;
  void stop();

 private:
  SimBox& box_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::thread thread_;
};

}  // namespace reclothes::simulator
