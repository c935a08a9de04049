#include "reclothes/hal/linux/pin_map.h"

#include <string>
#include <vector>

#include "reclothes/hal/lock.h"

namespace reclothes::hal::linux_backend {
namespace {

struct Use {
  std::string chip;
  unsigned int line;
  std::string user;
};

Error invalid(std::string message) {
  return make_error(ErrorCode::kInvalidArgument, "pin map: " + std::move(message));
}

}  // namespace

Status validate_pin_map(const PinMap& pins) {
  if (pins.consumer.empty()) return invalid("consumer name is empty");
  if (pins.compartments.empty() || pins.compartments.size() > kMaxCompartments) {
    return invalid(std::to_string(pins.compartments.size()) + " compartments, must be 1.." +
                   std::to_string(kMaxCompartments));
  }
  std::vector<Use> uses;
  for (std::size_t i = 0; i < pins.compartments.size(); ++i) {
    const CompartmentPins& c = pins.compartments[i];
    std::string name = "compartment[" + std::to_string(i) + "]";
    if (c.pulse <= std::chrono::milliseconds::zero() || c.pulse > CompartmentLock::kMaxPulse) {
      return invalid(name + " pulse of " + std::to_string(c.pulse.count()) + " ms, must be 1.." +
                     std::to_string(CompartmentLock::kMaxPulse.count()) + " ms");
    }
    uses.push_back({c.chip, c.lock_line, name + " lock"});
    uses.push_back({c.chip, c.door_line, name + " door"});
  }
  if (pins.tamper) uses.push_back({pins.tamper->chip, pins.tamper->line, "tamper"});
  if (pins.led_green) uses.push_back({pins.led_green->chip, pins.led_green->line, "green LED"});
  if (pins.led_red) uses.push_back({pins.led_red->chip, pins.led_red->line, "red LED"});

  for (std::size_t i = 0; i < uses.size(); ++i) {
    if (uses[i].chip.empty()) return invalid(uses[i].user + " has an empty chip name");
    for (std::size_t j = 0; j < i; ++j) {
      // Names are compared as written: "gpiochip0" and "/dev/gpiochip0" are not recognised as the
      // same chip here, but the kernel then refuses the second request with EBUSY.
      if (uses[j].chip == uses[i].chip && uses[j].line == uses[i].line) {
        return invalid(uses[i].chip + " line " + std::to_string(uses[i].line) + " is used by " +
                       uses[j].user + " and " + uses[i].user);
      }
    }
  }
  return ok_status();
}

}  // namespace reclothes::hal::linux_backend
