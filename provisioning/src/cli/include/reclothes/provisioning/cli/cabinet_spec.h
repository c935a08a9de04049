// What a technician says about a cabinet when registering it: its compartments (size, pulse, fill
// sensor, GPIO pins) and the cabinet-wide pins. Two forms:
//
//   shorthand   "S:8,M:8,L:4,XL:4"   sizes and counts, numbered 1..N in the order given, no pins
//                                    (enough for the sim backend and for the controller)
//   JSON file   {"compartments": [{"size": "S", "pulse_ms": 400, "fill_sensor": true,
//                                  "pin": {"chip": "gpiochip0", "lock_line": 17, "door_line": 27}},
//                                 ...],
//                "tamper": {"chip": "gpiochip0", "line": 4},
//                "led_green": {...}, "led_red": {...}}
//               (or just the compartments array) with the pin map of a real board.
//
// The field names and ranges are the firmware's (docs/firmware.md, configuration reference), so a
// plan turns into the box configuration without translation.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "reclothes/common/result.h"

namespace reclothes::provisioning::cli {

inline constexpr std::size_t kMaxCompartments = 64;  // the firmware's limit
inline constexpr unsigned int kMaxGpioLine = 1023;
inline constexpr std::chrono::milliseconds kMinPulse{50};
inline constexpr std::chrono::milliseconds kMaxPulse{2000};
inline constexpr std::chrono::milliseconds kDefaultPulse{500};

struct CompartmentPins {
  std::string chip = "gpiochip0";
  unsigned int lock_line = 0;
  bool lock_active_low = false;
  unsigned int door_line = 0;
  bool door_active_low = false;
  bool operator==(const CompartmentPins&) const = default;
};

struct GpioPin {
  std::string chip = "gpiochip0";
  unsigned int line = 0;
  bool active_low = false;
  bool operator==(const GpioPin&) const = default;
};

struct CompartmentPlan {
  int number = 0;    // 1..N in order
  std::string size;  // "S", "M", "L", "XL"
  std::chrono::milliseconds pulse = kDefaultPulse;
  bool fill_sensor = false;
  std::optional<CompartmentPins> pins;
  bool operator==(const CompartmentPlan&) const = default;
};

struct CabinetPlan {
  std::vector<CompartmentPlan> compartments;  // 1..kMaxCompartments
  std::optional<GpioPin> tamper;
  std::optional<GpioPin> led_green;
  std::optional<GpioPin> led_red;

  // True when every compartment has its pins (the linux backend needs them).
  bool has_pin_map() const;
  bool operator==(const CabinetPlan&) const = default;
};

// "S", "m", "xl" -> "S", "M", "XL"; nullopt for anything else.
std::optional<std::string> normalise_size(std::string_view size);

// The shorthand "S:8,M:8,L:4,XL:4" (sizes case-insensitive, spaces allowed around items).
// kInvalidArgument naming the item: an unknown size, a count that is not 1..64, a missing ':',
// an empty item, or more than kMaxCompartments in total.
Result<CabinetPlan> parse_shorthand(std::string_view spec);

// The JSON form (object or bare array). Strict like the firmware: unknown fields, wrong types and
// out-of-range values are kInvalidArgument with the field's path
// ("compartments[2].pin.lock_line: expected an integer in 0..1023"). Also refused: a (chip, line)
// used twice, and a "number" that is not the compartment's position.
Result<CabinetPlan> parse_cabinet_json(std::string_view json_text);

// The --compartments argument: a path to an existing file (or one ending in ".json", or "@path")
// is read and parsed as JSON; anything else is the shorthand. File errors are kNotFound/kIo.
Result<CabinetPlan> load_cabinet_spec(std::string_view argument);

// "8 x S, 8 x M" for people.
std::string describe(const CabinetPlan& plan);

}  // namespace reclothes::provisioning::cli
