// bench_report: turns one run's records (<dir>/results.jsonl, appended by each benchmark) into
//   <dir>/results.json  the records with the machine they ran on and the run's mode
//   <dir>/summary.md    the table: id, figure, value, baseline, ratio, target, PASS/MISS
//   <dir>/plots.gp      a gnuplot script drawing each latency distribution as a CDF (PNG)
// and prints the summary. With --update-doc FILE it also replaces the block between
// "<!-- bench-summary:begin -->" and "<!-- bench-summary:end -->" in FILE with the table (the
// doc links the plots itself; scripts/bench --update-docs copies them to docs/perf/).
#include <sys/utsname.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <ctime>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "reclothes/bench/report.h"
#include "reclothes/common/result.h"

namespace reclothes::bench {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kBegin = "<!-- bench-summary:begin -->";
constexpr std::string_view kEnd = "<!-- bench-summary:end -->";

// Every benchmark of the issue, so a summary shows which ones this run did not have.
struct Known {
  const char* id;
  const char* what;
};
constexpr Known kKnown[] = {
    {"B1", "scan-to-unlock latency"},
    {"B2", "durable journal events/s"},
    {"B3", "outbox backlog drain over MQTT"},
    {"B4", "controller ingest into PostgreSQL"},
    {"B5", "REST GET/POST req/s and 1,000 keep-alive connections"},
    {"B6", "logins/s"},
    {"B7", "fleet of simulated boxes"},
    {"B8", "box footprint (RSS, CPU, binary size)"},
    {"B9", "QR decode time per frame"},
};

struct Options {
  fs::path dir = "bench-results";
  bool quick = false;
  fs::path update_doc;
};

Result<std::string> read_file(const fs::path& path) {
  std::ifstream f(path);
  if (!f) return make_error(ErrorCode::kNotFound, "cannot read " + path.string());
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

Status write_file(const fs::path& path, const std::string& text) {
  std::ofstream f(path, std::ios::trunc);
  f << text;
  f.close();
  if (!f) return make_error(ErrorCode::kIo, "cannot write " + path.string());
  return ok_status();
}

std::string first_line_value(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) {
      const std::size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string v = line.substr(colon + 1);
      v.erase(0, v.find_first_not_of(" \t"));
      return v;
    }
  }
  return "unknown";
}

nlohmann::json machine() {
  nlohmann::json m;
  m["cores"] = std::thread::hardware_concurrency();
  m["cpu"] = first_line_value(read_file("/proc/cpuinfo").value_or(""), "model name");
  const std::string mem = first_line_value(read_file("/proc/meminfo").value_or(""), "MemTotal");
  const double kib = std::strtod(mem.c_str(), nullptr);
  m["memory_gib"] = kib / (1024.0 * 1024.0);
  utsname u{};
  m["kernel"] = ::uname(&u) == 0 ? std::string(u.sysname) + " " + u.release : "unknown";
  const std::string os = read_file("/etc/os-release").value_or("");
  std::string pretty = first_line_value(os, "PRETTY_NAME");
  if (pretty == "unknown") {
    // os-release uses '=' rather than ':'.
    std::istringstream in(os);
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("PRETTY_NAME=", 0) == 0) {
        pretty = line.substr(12);
        if (pretty.size() >= 2 && pretty.front() == '"')
          pretty = pretty.substr(1, pretty.size() - 2);
      }
    }
  }
  m["os"] = pretty;
  return m;
}

std::string machine_line(const nlohmann::json& m) {
  char mem[32];
  std::snprintf(mem, sizeof mem, "%.1f", m["memory_gib"].get<double>());
  return std::to_string(m["cores"].get<unsigned>()) + " cores (" + m["cpu"].get<std::string>() +
         "), " + mem + " GiB, " + m["kernel"].get<std::string>() + ", " +
         m["os"].get<std::string>();
}

std::string now_utc() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string plot_name(const Record& r) { return slug(r.id) + "-" + slug(r.figure) + ".png"; }

