// B11: the staff console's first load (docs/console.md). Real processes throughout: PostgreSQL
// and Mosquitto (tests/support), the `reclothes-controller serve` binary, N boxes registered with
// bulk SQL as B7 does (10,000; quick: 1,000), a manager account made with `create-staff`, and
// Debian's headless Chromium driven by playwright-core (bench/console/first_load.mjs, installed
// with `npm ci` from its lockfile on the first run).
//
// Each run is a cold load: a new page with the browser cache off and a signed-in session cookie,
// opening /console/#/fleet until the fleet table shows its first row. Figures:
//   - time to the fleet table, median over the runs, beside the baseline: the same listener's
//     static files (the console's own, as many bytes as the console's first load fetched from
//     /console/) fetched by a plain page with nothing to run; target: a ratio of at most 2;
//   - bytes transferred (headers and bodies, as Chromium counts them) by the console's first load,
//     everything it asked for (its files and the API's answers), beside the baseline's.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "reclothes/bench/fleet.h"
#include "reclothes/bench/main.h"
#include "reclothes/bench/proc.h"
#include "reclothes/bench/report.h"
#include "reclothes/bench/servers.h"
#include "reclothes/bench/stats.h"

#ifndef RECLOTHES_B11_SCRIPT_DIR
#define RECLOTHES_B11_SCRIPT_DIR "bench/console"
#endif

