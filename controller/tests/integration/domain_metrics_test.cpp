// The observability pack against a live controller (real PostgreSQL and Mosquitto, the sandbox
// payment provider): every exported metric is reclothes_* (or a standard process_* series),
// reclothes_build_info says the build, and the new metrics move when their thing happens (process,
// database pool, open HTTP connections, the MQTT queue, worker passes, payment requests, fault
// ages). Then the live scrape is checked by `promtool check metrics`, and every expression of
// the shipped alert rules and Grafana dashboard (deploy/observability) must name only metrics
// that this scrape exports: the names come from the scrape, not from a list kept by hand.
#include <sys/wait.h>
#include <yaml-cpp/yaml.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "domain_fixture.h"
#include "reclothes/testsupport/process.h"
#include "reclothes/testsupport/temp_dir.h"

#ifndef RECLOTHES_OBSERVABILITY_DIR
#error "RECLOTHES_OBSERVABILITY_DIR must name deploy/observability"
#endif

namespace reclothes::controller::testing {
namespace {

using namespace std::chrono_literals;
using Sandbox = domain::SandboxPaymentProvider;

// The sum of the samples of `name` (exactly that sample name) whose labels contain every one of
// `labels` (e.g. R"(outcome="ok")"); -1 when there is no such sample.
double sample_sum(const std::string& text, const std::string& name,
                  const std::vector<std::string>& labels = {}) {
  std::istringstream in(text);
  std::string line;
  double sum = 0;
  bool found = false;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#' || line.rfind(name, 0) != 0) continue;
    if (line.size() <= name.size() || (line[name.size()] != '{' && line[name.size()] != ' ')) {
      continue;
    }
    const auto space = line.rfind(' ');
    const auto label_text = line.substr(name.size(), space - name.size());
    bool all = true;
    for (const auto& l : labels) all = all && label_text.find(l) != std::string::npos;
    if (!all) continue;
    sum += std::stod(line.substr(space + 1));
    found = true;
  }
  return found ? sum : -1;
}

// Every sample name in an exposition text (histograms give their _bucket, _sum and _count).
std::set<std::string> sample_names(const std::string& text) {
  std::set<std::string> names;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    names.insert(line.substr(0, line.find_first_of("{ ")));
  }
  return names;
}

// The series names a scrape exports, from its "# TYPE <family> <type>" lines: every family the
// registry holds, also those without a sample yet (a labelled counter before its first event);
// a histogram's family gives <name>_bucket, _sum and _count.
std::set<std::string> exported_names(const std::string& text) {
  std::set<std::string> names;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("# TYPE ", 0) != 0) continue;
    std::istringstream words(line.substr(7));
    std::string name;
    std::string type;
    words >> name >> type;
    if (type == "histogram") {
      for (const char* suffix : {"_bucket", "_sum", "_count"}) names.insert(name + suffix);
    } else if (type == "summary") {
      for (const char* suffix : {"", "_sum", "_count"}) names.insert(name + suffix);
    } else {
      names.insert(name);
    }
  }
  return names;
}

