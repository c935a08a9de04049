// FillLevelSensor: how full one compartment is (optional hardware, not every compartment has one).
#pragma once

#include "reclothes/common/result.h"

namespace reclothes::hal {

// Threading: one thread reads a sensor.
class FillLevelSensor {
 public:
  virtual ~FillLevelSensor() = default;
  FillLevelSensor(const FillLevelSensor&) = delete;
  FillLevelSensor& operator=(const FillLevelSensor&) = delete;

  // 0 (empty) to 100 (full). Fails with kIo / kUnavailable if the sensor cannot be read, and with
  // kIo if the backend reports a value outside 0..100 (a broken sensor, not a full compartment).
  Result<int> percent();

 protected:
  FillLevelSensor() = default;

 private:
  virtual Result<int> do_percent() = 0;
};

}  // namespace reclothes::hal
