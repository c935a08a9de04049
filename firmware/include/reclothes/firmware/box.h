// Box: the firmware's main loop. It owns the compartment state machines and drives them from the
// HAL (door sensors, camera, tamper, fill level), the controller's commands and configuration
// (through the Mailbox) and the clock, writing every transition to the Journal before it acts.
// It knows nothing of MQTT: the sync thread talks to it only through the Mailbox and the Journal.
//
// docs/firmware.md describes the start-up sequence, the scan pipeline, the crash rule for unlock
// intents, courier tokens and maintenance mode.
//
// Threading: one thread (the main loop) calls start(), step() and stop(). The Journal and the
// Mailbox are shared with the sync thread and are thread-safe themselves; nothing else is shared.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "reclothes/common/clock.h"
#include "reclothes/common/messages.h"
#include "reclothes/common/result.h"
#include "reclothes/common/token.h"
#include "reclothes/firmware/authorise.h"
#include "reclothes/firmware/compartment.h"
#include "reclothes/firmware/config.h"
#include "reclothes/firmware/journal.h"
#include "reclothes/firmware/mailbox.h"
#include "reclothes/firmware/scanner.h"
#include "reclothes/hal/cabinet.h"

namespace reclothes::firmware {

class Box {
 public:
  // How long an "accepted" or "rejected" indicator message stays before the idle display returns.
  static constexpr std::chrono::seconds kIndicatorHold{5};
  // How often acked events and expired used-token ids are pruned from the journal.
  static constexpr std::chrono::hours kPruneInterval{1};
  // How often the fill-level sensors are read.
  static constexpr std::chrono::seconds kFillInterval{30};
  // Fill-level events are emitted when the level crosses one of these (percent).
  static constexpr int kFillThresholds[] = {25, 50, 75, 90};
  // Work bounded per step, so a flood in one place cannot starve the rest of the loop.
  static constexpr int kMaxInboundPerStep = 32;
  static constexpr int kMaxDoorEventsPerStep = 16;

  // Checks that the cabinet matches the configuration (same number of compartments, every lock
  // and door present) and loads the trusted keys of the configuration and of the last applied
  // controller config; kInvalidArgument / kDataLoss otherwise. Touches no hardware: start() does.
  // `journal`, `mailbox` and `clock` must outlive the Box, and so must the devices the cabinet
  // points to. The configuration is copied.
  static Result<std::unique_ptr<Box>> create(const BoxConfig& config, hal::Cabinet cabinet,
                                             Journal& journal, Mailbox& mailbox,
                                             const Clock& clock);
  ~Box();
  Box(const Box&) = delete;
  Box& operator=(const Box&) = delete;

  // Start-up safety, before any scan is accepted: de-energise every lock, read every door,
  // restore the compartments from the journal, turn every unlock intent left by a crash into an
  // unlock_unknown event (never pulsing again), let the door sensors reconcile the rest, and
  // journal a boot event. A lock or door that fails here takes its compartment out of service;
  // the box still starts. Fails only if the journal cannot be read or written.
  // kFailedPrecondition if called twice.
  Status start();

  // One turn of the loop, never blocking longer than one camera capture: inbound commands and
  // configs, door events, timers (jam, ajar, reservation expiry), tamper and fill level, one
  // camera frame, and the state report. Fails only if the journal cannot be written: then
  // nothing more may be unlocked (an unlock must never happen without its journal record), and
  // the caller should stop the process so the supervisor restarts it. kFailedPrecondition before
  // start().
  Status step();

  // Steps until stop_requested is set (checked between steps), waiting step_interval() between
  // them. For a main; tests call step() with a ManualClock instead.
  Status run(const std::atomic<bool>& stop_requested);
  // The pause between steps: one camera frame interval (config camera.fps, 10/s without one).
  std::chrono::milliseconds step_interval() const;

  // De-energises every lock and shows the maintenance pattern. Idempotent.
  void stop();

  // The report sent as `state` (also published to the Mailbox after every change and every
  // state_report_interval). Reads the backlog from the journal.
  msg::State state();

