// QR decoding for the box camera (ZXing-C++ 1.4), image files (stb) for `reclothes-box
// scan-image`, and QR rendering (ZXing's writer) for tests and the simulator.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "reclothes/common/result.h"
#include "reclothes/hal/camera.h"
#include "reclothes/hal/frame.h"

namespace reclothes::firmware {

// Decodes QR codes only: other symbologies in the picture are ignored. Stateless and cheap to
// copy; decode() is const and may be called from any thread.
class Scanner {
 public:
  struct Options {
    // ZXing's slower exhaustive search. Off for camera frames: docs/firmware.md ("Scan pipeline")
    // has the measurement; a phone held to the camera gives a clean, upright code.
    bool try_harder = false;
    // Also look at the picture rotated by 90 degrees (1D codes only care; QR finders are
    // rotation invariant), and downscaled copies of large frames.
    bool try_rotate = false;
    bool try_downscale = true;
  };

  Scanner() : Scanner(Options{}) {}
  explicit Scanner(Options options) : options_(options) {}

  // Which passes decode() makes: the frame as it is, and (only when that finds no code) the frame
  // inverted, for a light-on-dark code (a phone in dark mode or with inverted colours).
  enum class Passes { kNormalThenInverted, kNormalOnly, kInvertedOnly };

  // The text of the first QR code in the frame, or nullopt if there is none (or the frame is
  // inconsistent; the HAL already refuses those). Never throws.
  std::optional<std::string> decode(const hal::Frame& frame,
                                    Passes passes = Passes::kNormalThenInverted) const;
  // Every QR code in the frame, in ZXing's order.
  std::vector<std::string> decode_all(const hal::Frame& frame) const;

 private:
  Options options_;
};

// Reads QR codes from a camera frame after frame, cheaply while the picture does not change.
//
// A box's camera mostly sees the same thing: an empty street in front of a fixed lens (the sim's
// blank frame), or a phone held still. Decoding costs about a millisecond per 640x480 frame here
// and several on a board, ten times a second, and a fresh 300 KB frame per capture costs as much
// again in page faults (docs/performance.md, B8). So the frame is captured into one of two
// buffers kept between calls, compared with the previous frame, and decoded only if any pixel
// differs; an identical frame gets the previous frame's answer.
//
// This skips no code: ZXing's decode is a pure function of the pixels and the options, so an
// identical frame would decode to the same answer, and any frame that differs in one pixel (a
// code appearing, moving, or gone) is decoded. The comparison is exact (every pixel, no hash
// that could collide, no threshold that could ignore a small code). A code held still is
// reported on every frame, as when each frame was decoded, so the Box's repeat window (unlock
// once, evaluate again only after the code was out of sight) behaves as before.
//
// A camera whose frames carry sensor noise differs in every frame and is decoded every frame;
// then only the buffer reuse helps.
//
// The inverted pass (a light-on-dark code) runs on at most every other frame without a normal
// code: it doubles the cost of a frame with no code (B9), and a phone held to the camera stays for
// many frames, so a dark-mode code is read at most one frame later. A frame that did not get its
// inverted pass and then stays unchanged gets it on the next call.
//
// Threading: one thread (the Box's main loop).
class CameraScanner {
 public:
  struct Stats {
    std::uint64_t frames = 0;    // frames captured successfully
    std::uint64_t decoded = 0;   // of them, frames handed to the decoder (the rest were unchanged)
    std::uint64_t inverted = 0;  // inverted passes made (frames without a normal code)
  };

  CameraScanner() : CameraScanner(Scanner()) {}
  explicit CameraScanner(Scanner scanner) : scanner_(scanner) {}

  // Captures the next frame and returns the QR text in it, or nullopt if it holds none. The
  // camera's errors are returned unchanged (kDeadlineExceeded when no frame came in time, ...);
  // a failed capture leaves the previous frame and its answer in place.
  Result<std::optional<std::string>> next(hal::Camera& camera);

  const Stats& stats() const { return stats_; }

 private:
  Scanner scanner_;
  hal::Frame current_;   // the buffer the next capture writes into
  hal::Frame previous_;  // the last frame captured successfully (valid when have_previous_)
  bool have_previous_ = false;
  std::optional<std::string> previous_text_;  // what previous_ decoded to
  bool inverted_due_ = true;  // the next frame without a normal code gets the inverted pass
  bool previous_inverted_pending_ = false;  // previous_ had no code and no inverted pass yet
  Stats stats_;
};

// True if both frames have the same size and every visible pixel is equal (row padding, which
// the decoder never reads, is not compared).
bool same_pixels(const hal::Frame& a, const hal::Frame& b);

// Loads a PNG, JPEG, BMP, GIF, PGM/PPM or TGA file as an 8-bit grey frame. kNotFound if the file
// does not exist, kInvalidArgument if stb cannot decode it (its reason is in the message) or it is
// larger than hal::Frame::kMaxDimension (checked on the header, before any pixel is decoded).
Result<hal::Frame> load_image_file(const std::filesystem::path& path);
// The same for the bytes of such a file in memory; `name` stands for the file in messages.
Result<hal::Frame> decode_image(std::span<const std::uint8_t> bytes, std::string_view name);

// For `reclothes-box scan-image FILE`: every QR text in the image (decoded with try_harder on,
// since speed does not matter here). load_image_file's errors, or kNotFound "no QR code found in
// <path>" if the image holds none.
Result<std::vector<std::string>> scan_image_file(const std::filesystem::path& path);
// The same for the bytes of an image file in memory (decode_image's errors).
Result<std::vector<std::string>> scan_image(std::span<const std::uint8_t> bytes,
                                            std::string_view name);

struct QrRenderOptions {
  int module_px = 4;       // pixels per QR module, 1..64
  int margin_modules = 4;  // white quiet zone around the code, in modules (the standard asks 4)
  // The canvas the code is drawn on, centred (or at offset_x/offset_y if given). 0 = just fit
  // the code and its quiet zone.
  std::uint32_t width = 640;
  std::uint32_t height = 480;
  std::optional<std::uint32_t> offset_x;
  std::optional<std::uint32_t> offset_y;
  std::uint8_t background = 128;  // grey around the quiet zone (a phone's bezel, a hand)
  std::uint8_t dark = 20;         // a screen's black is not 0 ...
  std::uint8_t light = 235;       // ... nor its white 255
  int noise = 0;                  // uniform noise of +-noise grey levels on every pixel, 0..100
  std::uint32_t seed = 1;         // the noise is reproducible
  int ecc_level = 4;              // ZXing's 0..8 scale; 4 is level M, as tokens are specified
};

// Renders `text` as a QR code (ZXing MultiFormatWriter) on a grey canvas. kInvalidArgument for
// empty or unencodable text, options out of range, or a code that does not fit the canvas.
Result<hal::Frame> render_qr(std::string_view text, const QrRenderOptions& options = {});
// Shorthand: module size and margin on the default 640x480 canvas.
Result<hal::Frame> render_qr(std::string_view text, int module_px, int margin_modules);

}  // namespace reclothes::firmware
