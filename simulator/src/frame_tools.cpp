#include "reclothes/simulator/frame_tools.h"

#include <stb_image.h>
#include <stb_image_write.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <memory>
#include <numbers>
#include <random>
#include <vector>

#include "reclothes/firmware/scanner.h"

namespace reclothes::simulator {

namespace {

Error invalid(std::string message) {
  return make_error(ErrorCode::kInvalidArgument, std::move(message));
}

std::uint8_t clamp_grey(double v) {
  return static_cast<std::uint8_t>(std::clamp(std::lround(v), 0L, 255L));
}

}  // namespace

Status validate(const PresentOptions& o) {
  if (o.module_px < 1 || o.module_px > 32) return invalid("module_px must be 1..32");
  const Degrade& d = o.degrade;
  if (!std::isfinite(d.scale) || d.scale < 0.25 || d.scale > 4.0) {
    return invalid("scale must be 0.25..4");
  }
  if (!std::isfinite(d.rotation_deg) || d.rotation_deg < -180.0 || d.rotation_deg > 180.0) {
    return invalid("rotation_deg must be -180..180");
  }
  if (!std::isfinite(d.blur_sigma) || d.blur_sigma < 0.0 || d.blur_sigma > 10.0) {
    return invalid("blur must be 0..10 (pixels of Gaussian sigma)");
  }
  if (d.noise < 0 || d.noise > 127) return invalid("noise must be 0..127");
  return ok_status();
}

hal::Frame warp(const hal::Frame& in, double scale, double rotation_deg, std::uint8_t fill) {
  hal::Frame out = hal::Frame::filled(in.width, in.height, fill);
  const double theta = rotation_deg * std::numbers::pi / 180.0;
  const double c = std::cos(theta);
  const double s = std::sin(theta);
  const double cx = (static_cast<double>(in.width) - 1.0) / 2.0;
  const double cy = (static_cast<double>(in.height) - 1.0) / 2.0;
  const auto w = static_cast<double>(in.width);
  const auto h = static_cast<double>(in.height);
  // Inverse mapping: for every output pixel, where in the input did it come from?
  for (std::uint32_t y = 0; y < out.height; ++y) {
    for (std::uint32_t x = 0; x < out.width; ++x) {
      const double dx = static_cast<double>(x) - cx;
      const double dy = static_cast<double>(y) - cy;
      const double sx = (c * dx + s * dy) / scale + cx;
      const double sy = (-s * dx + c * dy) / scale + cy;
      if (sx < 0.0 || sy < 0.0 || sx > w - 1.0 || sy > h - 1.0) continue;
      const auto x0 = static_cast<std::uint32_t>(sx);
      const auto y0 = static_cast<std::uint32_t>(sy);
      const std::uint32_t x1 = std::min(x0 + 1, in.width - 1);
      const std::uint32_t y1 = std::min(y0 + 1, in.height - 1);
      const double fx = sx - static_cast<double>(x0);
      const double fy = sy - static_cast<double>(y0);
      const double top = in.at(x0, y0) * (1.0 - fx) + in.at(x1, y0) * fx;
      const double bottom = in.at(x0, y1) * (1.0 - fx) + in.at(x1, y1) * fx;
      out.pixels[static_cast<std::size_t>(y) * out.stride + x] =
          clamp_grey(top * (1.0 - fy) + bottom * fy);
    }
  }
  return out;
}

hal::Frame gaussian_blur(const hal::Frame& in, double sigma) {
  hal::Frame out = hal::Frame::filled(in.width, in.height, 0);
  if (sigma <= 0.0) {
    for (std::uint32_t y = 0; y < in.height; ++y) {
      for (std::uint32_t x = 0; x < in.width; ++x) {
        out.pixels[static_cast<std::size_t>(y) * out.stride + x] = in.at(x, y);
      }
    }
    return out;
  }
  // Separable kernel of radius 3 sigma, normalised; edges repeat the border pixel.
  const int radius = std::max(1, static_cast<int>(std::ceil(3.0 * sigma)));
  std::vector<double> kernel(static_cast<std::size_t>(2 * radius + 1));
  double sum = 0.0;
  for (int i = -radius; i <= radius; ++i) {
    const double v = std::exp(-(i * i) / (2.0 * sigma * sigma));
    kernel[static_cast<std::size_t>(i + radius)] = v;
    sum += v;
  }
  for (double& v : kernel) v /= sum;

  const auto w = static_cast<int>(in.width);
  const auto h = static_cast<int>(in.height);
  std::vector<double> tmp(static_cast<std::size_t>(w) * static_cast<std::size_t>(h));
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      double acc = 0.0;
      for (int k = -radius; k <= radius; ++k) {
        const int sx = std::clamp(x + k, 0, w - 1);
        acc += kernel[static_cast<std::size_t>(k + radius)] *
               in.at(static_cast<std::uint32_t>(sx), static_cast<std::uint32_t>(y));
      }
      tmp[static_cast<std::size_t>(y) * static_cast<std::size_t>(w) + static_cast<std::size_t>(x)] =
          acc;
    }
  }
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      double acc = 0.0;
      for (int k = -radius; k <= radius; ++k) {
        const int sy = std::clamp(y + k, 0, h - 1);
        acc += kernel[static_cast<std::size_t>(k + radius)] *
               tmp[static_cast<std::size_t>(sy) * static_cast<std::size_t>(w) +
                   static_cast<std::size_t>(x)];
      }
      out.pixels[static_cast<std::size_t>(y) * out.stride + static_cast<std::size_t>(x)] =
          clamp_grey(acc);
    }
  }
  return out;
}

