// Result records of the benchmarks: each figure beside its baseline from the same run, the ratio,
// the target and the verdict. A benchmark prints one human line per record and appends the record
// as one JSON line to <out>/results.jsonl; bench_report turns those into results.json,
// summary.md and the plots (docs/performance.md, "How the harness works").
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "reclothes/common/result.h"

namespace reclothes::bench {

enum class Verdict {
  kPass,  // the target is met
  kMiss,  // the target is missed: docs/performance.md says what limits the figure
  kInfo,  // no target: a figure written down for the record (binary size, ...)
};
std::string_view to_string(Verdict verdict);  // "PASS", "MISS", "INFO"

struct Target {
  enum class Kind { kAtMost, kAtLeast };
  Kind kind = Kind::kAtMost;
  double limit = 0;
  // true: the ratio value / baseline is compared with limit; false: the value itself (in the
  // record's unit).
  bool on_ratio = true;

  static Target ratio_at_most(double limit) { return {Kind::kAtMost, limit, true}; }
  static Target ratio_at_least(double limit) { return {Kind::kAtLeast, limit, true}; }
  static Target value_at_most(double limit) { return {Kind::kAtMost, limit, false}; }
  static Target value_at_least(double limit) { return {Kind::kAtLeast, limit, false}; }

  bool met(double x) const { return kind == Kind::kAtMost ? x <= limit : x >= limit; }
  // "<= 1.25" for a ratio, "<= 16 MB" for a value in unit.
  std::string text(std::string_view unit) const;
};

// One latency (or other) distribution behind a record, for the plots: a text file with one
// sample per line, in `unit`, written next to results.jsonl. Or, when x_unit is set, a curve: one
// "x y" point per line (y in `unit`), drawn as a line over x (B10's RSS over time).
struct SampleSeries {
  std::string label;   // "scan to unlock", "raw ZXing decode"
  std::string file;    // the name inside the output directory
  std::string unit;    // "ms"
  std::string x_unit;  // empty: a distribution; else the unit of a curve's x ("s")
};

struct Record {
  std::string id;      // "B1"
  std::string figure;  // "scan-to-unlock latency p99"
  std::string unit;    // "ms", "events/s", "MB", "%"
  double value = 0;
  std::string baseline;  // what the baseline is; empty when there is none
  std::optional<double> baseline_value;
  std::optional<Target> target;
  std::vector<SampleSeries> samples;
  // Anything else worth keeping: summaries of every series, counts, settings, top mappings.
  nlohmann::json details = nlohmann::json::object();

  // value / baseline_value, when there is a non-zero baseline.
  std::optional<double> ratio() const;
  // kInfo without a target; kMiss when the target is on the ratio and there is none.
  Verdict verdict() const;
  // "B2 journal durable events/s: 6,512 events/s | raw write+fdatasync: 9,830 events/s |
  //  ratio 0.66 (target >= 0.5) PASS"
  std::string line() const;

  nlohmann::json to_json() const;
  // The inverse of to_json(); kInvalidArgument naming the field for anything else.
  static Result<Record> from_json(const nlohmann::json& j);
};

// 6512.3 -> "6,512"; 0.6612 with 2 decimals -> "0.66". Thousands separators in the integer part.
std::string format_number(double value, int decimals);
// A value in a unit with a sensible number of decimals: "6,512 events/s", "4.87 ms", "9.8 MB".
std::string format_value(double value, std::string_view unit);

// Where one benchmark run writes. Not thread-safe; one per benchmark process.
class Output {
 public:
  // Creates the directory if needed. kIo if it cannot.
  static Result<Output> open(const std::filesystem::path& dir);

  const std::filesystem::path& dir() const { return dir_; }

  // Writes the samples (one per line) to <dir>/<id>-<slug of label>.txt and returns the series
  // that a record lists. kIo if the file cannot be written.
  Result<SampleSeries> write_samples(std::string_view id, std::string_view label,
                                     std::string_view unit, const std::vector<double>& samples);

  // Writes the points (one "x y" per line) to <dir>/<id>-<slug of label>.txt and returns the
  // curve that a record lists. kIo if the file cannot be written.
  Result<SampleSeries> write_curve(std::string_view id, std::string_view label,
                                   std::string_view x_unit, std::string_view unit,
                                   const std::vector<std::pair<double, double>>& points);

  // Prints record.line() to stdout and appends the record as one JSON line to
  // <dir>/results.jsonl. kIo if the file cannot be written.
  Status add(const Record& record);

 private:
  explicit Output(std::filesystem::path dir) : dir_(std::move(dir)) {}
  std::filesystem::path dir_;
};

// A scratch directory for a benchmark's files (journal, databases), made inside `parent` so the
// benchmark measures the disk the results go to, and removed with everything in it on
// destruction.
class ScratchDir {
 public:
  static Result<ScratchDir> create(const std::filesystem::path& parent, std::string_view prefix);
  ScratchDir(ScratchDir&& other) noexcept;
  ScratchDir& operator=(ScratchDir&& other) noexcept;
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  ~ScratchDir();

  const std::filesystem::path& path() const { return path_; }

 private:
  explicit ScratchDir(std::filesystem::path path) : path_(std::move(path)) {}
  std::filesystem::path path_;
};

// "scan to unlock" -> "scan-to-unlock": lower case, [a-z0-9-] only.
std::string slug(std::string_view text);

}  // namespace reclothes::bench
