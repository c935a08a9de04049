// TamperSwitch: says whether the cabinet's service panel has been opened.
#pragma once

#include "reclothes/common/result.h"

namespace reclothes::hal {

// Threading: one thread reads the switch.
class TamperSwitch {
 public:
  virtual ~TamperSwitch() = default;
  TamperSwitch(const TamperSwitch&) = delete;
  TamperSwitch& operator=(const TamperSwitch&) = delete;

  // True when the panel is open. Fails with kIo / kUnavailable if the switch cannot be read; the
  // firmware treats that like tampering (a cut wire looks the same).
  Result<bool> is_tampered();

 protected:
  TamperSwitch() = default;

 private:
  virtual Result<bool> do_is_tampered() = 0;
};

}  // namespace reclothes::hal
