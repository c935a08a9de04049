#include "reclothes/bench/frames.h"

#include <ZXing/DecodeHints.h>
#include <ZXing/ImageView.h>
#include <ZXing/ReadBarcode.h>

#include <algorithm>
#include <random>

#include "reclothes/firmware/scanner.h"

namespace reclothes::bench {

TokenClaims customer_claims(std::string_view box_id, TokenAction action, int compartment,
                            std::uint64_t order_ref, std::uint64_t serial, std::int64_t now_s) {
  TokenClaims c;
  // Distinct ids from the serial; the high byte marks bench tokens in a journal dump.
  c.token_id[0] = 0xbe;
  for (std::size_t i = 1; i < c.token_id.size(); ++i) {
    c.token_id[i] = static_cast<std::uint8_t>(serial >> (8 * (c.token_id.size() - 1 - i)));
  }
  c.action = action;
  c.box_id = std::string(box_id);
  c.compartments = {static_cast<std::uint8_t>(compartment)};
  c.order_ref = order_ref;
  c.not_before = now_s - 60;
  c.expires = now_s + 3600;
  return c;
}

Result<hal::Frame> token_frame(std::string_view text, std::uint32_t index) {
  std::mt19937 rng(index * 2654435761u + 1);
  firmware::QrRenderOptions o;
  o.module_px = index % 2 == 0 ? 4 : 5;
  o.margin_modules = 4;
  o.width = kFrameWidth;
  o.height = kFrameHeight;
  o.background = static_cast<std::uint8_t>(std::uniform_int_distribution<int>(70, 170)(rng));
  o.dark = static_cast<std::uint8_t>(std::uniform_int_distribution<int>(10, 40)(rng));
  o.light = static_cast<std::uint8_t>(std::uniform_int_distribution<int>(200, 245)(rng));
  o.noise = std::uniform_int_distribution<int>(4, 12)(rng);
  o.seed = index + 1;
  // Place the code at a random spot that keeps it whole: first its size (a render without canvas),
  // then the offset.
  firmware::QrRenderOptions fit = o;
  fit.width = 0;
  fit.height = 0;
  fit.noise = 0;
  auto probe = firmware::render_qr(text, fit);
  if (!probe.ok()) return std::move(probe).error();
  const std::uint32_t side = probe->width;
  if (side <= kFrameWidth && side <= kFrameHeight) {
    o.offset_x = std::uniform_int_distribution<std::uint32_t>(0, kFrameWidth - side)(rng);
    o.offset_y = std::uniform_int_distribution<std::uint32_t>(0, kFrameHeight - side)(rng);
  }
  return firmware::render_qr(text, o);
}

hal::Frame empty_frame(std::uint32_t index) {
  std::mt19937 rng(index * 40503u + 7);
  hal::Frame f = hal::Frame::filled(kFrameWidth, kFrameHeight, 0);
  const int base = std::uniform_int_distribution<int>(60, 160)(rng);
  const int slope = std::uniform_int_distribution<int>(-60, 60)(rng);
  for (std::uint32_t y = 0; y < f.height; ++y) {
    for (std::uint32_t x = 0; x < f.width; ++x) {
      const int v = base + slope * static_cast<int>(x + y) / static_cast<int>(f.width + f.height);
      f.pixels[static_cast<std::size_t>(y) * f.stride + x] =
          static_cast<std::uint8_t>(std::clamp(v, 0, 255));
    }
  }
  const int blocks = std::uniform_int_distribution<int>(2, 6)(rng);
  for (int b = 0; b < blocks; ++b) {
    const std::uint32_t w = std::uniform_int_distribution<std::uint32_t>(20, 300)(rng);
    const std::uint32_t h = std::uniform_int_distribution<std::uint32_t>(20, 240)(rng);
    const std::uint32_t x0 = std::uniform_int_distribution<std::uint32_t>(0, f.width - w)(rng);
    const std::uint32_t y0 = std::uniform_int_distribution<std::uint32_t>(0, f.height - h)(rng);
    const auto level = static_cast<std::uint8_t>(std::uniform_int_distribution<int>(0, 255)(rng));
    for (std::uint32_t y = y0; y < y0 + h; ++y) {
      std::fill_n(f.pixels.begin() + static_cast<std::ptrdiff_t>(y * f.stride + x0), w, level);
    }
  }
  std::uniform_int_distribution<int> noise(-8, 8);
  for (std::uint8_t& p : f.pixels) {
    p = static_cast<std::uint8_t>(std::clamp(int{p} + noise(rng), 0, 255));
  }
  return f;
}

std::string zxing_one_pass(const hal::Frame& frame) {
  static const ZXing::DecodeHints hints = [] {
    ZXing::DecodeHints h;
    h.setFormats(ZXing::BarcodeFormat::QRCode);
    h.setTryHarder(false);
    h.setTryRotate(false);
    h.setTryDownscale(true);
    return h;
  }();
  const ZXing::ImageView view(frame.pixels.data(), static_cast<int>(frame.width),
                              static_cast<int>(frame.height), ZXing::ImageFormat::Lum,
                              static_cast<int>(frame.stride));
  const ZXing::Result r = ZXing::ReadBarcode(view, hints);
  if (!r.isValid() || r.format() != ZXing::BarcodeFormat::QRCode) return {};
  return r.text();
}

}  // namespace reclothes::bench
