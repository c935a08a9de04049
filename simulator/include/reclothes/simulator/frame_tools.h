// What a phone held to the box camera looks like: a token rendered with the firmware's own QR
// writer (firmware::render_qr, ZXing's MultiFormatWriter) on the camera's canvas, then spoiled the
// way a real camera spoils it (zoom, tilt, focus blur, sensor noise). The frame then goes into the
// sim camera, so the firmware's real decode path (Box -> Scanner -> ZXing) reads it or fails to.
//
// All functions are pure and thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "reclothes/common/result.h"
#include "reclothes/hal/frame.h"

namespace reclothes::simulator {

// How the picture is spoiled, applied in this order: warp (scale and rotation about the centre,
// bilinear), Gaussian blur, then uniform noise (a sensor adds its noise after the optics blur).
struct Degrade {
  double scale = 1.0;         // 0.25..4: the phone nearer (>1) or farther (<1) than at render
  double rotation_deg = 0.0;  // -180..180: the phone tilted, clockwise positive
  double blur_sigma = 0.0;    // 0..10 px: out of focus
  int noise = 0;              // 0..127: each pixel moves by a uniform +-noise grey levels
  std::uint32_t seed = 1;     // the noise is reproducible

  bool none() const {
    return scale == 1.0 && rotation_deg == 0.0 && blur_sigma == 0.0 && noise == 0;
  }
};

struct PresentOptions {
  int module_px = 4;  // 1..32 pixels per QR module before scaling
  Degrade degrade;
};

// kInvalidArgument naming the field that is out of range.
Status validate(const PresentOptions& options);

// Renders `text` on a width x height canvas (the camera's frame size) with render_qr, then applies
// the degradation. kInvalidArgument for bad options, empty text, or a code that does not fit.
Result<hal::Frame> render_presented(std::string_view text, std::uint32_t width,
                                    std::uint32_t height, const PresentOptions& options);

// The building blocks (exposed for tests). `fill` is the grey level that enters from outside the
// picture when it is zoomed out or rotated.
hal::Frame warp(const hal::Frame& in, double scale, double rotation_deg, std::uint8_t fill);
hal::Frame gaussian_blur(const hal::Frame& in, double sigma);
void add_noise(hal::Frame& frame, int amplitude, std::uint32_t seed);

// A picture held to the camera, as the camera sees it: the PNG (any colour type stb_image reads)
// in grey, shrunk by area averaging to fit the width x height frame if it is larger (never
// enlarged), centred on white. This is how a screenshot of a phone's screen (the console's courier
// QR code) goes into the sim camera. kInvalidArgument for data that is not a PNG stb can read or
// is larger than 4096 px on a side.
Result<hal::Frame> frame_from_png(std::string_view png, std::uint32_t width, std::uint32_t height);

// A grey PNG of the frame (stb_image_write), for the box page and `reclothes-sim render`.
// kInvalidArgument for an inconsistent frame, kInternal if stb fails.
Result<std::string> encode_png(const hal::Frame& frame);

}  // namespace reclothes::simulator
