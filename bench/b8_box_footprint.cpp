// B8: the box's footprint. The real `reclothes-box run` (sim backend, 24 compartments, a camera
// at 640x480 and 10 frames/s, connected to a real Mosquitto on loopback) is left idle; its memory
// is read from /proc/PID/status (VmRSS, VmHWM) and /proc/PID/smaps_rollup (Pss), its CPU time from
// /proc/PID/stat (utime + stime) over the idle window. Then the binary's size once stripped, for
// amd64 and, when an arm64 build is given, for arm64. Targets: RSS <= 16 MiB, CPU <= 1 % (of one
// core). No baseline: these are absolute budgets of a Raspberry-Pi-class board.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "reclothes/bench/main.h"
#include "reclothes/bench/report.h"
#include "reclothes/bench/stats.h"
#include "reclothes/common/token.h"
#include "reclothes/testsupport/mosquitto.h"
#include "reclothes/testsupport/process.h"

#ifndef RECLOTHES_BOX_BINARY
#define RECLOTHES_BOX_BINARY "reclothes-box"
#endif

namespace reclothes::bench {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
namespace fs = std::filesystem;

constexpr int kCompartments = 24;
constexpr double kKiB = 1024.0;

struct B8Options {
  std::string box_binary = RECLOTHES_BOX_BINARY;
  std::string arm64_binary;  // a cross-built reclothes-box; empty: no arm64 figure
  int idle_seconds = 0;      // 0: 60 (quick: 10)
};

Result<std::string> read_file(const fs::path& path) {
  std::ifstream f(path);
  if (!f) return make_error(ErrorCode::kIo, "cannot read " + path.string());
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

// The value in kB of a "Name:   1234 kB" line of /proc/PID/status or smaps_rollup.
Result<double> kb_field(const std::string& text, const std::string& name) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name + ":", 0) == 0) {
      return std::strtod(line.c_str() + name.size() + 1, nullptr);
    }
  }
  return make_error(ErrorCode::kNotFound, "no " + name + " field");
}

// utime + stime of a process, in clock ticks (fields 14 and 15 of /proc/PID/stat; the command
// name in field 2 may hold spaces, so count from the closing parenthesis).
Result<unsigned long long> cpu_ticks(pid_t pid) {
  RC_ASSIGN_OR_RETURN(const std::string stat, read_file("/proc/" + std::to_string(pid) + "/stat"));
  const std::size_t close = stat.rfind(')');
  if (close == std::string::npos) return make_error(ErrorCode::kDataLoss, "odd /proc stat");
  std::istringstream in(stat.substr(close + 2));
  std::vector<std::string> fields;
  std::string f;
  while (in >> f) fields.push_back(f);
  // fields[0] is field 3 (state): utime is field 14, stime field 15.
  if (fields.size() < 13) return make_error(ErrorCode::kDataLoss, "short /proc stat");
  return std::stoull(fields[11]) + std::stoull(fields[12]);
}

// Resident memory by mapping name (library path, [heap], [stack], or [anon]) from /proc/PID/smaps,
// largest first.
Result<std::vector<std::pair<std::string, double>>> rss_by_mapping(pid_t pid) {
  RC_ASSIGN_OR_RETURN(const std::string smaps,
                      read_file("/proc/" + std::to_string(pid) + "/smaps"));
  std::map<std::string, double> kb;
  std::istringstream in(smaps);
  std::string line;
  std::string current = "[anon]";
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    // Field lines start with "Name:"; anything else is a mapping header
    // "start-end perms offset dev inode [name]".
    const std::string first = line.substr(0, line.find(' '));
    if (first.empty() || first.back() != ':') {
      std::istringstream h(line);
      std::string range, perms, offset, dev, inode, name;
      h >> range >> perms >> offset >> dev >> inode;
      std::getline(h, name);
      name.erase(0, std::min(name.size(), name.find_first_not_of(' ')));
      current = name.empty() ? "[anon]" : name;
      continue;
    }
    if (line.rfind("Rss:", 0) == 0) kb[current] += std::strtod(line.c_str() + 4, nullptr);
  }
  std::vector<std::pair<std::string, double>> out(kb.begin(), kb.end());
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.second > b.second; });
  return out;
}

