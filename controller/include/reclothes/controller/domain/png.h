// PNG images the controller serves: QR codes of tokens (for the customer's app) and tracking-code
// labels for the delivery staff's portable printers. ZXing-C++ makes the QR matrix, stb writes
// the PNG (Debian's libstb carries the implementation).
#pragma once

#include <string>
#include <string_view>

#include "reclothes/common/result.h"

namespace reclothes::controller::domain {

// An 8-bit greyscale PNG of `text` as a QR code (error correction level M), module_px pixels per
// module with a quiet zone of 4 modules. kInvalidArgument for empty text, text too long for a QR
// code, or module_px outside 1..32.
Result<std::string> render_qr_png(std::string_view text, int module_px = 8);

// A label for a 50 mm wide thermal printer at 203 dpi (400 px): the tracking code as a QR code
// that fills the width. The code is also printed by the printer's own text line; the PNG holds
// only the machine-readable part.
Result<std::string> render_label_png(std::string_view tracking_code);

// A courier token as the QR code the courier's phone shows to the box camera: 6 px per module
// (a courier token is a version 8..12 code, about 370..450 px with the quiet zone), which the
// console scales down to the phone's width without losing a module.
Result<std::string> render_courier_qr_png(std::string_view token);

}  // namespace reclothes::controller::domain
