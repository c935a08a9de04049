#include "reclothes/controller/rate_limit.h"

#include <algorithm>
#include <cmath>

namespace reclothes::controller {

TokenBucket new_bucket(const BucketSpec& spec, Clock::Monotonic now) {
  return TokenBucket{spec.burst, now};
}

TokenBucket refilled(TokenBucket b, const BucketSpec& spec, Clock::Monotonic now) {
  if (now <= b.updated) return b;
  const std::chrono::duration<double> elapsed = now - b.updated;
  b.tokens = std::min(spec.burst, b.tokens + elapsed.count() * spec.rate_per_s);
  b.updated = now;
  return b;
}

std::optional<std::chrono::milliseconds> take_token(TokenBucket& b, const BucketSpec& spec,
                                                    Clock::Monotonic now) {
  if (!spec.limited()) return std::nullopt;
  b = refilled(b, spec, now);
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return std::nullopt;
  }
  const double wait_s = (1.0 - b.tokens) / spec.rate_per_s;
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::ceil(wait_s * 1000.0)));
}

bool bucket_is_full(const TokenBucket& b, const BucketSpec& spec, Clock::Monotonic now) {
  return refilled(b, spec, now).tokens >= spec.burst;
}

BucketTable::BucketTable(const Clock& clock, std::size_t max_entries)
    : clock_(clock), max_entries_(std::max<std::size_t>(1, max_entries)) {}

std::size_t BucketTable::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

void BucketTable::make_room(Clock::Monotonic now) {
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (bucket_is_full(it->second.bucket, it->second.spec, now)) {
      lru_.erase(it->second.lru);
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
  if (entries_.size() < max_entries_) return;
  const auto keep = max_entries_ - std::max<std::size_t>(1, max_entries_ / 10);
  while (entries_.size() > keep && !lru_.empty()) {
    entries_.erase(lru_.back());
    lru_.pop_back();
  }
}

std::optional<std::chrono::milliseconds> BucketTable::take(const std::string& key,
                                                           const BucketSpec& spec) {
  if (!spec.limited()) return std::nullopt;
  const auto now = clock_.monotonic();
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    if (entries_.size() >= max_entries_) make_room(now);
    lru_.push_front(key);
    it = entries_.emplace(key, Entry{new_bucket(spec, now), spec, lru_.begin()}).first;
  } else {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
  }
  return take_token(it->second.bucket, spec, now);
}

}  // namespace reclothes::controller
