// BoxConfig -> the sim backend's configuration. Header-only: the firmware core links no backend;
// a main, the simulator or a test that links reclothes::hal_sim includes this.
#pragma once

#include "reclothes/firmware/config.h"
#include "reclothes/hal/sim/sim_cabinet.h"

namespace reclothes::firmware {

// The sim gives every compartment the same pulse length and either all or no fill sensors; the
// firmware pulses each lock for its own configured length anyway (Box uses CompartmentConfig).
inline hal::sim::SimCabinetConfig to_sim_config(const BoxConfig& config) {
  hal::sim::SimCabinetConfig sim;
  sim.compartments = config.compartments.size();
  sim.fill_sensors = false;
  for (const CompartmentConfig& c : config.compartments) sim.fill_sensors |= c.fill_sensor;
  if (!config.compartments.empty()) sim.pulse_length = config.compartments.front().pulse;
  if (config.camera) {
    sim.frame_width = config.camera->width;
    sim.frame_height = config.camera->height;
  }
  return sim;
}

}  // namespace reclothes::firmware
