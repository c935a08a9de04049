// Reads a QR PNG back the way the box camera would (stb decodes, ZXing reads): the tests of the
// renderer and the domain tests of every route that hands out a code or a label.
#pragma once

#include <ZXing/ReadBarcode.h>
#include <stb_image.h>

#include <memory>
#include <string>

namespace reclothes::controller::testing {

struct DecodedPng {
  int width = 0;
  int height = 0;
  std::string text;  // the QR code's text, empty if none was found
};

inline DecodedPng decode_qr_png(const std::string& png) {
  DecodedPng d;
  int channels = 0;
  std::unique_ptr<stbi_uc, void (*)(void*)> pixels(
      stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(png.data()),
                            static_cast<int>(png.size()), &d.width, &d.height, &channels, 1),
      stbi_image_free);
  if (!pixels) return d;
  const auto result =
      ZXing::ReadBarcode(ZXing::ImageView(pixels.get(), d.width, d.height, ZXing::ImageFormat::Lum),
                         ZXing::DecodeHints().setFormats(ZXing::BarcodeFormat::QRCode));
  if (result.isValid()) d.text = result.text();
  return d;
}

}  // namespace reclothes::controller::testing
