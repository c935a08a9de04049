#include "reclothes/bench/proc.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

namespace reclothes::bench {

Result<std::string> read_text(const std::filesystem::path& path) {
  std::ifstream f(path);
  if (!f) return make_error(ErrorCode::kIo, "cannot read " + path.string());
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

std::string tail(const std::filesystem::path& path, std::size_t n) {
  const std::string t = read_text(path).value_or("(no log)");
  return t.size() > n ? t.substr(t.size() - n) : t;
}

std::string pg_bindir() {
  const char* env = std::getenv("RECLOTHES_PG_BINDIR");
  return env ? env : "/usr/lib/postgresql/15/bin";
}

std::optional<ProcStat> proc_stat(pid_t pid) {
  const auto stat = read_text("/proc/" + std::to_string(pid) + "/stat");
  if (!stat.ok()) return std::nullopt;
  const std::size_t close = stat->rfind(')');
  if (close == std::string::npos || close + 2 > stat->size()) return std::nullopt;
  std::istringstream in(stat->substr(close + 2));
  std::vector<std::string> f;
  std::string x;
  while (in >> x) f.push_back(x);
  if (f.size() < 13) return std::nullopt;
  ProcStat s;
  s.ppid = static_cast<pid_t>(std::strtol(f[1].c_str(), nullptr, 10));
  s.cpu_s = static_cast<double>(std::strtoull(f[11].c_str(), nullptr, 10) +
                                std::strtoull(f[12].c_str(), nullptr, 10)) /
            static_cast<double>(::sysconf(_SC_CLK_TCK));
  return s;
}

double cpu_seconds(pid_t pid) {
  const auto s = proc_stat(pid);
  return s ? s->cpu_s : 0;
}

std::pair<double, double> machine_jiffies() {
  const auto stat = read_text("/proc/stat");
  if (!stat.ok()) return {0, 0};
  std::istringstream in(stat->substr(0, stat->find('\n')));
  std::string cpu;
  in >> cpu;
  double total = 0;
  double idle = 0;
  double v = 0;
  for (int i = 0; in >> v; ++i) {
    total += v;
    if (i == 3 || i == 4) idle += v;  // idle, iowait
  }
  return {total - idle, total};
}

}  // namespace reclothes::bench
