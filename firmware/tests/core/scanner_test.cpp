#include "reclothes/firmware/scanner.h"

#include <ZXing/BarcodeFormat.h>
#include <ZXing/BitMatrix.h>
#include <ZXing/DecodeHints.h>
#include <ZXing/ImageView.h>
#include <ZXing/MultiFormatWriter.h>
#include <ZXing/ReadBarcode.h>
#include <gtest/gtest.h>
#include <stb_image_write.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <random>

#include "reclothes/common/token.h"
#include "test_util.h"

namespace reclothes::firmware {
namespace {

using testing::claims_for;
using testing::temp_dir;
using testing::TempDir;

class ScannerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto signer = TokenSigner::generate(1);
    ASSERT_TRUE(signer.ok());
    auto deposit = signer->sign(claims_for(TokenAction::kDeposit, {3}));
    ASSERT_TRUE(deposit.ok());
    deposit_ = *deposit;
    std::vector<std::uint8_t> all;
    for (std::uint8_t c = 1; c <= 24; ++c) all.push_back(c);
    auto courier = signer->sign(claims_for(TokenAction::kCourierCollect, all, 9, "box-0001",
                                           testing::kTestNowS, testing::kTestNowS + 4 * 3600));
    ASSERT_TRUE(courier.ok());
    courier_ = *courier;
  }

  std::string deposit_;
  std::string courier_;
  Scanner scanner_;
};

TEST_F(ScannerTest, SignedTokensRoundTripAtSeveralScales) {
  for (const std::string* token : {&deposit_, &courier_}) {
    for (int module_px : {2, 3, 4, 6, 8}) {
      QrRenderOptions o;
      o.module_px = module_px;
      o.noise = 25;
      o.seed = static_cast<std::uint32_t>(module_px);
      auto frame = render_qr(*token, o);
      ASSERT_TRUE(frame.ok()) << frame.error().to_string();
      EXPECT_EQ(scanner_.decode(*frame), std::optional<std::string>(*token))
          << "module_px " << module_px << " token of " << token->size() << " chars";
    }
  }
}

TEST_F(ScannerTest, ACodeOffCentreWithAThinQuietZoneIsRead) {
  QrRenderOptions o;
  o.module_px = 3;
  o.margin_modules = 2;
  o.offset_x = 5;
  o.offset_y = 300;
  auto frame = render_qr(deposit_, o);
  ASSERT_TRUE(frame.ok()) << frame.error().to_string();
  EXPECT_EQ(scanner_.decode(*frame), std::optional<std::string>(deposit_));
}

// A phone in dark mode, or with inverted colours, shows the code light on dark: every pixel's
// luminance inverted, quiet zone included.
hal::Frame invert_colours(hal::Frame frame) {
  for (std::uint32_t y = 0; y < frame.height; ++y) {
    std::uint8_t* row = frame.pixels.data() + static_cast<std::size_t>(y) * frame.stride;
    for (std::uint32_t x = 0; x < frame.width; ++x)
      row[x] = static_cast<std::uint8_t>(255 - row[x]);
  }
  return frame;
}

TEST_F(ScannerTest, ALightOnDarkCodeIsRead) {
  for (int module_px : {3, 6}) {
    QrRenderOptions o;
    o.module_px = module_px;
    o.noise = 20;
    o.seed = static_cast<std::uint32_t>(module_px);
    auto frame = render_qr(deposit_, o);
    ASSERT_TRUE(frame.ok()) << frame.error().to_string();
    EXPECT_EQ(scanner_.decode(invert_colours(*frame)), std::optional<std::string>(deposit_))
        << "module_px " << module_px;
    const auto all = scanner_.decode_all(invert_colours(*frame));
    EXPECT_EQ(all, std::vector<std::string>{deposit_}) << "module_px " << module_px;
  }
}

TEST_F(ScannerTest, FramesWithoutACodeGiveNothing) {
  EXPECT_EQ(scanner_.decode(hal::Frame::filled(640, 480, 128)), std::nullopt);
  EXPECT_EQ(scanner_.decode(hal::Frame::filled(640, 480, 0)), std::nullopt);
  // Noise only.
  hal::Frame noisy = hal::Frame::filled(640, 480, 128);
  std::mt19937 rng(7);
  for (auto& p : noisy.pixels) p = static_cast<std::uint8_t>(rng() & 0xff);
  EXPECT_EQ(scanner_.decode(noisy), std::nullopt);
  EXPECT_TRUE(scanner_.decode_all(noisy).empty());
}

