// Cabinet: the wiring of one box's devices, handed to the firmware in one place.
#pragma once

#include <chrono>
#include <vector>

#include "reclothes/hal/camera.h"
#include "reclothes/hal/door.h"
#include "reclothes/hal/environment.h"
#include "reclothes/hal/fill_level.h"
#include "reclothes/hal/indicator.h"
#include "reclothes/hal/lock.h"
#include "reclothes/hal/tamper.h"

namespace reclothes::hal {

// Plain data, no behaviour: the pointers are borrowed from the backend object that made them
// (sim::SimCabinet, linux_backend::LinuxCabinet), which must outlive every copy of this struct.
// Only a main (firmware, simulator, provisioning) builds a backend and hands its Cabinet on.

struct Compartment {
  CompartmentLock* lock = nullptr;  // never null in a Cabinet made by a backend
  DoorSensor* door = nullptr;       // never null in a Cabinet made by a backend
  FillLevelSensor* fill = nullptr;  // null: this compartment has no fill-level sensor
  // How long this compartment's solenoid needs, from the configuration (pin map): what the
  // firmware passes to lock->pulse().
  std::chrono::milliseconds pulse_length{500};
};

struct Cabinet {
  // Index i is compartment i of the backend's configuration (pin map order, sim index).
  std::vector<Compartment> compartments;
  // Cabinet-wide devices; null when the box does not have (or has not opened) one.
  Camera* camera = nullptr;
  EnvironmentSensor* environment = nullptr;
  TamperSwitch* tamper = nullptr;
  Indicator* indicator = nullptr;
};

}  // namespace reclothes::hal
