// libFuzzer target for the box's image reader: the bytes of an image file through
// firmware::scan_image, which is what `reclothes-box scan-image FILE` runs on a file's contents
// (stb decodes PNG, JPEG, BMP, GIF, PGM/PPM or TGA to grey; the frame limit is checked on the
// header; ZXing reads every QR code with try_harder and try_rotate, and once more inverted when
// there is none).
//
// Covered: stb's decoders (a system library, so without coverage feedback of its own: the seeds
// carry the formats), the size checks, the frame handed to ZXing and the scanner's inverted
// retry. Not covered: the camera path (CameraScanner, which gets frames from the HAL, never files).
//
// Besides "never crash, never hang": whatever decodes is a valid frame of at most
// kMaxDimension a side, and an error always names the file.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "reclothes/firmware/scanner.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> bytes(data, size);
  const auto frame = reclothes::firmware::decode_image(bytes, "frame");
  if (!frame.ok()) {
    check(frame.error().message.rfind("frame: ", 0) == 0);
    return 0;
  }
  check(reclothes::hal::validate_frame(*frame).ok());
  const auto texts = reclothes::firmware::scan_image(bytes, "frame");
  if (texts.ok()) {
    check(!texts->empty());
  } else {
    check(texts.error().code == reclothes::ErrorCode::kNotFound);
  }
  return 0;
}
