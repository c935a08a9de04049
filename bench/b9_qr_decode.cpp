// B9: QR decode time per camera frame. The box's Scanner (ZXing-C++ with the firmware's hints)
// beside libzbar on the same frames: the 640x480 token frames B1 scans (same renderer, same
// indexes) plus frames with no code, which is what the camera sees most of the day. Each frame is
// decoded by both, in alternating order, and both decoders' successes are counted: a decoder that
// gives up early would look fast. Target: ZXing <= 0.5 x zbar (mean time per frame).
//
// The Scanner reads a frame without a code a second time, inverted (light-on-dark codes, commit
// c8da8ca). What that costs is measured beside one plain ZXing pass with the Scanner's hints,
// which is what the Scanner did before: every frame is also decoded that way, in the same
// alternation, and the Scanner's time per frame is set beside it for frames with and without a
// code.
#include <zbar.h>  // C++: the C API lives in namespace zbar

#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "reclothes/bench/frames.h"
#include "reclothes/bench/main.h"
#include "reclothes/bench/report.h"
#include "reclothes/bench/stats.h"
#include "reclothes/common/clock.h"
#include "reclothes/common/token.h"
#include "reclothes/firmware/scanner.h"

namespace reclothes::bench {
namespace {

// "Y800": 8-bit grey, one byte per pixel (zbar_fourcc spelled without its C casts).
constexpr unsigned long kY800 =
    static_cast<unsigned long>('Y') | (static_cast<unsigned long>('8') << 8) |
    (static_cast<unsigned long>('0') << 16) | (static_cast<unsigned long>('0') << 24);

// libzbar set up for QR codes only, as the box's Scanner is.
class Zbar {
 public:
  static Result<std::unique_ptr<Zbar>> create() {
    zbar::zbar_image_scanner_t* scanner = zbar::zbar_image_scanner_create();
    if (scanner == nullptr)
      return make_error(ErrorCode::kInternal, "zbar::zbar_image_scanner_create");
    auto z = std::unique_ptr<Zbar>(new Zbar(scanner));
    if (zbar::zbar_image_scanner_set_config(scanner, zbar::ZBAR_NONE, zbar::ZBAR_CFG_ENABLE, 0) !=
            0 ||
        zbar::zbar_image_scanner_set_config(scanner, zbar::ZBAR_QRCODE, zbar::ZBAR_CFG_ENABLE, 1) !=
            0) {
      return make_error(ErrorCode::kInternal, "zbar: cannot restrict the scanner to QR codes");
    }
    return z;
  }
  ~Zbar() { zbar::zbar_image_scanner_destroy(scanner_); }
  Zbar(const Zbar&) = delete;
  Zbar& operator=(const Zbar&) = delete;

  // The text of the first QR code, or an empty string.
  std::string decode(const hal::Frame& frame) const {
    zbar::zbar_image_t* image = zbar::zbar_image_create();
    zbar::zbar_image_set_format(image, kY800);
    zbar::zbar_image_set_size(image, frame.width, frame.height);
    // zbar reads width x height bytes; the bench frames have stride == width.
    zbar::zbar_image_set_data(image, frame.pixels.data(),
                              static_cast<unsigned long>(frame.width) * frame.height, nullptr);
    std::string text;
    if (zbar::zbar_scan_image(scanner_, image) > 0) {
      const zbar::zbar_symbol_t* symbol = zbar::zbar_image_first_symbol(image);
      if (symbol != nullptr) {
        text.assign(zbar::zbar_symbol_get_data(symbol), zbar::zbar_symbol_get_data_length(symbol));
      }
    }
    zbar::zbar_image_destroy(image);
    return text;
  }

 private:
  explicit Zbar(zbar::zbar_image_scanner_t* scanner) : scanner_(scanner) {}
  zbar::zbar_image_scanner_t* scanner_;
};

struct Tally {
  std::vector<double> code_ms;   // frames carrying a code
  std::vector<double> empty_ms;  // frames without one
  std::size_t decoded = 0;       // code frames read correctly
  std::size_t wrong = 0;         // code frames read as another text
  std::size_t phantom = 0;       // empty frames where a code was "found"

