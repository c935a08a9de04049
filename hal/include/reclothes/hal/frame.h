// Frame: one 8-bit grayscale camera image, the input of the firmware's QR decode.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "reclothes/common/result.h"

namespace reclothes::hal {

// Row-major, one byte per pixel (0 black, 255 white). `stride` is the distance in bytes between
// the starts of two rows (>= width), so a backend can hand over a driver's padded rows without a
// copy. This is the layout ZXing's ImageView(data, width, height, ImageFormat::Lum, stride) reads.
struct Frame {
  // Larger frames are refused: a real sensor here is 640x480, and a bogus size from a driver or a
  // test must not make us allocate gigabytes.
  static constexpr std::uint32_t kMaxDimension = 8192;

  std::uint32_t width = 0;
  std::uint32_t height = 0;
  std::uint32_t stride = 0;
  std::vector<std::uint8_t> pixels;

  // A width x height frame of one grey level with stride == width.
  static Frame filled(std::uint32_t width, std::uint32_t height, std::uint8_t level);

  // The pixel at column x, row y. The caller keeps x < width and y < height.
  std::uint8_t at(std::uint32_t x, std::uint32_t y) const {
    return pixels[static_cast<std::size_t>(y) * stride + x];
  }
};

// Checks that a frame is self-consistent: 1..kMaxDimension wide and high, stride >= width, and
// enough pixels for every row. Returns kInvalidArgument saying what is wrong.
Status validate_frame(const Frame& frame);

}  // namespace reclothes::hal