// Copies `binary` into `dir`, strips the copy with `strip_tool` and returns {unstripped, stripped}
// sizes in bytes.
Result<std::pair<std::uintmax_t, std::uintmax_t>> stripped_size(const fs::path& binary,
                                                                const std::string& strip_tool,
                                                                const fs::path& dir) {
  std::error_code ec;
  const std::uintmax_t full = fs::file_size(binary, ec);
  if (ec) return make_error(ErrorCode::kNotFound, binary.string() + ": " + ec.message());
  const fs::path copy = dir / (binary.filename().string() + "." + slug(strip_tool));
  fs::copy_file(binary, copy, fs::copy_options::overwrite_existing, ec);
  if (ec) return make_error(ErrorCode::kIo, "copy " + binary.string() + ": " + ec.message());
  RC_ASSIGN_OR_RETURN(auto strip, testsupport::Process::spawn({strip_tool, copy.string()}));
  RC_ASSIGN_OR_RETURN(const int status, strip->wait(seconds(60)));
  if (status != 0) {
    return make_error(ErrorCode::kInternal,
                      strip_tool + " " + copy.string() + " exited with " + std::to_string(status));
  }
  const std::uintmax_t stripped = fs::file_size(copy, ec);
  if (ec) return make_error(ErrorCode::kIo, copy.string() + ": " + ec.message());
  return std::make_pair(full, stripped);
}

Result<fs::path> write_config(const fs::path& dir, const std::string& broker_uri) {
  RC_ASSIGN_OR_RETURN(const TokenSigner signer, TokenSigner::generate(1));
  RC_ASSIGN_OR_RETURN(const std::string pem, signer.public_pem());
  nlohmann::json compartments = nlohmann::json::array();
  for (int id = 1; id <= kCompartments; ++id) {
    compartments.push_back({{"id", id},
                            {"size", id % 3 == 0 ? "L" : "M"},
                            {"pulse_ms", 400},
                            {"fill_sensor", id % 4 == 0}});
  }
  const nlohmann::json config = {{"box_id", "bench-b8"},
                                 {"journal_path", (dir / "journal.db").string()},
                                 {"broker", {{"uri", broker_uri}, {"keepalive_s", 30}}},
                                 {"trusted_keys", {{{"key_id", 1}, {"public_key_pem", pem}}}},
                                 {"compartments", compartments},
                                 {"hal", {{"backend", "sim"}}},
                                 {"camera", {{"width", 640}, {"height", 480}, {"fps", 10}}},
                                 {"state_report_interval_s", 60}};
  const fs::path path = dir / "box.json";
  std::ofstream f(path);
  f << config.dump(2) << "\n";
  f.close();
  if (!f) return make_error(ErrorCode::kIo, "cannot write " + path.string());
  return path;
}

std::string log_tail(const fs::path& log) {
  auto text = read_file(log);
  if (!text.ok()) return "(no log)";
  const std::string& t = *text;
  return t.size() > 1500 ? t.substr(t.size() - 1500) : t;
}

