// SimCabinet: an in-memory box. It owns sim devices behind the HAL interfaces, lets tests and the
// simulator drive their inputs and inject faults, and records what the firmware did to them.
//
// This is a product, not a mock: the simulator runs the real firmware on it, so it behaves like
// the hardware where that matters (pulses end by themselves, doors emit events only on a change,
// a jammed lock keeps its door shut) and reports failures the way a real backend would.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "reclothes/common/clock.h"
#include "reclothes/common/result.h"
#include "reclothes/hal/cabinet.h"
#include "reclothes/hal/environment.h"
#include "reclothes/hal/frame.h"
#include "reclothes/hal/indicator.h"

namespace reclothes::hal::sim {

struct SimCabinetConfig {
  std::size_t compartments = 4;
  // Every compartment gets a fill-level sensor when true, none when false.
  bool fill_sensors = true;
  // Handed to the firmware as Compartment::pulse_length.
  std::chrono::milliseconds pulse_length{500};
  // Mechanical realism, off by default: when set, a successful pulse makes the door spring open
  // this long after the pulse started (unless the lock is jammed or the door is already open).
  // The simulator turns it on so a tester does not have to click "open" within the pulse.
  std::optional<std::chrono::milliseconds> auto_open_after;
  // Size of the blank frame capture() returns when nothing is presented.
  std::uint32_t frame_width = 640;
  std::uint32_t frame_height = 480;
};

// One pulse the firmware asked for and the sim performed.
struct PulseRecord {
  std::size_t compartment = 0;
  Clock::Monotonic start{};
  std::int64_t start_wall_ms = 0;
  std::chrono::milliseconds duration{0};  // as requested
  Clock::Monotonic end{};                 // start + duration, earlier if release() cut it short
};

struct IndicatorRecord {
  IndicatorPattern pattern = IndicatorPattern::kIdle;
  std::string message;
  std::int64_t wall_ms = 0;
};

// A consistent view of everything, taken under one lock, for the simulator's UI.
struct SimSnapshot {
  struct CompartmentView {
    bool door_open = false;
    bool energised = false;
    bool jammed = false;
    std::optional<int> fill_percent;  // nullopt without a fill sensor
    std::size_t queued_events = 0;
  };
  std::vector<CompartmentView> compartments;
  bool tampered = false;
  EnvironmentReading environment;
  std::optional<IndicatorRecord> indicator;
  std::size_t queued_frames = 0;
};

// Time: the sim reads the injected clock and never sleeps. A pulse returns at once and the lock
// reports energised() until clock.monotonic() reaches the pulse's end; scheduled actions (the
// auto-open) happen when any sim call, or tick(), sees the clock past their time. A test
// therefore advances a ManualClock; the simulator passes a SystemClock.
//
// poll_event() never waits: it returns a queued event or nullopt at once, whatever the timeout,
// because sim time is the clock's, not the wall's.
//
// Threading: every method, of the SimCabinet and of its devices, is thread-safe (one mutex), so the
// simulator's UI thread may drive inputs while the firmware thread uses the devices. The clock is
// read under that mutex and must never call back into the sim.
//
// Compartment indexes are 0-based, as in Cabinet::compartments. A bad index gives
// kInvalidArgument.
class SimCabinet {
 public:
  static constexpr std::size_t kMaxCompartments = 64;
  // Histories, door-event queues and the frame queue are bounded; the oldest entries go first.
  static constexpr std::size_t kMaxHistory = 1000;
  static constexpr std::size_t kMaxQueuedEvents = 256;
  static constexpr std::size_t kMaxQueuedFrames = 64;
  static constexpr std::chrono::milliseconds kMaxAutoOpenDelay{60'000};

  // Fails with kInvalidArgument for 0 or more than kMaxCompartments compartments, a pulse length
  // outside 1..CompartmentLock::kMaxPulse, an auto-open delay outside 1..kMaxAutoOpenDelay, or a
  // frame size outside 1..Frame::kMaxDimension. `clock` must outlive the SimCabinet.
  static Result<std::unique_ptr<SimCabinet>> create(const Clock& clock,
                                                    const SimCabinetConfig& config = {});

  ~SimCabinet();
  SimCabinet(const SimCabinet&) = delete;
  SimCabinet& operator=(const SimCabinet&) = delete;

  // The devices, wired for the firmware. Valid while this SimCabinet lives.
  Cabinet cabinet();
  std::size_t compartment_count() const;

  // ---- Inputs (what a person or the world does) ----

  // A person opens / closes the door. A change queues a DoorEvent stamped with the clock; opening
  // an open door does nothing. Opening works whether or not the lock was pulsed (so tests can
  // force a door), except on a jammed lock: kFailedPrecondition, the latch holds.
  Status open_door(std::size_t compartment);
  Status close_door(std::size_t compartment);
  // Values outside 0..100 are passed through to the sensor, so tests can check how the HAL treats
  // a broken sensor. Fails with kFailedPrecondition if the cabinet has no fill sensors.
  Status set_fill_percent(std::size_t compartment, int percent);
  // Passed through unchecked, like set_fill_percent.
  void set_environment(EnvironmentReading reading);
  void set_tampered(bool tampered);
  // Queues a frame for capture() (a phone held to the camera). Fails with kInvalidArgument for an
  // inconsistent frame and kResourceExhausted when kMaxQueuedFrames are waiting.
  Status present_frame(Frame frame);
  // The frame capture() returns while the queue is empty (a phone held still); nullopt returns to
  // the blank frame. Fails with kInvalidArgument for an inconsistent frame.
  Status set_still_frame(std::optional<Frame> frame);

  // ---- Faults (nullopt clears) ----

  // pulse() and release() of this lock fail with `error` (for example kIo); nothing is energised.
  Status set_lock_fault(std::size_t compartment, std::optional<Error> error);
  // is_open() and poll_event() of this door fail with `error`; events still queue meanwhile.
  Status set_door_fault(std::size_t compartment, std::optional<Error> error);
  // A jammed lock: pulses succeed and are recorded, but the door stays shut (see open_door).
  Status set_jammed(std::size_t compartment, bool jammed);
  Status set_fill_fault(std::size_t compartment, std::optional<Error> error);
  void set_environment_fault(std::optional<Error> error);
  void set_tamper_fault(std::optional<Error> error);
  void set_camera_fault(std::optional<Error> error);
  void set_indicator_fault(std::optional<Error> error);

  // ---- Observations (what the firmware did) ----

  // Pulses performed, oldest first (at most kMaxHistory).
  std::vector<PulseRecord> pulses() const;
  Result<bool> lock_energised(std::size_t compartment) const;
  // The true door state, regardless of an injected door fault.
  Result<bool> door_open(std::size_t compartment) const;
  // What the indicator shows now (nullopt before the first show()), and every show(), oldest
  // first (at most kMaxHistory).
  std::optional<IndicatorRecord> indicator() const;
  std::vector<IndicatorRecord> indicator_history() const;
  std::size_t queued_frames() const;
  SimSnapshot snapshot() const;

  // Applies everything due at the clock's current time. Every other call does this first, so
  // tick() is needed only by an observer that wants events to happen without touching the sim.
  void tick();

  struct State;  // shared by the sim devices; defined in sim_cabinet.cpp

 private:
  explicit SimCabinet(std::unique_ptr<State> state);

  std::unique_ptr<State> state_;
  std::vector<std::unique_ptr<CompartmentLock>> locks_;
  std::vector<std::unique_ptr<DoorSensor>> doors_;
  std::vector<std::unique_ptr<FillLevelSensor>> fills_;
  std::unique_ptr<Camera> camera_;
  std::unique_ptr<EnvironmentSensor> environment_;
  std::unique_ptr<TamperSwitch> tamper_;
  std::unique_ptr<Indicator> indicator_;
};

}  // namespace reclothes::hal::sim
