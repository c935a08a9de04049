#include "reclothes/hal/frame.h"

#include <string>

#include "reclothes/hal/camera.h"

namespace reclothes::hal {

Frame Frame::filled(std::uint32_t width, std::uint32_t height, std::uint8_t level) {
  Frame frame;
  frame.width = width;
  frame.height = height;
  frame.stride = width;
  frame.pixels.assign(static_cast<std::size_t>(width) * height, level);
  return frame;
}

Status validate_frame(const Frame& frame) {
  auto bad = [&](std::string why) {
    return make_error(ErrorCode::kInvalidArgument,
                      "frame " + std::to_string(frame.width) + "x" + std::to_string(frame.height) +
                          " (stride " + std::to_string(frame.stride) + ", " +
                          std::to_string(frame.pixels.size()) + " bytes): " + why);
  };
  if (frame.width == 0 || frame.height == 0) return bad("width and height must be at least 1");
  if (frame.width > Frame::kMaxDimension || frame.height > Frame::kMaxDimension) {
    return bad("width and height must be at most " + std::to_string(Frame::kMaxDimension));
  }
  if (frame.stride < frame.width) return bad("stride is smaller than width");
  // The last row needs only `width` bytes, so a driver buffer without trailing padding is valid.
  std::size_t needed = static_cast<std::size_t>(frame.stride) * (frame.height - 1) + frame.width;
  if (frame.pixels.size() < needed) {
    return bad("too few pixels, need " + std::to_string(needed));
  }
  return ok_status();
}

Status Camera::capture_into(Frame& frame) {
  RC_TRY(do_capture(frame));
  Status valid = validate_frame(frame);
  if (!valid.ok()) {
    return make_error(ErrorCode::kInternal,
                      "camera backend produced an inconsistent " + valid.error().message);
  }
  return ok_status();
}

Result<Frame> Camera::capture() {
  Frame frame;
  RC_TRY(capture_into(frame));
  return frame;
}

}  // namespace reclothes::hal
