// The hardware self-test a technician runs on a new or repaired box, through the HAL only (so the
// same code runs on the sim backend here and on the linux backend on a board):
//
//   for each compartment, one after the other (never two doors unlatched at once):
//     release the lock; the door must read closed; pulse the lock for its configured length; the
//     door must report open within door_open_timeout (else: jammed or no signal); the lock must
//     be de-energised after the pulse; the door must report closed again within
//     door_close_timeout (the technician closes it; on the sim the CLI plays the technician);
//     read the fill-level sensor if the compartment has one
//   then the cabinet: indicator, environment sensor, tamper switch, one camera frame.
//
// Timing goes through the injected Clock and Sleeper, so tests run it on a ManualClock without
// sleeping; the CLI passes the system clock and a real sleep on a board.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "reclothes/common/clock.h"
#include "reclothes/hal/cabinet.h"

namespace reclothes::provisioning::cli {

using Sleeper = std::function<void(std::chrono::milliseconds)>;

struct SelfTestOptions {
  std::chrono::milliseconds door_open_timeout{10'000};
  std::chrono::milliseconds door_close_timeout{60'000};
  std::chrono::milliseconds poll_interval{20};
  // How long after the pulse's end the lock may still report energised before it is a fault.
  std::chrono::milliseconds release_grace{1'000};
};

// What the configuration says a compartment has; index i is Cabinet::compartments[i].
struct CompartmentExpectation {
  int number = 0;
  std::chrono::milliseconds pulse{500};
  bool fill_sensor = false;
};

struct CabinetExpectation {
  std::vector<CompartmentExpectation> compartments;
  bool camera = false;  // the configuration names a camera: its absence is a fault
};

// Called while the self-test waits. door_opened: the door of compartment `number` was seen open
// (the sim backend closes it here; on a board the CLI asks the technician to close it).
struct SelfTestHooks {
  std::function<void(int number)> door_opened;
  std::function<void(const std::string& line)> progress;
};

enum class CheckOutcome { kOk, kWarning, kFault, kAbsent };
std::string_view to_string(CheckOutcome outcome);  // "ok", "warning", "fault", "absent"

struct CompartmentCheck {
  int number = 0;
  CheckOutcome lock = CheckOutcome::kOk;
  CheckOutcome door = CheckOutcome::kOk;
  CheckOutcome fill = CheckOutcome::kAbsent;
  std::string lock_text;  // "pulsed 500 ms", "fault: io: ..."
  std::string door_text;  // "opened after 300 ms, closed", "jammed: ..."
  std::string fill_text;  // "42 %", "-", "fault: ..."
  std::optional<int> fill_percent;
  std::optional<std::chrono::milliseconds> opened_after;
  std::vector<std::string> faults;  // "jammed: door did not open within 10 s of the pulse"
  bool ok() const { return faults.empty(); }
};

struct CabinetCheck {
  std::string name;  // "indicator", "environment", "tamper", "camera"
  CheckOutcome outcome = CheckOutcome::kOk;
  std::string text;  // "21.5 C, 40 %", "closed", "640x480 frame", "fault: ..."
};

struct SelfTestReport {
  std::vector<CompartmentCheck> compartments;
  std::vector<CabinetCheck> cabinet;
  bool ok() const;
  // Every fault, each prefixed with where: "compartment 3: jammed: ...", "camera: ...".
  std::vector<std::string> faults() const;
};

// Runs the self-test. The cabinet must have as many compartments as the expectation (checked by
// the caller, which built both from one configuration). Never throws; every HAL failure becomes
// a fault in the report.
SelfTestReport run_self_test(hal::Cabinet& cabinet, const CabinetExpectation& expect,
                             const Clock& clock, const Sleeper& sleep,
                             const SelfTestOptions& options = {}, const SelfTestHooks& hooks = {});

}  // namespace reclothes::provisioning::cli
