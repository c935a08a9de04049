// What the benchmarks that run servers as child processes read about them and the machine:
// text files, the end of a log, /proc/PID/stat CPU times, /proc/PID/status sizes, /proc/stat load,
// the open-file limit, where PostgreSQL's tools are. Shared by B4 to B8.
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "reclothes/common/result.h"

namespace reclothes::bench {

// The whole file; kIo naming it if it cannot be read.
Result<std::string> read_text(const std::filesystem::path& path);
// Writes `text` as the whole file; kIo naming it if it cannot be written.
Status write_text(const std::filesystem::path& path, std::string_view text);
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
// utime + stime of a process and its direct children (PostgreSQL: the postmaster and every
// backend, the WAL writer, the checkpointer ...), in seconds.
double cpu_seconds_with_children(pid_t parent);
// A number field of /proc/PID/status: "VmRSS" (KiB), "Threads"; 0 if the process is gone.
double status_field(pid_t pid, std::string_view name);
// Busy and total jiffies of the whole machine (/proc/stat), for "how loaded was it".
std::pair<double, double> machine_jiffies();
// The fraction of the machine busy between two machine_jiffies() readings; 0 if no time passed.
double busy_between(const std::pair<double, double>& from, const std::pair<double, double>& to);

// Raises the soft open-file limit to the hard one: children (servers, wrk, simulators) inherit it,
// and a thousand connections pass the usual soft limit of 1,024. Returns the limit now in force
// (0 if it cannot be read).
rlim_t raise_open_file_limit();

}  // namespace reclothes::bench
