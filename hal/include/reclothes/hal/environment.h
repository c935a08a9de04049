// EnvironmentSensor: temperature and humidity inside the cabinet.
#pragma once

#include "reclothes/common/result.h"

namespace reclothes::hal {

struct EnvironmentReading {
  double temperature_c = 0.0;
  double humidity_percent = 0.0;

  bool operator==(const EnvironmentReading&) const = default;
};

// Threading: one thread reads the sensor.
class EnvironmentSensor {
 public:
  // Plausible range of the cabinet sensors we use (SHT3x class parts); outside it the reading is
  // a sensor fault, not weather.
  static constexpr double kMinTemperatureC = -40.0;
  static constexpr double kMaxTemperatureC = 125.0;

  virtual ~EnvironmentSensor() = default;
  EnvironmentSensor(const EnvironmentSensor&) = delete;
  EnvironmentSensor& operator=(const EnvironmentSensor&) = delete;

  // Fails with kIo / kUnavailable if the sensor cannot be read, and with kIo if the backend
  // reports a value that is not finite or outside kMin..kMaxTemperatureC / 0..100 %.
  Result<EnvironmentReading> read();

 protected:
  EnvironmentSensor() = default;

 private:
  virtual Result<EnvironmentReading> do_read() = 0;
};

}  // namespace reclothes::hal
