// QR PNGs decode back to their text with ZXing (the same reader the box camera uses).
#include "reclothes/controller/domain/png.h"

#include <ZXing/ReadBarcode.h>
#include <gtest/gtest.h>
#include <stb_image.h>

#include <memory>

namespace reclothes::controller::domain {
namespace {

struct Decoded {
  int width = 0;
  int height = 0;
  std::string text;
};

Decoded decode_png(const std::string& png) {
  Decoded d;
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

TEST(QrPng, DecodesToTheToken) {
  const std::string token = "RC1:6BFOXN*TS0BI$ZD EKC4$FEJ+AG%5$%FNBKK4GL2J+ZF";
  auto png = render_qr_png(token, 4);
  ASSERT_TRUE(png.ok()) << png.error().to_string();
  EXPECT_EQ(png->substr(1, 3), "PNG");
  const auto d = decode_png(*png);
  EXPECT_EQ(d.text, token);
  EXPECT_EQ(d.width % 4, 0);
}

TEST(QrPng, LabelFitsA50mmPrinterAndDecodesToTheTrackingCode) {
  auto png = render_label_png("RC-7F3K9Q2M1X");
  ASSERT_TRUE(png.ok());
  const auto d = decode_png(*png);
  EXPECT_EQ(d.text, "RC-7F3K9Q2M1X");
  EXPECT_GE(d.width, 300);
  EXPECT_LE(d.width, 400);
  EXPECT_EQ(d.width, d.height);
}

TEST(QrPng, RefusesWhatItCannotDraw) {
  EXPECT_EQ(render_qr_png("").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(render_qr_png("x", 0).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(render_qr_png("x", 33).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(render_qr_png(std::string(8000, 'A')).error().code, ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace reclothes::controller::domain
