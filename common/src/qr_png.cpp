#include "reclothes/common/qr_png.h"

#include <ZXing/BarcodeFormat.h>
#include <ZXing/BitMatrix.h>
#include <ZXing/MultiFormatWriter.h>
#include <stb_image_write.h>

#include <cstdint>
#include <exception>
#include <vector>

namespace reclothes {
namespace {

void append_png_bytes(void* context, void* data, int size) {
  auto* out = static_cast<std::string*>(context);
  out->append(static_cast<const char*>(data), static_cast<std::size_t>(size));
}

}  // namespace

Result<std::string> render_qr_png(std::string_view text, int module_px) {
  if (text.empty()) return make_error(ErrorCode::kInvalidArgument, "nothing to encode");
  if (module_px < 1 || module_px > 32) {
    return make_error(ErrorCode::kInvalidArgument, "module size must be 1..32 px");
  }
  ZXing::BitMatrix matrix;
  try {
    // Level M (ZXing's 4 of 0..8) survives glare on a phone screen and a scuffed label.
    matrix = ZXing::MultiFormatWriter(ZXing::BarcodeFormat::QRCode)
                 .setMargin(4)
                 .setEccLevel(4)
                 .encode(std::string(text), 0, 0);
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kInvalidArgument,
                      std::string("cannot encode as a QR code: ") + e.what());
  }
  const int w = matrix.width();
  const int h = matrix.height();
  if (w <= 0 || h <= 0) return make_error(ErrorCode::kInternal, "empty QR matrix");
  const int pw = w * module_px;
  const int ph = h * module_px;
  std::vector<std::uint8_t> pixels(static_cast<std::size_t>(pw) * static_cast<std::size_t>(ph));
  for (int y = 0; y < ph; ++y) {
    for (int x = 0; x < pw; ++x) {
      const bool black = matrix.get(x / module_px, y / module_px);
      pixels[static_cast<std::size_t>(y) * static_cast<std::size_t>(pw) +
             static_cast<std::size_t>(x)] = black ? 0 : 255;
    }
  }
  std::string png;
  if (stbi_write_png_to_func(append_png_bytes, &png, pw, ph, 1, pixels.data(), pw) == 0) {
    return make_error(ErrorCode::kInternal, "PNG encoding failed");
  }
  return png;
}

}  // namespace reclothes
