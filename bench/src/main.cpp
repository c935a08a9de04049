// GCC 12 at -O2 reports a "potential null pointer dereference" inside std::string, inlined from
// CLI11's option-name splitting (CLI::detail::split): a false positive in library code that no
// change here can avoid, so it is silenced for this file only (before any header is read).
#pragma GCC diagnostic ignored "-Wnull-dereference"

#include "reclothes/bench/main.h"

#include <exception>
#include <iostream>

namespace reclothes::bench {

int run_benchmark(int argc, char** argv, CLI::App& app, CommonOptions& options,
                  const std::function<Status(Output&)>& body) {
  app.add_flag("--quick", options.quick, "run for a few seconds (CI); the figures are rough");
  app.add_option("--out", options.out, "directory for results.jsonl and the sample files")
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kExitRan : kExitBadCommand;
  }
  const std::string name = app.get_name();
  try {
    auto out = Output::open(options.out);
    if (!out.ok()) {
      std::cerr << name << ": cannot run: " << out.error().to_string() << std::endl;
      return kExitCannotRun;
    }
    const Status ran = body(*out);
    if (!ran.ok()) {
      std::cerr << name << ": cannot run: " << ran.error().to_string() << std::endl;
      return kExitCannotRun;
    }
    return kExitRan;
  } catch (const std::exception& e) {
    // Our code returns errors as values; an exception here came out of a library we did not
    // expect to throw, and it still means the benchmark did not run.
    std::cerr << name << ": cannot run: unexpected exception: " << e.what() << std::endl;
    return kExitCannotRun;
  }
}

int run_benchmark(int argc, char** argv, CLI::App& app, const BenchmarkBody& body) {
  CommonOptions options;
  return run_benchmark(argc, argv, app, options, [&](Output& out) { return body(out, options); });
}

}  // namespace reclothes::bench
