// The harness's own logic: percentiles over raw samples, rounds, verdicts, the human line, the JSON
// record and its parser, the /proc and file helpers, and bench_report (results.json, summary.md,
// the docs table). A wrong percentile or an inverted verdict would make every figure wrong.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "reclothes/bench/proc.h"
#include "reclothes/bench/report.h"
#include "reclothes/bench/stats.h"

namespace reclothes::bench {
namespace {

TEST(BenchPercentile, IsTheNearestRankOfTheSamples) {
  std::vector<double> v;
  for (int i = 100; i >= 1; --i) v.push_back(i);  // unsorted on purpose
  EXPECT_EQ(percentile(v, 0.50), 50);
  EXPECT_EQ(percentile(v, 0.99), 99);
  EXPECT_EQ(percentile(v, 1.0), 100);
  EXPECT_EQ(percentile(v, 0.0), 1);
  // Nearest rank: p99 of 10 samples is the largest, never an interpolated value.
  EXPECT_EQ(percentile({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.99), 10);
  EXPECT_EQ(percentile({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.5), 5);
}

TEST(BenchPercentile, OfNothingIsZeroAndQIsClamped) {
  EXPECT_EQ(percentile({}, 0.5), 0);
  EXPECT_EQ(percentile({3, 1, 2}, 7.0), 3);
  EXPECT_EQ(percentile({3, 1, 2}, -1.0), 1);
}

TEST(BenchSummarize, GivesEveryStatisticOfTheSamples) {
  std::vector<double> v;
  for (int i = 1; i <= 1000; ++i) v.push_back(i);
  const Summary s = summarize(v);
  EXPECT_EQ(s.count, 1000u);
  EXPECT_EQ(s.min, 1);
  EXPECT_EQ(s.max, 1000);
  EXPECT_DOUBLE_EQ(s.mean, 500.5);
  EXPECT_EQ(s.p50, 500);
  EXPECT_EQ(s.p90, 900);
  EXPECT_EQ(s.p99, 990);
  const Summary none = summarize({});
  EXPECT_EQ(none.count, 0u);
  EXPECT_EQ(none.p99, 0);
}

TEST(BenchPerSecond, IsOperationsOverElapsedTime) {
  EXPECT_DOUBLE_EQ(per_second(500, std::chrono::milliseconds(250)), 2000);
  EXPECT_EQ(per_second(5, std::chrono::nanoseconds(0)), 0);
}

TEST(BenchRoundTotals, SumsTheRoundsAndKeepsEachRoundsRate) {
  RoundTotals t;
  EXPECT_EQ(t.rate(), 0);
  t.add(300, 2.0);
  t.add(100, 0.5);
  t.add(7, 0);  // a round without time: counted, its own rate 0
  EXPECT_EQ(t.operations, 407u);
  EXPECT_DOUBLE_EQ(t.seconds, 2.5);
  EXPECT_EQ(t.rates, (std::vector<double>{150, 200, 0}));
  EXPECT_DOUBLE_EQ(t.rate(), 407 / 2.5);
}

TEST(BenchFormatNumber, SeparatesThousandsAndRounds) {
  EXPECT_EQ(format_number(6512.3, 0), "6,512");
  EXPECT_EQ(format_number(1234567.891, 2), "1,234,567.89");
  EXPECT_EQ(format_number(-9830, 0), "-9,830");
  EXPECT_EQ(format_number(0.6612, 2), "0.66");
  EXPECT_EQ(format_number(999, 0), "999");
  EXPECT_EQ(format_value(6512.3, "events/s"), "6,512 events/s");
  EXPECT_EQ(format_value(4.873, "ms"), "4.87 ms");
  EXPECT_EQ(format_value(0.95, "%"), "0.950%");
}

Record b2_like(double value, double baseline) {
  Record r;
  r.id = "B2";
  r.figure = "journal durable events/s";
  r.unit = "events/s";
  r.value = value;
  r.baseline = "raw write+fdatasync";
  r.baseline_value = baseline;
  r.target = Target::ratio_at_least(0.5);
  return r;
}

TEST(BenchRecord, ComparesTheRatioWithARatioTarget) {
  EXPECT_EQ(b2_like(6512, 9830).verdict(), Verdict::kPass);
  EXPECT_EQ(b2_like(4000, 9830).verdict(), Verdict::kMiss);
  EXPECT_NEAR(*b2_like(6512, 9830).ratio(), 0.6625, 1e-4);
  // Without a baseline there is no ratio, so a ratio target cannot be met.
  Record no_baseline = b2_like(6512, 0);
  EXPECT_FALSE(no_baseline.ratio().has_value());
  EXPECT_EQ(no_baseline.verdict(), Verdict::kMiss);
}

// A figure with an absolute target and no baseline, as B8's.
Record b8_like(std::string figure, std::string unit, double value, Target target) {
  Record r;
  r.id = "B8";
  r.figure = std::move(figure);
  r.unit = std::move(unit);
  r.value = value;
  r.target = target;
  return r;
}

TEST(BenchRecord, ComparesTheValueWithAValueTargetAndIsInfoWithoutOne) {
  Record rss = b8_like("idle RSS", "MiB", 13.2, Target::value_at_most(16));
  EXPECT_EQ(rss.verdict(), Verdict::kPass);
  rss.value = 16.5;
  EXPECT_EQ(rss.verdict(), Verdict::kMiss);
  rss.target.reset();
  EXPECT_EQ(rss.verdict(), Verdict::kInfo);
}

TEST(BenchRecord, PrintsFigureBaselineRatioTargetAndVerdictOnOneLine) {
  EXPECT_EQ(b2_like(6512, 9830).line(),
            "B2 journal durable events/s: 6,512 events/s | raw write+fdatasync: 9,830 events/s | "
            "ratio 0.66 (target >= 0.5) PASS");
  EXPECT_EQ(b8_like("idle CPU", "%", 1.43, Target::value_at_most(1)).line(),
            "B8 idle CPU: 1.43% | target <= 1% MISS");
  EXPECT_EQ(Target::ratio_at_most(1.25).text("ms"), "<= 1.25");
  EXPECT_EQ(Target::ratio_at_least(1).text(""), ">= 1.0");
}

TEST(BenchRecord, SurvivesAJsonRoundTrip) {
  Record r = b2_like(6512, 9830);
  r.samples = {{"journal commit", "b2-journal-commit.txt", "ms", ""}};
  r.details = {{"rounds", 6}};
  const nlohmann::json j = r.to_json();
  EXPECT_EQ(j["verdict"], "PASS");
  EXPECT_NEAR(j["ratio"].get<double>(), 0.6625, 1e-4);
  auto back = Record::from_json(nlohmann::json::parse(j.dump()));
  ASSERT_TRUE(back.ok()) << back.error().to_string();
  EXPECT_EQ(back->line(), r.line());
  EXPECT_EQ(back->samples.size(), 1u);
  EXPECT_EQ(back->samples[0].file, "b2-journal-commit.txt");
  EXPECT_EQ(back->details["rounds"], 6);
}

TEST(BenchRecord, FromJsonRefusesARecordWithAMissingOrWrongField) {
  nlohmann::json j = b2_like(1, 2).to_json();
  j.erase("value");
  auto missing = Record::from_json(j);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(missing.error().message.find("value"), std::string::npos);

  nlohmann::json wrong = b2_like(1, 2).to_json();
  wrong["target"]["kind"] = "roughly";
  EXPECT_FALSE(Record::from_json(wrong).ok());
  EXPECT_FALSE(Record::from_json(nlohmann::json::array()).ok());
}

TEST(BenchSlug, KeepsLowerCaseLettersDigitsAndSingleDashes) {
  EXPECT_EQ(slug("raw SQLite FULL commit"), "raw-sqlite-full-commit");
  EXPECT_EQ(slug("events/s (1 event)"), "events-s-1-event");
  EXPECT_EQ(slug("--B1--"), "b1");
}

TEST(BenchOutput, WritesSamplesAndAppendsOneJsonLinePerRecord) {
  auto scratch = ScratchDir::create(std::filesystem::temp_directory_path(), "bench-test-");
  ASSERT_TRUE(scratch.ok()) << scratch.error().to_string();
  const std::filesystem::path dir = scratch->path() / "out";
  auto out = Output::open(dir);
  ASSERT_TRUE(out.ok()) << out.error().to_string();

  auto series = out->write_samples("B1", "scan to unlock", "ms", {1.5, 2.25});
  ASSERT_TRUE(series.ok());
  EXPECT_EQ(series->file, "b1-scan-to-unlock.txt");
  std::ifstream samples(dir / series->file);
  double a = 0;
  double b = 0;
  samples >> a >> b;
  EXPECT_EQ(a, 1.5);
  EXPECT_EQ(b, 2.25);

  ASSERT_TRUE(out->add(b2_like(6512, 9830)).ok());
  ASSERT_TRUE(out->add(b2_like(4000, 9830)).ok());
  std::ifstream jsonl(dir / "results.jsonl");
  std::string line;
  std::vector<std::string> verdicts;
  while (std::getline(jsonl, line)) {
    verdicts.push_back(nlohmann::json::parse(line)["verdict"].get<std::string>());
  }
  EXPECT_EQ(verdicts, (std::vector<std::string>{"PASS", "MISS"}));
}

TEST(BenchProc, WritesAndReadsTextAndTellsBusyTimeApart) {
  auto scratch = ScratchDir::create(std::filesystem::temp_directory_path(), "bench-test-");
  ASSERT_TRUE(scratch.ok()) << scratch.error().to_string();
  const std::filesystem::path file = scratch->path() / "config.json";
  ASSERT_TRUE(write_text(file, "{\"a\": 1}\n").ok());
  EXPECT_EQ(read_text(file).value_or(""), "{\"a\": 1}\n");
  EXPECT_EQ(tail(file, 3), "1}\n");
  EXPECT_FALSE(write_text(scratch->path() / "no-such-dir" / "x", "x").ok());
  EXPECT_EQ(tail(scratch->path() / "missing.log"), "(no log)");
  // 30 of 120 jiffies busy; no time passing is 0, not a division by zero.
  EXPECT_DOUBLE_EQ(busy_between({100, 400}, {130, 520}), 0.25);
  EXPECT_EQ(busy_between({100, 400}, {100, 400}), 0);
  // This process: it has a resident size and at least one thread.
  EXPECT_GT(status_field(::getpid(), "VmRSS"), 0);
  EXPECT_GE(status_field(::getpid(), "Threads"), 1);
  EXPECT_EQ(status_field(::getpid(), "NoSuchField"), 0);
}

TEST(BenchScratchDir, IsRemovedWithItsContents) {
  std::filesystem::path kept;
  {
    auto scratch = ScratchDir::create(std::filesystem::temp_directory_path(), "bench-test-");
    ASSERT_TRUE(scratch.ok());
    kept = scratch->path();
    std::ofstream(kept / "file") << "x";
    EXPECT_TRUE(std::filesystem::exists(kept / "file"));
  }
  EXPECT_FALSE(std::filesystem::exists(kept));
  EXPECT_FALSE(ScratchDir::create("/nonexistent-dir-for-bench-test", "x-").ok());
}

// bench_report, the step that turns a run into results.json, summary.md, the plot script and the
// table in docs/performance.md: run as scripts/bench runs it.
std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

int run_report(const std::filesystem::path& dir, const std::filesystem::path& doc) {
  const std::string emulator = RECLOTHES_BENCH_EMULATOR;
  const std::string cmd = (emulator.empty() ? "" : "'" + emulator + "' ") + "'" +
                          RECLOTHES_BENCH_REPORT_BIN + "' --dir '" + dir.string() +
                          "' --update-doc '" + doc.string() + "' > '" +
                          (dir / "report.out").string() + "' 2>&1";
  const int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// A run's output directory with its Output, and the doc beside it.
class BenchReport : public ::testing::Test {
 protected:
  void SetUp() override {
    auto scratch = ScratchDir::create(std::filesystem::temp_directory_path(), "bench-test-");
    ASSERT_TRUE(scratch.ok()) << scratch.error().to_string();
    scratch_.emplace(std::move(scratch).value());
    dir = scratch_->path() / "out";
    doc = scratch_->path() / "performance.md";
    auto opened = Output::open(dir);
    ASSERT_TRUE(opened.ok()) << opened.error().to_string();
    out.emplace(std::move(opened).value());
  }

  std::optional<ScratchDir> scratch_;
  std::filesystem::path dir;
  std::filesystem::path doc;
  std::optional<Output> out;
};

TEST_F(BenchReport, WritesTheSummaryAndReplacesOnlyTheDocsBlock) {
  Record b2 = b2_like(6512, 9830);
  auto series = out->write_samples("B2", "journal commit", "ms", {0.1, 0.2, 0.3});
  ASSERT_TRUE(series.ok());
  b2.samples.push_back(*series);
  ASSERT_TRUE(out->add(b2).ok());
  ASSERT_TRUE(out->add(b2_like(4000, 9830)).ok());

  std::ofstream(doc) << "# Before\n<!-- bench-summary:begin -->\nold table\n"
                        "<!-- bench-summary:end -->\n## After\n";
  ASSERT_EQ(run_report(dir, doc), 0) << slurp(dir / "report.out");

  const nlohmann::json all = nlohmann::json::parse(slurp(dir / "results.json"));
  ASSERT_EQ(all["results"].size(), 2U);
  EXPECT_EQ(all["results"][0]["verdict"], "PASS");
  EXPECT_EQ(all["results"][1]["verdict"], "MISS");
  EXPECT_FALSE(all["quick"].get<bool>());
  EXPECT_TRUE(all.contains("machine"));

  const std::string summary = slurp(dir / "summary.md");
  EXPECT_NE(summary.find("| 0.66 |"), std::string::npos) << summary;
  EXPECT_NE(summary.find("| MISS |"), std::string::npos) << summary;
  EXPECT_NE(slurp(dir / "plots.gp").find("b2-journal-commit.txt"), std::string::npos);

  const std::string text = slurp(doc);
  EXPECT_EQ(text.rfind("# Before\n<!-- bench-summary:begin -->\n", 0), 0U) << text;
  EXPECT_EQ(text.find("old table"), std::string::npos) << text;
  EXPECT_NE(text.find("| 0.66 |"), std::string::npos) << text;
  const std::string tail = "<!-- bench-summary:end -->\n## After\n";
  ASSERT_GE(text.size(), tail.size());
  EXPECT_EQ(text.substr(text.size() - tail.size()), tail) << text;
}

TEST_F(BenchReport, DrawsACurveAsLinesOverItsXAndADistributionAsACdf) {
  Record b2 = b2_like(6512, 9830);
  auto dist = out->write_samples("B2", "journal commit", "ms", {0.1, 0.2, 0.3});
  ASSERT_TRUE(dist.ok());
  b2.samples.push_back(*dist);
  ASSERT_TRUE(out->add(b2).ok());
  Record rss;
  rss.id = "B10";
  rss.figure = "controller RSS";
  rss.unit = "MiB";
  rss.value = 20;
  auto curve = out->write_curve("B10", "controller RSS", "s", "MiB", {{0, 19.5}, {5, 20.25}});
  ASSERT_TRUE(curve.ok());
  EXPECT_EQ(curve->x_unit, "s");
  EXPECT_EQ(slurp(dir / curve->file), "0 19.5\n5 20.25\n");
  rss.samples.push_back(*curve);
  ASSERT_TRUE(out->add(rss).ok());
  auto back = Record::from_json(rss.to_json());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->samples.at(0).x_unit, "s");

  std::ofstream(doc) << "<!-- bench-summary:begin -->\n<!-- bench-summary:end -->\n";
  ASSERT_EQ(run_report(dir, doc), 0) << slurp(dir / "report.out");
  const std::string gp = slurp(dir / "plots.gp");
  const std::size_t cdf = gp.find("'b2-journal-commit.txt' using 1:(1.0) smooth cnormal");
  const std::size_t line = gp.find("'b10-controller-rss.txt' using 1:2 with linespoints");
  ASSERT_NE(cdf, std::string::npos) << gp;
  ASSERT_NE(line, std::string::npos) << gp;
  // The curve's plot has linear axes and its own labels.
  const std::string curve_part = gp.substr(cdf, line - cdf);
  EXPECT_NE(curve_part.find("unset logscale x"), std::string::npos) << gp;
  EXPECT_NE(curve_part.find("set xlabel 's'"), std::string::npos) << gp;
}

TEST_F(BenchReport, RefusesADocWithoutTheBlockAndAResultLineThatIsNotJson) {
  ASSERT_TRUE(out->add(b2_like(6512, 9830)).ok());

  const std::string unmarked = "# Performance\nno block here\n";
  std::ofstream(doc) << unmarked;
  EXPECT_EQ(run_report(dir, doc), 1);
  EXPECT_NE(slurp(dir / "report.out").find("no <!-- bench-summary:begin -->"), std::string::npos)
      << slurp(dir / "report.out");
  EXPECT_EQ(slurp(doc), unmarked);

  std::ofstream(dir / "results.jsonl", std::ios::app) << "{not json\n";
  std::ofstream(doc) << "<!-- bench-summary:begin -->\nold\n<!-- bench-summary:end -->\n";
  EXPECT_EQ(run_report(dir, doc), 1);
  EXPECT_NE(slurp(dir / "report.out").find("results.jsonl line 2 is not JSON"), std::string::npos)
      << slurp(dir / "report.out");
  EXPECT_NE(slurp(doc).find("old"), std::string::npos);
}

}  // namespace
}  // namespace reclothes::bench
