#include "reclothes/hal/linux/linux_cabinet.h"

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

namespace reclothes::hal::linux_backend {
namespace {

using namespace std::chrono_literals;

// The wire level that means `active` on a line with this polarity.
bool level_for(bool active, bool active_low) { return active != active_low; }

template <typename T>
Result<T> with_context(Result<T> result, const std::string& context) {
  if (result.ok()) return result;
  return std::move(result).error().with_context(context);
}

class LinuxLock final : public CompartmentLock {
 public:
  LinuxLock(std::string name, std::unique_ptr<GpioLine> line, bool active_low, Sleeper sleep)
      : name_(std::move(name)),
        line_(std::move(line)),
        active_low_(active_low),
        sleep_(std::move(sleep)) {}

 private:
  Status do_pulse(std::chrono::milliseconds duration) override {
    bool idle = false;
    if (!pulsing_.compare_exchange_strong(idle, true)) {
      return make_error(ErrorCode::kFailedPrecondition, name_ + ": a pulse is already running");
    }
    // Whatever happens below, the next pulse may start once this one has returned.
    struct Done {
      std::atomic<bool>& flag;
      ~Done() { flag = false; }
    } done{pulsing_};

    // Marked before the write: if the write half-worked we cannot know, and "maybe" means "yes".
    energised_ = true;
    Status on = write(true);
    if (!on.ok()) {
      Error error = std::move(on).error().with_context(name_ + ": cannot energise");
      Status off = clear();
      if (!off.ok()) error.message += "; " + off.error().message;
      return error;
    }
    sleep_(duration);
    return clear();
  }

  Status do_release() override { return clear(); }

  bool do_energised() const override { return energised_; }

  Status write(bool active) {
    std::lock_guard lock(line_mu_);
    return line_->set_value(level_for(active, active_low_));
  }

  // Drives the line inactive, retrying: a solenoid left energised overheats, so one transient
  // failure must not end the attempt.
  Status clear() {
    Status last;
    for (int attempt = 0; attempt < LinuxCabinet::kClearAttempts; ++attempt) {
      last = write(false);
      if (last.ok()) {
        energised_ = false;
        return ok_status();
      }
    }
    energised_ = true;
    return make_error(
        last.error().code,
        name_ + ": cannot de-energise after " + std::to_string(LinuxCabinet::kClearAttempts) +
            " attempts, the solenoid may still be energised: " + last.error().message);
  }

  const std::string name_;
  const std::unique_ptr<GpioLine> line_;
  const bool active_low_;
  const Sleeper sleep_;
  std::mutex line_mu_;  // release() may come from another thread than pulse()
  std::atomic<bool> pulsing_{false};
  std::atomic<bool> energised_{false};
};

class LinuxDoor final : public DoorSensor {
 public:
  // A chattering switch must not keep poll_event() busy: after this many edges it returns.
  static constexpr int kMaxEdgesPerPoll = 64;

  LinuxDoor(std::string name, std::unique_ptr<GpioLine> line, bool active_low, const Clock& clock,
            bool open_now)
      : name_(std::move(name)),
        line_(std::move(line)),
        active_low_(active_low),
        clock_(clock),
        last_open_(open_now) {}

 private:
  Result<bool> do_is_open() override {
    Result<bool> high = line_->get_value();
    if (!high.ok()) return std::move(high).error().with_context(name_);
    return level_for(high.value(), active_low_);  // active (open) iff level differs from active_low
  }

