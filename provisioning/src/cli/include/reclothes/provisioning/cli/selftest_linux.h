// The self-test on the board backend (hal/linux) with the ports and clock passed in, so that tests
// run it on the HAL's fakes of the kernel (FakeGpio) and a ManualClock. Only in builds with
// reclothes::hal_linux; the CLI itself goes through make_self_test_rig.
#pragma once

#include <memory>

#include "reclothes/common/clock.h"
#include "reclothes/common/result.h"
#include "reclothes/hal/linux/gpio_port.h"
#include "reclothes/hal/linux/linux_cabinet.h"
#include "reclothes/hal/linux/video_port.h"
#include "reclothes/provisioning/cli/box_file.h"
#include "reclothes/provisioning/cli/selftest_backend.h"

namespace reclothes::provisioning::cli {

// The configuration's pin map as the linux backend's PinMap (consumer "reclothes-box").
// kInvalidArgument if a compartment has no pin, or validate_pin_map refuses the map.
Result<hal::linux_backend::PinMap> pin_map_of(const BoxFile& config);

// Opens the cabinet through `gpio` (and the camera through `video` if the configuration names one
// and video is given). `pulse_sleep` is how a lock waits out its pulse (LinuxCabinet's Sleeper),
// `wait` how the self-test waits between polls. gpio and video are used only while opening;
// `clock` must outlive the rig. The HAL's errors name the chip and line.
Result<std::unique_ptr<SelfTestRig>> make_linux_self_test_rig(
    const BoxFile& config, hal::linux_backend::GpioPort& gpio, hal::linux_backend::VideoPort* video,
    const Clock& clock, hal::linux_backend::Sleeper pulse_sleep, Sleeper wait);

}  // namespace reclothes::provisioning::cli
