#include "reclothes/hal/sim/sim_cabinet.h"

#include <deque>
#include <mutex>
#include <string>
#include <utility>

namespace reclothes::hal::sim {

struct SimCabinet::State {
  struct CompartmentState {
    bool door_open = false;
    bool jammed = false;
    int fill_percent = 0;
    std::deque<DoorEvent> events;
    // The current (or last) pulse ends here; energised while the clock is before it.
    std::optional<Clock::Monotonic> energised_until;
    // When the auto-open knob will spring the door, if a pulse asked for it.
    std::optional<Clock::Monotonic> auto_open_at;
    std::optional<Error> lock_fault;
    std::optional<Error> door_fault;
    std::optional<Error> fill_fault;
  };

  State(const Clock& clock_in, const SimCabinetConfig& config_in)
      : clock(clock_in),
        config(config_in),
        compartments(config_in.compartments),
        blank(Frame::filled(config_in.frame_width, config_in.frame_height, 0)) {}

  const Clock& clock;
  const SimCabinetConfig config;
  mutable std::mutex mu;

  // Everything below is guarded by mu.
  std::vector<CompartmentState> compartments;
  std::deque<PulseRecord> pulses;
  std::deque<IndicatorRecord> indicator_history;
  bool tampered = false;
  EnvironmentReading environment{21.0, 45.0};
  std::deque<Frame> frames;
  std::optional<Frame> still;
  Frame blank;
  std::optional<Error> environment_fault;
  std::optional<Error> tamper_fault;
  std::optional<Error> camera_fault;
  std::optional<Error> indicator_fault;

  // Returns the clock's now after applying every scheduled action due by then. Caller holds mu.
  Clock::Monotonic settle() {
    Clock::Monotonic now = clock.monotonic();
    for (CompartmentState& c : compartments) {
      if (c.auto_open_at && *c.auto_open_at <= now) {
        Clock::Monotonic at = *c.auto_open_at;
        c.auto_open_at.reset();
        if (!c.jammed && !c.door_open) {
          c.door_open = true;
          // Stamp the event with the moment it was due, not the moment we noticed.
          auto late = std::chrono::duration_cast<std::chrono::milliseconds>(now - at);
          push_event(c, DoorEventKind::kOpened, at, clock.wall_ms() - late.count());
        }
      }
    }
    return now;
  }

  static void push_event(CompartmentState& c, DoorEventKind kind, Clock::Monotonic at,
                         std::int64_t wall_ms) {
    if (c.events.size() >= kMaxQueuedEvents) c.events.pop_front();
    c.events.push_back(DoorEvent{kind, at, wall_ms});
  }

  Status check_index(std::size_t compartment) const {
    if (compartment >= compartments.size()) {
      return make_error(ErrorCode::kInvalidArgument, "sim compartment " +
                                                         std::to_string(compartment) +
                                                         " does not exist (the cabinet has " +
                                                         std::to_string(compartments.size()) + ")");
    }
    return ok_status();
  }

  bool energised(const CompartmentState& c, Clock::Monotonic now) const {
    return c.energised_until && now < *c.energised_until;
  }

  template <typename T>
  static void push_bounded(std::deque<T>& history, T entry) {
    if (history.size() >= kMaxHistory) history.pop_front();
    history.push_back(std::move(entry));
  }
};

namespace {

using State = SimCabinet::State;

class SimLock final : public CompartmentLock {
 public:
  SimLock(State& state, std::size_t index) : state_(state), index_(index) {}

 private:
  Status do_pulse(std::chrono::milliseconds duration) override {
    std::lock_guard lock(state_.mu);
    Clock::Monotonic now = state_.settle();
    State::CompartmentState& c = state_.compartments[index_];
    if (c.lock_fault) return *c.lock_fault;
    if (state_.energised(c, now)) {
      return make_error(ErrorCode::kFailedPrecondition,
                        "sim lock " + std::to_string(index_) + ": a pulse is already running");
    }
    c.energised_until = now + duration;
    State::push_bounded(state_.pulses,
                        PulseRecord{index_, now, state_.clock.wall_ms(), duration, now + duration});
    if (state_.config.auto_open_after && !c.auto_open_at) {
      c.auto_open_at = now + *state_.config.auto_open_after;
    }
    return ok_status();
  }

  Status do_release() override {
    std::lock_guard lock(state_.mu);
    Clock::Monotonic now = state_.settle();
    State::CompartmentState& c = state_.compartments[index_];
    if (c.lock_fault) return *c.lock_fault;
    if (state_.energised(c, now)) {
      c.energised_until = now;
      // Cut the running pulse's record short: it is the newest one of this lock.
      for (auto it = state_.pulses.rbegin(); it != state_.pulses.rend(); ++it) {
        if (it->compartment == index_) {
          it->end = now;
          break;
        }
      }
    }
    return ok_status();
  }