  // Introspection for tests and the simulator.
  CompartmentState compartment_state(int id) const;  // kFree for an unknown id
  bool maintenance() const { return maintenance_; }
  std::uint64_t config_revision() const { return config_revision_; }
  // Frames captured and frames decoded (the rest were identical to the one before).
  const CameraScanner::Stats& camera_stats() const { return camera_scanner_.stats(); }

 private:
  struct CourierSession {
    TokenClaims claims;
    std::vector<int> queue;  // compartments still to open, in order
    int current = 0;         // the compartment of the visit in progress
  };
  struct Sensors {
    std::optional<bool> tamper;
    std::map<int, int> fill_percent;  // last reading per compartment
    std::optional<double> temperature_c;
    std::optional<double> humidity_percent;
  };

  Box(const BoxConfig& config, hal::Cabinet cabinet, Journal& journal, Mailbox& mailbox,
      const Clock& clock);

  // Applies one input to compartment `id` and carries out the outcome: journals its events and
  // record (plus whatever `extra` writes) in one transaction, then pulses and updates the
  // indicator. The machine changes only if the transaction commits.
  using ExtraWrite = std::function<Status(Txn&)>;
  Result<Outcome> apply(int id, const CompartmentInput& input, std::int64_t at_ms,
                        Clock::Monotonic at, const ExtraWrite& extra = {});
  Status pulse(int id, std::chrono::milliseconds duration);
  Status take_out_of_service(int id, const std::string& why);

  Status restore_compartments();
  Status recover_unlock_intents(std::string& notes);
  Status reconcile_doors();

  Status handle_inbound(const Inbound& item);
  Status handle_command(const msg::Command& command);
  // open_access: the same rules as a scan of the reservation's token (authorise), the token
  // marked used in the unlock's transaction.
  Status handle_open_access(const msg::Command& command);
  Status finish_command(const msg::Command& command, msg::CommandResult result,
                        std::optional<int> compartment);
  Status apply_config(const msg::Config& config);

  Status poll_doors();
  Status check_timers();
  Status expire_reservations();
  Status check_tamper();
  Status check_fill_levels(bool force);
  Status check_camera();
  void prune_journal_if_due();
  Status handle_scan(const std::string& text);
  Status reject_scan(const std::string& reason, const std::optional<TokenClaims>& claims);
  Status unlock_for_token(int id, const TokenClaims& claims);
  Status advance_courier_session();
  void publish_state_if_due(bool force);
  void refresh_indicator();
  void show(hal::IndicatorPattern pattern, const std::string& message, bool transient);

  Status rebuild_keys(const std::vector<msg::TrustedKey>& controller_keys);
  std::vector<CompartmentView> views() const;
  CompartmentMachine& machine(int id) { return machines_.at(static_cast<std::size_t>(id - 1)); }
  const CompartmentConfig& compartment_config(int id) const {
    return config_.compartments.at(static_cast<std::size_t>(id - 1));
  }
  hal::Compartment& device(int id) {
    return cabinet_.compartments.at(static_cast<std::size_t>(id - 1));
  }

  const BoxConfig config_;
  hal::Cabinet cabinet_;
  Journal& journal_;
  Mailbox& mailbox_;
  const Clock& clock_;
  CameraScanner camera_scanner_;

  std::unique_ptr<TrustedKeys> keys_;
  std::vector<CompartmentMachine> machines_;
  std::map<int, msg::Reservation> reservations_;  // mirror of the journal's, by compartment
  std::vector<bool> door_fault_;                  // per compartment: the sensor failed
  bool maintenance_ = false;
  std::uint64_t config_revision_ = 0;
  std::optional<CourierSession> courier_;
  Sensors sensors_;

  bool started_ = false;
  Clock::Monotonic started_at_{};
  std::optional<Clock::Monotonic> last_fill_read_;
  std::optional<Clock::Monotonic> last_environment_read_;
  std::optional<Clock::Monotonic> last_prune_;
  std::optional<Clock::Monotonic> last_state_report_;
  bool state_dirty_ = true;
  std::optional<std::string> last_scan_text_;
  Clock::Monotonic last_scan_seen_{};
  std::optional<Clock::Monotonic> indicator_until_;  // a transient message shows until then
  std::optional<std::pair<hal::IndicatorPattern, std::string>> indicator_shown_;
  int camera_errors_ = 0;
};

}  // namespace reclothes::firmware
