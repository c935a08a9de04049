// Exponential back-off, written once for every retry loop in the tree: the box's reconnects
// (firmware::Sync), the controller's MQTT supervisor and its payment client. Header-only and free
// of I/O: the caller owns the clock and the sleeping, so tests check a schedule without waiting.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>

namespace reclothes {

// The delay before retry number `attempt` (1: after the first failure): initial, 2 x initial,
// 4 x initial ... and never more than max (an initial above max gives max). For schedules that
// keep the attempt count elsewhere, such as a database row. An attempt below 1 counts as 1; an
// initial of zero or less gives no delay. Works in any duration type (ms, s) without overflow.
template <typename Rep, typename Period>
constexpr std::chrono::duration<Rep, Period> backoff_delay(
    int attempt, std::chrono::duration<Rep, Period> initial,
    std::chrono::duration<Rep, Period> max) {
  using Duration = std::chrono::duration<Rep, Period>;
  if (initial >= max) return max;
  if (initial <= Duration::zero()) return Duration::zero();
  Duration d = initial;
  for (int i = 1; i < attempt && d < max; ++i) d = d > max / 2 ? max : d * 2;
  return d;
}

// The same schedule with state, for a loop that retries until it succeeds: next() gives min,
// 2 x min, 4 x min ... max, max ...; reset() after a success starts again at min. With jitter j
// (0..1) each delay is drawn from [d x (1 - j), d], so a fleet that lost its broker at the same
// moment does not come back in lock step; the seed makes that draw repeatable (one per client).
// Not thread-safe: one owner.
class Backoff {
 public:
  Backoff(std::chrono::milliseconds min, std::chrono::milliseconds max, double jitter = 0.0,
          std::uint32_t seed = 1)
      : min_(min),
        max_(std::max(min, max)),
        jitter_(std::clamp(jitter, 0.0, 1.0)),
        rng_(seed == 0 ? 1 : seed) {}

  std::chrono::milliseconds next() {
    const std::chrono::milliseconds d = backoff_delay(attempt_, min_, max_);
    if (d < max_) ++attempt_;  // stops counting at the cap, so it never overflows
    if (jitter_ <= 0.0) return d;
    std::uniform_real_distribution<double> draw(1.0 - jitter_, 1.0);
    const double scaled = static_cast<double>(d.count()) * draw(rng_);
    return std::chrono::milliseconds(std::max<std::int64_t>(1, static_cast<std::int64_t>(scaled)));
  }

  void reset() { attempt_ = 1; }

 private:
  std::chrono::milliseconds min_;
  std::chrono::milliseconds max_;
  double jitter_;
  int attempt_ = 1;
  std::minstd_rand rng_;
};

}  // namespace reclothes