void add_noise(hal::Frame& frame, int amplitude, std::uint32_t seed) {
  if (amplitude <= 0) return;
  std::minstd_rand rng(seed == 0 ? 1 : seed);
  std::uniform_int_distribution<int> dist(-amplitude, amplitude);
  for (std::uint32_t y = 0; y < frame.height; ++y) {
    for (std::uint32_t x = 0; x < frame.width; ++x) {
      std::uint8_t& p = frame.pixels[static_cast<std::size_t>(y) * frame.stride + x];
      p = static_cast<std::uint8_t>(std::clamp(p + dist(rng), 0, 255));
    }
  }
}

Result<hal::Frame> render_presented(std::string_view text, std::uint32_t width,
                                    std::uint32_t height, const PresentOptions& options) {
  RC_TRY(validate(options));
  firmware::QrRenderOptions render;
  render.module_px = options.module_px;
  render.width = width;
  render.height = height;
  RC_ASSIGN_OR_RETURN(hal::Frame frame, firmware::render_qr(text, render));
  const Degrade& d = options.degrade;
  if (d.scale != 1.0 || d.rotation_deg != 0.0) {
    frame = warp(frame, d.scale, d.rotation_deg, render.background);
  }
  if (d.blur_sigma > 0.0) frame = gaussian_blur(frame, d.blur_sigma);
  add_noise(frame, d.noise, d.seed);
  return frame;
}

Result<hal::Frame> frame_from_png(std::string_view png, std::uint32_t width, std::uint32_t height) {
  constexpr int kMaxSide = 4096;
  if (png.size() < 8 || png.substr(1, 3) != "PNG") return invalid("the picture is not a PNG");
  if (width == 0 || height == 0) return invalid("the camera frame is empty");
  int w = 0;
  int h = 0;
  int channels = 0;
  const auto* data = reinterpret_cast<const stbi_uc*>(png.data());
  const int size = static_cast<int>(std::min<std::size_t>(png.size(), INT32_MAX));
  if (stbi_info_from_memory(data, size, &w, &h, &channels) == 0 || w < 1 || h < 1 || w > kMaxSide ||
      h > kMaxSide) {
    return invalid("the PNG cannot be read, or is larger than 4096 px on a side");
  }
  std::unique_ptr<stbi_uc, void (*)(void*)> grey(
      stbi_load_from_memory(data, size, &w, &h, &channels, 1), stbi_image_free);
  if (!grey) return invalid(std::string("the PNG cannot be decoded: ") + stbi_failure_reason());
  // Shrink to fit (area average over the source pixels each output pixel covers), never enlarge.
  const auto src_w = static_cast<std::size_t>(w);
  const auto src_h = static_cast<std::size_t>(h);
  const double scale = std::min({1.0, static_cast<double>(width) / static_cast<double>(w),
                                 static_cast<double>(height) / static_cast<double>(h)});
  const auto fit = [scale](std::size_t n) {
    return std::max<std::size_t>(1, static_cast<std::size_t>(static_cast<double>(n) * scale));
  };
  // The source span [first, last) that output pixel i covers along a side of n source pixels.
  const auto span = [scale](std::size_t i, std::size_t n) {
    const auto first = std::min(n - 1, static_cast<std::size_t>(static_cast<double>(i) / scale));
    const auto last =
        std::clamp(static_cast<std::size_t>(static_cast<double>(i + 1) / scale), first + 1, n);
    return std::pair{first, last};
  };
  const std::size_t out_w = std::min<std::size_t>(fit(src_w), width);
  const std::size_t out_h = std::min<std::size_t>(fit(src_h), height);
  hal::Frame frame = hal::Frame::filled(width, height, 255);
  const std::size_t left = (width - out_w) / 2;
  const std::size_t top = (height - out_h) / 2;
  const stbi_uc* pixels = grey.get();
  for (std::size_t y = 0; y < out_h; ++y) {
    const auto [y0, y1] = span(y, src_h);
    for (std::size_t x = 0; x < out_w; ++x) {
      const auto [x0, x1] = span(x, src_w);
      double sum = 0.0;
      for (std::size_t sy = y0; sy < y1; ++sy) {
        for (std::size_t sx = x0; sx < x1; ++sx) sum += pixels[sy * src_w + sx];
      }
      frame.pixels[(top + y) * frame.stride + left + x] =
          clamp_grey(sum / static_cast<double>((y1 - y0) * (x1 - x0)));
    }
  }
  return frame;
}

Result<std::string> encode_png(const hal::Frame& frame) {
  RC_TRY(hal::validate_frame(frame));
  std::string out;
  const int ok = stbi_write_png_to_func(
      [](void* context, void* data, int size) {
        static_cast<std::string*>(context)->append(static_cast<const char*>(data),
                                                   static_cast<std::size_t>(size));
      },
      &out, static_cast<int>(frame.width), static_cast<int>(frame.height), 1, frame.pixels.data(),
      static_cast<int>(frame.stride));
  if (ok == 0) return make_error(ErrorCode::kInternal, "stb could not encode the frame as PNG");
  return out;
}

}  // namespace reclothes::simulator
