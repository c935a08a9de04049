// PinMap: which GPIO line does what on one board. Read-only configuration, kept apart from the
// runtime state of the devices (Zephyr's config/data split). The firmware fills it from its
// configuration file; the linux backend only reads it.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "reclothes/common/result.h"
#include "reclothes/hal/linux/gpio_port.h"

namespace reclothes::hal::linux_backend {

struct CompartmentPins {
  std::string chip = "gpiochip0";
  // The solenoid driver's input. Active = energised.
  unsigned int lock_line = 0;
  bool lock_active_low = false;
  // The reed switch. Active = door open (a normally-open reed switch with the magnet on the door
  // and a pull-up reads high when the door is open: active-high).
  unsigned int door_line = 0;
  bool door_active_low = false;
  LineBias door_bias = LineBias::kPullUp;
  // How long this solenoid needs (Compartment::pulse_length).
  std::chrono::milliseconds pulse{500};
};

struct InputPin {
  std::string chip = "gpiochip0";
  unsigned int line = 0;
  bool active_low = false;
  LineBias bias = LineBias::kPullUp;
};

struct OutputPin {
  std::string chip = "gpiochip0";
  unsigned int line = 0;
  bool active_low = false;
};

struct PinMap {
  // Shown by `gpioinfo` as the holder of every line we request.
  std::string consumer = "reclothes-box";
  std::vector<CompartmentPins> compartments;
  // Active = the service panel is open.
  std::optional<InputPin> tamper;
  // Status LEDs; a board may have neither (then the Cabinet has no indicator).
  std::optional<OutputPin> led_green;
  std::optional<OutputPin> led_red;
};

// The most compartments a cabinet may have (the design says 4 to 48; leave some headroom).
inline constexpr std::size_t kMaxCompartments = 64;

// Fails with kInvalidArgument naming the first problem: no compartments or more than
// kMaxCompartments, an empty chip name or consumer, a pulse outside 1..kMaxPulse, or the same
// (chip, line) used twice ("gpiochip0 line 17 is used by compartment[0] lock and tamper").
Status validate_pin_map(const PinMap& pins);

}  // namespace reclothes::hal::linux_backend
