#include "reclothes/bench/proc.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <system_error>
#include <vector>

namespace reclothes::bench {

Result<std::string> read_text(const std::filesystem::path& path) {
  std::ifstream f(path);
  if (!f) return make_error(ErrorCode::kIo, "cannot read " + path.string());
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

Status write_text(const std::filesystem::path& path, std::string_view text) {
  std::ofstream f(path);
  f << text;
  f.close();
  if (!f) return make_error(ErrorCode::kIo, "cannot write " + path.string());
  return ok_status();
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

double cpu_seconds_with_children(pid_t parent) {
  double total = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    const auto pid = static_cast<pid_t>(std::stol(name));
    const auto s = proc_stat(pid);
    if (s && (pid == parent || s->ppid == parent)) total += s->cpu_s;
  }
  return total;
}

double status_field(pid_t pid, std::string_view name) {
  const auto text = read_text("/proc/" + std::to_string(pid) + "/status");
  if (!text.ok()) return 0;
  const std::string key = "\n" + std::string(name) + ":";
  const auto at = text->find(key);
  if (at == std::string::npos) return 0;
  return std::strtod(text->c_str() + at + key.size(), nullptr);
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

double busy_between(const std::pair<double, double>& from, const std::pair<double, double>& to) {
  return to.second > from.second ? (to.first - from.first) / (to.second - from.second) : 0;
}

rlim_t raise_open_file_limit() {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) != 0) return 0;
  if (r.rlim_cur < r.rlim_max) {
    rlimit raised = r;
    raised.rlim_cur = r.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) return raised.rlim_cur;
  }
  return r.rlim_cur;
}

}  // namespace reclothes::bench
