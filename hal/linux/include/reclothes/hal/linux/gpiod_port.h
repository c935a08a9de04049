// The real GpioPort, over libgpiod 1.6's C++ bindings (the only code that includes <gpiod.hpp>).
#pragma once

#include <memory>

#include "reclothes/hal/linux/gpio_port.h"

namespace reclothes::hal::linux_backend {

// Cannot fail: nothing is opened until open_chip().
std::unique_ptr<GpioPort> make_gpiod_port();

}  // namespace reclothes::hal::linux_backend
