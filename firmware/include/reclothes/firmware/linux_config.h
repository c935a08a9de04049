// BoxConfig -> the linux backend's configuration (PinMap, V4L2 camera). Header-only: the firmware
// core links no backend, and reclothes::hal_linux exists only where libgpiod does. Only the board
// main (and tests that link reclothes::hal_linux) include this.
#pragma once

#include <string>
#include <utility>

#include "reclothes/common/result.h"
#include "reclothes/firmware/config.h"
#include "reclothes/hal/linux/pin_map.h"
#include "reclothes/hal/linux/v4l2_camera.h"

namespace reclothes::firmware {

// Fails with kInvalidArgument if a compartment has no pin (parse_config already refuses that for
// the linux backend) or if hal::linux_backend::validate_pin_map refuses the result.
inline Result<hal::linux_backend::PinMap> to_pin_map(const BoxConfig& config) {
  namespace lb = hal::linux_backend;
  lb::PinMap map;
  for (const CompartmentConfig& c : config.compartments) {
    if (!c.pin) {
      return make_error(ErrorCode::kInvalidArgument,
                        "/compartments/" + std::to_string(c.id - 1) + "/pin: missing");
    }
    lb::CompartmentPins pins;
    pins.chip = c.pin->chip;
    pins.lock_line = c.pin->lock_line;
    pins.lock_active_low = c.pin->lock_active_low;
    pins.door_line = c.pin->door_line;
    pins.door_active_low = c.pin->door_active_low;
    pins.door_bias = lb::LineBias::kPullUp;
    pins.pulse = c.pulse;
    map.compartments.push_back(std::move(pins));
  }
  if (config.hal.tamper) {
    map.tamper = lb::InputPin{config.hal.tamper->chip, config.hal.tamper->line,
                              config.hal.tamper->active_low, lb::LineBias::kPullUp};
  }
  if (config.hal.led_green) {
    map.led_green = lb::OutputPin{config.hal.led_green->chip, config.hal.led_green->line,
                                  config.hal.led_green->active_low};
  }
  if (config.hal.led_red) {
    map.led_red = lb::OutputPin{config.hal.led_red->chip, config.hal.led_red->line,
                                config.hal.led_red->active_low};
  }
  RC_TRY(lb::validate_pin_map(map));
  return map;
}

inline hal::linux_backend::CameraConfig to_v4l2_config(const CameraConfig& camera) {
  hal::linux_backend::CameraConfig out;
  out.device = camera.device;
  out.width = camera.width;
  out.height = camera.height;
  return out;
}
}  // namespace reclothes::firmware
