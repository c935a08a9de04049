// QR codes as PNG images: the controller's token and label images, the box's printed code
// (reclothes-provision register writes box-code.png), the simulator's page. ZXing-C++ makes the
// QR matrix, stb writes the PNG (Debian's libstb carries the implementation). Target
// reclothes::common_qr, apart from reclothes::common so that the box firmware and the fuzz targets
// do not link an image writer they never use.
//
// Pure function, thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "reclothes/common/result.h"

namespace reclothes {

// An 8-bit greyscale PNG of `text` as a QR code (error correction level M), module_px pixels per
// module with a quiet zone of 4 modules. kInvalidArgument for empty text, text too long for a QR
// code, or module_px outside 1..32.
Result<std::string> render_qr_png(std::string_view text, int module_px = 8);

}  // namespace reclothes