Status run(Output& out, const CommonOptions& options, const B8Options& b8) {
  const int idle_s = b8.idle_seconds > 0 ? b8.idle_seconds : (options.quick ? 10 : 60);
  const seconds settle(options.quick ? 2 : 5);

  RC_ASSIGN_OR_RETURN(ScratchDir scratch, ScratchDir::create(out.dir(), "b8-work-"));
  RC_ASSIGN_OR_RETURN(auto broker, testsupport::MosquittoServer::start());
  RC_ASSIGN_OR_RETURN(const fs::path config, write_config(scratch.path(), broker->uri()));
  const fs::path log = scratch.path() / "box.log";

  std::cout << "B8: starting " << b8.box_binary << " (" << kCompartments
            << " compartments, sim backend, broker " << broker->uri() << "), idle " << idle_s
            << " s ..." << std::endl;
  testsupport::SpawnOptions spawn;
  spawn.log_path = log;
  RC_ASSIGN_OR_RETURN(auto box, testsupport::Process::spawn(
                                    {b8.box_binary, "run", "--config", config.string()}, spawn));
  const pid_t pid = box->pid();
  std::this_thread::sleep_for(settle);  // start-up: journal, MQTT connect, first state report
  if (!box->running()) {
    return make_error(ErrorCode::kUnavailable,
                      "reclothes-box exited during start-up:\n" + log_tail(log));
  }
  const std::string proc = "/proc/" + std::to_string(pid);
  // Idle means connected and quiet: a box that keeps failing to connect is busier than one that
  // syncs, so the figure notes which it was.
  const bool connected = read_file(log).value_or("").find("sync: connected") != std::string::npos;
  if (!connected) {
    std::cout << "B8: note: the box did not log a broker connection during start-up" << std::endl;
  }

  RC_ASSIGN_OR_RETURN(const unsigned long long ticks0, cpu_ticks(pid));
  const auto t0 = SteadyClock::now();
  std::vector<double> rss_mib;  // one sample per second, for the record
  for (int i = 0; i < idle_s; ++i) {
    std::this_thread::sleep_for(seconds(1));
    if (!box->running()) {
      return make_error(ErrorCode::kUnavailable,
                        "reclothes-box exited while idle:\n" + log_tail(log));
    }
    RC_ASSIGN_OR_RETURN(const std::string status, read_file(proc + "/status"));
    RC_ASSIGN_OR_RETURN(const double rss_kb, kb_field(status, "VmRSS"));
    rss_mib.push_back(rss_kb / kKiB);
  }
  RC_ASSIGN_OR_RETURN(const unsigned long long ticks1, cpu_ticks(pid));
  const double window_s = std::chrono::duration<double>(SteadyClock::now() - t0).count();
  const double cpu_s =
      static_cast<double>(ticks1 - ticks0) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  const double cpu_percent = 100.0 * cpu_s / window_s;

  RC_ASSIGN_OR_RETURN(const std::string status, read_file(proc + "/status"));
  RC_ASSIGN_OR_RETURN(const double rss_kb, kb_field(status, "VmRSS"));
  RC_ASSIGN_OR_RETURN(const double hwm_kb, kb_field(status, "VmHWM"));
  RC_ASSIGN_OR_RETURN(const double anon_kb, kb_field(status, "RssAnon"));
  RC_ASSIGN_OR_RETURN(const double file_kb, kb_field(status, "RssFile"));
  RC_ASSIGN_OR_RETURN(const std::string rollup, read_file(proc + "/smaps_rollup"));
  RC_ASSIGN_OR_RETURN(const double pss_kb, kb_field(rollup, "Pss"));
  RC_ASSIGN_OR_RETURN(const auto mappings, rss_by_mapping(pid));
  int threads = 0;
  {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(proc + "/task", ec)) {
      (void)entry;
      ++threads;
    }
  }

  RC_ASSIGN_OR_RETURN(const int exit_status, box->stop(seconds(10)));
  if (exit_status != 0) {
    return make_error(ErrorCode::kInternal, "reclothes-box did not stop cleanly on SIGTERM (exit " +
                                                std::to_string(exit_status) + "):\n" +
                                                log_tail(log));
  }

  nlohmann::json top = nlohmann::json::array();
  std::cout << "  resident memory by mapping (top 8):\n";
  for (std::size_t i = 0; i < mappings.size() && i < 12; ++i) {
    top.push_back({{"mapping", mappings[i].first}, {"rss_kib", mappings[i].second}});
    if (i < 8) {
      std::cout << "    " << format_number(mappings[i].second, 0) << " KiB  " << mappings[i].first
                << "\n";
    }
  }
  std::cout << "  threads: " << threads << ", RssAnon " << format_number(anon_kb / kKiB, 1)
            << " MiB, RssFile " << format_number(file_kb / kKiB, 1) << " MiB, Pss "
            << format_number(pss_kb / kKiB, 1) << " MiB" << std::endl;

  const nlohmann::json mem_details = {{"quick", options.quick},
                                      {"idle_seconds", idle_s},
                                      {"compartments", kCompartments},
                                      {"vm_rss_kib", rss_kb},
                                      {"vm_hwm_kib", hwm_kb},
                                      {"rss_anon_kib", anon_kb},
                                      {"rss_file_kib", file_kb},
                                      {"pss_kib", pss_kb},
                                      {"threads", threads},
                                      {"broker_connected", connected},
                                      {"rss_mib_per_second", rss_mib},
                                      {"top_mappings", top}};

  Record rss;
  rss.id = "B8";
  rss.figure = "box idle RSS, 24 compartments (VmRSS)";
  rss.unit = "MiB";
  rss.value = rss_kb / kKiB;
  rss.target = Target::value_at_most(16);
  rss.details = mem_details;
  RC_TRY(out.add(rss));

  Record pss;
  pss.id = "B8";
  pss.figure = "box idle PSS (shared libraries counted pro rata)";
  pss.unit = "MiB";
  pss.value = pss_kb / kKiB;
  pss.details = {{"quick", options.quick}};
  RC_TRY(out.add(pss));

  Record cpu;
  cpu.id = "B8";
  cpu.figure = "box idle CPU over " + std::to_string(idle_s) + " s (of one core)";
  cpu.unit = "%";
  cpu.value = cpu_percent;
  cpu.target = Target::value_at_most(1);
  cpu.details = {{"quick", options.quick}, {"window_s", window_s},
                 {"cpu_s", cpu_s},         {"clock_ticks_per_s", ::sysconf(_SC_CLK_TCK)},
                 {"camera_fps", 10},       {"broker_connected", connected}};
  RC_TRY(out.add(cpu));

  RC_ASSIGN_OR_RETURN(const auto amd64, stripped_size(b8.box_binary, "strip", scratch.path()));
  Record size;
  size.id = "B8";
  size.figure = "reclothes-box stripped size, amd64";
  size.unit = "KiB";
  size.value = static_cast<double>(amd64.second) / kKiB;
  size.details = {{"unstripped_bytes", amd64.first},
                  {"stripped_bytes", amd64.second},
                  {"binary", b8.box_binary},
                  {"note", "dynamically linked against Debian's shared libraries"}};
  RC_TRY(out.add(size));

  if (!b8.arm64_binary.empty()) {
    RC_ASSIGN_OR_RETURN(const auto arm64,
                        stripped_size(b8.arm64_binary, "aarch64-linux-gnu-strip", scratch.path()));
    Record a;
    a.id = "B8";
    a.figure = "reclothes-box stripped size, arm64";
    a.unit = "KiB";
    a.value = static_cast<double>(arm64.second) / kKiB;
    a.details = {{"unstripped_bytes", arm64.first},
                 {"stripped_bytes", arm64.second},
                 {"binary", b8.arm64_binary}};
    RC_TRY(out.add(a));
  } else {
    std::cout << "B8: no arm64 binary given (--arm64-binary): arm64 size not measured" << std::endl;
  }
  return ok_status();
}

}  // namespace
}  // namespace reclothes::bench

int main(int argc, char** argv) {
  CLI::App app{"B8: reclothes-box idle RSS and CPU with 24 compartments, stripped binary sizes",
               "bench_b8_box_footprint"};
  reclothes::bench::CommonOptions options;
  reclothes::bench::B8Options b8;
  app.add_option("--box-binary", b8.box_binary, "the reclothes-box to measure")
      ->capture_default_str();
  app.add_option("--arm64-binary", b8.arm64_binary, "a cross-built arm64 reclothes-box")
      ->envname("RECLOTHES_BENCH_ARM64_BOX");
  app.add_option("--idle-seconds", b8.idle_seconds, "idle window (default 60, quick 10)")
      ->check(CLI::Range(1, 3600));
  return reclothes::bench::run_benchmark(
      argc, argv, app, options,
      [&](reclothes::bench::Output& out) { return reclothes::bench::run(out, options, b8); });
}
