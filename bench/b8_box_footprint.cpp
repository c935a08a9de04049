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
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "reclothes/bench/main.h"
#include "reclothes/bench/proc.h"
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
  RC_ASSIGN_OR_RETURN(const std::string stat, read_text("/proc/" + std::to_string(pid) + "/stat"));
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
                      read_text("/proc/" + std::to_string(pid) + "/smaps"));
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
  RC_TRY(write_text(path, config.dump(2) + "\n"));
  return path;
}

// The box, started and settled, idle on its broker.
struct IdleBox {
  std::unique_ptr<testsupport::MosquittoServer> broker;
  std::unique_ptr<testsupport::Process> process;  // declared after the broker: stopped first
  fs::path log;
  bool connected = false;  // it logged a broker connection during start-up
};

Result<IdleBox> start_box(const B8Options& b8, const fs::path& scratch, int idle_s,
                          seconds settle) {
  IdleBox box;
  RC_ASSIGN_OR_RETURN(box.broker, testsupport::MosquittoServer::start());
  RC_ASSIGN_OR_RETURN(const fs::path config, write_config(scratch, box.broker->uri()));
  box.log = scratch / "box.log";
  std::cout << "B8: starting " << b8.box_binary << " (" << kCompartments
            << " compartments, sim backend, broker " << box.broker->uri() << "), idle " << idle_s
            << " s ..." << std::endl;
  testsupport::SpawnOptions spawn;
  spawn.log_path = box.log;
  RC_ASSIGN_OR_RETURN(box.process, testsupport::Process::spawn(
                                       {b8.box_binary, "run", "--config", config.string()}, spawn));
  std::this_thread::sleep_for(settle);  // start-up: journal, MQTT connect, first state report
  if (!box.process->running()) {
    return make_error(ErrorCode::kUnavailable,
                      "reclothes-box exited during start-up:\n" + tail(box.log, 1500));
  }
  // Idle means connected and quiet: a box that keeps failing to connect is busier than one that
  // syncs, so the figure notes which it was.
  box.connected = read_text(box.log).value_or("").find("sync: connected") != std::string::npos;
  if (!box.connected) {
    std::cout << "B8: note: the box did not log a broker connection during start-up" << std::endl;
  }
  return box;
}

struct Idle {
  std::vector<double> rss_mib;  // one sample per second, for the record
  double window_s = 0;
  double cpu_s = 0;
  double cpu_percent = 0;  // of one core
};

// `idle_s` seconds of the box doing nothing: its RSS every second, its CPU time over all of them.
Result<Idle> watch_idle(IdleBox& box, int idle_s) {
  const pid_t pid = box.process->pid();
  const std::string proc = "/proc/" + std::to_string(pid);
  RC_ASSIGN_OR_RETURN(const unsigned long long ticks0, cpu_ticks(pid));
  const auto t0 = SteadyClock::now();
  Idle idle;
  for (int i = 0; i < idle_s; ++i) {
    std::this_thread::sleep_for(seconds(1));
    if (!box.process->running()) {
      return make_error(ErrorCode::kUnavailable,
                        "reclothes-box exited while idle:\n" + tail(box.log, 1500));
    }
    RC_ASSIGN_OR_RETURN(const std::string status, read_text(proc + "/status"));
    RC_ASSIGN_OR_RETURN(const double rss_kb, kb_field(status, "VmRSS"));
    idle.rss_mib.push_back(rss_kb / kKiB);
  }
  RC_ASSIGN_OR_RETURN(const unsigned long long ticks1, cpu_ticks(pid));
  idle.window_s = std::chrono::duration<double>(SteadyClock::now() - t0).count();
  idle.cpu_s = static_cast<double>(ticks1 - ticks0) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  idle.cpu_percent = 100.0 * idle.cpu_s / idle.window_s;
  return idle;
}

struct Memory {
  double rss_kb = 0;
  double hwm_kb = 0;
  double anon_kb = 0;
  double file_kb = 0;
  double pss_kb = 0;
  std::vector<std::pair<std::string, double>> mappings;  // largest first
  int threads = 0;
};

Result<Memory> read_memory(pid_t pid) {
  const std::string proc = "/proc/" + std::to_string(pid);
  Memory m;
  RC_ASSIGN_OR_RETURN(const std::string status, read_text(proc + "/status"));
  RC_ASSIGN_OR_RETURN(m.rss_kb, kb_field(status, "VmRSS"));
  RC_ASSIGN_OR_RETURN(m.hwm_kb, kb_field(status, "VmHWM"));
  RC_ASSIGN_OR_RETURN(m.anon_kb, kb_field(status, "RssAnon"));
  RC_ASSIGN_OR_RETURN(m.file_kb, kb_field(status, "RssFile"));
  RC_ASSIGN_OR_RETURN(const std::string rollup, read_text(proc + "/smaps_rollup"));
  RC_ASSIGN_OR_RETURN(m.pss_kb, kb_field(rollup, "Pss"));
  RC_ASSIGN_OR_RETURN(m.mappings, rss_by_mapping(pid));
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(proc + "/task", ec)) {
    (void)entry;
    ++m.threads;
  }
  return m;
}

// Prints the largest mappings (the top 12 go into the record).
nlohmann::json top_mappings(const Memory& m) {
  nlohmann::json top = nlohmann::json::array();
  std::cout << "  resident memory by mapping (top 8):\n";
  for (std::size_t i = 0; i < m.mappings.size() && i < 12; ++i) {
    top.push_back({{"mapping", m.mappings[i].first}, {"rss_kib", m.mappings[i].second}});
    if (i < 8) {
      std::cout << "    " << format_number(m.mappings[i].second, 0) << " KiB  "
                << m.mappings[i].first << "\n";
    }
  }
  std::cout << "  threads: " << m.threads << ", RssAnon " << format_number(m.anon_kb / kKiB, 1)
            << " MiB, RssFile " << format_number(m.file_kb / kKiB, 1) << " MiB, Pss "
            << format_number(m.pss_kb / kKiB, 1) << " MiB" << std::endl;
  return top;
}

