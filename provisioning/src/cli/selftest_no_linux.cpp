// The board backend in a build without libgpiod: it does not exist (see board_rig.h).
#include "board_rig.h"

namespace reclothes::provisioning::cli {

Result<std::unique_ptr<SelfTestRig>> make_board_rig(const BoxFile& /*config*/) {
  return make_error(ErrorCode::kUnavailable,
                    "this reclothes-provision was built without libgpiod: the linux backend is "
                    "not available (use --backend sim, or a build for the board)");
}

}  // namespace reclothes::provisioning::cli
