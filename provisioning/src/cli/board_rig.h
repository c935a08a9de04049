// The board backend of the self-test, kept out of selftest_backend.cpp so that the build, not an
// #ifdef, decides whether it exists: selftest_linux.cpp where libgpiod is found,
// selftest_no_linux.cpp elsewhere. Private to the CLI library.
#pragma once

#include <memory>

#include "reclothes/common/result.h"
#include "reclothes/provisioning/cli/box_file.h"
#include "reclothes/provisioning/cli/selftest_backend.h"

namespace reclothes::provisioning::cli {

// The real GPIO and V4L2 ports, the system clock and real sleeps. kUnavailable in a build
// without the linux backend.
Result<std::unique_ptr<SelfTestRig>> make_board_rig(const BoxFile& config);

}  // namespace reclothes::provisioning::cli