// Escapes a markdown table cell.
std::string cell(std::string s) {
  std::string out;
  for (const char c : s) {
    if (c == '|')
      out += "\\|";
    else
      out += c;
  }
  return out;
}

std::string table(const std::vector<Record>& records) {
  std::string t =
      "| id | figure | value | baseline (same run) | ratio | target | result |\n"
      "|---|---|---|---|---|---|---|\n";
  for (const Record& r : records) {
    std::string baseline = "-";
    if (!r.baseline.empty() && r.baseline_value) {
      baseline = r.baseline + ": " + format_value(*r.baseline_value, r.unit);
    }
    const auto ratio = r.ratio();
    std::string target = "-";
    if (r.target) target = (r.target->on_ratio ? "ratio " : "") + r.target->text(r.unit);
    t += "| " + r.id + " | " + cell(r.figure) + " | " + format_value(r.value, r.unit) + " | " +
         cell(baseline) + " | " + (ratio ? format_number(*ratio, 2) : "-") + " | " + cell(target) +
         " | " + std::string(to_string(r.verdict())) + " |\n";
  }
  return t;
}

std::string missing_line(const std::vector<Record>& records) {
  std::string missing;
  for (const Known& k : kKnown) {
    bool found = false;
    for (const Record& r : records) found = found || r.id == k.id;
    if (!found) missing += std::string(missing.empty() ? "" : "; ") + k.id + " (" + k.what + ")";
  }
  return missing.empty() ? "" : "Not in this run: " + missing + ".\n";
}

// The run, the table and what is missing; then links to the plots when `with_plots` (the doc
// places its plots in its own sections instead).
std::string summary(const std::vector<Record>& records, const nlohmann::json& meta,
                    bool with_plots) {
  std::string s =
      "Run " + meta["generated_at"].get<std::string>() + ", " +
      (meta["quick"].get<bool>() ? "**quick mode** (a few seconds each: rough)" : "full mode") +
      ", on " + machine_line(meta["machine"]) + ".\n\n";
  s += table(records) + "\n";
  s += missing_line(records);
  std::string plots;
  for (const Record& r : records) {
    if (!with_plots || r.samples.empty()) continue;
    plots += "![" + r.id + " " + r.figure + "](" + plot_name(r) + ")\n";
  }
  if (!plots.empty())
    s += "\nPlots (distributions as CDFs, log scale; curves over their x):\n\n" + plots;
  return s;
}

std::string gnuplot_quote(const std::string& s) {
  std::string out = "'";
  for (const char c : s) {
    if (c == '\'')
      out += "''";
    else
      out += c;
  }
  return out + "'";
}

// A record whose first series is a curve (x_unit set) is drawn as lines over x; the others as
// CDFs of their samples on a log scale.
bool is_curve(const Record& r) { return !r.samples.empty() && !r.samples.front().x_unit.empty(); }

std::string gnuplot_distribution(const Record& r) {
  std::string g = "\nset output " + gnuplot_quote(plot_name(r)) + "\n";
  g += "set logscale x\nset key bottom right\n"
       "set ylabel 'fraction of samples at or below'\nset yrange [0:1.02]\n"
       "set arrow 1 from graph 0, first 0.99 to graph 1, first 0.99 nohead dt 2\n"
       "set label 1 'p99' at graph 0.01, first 0.975\n";
  g += "set title " + gnuplot_quote(r.id + " " + r.figure + ": distribution") + " noenhanced\n";
  g += "set xlabel " + gnuplot_quote(r.samples.front().unit + " (log scale)") + "\n";
  g += "plot ";
  for (std::size_t i = 0; i < r.samples.size(); ++i) {
    const SampleSeries& s = r.samples[i];
    g += (i == 0 ? "" : ", \\\n     ") + gnuplot_quote(s.file) +
         " using 1:(1.0) smooth cnormal with lines lw 2 title " + gnuplot_quote(s.label) +
         " noenhanced";
  }
  return g + "\n";
}

