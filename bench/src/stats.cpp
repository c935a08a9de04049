#include "reclothes/bench/stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace reclothes::bench {
namespace {

// Index of the nearest-rank percentile in a sorted vector of n > 0 elements.
std::size_t rank_index(std::size_t n, double q) {
  q = std::clamp(q, 0.0, 1.0);
  const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(n)));
  return rank == 0 ? 0 : std::min(rank, n) - 1;
}

}  // namespace

double percentile(std::vector<double> samples, double q) {
  if (samples.empty()) return 0;
  const std::size_t i = rank_index(samples.size(), q);
  std::nth_element(samples.begin(), samples.begin() + static_cast<std::ptrdiff_t>(i),
                   samples.end());
  return samples[i];
}

Summary summarize(const std::vector<double>& samples) {
  Summary s;
  if (samples.empty()) return s;
  std::vector<double> sorted = samples;
  std::sort(sorted.begin(), sorted.end());
  const std::size_t n = sorted.size();
  s.count = n;
  s.min = sorted.front();
  s.max = sorted.back();
  s.mean = std::accumulate(sorted.begin(), sorted.end(), 0.0) / static_cast<double>(n);
  s.p50 = sorted[rank_index(n, 0.50)];
  s.p90 = sorted[rank_index(n, 0.90)];
  s.p99 = sorted[rank_index(n, 0.99)];
  return s;
}

nlohmann::json to_json(const Summary& summary) {
  return {{"count", summary.count}, {"min", summary.min}, {"mean", summary.mean},
          {"p50", summary.p50},     {"p90", summary.p90}, {"p99", summary.p99},
          {"max", summary.max}};
}

double per_second(std::size_t operations, std::chrono::nanoseconds elapsed) {
  if (elapsed.count() <= 0) return 0;
  return static_cast<double>(operations) * 1e9 / static_cast<double>(elapsed.count());
}

double ms_between(SteadyClock::time_point from, SteadyClock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

void RoundTotals::add(std::uint64_t round_operations, double round_seconds) {
  operations += round_operations;
  seconds += round_seconds;
  rates.push_back(round_seconds > 0 ? static_cast<double>(round_operations) / round_seconds : 0);
}

double RoundTotals::rate() const {
  return seconds > 0 ? static_cast<double>(operations) / seconds : 0;
}

}  // namespace reclothes::bench