  Result<std::optional<DoorEvent>> do_poll_event(std::chrono::milliseconds timeout) override {
    for (int i = 0; i < kMaxEdgesPerPoll; ++i) {
      // Only the first wait uses the caller's timeout; after that we only drain what is queued,
      // so a run of bounce edges ends the call early rather than late.
      std::chrono::nanoseconds wait = i == 0 ? std::chrono::nanoseconds(timeout) : 0ns;
      Result<bool> ready = line_->event_wait(wait);
      if (!ready.ok()) return std::move(ready).error().with_context(name_);
      if (!ready.value()) return std::optional<DoorEvent>{};
      Result<EdgeEvent> edge = line_->event_read();
      if (!edge.ok()) return std::move(edge).error().with_context(name_);
      bool open = level_for(edge.value().rising, active_low_);
      if (open == last_open_) continue;  // bounce: no change of state
      last_open_ = open;
      return std::optional<DoorEvent>{
          DoorEvent{open ? DoorEventKind::kOpened : DoorEventKind::kClosed, clock_.monotonic(),
                    clock_.wall_ms()}};
    }
    return std::optional<DoorEvent>{};
  }

  const std::string name_;
  const std::unique_ptr<GpioLine> line_;
  const bool active_low_;
  const Clock& clock_;
  bool last_open_;  // the state the last reported event (or the request) saw
};

class LinuxTamper final : public TamperSwitch {
 public:
  LinuxTamper(std::unique_ptr<GpioLine> line, bool active_low)
      : line_(std::move(line)), active_low_(active_low) {}

 private:
  Result<bool> do_is_tampered() override {
    Result<bool> high = line_->get_value();
    if (!high.ok()) return std::move(high).error().with_context("tamper");
    return level_for(high.value(), active_low_);
  }

  const std::unique_ptr<GpioLine> line_;
  const bool active_low_;
};

// Two steady LEDs; no blinking (that would need a thread) and no display, so the message is
// dropped. Green = all is well, red = something went wrong, both (amber) = busy or maintenance.
class GpioIndicator final : public Indicator {
 public:
  GpioIndicator(std::unique_ptr<GpioLine> green, bool green_active_low,
                std::unique_ptr<GpioLine> red, bool red_active_low)
      : green_(std::move(green)),
        red_(std::move(red)),
        green_active_low_(green_active_low),
        red_active_low_(red_active_low) {}

 private:
  Status do_show(IndicatorPattern pattern, std::string_view /*message*/) override {
    bool green = false;
    bool red = false;
    switch (pattern) {
      case IndicatorPattern::kIdle:
      case IndicatorPattern::kAccepted:
        green = true;
        break;
      case IndicatorPattern::kRejected:
      case IndicatorPattern::kFault:
        red = true;
        break;
      case IndicatorPattern::kWorking:
      case IndicatorPattern::kMaintenance:
        green = true;
        red = true;
        break;
    }
    if (green_) {
      Status status = green_->set_value(level_for(green, green_active_low_));
      if (!status.ok()) return std::move(status).error().with_context("green LED");
    }
    if (red_) {
      Status status = red_->set_value(level_for(red, red_active_low_));
      if (!status.ok()) return std::move(status).error().with_context("red LED");
    }
    return ok_status();
  }

  const std::unique_ptr<GpioLine> green_;
  const std::unique_ptr<GpioLine> red_;
  const bool green_active_low_;
  const bool red_active_low_;
};

}  // namespace

Result<std::unique_ptr<LinuxCabinet>> LinuxCabinet::open(const PinMap& pins, GpioPort& gpio,
                                                         const Clock& clock, Sleeper sleep) {
  RC_TRY(validate_pin_map(pins));
  if (!sleep) sleep = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };

  // Built in place, so that on any early return its destructor releases what was requested.
  std::unique_ptr<LinuxCabinet> cabinet(new LinuxCabinet());
  cabinet->pins_ = pins;
  const std::string& consumer = cabinet->pins_.consumer;

  std::map<std::string, GpioChip*> opened;
  auto chip_for = [&](const std::string& name) -> Result<GpioChip*> {
    if (auto it = opened.find(name); it != opened.end()) return it->second;
    RC_ASSIGN_OR_RETURN(std::unique_ptr<GpioChip> chip, gpio.open_chip(name));
    GpioChip* raw = chip.get();
    cabinet->chips_.push_back(std::move(chip));
    opened.emplace(name, raw);
    return raw;
  };

