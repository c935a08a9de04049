#include "reclothes/hal/linux/v4l2_camera.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>

namespace reclothes::hal::linux_backend {
namespace {

std::uint32_t bytes_per_pixel(std::uint32_t fourcc) { return fourcc == kFourccYuyv ? 2 : 1; }

constexpr std::uint32_t kMaxBuffers = 32;
constexpr std::chrono::milliseconds kMaxCaptureTimeout{60'000};

}  // namespace

std::string fourcc_to_string(std::uint32_t fourcc) {
  std::string text;
  for (int shift = 0; shift < 32; shift += 8) {
    auto c = static_cast<char>((fourcc >> shift) & 0xFFu);
    text += (c >= 0x20 && c < 0x7F) ? c : '?';
  }
  return text;
}

Result<std::unique_ptr<V4l2Camera>> V4l2Camera::open(VideoPort& port, const CameraConfig& config) {
  if (config.device.empty() || config.width == 0 || config.height == 0 ||
      config.width > Frame::kMaxDimension || config.height > Frame::kMaxDimension ||
      config.buffers < 2 || config.buffers > kMaxBuffers ||
      config.capture_timeout <= std::chrono::milliseconds::zero() ||
      config.capture_timeout > kMaxCaptureTimeout) {
    return make_error(ErrorCode::kInvalidArgument,
                      "camera config: need a device path, a size of 1.." +
                          std::to_string(Frame::kMaxDimension) + " per side, 2.." +
                          std::to_string(kMaxBuffers) + " buffers and a capture timeout of 1.." +
                          std::to_string(kMaxCaptureTimeout.count()) + " ms");
  }
  RC_ASSIGN_OR_RETURN(std::unique_ptr<VideoDevice> device, port.open(config.device));

  // GREY needs no conversion; most USB cameras offer only YUYV (and MJPG, which we do not
  // decode: the luma bytes of YUYV are all the QR decoder needs).
  RC_ASSIGN_OR_RETURN(VideoFormat format,
                      device->set_format(config.width, config.height, kFourccGrey));
  if (format.fourcc != kFourccGrey) {
    RC_ASSIGN_OR_RETURN(format, device->set_format(config.width, config.height, kFourccYuyv));
  }
  if (format.fourcc != kFourccGrey && format.fourcc != kFourccYuyv) {
    return make_error(ErrorCode::kUnavailable,
                      config.device + ": camera offers neither GREY nor YUYV (it chose " +
                          fourcc_to_string(format.fourcc) + ")");
  }
  // The driver may pick another size; we take what it gives, within reason.
  if (format.width == 0 || format.height == 0 || format.width > Frame::kMaxDimension ||
      format.height > Frame::kMaxDimension ||
      format.bytes_per_line < format.width * bytes_per_pixel(format.fourcc)) {
    return make_error(ErrorCode::kIo,
                      config.device + ": driver reported an inconsistent format " +
                          std::to_string(format.width) + "x" + std::to_string(format.height) +
                          " with " + std::to_string(format.bytes_per_line) + " bytes per line");
  }
  RC_TRY(device->start_streaming(config.buffers));
  return std::unique_ptr<V4l2Camera>(
      new V4l2Camera(std::move(device), format, config.capture_timeout));
}

V4l2Camera::V4l2Camera(std::unique_ptr<VideoDevice> device, VideoFormat format,
                       std::chrono::milliseconds timeout)
    : device_(std::move(device)), format_(format), timeout_(timeout) {}

Status V4l2Camera::do_capture(Frame& frame) {
  RC_TRY(device_->read_frame(timeout_, raw_));
  const std::uint32_t bpp = bytes_per_pixel(format_.fourcc);
  const std::size_t line = format_.bytes_per_line;
  // The last line needs no padding after its pixels.
  const std::size_t needed = line * (format_.height - 1) + std::size_t{format_.width} * bpp;
  if (raw_.size() < needed) {
    return make_error(ErrorCode::kIo, device_->path() + ": short frame of " +
                                          std::to_string(raw_.size()) + " bytes, need " +
                                          std::to_string(needed));
  }
  frame.width = format_.width;
  frame.height = format_.height;
  frame.stride = format_.width;
  // Same size every time, so after the first capture this neither allocates nor zeroes.
  frame.pixels.resize(std::size_t{format_.width} * format_.height);
  for (std::size_t y = 0; y < format_.height; ++y) {
    const std::uint8_t* in = raw_.data() + y * line;
    std::uint8_t* out = frame.pixels.data() + y * format_.width;
    if (bpp == 1) {
      std::memcpy(out, in, format_.width);
    } else {
      // YUYV packs two pixels in four bytes: Y0 U Y1 V. The luma is every other byte.
      for (std::size_t x = 0; x < format_.width; ++x) out[x] = in[2 * x];
    }
  }
  return ok_status();
}

}  // namespace reclothes::hal::linux_backend
