#include "reclothes/firmware/scanner.h"

#include <ZXing/BarcodeFormat.h>
#include <ZXing/BitMatrix.h>
#include <ZXing/DecodeHints.h>
#include <ZXing/ImageView.h>
#include <ZXing/MultiFormatWriter.h>
#include <ZXing/ReadBarcode.h>
#include <stb_image.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <fstream>
#include <limits>
#include <memory>
#include <random>
#include <system_error>
#include <utility>

namespace reclothes::firmware {
namespace {

ZXing::DecodeHints hints_for(const Scanner::Options& options) {
  ZXing::DecodeHints hints;
  hints.setFormats(ZXing::BarcodeFormat::QRCode);
  hints.setTryHarder(options.try_harder);
  hints.setTryRotate(options.try_rotate);
  hints.setTryDownscale(options.try_downscale);
  return hints;
}

ZXing::ImageView view_of(const hal::Frame& frame) {
  return ZXing::ImageView(frame.pixels.data(), static_cast<int>(frame.width),
                          static_cast<int>(frame.height), ZXing::ImageFormat::Lum,
                          static_cast<int>(frame.stride));
}

std::vector<std::string> qr_texts(const ZXing::Results& results) {
  std::vector<std::string> texts;
  for (const ZXing::Result& r : results) {
    if (r.isValid() && r.format() == ZXing::BarcodeFormat::QRCode) texts.push_back(r.text());
  }
  return texts;
}

// The frame with every pixel's luminance inverted (stride dropped): a light-on-dark code, as a
// phone in dark mode or with inverted colours shows it, becomes one ZXing 1.4 can read (it has no
// inverted mode of its own).
hal::Frame inverted_frame(const hal::Frame& frame) {
  hal::Frame out;
  out.width = frame.width;
  out.height = frame.height;
  out.stride = frame.width;
  out.pixels.resize(static_cast<std::size_t>(frame.width) * frame.height);
  for (std::uint32_t y = 0; y < frame.height; ++y) {
    const std::uint8_t* in = frame.pixels.data() + static_cast<std::size_t>(y) * frame.stride;
    std::uint8_t* row = out.pixels.data() + static_cast<std::size_t>(y) * frame.width;
    for (std::uint32_t x = 0; x < frame.width; ++x) row[x] = static_cast<std::uint8_t>(255 - in[x]);
  }
  return out;
}

std::optional<std::string> read_qr(const hal::Frame& frame, const ZXing::DecodeHints& hints) {
  const ZXing::Result r = ZXing::ReadBarcode(view_of(frame), hints);
  if (!r.isValid() || r.format() != ZXing::BarcodeFormat::QRCode) return std::nullopt;
  return r.text();
}

}  // namespace

std::optional<std::string> Scanner::decode(const hal::Frame& frame, Passes passes) const {
  if (!hal::validate_frame(frame).ok()) return std::nullopt;
  try {
    const auto hints = hints_for(options_);
    // A dark-on-light code (the usual one) costs one pass as before; only a frame without one is
    // read again inverted.
    if (passes != Passes::kInvertedOnly) {
      if (auto text = read_qr(frame, hints)) return text;
    }
    if (passes == Passes::kNormalOnly) return std::nullopt;
    return read_qr(inverted_frame(frame), hints);
  } catch (const std::exception&) {
    // ZXing does not throw on reading; if a future version does, a bad frame is no code.
    return std::nullopt;
  }
}

std::vector<std::string> Scanner::decode_all(const hal::Frame& frame) const {
  if (!hal::validate_frame(frame).ok()) return {};
  try {
    const auto hints = hints_for(options_);
    auto texts = qr_texts(ZXing::ReadBarcodes(view_of(frame), hints));
    if (texts.empty()) texts = qr_texts(ZXing::ReadBarcodes(view_of(inverted_frame(frame)), hints));
    return texts;
  } catch (const std::exception&) {
    return {};
  }
}

bool same_pixels(const hal::Frame& a, const hal::Frame& b) {
  if (a.width != b.width || a.height != b.height) return false;
  if (!hal::validate_frame(a).ok() || !hal::validate_frame(b).ok()) return false;
  if (a.stride == a.width && b.stride == b.width) {
    const std::size_t n = static_cast<std::size_t>(a.width) * a.height;
    return std::memcmp(a.pixels.data(), b.pixels.data(), n) == 0;
  }
  for (std::uint32_t y = 0; y < a.height; ++y) {
    const std::uint8_t* ra = a.pixels.data() + static_cast<std::size_t>(y) * a.stride;
    const std::uint8_t* rb = b.pixels.data() + static_cast<std::size_t>(y) * b.stride;
    if (std::memcmp(ra, rb, a.width) != 0) return false;
  }
  return true;
}

Result<std::optional<std::string>> CameraScanner::next(hal::Camera& camera) {
  RC_TRY(camera.capture_into(current_));
  ++stats_.frames;
  using Passes = Scanner::Passes;
  if (!have_previous_ || !same_pixels(current_, previous_)) {
    previous_text_ = scanner_.decode(current_, Passes::kNormalOnly);
    ++stats_.decoded;
    previous_inverted_pending_ = !previous_text_;
    if (!previous_text_ && inverted_due_) {
      previous_text_ = scanner_.decode(current_, Passes::kInvertedOnly);
      ++stats_.inverted;
      previous_inverted_pending_ = false;
      inverted_due_ = false;
    } else if (!previous_text_) {
      inverted_due_ = true;  // this one skipped it: the next frame without a code gets it
    }
  } else if (previous_inverted_pending_) {
    // Unchanged since a frame that skipped its inverted pass: make it now, once.
    previous_text_ = scanner_.decode(current_, Passes::kInvertedOnly);
    ++stats_.inverted;
    previous_inverted_pending_ = false;
    inverted_due_ = false;
  }
  // The frame just read becomes the one to compare with; the older buffer takes the next capture.
  std::swap(current_, previous_);
  have_previous_ = true;
  return previous_text_;
}

namespace {

// The picture's size from its header, checked against the frame limit before a single pixel is
// decoded: stb allocates the whole picture first (an 18-byte PGM header that claims 20000x20000
// pixels costs 400 MB otherwise), which a box with little memory must not do for a bad file.
// `info` reads the header (stbi_info*), `load` decodes (stbi_load*); both return 0 / nullptr on
// failure with stbi_failure_reason() set.
//
// A 16-bit PPM is refused: stb 2.27 (Debian 12) converts it to grey as if it were 8-bit and then
// reads twice the buffer it has (a 19-byte file, "P6 4096 4096 65535", crashes it; found by
// fuzz/fuzz_scan_image). `sixteen_bit_ppm` says whether the image is one.
template <typename Info, typename Load>
Result<hal::Frame> decode_image_checked(std::string_view name, bool sixteen_bit_ppm, Info info,
                                        Load load) {
  const auto cannot_decode = [name] {
    const char* reason = stbi_failure_reason();
    return make_error(ErrorCode::kInvalidArgument,
                      std::string(name) + ": cannot decode the image (" +
                          (reason != nullptr ? reason : "unknown reason") +
                          "); PNG, JPEG, BMP, GIF, PGM/PPM and TGA are supported");
  };
  const auto size_ok = [](int w, int h) {
    return w > 0 && h > 0 && static_cast<std::uint32_t>(w) <= hal::Frame::kMaxDimension &&
           static_cast<std::uint32_t>(h) <= hal::Frame::kMaxDimension;
  };
  const auto too_large = [name](int w, int h) {
    return make_error(ErrorCode::kInvalidArgument,
                      std::string(name) + ": image is " + std::to_string(w) + "x" +
                          std::to_string(h) + ", over the limit of " +
                          std::to_string(hal::Frame::kMaxDimension) + " pixels a side");
  };
  int w = 0;
  int h = 0;
  int channels = 0;
  if (info(&w, &h, &channels) == 0) return cannot_decode();
  if (!size_ok(w, h)) return too_large(w, h);
  if (sixteen_bit_ppm) {
    return make_error(ErrorCode::kInvalidArgument,
                      std::string(name) +
                          ": a 16-bit PPM (maximum value over 255) is not supported; save it "
                          "with 8 bits per channel or as PNG");
  }
  std::unique_ptr<stbi_uc, decltype(&stbi_image_free)> pixels(load(&w, &h, &channels),
                                                              &stbi_image_free);
  if (!pixels) return cannot_decode();
  if (!size_ok(w, h)) return too_large(w, h);  // the header's size is the one decoded
  hal::Frame frame;
  frame.width = static_cast<std::uint32_t>(w);
  frame.height = static_cast<std::uint32_t>(h);
  frame.stride = frame.width;
  const std::size_t n = static_cast<std::size_t>(frame.width) * frame.height;
  frame.pixels.assign(pixels.get(), pixels.get() + n);
  return frame;
}

Result<std::vector<std::string>> scan_frame_for_codes(const hal::Frame& frame,
                                                      std::string_view name) {
  Scanner::Options options;
  options.try_harder = true;
  options.try_rotate = true;
  std::vector<std::string> texts = Scanner(options).decode_all(frame);
  if (texts.empty()) {
    return make_error(ErrorCode::kNotFound, "no QR code found in " + std::string(name));
  }
  return texts;
}

}  // namespace

Result<hal::Frame> load_image_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return make_error(ErrorCode::kNotFound, path.string() + ": no such file");
  }
  const char* file = path.c_str();
  char magic[2] = {};
  std::ifstream(path, std::ios::binary).read(magic, sizeof magic);
  const bool ppm16 = magic[0] == 'P' && magic[1] == '6' && stbi_is_16_bit(file) != 0;
  return decode_image_checked(
      path.string(), ppm16, [file](int* w, int* h, int* c) { return stbi_info(file, w, h, c); },
      [file](int* w, int* h, int* c) { return stbi_load(file, w, h, c, 1); });
}