  std::vector<double> all() const {
    std::vector<double> a = code_ms;
    a.insert(a.end(), empty_ms.begin(), empty_ms.end());
    return a;
  }
};

template <typename Decode>
void measure(const hal::Frame& frame, const std::string* expected, Tally& tally, Decode decode) {
  const auto t0 = SteadyClock::now();
  const std::string text = decode(frame);
  const double ms = ms_between(t0, SteadyClock::now());
  if (expected != nullptr) {
    tally.code_ms.push_back(ms);
    if (text == *expected) {
      ++tally.decoded;
    } else if (!text.empty()) {
      ++tally.wrong;
    }
  } else {
    tally.empty_ms.push_back(ms);
    if (!text.empty()) ++tally.phantom;
  }
}

nlohmann::json tally_json(const Tally& t) {
  return {{"code_frames", to_json(summarize(t.code_ms))},
          {"empty_frames", to_json(summarize(t.empty_ms))},
          {"all_frames", to_json(summarize(t.all()))},
          {"decoded", t.decoded},
          {"wrong_text", t.wrong},
          {"phantom_codes", t.phantom}};
}

double mean(const std::vector<double>& v) { return summarize(v).mean; }

// The frames to decode: the token frames first, then the empty ones.
struct Frames {
  std::vector<hal::Frame> frames;
  std::vector<std::string> texts;  // empty for frames without a code
};

Result<Frames> render_frames(std::size_t code_frames, std::size_t empty_frames) {
  std::cout << "B9: rendering " << code_frames << " token frames and " << empty_frames
            << " frames without a code ..." << std::endl;
  RC_ASSIGN_OR_RETURN(const TokenSigner signer, TokenSigner::generate(1));
  const std::int64_t now_s = SystemClock().wall_seconds();
  Frames f;
  for (std::size_t i = 0; i < code_frames; ++i) {
    const int compartment = static_cast<int>(i % 24) + 1;
    RC_ASSIGN_OR_RETURN(std::string text,
                        signer.sign(customer_claims("bench-b1", TokenAction::kDeposit, compartment,
                                                    100000 + i, i, now_s)));
    RC_ASSIGN_OR_RETURN(hal::Frame frame, token_frame(text, static_cast<std::uint32_t>(i)));
    f.frames.push_back(std::move(frame));
    f.texts.push_back(std::move(text));
  }
  for (std::size_t i = 0; i < empty_frames; ++i) {
    f.frames.push_back(empty_frame(static_cast<std::uint32_t>(i)));
    f.texts.emplace_back();
  }
  return f;
}

struct Tallies {
  Tally zxing;     // the box's Scanner
  Tally zbar;      // libzbar
  Tally one_pass;  // one plain ZXing pass: the Scanner before c8da8ca
};

// Every frame decoded by all three, the order rotating from frame to frame.
Result<Tallies> decode_all(const Frames& f) {
  const firmware::Scanner scanner;
  RC_ASSIGN_OR_RETURN(std::unique_ptr<Zbar> zbar, Zbar::create());
  auto zxing_decode = [&](const hal::Frame& frame) { return scanner.decode(frame).value_or(""); };
  auto zbar_decode = [&](const hal::Frame& frame) { return zbar->decode(frame); };
  std::cout << "B9: decoding every frame with the Scanner, libzbar and one plain ZXing pass, "
               "rotating which goes first ..."
            << std::endl;
  Tallies t;
  for (std::size_t i = 0; i < f.frames.size(); ++i) {
    const std::string* expected = f.texts[i].empty() ? nullptr : &f.texts[i];
    const auto scanner_run = [&] { measure(f.frames[i], expected, t.zxing, zxing_decode); };
    const auto zbar_run = [&] { measure(f.frames[i], expected, t.zbar, zbar_decode); };
    const auto one_pass_run = [&] { measure(f.frames[i], expected, t.one_pass, zxing_one_pass); };
    const std::function<void()> runs[] = {scanner_run, zbar_run, one_pass_run};
    for (std::size_t k = 0; k < 3; ++k) runs[(i + k) % 3]();
  }
  return t;
}

// The Scanner's p50 decode time on one kind of frame beside one plain ZXing pass's: what the
// inverted retry of c8da8ca costs there.
Status add_retry_record(Output& out, const std::string& kind, const std::vector<double>& zx_ms,
                        const std::vector<double>& one_ms, bool quick) {
  Record r;
  r.id = "B9";
  r.figure = "Scanner decode time, frames " + kind + ", p50";
  r.unit = "ms";
  r.value = summarize(zx_ms).p50;
  r.baseline = "one plain ZXing pass, same hints (the Scanner before its inverted retry)";
  r.baseline_value = summarize(one_ms).p50;
  r.details = {{"quick", quick},
               {"scanner_ms", to_json(summarize(zx_ms))},
               {"one_pass_ms", to_json(summarize(one_ms))}};
  return out.add(r);
}

// The p50 decode time of one kind of frame, ZXing beside libzbar.
Status add_p50_record(Output& out, const std::string& figure, const std::vector<double>& zx_ms,
                      const std::vector<double>& zb_ms, nlohmann::json details) {
  Record r;
  r.id = "B9";
  r.figure = figure;
  r.unit = "ms";
  r.value = summarize(zx_ms).p50;
  r.baseline = "libzbar";
  r.baseline_value = summarize(zb_ms).p50;
  r.details = std::move(details);
  return out.add(r);
}

Status add_records(Output& out, const Tallies& t, std::size_t code_frames, std::size_t empty_frames,
                   bool quick) {
  const Tally& zx = t.zxing;
  const Tally& zb = t.zbar;
  RC_ASSIGN_OR_RETURN(SampleSeries s1,
                      out.write_samples("B9", "ZXing (box Scanner)", "ms", zx.all()));
  RC_ASSIGN_OR_RETURN(SampleSeries s2, out.write_samples("B9", "libzbar", "ms", zb.all()));
  Record all;
  all.id = "B9";
  all.figure = "QR decode time per frame, mean (ZXing, box Scanner)";
  all.unit = "ms";
  all.value = mean(zx.all());
  all.baseline = "libzbar, same frames";
  all.baseline_value = mean(zb.all());
  all.target = Target::ratio_at_most(0.5);
  all.samples = {s1, s2};
  all.details = {{"quick", quick},
                 {"code_frames", code_frames},
                 {"empty_frames", empty_frames},
                 {"zbar_version", "0.23 (Debian 12)"},
                 {"zxing", tally_json(zx)},
                 {"zbar", tally_json(zb)}};
  RC_TRY(out.add(all));
  RC_TRY(add_p50_record(out, "decode time, frames with a code, p50", zx.code_ms, zb.code_ms,
                        {{"quick", quick},
                         {"zxing_decoded", zx.decoded},
                         {"zbar_decoded", zb.decoded},
                         {"frames", code_frames}}));
  RC_TRY(add_p50_record(out, "decode time, frames without a code, p50", zx.empty_ms, zb.empty_ms,
                        {{"quick", quick},
                         {"zxing_phantoms", zx.phantom},
                         {"zbar_phantoms", zb.phantom},
                         {"frames", empty_frames}}));
  RC_TRY(add_retry_record(out, "with a code", zx.code_ms, t.one_pass.code_ms, quick));
  return add_retry_record(out, "without a code", zx.empty_ms, t.one_pass.empty_ms, quick);
}

Status run(Output& out, const CommonOptions& options) {
  const std::size_t code_frames = options.quick ? 120 : 1008;
  const std::size_t empty_frames = options.quick ? 30 : 252;
  RC_ASSIGN_OR_RETURN(const Frames frames, render_frames(code_frames, empty_frames));
  RC_ASSIGN_OR_RETURN(const Tallies tallies, decode_all(frames));
  const Tally& zx = tallies.zxing;
  const Tally& zb = tallies.zbar;
  std::cout << "  ZXing: " << zx.decoded << "/" << code_frames << " codes read, " << zx.wrong
            << " misread, " << zx.phantom << " phantom codes in " << empty_frames
            << " empty frames\n"
            << "  zbar:  " << zb.decoded << "/" << code_frames << " codes read, " << zb.wrong
            << " misread, " << zb.phantom << " phantom codes" << std::endl;
  RC_TRY(add_records(out, tallies, code_frames, empty_frames, options.quick));
  // A decoder that cannot read the codes makes the comparison meaningless: say so loudly.
  if (zx.decoded < code_frames || zb.decoded < code_frames) {
    std::cout << "B9: note: not every code was read (ZXing " << zx.decoded << ", zbar "
              << zb.decoded << " of " << code_frames << ")" << std::endl;
  }
  return ok_status();
}

}  // namespace
}  // namespace reclothes::bench

int main(int argc, char** argv) {
  CLI::App app{"B9: QR decode time per frame, ZXing (the box's Scanner) beside libzbar",
               "bench_b9_qr_decode"};
  return reclothes::bench::run_benchmark(argc, argv, app, reclothes::bench::run);
}
