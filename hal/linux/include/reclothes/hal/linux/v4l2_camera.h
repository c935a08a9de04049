// V4l2Camera: the Camera over a V4L2 device, delivering the luma (Y) plane as a grey Frame.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "reclothes/common/result.h"
#include "reclothes/hal/camera.h"
#include "reclothes/hal/linux/video_port.h"

namespace reclothes::hal::linux_backend {

struct CameraConfig {
  std::string device = "/dev/video0";
  std::uint32_t width = 640;
  std::uint32_t height = 480;
  std::uint32_t buffers = 4;
  // capture() gives kDeadlineExceeded after this long without a frame.
  std::chrono::milliseconds capture_timeout{2000};
};

class V4l2Camera final : public Camera {
 public:
  // Opens the device and negotiates a format: GREY if the driver offers it (no conversion), else
  // YUYV (most USB cameras; we keep the Y bytes). Fails with kInvalidArgument for a bad config,
  // with the port's error (kUnavailable naming the device when it is missing), and with
  // kUnavailable "<device>: camera offers neither GREY nor YUYV (it chose MJPG)" otherwise.
  static Result<std::unique_ptr<V4l2Camera>> open(VideoPort& port, const CameraConfig& config);

  const VideoFormat& format() const { return format_; }

 private:
  V4l2Camera(std::unique_ptr<VideoDevice> device, VideoFormat format,
             std::chrono::milliseconds timeout);

  Status do_capture(Frame& frame) override;

  std::unique_ptr<VideoDevice> device_;
  VideoFormat format_;
  std::chrono::milliseconds timeout_;
  std::vector<std::uint8_t> raw_;  // reused between captures
};

}  // namespace reclothes::hal::linux_backend