Status add_idle_records(Output& out, const Memory& m, const Idle& idle, int idle_s, bool connected,
                        bool quick) {
  const nlohmann::json top = top_mappings(m);
  Record rss;
  rss.id = "B8";
  rss.figure = "box idle RSS, 24 compartments (VmRSS)";
  rss.unit = "MiB";
  rss.value = m.rss_kb / kKiB;
  rss.target = Target::value_at_most(16);
  rss.details = {{"quick", quick},
                 {"idle_seconds", idle_s},
                 {"compartments", kCompartments},
                 {"vm_rss_kib", m.rss_kb},
                 {"vm_hwm_kib", m.hwm_kb},
                 {"rss_anon_kib", m.anon_kb},
                 {"rss_file_kib", m.file_kb},
                 {"pss_kib", m.pss_kb},
                 {"threads", m.threads},
                 {"broker_connected", connected},
                 {"rss_mib_per_second", idle.rss_mib},
                 {"top_mappings", top}};
  RC_TRY(out.add(rss));

  Record pss;
  pss.id = "B8";
  pss.figure = "box idle PSS (shared libraries counted pro rata)";
  pss.unit = "MiB";
  pss.value = m.pss_kb / kKiB;
  pss.details = {{"quick", quick}};
  RC_TRY(out.add(pss));

  Record cpu;
  cpu.id = "B8";
  cpu.figure = "box idle CPU over " + std::to_string(idle_s) + " s (of one core)";
  cpu.unit = "%";
  cpu.value = idle.cpu_percent;
  cpu.target = Target::value_at_most(1);
  cpu.details = {{"quick", quick},      {"window_s", idle.window_s},
                 {"cpu_s", idle.cpu_s}, {"clock_ticks_per_s", ::sysconf(_SC_CLK_TCK)},
                 {"camera_fps", 10},    {"broker_connected", connected}};
  return out.add(cpu);
}

// The stripped size of one build of the binary; `note` (if any) goes into the details.
Status add_size_record(Output& out, const std::string& arch, const std::string& binary,
                       const std::string& strip_tool, const fs::path& scratch,
                       const std::string& note) {
  RC_ASSIGN_OR_RETURN(const auto sizes, stripped_size(binary, strip_tool, scratch));
  Record size;
  size.id = "B8";
  size.figure = "reclothes-box stripped size, " + arch;
  size.unit = "KiB";
  size.value = static_cast<double>(sizes.second) / kKiB;
  size.details = {
      {"unstripped_bytes", sizes.first}, {"stripped_bytes", sizes.second}, {"binary", binary}};
  if (!note.empty()) size.details["note"] = note;
  return out.add(size);
}

Status run(Output& out, const CommonOptions& options, const B8Options& b8) {
  const int idle_s = b8.idle_seconds > 0 ? b8.idle_seconds : (options.quick ? 10 : 60);
  RC_ASSIGN_OR_RETURN(ScratchDir scratch, ScratchDir::create(out.dir(), "b8-work-"));
  RC_ASSIGN_OR_RETURN(IdleBox box,
                      start_box(b8, scratch.path(), idle_s, seconds(options.quick ? 2 : 5)));
  RC_ASSIGN_OR_RETURN(const Idle idle, watch_idle(box, idle_s));
  RC_ASSIGN_OR_RETURN(const Memory memory, read_memory(box.process->pid()));
  RC_ASSIGN_OR_RETURN(const int exit_status, box.process->stop(seconds(10)));
  if (exit_status != 0) {
    return make_error(ErrorCode::kInternal, "reclothes-box did not stop cleanly on SIGTERM (exit " +
                                                std::to_string(exit_status) + "):\n" +
                                                tail(box.log, 1500));
  }
  RC_TRY(add_idle_records(out, memory, idle, idle_s, box.connected, options.quick));
  RC_TRY(add_size_record(out, "amd64", b8.box_binary, "strip", scratch.path(),
                         "dynamically linked against Debian's shared libraries"));
  if (b8.arm64_binary.empty()) {
    std::cout << "B8: no arm64 binary given (--arm64-binary): arm64 size not measured" << std::endl;
    return ok_status();
  }
  return add_size_record(out, "arm64", b8.arm64_binary, "aarch64-linux-gnu-strip", scratch.path(),
                         "");
}

}  // namespace
}  // namespace reclothes::bench

int main(int argc, char** argv) {
  CLI::App app{"B8: reclothes-box idle RSS and CPU with 24 compartments, stripped binary sizes",
               "bench_b8_box_footprint"};
  reclothes::bench::B8Options b8;
  app.add_option("--box-binary", b8.box_binary, "the reclothes-box to measure")
      ->capture_default_str();
  app.add_option("--arm64-binary", b8.arm64_binary, "a cross-built arm64 reclothes-box")
      ->envname("RECLOTHES_BENCH_ARM64_BOX");
  app.add_option("--idle-seconds", b8.idle_seconds, "idle window (default 60, quick 10)")
      ->check(CLI::Range(1, 3600));
  return reclothes::bench::run_benchmark(
      argc, argv, app,
      [&](reclothes::bench::Output& out, const reclothes::bench::CommonOptions& options) {
        return reclothes::bench::run(out, options, b8);
      });
}
