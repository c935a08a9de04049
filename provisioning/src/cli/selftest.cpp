#include "reclothes/provisioning/cli/selftest.h"

#include <algorithm>
#include <cstdio>

namespace reclothes::provisioning::cli {
namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

// Door events queued before the test are history, not the test's result.
constexpr int kMaxDrainedEvents = 1000;

std::string format_duration(milliseconds d) {
  if (d.count() % 1000 == 0 && d.count() >= 1000) return std::to_string(d.count() / 1000) + " s";
  return std::to_string(d.count()) + " ms";
}

milliseconds since(const Clock& clock, Clock::Monotonic start) {
  return duration_cast<milliseconds>(clock.monotonic() - start);
}

class CompartmentRun {
 public:
  CompartmentRun(hal::Compartment& c, const CompartmentExpectation& e, const Clock& clock,
                 const Sleeper& sleep, const SelfTestOptions& options, const SelfTestHooks& hooks)
      : c_(c), e_(e), clock_(clock), sleep_(sleep), options_(options), hooks_(hooks) {
    r_.number = e.number;
  }

  CompartmentCheck run() {
    progress("compartment " + std::to_string(e_.number) + ": testing lock and door");
    if (lock_and_door()) {
      // Only a door that opened must close again.
      wait_closed();
    }
    read_fill();
    if (r_.lock_text.empty()) r_.lock_text = "-";
    if (r_.door_text.empty()) r_.door_text = "-";
    return r_;
  }

 private:
  void progress(const std::string& line) {
    if (hooks_.progress) hooks_.progress(line);
  }
  void lock_fault(const std::string& what) {
    r_.lock = CheckOutcome::kFault;
    r_.lock_text = "fault";
    r_.faults.push_back(what);
  }
  void door_fault(const std::string& short_text, const std::string& what) {
    r_.door = CheckOutcome::kFault;
    r_.door_text = short_text;
    r_.faults.push_back(what);
  }

  // True if the door opened after the pulse.
  bool lock_and_door() {
    if (Status s = c_.lock->release(); !s.ok()) {
      lock_fault("lock release failed: " + s.error().to_string());
      return false;
    }
    for (int k = 0; k < kMaxDrainedEvents; ++k) {
      auto ev = c_.door->poll_event(milliseconds(0));
      if (!ev.ok()) {
        door_fault("sensor fault", "door sensor unreadable: " + ev.error().to_string());
        return false;
      }
      if (!*ev) break;
    }
    auto open = c_.door->is_open();
    if (!open.ok()) {
      door_fault("sensor fault", "door sensor unreadable: " + open.error().to_string());
      return false;
    }
    if (*open) {
      door_fault("open before test", "door reads open before the test: close door " +
                                         std::to_string(e_.number) +
                                         " and run again (or the sensor is stuck open)");
      r_.lock_text = "not pulsed";
      return false;
    }

    const Clock::Monotonic start = clock_.monotonic();
    if (Status s = c_.lock->pulse(e_.pulse); !s.ok()) {
      lock_fault("lock pulse failed: " + s.error().to_string());
      return false;
    }
    r_.lock_text = "pulsed " + format_duration(e_.pulse);

    bool opened = false;
    for (;;) {
      auto ev = c_.door->poll_event(milliseconds(0));
      if (!ev.ok()) {
        door_fault("sensor fault", "door sensor failed after the pulse: " + ev.error().to_string());
        break;
      }
      if (*ev && (*ev)->kind == hal::DoorEventKind::kOpened) opened = true;
      if (!opened && !*ev) {
        auto now_open = c_.door->is_open();
        if (!now_open.ok()) {
          door_fault("sensor fault",
                     "door sensor failed after the pulse: " + now_open.error().to_string());
          break;
        }
        opened = *now_open;
      }
      if (opened) {
        r_.opened_after = since(clock_, start);
        break;
      }
      if (since(clock_, start) >= options_.door_open_timeout) {
        door_fault("did not open", "jammed: the door did not open within " +
                                       format_duration(options_.door_open_timeout) +
                                       " of the pulse (latch stuck, or door sensor not wired)");
        break;
      }
      if (!*ev) sleep_(options_.poll_interval);
    }

    // The backend ends every pulse itself; a lock still energised long after is a driver fault
    // (and a solenoid that overheats). Release it and say so.
    while (c_.lock->energised()) {
      if (since(clock_, start) > e_.pulse + options_.release_grace) {
        lock_fault("lock still energised " + format_duration(since(clock_, start)) +
                   " after a pulse of " + format_duration(e_.pulse));
        (void)c_.lock->release();
        break;
      }
      sleep_(options_.poll_interval);
    }
    if (opened) r_.door_text = "opened after " + format_duration(*r_.opened_after);
    return opened;
  }

  void wait_closed() {
    if (hooks_.door_opened) hooks_.door_opened(e_.number);
    const Clock::Monotonic start = clock_.monotonic();
    for (;;) {
      // Events only tell that something changed; the level read after draining them decides.
      for (int k = 0; k < kMaxDrainedEvents; ++k) {
        auto ev = c_.door->poll_event(milliseconds(0));
        if (!ev.ok()) {
          door_fault("sensor fault", "door sensor failed while waiting for the door to close: " +
                                         ev.error().to_string());
          return;
        }
        if (!*ev) break;
      }
      auto open = c_.door->is_open();
      if (!open.ok()) {
        door_fault("sensor fault", "door sensor failed while waiting for the door to close: " +
                                       open.error().to_string());
        return;
      }
      if (!*open) {
        r_.door_text += ", closed";
        return;
      }
      if (since(clock_, start) >= options_.door_close_timeout) {
        door_fault("did not close", "the door did not report closed within " +
                                        format_duration(options_.door_close_timeout) +
                                        " (door left open, or the sensor is stuck open)");
        return;
      }
      sleep_(options_.poll_interval);
    }
  }