  bool do_energised() const override {
    std::lock_guard lock(state_.mu);
    Clock::Monotonic now = state_.settle();
    return state_.energised(state_.compartments[index_], now);
  }

  State& state_;
  std::size_t index_;
};

class SimDoor final : public DoorSensor {
 public:
  SimDoor(State& state, std::size_t index) : state_(state), index_(index) {}

 private:
  Result<bool> do_is_open() override {
    std::lock_guard lock(state_.mu);
    state_.settle();
    const State::CompartmentState& c = state_.compartments[index_];
    if (c.door_fault) return *c.door_fault;
    return c.door_open;
  }

  Result<std::optional<DoorEvent>> do_poll_event(std::chrono::milliseconds /*timeout*/) override {
    std::lock_guard lock(state_.mu);
    state_.settle();
    State::CompartmentState& c = state_.compartments[index_];
    if (c.door_fault) return *c.door_fault;
    if (c.events.empty()) return std::optional<DoorEvent>{};
    DoorEvent event = c.events.front();
    c.events.pop_front();
    return std::optional<DoorEvent>{event};
  }

  State& state_;
  std::size_t index_;
};

class SimFill final : public FillLevelSensor {
 public:
  SimFill(State& state, std::size_t index) : state_(state), index_(index) {}

 private:
  Result<int> do_percent() override {
    std::lock_guard lock(state_.mu);
    const State::CompartmentState& c = state_.compartments[index_];
    if (c.fill_fault) return *c.fill_fault;
    return c.fill_percent;
  }

  State& state_;
  std::size_t index_;
};

class SimCamera final : public Camera {
 public:
  explicit SimCamera(State& state) : state_(state) {}

 private:
  Status do_capture(Frame& frame) override {
    std::lock_guard lock(state_.mu);
    if (state_.camera_fault) return *state_.camera_fault;
    if (!state_.frames.empty()) {
      // A presented frame is used once: hand its buffer over rather than copy it.
      frame = std::move(state_.frames.front());
      state_.frames.pop_front();
      return ok_status();
    }
    // The still or blank frame is returned again and again (an idle box, a phone held still):
    // copy it into the caller's buffer, which keeps its capacity from the last capture, so an
    // idle camera allocates nothing.
    const Frame& source = state_.still ? *state_.still : state_.blank;
    frame.width = source.width;
    frame.height = source.height;
    frame.stride = source.stride;
    frame.pixels.assign(source.pixels.begin(), source.pixels.end());
    return ok_status();
  }

  State& state_;
};

class SimEnvironment final : public EnvironmentSensor {
 public:
  explicit SimEnvironment(State& state) : state_(state) {}

 private:
  Result<EnvironmentReading> do_read() override {
    std::lock_guard lock(state_.mu);
    if (state_.environment_fault) return *state_.environment_fault;
    return state_.environment;
  }

  State& state_;
};

class SimTamper final : public TamperSwitch {
 public:
  explicit SimTamper(State& state) : state_(state) {}

 private:
  Result<bool> do_is_tampered() override {
    std::lock_guard lock(state_.mu);
    if (state_.tamper_fault) return *state_.tamper_fault;
    return state_.tampered;
  }

  State& state_;
};

class SimIndicator final : public Indicator {
 public:
  explicit SimIndicator(State& state) : state_(state) {}

 private:
  Status do_show(IndicatorPattern pattern, std::string_view message) override {
    std::lock_guard lock(state_.mu);
    if (state_.indicator_fault) return *state_.indicator_fault;
    State::push_bounded(state_.indicator_history,
                        IndicatorRecord{pattern, std::string(message), state_.clock.wall_ms()});
    return ok_status();
  }

