// The camera backend's logic against FakeVideoPort: format choice, YUYV to grey, strides, errors.
#include "reclothes/hal/linux/v4l2_camera.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <string>

#include "reclothes/hal/linux/testing/fake_video.h"

namespace reclothes::hal::linux_backend {
namespace {

using namespace std::chrono_literals;
using testing::FakeCameraSpec;
using testing::FakeVideoPort;

constexpr const char* kDevice = "/dev/video0";

// A frame whose every pixel is different, so a wrong offset or stride shows.
Frame gradient(std::uint32_t width, std::uint32_t height) {
  Frame frame = Frame::filled(width, height, 0);
  for (std::uint32_t y = 0; y < height; ++y) {
    for (std::uint32_t x = 0; x < width; ++x) {
      frame.pixels[y * width + x] = static_cast<std::uint8_t>(x * 10 + y);
    }
  }
  return frame;
}

CameraConfig config(std::uint32_t width = 8, std::uint32_t height = 4) {
  CameraConfig c;
  c.device = kDevice;
  c.width = width;
  c.height = height;
  return c;
}

TEST(V4l2Camera, YuyvCaptureReturnsTheLumaPlaneDespitePaddedLines) {
  FakeVideoPort port;
  port.add_device(kDevice,
                  FakeCameraSpec{.formats = {kFourccYuyv}, .width = 8, .height = 4, .padding = 6});
  auto camera = V4l2Camera::open(port, config());
  ASSERT_TRUE(camera.ok()) << camera.error().to_string();
  EXPECT_EQ(camera.value()->format().fourcc, kFourccYuyv);
  EXPECT_EQ(camera.value()->format().bytes_per_line, 8u * 2 + 6);
  EXPECT_TRUE(port.streaming(kDevice));
  EXPECT_EQ(port.buffers(kDevice), 4u);

  Frame luma = gradient(8, 4);
  port.push_frame(kDevice, FakeVideoPort::yuyv_from_luma(luma, 22, 0x80, 0x40));
  auto frame = camera.value()->capture();
  ASSERT_TRUE(frame.ok()) << frame.error().to_string();
  EXPECT_EQ(frame->width, 8u);
  EXPECT_EQ(frame->height, 4u);
  EXPECT_EQ(frame->stride, 8u);
  EXPECT_EQ(frame->pixels, luma.pixels);  // no chroma byte and no padding leaked in
}

TEST(V4l2Camera, PrefersGreyWhenTheDriverOffersIt) {
  FakeVideoPort port;
  port.add_device(
      kDevice,
      FakeCameraSpec{.formats = {kFourccYuyv, kFourccGrey}, .width = 8, .height = 4, .padding = 3});
  auto camera = V4l2Camera::open(port, config());
  ASSERT_TRUE(camera.ok());
  EXPECT_EQ(camera.value()->format().fourcc, kFourccGrey);

  Frame luma = gradient(8, 4);
  std::vector<std::uint8_t> raw;
  for (std::uint32_t y = 0; y < 4; ++y) {
    for (std::uint32_t x = 0; x < 8; ++x) raw.push_back(luma.at(x, y));
    if (y < 3) raw.insert(raw.end(), 3, 0xEE);  // padding, absent after the last line
  }
  port.push_frame(kDevice, raw);
  auto frame = camera.value()->capture();
  ASSERT_TRUE(frame.ok()) << frame.error().to_string();
  EXPECT_EQ(frame->pixels, luma.pixels);
}

TEST(V4l2Camera, CaptureIntoReusesTheFrameBuffer) {
  FakeVideoPort port;
  port.add_device(kDevice, FakeCameraSpec{.formats = {kFourccYuyv}, .width = 8, .height = 4});
  auto camera = V4l2Camera::open(port, config());
  ASSERT_TRUE(camera.ok());
  const Frame first = gradient(8, 4);
  Frame second = gradient(8, 4);
  for (auto& p : second.pixels) p = static_cast<std::uint8_t>(255 - p);
  port.push_frame(kDevice, FakeVideoPort::yuyv_from_luma(first, 16, 0, 0));
  port.push_frame(kDevice, FakeVideoPort::yuyv_from_luma(second, 16, 0, 0));

  Frame frame;
  ASSERT_TRUE(camera.value()->capture_into(frame).ok());
  EXPECT_EQ(frame.pixels, first.pixels);
  const std::uint8_t* buffer = frame.pixels.data();
  ASSERT_TRUE(camera.value()->capture_into(frame).ok());
  EXPECT_EQ(frame.pixels, second.pixels);
  EXPECT_EQ(frame.pixels.data(), buffer);  // overwritten in place, not allocated again
}

TEST(V4l2Camera, TakesTheSizeTheDriverChose) {
  FakeVideoPort port;
  port.add_device(kDevice, FakeCameraSpec{.formats = {kFourccYuyv}, .width = 4, .height = 2});
  auto camera = V4l2Camera::open(port, config(640, 480));
  ASSERT_TRUE(camera.ok());
  port.push_frame(kDevice, FakeVideoPort::yuyv_from_luma(gradient(4, 2), 8, 0, 0));
  auto frame = camera.value()->capture();
  ASSERT_TRUE(frame.ok());
  EXPECT_EQ(frame->width, 4u);
  EXPECT_EQ(frame->height, 2u);
}

TEST(V4l2Camera, MissingDeviceIsUnavailableAndNamesTheDevice) {
  FakeVideoPort port;
  auto camera = V4l2Camera::open(port, config());
  ASSERT_FALSE(camera.ok());
  EXPECT_EQ(camera.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(camera.error().message,
            "/dev/video0: cannot open video device: No such file or directory");
}

TEST(V4l2Camera, DeviceWithoutGreyOrYuyvIsUnavailableSayingWhatItOffered) {
  FakeVideoPort port;
  port.add_device(kDevice, FakeCameraSpec{.formats = {make_fourcc('M', 'J', 'P', 'G')}});
  auto camera = V4l2Camera::open(port, config());
  ASSERT_FALSE(camera.ok());
  EXPECT_EQ(camera.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(camera.error().message,
            "/dev/video0: camera offers neither GREY nor YUYV (it chose MJPG)");
}

TEST(V4l2Camera, PermissionAndStreamingFailuresAreReported) {
  FakeVideoPort port;
  port.add_device(kDevice, FakeCameraSpec{});
  port.fail_open(kDevice, EACCES);
  auto denied = V4l2Camera::open(port, config());
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.error().code, ErrorCode::kPermissionDenied);

  port.fail_open(kDevice, 0);
  port.fail_streaming(kDevice, EBUSY);
  auto busy = V4l2Camera::open(port, config());
  ASSERT_FALSE(busy.ok());
  EXPECT_EQ(busy.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(busy.error().message, "/dev/video0: cannot start streaming: Device or resource busy");
  EXPECT_FALSE(port.streaming(kDevice));
}

TEST(V4l2Camera, ShortFrameIsAnIoErrorAndNoFrameATimeout) {
  FakeVideoPort port;
  port.add_device(kDevice, FakeCameraSpec{.formats = {kFourccYuyv}, .width = 8, .height = 4});
  auto camera = V4l2Camera::open(port, config());
  ASSERT_TRUE(camera.ok());
  auto none = camera.value()->capture();
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code, ErrorCode::kDeadlineExceeded);

  std::vector<std::uint8_t> raw = FakeVideoPort::yuyv_from_luma(gradient(8, 4), 16, 0, 0);
  raw.resize(raw.size() - 1);
  port.push_frame(kDevice, raw);
  auto short_frame = camera.value()->capture();
  ASSERT_FALSE(short_frame.ok());
  EXPECT_EQ(short_frame.error().code, ErrorCode::kIo);
  EXPECT_EQ(short_frame.error().message, "/dev/video0: short frame of 63 bytes, need 64");
}

TEST(V4l2Camera, RefusesABadConfiguration) {
  FakeVideoPort port;
  port.add_device(kDevice, FakeCameraSpec{});
  CameraConfig no_device = config();
  no_device.device.clear();
  EXPECT_EQ(V4l2Camera::open(port, no_device).error().code, ErrorCode::kInvalidArgument);
  CameraConfig one_buffer = config();
  one_buffer.buffers = 1;
  EXPECT_EQ(V4l2Camera::open(port, one_buffer).error().code, ErrorCode::kInvalidArgument);
  CameraConfig no_timeout = config();
  no_timeout.capture_timeout = 0ms;
  EXPECT_EQ(V4l2Camera::open(port, no_timeout).error().code, ErrorCode::kInvalidArgument);
  EXPECT_FALSE(port.streaming(kDevice));
}

TEST(Fourcc, PrintsAsFourCharacters) {
  EXPECT_EQ(fourcc_to_string(kFourccYuyv), "YUYV");
  EXPECT_EQ(fourcc_to_string(kFourccGrey), "GREY");
  EXPECT_EQ(fourcc_to_string(0), "????");
}

}  // namespace
}  // namespace reclothes::hal::linux_backend
