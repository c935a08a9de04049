// pgbench, the baseline of the controller benchmarks (B4, B5): a script of theirs run at N
// clients for some seconds against the benchmark's own PostgreSQL, as one round of the baseline.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "reclothes/common/result.h"
#include "reclothes/testsupport/postgres.h"

namespace reclothes::bench {

struct PgbenchSpec {
  std::filesystem::path script;      // -f
  int clients = 1;                   // -c (and -j min(clients, 2))
  int seconds = 1;                   // -T
  std::vector<std::string> defines;  // -D name=value each
  bool latencies = false;            // -l: every transaction's latency, into latencies_ms
  bool prepared = false;             // -M prepared: statements prepared once per client
};

struct PgbenchRun {
  std::uint64_t transactions = 0;
  double seconds = 0;  // transactions / tps (pgbench's tps leaves out connection set-up)
  std::vector<double> latencies_ms;  // one per script run, with PgbenchSpec::latencies
};

// Runs pgbench -n on the database `db` of `pg`: its output in <work>/pgbench-<tag>.log, the -l
// files in <work>/pgbench-<tag>/ (removed once read). kInternal with the end of the log when it
// exits non-zero, reports failed transactions or prints no figures; kIo if a file cannot be read
// or made.
Result<PgbenchRun> run_pgbench(const testsupport::PostgresServer& pg, const std::string& db,
                               const PgbenchSpec& spec, const std::filesystem::path& work,
                               const std::string& tag);

}  // namespace reclothes::bench