TEST_F(ScannerTest, AnInconsistentFrameGivesNothing) {
  hal::Frame bad;
  bad.width = 100;
  bad.height = 100;
  bad.stride = 100;
  bad.pixels.resize(10);  // far too few
  EXPECT_EQ(scanner_.decode(bad), std::nullopt);
  EXPECT_TRUE(scanner_.decode_all(bad).empty());
}

TEST_F(ScannerTest, OtherBarcodesAreIgnored) {
  const ZXing::BitMatrix bits = ZXing::MultiFormatWriter(ZXing::BarcodeFormat::Code128)
                                    .setMargin(20)
                                    .encode(std::string("RC1:NOTAQRCODE"), 400, 120);
  hal::Frame frame = hal::Frame::filled(640, 480, 200);
  for (int y = 0; y < bits.height(); ++y) {
    for (int x = 0; x < bits.width(); ++x) {
      frame.pixels[static_cast<std::size_t>(y + 100) * frame.stride +
                   static_cast<std::size_t>(x + 100)] = bits.get(x, y) ? 0 : 255;
    }
  }
  // The barcode is readable (so the test means something) ...
  const ZXing::Result any = ZXing::ReadBarcode(
      ZXing::ImageView(frame.pixels.data(), 640, 480, ZXing::ImageFormat::Lum), {});
  ASSERT_TRUE(any.isValid());
  ASSERT_EQ(any.format(), ZXing::BarcodeFormat::Code128);
  // ... but the box reads QR codes only.
  EXPECT_EQ(scanner_.decode(frame), std::nullopt);
}

TEST_F(ScannerTest, DecodeAllFindsTwoCodesInOneFrame) {
  QrRenderOptions left;
  left.module_px = 3;
  left.offset_x = 10;
  left.offset_y = 100;
  auto frame = render_qr(deposit_, left);
  ASSERT_TRUE(frame.ok());
  QrRenderOptions right = left;
  right.offset_x = 330;
  auto other = render_qr("HELLO BOX", right);
  ASSERT_TRUE(other.ok());
  // Paste the right half of the second rendering into the first.
  for (std::uint32_t y = 0; y < 480; ++y) {
    for (std::uint32_t x = 320; x < 640; ++x) {
      frame->pixels[y * 640 + x] = other->pixels[y * 640 + x];
    }
  }
  auto texts = scanner_.decode_all(*frame);
  std::sort(texts.begin(), texts.end());
  std::vector<std::string> expected{deposit_, "HELLO BOX"};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(texts, expected);
}

TEST_F(ScannerTest, RenderRefusesWhatItCannotDraw) {
  EXPECT_FALSE(render_qr("", 4, 4).ok());
  EXPECT_FALSE(render_qr(deposit_, 0, 4).ok());
  QrRenderOptions tiny;
  tiny.width = 50;
  tiny.height = 50;
  auto r = render_qr(deposit_, tiny);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message.find("does not fit"), std::string::npos);
  QrRenderOptions fit;
  fit.width = 0;
  fit.height = 0;
  fit.module_px = 1;
  auto minimal = render_qr("HELLO", fit);
  ASSERT_TRUE(minimal.ok());
  EXPECT_EQ(minimal->width, 21u + 8u);  // version 1 plus two 4-module quiet zones
}

TEST_F(ScannerTest, ScanImageFileReadsAPngAndAJpeg) {
  const TempDir dir = temp_dir();
  QrRenderOptions o;
  o.module_px = 5;
  auto frame = render_qr(deposit_, o);
  ASSERT_TRUE(frame.ok());
  const auto png = dir / "token.png";
  const auto jpg = dir / "token.jpg";
  ASSERT_NE(stbi_write_png(png.c_str(), 640, 480, 1, frame->pixels.data(), 640), 0);
  ASSERT_NE(stbi_write_jpg(jpg.c_str(), 640, 480, 1, frame->pixels.data(), 90), 0);
  for (const auto& path : {png, jpg}) {
    auto texts = scan_image_file(path);
    ASSERT_TRUE(texts.ok()) << texts.error().to_string();
    EXPECT_EQ(*texts, std::vector<std::string>{deposit_}) << path;
  }
}

