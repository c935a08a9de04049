// The real VideoPort: open(2), V4L2 ioctls and mmap streaming (the only code that makes them).
#pragma once

#include <memory>

#include "reclothes/hal/linux/video_port.h"

namespace reclothes::hal::linux_backend {

// Cannot fail: nothing is opened until open().
std::unique_ptr<VideoPort> make_v4l2_port();

}  // namespace reclothes::hal::linux_backend
