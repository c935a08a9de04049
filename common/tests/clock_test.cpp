#include "reclothes/common/clock.h"

#include <gtest/gtest.h>

namespace reclothes {
namespace {

using namespace std::chrono_literals;

TEST(ManualClock, MovesOnlyWhenAdvanced) {
  ManualClock clock(1'000'000);
  auto m0 = clock.monotonic();
  EXPECT_EQ(clock.wall_ms(), 1'000'000);
  EXPECT_EQ(clock.wall_ms(), 1'000'000);
  clock.advance(1500ms);
  EXPECT_EQ(clock.wall_ms(), 1'001'500);
  EXPECT_EQ(clock.wall_seconds(), 1001);
  EXPECT_EQ(clock.monotonic() - m0, 1500ms);
}

TEST(ManualClock, WallCorrectionDoesNotMoveMonotonic) {
  ManualClock clock(5'000);
  auto m0 = clock.monotonic();
  clock.set_wall_ms(1'000);
  EXPECT_EQ(clock.wall_ms(), 1'000);
  EXPECT_EQ(clock.monotonic(), m0);
}

TEST(SystemClock, IsNearTheOperatingSystemsTime) {
  SystemClock clock;
  auto before = std::chrono::system_clock::now();
  std::int64_t ms = clock.wall_ms();
  auto after = std::chrono::system_clock::now();
  EXPECT_GE(
      ms, std::chrono::duration_cast<std::chrono::milliseconds>(before.time_since_epoch()).count());
  EXPECT_LE(
      ms, std::chrono::duration_cast<std::chrono::milliseconds>(after.time_since_epoch()).count());
  auto m1 = clock.monotonic();
  auto m2 = clock.monotonic();
  EXPECT_LE(m1, m2);
}

}  // namespace
}  // namespace reclothes