TEST_F(ScannerTest, ScanImageFileReadsWhatQrencodeWrites) {
  if (std::system("command -v qrencode >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "qrencode is not installed";
  }
  const TempDir dir = temp_dir();
  const auto png = dir / "qrencode.png";
  // The token alphabet has no shell metacharacters except space, $, %, *, +, /, : and '.'; it is
  // single-quoted here and holds no quote.
  const std::string cmd = "qrencode -o '" + png.string() + "' -s 6 -m 4 -l M '" + deposit_ + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  auto texts = scan_image_file(png);
  ASSERT_TRUE(texts.ok()) << texts.error().to_string();
  EXPECT_EQ(*texts, std::vector<std::string>{deposit_});
}

TEST_F(ScannerTest, ScanImageFileErrorsAreClear) {
  const TempDir dir = temp_dir();
  auto missing = scan_image_file(dir / "nope.png");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);

  std::ofstream(dir / "text.png") << "this is not an image";
  auto garbage = scan_image_file(dir / "text.png");
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(garbage.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(garbage.error().message.find("cannot decode the image"), std::string::npos);

  const hal::Frame blank = hal::Frame::filled(100, 80, 255);
  const auto blank_png = dir / "blank.png";
  ASSERT_NE(stbi_write_png(blank_png.c_str(), 100, 80, 1, blank.pixels.data(), 100), 0);
  auto none = scan_image_file(blank_png);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code, ErrorCode::kNotFound);
  EXPECT_NE(none.error().message.find("no QR code found"), std::string::npos);
}

// A header that claims a picture beyond the frame limit is refused with its size, from the header
// alone: stb would allocate the whole picture first (400 MB for this 18-byte PGM header).
TEST_F(ScannerTest, AnImageTooLargeIsRefusedOnItsHeader) {
  const std::string pgm = "P5\n20000 20000\n255\n";
  const std::vector<std::uint8_t> bytes(pgm.begin(), pgm.end());
  for (const auto& result : {decode_image(bytes, "huge.pgm"), [&] {
                               const TempDir dir = temp_dir();
                               std::ofstream(dir / "huge.pgm", std::ios::binary) << pgm;
                               return load_image_file(dir / "huge.pgm");
                             }()}) {
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(result.error().message.find("huge.pgm: image is 20000x20000, over the limit"),
              std::string::npos)
        << result.error().message;
  }
}

// Found by fuzz/fuzz_scan_image: stb 2.27 reads past its buffer converting a 16-bit PPM to grey,
// and this 19-byte file crashed it (SIGSEGV) from a file and from memory alike.
TEST_F(ScannerTest, ASixteenBitPpmIsRefusedNotDecoded) {
  const std::string ppm = "P6\n4096 4096\n65535\n";
  const TempDir dir = temp_dir();
  std::ofstream(dir / "deep.ppm", std::ios::binary) << ppm;
  for (const auto& result :
       {decode_image(std::vector<std::uint8_t>(ppm.begin(), ppm.end()), "deep.ppm"),
        load_image_file(dir / "deep.ppm")}) {
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(result.error().message.find("deep.ppm: a 16-bit PPM"), std::string::npos)
        << result.error().message;
  }
  // A 16-bit PGM (one channel) is converted correctly and still read.
  const std::string pgm = std::string("P5\n2 1\n65535\n") + '\xff' + '\xff' + '\0' + '\0';
  auto grey = decode_image(std::vector<std::uint8_t>(pgm.begin(), pgm.end()), "grey.pgm");
  ASSERT_TRUE(grey.ok()) << grey.error().to_string();
  EXPECT_EQ(grey->pixels, (std::vector<std::uint8_t>{255, 0}));
}

// scan_image reads the bytes of an image file as scan_image_file reads the file.
TEST_F(ScannerTest, ScanImageReadsTheBytesOfAPng) {
  auto frame = render_qr(deposit_, 4, 4);
  ASSERT_TRUE(frame.ok());
  std::vector<std::uint8_t> png;
  ASSERT_NE(stbi_write_png_to_func(
                [](void* out, void* data, int size) {
                  auto* bytes = static_cast<std::uint8_t*>(data);
                  static_cast<std::vector<std::uint8_t>*>(out)->insert(
                      static_cast<std::vector<std::uint8_t>*>(out)->end(), bytes, bytes + size);
                },
                &png, 640, 480, 1, frame->pixels.data(), 640),
            0);
  auto texts = scan_image(png, "token.png");
  ASSERT_TRUE(texts.ok()) << texts.error().to_string();
  EXPECT_EQ(*texts, std::vector<std::string>{deposit_});
  auto garbage = scan_image(std::vector<std::uint8_t>{'n', 'o'}, "no.png");
  ASSERT_FALSE(garbage.ok());
  EXPECT_NE(garbage.error().message.find("no.png: cannot decode the image"), std::string::npos);
}

