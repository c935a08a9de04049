// The hardware sections of the box configuration file (docs/firmware.md, "Configuration
// reference"), read once for the two programs that read that file: the firmware, which runs from
// it, and the provisioning CLI, which writes it and reads it back (and reads a technician's pin
// map in the same shape). Each keeps its own structs (the CLI does not link the firmware); these
// templates fill either, so field names, ranges and strictness cannot drift apart.
//
// On the common strict reader: problems name the field by JSON pointer, unknown fields are
// refused. Header-only and pure.
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>

#include "reclothes/common/json_reader.h"
#include "reclothes/common/result.h"

namespace reclothes::box_config_json {

inline constexpr unsigned int kMaxGpioLine = 1023;
inline constexpr std::int64_t kMinPulseMs = 50;
inline constexpr std::int64_t kMaxPulseMs = 2000;

inline Result<unsigned int> read_gpio_line(const json::Json& v, std::string_view p) {
  return json::integer_in<unsigned int>(0, kMaxGpioLine)(v, p);
}

// A compartment's lock and door lines into Pins (members chip, lock_line, lock_active_low,
// door_line, door_active_low); absent optional fields keep Pins' defaults.
template <typename Pins>
Result<Pins> read_compartment_pins(const json::Json& j, std::string_view p) {
  RC_TRY(json::check_object(
      j, p, {"chip", "lock_line", "lock_active_low", "door_line", "door_active_low"}));
  Pins pins;
  RC_TRY(json::read_optional(j, p, "chip", pins.chip, json::read_nonempty_string));
  RC_ASSIGN_OR_RETURN(pins.lock_line, json::read_field(j, p, "lock_line", read_gpio_line));
  RC_ASSIGN_OR_RETURN(pins.door_line, json::read_field(j, p, "door_line", read_gpio_line));
  RC_TRY(json::read_optional(j, p, "lock_active_low", pins.lock_active_low, json::read_bool));
  RC_TRY(json::read_optional(j, p, "door_active_low", pins.door_active_low, json::read_bool));
  return pins;
}

// One cabinet-wide line (tamper switch, LED) into Pin (members chip, line, active_low).
template <typename Pin>
Result<Pin> read_gpio_pin(const json::Json& j, std::string_view p) {
  RC_TRY(json::check_object(j, p, {"chip", "line", "active_low"}));
  Pin pin;
  RC_TRY(json::read_optional(j, p, "chip", pin.chip, json::read_nonempty_string));
  RC_ASSIGN_OR_RETURN(pin.line, json::read_field(j, p, "line", read_gpio_line));
  RC_TRY(json::read_optional(j, p, "active_low", pin.active_low, json::read_bool));
  return pin;
}

// The optional "tamper", "led_green" and "led_red" of `object` into out's optional members of
// those names.
template <typename Cabinet>
Status read_cabinet_pins(const json::Json& object, std::string_view p, Cabinet& out) {
  using Pin = typename decltype(out.tamper)::value_type;
  RC_TRY(json::read_optional(object, p, "tamper", out.tamper, read_gpio_pin<Pin>));
  RC_TRY(json::read_optional(object, p, "led_green", out.led_green, read_gpio_pin<Pin>));
  RC_TRY(json::read_optional(object, p, "led_red", out.led_red, read_gpio_pin<Pin>));
  return ok_status();
}

// The camera section into Camera (members device, width, height, fps).
template <typename Camera>
Result<Camera> read_camera(const json::Json& j, std::string_view p) {
  RC_TRY(json::check_object(j, p, {"device", "width", "height", "fps"}));
  Camera c;
  const auto pixels = json::integer_in<std::uint32_t>(16, 8192);
  RC_TRY(json::read_optional(j, p, "device", c.device, json::read_nonempty_string));
  RC_TRY(json::read_optional(j, p, "width", c.width, pixels));
  RC_TRY(json::read_optional(j, p, "height", c.height, pixels));
  RC_TRY(json::read_optional(j, p, "fps", c.fps, json::integer_in<std::uint32_t>(1, 60)));
  return c;
}

// A compartment's optional "pulse_ms" (a std::chrono::milliseconds member pulse) and
// "fill_sensor"; the caller reads the rest of the compartment.
template <typename Compartment>
Status read_pulse_and_fill(const json::Json& j, std::string_view p, Compartment& out) {
  RC_TRY(
      json::read_optional(j, p, "pulse_ms", out.pulse,
                          json::duration_in<std::chrono::milliseconds>(kMinPulseMs, kMaxPulseMs)));
  RC_TRY(json::read_optional(j, p, "fill_sensor", out.fill_sensor, json::read_bool));
  return ok_status();
}

}  // namespace reclothes::box_config_json
