#include "reclothes/bench/pgbench.h"

#include <algorithm>
#include <fstream>
#include <regex>
#include <sstream>

#include "reclothes/bench/proc.h"
#include "reclothes/bench/servers.h"

namespace reclothes::bench {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> pgbench_argv(const testsupport::PostgresServer& pg, const std::string& db,
                                      const PgbenchSpec& spec) {
  std::vector<std::string> argv = {pg_bindir() + "/pgbench", "-n"};
  if (spec.latencies) argv.push_back("-l");
  if (spec.prepared) argv.insert(argv.end(), {"-M", "prepared"});
  argv.insert(argv.end(),
              {"-h", "127.0.0.1", "-p", std::to_string(pg.port()), "-U", "postgres", "-c",
               std::to_string(spec.clients), "-j", std::to_string(std::min(spec.clients, 2)), "-T",
               std::to_string(spec.seconds), "-f", spec.script.string()});
  for (const auto& d : spec.defines) {
    argv.push_back("-D");
    argv.push_back(d);
  }
  argv.push_back(db);
  return argv;
}

// The transactions and tps of pgbench's report.
Result<PgbenchRun> read_report(const fs::path& log, int secs) {
  RC_ASSIGN_OR_RETURN(const std::string out, read_text(log));
  std::smatch m1;
  std::smatch m2;
  if (!std::regex_search(out, m1,
                         std::regex(R"(number of transactions actually processed: (\d+))")) ||
      !std::regex_search(out, m2,
                         std::regex(R"(tps = ([0-9.]+) \(without initial connection time\))"))) {
    return make_error(ErrorCode::kInternal, "cannot read pgbench's output:\n" + tail(log));
  }
  std::smatch m3;
  if (std::regex_search(out, m3, std::regex(R"(number of failed transactions: (\d+))")) &&
      m3[1].str() != "0") {
    return make_error(ErrorCode::kInternal, "pgbench had failed transactions:\n" + tail(log));
  }
  PgbenchRun r;
  r.transactions = std::stoull(m1[1].str());
  const double tps = std::stod(m2[1].str());
  r.seconds = tps > 0 ? static_cast<double>(r.transactions) / tps : static_cast<double>(secs);
  return r;
}

// -l: "client_id transaction_no time_us script_no time_epoch time_us_part" per transaction, in
// one file per thread.
void read_latencies(const fs::path& dir, std::vector<double>& latencies_ms) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::ifstream in(entry.path());
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::uint64_t client = 0, no = 0;
      double us = 0;
      if (fields >> client >> no >> us) latencies_ms.push_back(us / 1000);
    }
  }
}

}  // namespace

Result<PgbenchRun> run_pgbench(const testsupport::PostgresServer& pg, const std::string& db,
                               const PgbenchSpec& spec, const fs::path& work,
                               const std::string& tag) {
  testsupport::SpawnOptions so;
  const fs::path dir = work / ("pgbench-" + tag);
  std::error_code ec;
  if (spec.latencies) {
    fs::remove_all(dir, ec);
    fs::create_directories(dir, ec);
    if (ec) return make_error(ErrorCode::kIo, "cannot create " + dir.string());
    so.working_dir = dir;  // the -l files land here
  }
  const fs::path log = work / ("pgbench-" + tag + ".log");
  RC_ASSIGN_OR_RETURN(const int status, run_to_end(pgbench_argv(pg, db, spec), log, so));
  if (status != 0) {
    return make_error(ErrorCode::kInternal,
                      "pgbench exited with " + std::to_string(status) + ":\n" + tail(log));
  }
  RC_ASSIGN_OR_RETURN(PgbenchRun r, read_report(log, spec.seconds));
  if (spec.latencies) {
    read_latencies(dir, r.latencies_ms);
    fs::remove_all(dir, ec);
  }
  return r;
}

}  // namespace reclothes::bench