// ---- CameraScanner: decode only what changed ---------------------------------------------------

// A camera that returns whatever frame (or error) the test set, again and again, like a fixed lens
// in front of an unchanging scene.
class ScriptedCamera final : public hal::Camera {
 public:
  void show(hal::Frame frame) { frame_ = std::move(frame); }
  void fail(std::optional<Error> error) { error_ = std::move(error); }

 private:
  Status do_capture(hal::Frame& frame) override {
    if (error_) return *error_;
    frame = frame_;
    return ok_status();
  }
  hal::Frame frame_ = hal::Frame::filled(640, 480, 0);
  std::optional<Error> error_;
};

class CameraScannerTest : public ScannerTest {
 protected:
  hal::Frame code_frame(const std::string& text, std::uint32_t seed = 1) {
    QrRenderOptions o;
    o.noise = 10;
    o.seed = seed;
    auto frame = render_qr(text, o);
    EXPECT_TRUE(frame.ok()) << frame.error().to_string();
    return frame.ok() ? *frame : hal::Frame{};
  }

  ScriptedCamera camera_;
  CameraScanner reader_;
};

TEST_F(CameraScannerTest, AnUnchangedFrameIsNotDecodedAgain) {
  for (int i = 0; i < 10; ++i) {
    auto text = reader_.next(camera_);
    ASSERT_TRUE(text.ok()) << text.error().to_string();
    EXPECT_EQ(*text, std::nullopt);
  }
  EXPECT_EQ(reader_.stats().frames, 10u);
  EXPECT_EQ(reader_.stats().decoded, 1u);
}

TEST_F(CameraScannerTest, ACodeHeldStillIsReportedOnEveryFrameButDecodedOnce) {
  camera_.show(code_frame(deposit_));
  for (int i = 0; i < 5; ++i) {
    auto text = reader_.next(camera_);
    ASSERT_TRUE(text.ok());
    EXPECT_EQ(*text, std::optional<std::string>(deposit_)) << "frame " << i;
  }
  EXPECT_EQ(reader_.stats().decoded, 1u);
}

TEST_F(CameraScannerTest, EveryChangedFrameIsDecoded) {
  ASSERT_EQ(reader_.next(camera_).value(), std::nullopt);  // blank
  camera_.show(code_frame(deposit_));                      // a code appears
  EXPECT_EQ(reader_.next(camera_).value(), std::optional<std::string>(deposit_));
  camera_.show(code_frame(courier_));  // another code in its place
  EXPECT_EQ(reader_.next(camera_).value(), std::optional<std::string>(courier_));
  camera_.show(hal::Frame::filled(640, 480, 0));  // gone
  EXPECT_EQ(reader_.next(camera_).value(), std::nullopt);
  camera_.show(code_frame(deposit_));  // back again: the earlier answer is not reused blindly
  EXPECT_EQ(reader_.next(camera_).value(), std::optional<std::string>(deposit_));
  EXPECT_EQ(reader_.stats().frames, 5u);
  EXPECT_EQ(reader_.stats().decoded, 5u);
}

TEST_F(CameraScannerTest, TheInvertedPassRunsOnEveryOtherFrameWithoutACode) {
  for (int i = 0; i < 10; ++i) {
    camera_.show(hal::Frame::filled(640, 480, static_cast<std::uint8_t>(10 * i)));
    ASSERT_EQ(reader_.next(camera_).value(), std::nullopt);
  }
  EXPECT_EQ(reader_.stats().decoded, 10u);
  EXPECT_EQ(reader_.stats().inverted, 5u);
  // Frames with a normal code never need it.
  for (std::uint32_t seed = 1; seed <= 4; ++seed) {
    camera_.show(code_frame(deposit_, seed));
    ASSERT_EQ(reader_.next(camera_).value(), std::optional<std::string>(deposit_));
  }
  EXPECT_EQ(reader_.stats().inverted, 5u);
}

