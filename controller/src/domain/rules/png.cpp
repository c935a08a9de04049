#include "reclothes/controller/domain/png.h"

#include "reclothes/common/qr_png.h"

namespace reclothes::controller::domain {

Result<std::string> render_qr_png(std::string_view text, int module_px) {
  // The renderer is common's (reclothes-provision prints the box's own code with it too).
  return reclothes::render_qr_png(text, module_px);
}

Result<std::string> render_label_png(std::string_view tracking_code) {
  // A tracking code is short (version 1 or 2 QR, 21..25 modules + 8 quiet): 12 px per module
  // gives about 350..400 px, the printable width of a 50 mm label at 203 dpi.
  return render_qr_png(tracking_code, 12);
}

Result<std::string> render_courier_qr_png(std::string_view token) {
  return render_qr_png(token, 6);
}

}  // namespace reclothes::controller::domain
