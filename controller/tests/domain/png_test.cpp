// QR PNGs decode back to their text with ZXing (the same reader the box camera uses).
#include "reclothes/controller/domain/png.h"

#include <gtest/gtest.h>

#include "qr_png_reader.h"

namespace reclothes::controller::domain {
namespace {

using testing::decode_qr_png;

TEST(QrPng, DecodesToTheToken) {
  const std::string token = "RC1:6BFOXN*TS0BI$ZD EKC4$FEJ+AG%5$%FNBKK4GL2J+ZF";
  auto png = render_qr_png(token, 4);
  ASSERT_TRUE(png.ok()) << png.error().to_string();
  EXPECT_EQ(png->substr(1, 3), "PNG");
  const auto d = decode_qr_png(*png);
  EXPECT_EQ(d.text, token);
  EXPECT_EQ(d.width % 4, 0);
}

TEST(QrPng, LabelFitsA50mmPrinterAndDecodesToTheTrackingCode) {
  auto png = render_label_png("RC-7F3K9Q2M1X");
  ASSERT_TRUE(png.ok());
  const auto d = decode_qr_png(*png);
  EXPECT_EQ(d.text, "RC-7F3K9Q2M1X");
  EXPECT_GE(d.width, 300);
  EXPECT_LE(d.width, 400);
  EXPECT_EQ(d.width, d.height);
}

TEST(QrPng, CourierQrFitsAPhoneScreenAndDecodesToTheToken) {
  // A courier token for a few compartments: "RC1:" and about 200 base45 characters.
  std::string token = "RC1:";
  const std::string alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
  for (std::size_t i = 0; i < 200; ++i) token += alphabet[(i * 7) % alphabet.size()];
  auto png = render_courier_qr_png(token);
  ASSERT_TRUE(png.ok()) << png.error().to_string();
  const auto d = decode_qr_png(*png);
  EXPECT_EQ(d.text, token);
  EXPECT_EQ(d.width % 6, 0);  // whole modules of 6 px
  EXPECT_GE(d.width, 300);
  EXPECT_LE(d.width, 600);
}

TEST(QrPng, RefusesWhatItCannotDraw) {
  EXPECT_EQ(render_qr_png("").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(render_qr_png("x", 0).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(render_qr_png("x", 33).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(render_qr_png(std::string(8000, 'A')).error().code, ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace reclothes::controller::domain
