// The public listener's token buckets on a ManualClock, and their configuration.
#include "reclothes/controller/rate_limit.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "reclothes/controller/config.h"

namespace reclothes::controller {
namespace {

using std::chrono::milliseconds;

TEST(TokenBucket, StartsFullAndRefusesWhenEmptyWithTheWait) {
  ManualClock clock;
  const BucketSpec spec{2.0, 3.0};  // 2 a second, burst 3
  auto b = new_bucket(spec, clock.monotonic());
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(take_token(b, spec, clock.monotonic())) << i;
  const auto wait = take_token(b, spec, clock.monotonic());
  ASSERT_TRUE(wait);
  EXPECT_EQ(*wait, milliseconds(500));  // one token at 2/s
}

TEST(TokenBucket, RefillsAtTheRateUpToTheBurst) {
  ManualClock clock;
  const BucketSpec spec{2.0, 3.0};
  auto b = new_bucket(spec, clock.monotonic());
  for (int i = 0; i < 3; ++i) ASSERT_FALSE(take_token(b, spec, clock.monotonic()));
  clock.advance(milliseconds(250));
  auto wait = take_token(b, spec, clock.monotonic());
  ASSERT_TRUE(wait);
  EXPECT_EQ(*wait, milliseconds(250));  // half a token there, half to go
  clock.advance(milliseconds(250));
  EXPECT_FALSE(take_token(b, spec, clock.monotonic()));
  clock.advance(std::chrono::hours(1));  // never more than the burst
  EXPECT_TRUE(bucket_is_full(b, spec, clock.monotonic()));
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(take_token(b, spec, clock.monotonic())) << i;
  EXPECT_TRUE(take_token(b, spec, clock.monotonic()));
}

TEST(TokenBucket, ARateOfZeroIsNoLimit) {
  ManualClock clock;
  const BucketSpec spec{0, 0};
  auto b = new_bucket(spec, clock.monotonic());
  for (int i = 0; i < 1000; ++i) ASSERT_FALSE(take_token(b, spec, clock.monotonic()));
}

TEST(TokenBucket, TimeGoingBackwardsAddsNothing) {
  ManualClock clock;
  const BucketSpec spec{1.0, 1.0};
  const auto later = clock.monotonic() + std::chrono::seconds(10);
  TokenBucket b{0.0, later};
  EXPECT_TRUE(take_token(b, spec, clock.monotonic()));
  EXPECT_EQ(b.tokens, 0.0);
}

TEST(BucketTable, KeysHaveTheirOwnBuckets) {
  ManualClock clock;
  BucketTable table(clock, 100);
  const BucketSpec spec{1.0, 2.0};
  EXPECT_FALSE(table.take("a", spec));
  EXPECT_FALSE(table.take("a", spec));
  EXPECT_TRUE(table.take("a", spec));
  EXPECT_FALSE(table.take("b", spec));
  clock.advance(std::chrono::seconds(1));
  EXPECT_FALSE(table.take("a", spec));
}

TEST(BucketTable, ASprayOfKeysStaysWithinTheCapAndFullBucketsGoFirst) {
  ManualClock clock;
  BucketTable table(clock, 100);
  const BucketSpec spec{1.0, 5.0};
  // A key that is being limited right now, used after every new key so it stays recent.
  for (int i = 0; i < 5; ++i) ASSERT_FALSE(table.take("hot", spec));
  for (int i = 0; i < 10000; ++i) {
    table.take("spray-" + std::to_string(i), spec);
    ASSERT_TRUE(table.take("hot", spec)) << "the hot key's empty bucket was forgotten at " << i;
    ASSERT_LE(table.size(), 100u);
  }
  // The sprayed buckets refill; new keys then find room by dropping every full bucket (not just
  // the oldest tenth), and the hot key's bucket (not full) is kept.
  clock.advance(std::chrono::seconds(1));
  for (int i = 0; i < 20; ++i) EXPECT_FALSE(table.take("late-" + std::to_string(i), spec));
  EXPECT_LT(table.size(), 50u);
  EXPECT_FALSE(table.take("hot", spec));  // the one token that refilled ...
  EXPECT_TRUE(table.take("hot", spec));   // ... and no more: the bucket was remembered
}

nlohmann::json rate_limit_minimal_config() {
  return {{"database", {{"conninfo", "host=127.0.0.1 dbname=x"}}},
          {"public_listener", {{"port", 8080}}},
          {"internal_listener", {{"port", 8081}}},
          {"mqtt", {{"uri", "tcp://127.0.0.1:1883"}, {"client_id", "c1"}}},
          {"tokens", {{"key_dir", "/tmp/keys"}}}};
}

TEST(RateLimitConfig, DefaultsAreGentleAndExemptLoopback) {
  auto c = parse_config(rate_limit_minimal_config().dump());
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->rate_limits.reads.per_address.rate_per_s, 20);
  EXPECT_EQ(c->rate_limits.reads.per_address.burst, 100);
  EXPECT_EQ(c->rate_limits.writes.per_account.rate_per_s, 2);
  EXPECT_EQ(c->rate_limits.writes.per_account.burst, 20);
  EXPECT_EQ(c->rate_limits.exempt, (std::vector<std::string>{"127.0.0.0/8", "::1/128"}));
  EXPECT_EQ(c->rate_limits.max_buckets, 100000u);
}

TEST(RateLimitConfig, EveryFieldIsRead) {
  auto j = rate_limit_minimal_config();
  j["rate_limits"] = {{"reads",
                       {{"per_address", {{"rate_per_s", 0.5}, {"burst", 3}}},
                        {"per_account", {{"rate_per_s", 0}}}}},
                      {"writes", {{"per_address", {{"rate_per_s", 1}, {"burst", 2}}}}},
                      {"exempt", nlohmann::json::array()},
                      {"max_buckets", 500}};
  auto c = parse_config(j.dump());
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->rate_limits.reads.per_address.rate_per_s, 0.5);
  EXPECT_EQ(c->rate_limits.reads.per_address.burst, 3);
  EXPECT_EQ(c->rate_limits.reads.per_account.rate_per_s, 0);
  EXPECT_EQ(c->rate_limits.writes.per_address.burst, 2);
  EXPECT_EQ(c->rate_limits.writes.per_account.rate_per_s, 2);  // default kept
  EXPECT_TRUE(c->rate_limits.exempt.empty());
  EXPECT_EQ(c->rate_limits.max_buckets, 500u);
}

TEST(RateLimitConfig, ErrorsNameTheField) {
  const auto problem = [](nlohmann::json rl) {
    auto j = rate_limit_minimal_config();
    j["rate_limits"] = std::move(rl);
    auto c = parse_config(j.dump());
    return c.ok() ? std::string("accepted") : c.error().message;
  };
  EXPECT_NE(problem({{"reads", {{"per_address", {{"rate_per_s", -1}}}}}})
                .find("/rate_limits/reads/per_address/rate_per_s"),
            std::string::npos);
  EXPECT_NE(problem({{"writes", {{"per_account", {{"burst", "x"}}}}}})
                .find("/rate_limits/writes/per_account/burst"),
            std::string::npos);
  EXPECT_NE(problem({{"login", {}}}).find("/rate_limits/login: unknown field"), std::string::npos);
  EXPECT_NE(problem({{"exempt", {"not-a-cidr"}}}).find("/rate_limits/exempt/0"), std::string::npos);
}

}  // namespace
}  // namespace reclothes::controller
