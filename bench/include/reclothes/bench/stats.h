// Statistics over raw samples. Benchmarks keep every sample and take percentiles from them: the
// targets (B1, B5) are about the tail, which a mean or a histogram bucket would hide.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <vector>

namespace reclothes::bench {

using SteadyClock = std::chrono::steady_clock;

struct Summary {
  std::size_t count = 0;
  double min = 0;
  double mean = 0;
  double p50 = 0;
  double p90 = 0;
  double p99 = 0;
  double max = 0;
};

// Nearest-rank percentile of `samples` (need not be sorted): the smallest measured value with at
// least q of the samples at or below it, so the answer is always a value that was measured.
// q outside [0, 1] is clamped; 0 for no samples.
double percentile(std::vector<double> samples, double q);

// count, min, mean, p50, p90, p99 and max of the samples; all zero for none.
Summary summarize(const std::vector<double>& samples);

// {"count":..,"min":..,"mean":..,"p50":..,"p90":..,"p99":..,"max":..}
nlohmann::json to_json(const Summary& summary);

// Operations per second; 0 for a zero or negative duration.
double per_second(std::size_t operations, std::chrono::nanoseconds elapsed);

// The time from `from` to `to` in milliseconds, with the clock's resolution.
double ms_between(SteadyClock::time_point from, SteadyClock::time_point to);

// The rounds one side of a benchmark ran (the figure's side and its baseline's alternate, so that
// load bursts hit both): operations and seconds in all, and the rate of each round.
struct RoundTotals {
  std::uint64_t operations = 0;
  double seconds = 0;
  std::vector<double> rates;  // operations per second, one per round (0 for a round without time)

  void add(std::uint64_t round_operations, double round_seconds);
  // Operations per second over all rounds; 0 without time.
  double rate() const;
};

}  // namespace reclothes::bench
