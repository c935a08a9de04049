// The command line every benchmark shares (--quick, --out DIR) and the frame of its main: errors
// are values up to here, and any of them (or an exception from a library) means the benchmark
// could not run, which scripts/bench reports as a failure. A missed target is not an error.
#pragma once

#include <CLI/CLI.hpp>
#include <filesystem>
#include <functional>
#include <string>

#include "reclothes/bench/report.h"
#include "reclothes/common/result.h"

namespace reclothes::bench {

struct CommonOptions {
  // A few seconds per benchmark: CI runs this to keep the harness alive. The figures are then
  // rough, and the records say so (details.quick).
  bool quick = false;
  std::filesystem::path out = "bench-results";
};

// Exit codes of a benchmark executable.
inline constexpr int kExitRan = 0;         // ran; every record was written (PASS or MISS)
inline constexpr int kExitCannotRun = 1;   // could not run or failed half-way
inline constexpr int kExitBadCommand = 2;  // bad command line

// Adds --quick and --out to `app` (which a benchmark may give options of its own first), parses
// argv, opens the output directory and runs body. Prints "<name>: cannot run: <error>" to stderr
// for an error or an exception and returns kExitCannotRun; kExitBadCommand for a bad command line.
int run_benchmark(int argc, char** argv, CLI::App& app, CommonOptions& options,
                  const std::function<Status(Output&)>& body);

// The same, with the common options handed to the body: a benchmark's whole main is
//   CLI::App app{"B1: what it measures", "bench_b1_name"};
//   return run_benchmark(argc, argv, app, run);
using BenchmarkBody = std::function<Status(Output&, const CommonOptions&)>;
int run_benchmark(int argc, char** argv, CLI::App& app, const BenchmarkBody& body);

}  // namespace reclothes::bench
