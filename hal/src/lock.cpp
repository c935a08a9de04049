#include "reclothes/hal/lock.h"

#include <string>

namespace reclothes::hal {

Status CompartmentLock::pulse(std::chrono::milliseconds duration) {
  if (duration <= std::chrono::milliseconds::zero() || duration > kMaxPulse) {
    return make_error(ErrorCode::kInvalidArgument,
                      "lock pulse of " + std::to_string(duration.count()) +
                          " ms refused: it must be 1.." + std::to_string(kMaxPulse.count()) +
                          " ms (a lock is pulsed, never held)");
  }
  return do_pulse(duration);
}

Status CompartmentLock::release() { return do_release(); }

bool CompartmentLock::energised() const { return do_energised(); }

}  // namespace reclothes::hal