// The metric names a PromQL expression reads: what is left of it once strings, label matchers,
// ranges, label lists (by, without, on, ignoring, group_left, group_right), Grafana variables,
// numbers, function names and keywords are taken out.
std::set<std::string> metrics_in(const std::string& expr) {
  std::string e = expr;
  e = std::regex_replace(e, std::regex(R"("(\\.|[^"\\])*"|'(\\.|[^'\\])*')"), " ");
  e = std::regex_replace(e, std::regex(R"(\{[^}]*\})"), " ");
  e = std::regex_replace(e, std::regex(R"(\[[^\]]*\])"), " ");
  e = std::regex_replace(
      e, std::regex(R"(\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\))"), " ");
  e = std::regex_replace(e, std::regex(R"(\$\{?[A-Za-z_][A-Za-z0-9_]*\}?)"), " ");
  static const std::set<std::string> kKeywords = {
      "and",      "or",         "unless",      "bool", "offset", "by",  "without", "on",
      "ignoring", "group_left", "group_right", "inf",  "nan",    "Inf", "NaN",     "e"};
  std::set<std::string> names;
  const std::regex token(R"([0-9][0-9A-Za-z_.]*|[A-Za-z_:][A-Za-z0-9_:]*)");
  for (auto it = std::sregex_iterator(e.begin(), e.end(), token); it != std::sregex_iterator();
       ++it) {
    const auto word = it->str();
    if (std::isdigit(static_cast<unsigned char>(word[0]))) continue;  // a number or a duration
    if (kKeywords.count(word) != 0) continue;
    const auto after =
        e.find_first_not_of(" \t\n", static_cast<std::size_t>(it->position()) + word.size());
    if (after != std::string::npos && e[after] == '(') continue;  // a function or aggregation
    names.insert(word);
  }
  return names;
}

std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class MetricsTest : public DomainTest {
 protected:
  // The exposition text as Prometheus gets it: GET /metrics on the internal listener.
  std::string scrape() {
    const auto r = internal("GET", "/metrics");
    EXPECT_EQ(r.status, 200) << describe(r);
    return r.raw;
  }
  double metric(const std::string& name, const std::vector<std::string>& labels = {}) {
    return sample_sum(scrape(), name, labels);
  }
  // One event from the fake box (a latch released), published and acked through the broker.
  void box_event() {
    msg::Event unlocked;
    unlocked.kind = msg::EventKind::kUnlocked;
    unlocked.compartment = 1;
    publish_and_ack({unlocked});
  }
  // A scrape after the things that make every family have a series: a box visit, a purchase
  // (tokenize, charge), a declined card, a worker pass.
  std::string busy_scrape() {
    add_fleet({"M"});
    box_event();
    const auto buyer = customer("metrics");
    EXPECT_EQ(buy(buyer, {listed_product("Coat", 4000)}).status, 201);
    EXPECT_EQ(buy(buyer, {listed_product("Cap", 900)}, Sandbox::kCardDeclined).status, 201);
    run_worker();
    return scrape();
  }
};

TEST_F(MetricsTest, EveryMetricIsPrefixedAndBuildInfoSaysWhichBuild) {
  const auto text = busy_scrape();
  auto names = sample_names(text);
  for (const auto& family : exported_names(text)) names.insert(family);
  for (const auto& name : names) {
    EXPECT_TRUE(name.rfind("reclothes_", 0) == 0 || name.rfind("process_", 0) == 0)
        << name << " has neither the reclothes_ prefix nor a standard process_ name";
  }
  const std::regex info(
      R"re(reclothes_build_info\{build_type="[A-Za-z]*",commit="([0-9a-f]{12}|unknown)",version="(\d+\.\d+\.\d+)"\} 1)re");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(text, m, info)) << text.substr(0, 4000);
  EXPECT_FALSE(m[2].str().empty());
}

TEST_F(MetricsTest, ProcessMetricsComeFromProcSelf) {
  const auto text = scrape();
  EXPECT_GT(sample_sum(text, "process_cpu_seconds_total"), 0);
  EXPECT_GT(sample_sum(text, "process_resident_memory_bytes"), 10e6);  // ASan alone is more
  EXPECT_GT(sample_sum(text, "process_virtual_memory_bytes"),
            sample_sum(text, "process_resident_memory_bytes"));
  EXPECT_GE(sample_sum(text, "process_threads"), 4);  // listeners, MQTT, session cache
  EXPECT_GT(sample_sum(text, "process_max_fds"), 0);
  // The test process is the controller's process: its start time is now, give or take the run.
  const auto now = static_cast<double>(std::time(nullptr));
  const auto started = sample_sum(text, "process_start_time_seconds");
  EXPECT_LE(started, now + 1);
  EXPECT_GT(started, now - 600);
  // Open descriptors follow what the process opens.
  const auto fds = sample_sum(text, "process_open_fds");
  EXPECT_GT(fds, 5);
  std::vector<std::FILE*> files;
  for (int i = 0; i < 20; ++i) files.push_back(std::fopen("/dev/null", "r"));
  EXPECT_GE(metric("process_open_fds"), fds + 20);
  for (auto* f : files) std::fclose(f);
}

TEST_F(MetricsTest, PoolMetricsShowLeasesWaitsAndTimeouts) {
  config_.database.pool_size = 3;
  config_.database.acquire_timeout = 300ms;
  restart_with_domain_config();
  auto& db = controller_->db();
  EXPECT_EQ(metric("reclothes_db_pool_size"), 3);
  EXPECT_EQ(metric("reclothes_db_pool_waits_total"), 0);
  EXPECT_EQ(metric("reclothes_db_pool_timeouts_total"), 0);
  {
    auto lease = db.acquire();
    ASSERT_TRUE(lease.ok());
    // The scrape samples the pool before it leases a connection of its own.
    EXPECT_EQ(metric("reclothes_db_pool_connections", {R"(state="in_use")"}), 1);
  }
  EXPECT_EQ(metric("reclothes_db_pool_connections", {R"(state="in_use")"}), 0);
  EXPECT_GE(metric("reclothes_db_pool_connections", {R"(state="idle")"}), 1);

  // Every connection leased: one request waits until a lease comes back ...
  std::vector<Database::Lease> held;
  for (int i = 0; i < 3; ++i) {
    auto lease = db.acquire();
    ASSERT_TRUE(lease.ok());
    held.push_back(std::move(lease).value());
  }
  std::thread waiter([&db] {
    auto lease = db.acquire();
    EXPECT_TRUE(lease.ok());
  });
  std::this_thread::sleep_for(150ms);
  held.pop_back();
  waiter.join();
  // ... and one gives up after acquire_timeout (300 ms).
  auto third = db.acquire();
  ASSERT_TRUE(third.ok());
  held.push_back(std::move(third).value());
  const auto timed_out = db.acquire();
  EXPECT_FALSE(timed_out.ok());
  held.clear();
  const auto text = scrape();
  EXPECT_EQ(sample_sum(text, "reclothes_db_pool_waits_total"), 2);
  EXPECT_EQ(sample_sum(text, "reclothes_db_pool_timeouts_total"), 1);
  EXPECT_GE(sample_sum(text, "reclothes_db_pool_wait_seconds_total"), 0.1 + 0.29);
  EXPECT_LT(sample_sum(text, "reclothes_db_pool_wait_seconds_total"), 5);
}

TEST_F(MetricsTest, OpenConnectionsFollowKeepAliveClientsPerListener) {
  const auto before = scrape();
  const auto accepted =
      sample_sum(before, "reclothes_http_connections_accepted_total", {R"(listener="public")"});
  const auto open = sample_sum(before, "reclothes_http_open_connections", {R"(listener="public")"});
  ASSERT_GE(open, 0);
  std::vector<std::unique_ptr<httplib::Client>> clients;
  for (int i = 0; i < 5; ++i) {
    auto c = std::make_unique<httplib::Client>("127.0.0.1", controller_->public_port());
    c->set_keep_alive(true);
    auto r = c->Get("/healthz");
    ASSERT_TRUE(r);
    clients.push_back(std::move(c));
  }
  const auto during = scrape();
  EXPECT_EQ(sample_sum(during, "reclothes_http_open_connections", {R"(listener="public")"}),
            open + 5);
  EXPECT_EQ(
      sample_sum(during, "reclothes_http_connections_accepted_total", {R"(listener="public")"}),
      accepted + 5);
  // The scrape's own connection is on the internal listener.
  EXPECT_GE(sample_sum(during, "reclothes_http_open_connections", {R"(listener="internal")"}), 1);
  for (auto& c : clients) c->stop();
  clients.clear();
  EXPECT_TRUE(eventually(
      [&] { return metric("reclothes_http_open_connections", {R"(listener="public")"}) == open; }));
}

TEST_F(MetricsTest, BoxMessagesAreTimedThroughTheQueue) {
  EXPECT_EQ(metric("reclothes_mqtt_queue_depth"), 0);
  const auto waited = metric("reclothes_mqtt_queue_wait_seconds_count");
  add_fleet({"M", "L"});
  box_event();
  box_event();
  const auto text = scrape();
  EXPECT_GT(sample_sum(text, "reclothes_mqtt_queue_wait_seconds_bucket", {R"(le="+Inf")"}), 0);
  EXPECT_GE(sample_sum(text, "reclothes_mqtt_queue_wait_seconds_count"), std::max(waited, 0.0) + 2);
  EXPECT_EQ(sample_sum(text, "reclothes_box_events_applied_total"), 2);
}

TEST_F(MetricsTest, WorkerPassesAreCountedAndAFailedPassSaysSo) {
  run_worker();
  run_worker();
  auto text = scrape();
  EXPECT_EQ(sample_sum(text, "reclothes_worker_passes_total", {R"(outcome="ok")"}), 2);
  EXPECT_EQ(sample_sum(text, "reclothes_worker_passes_total", {R"(outcome="failed")"}), -1);
  EXPECT_EQ(sample_sum(text, "reclothes_worker_pass_duration_seconds_count"), 2);
  EXPECT_NEAR(sample_sum(text, "reclothes_worker_last_success_timestamp_seconds"),
              static_cast<double>(clock_.wall_ms()) / 1000.0, 1e-3);
  EXPECT_EQ(sample_sum(text, "reclothes_worker_items_total", {R"(item="payments_settled")"}), 0);

  // A pass whose step cannot run (its table is gone) is a failed pass; the last success stays.
  const auto last_ok = static_cast<double>(clock_.wall_ms()) / 1000.0;
  clock_.advance(60s);
  exec("ALTER TABLE domain_config_dirty RENAME TO domain_config_dirty_away");
  EXPECT_FALSE(worker_->run_once().ok());
  exec("ALTER TABLE domain_config_dirty_away RENAME TO domain_config_dirty");
  text = scrape();
  EXPECT_EQ(sample_sum(text, "reclothes_worker_passes_total", {R"(outcome="failed")"}), 1);
  EXPECT_NEAR(sample_sum(text, "reclothes_worker_last_success_timestamp_seconds"), last_ok, 1e-3);
}

TEST_F(MetricsTest, PaymentRequestsAreCountedByOperationAndOutcome) {
  EXPECT_EQ(metric("reclothes_payment_requests_total"), -1);
  add_fleet({"M"});  // the pickup location
  const auto buyer = customer("payer");
  const auto paid = buy(buyer, {listed_product("Coat", 4000)});
  ASSERT_EQ(paid.body["state"], "paid") << describe(paid);
  auto text = scrape();
  EXPECT_EQ(sample_sum(text, "reclothes_payment_requests_total",
                       {R"(operation="tokenize")", R"(outcome="succeeded")"}),
            1);
  EXPECT_EQ(sample_sum(text, "reclothes_payment_requests_total",
                       {R"(operation="charge")", R"(outcome="succeeded")"}),
            1);
  EXPECT_EQ(sample_sum(text, "reclothes_payment_request_duration_seconds_count",
                       {R"(operation="charge")"}),
            1);
  const auto declined = buy(buyer, {listed_product("Cap", 900)}, Sandbox::kCardDeclined);
  ASSERT_EQ(declined.body["state"], "payment_failed") << describe(declined);
  text = scrape();
  EXPECT_EQ(sample_sum(text, "reclothes_payment_requests_total", {R"(outcome="declined")"}), 1);
}

TEST_F(MetricsTest, TheOldestOpenFaultAgesWithTheClock) {
  add_fleet({"M"});
  exec("INSERT INTO box_faults (box_id, compartment, kind, event_seq, opened_at) VALUES ('" + box_ +
       "', 1, 'jammed', 1, '" + ts(clock_.wall_ms() - 600'000) + "')");
  run_worker();
  auto text = scrape();
  EXPECT_EQ(sample_sum(text, "reclothes_box_faults_open", {R"(kind="jammed")"}), 1);
  EXPECT_EQ(sample_sum(text, "reclothes_box_faults_oldest_open_seconds", {R"(kind="jammed")"}),
            600);
  EXPECT_EQ(sample_sum(text, "reclothes_box_faults_oldest_open_seconds", {R"(kind="forced")"}), 0);
  clock_.advance(30min);
  run_worker();
  EXPECT_EQ(metric("reclothes_box_faults_oldest_open_seconds", {R"(kind="jammed")"}), 2400);
}

TEST_F(MetricsTest, PromtoolFindsNoProblemInALiveScrape) {
  const auto text = busy_scrape();
  const auto dir = testsupport::TempDir::create_or_throw("reclothes-metrics-");
  const auto file = dir.path() / "scrape.txt";
  std::ofstream(file) << text;
  const auto out = dir.path() / "promtool.txt";
  const std::string cmd =
      "promtool check metrics < '" + file.string() + "' > '" + out.string() + "' 2>&1";
  const int rc = std::system(cmd.c_str());
  ASSERT_NE(rc, -1);
  ASSERT_NE(WEXITSTATUS(rc), 127) << "promtool not found: install Debian's prometheus package "
                                     "(scripts/install-deps does)";
  EXPECT_EQ(WEXITSTATUS(rc), 0) << read_text(out);
  EXPECT_EQ(read_text(out), "") << "promtool's findings";
}

TEST_F(MetricsTest, TheNameExtractorFindsMetricsAndOnlyMetrics) {
  EXPECT_EQ(
      metrics_in(
          R"(histogram_quantile(0.95, sum by (le, route) (rate(reclothes_http_request_duration_seconds_bucket{listener="public"}[5m]))))"),
      std::set<std::string>{"reclothes_http_request_duration_seconds_bucket"});
  EXPECT_EQ(
      metrics_in(
          R"(sum(rate(a_total{status=~"5.."}[$__rate_interval])) / ignoring(x) sum(b) > 0.05 and on() vector(1) offset 1h)"),
      (std::set<std::string>{"a_total", "b"}));
  EXPECT_EQ(metrics_in("time() - reclothes_worker_last_success_timestamp_seconds > 300"),
            std::set<std::string>{"reclothes_worker_last_success_timestamp_seconds"});
}

TEST_F(MetricsTest, AlertsAndDashboardNameOnlyExportedMetrics) {
  const auto text = busy_scrape();
  const auto exported = exported_names(text);
  // Every sample belongs to a family the TYPE lines name.
  for (const auto& name : sample_names(text)) EXPECT_EQ(exported.count(name), 1u) << name;
  const std::filesystem::path dir = RECLOTHES_OBSERVABILITY_DIR;
  std::vector<std::pair<std::string, std::string>> exprs;  // where, expression
  const auto rules = YAML::LoadFile((dir / "alerts.yml").string());
  for (const auto& group : rules["groups"]) {
    for (const auto& rule : group["rules"]) {
      exprs.emplace_back("alert " + rule["alert"].as<std::string>(),
                         rule["expr"].as<std::string>());
    }
  }
  const auto alerts = exprs.size();
  EXPECT_GE(alerts, 5u);
  const auto dashboard = nlohmann::json::parse(read_text(dir / "grafana" / "reclothes.json"));
  ASSERT_TRUE(dashboard.contains("panels"));
  for (const auto& panel : dashboard["panels"]) {
    for (const auto& target : panel.value("targets", nlohmann::json::array())) {
      exprs.emplace_back("panel " + panel.value("title", std::string("?")),
                         target.at("expr").get<std::string>());
    }
  }
  EXPECT_GE(exprs.size() - alerts, 15u) << "dashboard expressions";
  // The dashboard's variables: label_values(metric, label).
  const std::regex label_values(R"(label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*))");
  for (const auto& var : dashboard.at("templating").at("list")) {
    if (!var.contains("definition")) continue;
    const auto def = var["definition"].get<std::string>();
    std::smatch m;
    ASSERT_TRUE(std::regex_search(def, m, label_values)) << def;
    EXPECT_EQ(exported.count(m[1].str()), 1u)
        << "variable " << var.value("name", "") << ": " << def;
  }
  // `up` is the one series Prometheus itself writes for every target (ReclothesControllerDown).
  const std::set<std::string> kWrittenByPrometheus = {"up"};
  std::set<std::string> used;
  for (const auto& [where, expr] : exprs) {
    const auto names = metrics_in(expr);
    EXPECT_FALSE(names.empty()) << where << ": " << expr;
    for (const auto& name : names) {
      used.insert(name);
      if (kWrittenByPrometheus.count(name) != 0) continue;
      EXPECT_EQ(exported.count(name), 1u)
          << where << " reads " << name << ", which the controller does not export: " << expr;
    }
  }
  EXPECT_GE(used.size(), 20u);
}

}  // namespace
}  // namespace reclothes::controller::testing
