// Probes of the REAL libgpiod and V4L2 ports on a machine without GPIO chips or cameras (these CI
// machines: no CONFIG_GPIOLIB, no /dev/video*). They prove the only code that talks to the kernel
// fails cleanly, with an Error naming the device, instead of throwing or crashing. On a machine
// that has the device, the probe is skipped: real-line tests belong on a board (see README).
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "reclothes/hal/linux/gpiod_port.h"
#include "reclothes/hal/linux/linux_cabinet.h"
#include "reclothes/hal/linux/v4l2_camera.h"
#include "reclothes/hal/linux/v4l2_port.h"

namespace reclothes::hal::linux_backend {
namespace {

bool has_substring(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(RealGpiodPort, OpeningGpiochip0WithoutAChipFailsCleanly) {
  if (std::filesystem::exists("/dev/gpiochip0")) GTEST_SKIP() << "this machine has gpiochip0";
  auto port = make_gpiod_port();
  auto chip = port->open_chip("gpiochip0");
  ASSERT_FALSE(chip.ok());
  EXPECT_TRUE(chip.error().code == ErrorCode::kUnavailable || chip.error().code == ErrorCode::kIo)
      << chip.error().to_string();
  EXPECT_TRUE(has_substring(chip.error().message, "gpiochip0: cannot open GPIO chip"))
      << chip.error().message;
}

TEST(RealGpiodPort, LinuxCabinetOverTheRealPortFailsNamingTheChip) {
  if (std::filesystem::exists("/dev/gpiochip0")) GTEST_SKIP() << "this machine has gpiochip0";
  auto port = make_gpiod_port();
  ManualClock clock;
  PinMap pins;
  pins.compartments.push_back({.chip = "gpiochip0", .lock_line = 17, .door_line = 27});
  auto cabinet = LinuxCabinet::open(pins, *port, clock);
  ASSERT_FALSE(cabinet.ok());
  EXPECT_TRUE(has_substring(cabinet.error().message, "compartment[0] lock: gpiochip0"))
      << cabinet.error().message;
}

TEST(RealV4l2Port, MissingDeviceIsUnavailableNamingIt) {
  std::filesystem::path missing = std::filesystem::temp_directory_path() / "reclothes-no-video9";
  ASSERT_FALSE(std::filesystem::exists(missing));
  auto port = make_v4l2_port();
  auto device = port->open(missing.string());
  ASSERT_FALSE(device.ok());
  EXPECT_EQ(device.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(device.error().message,
            missing.string() + ": cannot open video device: No such file or directory");
}

TEST(RealV4l2Port, CameraOnAMissingVideo0IsUnavailableNamingIt) {
  if (std::filesystem::exists("/dev/video0")) GTEST_SKIP() << "this machine has /dev/video0";
  auto port = make_v4l2_port();
  auto camera = V4l2Camera::open(*port, CameraConfig{});
  ASSERT_FALSE(camera.ok());
  EXPECT_EQ(camera.error().code, ErrorCode::kUnavailable);
  EXPECT_TRUE(has_substring(camera.error().message, "/dev/video0")) << camera.error().message;
}

TEST(RealV4l2Port, AFileThatIsNotAVideoDeviceIsRefused) {
  auto port = make_v4l2_port();
  auto device = port->open("/dev/null");
  ASSERT_FALSE(device.ok());
  EXPECT_EQ(device.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(device.error().message, "/dev/null: not a V4L2 capture device");
}

}  // namespace
}  // namespace reclothes::hal::linux_backend