  State& state_;
};

Error invalid(std::string message) {
  return make_error(ErrorCode::kInvalidArgument, "sim cabinet config: " + std::move(message));
}

}  // namespace

Result<std::unique_ptr<SimCabinet>> SimCabinet::create(const Clock& clock,
                                                       const SimCabinetConfig& config) {
  if (config.compartments == 0 || config.compartments > kMaxCompartments) {
    return invalid(std::to_string(config.compartments) + " compartments, must be 1.." +
                   std::to_string(kMaxCompartments));
  }
  if (config.pulse_length <= std::chrono::milliseconds::zero() ||
      config.pulse_length > CompartmentLock::kMaxPulse) {
    return invalid("pulse length " + std::to_string(config.pulse_length.count()) +
                   " ms, must be 1.." + std::to_string(CompartmentLock::kMaxPulse.count()) + " ms");
  }
  if (config.auto_open_after && (*config.auto_open_after <= std::chrono::milliseconds::zero() ||
                                 *config.auto_open_after > kMaxAutoOpenDelay)) {
    return invalid("auto-open delay " + std::to_string(config.auto_open_after->count()) +
                   " ms, must be 1.." + std::to_string(kMaxAutoOpenDelay.count()) + " ms");
  }
  if (config.frame_width == 0 || config.frame_height == 0 ||
      config.frame_width > Frame::kMaxDimension || config.frame_height > Frame::kMaxDimension) {
    return invalid("frame size " + std::to_string(config.frame_width) + "x" +
                   std::to_string(config.frame_height) + ", each side must be 1.." +
                   std::to_string(Frame::kMaxDimension));
  }
  // The constructor is private (a SimCabinet only exists fully wired), hence no make_unique.
  return std::unique_ptr<SimCabinet>(new SimCabinet(std::make_unique<State>(clock, config)));
}

SimCabinet::SimCabinet(std::unique_ptr<State> state) : state_(std::move(state)) {
  for (std::size_t i = 0; i < state_->compartments.size(); ++i) {
    locks_.push_back(std::make_unique<SimLock>(*state_, i));
    doors_.push_back(std::make_unique<SimDoor>(*state_, i));
    if (state_->config.fill_sensors) fills_.push_back(std::make_unique<SimFill>(*state_, i));
  }
  camera_ = std::make_unique<SimCamera>(*state_);
  environment_ = std::make_unique<SimEnvironment>(*state_);
  tamper_ = std::make_unique<SimTamper>(*state_);
  indicator_ = std::make_unique<SimIndicator>(*state_);
}

SimCabinet::~SimCabinet() = default;

Cabinet SimCabinet::cabinet() {
  Cabinet cabinet;
  for (std::size_t i = 0; i < locks_.size(); ++i) {
    Compartment compartment;
    compartment.lock = locks_[i].get();
    compartment.door = doors_[i].get();
    compartment.fill = fills_.empty() ? nullptr : fills_[i].get();
    compartment.pulse_length = state_->config.pulse_length;
    cabinet.compartments.push_back(compartment);
  }
  cabinet.camera = camera_.get();
  cabinet.environment = environment_.get();
  cabinet.tamper = tamper_.get();
  cabinet.indicator = indicator_.get();
  return cabinet;
}

std::size_t SimCabinet::compartment_count() const { return locks_.size(); }

Status SimCabinet::open_door(std::size_t compartment) {
  std::lock_guard lock(state_->mu);
  RC_TRY(state_->check_index(compartment));
  Clock::Monotonic now = state_->settle();
  State::CompartmentState& c = state_->compartments[compartment];
  if (c.door_open) return ok_status();
  if (c.jammed) {
    return make_error(ErrorCode::kFailedPrecondition, "sim door " + std::to_string(compartment) +
                                                          " cannot open: its lock is jammed");
  }
  c.door_open = true;
  c.auto_open_at.reset();  // the person beat the spring to it
  State::push_event(c, DoorEventKind::kOpened, now, state_->clock.wall_ms());
  return ok_status();
}

Status SimCabinet::close_door(std::size_t compartment) {
  std::lock_guard lock(state_->mu);
  RC_TRY(state_->check_index(compartment));
  Clock::Monotonic now = state_->settle();
  State::CompartmentState& c = state_->compartments[compartment];
  if (!c.door_open) return ok_status();
  c.door_open = false;
  State::push_event(c, DoorEventKind::kClosed, now, state_->clock.wall_ms());
  return ok_status();
}

Status SimCabinet::set_fill_percent(std::size_t compartment, int percent) {
  std::lock_guard lock(state_->mu);
  RC_TRY(state_->check_index(compartment));
  if (!state_->config.fill_sensors) {
    return make_error(ErrorCode::kFailedPrecondition,
                      "this sim cabinet was created without fill-level sensors");
  }
  state_->compartments[compartment].fill_percent = percent;
  return ok_status();
}

void SimCabinet::set_environment(EnvironmentReading reading) {
  std::lock_guard lock(state_->mu);
  state_->environment = reading;
}

void SimCabinet::set_tampered(bool tampered) {
  std::lock_guard lock(state_->mu);
  state_->tampered = tampered;
}

Status SimCabinet::present_frame(Frame frame) {
  RC_TRY(validate_frame(frame));
  std::lock_guard lock(state_->mu);
  if (state_->frames.size() >= kMaxQueuedFrames) {
    return make_error(
        ErrorCode::kResourceExhausted,
        "sim camera already has " + std::to_string(kMaxQueuedFrames) + " frames waiting");
  }
  state_->frames.push_back(std::move(frame));
  return ok_status();
}

Status SimCabinet::set_still_frame(std::optional<Frame> frame) {
  if (frame) RC_TRY(validate_frame(*frame));
  std::lock_guard lock(state_->mu);
  state_->still = std::move(frame);
  return ok_status();
}

Status SimCabinet::set_lock_fault(std::size_t compartment, std::optional<Error> error) {
  std::lock_guard lock(state_->mu);
  RC_TRY(state_->check_index(compartment));
  state_->compartments[compartment].lock_fault = std::move(error);
  return ok_status();
}

Status SimCabinet::set_door_fault(std::size_t compartment, std::optional<Error> error) {
  std::lock_guard lock(state_->mu);
  RC_TRY(state_->check_index(compartment));
  state_->compartments[compartment].door_fault = std::move(error);
  return ok_status();
}

Status SimCabinet::set_jammed(std::size_t compartment, bool jammed) {
  std::lock_guard lock(state_->mu);
  RC_TRY(state_->check_index(compartment));
  state_->compartments[compartment].jammed = jammed;
  return ok_status();
}

Status SimCabinet::set_fill_fault(std::size_t compartment, std::optional<Error> error) {
  std::lock_guard lock(state_->mu);
  RC_TRY(state_->check_index(compartment));
  if (!state_->config.fill_sensors) {
    return make_error(ErrorCode::kFailedPrecondition,
                      "this sim cabinet was created without fill-level sensors");
  }
  state_->compartments[compartment].fill_fault = std::move(error);
  return ok_status();
}

void SimCabinet::set_environment_fault(std::optional<Error> error) {
  std::lock_guard lock(state_->mu);
  state_->environment_fault = std::move(error);
}

void SimCabinet::set_tamper_fault(std::optional<Error> error) {
  std::lock_guard lock(state_->mu);
  state_->tamper_fault = std::move(error);
}

void SimCabinet::set_camera_fault(std::optional<Error> error) {
  std::lock_guard lock(state_->mu);
  state_->camera_fault = std::move(error);
}

void SimCabinet::set_indicator_fault(std::optional<Error> error) {
  std::lock_guard lock(state_->mu);
  state_->indicator_fault = std::move(error);
}

std::vector<PulseRecord> SimCabinet::pulses() const {
  std::lock_guard lock(state_->mu);
  return {state_->pulses.begin(), state_->pulses.end()};
}

Result<bool> SimCabinet::lock_energised(std::size_t compartment) const {
  std::lock_guard lock(state_->mu);
  RC_TRY(state_->check_index(compartment));
  Clock::Monotonic now = state_->settle();
  return state_->energised(state_->compartments[compartment], now);
}

Result<bool> SimCabinet::door_open(std::size_t compartment) const {
  std::lock_guard lock(state_->mu);
  RC_TRY(state_->check_index(compartment));
  state_->settle();
  return state_->compartments[compartment].door_open;
}

std::optional<IndicatorRecord> SimCabinet::indicator() const {
  std::lock_guard lock(state_->mu);
  if (state_->indicator_history.empty()) return std::nullopt;
  return state_->indicator_history.back();
}

std::vector<IndicatorRecord> SimCabinet::indicator_history() const {
  std::lock_guard lock(state_->mu);
  return {state_->indicator_history.begin(), state_->indicator_history.end()};
}

std::size_t SimCabinet::queued_frames() const {
  std::lock_guard lock(state_->mu);
  return state_->frames.size();
}

SimSnapshot SimCabinet::snapshot() const {
  std::lock_guard lock(state_->mu);
  Clock::Monotonic now = state_->settle();
  SimSnapshot snap;
  for (const State::CompartmentState& c : state_->compartments) {
    SimSnapshot::CompartmentView view;
    view.door_open = c.door_open;
    view.energised = state_->energised(c, now);
    view.jammed = c.jammed;
    if (state_->config.fill_sensors) view.fill_percent = c.fill_percent;
    view.queued_events = c.events.size();
    snap.compartments.push_back(view);
  }
  snap.tampered = state_->tampered;
  snap.environment = state_->environment;
  if (!state_->indicator_history.empty()) snap.indicator = state_->indicator_history.back();
  snap.queued_frames = state_->frames.size();
  return snap;
}

void SimCabinet::tick() {
  std::lock_guard lock(state_->mu);
  state_->settle();
}

}  // namespace reclothes::hal::sim
