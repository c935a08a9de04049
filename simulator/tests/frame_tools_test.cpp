// The QR degrade pipeline: what a phone held to the camera looks like, read by the firmware's own
// decoder, and through a whole Box (the real camera path) on the sim HAL.
#include "reclothes/simulator/frame_tools.h"

#include <gtest/gtest.h>

#include <string>

#include "reclothes/common/clock.h"
#include "reclothes/common/qr_png.h"
#include "reclothes/firmware/scanner.h"
#include "reclothes/simulator/sim_box.h"
#include "reclothes/simulator/tokens.h"
#include "test_util.h"

namespace reclothes::simulator {
namespace {

using std::chrono::milliseconds;

// A realistic token text: what the controller signs for a deposit (148 characters, QR version 6).
std::string sample_token() {
  auto signer = TokenSigner::generate(1);
  EXPECT_TRUE(signer.ok());
  MintRequest m;
  m.box_id = "box-0001";
  m.action = TokenAction::kDeposit;
  m.compartments = {3};
  m.order_ref = 123456;
  m.not_before = 1'767'225'600;
  m.expires = 1'767'226'500;
  m.token_id = std::array<std::uint8_t, kTokenIdBytes>{1, 2, 3, 4, 5, 6, 7, 8};
  auto token = mint_token(*signer, m);
  EXPECT_TRUE(token.ok());
  return token.ok() ? *token : "";
}

std::optional<std::string> decode(const std::string& text, const PresentOptions& options) {
  auto frame = render_presented(text, 640, 480, options);
  EXPECT_TRUE(frame.ok()) << frame.error().to_string();
  if (!frame.ok()) return std::nullopt;
  return firmware::Scanner{}.decode(*frame);
}

struct DegradeCase {
  const char* name;
  PresentOptions options;
};

class Degraded : public ::testing::TestWithParam<DegradeCase> {};

TEST_P(Degraded, StillDecodesWithTheFirmwareScanner) {
  const std::string token = sample_token();
  EXPECT_EQ(decode(token, GetParam().options), token);
}

PresentOptions make(int module_px, double scale, double rotation, double blur, int noise) {
  PresentOptions o;
  o.module_px = module_px;
  o.degrade.scale = scale;
  o.degrade.rotation_deg = rotation;
  o.degrade.blur_sigma = blur;
  o.degrade.noise = noise;
  o.degrade.seed = 7;
  return o;
}

INSTANTIATE_TEST_SUITE_P(
    Phones, Degraded,
    ::testing::Values(DegradeCase{"rotated_10", make(4, 1.0, 10, 0, 0)},
                      DegradeCase{"rotated_minus_20", make(4, 1.0, -20, 0, 0)},
                      DegradeCase{"rotated_15_blurred_noisy", make(4, 1.0, 15, 1.0, 25)},
                      DegradeCase{"zoomed_out_tilted", make(5, 0.7, 12, 0.6, 10)},
                      DegradeCase{"zoomed_in", make(3, 1.6, -10, 0.8, 15)},
                      DegradeCase{"small_modules_noisy", make(2, 1.0, 0, 0.5, 30)}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(FrameFromPngTest, AScreenshotOfAPhoneQrCodeIsShrunkToTheCameraAndRead) {
  const std::string token = sample_token();
  // 6 px modules: about 370 px, larger than a 320x240 camera, so it is shrunk to fit.
  auto png = reclothes::render_qr_png(token, 6);
  ASSERT_TRUE(png.ok()) << png.error().to_string();
  auto frame = frame_from_png(*png, 320, 240);
  ASSERT_TRUE(frame.ok()) << frame.error().to_string();
  EXPECT_EQ(frame->width, 320u);
  EXPECT_EQ(frame->height, 240u);
  EXPECT_EQ(frame->at(0, 0), 255) << "centred on white";
  EXPECT_EQ(firmware::Scanner{}.decode(*frame), token);
  // A small picture is not enlarged: the same code at 2 px modules sits in the middle.
  auto small = frame_from_png(*reclothes::render_qr_png(token, 2), 640, 480);
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(small->at(200, 240), 255) << "left of a 122 px picture centred in 640";
  EXPECT_EQ(firmware::Scanner{}.decode(*small), token);
}

TEST(FrameFromPngTest, WhatIsNotAPngIsRefused) {
  EXPECT_EQ(frame_from_png("GIF89a....", 320, 240).error().code, ErrorCode::kInvalidArgument);
  auto png = reclothes::render_qr_png("RC1:HELLO", 4);
  ASSERT_TRUE(png.ok());
  const std::string truncated = png->substr(0, 40);
  EXPECT_EQ(frame_from_png(truncated, 320, 240).error().code, ErrorCode::kInvalidArgument);
}

TEST(DegradeTest, AnOverDegradedCodeIsNotSeen) {
  const std::string token = sample_token();
  // Out of focus far beyond a module, and small: nothing a camera could read.
  EXPECT_EQ(decode(token, make(2, 0.8, 17, 4.0, 60)), std::nullopt);
  // Only noise, but so much that the modules drown.
  EXPECT_EQ(decode(token, make(2, 1.0, 0, 0, 127)), std::nullopt);
}

TEST(DegradeTest, OutOfRangeOptionsAreRefusedNamingTheField) {
  auto check = [](PresentOptions o, const std::string& field) {
    auto frame = render_presented("RC1:X", 640, 480, o);
    ASSERT_FALSE(frame.ok());
    EXPECT_EQ(frame.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(frame.error().message.find(field), std::string::npos) << frame.error().message;
  };
  check(make(0, 1, 0, 0, 0), "module_px");
  check(make(4, 5, 0, 0, 0), "scale");
  check(make(4, 1, 200, 0, 0), "rotation");
  check(make(4, 1, 0, 11, 0), "blur");
  check(make(4, 1, 0, 0, 128), "noise");
  check(make(4, std::numeric_limits<double>::quiet_NaN(), 0, 0, 0), "scale");
}

TEST(DegradeTest, NoiseIsReproducibleForASeedAndStaysInRange) {
  hal::Frame a = hal::Frame::filled(32, 16, 250);
  hal::Frame b = a;
  add_noise(a, 20, 5);
  add_noise(b, 20, 5);
  EXPECT_EQ(a.pixels, b.pixels);
  int changed = 0;
  for (std::uint8_t p : a.pixels) {
    EXPECT_GE(p, 230);
    changed += p != 250;
  }
  EXPECT_GT(changed, 0);
}

TEST(DegradeTest, WarpRotatesAboutTheCentreAndFillsFromOutside) {
  hal::Frame f = hal::Frame::filled(21, 21, 255);
  f.pixels[10 * 21 + 20] = 0;  // a dark pixel on the right edge, middle row
  const hal::Frame turned = warp(f, 1.0, 90, 128);
  // Clockwise by 90 degrees: the right edge's middle goes to the bottom edge's middle.
  EXPECT_LT(turned.at(10, 20), 64);
  EXPECT_EQ(turned.at(10, 10), 255);
  const hal::Frame small = warp(f, 0.5, 0, 128);
  EXPECT_EQ(small.at(0, 0), 128);  // zoomed out: the corners show the background
}

TEST(DegradeTest, BlurKeepsAFlatImageFlatAndSoftensAnEdge) {
  hal::Frame f = hal::Frame::filled(20, 4, 200);
  EXPECT_EQ(gaussian_blur(f, 2.0).pixels, f.pixels);
  for (std::uint32_t y = 0; y < 4; ++y) {
    for (std::uint32_t x = 10; x < 20; ++x) f.pixels[y * 20 + x] = 0;
  }
  const hal::Frame soft = gaussian_blur(f, 1.5);
  EXPECT_GT(soft.at(10, 1), 0);
  EXPECT_LT(soft.at(9, 1), 200);
  EXPECT_EQ(soft.at(0, 1), 200);
}

TEST(DegradeTest, PngEncodingGivesAPngOfTheFrame) {
  auto png = encode_png(hal::Frame::filled(8, 4, 90));
  ASSERT_TRUE(png.ok());
  ASSERT_GT(png->size(), 8u);
  EXPECT_EQ(png->substr(1, 3), "PNG");
}

// The real path: the frame goes into the sim camera and the Box (Scanner, token check, journal,
// lock) reacts, or sees nothing at all.
class DegradedThroughTheBox : public ::testing::Test {
 protected:
  void SetUp() override {
    signer_ = testing::test_signer();
    ASSERT_NE(signer_, nullptr);
    SimBoxOptions o = testing::offline_box(dir_.path(), "box-0001", *signer_);
    o.auto_open = false;
    auto box = SimBox::create(o, clock_);
    ASSERT_TRUE(box.ok()) << box.error().to_string();
    box_ = std::move(box).value();
    ASSERT_TRUE(box_->power_on().ok());
  }

  std::string courier_token(std::uint8_t compartment) {
    return testing::courier_token(*signer_, clock_, compartment);
  }

  void run_for(milliseconds total) {
    for (milliseconds t{0}; t < total; t += milliseconds(100)) {
      clock_.advance(milliseconds(100));
      ASSERT_TRUE(box_->step().ok());
    }
  }

  std::size_t events_of(const std::string& kind) {
    std::size_t n = 0;
    // Keep the Result alive: a range-for over a member of a temporary would dangle.
    auto events = box_->events_after(0, 1000);
    EXPECT_TRUE(events.ok());
    if (!events.ok()) return 0;
    for (const JournalEvent& e : *events) n += e.kind == kind;
    return n;
  }

  ManualClock clock_;
  testing::TempDir dir_ = testing::temp_dir();
  std::unique_ptr<TokenSigner> signer_;
  std::unique_ptr<SimBox> box_;
};

TEST_F(DegradedThroughTheBox, ATiltedBlurredNoisyCodeUnlocksItsCompartment) {
  auto report = box_->present_token(courier_token(2), make(4, 0.9, -17, 1.0, 20));
  ASSERT_TRUE(report.ok()) << report.error().to_string();
  EXPECT_TRUE(report->camera_sees_code);
  run_for(milliseconds(500));
  EXPECT_EQ(box_->compartment_state(2), "unlocked");
  ASSERT_EQ(box_->pulses().size(), 1u);
  EXPECT_EQ(box_->pulses()[0].compartment, 1u);
}

TEST_F(DegradedThroughTheBox, AnOverDegradedCodeIsReportedAsNotSeenAndChangesNothing) {
  auto report = box_->present_token(courier_token(2), make(2, 0.8, 17, 4.0, 60));
  ASSERT_TRUE(report.ok());
  EXPECT_FALSE(report->camera_sees_code);
  EXPECT_EQ(report->decoded_text, std::nullopt);
  run_for(milliseconds(500));
  EXPECT_EQ(box_->compartment_state(2), "free");
  EXPECT_TRUE(box_->pulses().empty());
  EXPECT_EQ(events_of("scan_rejected"), 0u);
  EXPECT_EQ(events_of("unlocked"), 0u);
}

}  // namespace
}  // namespace reclothes::simulator
