// DoorSensor: the reed switch that says whether one compartment's door is open.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

#include "reclothes/common/clock.h"
#include "reclothes/common/result.h"

namespace reclothes::hal {

enum class DoorEventKind { kOpened, kClosed };
std::string_view to_string(DoorEventKind kind);

// A change of door state, stamped by the backend with its injected clock when it saw the change.
struct DoorEvent {
  DoorEventKind kind = DoorEventKind::kClosed;
  Clock::Monotonic at{};     // for timeouts (door left open too long)
  std::int64_t wall_ms = 0;  // the same moment in wall time, for the journal

  bool operator==(const DoorEvent&) const = default;
};

// Events are polled rather than delivered by callback, so firmware logic stays a plain loop that
// tests drive without threads: the main loop polls every door with a zero timeout each turn.
//
// Threading: one thread (the firmware's main loop) polls a sensor. Backends that are driven from
// elsewhere (the sim, by the simulator's UI thread) are thread-safe on that side.
class DoorSensor {
 public:
  // The longest wait poll_event() accepts, so that no caller can hang the main loop by mistake.
  static constexpr std::chrono::milliseconds kMaxPollTimeout{60'000};

  virtual ~DoorSensor() = default;
  DoorSensor(const DoorSensor&) = delete;
  DoorSensor& operator=(const DoorSensor&) = delete;

  // The door's current state: true when open. Fails with kIo / kUnavailable if the sensor cannot
  // be read; the firmware then treats the door state as unknown (never as "closed").
  Result<bool> is_open();

  // The next change of state, in the order they happened, or nullopt if none arrived within
  // `timeout` (0 = check without waiting). Fails with kInvalidArgument if timeout < 0 or
  // > kMaxPollTimeout, and with kIo / kUnavailable if the sensor cannot be read. Backends keep a
  // bounded queue; after an overflow (or any error) the caller re-reads is_open() to resync.
  Result<std::optional<DoorEvent>> poll_event(std::chrono::milliseconds timeout);

 protected:
  DoorSensor() = default;

 private:
  virtual Result<bool> do_is_open() = 0;
  virtual Result<std::optional<DoorEvent>> do_poll_event(std::chrono::milliseconds timeout) = 0;
};

}  // namespace reclothes::hal