std::string gnuplot_curve(const Record& r) {
  std::string g = "\nset output " + gnuplot_quote(plot_name(r)) + "\n";
  g += "unset logscale x\nunset arrow 1\nunset label 1\nset key top left\nset yrange [0:*]\n";
  g += "set title " + gnuplot_quote(r.id + " " + r.figure) + " noenhanced\n";
  g += "set xlabel " + gnuplot_quote(r.samples.front().x_unit) + "\n";
  g += "set ylabel " + gnuplot_quote(r.samples.front().unit) + "\n";
  g += "plot ";
  for (std::size_t i = 0; i < r.samples.size(); ++i) {
    const SampleSeries& s = r.samples[i];
    g += (i == 0 ? "" : ", \\\n     ") + gnuplot_quote(s.file) +
         " using 1:2 with linespoints lw 2 pt 7 ps 0.5 title " + gnuplot_quote(s.label) +
         " noenhanced";
  }
  return g + "\n";
}

std::string gnuplot_script(const std::vector<Record>& records) {
  std::string g =
      "# Generated by bench_report: gnuplot plots.gp (in the results directory)\n"
      "set terminal pngcairo size 900,520 font ',10'\n"
      "set grid\n";
  for (const Record& r : records) {
    if (r.samples.empty()) continue;
    g += is_curve(r) ? gnuplot_curve(r) : gnuplot_distribution(r);
  }
  return g;
}

Status update_doc(const fs::path& doc, const std::string& block) {
  RC_ASSIGN_OR_RETURN(std::string text, read_file(doc));
  const std::size_t begin = text.find(kBegin);
  const std::size_t end = text.find(kEnd);
  if (begin == std::string::npos || end == std::string::npos || end < begin) {
    return make_error(ErrorCode::kInvalidArgument, doc.string() + ": no " + std::string(kBegin) +
                                                       " ... " + std::string(kEnd) +
                                                       " block to replace");
  }
  const std::size_t from = begin + kBegin.size();
  text.replace(from, end - from, "\n" + block + "\n");
  return write_file(doc, text);
}

Status run(const Options& o) {
  RC_ASSIGN_OR_RETURN(const std::string lines, read_file(o.dir / "results.jsonl"));
  std::vector<Record> records;
  std::istringstream in(lines);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty()) continue;
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded()) {
      return make_error(ErrorCode::kDataLoss,
                        "results.jsonl line " + std::to_string(n) + " is not JSON");
    }
    auto r = Record::from_json(j);
    if (!r.ok())
      return std::move(r).error().with_context("results.jsonl line " + std::to_string(n));
    records.push_back(std::move(r).value());
  }

  nlohmann::json meta = {{"generated_at", now_utc()}, {"quick", o.quick}, {"machine", machine()}};
  nlohmann::json all = meta;
  all["results"] = nlohmann::json::array();
  for (const Record& r : records) all["results"].push_back(r.to_json());
  RC_TRY(write_file(o.dir / "results.json", all.dump(2) + "\n"));

  const std::string md = summary(records, meta, true);
  RC_TRY(write_file(o.dir / "summary.md", "# Benchmark summary\n\n" + md));
  RC_TRY(write_file(o.dir / "plots.gp", gnuplot_script(records)));
  std::cout << md;
  if (!o.update_doc.empty()) RC_TRY(update_doc(o.update_doc, summary(records, meta, false)));
  return ok_status();
}

}  // namespace
}  // namespace reclothes::bench

int main(int argc, char** argv) {
  CLI::App app{"Summarise a benchmark run: results.json, summary.md, plots.gp", "bench_report"};
  reclothes::bench::Options o;
  app.add_option("--dir", o.dir, "the run's output directory (holds results.jsonl)")
      ->capture_default_str();
  app.add_flag("--quick", o.quick, "the run was a quick one");
  app.add_option("--update-doc", o.update_doc,
                 "replace the bench-summary block of this markdown file");
  CLI11_PARSE(app, argc, argv);
  const reclothes::Status s = reclothes::bench::run(o);
  if (!s.ok()) {
    std::cerr << "bench_report: " << s.error().to_string() << std::endl;
    return 1;
  }
  return 0;
}
