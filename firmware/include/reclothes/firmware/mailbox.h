// The seam between the box's two threads: the main loop (HAL, state machine, journal writes) and
// the sync thread (MQTT). Sync hands commands and configs to the main loop; the main loop hands
// command results and its current state back. Nothing else crosses threads except the Journal,
// which is thread-safe itself.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <variant>

#include "reclothes/common/messages.h"

namespace reclothes::firmware {

using Inbound = std::variant<msg::Command, msg::Config>;

class Mailbox {
 public:
  // Bounded so a flood from the broker cannot exhaust memory: when full, push_inbound refuses
  // (returns false) and the sync side leaves the message unacknowledged... QoS 1 redelivers.
  static constexpr std::size_t kMaxInbound = 1024;
  static constexpr std::size_t kMaxResults = 1024;

  // Sync thread -> main loop.
  bool push_inbound(Inbound item);
  std::optional<Inbound> pop_inbound();

  // Main loop -> sync thread. The result is also in the journal (record_command), and the
  // command_executed event carries it to the controller exactly once even if this copy is lost.
  bool push_result(msg::CommandResult result);
  std::optional<msg::CommandResult> pop_result();
  // Sync thread: waits until a result is queued or timeout passes.
  bool wait_for_result(std::chrono::milliseconds timeout);

  // Main loop publishes its current state after every step that changed it; sync reads the
  // latest for the periodic (retained) state report.
  void set_state(msg::State state);
  std::optional<msg::State> state() const;

 private:
  mutable std::mutex mu_;
  std::condition_variable results_cv_;
  std::deque<Inbound> inbound_;
  std::deque<msg::CommandResult> results_;
  std::optional<msg::State> state_;
};

}  // namespace reclothes::firmware
