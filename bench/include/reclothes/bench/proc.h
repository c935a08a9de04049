// What the benchmarks that run servers as child processes read about them and the machine:
// text files, the end of a log, /proc/PID/stat CPU times, /proc/stat load, where PostgreSQL's
// tools are. Shared by B4, B5 and B7.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>

#include "reclothes/common/result.h"

namespace reclothes::bench {

// The whole file; kIo naming it if it cannot be read.
Result<std::string> read_text(const std::filesystem::path& path);
// The last n bytes of a log, or "(no log)": for error messages.
std::string tail(const std::filesystem::path& path, std::size_t n = 2000);
// PostgreSQL's server tools (pgbench, ...): $RECLOTHES_PG_BINDIR or Debian 12's directory.
std::string pg_bindir();

struct ProcStat {
  pid_t ppid = 0;
  double cpu_s = 0;  // utime + stime, seconds
};
// Fields 4 (ppid), 14 and 15 (utime, stime) of /proc/PID/stat (counted from the closing
// parenthesis: the command name may hold spaces); nullopt if the process is gone.
std::optional<ProcStat> proc_stat(pid_t pid);
// utime + stime of a process in seconds; 0 if it is gone.
double cpu_seconds(pid_t pid);
// Busy and total jiffies of the whole machine (/proc/stat), for "how loaded was it".
std::pair<double, double> machine_jiffies();

}  // namespace reclothes::bench