TEST_F(CameraScannerTest, ADarkModeCodeIsReadWithinTwoFramesMovingOrHeldStill) {
  // The reader has just made an inverted pass, so the next frame without a code skips it.
  camera_.show(hal::Frame::filled(640, 480, 7));
  ASSERT_EQ(reader_.next(camera_).value(), std::nullopt);
  ASSERT_EQ(reader_.stats().inverted, 1u);
  // Moving: each frame differs.
  camera_.show(invert_colours(code_frame(deposit_, 11)));
  const auto first = reader_.next(camera_).value();
  camera_.show(invert_colours(code_frame(deposit_, 12)));
  const auto second = reader_.next(camera_).value();
  EXPECT_EQ(first, std::nullopt) << "the inverted pass was not skipped";
  EXPECT_EQ(second, std::optional<std::string>(deposit_));

  // Held still: the frame that skipped its inverted pass gets it on the next call, once.
  camera_.show(hal::Frame::filled(640, 480, 9));  // skips it (the read above was inverted)
  ASSERT_EQ(reader_.next(camera_).value(), std::nullopt);
  camera_.show(hal::Frame::filled(640, 480, 5));  // makes it
  ASSERT_EQ(reader_.next(camera_).value(), std::nullopt);
  ASSERT_EQ(reader_.stats().inverted, 3u);
  camera_.show(invert_colours(code_frame(courier_, 13)));
  EXPECT_EQ(reader_.next(camera_).value(), std::nullopt);
  EXPECT_EQ(reader_.next(camera_).value(), std::optional<std::string>(courier_));
  EXPECT_EQ(reader_.next(camera_).value(), std::optional<std::string>(courier_));
  EXPECT_EQ(reader_.stats().inverted, 4u);
}

TEST_F(CameraScannerTest, OnePixelOfDifferenceIsEnoughToDecodeAgain) {
  hal::Frame frame = code_frame(deposit_);
  camera_.show(frame);
  ASSERT_EQ(reader_.next(camera_).value(), std::optional<std::string>(deposit_));
  frame.pixels.back() = static_cast<std::uint8_t>(frame.pixels.back() ^ 1u);
  camera_.show(frame);
  EXPECT_EQ(reader_.next(camera_).value(), std::optional<std::string>(deposit_));
  EXPECT_EQ(reader_.stats().decoded, 2u);
  // A frame of another size with the same leading bytes is a different frame too.
  camera_.show(hal::Frame::filled(320, 240, 0));
  ASSERT_TRUE(reader_.next(camera_).ok());
  camera_.show(hal::Frame::filled(240, 320, 0));
  ASSERT_TRUE(reader_.next(camera_).ok());
  EXPECT_EQ(reader_.stats().decoded, 4u);
}

TEST_F(CameraScannerTest, CameraErrorsPassThroughAndKeepThePreviousAnswer) {
  camera_.show(code_frame(deposit_));
  ASSERT_EQ(reader_.next(camera_).value(), std::optional<std::string>(deposit_));
  camera_.fail(make_error(ErrorCode::kDeadlineExceeded, "no frame in time"));
  auto failed = reader_.next(camera_);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code, ErrorCode::kDeadlineExceeded);
  EXPECT_EQ(reader_.stats().frames, 1u);
  camera_.fail(std::nullopt);
  // The same picture after the gap: its answer is still known.
  EXPECT_EQ(reader_.next(camera_).value(), std::optional<std::string>(deposit_));
  EXPECT_EQ(reader_.stats().decoded, 1u);
}

TEST_F(CameraScannerTest, AnInconsistentBackendFrameIsAnErrorNotADecode) {
  hal::Frame broken = hal::Frame::filled(640, 480, 0);
  broken.pixels.resize(100);
  camera_.show(broken);
  auto text = reader_.next(camera_);
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.error().code, ErrorCode::kInternal);
  EXPECT_EQ(reader_.stats().decoded, 0u);
}

TEST(SamePixels, ComparesVisiblePixelsOnlyAndSizes) {
  hal::Frame compact = hal::Frame::filled(3, 2, 9);
  hal::Frame padded;
  padded.width = 3;
  padded.height = 2;
  padded.stride = 5;
  padded.pixels = {9, 9, 9, 1, 2, 9, 9, 9};  // two bytes of padding after the first row
  EXPECT_TRUE(same_pixels(compact, padded));
  padded.pixels[6] = 8;
  EXPECT_FALSE(same_pixels(compact, padded));
  EXPECT_FALSE(same_pixels(compact, hal::Frame::filled(2, 3, 9)));
  EXPECT_TRUE(same_pixels(compact, hal::Frame::filled(3, 2, 9)));
}

}  // namespace
}  // namespace reclothes::firmware