namespace reclothes::bench {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr int kCompartments = 24;
constexpr const char* kEmail = "b11-manager@reclothes.bench";
constexpr const char* kPassword = "b11-bench-password";

struct B11Options {
  int boxes = 0;  // 0: 10,000 (quick: 1,000)
  int runs = 0;   // 0: 15 (quick: 3)
  ControllerChoice controller{RECLOTHES_CONTROLLER_BIN, "warn"};
  std::string node = "node";
  std::string npm = "npm";
  std::string chromium = "/usr/bin/chromium";
  std::string script_dir = RECLOTHES_B11_SCRIPT_DIR;
};

// playwright-core, once, from the lockfile beside the script (its own browser download is never
// used: Chromium is Debian's).
Status install_playwright(const B11Options& o, const fs::path& log) {
  const fs::path dir = o.script_dir;
  if (fs::exists(dir / "node_modules" / "playwright-core" / "package.json")) return {};
  testsupport::SpawnOptions spawn;
  spawn.working_dir = dir;
  spawn.env["PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD"] = "1";
  RC_ASSIGN_OR_RETURN(const int code,
                      run_to_end({o.npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"}, log,
                                 spawn, std::chrono::minutes(5)));
  if (code != 0) {
    return make_error(
        ErrorCode::kUnavailable,
        "npm ci failed in " + dir.string() + " (the npm registry is needed once): " + tail(log));
  }
  return {};
}

Status create_manager(ControllerStack& stack, const B11Options& o, const fs::path& log) {
  testsupport::SpawnOptions spawn;
  spawn.env["RECLOTHES_STAFF_PASSWORD"] = kPassword;
  RC_ASSIGN_OR_RETURN(const int code, run_to_end({o.controller.binary, "create-staff", "--config",
                                                  stack.config().string(), "--email", kEmail,
                                                  "--role", "manager", "--name", "B11 manager"},
                                                 log, spawn));
  if (code != 0) return make_error(ErrorCode::kInternal, "create-staff failed: " + tail(log));
  return {};
}

// The browser's measurements: first_load.mjs writes them as JSON.
Result<json> measure(ControllerStack& stack, const B11Options& o, int runs, const fs::path& dir) {
  const fs::path result = dir / "b11-result.json";
  const fs::path log = dir / "b11-browser.log";
  const std::string url = "http://127.0.0.1:" + std::to_string(stack.internal_port()) + "/console/";
  RC_ASSIGN_OR_RETURN(
      const int code,
      run_to_end({o.node, (fs::path(o.script_dir) / "first_load.mjs").string(), "--url", url,
                  "--email", kEmail, "--password", kPassword, "--runs", std::to_string(runs),
                  "--chromium", o.chromium, "--result", result.string()},
                 log, {}, std::chrono::minutes(10)));
  std::cout << tail(log, 4000);
  if (code != 0) {
    return make_error(ErrorCode::kInternal,
                      "first_load.mjs failed (exit " + std::to_string(code) + "): " + tail(log));
  }
  RC_ASSIGN_OR_RETURN(const std::string text, read_text(result));
  try {
    return json::parse(text);
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kInternal, std::string("b11-result.json: ") + e.what());
  }
}

std::vector<double> doubles(const json& j) {
  std::vector<double> v;
  for (const auto& x : j) v.push_back(x.get<double>());
  return v;
}

Status add_records(Output& out, const json& m, int boxes, bool quick) {
  const auto console_ms = doubles(m.at("console").at("ms"));
  const auto static_ms = doubles(m.at("baseline").at("ms"));
  if (console_ms.empty() || static_ms.empty()) {
    return make_error(ErrorCode::kInternal, "first_load.mjs measured no run");
  }
  Record time;
  time.id = "B11";
  time.figure =
      "console first load: time to the fleet table (" + format_number(boxes, 0) + " boxes) p50";
  time.unit = "ms";
  time.value = percentile(console_ms, 0.5);
  time.baseline = "the same bytes of static files from the same listener";
  time.baseline_value = percentile(static_ms, 0.5);
  // On the ratio: what the console does beyond fetching its bytes (its modules, the session,
  // the API calls, drawing 50 rows) costs at most as much again as the fetching itself.
  time.target = Target::ratio_at_most(2.0);
  RC_ASSIGN_OR_RETURN(auto s1, out.write_samples("B11", "console first load", "ms", console_ms));
  RC_ASSIGN_OR_RETURN(auto s2, out.write_samples("B11", "static files", "ms", static_ms));
  time.samples = {s1, s2};
  time.details = {{"quick", quick},
                  {"boxes", boxes},
                  {"console", to_json(summarize(console_ms))},
                  {"baseline", to_json(summarize(static_ms))},
                  {"rows_shown", m.value("rows", 0)}};
  RC_TRY(out.add(time));

  Record bytes;
  bytes.id = "B11";
  bytes.figure = "console first load: bytes transferred";
  bytes.unit = "KiB";
  bytes.value = m.at("console").at("bytes").get<double>() / 1024.0;
  bytes.baseline = "the static files' load";
  bytes.baseline_value = m.at("baseline").at("bytes").get<double>() / 1024.0;
  bytes.target = Target::value_at_most(512);
  bytes.details = {{"quick", quick},
                   {"requests", m.at("console").value("requests", 0)},
                   {"static_bytes_of_console", m.at("console").value("static_bytes", 0)},
                   {"api_bytes", m.at("console").value("api_bytes", 0)}};
  return out.add(bytes);
}

Status run(Output& out, const CommonOptions& options, B11Options o) {
  const int boxes = o.boxes > 0 ? o.boxes : (options.quick ? 1000 : 10'000);
  const int runs = o.runs > 0 ? o.runs : (options.quick ? 3 : 15);
  RC_ASSIGN_OR_RETURN(ScratchDir scratch, ScratchDir::create(out.dir(), "b11-work-"));
  RC_TRY(install_playwright(o, out.dir() / "b11-npm.log"));
  ControllerStackOptions so;
  so.controller = o.controller;
  so.client_id = "reclothes-controller-b11";
  so.durable_postgres = false;  // the load reads; nothing here waits on fsync
  RC_ASSIGN_OR_RETURN(auto stack, ControllerStack::start(scratch.path(), so));
  RC_TRY(stack->migrate());
  RC_TRY(register_boxes(stack->conninfo(), {FleetSpec{"b11-", boxes}}, kCompartments));
  RC_TRY(create_manager(*stack, o, scratch.path() / "create-staff.log"));
  RC_TRY(stack->serve());
  std::cout << "B11: " << boxes << " boxes registered; " << runs << " cold loads of each\n";
  RC_ASSIGN_OR_RETURN(const json m, measure(*stack, o, runs, out.dir()));
  return add_records(out, m, boxes, options.quick);
}

}  // namespace
}  // namespace reclothes::bench

int main(int argc, char** argv) {
  CLI::App app{"B11: the staff console's first load beside static files of the same size",
               "bench_b11_console"};
  reclothes::bench::B11Options b11;
  app.add_option("--boxes", b11.boxes, "boxes in the database (default 10,000, quick 1,000)")
      ->check(CLI::Range(1, 100'000));
  app.add_option("--runs", b11.runs, "cold loads measured (default 15, quick 3)")
      ->check(CLI::Range(1, 200));
  app.add_option("--node", b11.node, "node")->capture_default_str();
  app.add_option("--npm", b11.npm, "npm (once, to install playwright-core)")->capture_default_str();
  app.add_option("--chromium", b11.chromium, "Chromium")->capture_default_str();
  app.add_option("--script-dir", b11.script_dir, "where first_load.mjs and its package are")
      ->capture_default_str();
  reclothes::bench::add_controller_options(app, b11.controller);
  return reclothes::bench::run_benchmark(
      argc, argv, app,
      [&b11](reclothes::bench::Output& out, const reclothes::bench::CommonOptions& options) {
        return reclothes::bench::run(out, options, b11);
      });
}