  // Locks first, each requested with its inactive level as the default, so that whatever state a
  // crash left a line in, the solenoids are off before anything else happens.
  for (std::size_t i = 0; i < pins.compartments.size(); ++i) {
    const CompartmentPins& c = pins.compartments[i];
    std::string name = "compartment[" + std::to_string(i) + "] lock";
    RC_ASSIGN_OR_RETURN(GpioChip * chip, with_context(chip_for(c.chip), name));
    bool inactive = level_for(false, c.lock_active_low);
    RC_ASSIGN_OR_RETURN(std::unique_ptr<GpioLine> line,
                        with_context(chip->request_output(c.lock_line, consumer, inactive), name));
    cabinet->locks_.push_back(
        std::make_unique<LinuxLock>(std::move(name), std::move(line), c.lock_active_low, sleep));
  }

  for (std::size_t i = 0; i < pins.compartments.size(); ++i) {
    const CompartmentPins& c = pins.compartments[i];
    std::string name = "compartment[" + std::to_string(i) + "] door";
    RC_ASSIGN_OR_RETURN(GpioChip * chip, with_context(chip_for(c.chip), name));
    RC_ASSIGN_OR_RETURN(
        std::unique_ptr<GpioLine> line,
        with_context(chip->request_input_events(c.door_line, consumer, c.door_bias), name));
    // Events report changes from this state on.
    RC_ASSIGN_OR_RETURN(bool high, with_context(line->get_value(), name));
    cabinet->doors_.push_back(std::make_unique<LinuxDoor>(std::move(name), std::move(line),
                                                          c.door_active_low, clock,
                                                          level_for(high, c.door_active_low)));
  }

  if (pins.tamper) {
    const InputPin& t = *pins.tamper;
    RC_ASSIGN_OR_RETURN(GpioChip * chip, with_context(chip_for(t.chip), "tamper"));
    RC_ASSIGN_OR_RETURN(std::unique_ptr<GpioLine> line,
                        with_context(chip->request_input(t.line, consumer, t.bias), "tamper"));
    cabinet->tamper_ = std::make_unique<LinuxTamper>(std::move(line), t.active_low);
  }

  auto request_led = [&](const std::optional<OutputPin>& pin,
                         const std::string& name) -> Result<std::unique_ptr<GpioLine>> {
    if (!pin) return std::unique_ptr<GpioLine>();
    RC_ASSIGN_OR_RETURN(GpioChip * chip, with_context(chip_for(pin->chip), name));
    bool off = level_for(false, pin->active_low);
    return with_context(chip->request_output(pin->line, consumer, off), name);
  };
  RC_ASSIGN_OR_RETURN(std::unique_ptr<GpioLine> green, request_led(pins.led_green, "green LED"));
  RC_ASSIGN_OR_RETURN(std::unique_ptr<GpioLine> red, request_led(pins.led_red, "red LED"));
  if (green || red) {
    cabinet->indicator_ = std::make_unique<GpioIndicator>(
        std::move(green), pins.led_green && pins.led_green->active_low, std::move(red),
        pins.led_red && pins.led_red->active_low);
  }
  return cabinet;
}

LinuxCabinet::~LinuxCabinet() = default;

Cabinet LinuxCabinet::cabinet() {
  Cabinet cabinet;
  for (std::size_t i = 0; i < locks_.size(); ++i) {
    Compartment compartment;
    compartment.lock = locks_[i].get();
    compartment.door = doors_[i].get();
    compartment.pulse_length = pins_.compartments[i].pulse;
    cabinet.compartments.push_back(compartment);
  }
  cabinet.tamper = tamper_.get();
  cabinet.indicator = indicator_.get();
  return cabinet;
}

}  // namespace reclothes::hal::linux_backend
