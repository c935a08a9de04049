// Time is injected: production code takes a Clock&, tests pass a ManualClock and advance it.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>

namespace reclothes {

// Two kinds of time: wall time (Unix milliseconds; token validity, event timestamps, can jump when
// NTP corrects it) and monotonic time (timeouts and pulse lengths; never jumps).
class Clock {
 public:
  using Monotonic = std::chrono::steady_clock::time_point;
  virtual ~Clock() = default;

  // Milliseconds since the Unix epoch.
  virtual std::int64_t wall_ms() const = 0;
  virtual Monotonic monotonic() const = 0;

  std::int64_t wall_seconds() const { return wall_ms() / 1000; }
};

// The operating system's clocks. Thread-safe.
class SystemClock final : public Clock {
 public:
  std::int64_t wall_ms() const override;
  Monotonic monotonic() const override;
};

// A clock that moves only when told to. Thread-safe, so a test may advance it while code under
// test reads it from another thread.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(std::int64_t start_wall_ms = 1'767'225'600'000 /* 2026-01-01T00:00:00Z */);

  std::int64_t wall_ms() const override;
  Monotonic monotonic() const override;

  // Moves both wall and monotonic time forward.
  void advance(std::chrono::milliseconds by);
  // Sets wall time only (as an NTP correction would); monotonic time does not move.
  void set_wall_ms(std::int64_t wall_ms);

 private:
  mutable std::mutex mu_;
  std::int64_t wall_ms_;
  Monotonic mono_;
};

}  // namespace reclothes
