// The controller with every module plugged in. Controller::create builds the core (database,
// services, core routes, MQTT bridge); make_controller adds the order domain (its routes, event
// hooks and worker). main and the tests that want the whole controller call this.
#pragma once

#include <memory>

#include "reclothes/common/clock.h"
#include "reclothes/common/result.h"
#include "reclothes/controller/config.h"
#include "reclothes/controller/controller.h"
#include "reclothes/controller/log.h"

namespace reclothes::controller {

// Errors: those of Controller::create, and of domain::register_domain (kInvalidArgument for a
// domain configuration the core's limits forbid, kUnavailable if the sandbox provider cannot
// start).
Result<std::unique_ptr<Controller>> make_controller(const ControllerConfig& config,
                                                    const Clock& clock, Log log);

}  // namespace reclothes::controller