Result<hal::Frame> decode_image(std::span<const std::uint8_t> bytes, std::string_view name) {
  // stb takes an int length.
  if (bytes.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    return make_error(ErrorCode::kInvalidArgument, std::string(name) + ": image file too large");
  }
  const auto* data = reinterpret_cast<const stbi_uc*>(bytes.data());
  const int size = static_cast<int>(bytes.size());
  const bool ppm16 =
      size >= 2 && data[0] == 'P' && data[1] == '6' && stbi_is_16_bit_from_memory(data, size) != 0;
  return decode_image_checked(
      name, ppm16,
      [data, size](int* w, int* h, int* c) { return stbi_info_from_memory(data, size, w, h, c); },
      [data, size](int* w, int* h, int* c) {
        return stbi_load_from_memory(data, size, w, h, c, 1);
      });
}

Result<std::vector<std::string>> scan_image_file(const std::filesystem::path& path) {
  RC_ASSIGN_OR_RETURN(const hal::Frame frame, load_image_file(path));
  return scan_frame_for_codes(frame, path.string());
}

Result<std::vector<std::string>> scan_image(std::span<const std::uint8_t> bytes,
                                            std::string_view name) {
  RC_ASSIGN_OR_RETURN(const hal::Frame frame, decode_image(bytes, name));
  return scan_frame_for_codes(frame, name);
}

