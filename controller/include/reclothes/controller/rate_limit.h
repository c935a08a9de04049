// Gentle request limits of the public listener (docs/controller.md, "Rate limits"): token buckets
// per client address and per customer account, for each route class. The buckets are in memory,
// per replica; the login class is the database-backed LoginThrottle (auth.h), shared by replicas.
#pragma once

#include <chrono>
#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "reclothes/common/clock.h"

namespace reclothes::controller {

// A bucket holds at most `burst` tokens and gains `rate_per_s` tokens a second; a request takes
// one. rate_per_s 0 means no limit.
struct BucketSpec {
  double rate_per_s = 0;
  double burst = 0;
  bool limited() const { return rate_per_s > 0; }
};

struct TokenBucket {
  double tokens = 0;
  Clock::Monotonic updated{};
};

// Pure token-bucket arithmetic over a given time: no clock, no locks.
// A new bucket starts full.
TokenBucket new_bucket(const BucketSpec& spec, Clock::Monotonic now);
// The bucket refilled up to `now` (never above burst; time going backwards adds nothing).
TokenBucket refilled(TokenBucket b, const BucketSpec& spec, Clock::Monotonic now);
// Takes one token when there is one and returns std::nullopt; otherwise leaves the bucket as
// it is (refilled) and returns how long until a token is there.
std::optional<std::chrono::milliseconds> take_token(TokenBucket& b, const BucketSpec& spec,
                                                    Clock::Monotonic now);
// Whether the bucket is full at `now` (forgetting it changes nothing).
bool bucket_is_full(const TokenBucket& b, const BucketSpec& spec, Clock::Monotonic now);

// Buckets by key ("reads|a|203.0.113.7"), at most max_entries of them. When the table is full,
// buckets that have refilled completely are dropped first (a full bucket is the same as no
// bucket); if that frees nothing, the least recently used ones go, down to 90 % of the cap, so
// the sweep runs at most once every max_entries/10 new keys. Thread-safe.
class BucketTable {
 public:
  BucketTable(const Clock& clock, std::size_t max_entries);

  // Takes a token from the key's bucket: std::nullopt when allowed, else the wait.
  std::optional<std::chrono::milliseconds> take(const std::string& key, const BucketSpec& spec);
  std::size_t size() const;

 private:
  struct Entry {
    TokenBucket bucket;
    BucketSpec spec;
    std::list<std::string>::iterator lru;
  };
  void make_room(Clock::Monotonic now);

  const Clock& clock_;
  std::size_t max_entries_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
  std::list<std::string> lru_;  // most recently used first
};

}  // namespace reclothes::controller
