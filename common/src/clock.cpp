#include "reclothes/common/clock.h"

namespace reclothes {

std::int64_t SystemClock::wall_ms() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Clock::Monotonic SystemClock::monotonic() const { return std::chrono::steady_clock::now(); }

ManualClock::ManualClock(std::int64_t start_wall_ms) : wall_ms_(start_wall_ms), mono_() {}

std::int64_t ManualClock::wall_ms() const {
  std::lock_guard lock(mu_);
  return wall_ms_;
}

Clock::Monotonic ManualClock::monotonic() const {
  std::lock_guard lock(mu_);
  return mono_;
}

void ManualClock::advance(std::chrono::milliseconds by) {
  std::lock_guard lock(mu_);
  wall_ms_ += by.count();
  mono_ += by;
}

void ManualClock::set_wall_ms(std::int64_t wall_ms) {
  std::lock_guard lock(mu_);
  wall_ms_ = wall_ms;
}

}  // namespace reclothes