Result<hal::Frame> render_qr(std::string_view text, const QrRenderOptions& o) {
  if (text.empty()) return make_error(ErrorCode::kInvalidArgument, "render_qr: empty text");
  if (o.module_px < 1 || o.module_px > 64 || o.margin_modules < 0 || o.margin_modules > 64 ||
      o.noise < 0 || o.noise > 100 || o.ecc_level < 0 || o.ecc_level > 8) {
    return make_error(ErrorCode::kInvalidArgument,
                      "render_qr: module_px 1..64, margin_modules 0..64, noise 0..100, "
                      "ecc_level 0..8");
  }
  ZXing::BitMatrix matrix;
  try {
    // Size 0x0 with no margin: one bit per module, so the scaling below is exact.
    matrix = ZXing::MultiFormatWriter(ZXing::BarcodeFormat::QRCode)
                 .setMargin(0)
                 .setEccLevel(o.ecc_level)
                 .encode(std::string(text), 0, 0);
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kInvalidArgument,
                      std::string("render_qr: cannot encode the text: ") + e.what());
  }
  const auto modules = static_cast<std::uint32_t>(matrix.width());
  const auto module_px = static_cast<std::uint32_t>(o.module_px);
  const auto margin_px = static_cast<std::uint32_t>(o.margin_modules) * module_px;
  const std::uint32_t side = modules * module_px + 2 * margin_px;
  const std::uint32_t width = o.width == 0 ? side : o.width;
  const std::uint32_t height = o.height == 0 ? side : o.height;
  const std::uint32_t x0 = o.offset_x.value_or(width >= side ? (width - side) / 2 : 0);
  const std::uint32_t y0 = o.offset_y.value_or(height >= side ? (height - side) / 2 : 0);
  if (width > hal::Frame::kMaxDimension || height > hal::Frame::kMaxDimension ||
      static_cast<std::uint64_t>(x0) + side > width ||
      static_cast<std::uint64_t>(y0) + side > height) {
    return make_error(ErrorCode::kInvalidArgument,
                      "render_qr: a " + std::to_string(side) + " px code does not fit a " +
                          std::to_string(width) + "x" + std::to_string(height) + " canvas at (" +
                          std::to_string(x0) + "," + std::to_string(y0) + ")");
  }

  hal::Frame frame = hal::Frame::filled(width, height, o.background);
  auto px = [&](std::uint32_t x, std::uint32_t y) -> std::uint8_t& {
    return frame.pixels[static_cast<std::size_t>(y) * frame.stride + x];
  };
  for (std::uint32_t y = 0; y < side; ++y) {
    for (std::uint32_t x = 0; x < side; ++x) {
      bool dark = false;
      if (x >= margin_px && y >= margin_px && x < side - margin_px && y < side - margin_px) {
        dark = matrix.get(static_cast<int>((x - margin_px) / module_px),
                          static_cast<int>((y - margin_px) / module_px));
      }
      px(x0 + x, y0 + y) = dark ? o.dark : o.light;
    }
  }
  if (o.noise > 0) {
    std::mt19937 rng(o.seed);
    std::uniform_int_distribution<int> dist(-o.noise, o.noise);
    for (std::uint8_t& p : frame.pixels) {
      p = static_cast<std::uint8_t>(std::clamp(int{p} + dist(rng), 0, 255));
    }
  }
  return frame;
}

Result<hal::Frame> render_qr(std::string_view text, int module_px, int margin_modules) {
  QrRenderOptions options;
  options.module_px = module_px;
  options.margin_modules = margin_modules;
  return render_qr(text, options);
}

}  // namespace reclothes::firmware
