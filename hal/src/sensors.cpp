// The read-only sensors: fill level, environment, tamper switch.
#include <cmath>
#include <string>

#include "reclothes/hal/environment.h"
#include "reclothes/hal/fill_level.h"
#include "reclothes/hal/tamper.h"

namespace reclothes::hal {

Result<int> FillLevelSensor::percent() {
  RC_ASSIGN_OR_RETURN(int value, do_percent());
  if (value < 0 || value > 100) {
    return make_error(ErrorCode::kIo, "fill-level sensor reported " + std::to_string(value) +
                                          " %, outside 0..100: the sensor is faulty");
  }
  return value;
}

Result<EnvironmentReading> EnvironmentSensor::read() {
  RC_ASSIGN_OR_RETURN(EnvironmentReading reading, do_read());
  bool temperature_ok = std::isfinite(reading.temperature_c) &&
                        reading.temperature_c >= kMinTemperatureC &&
                        reading.temperature_c <= kMaxTemperatureC;
  bool humidity_ok = std::isfinite(reading.humidity_percent) && reading.humidity_percent >= 0.0 &&
                     reading.humidity_percent <= 100.0;
  if (!temperature_ok || !humidity_ok) {
    return make_error(ErrorCode::kIo, "environment sensor reported " +
                                          std::to_string(reading.temperature_c) + " C, " +
                                          std::to_string(reading.humidity_percent) +
                                          " % humidity, outside its range: the sensor is faulty");
  }
  return reading;
}

Result<bool> TamperSwitch::is_tampered() { return do_is_tampered(); }

}  // namespace reclothes::hal
