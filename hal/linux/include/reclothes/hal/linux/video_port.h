// VideoPort: the thin seam between the camera backend and V4L2.
//
// The real port (make_v4l2_port(), v4l2_port.h) is the only code that makes V4L2 ioctls; the
// camera logic (format choice, YUYV to grey, stride handling) is tested against FakeVideoPort.
//
// Threading: a port and a device may be used by one thread at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "reclothes/common/result.h"

namespace reclothes::hal::linux_backend {

// V4L2 pixel formats are four-character codes, little-endian (v4l2_fourcc()).
constexpr std::uint32_t make_fourcc(char a, char b, char c, char d) {
  return static_cast<std::uint32_t>(static_cast<unsigned char>(a)) |
         (static_cast<std::uint32_t>(static_cast<unsigned char>(b)) << 8) |
         (static_cast<std::uint32_t>(static_cast<unsigned char>(c)) << 16) |
         (static_cast<std::uint32_t>(static_cast<unsigned char>(d)) << 24);
}
inline constexpr std::uint32_t kFourccGrey = make_fourcc('G', 'R', 'E', 'Y');
inline constexpr std::uint32_t kFourccYuyv = make_fourcc('Y', 'U', 'Y', 'V');
// "YUYV"; unprintable bytes become '?'.
std::string fourcc_to_string(std::uint32_t fourcc);

// What the driver agreed to (it may change the size or the pixel format we asked for).
struct VideoFormat {
  std::uint32_t width = 0;
  std::uint32_t height = 0;
  std::uint32_t fourcc = 0;
  std::uint32_t bytes_per_line = 0;
  std::uint32_t size_image = 0;
};

// An open capture device. Destroying it stops streaming, unmaps buffers and closes the device.
class VideoDevice {
 public:
  virtual ~VideoDevice() = default;

  virtual const std::string& path() const = 0;
  // VIDIOC_S_FMT for single-planar capture; returns what the driver chose.
  virtual Result<VideoFormat> set_format(std::uint32_t width, std::uint32_t height,
                                         std::uint32_t fourcc) = 0;
  // Allocates and queues `buffer_count` mmap buffers and starts streaming.
  virtual Status start_streaming(std::uint32_t buffer_count) = 0;
  // Copies the next filled buffer into `out` (resized to the bytes the driver filled) and hands
  // the buffer back to the driver. kDeadlineExceeded if no frame arrives within `timeout`.
  virtual Status read_frame(std::chrono::milliseconds timeout, std::vector<std::uint8_t>& out) = 0;
};

class VideoPort {
 public:
  virtual ~VideoPort() = default;

  // Opens a capture device. Fails with kUnavailable "<path>: cannot open video device: No such
  // file or directory" when it is missing, and kUnavailable "<path>: not a V4L2 capture device"
  // when it is something else.
  virtual Result<std::unique_ptr<VideoDevice>> open(const std::string& path) = 0;
};

}  // namespace reclothes::hal::linux_backend