  void read_fill() {
    if (!e_.fill_sensor) {
      r_.fill = CheckOutcome::kAbsent;
      r_.fill_text = "-";
      return;
    }
    if (c_.fill == nullptr) {
      r_.fill = CheckOutcome::kWarning;
      r_.fill_text = "no driver";
      return;
    }
    auto percent = c_.fill->percent();
    if (!percent.ok()) {
      r_.fill = CheckOutcome::kFault;
      r_.fill_text = "fault";
      r_.faults.push_back("fill-level sensor: " + percent.error().to_string());
      return;
    }
    r_.fill = CheckOutcome::kOk;
    r_.fill_percent = *percent;
    r_.fill_text = std::to_string(*percent) + " %";
  }

  hal::Compartment& c_;
  const CompartmentExpectation& e_;
  const Clock& clock_;
  const Sleeper& sleep_;
  const SelfTestOptions& options_;
  const SelfTestHooks& hooks_;
  CompartmentCheck r_;
};

CabinetCheck check_environment(hal::EnvironmentSensor* sensor) {
  CabinetCheck c{"environment", CheckOutcome::kAbsent, "absent"};
  if (sensor == nullptr) return c;
  auto reading = sensor->read();
  if (!reading.ok()) {
    c.outcome = CheckOutcome::kFault;
    c.text = reading.error().to_string();
    return c;
  }
  char text[64];
  std::snprintf(text, sizeof(text), "%.1f C, %.0f %% RH", reading->temperature_c,
                reading->humidity_percent);
  c.outcome = CheckOutcome::kOk;
  c.text = text;
  return c;
}

CabinetCheck check_tamper(hal::TamperSwitch* tamper) {
  CabinetCheck c{"tamper", CheckOutcome::kAbsent, "absent"};
  if (tamper == nullptr) return c;
  auto open = tamper->is_tampered();
  if (!open.ok()) {
    // The firmware treats an unreadable switch as tampering: a cut wire looks the same.
    c.outcome = CheckOutcome::kFault;
    c.text = open.error().to_string();
    return c;
  }
  // During installation the service panel is usually open: worth a note, not a fault.
  c.outcome = *open ? CheckOutcome::kWarning : CheckOutcome::kOk;
  c.text = *open ? "panel open (close it before leaving)" : "panel closed";
  return c;
}

CabinetCheck check_camera(hal::Camera* camera, bool expected) {
  CabinetCheck c{"camera", CheckOutcome::kAbsent, "absent"};
  if (camera == nullptr) {
    if (expected) {
      c.outcome = CheckOutcome::kFault;
      c.text = "the configuration names a camera but none could be opened";
    }
    return c;
  }
  auto frame = camera->capture();
  if (!frame.ok()) {
    c.outcome = CheckOutcome::kFault;
    c.text = frame.error().to_string();
    return c;
  }
  c.outcome = CheckOutcome::kOk;
  c.text = std::to_string(frame->width) + "x" + std::to_string(frame->height) + " frame";
  return c;
}

}  // namespace

std::string_view to_string(CheckOutcome outcome) {
  switch (outcome) {
    case CheckOutcome::kOk:
      return "ok";
    case CheckOutcome::kWarning:
      return "warning";
    case CheckOutcome::kFault:
      return "fault";
    case CheckOutcome::kAbsent:
      return "absent";
  }
  return "unknown";
}

bool SelfTestReport::ok() const { return faults().empty(); }

std::vector<std::string> SelfTestReport::faults() const {
  std::vector<std::string> out;
  for (const auto& c : compartments) {
    for (const auto& f : c.faults)
      out.push_back("compartment " + std::to_string(c.number) + ": " + f);
  }
  for (const auto& c : cabinet) {
    if (c.outcome == CheckOutcome::kFault) out.push_back(c.name + ": " + c.text);
  }
  return out;
}

SelfTestReport run_self_test(hal::Cabinet& cabinet, const CabinetExpectation& expect,
                             const Clock& clock, const Sleeper& sleep,
                             const SelfTestOptions& options, const SelfTestHooks& hooks) {
  SelfTestReport report;
  CabinetCheck indicator{"indicator", CheckOutcome::kAbsent, "absent"};
  if (cabinet.indicator != nullptr) {
    if (Status s = cabinet.indicator->show(hal::IndicatorPattern::kWorking, "Self-test"); !s.ok()) {
      indicator.outcome = CheckOutcome::kFault;
      indicator.text = s.error().to_string();
    } else {
      indicator.outcome = CheckOutcome::kOk;
      indicator.text = "shows the self-test";
    }
  }

  const std::size_t n = std::min(cabinet.compartments.size(), expect.compartments.size());
  for (std::size_t i = 0; i < n; ++i) {
    CompartmentRun run(cabinet.compartments[i], expect.compartments[i], clock, sleep, options,
                       hooks);
    report.compartments.push_back(run.run());
  }

  report.cabinet.push_back(indicator);
  report.cabinet.push_back(check_environment(cabinet.environment));
  report.cabinet.push_back(check_tamper(cabinet.tamper));
  report.cabinet.push_back(check_camera(cabinet.camera, expect.camera));

  if (cabinet.indicator != nullptr && indicator.outcome == CheckOutcome::kOk) {
    // Leave the box showing the outcome for the technician.
    (void)cabinet.indicator->show(
        report.ok() ? hal::IndicatorPattern::kIdle : hal::IndicatorPattern::kFault,
        report.ok() ? "Self-test passed" : "Self-test failed");
  }
  return report;
}

}  // namespace reclothes::provisioning::cli
