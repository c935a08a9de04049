// Builds the HAL backend a self-test runs on, from a box configuration: the sim (in memory, with
// injected faults for tests and demonstrations) or the board (libgpiod + V4L2, when built with
// libgpiod). This is the CLI's "main" side of the HAL: the self-test itself never names a backend.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "reclothes/common/clock.h"
#include "reclothes/common/result.h"
#include "reclothes/hal/cabinet.h"
#include "reclothes/provisioning/cli/box_file.h"
#include "reclothes/provisioning/cli/selftest.h"

namespace reclothes::provisioning::cli {

// A fault the sim backend injects: --sim-fault jam:3, lock:2, door:1, fill:4, camera,
// environment, tamper, indicator.
struct SimFault {
  enum class Kind { kJam, kLock, kDoor, kFill, kCamera, kEnvironment, kTamper, kIndicator };
  Kind kind = Kind::kJam;
  int compartment = 0;  // 1-based for jam/lock/door/fill; 0 for cabinet-wide faults
  bool operator==(const SimFault&) const = default;
};
// kInvalidArgument with the accepted forms for anything else.
Result<SimFault> parse_sim_fault(std::string_view text);

struct BackendOptions {
  Backend backend = Backend::kSim;
  std::vector<SimFault> sim_faults;
  // The sim's doors spring open this long after a pulse (the technician's hand on a board).
  std::chrono::milliseconds sim_auto_open{300};
};

// A backend with its devices, its clock and how to wait on that clock.
class SelfTestRig {
 public:
  virtual ~SelfTestRig() = default;
  virtual hal::Cabinet& cabinet() = 0;
  virtual const Clock& clock() const = 0;
  virtual const Sleeper& sleeper() const = 0;
  // What to do once a door was seen open: the sim closes it as a technician would; on a board
  // the technician is asked to.
  virtual void on_door_opened(int number, const std::function<void(const std::string&)>& say) = 0;
  virtual std::string description() const = 0;  // "sim (virtual time)", "linux (gpiochip0)"
};

// kInvalidArgument for a fault naming a compartment the box does not have, or for the linux
// backend without a pin map; kUnavailable for the linux backend in a build without libgpiod, and
// the HAL's errors (chip missing, line busy) otherwise.
Result<std::unique_ptr<SelfTestRig>> make_self_test_rig(const BoxFile& config,
                                                        const BackendOptions& options);

CabinetExpectation expectation_of(const BoxFile& config);

}  // namespace reclothes::provisioning::cli
