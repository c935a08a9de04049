// Readers of a cabinet's JSON pieces (GPIO pins, a compartment's hardware), on the common strict
// reader (reclothes/common/json_reader.h). The compartments file (cabinet_spec.cpp) and the box
// configuration (box_file.cpp) both use them, so the two agree on fields and ranges, which are
// the firmware's. Private to the CLI library.
#pragma once

#include <string_view>

#include "reclothes/common/json_reader.h"
#include "reclothes/common/result.h"
#include "reclothes/provisioning/cli/cabinet_spec.h"

namespace reclothes::provisioning::cli::cabinet_json {

// {"chip", "lock_line", "lock_active_low", "door_line", "door_active_low"}
Result<CompartmentPins> read_pins(const json::Json& j, std::string_view pointer);
// {"chip", "line", "active_low"}
Result<GpioPin> read_gpio(const json::Json& j, std::string_view pointer);
// The optional cabinet-wide pins "tamper", "led_green" and "led_red" of `object`.
Status read_cabinet_pins(const json::Json& object, std::string_view pointer, CabinetPlan& plan);
// The optional "pulse_ms", "fill_sensor" and "pin" of one compartment.
Status read_hardware(const json::Json& compartment, std::string_view pointer, CompartmentPlan& out);

}  // namespace reclothes::provisioning::cli::cabinet_json
