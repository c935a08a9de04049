#include "reclothes/common/backoff.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <vector>

namespace reclothes {
namespace {

using namespace std::chrono_literals;

TEST(BackoffDelay, DoublesFromTheFirstAttemptUpToTheCap) {
  EXPECT_EQ(backoff_delay(1, 100ms, 1000ms), 100ms);
  EXPECT_EQ(backoff_delay(2, 100ms, 1000ms), 200ms);
  EXPECT_EQ(backoff_delay(4, 100ms, 1000ms), 800ms);
  EXPECT_EQ(backoff_delay(5, 100ms, 1000ms), 1000ms);
  EXPECT_EQ(backoff_delay(60, 100ms, 1000ms), 1000ms);
}

TEST(BackoffDelay, OddArgumentsGiveTheNearestSensibleDelay) {
  EXPECT_EQ(backoff_delay(0, 100ms, 1000ms), 100ms) << "attempt 0 counts as the first";
  EXPECT_EQ(backoff_delay(-5, 100ms, 1000ms), 100ms);
  EXPECT_EQ(backoff_delay(3, 5000ms, 1000ms), 1000ms) << "an initial above the cap is the cap";
  EXPECT_EQ(backoff_delay(7, 0ms, 1000ms), 0ms) << "no initial delay, no delay";
}

TEST(BackoffDelay, WorksInSecondsAndNeverOverflows) {
  // A schedule kept as whole seconds (a retry time in a database row).
  EXPECT_EQ(backoff_delay(3, std::chrono::seconds(60), std::chrono::seconds(3600)),
            std::chrono::seconds(240));
  EXPECT_EQ(backoff_delay(7, std::chrono::seconds(60), std::chrono::seconds(3600)),
            std::chrono::seconds(3600));
  // A cap near the type's limit: doubling stops at the cap instead of wrapping.
  const auto huge = std::chrono::milliseconds(std::numeric_limits<std::int64_t>::max());
  EXPECT_EQ(backoff_delay(std::numeric_limits<int>::max(), 3ms, huge), huge);
}

TEST(Backoff, DoublesUpToTheMaximumAndResets) {
  Backoff b(1000ms, 30'000ms);
  std::vector<std::int64_t> delays;
  for (int i = 0; i < 7; ++i) delays.push_back(b.next().count());
  EXPECT_EQ(delays, (std::vector<std::int64_t>{1000, 2000, 4000, 8000, 16000, 30000, 30000}));
  b.reset();
  EXPECT_EQ(b.next(), 1000ms);
}

TEST(Backoff, StaysAtTheCapHoweverLongItFails) {
  Backoff b(1ms, 8ms);
  for (int i = 0; i < 100'000; ++i) b.next();
  EXPECT_EQ(b.next(), 8ms);
}

TEST(Backoff, JitterStaysWithinItsFraction) {
  Backoff b(1000ms, 1000ms, 0.2, 42);
  for (int i = 0; i < 100; ++i) {
    const auto d = b.next();
    EXPECT_GE(d, 800ms);
    EXPECT_LE(d, 1000ms);
  }
}

TEST(Backoff, JitterDrawsAreRepeatableForASeedAndDifferBetweenSeeds) {
  Backoff a(1000ms, 1000ms, 0.5, 7);
  Backoff again(1000ms, 1000ms, 0.5, 7);
  Backoff other(1000ms, 1000ms, 0.5, 8);
  std::vector<std::int64_t> first;
  std::vector<std::int64_t> second;
  std::vector<std::int64_t> third;
  for (int i = 0; i < 10; ++i) {
    first.push_back(a.next().count());
    second.push_back(again.next().count());
    third.push_back(other.next().count());
  }
  EXPECT_EQ(first, second);
  EXPECT_NE(first, third);
}

}  // namespace
}  // namespace reclothes
