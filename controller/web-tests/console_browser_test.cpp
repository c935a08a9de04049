// The staff console's browser tests (docs/console.md, "Browser tests"): one real PostgreSQL, one
// Mosquitto, the controller binary and simulated boxes (reclothes-sim box, each with its web
// page) on free ports, seeded with the demo's staff roles (admin, manager, courier, checker,
// packer), two locations, four boxes (three running, one never started: offline), a customer
// and a donation. Then each scenario script (*_test.mjs in controller/web-tests/, one node
// process each, one gtest case each) runs against it with the environment as JSON (--env FILE);
// a script's exit status is its verdict. Scripts share the environment and run in name order.
#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "reclothes/testsupport/files.h"
#include "reclothes/testsupport/mosquitto.h"
#include "reclothes/testsupport/postgres.h"
#include "reclothes/testsupport/process.h"

#ifndef RECLOTHES_CONTROLLER_BIN
#error "RECLOTHES_CONTROLLER_BIN must name the reclothes-controller binary"
#endif
#ifndef RECLOTHES_SIM_BIN
#error "RECLOTHES_SIM_BIN must name the reclothes-sim binary"
#endif
#ifndef RECLOTHES_WEB_TESTS_DIR
#error "RECLOTHES_WEB_TESTS_DIR must name the build tree's copy of controller/web-tests"
#endif

namespace reclothes::console_tests {
namespace {

namespace fs = std::filesystem;
using testsupport::MosquittoServer;
using testsupport::PostgresServer;
using testsupport::Process;
using testsupport::read_file;
using testsupport::SpawnOptions;
using testsupport::tail;
using testsupport::TempDir;

constexpr const char* kPassword = "console-test-password";
constexpr const char* kDomain = "reclothes.test";

// The scripts: every *_test.mjs beside this harness (each area adds its own file).
std::vector<std::string> scripts() {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(RECLOTHES_WEB_TESTS_DIR, ec)) {
    const auto name = e.path().filename().string();
    if (name.size() > 9 && name.ends_with("_test.mjs")) out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

struct Box {
  std::string id;
  std::string location;
  std::vector<std::string> sizes;
  bool start = true;
};

// The environment every script gets, started once for the suite.
class Environment {
 public:
  static Environment& get() {
    static Environment env;
    return env;
  }

  // Empty when ready; otherwise what failed.
  const std::string& problem() const { return problem_; }
  const fs::path& dir() const { return dir_->path(); }
  const fs::path& env_file() const { return env_file_; }
  bool controller_running() { return controller_ && controller_->running(); }
  std::string controller_log() { return read_file(dir() / "controller.log"); }

 private:
  Environment() {
    if (auto s = start(); !s.empty()) problem_ = s;
  }

  std::string start() {
    auto dir = TempDir::create("reclothes-console-");
    if (!dir.ok()) return dir.error().to_string();
    dir_ = std::make_unique<TempDir>(std::move(dir).value());
    auto pg = PostgresServer::start();
    if (!pg.ok()) return "PostgreSQL: " + pg.error().to_string();
    pg_ = std::move(pg).value();
    auto db = pg_->create_database("reclothes");
    if (!db.ok()) return db.error().to_string();
    conninfo_ = *db;
    auto broker = MosquittoServer::start();
    if (!broker.ok()) return "Mosquitto: " + broker.error().to_string();
    broker_ = std::move(broker).value();
    if (auto s = start_controller(); !s.empty()) return s;
    if (auto s = seed(); !s.empty()) return s;
    return "";
  }

  // Runs a command to completion; its exit status, or -1.
  int run(std::vector<std::string> argv, const std::string& log_name,
          std::map<std::string, std::string> env = {}) {
    auto p = Process::spawn(std::move(argv),
                            SpawnOptions{dir() / log_name, std::nullopt, std::move(env), {}});
    if (!p.ok()) return -1;
    auto status = (*p)->wait(std::chrono::seconds(60));
    return status.ok() ? *status : -1;
  }

  std::string start_controller() {
    auto pub = testsupport::free_tcp_port();
    auto internal = testsupport::free_tcp_port();
    if (!pub.ok() || !internal.ok()) return "no free port";
    public_port_ = *pub;
    internal_port_ = *internal;
    const nlohmann::json c = {
        {"database", {{"conninfo", conninfo_}, {"pool_size", 4}}},
        {"public_listener", {{"host", "127.0.0.1"}, {"port", public_port_}}},
        {"internal_listener", {{"host", "127.0.0.1"}, {"port", internal_port_}}},
        {"passwords", {{"opslimit", 1}, {"memlimit_bytes", 8192}}},
        {"mqtt",
         {{"uri", broker_->uri()}, {"client_id", "console-controller"}, {"keepalive_s", 5}}},
        {"tokens", {{"key_dir", (dir() / "keys").string()}}},
        {"log", {{"level", "info"}, {"format", "text"}}},
        {"domain",
         {{"collecting", {{"compartment_threshold", 1}}},
          {"payments", {{"sandbox", true}}},
          {"worker_interval_ms", 300}}}};
    const auto config = (dir() / "controller.json").string();
    std::ofstream(config) << c.dump(2);
    if (run({RECLOTHES_CONTROLLER_BIN, "migrate", "--config", config}, "migrate.log") != 0) {
      return "migrate failed: " + read_file(dir() / "migrate.log");
    }
    // The demo's staff (scripts/demo): one account per role.
    for (const auto& [who, role] :
         std::vector<std::pair<std::string, std::string>>{{"admin", "super_admin"},
                                                          {"manager", "manager"},
                                                          {"courier", "delivery"},
                                                          {"checker", "checker"},
                                                          {"packer", "packer"}}) {
      const auto email = who + "@" + kDomain;
      if (run({RECLOTHES_CONTROLLER_BIN, "create-staff", "--config", config, "--email", email,
               "--role", role, "--name", who},
              "create-staff-" + who + ".log", {{"RECLOTHES_STAFF_PASSWORD", kPassword}}) != 0) {
        return "create-staff " + who +
               " failed: " + read_file(dir() / ("create-staff-" + who + ".log"));
      }
      accounts_[who] = {{"email", email}, {"password", kPassword}, {"role", role}};
    }
    auto p = Process::spawn({RECLOTHES_CONTROLLER_BIN, "serve", "--config", config},
                            SpawnOptions{dir() / "controller.log", std::nullopt, {}, {}});
    if (!p.ok()) return p.error().to_string();
    controller_ = std::move(p).value();
    for (int port : {public_port_, internal_port_}) {
      auto up = testsupport::wait_until_listening(*controller_, port, std::chrono::seconds(30));
      if (!up.ok()) return up.error().to_string() + "\n" + controller_log();
    }
    return "";
  }

  struct Reply {
    int status = 0;
    nlohmann::json body;
  };
  Reply call(int port, const std::string& method, const std::string& path,
             const nlohmann::json& body, const std::string& token) {
    httplib::Client cli("127.0.0.1", port);
    cli.set_read_timeout(std::chrono::seconds(20));
    httplib::Headers h;
    if (!token.empty()) h.emplace("Authorization", "Bearer " + token);
    auto res =
        method == "GET" ? cli.Get(path, h) : cli.Post(path, h, body.dump(), "application/json");
    Reply r;
    if (!res) return r;
    r.status = res->status;
    r.body = nlohmann::json::parse(res->body, nullptr, false);
    return r;
  }
  Reply internal(const std::string& method, const std::string& path, const nlohmann::json& body,
                 const std::string& token) {
    return call(internal_port_, method, path, body, token);
  }
  Reply pub(const std::string& method, const std::string& path, const nlohmann::json& body,
            const std::string& token) {
    return call(public_port_, method, path, body, token);
  }

  std::string seed() {
    auto login = internal("POST", "/internal/v1/sessions",
                          {{"email", accounts_["manager"]["email"]}, {"password", kPassword}}, "");
    if (login.status != 201) return "manager login: " + login.body.dump();
    const auto token = login.body["token"].get<std::string>();
    std::map<std::string, std::int64_t> location_ids;
    nlohmann::json locations = nlohmann::json::array();
    for (const auto& [name, address] : std::vector<std::pair<std::string, std::string>>{
             {"Kiez Mitte", "Torstrasse 1, Berlin"},
             {"Kiez Neukoelln", "Weserstrasse 20, Berlin"}}) {
      auto r =
          internal("POST", "/internal/v1/locations",
                   {{"name", name}, {"address", address}, {"lat", 52.5}, {"lon", 13.4}}, token);
      if (r.status != 201) return "location " + name + ": " + r.body.dump();
      location_ids[name] = r.body["id"].get<std::int64_t>();
      locations.push_back({{"id", location_ids[name]}, {"name", name}});
    }
    const std::vector<Box> boxes = {{"box-web-1", "Kiez Mitte", {"S", "M", "L", "XL"}},
                                    {"box-web-2", "Kiez Mitte", {"M", "M", "L"}},
                                    {"box-web-3", "Kiez Neukoelln", {"S", "M", "L"}},
                                    {"box-web-4", "Kiez Neukoelln", {"M", "L"}, false}};
    nlohmann::json box_list = nlohmann::json::array();
    for (const auto& b : boxes) {
      nlohmann::json comps = nlohmann::json::array();
      nlohmann::json sim_comps = nlohmann::json::array();
      for (std::size_t i = 0; i < b.sizes.size(); ++i) {
        comps.push_back({{"number", i + 1}, {"size", b.sizes[i]}});
        sim_comps.push_back({{"id", i + 1}, {"size", b.sizes[i]}, {"fill_sensor", true}});
      }
      auto r = internal(
          "POST", "/internal/v1/boxes",
          {{"box_id", b.id}, {"location_id", location_ids[b.location]}, {"compartments", comps}},
          token);
      if (r.status != 201) return "box " + b.id + ": " + r.body.dump();
      nlohmann::json entry = {{"id", b.id},
                              {"location_id", location_ids[b.location]},
                              {"location", b.location},
                              {"compartments", b.sizes.size()},
                              {"online", b.start},
                              {"page_url", nullptr}};
      if (b.start) {
        auto url = start_box(b, sim_comps);
        if (url.rfind("http", 0) != 0) return url;
        entry["page_url"] = url;
      }
      box_list.push_back(entry);
    }
    // Online once the controller has heard each running box.
    for (const auto& b : boxes) {
      if (!b.start) continue;
      bool online = false;
      for (int i = 0; i < 300 && !online; ++i) {
        auto r = internal("GET", "/internal/v1/boxes/" + b.id, {}, token);
        online = r.status == 200 && r.body.value("online", false);
        if (!online) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      if (!online)
        return b.id + " did not come online:\n" + tail(read_file(dir() / (b.id + ".log")), 3000);
    }
    // A customer and a donation waiting at box-web-1's location: an order in the lists.
    const std::string customer = std::string("alice@") + kDomain;
    if (pub("POST", "/v1/customers", {{"email", customer}, {"password", kPassword}}, "").status !=
        201) {
      return "customer registration failed";
    }
    auto session = pub("POST", "/v1/sessions", {{"email", customer}, {"password", kPassword}}, "");
    if (session.status != 201) return "customer login failed";
    auto donation = pub("POST", "/v1/donations",
                        {{"location_id", location_ids["Kiez Mitte"]},
                         {"items", {{{"category", "tops"}, {"count", 2}}}}},
                        session.body["token"].get<std::string>());
    if (donation.status != 201) return "donation: " + donation.body.dump();

    const nlohmann::json env = {
        {"console_url", "http://127.0.0.1:" + std::to_string(internal_port_) + "/console/"},
        {"internal_url", "http://127.0.0.1:" + std::to_string(internal_port_)},
        {"public_url", "http://127.0.0.1:" + std::to_string(public_port_)},
        {"broker", broker_->uri()},
        {"conninfo", conninfo_},
        {"chromium", std::getenv("CHROMIUM") ? std::getenv("CHROMIUM") : "/usr/bin/chromium"},
        {"out_dir", std::string(RECLOTHES_WEB_TESTS_DIR) + "/screenshots"},
        {"accounts", accounts_},
        {"customer", {{"email", customer}, {"password", kPassword}}},
        {"locations", locations},
        {"boxes", box_list},
        {"orders", {{{"kind", "donation"}, {"id", donation.body.value("id", 0)}}}}};
    env_file_ = dir() / "env.json";
    std::ofstream(env_file_) << env.dump(2);
    return "";
  }

  // Starts reclothes-sim box for b on the suite's broker; its page URL, or what failed.
  std::string start_box(const Box& b, const nlohmann::json& compartments) {
    auto port = testsupport::free_tcp_port();
    if (!port.ok()) return "no free port";
    const nlohmann::json config = {
        {"box_id", b.id},
        {"journal_path", (dir() / (b.id + ".journal.db")).string()},
        {"broker", {{"uri", broker_->uri()}}},
        {"trusted_keys", nlohmann::json::array()},
        {"compartments", compartments},
        {"timeouts",
         {{"door_open_after_unlock_s", 15}, {"door_ajar_s", 120}, {"scan_repeat_s", 2}}},
        {"hal", {{"backend", "sim"}}},
        {"camera", {{"width", 640}, {"height", 480}, {"fps", 10}}},
        {"state_report_interval_s", 5}};
    const auto path = dir() / (b.id + ".json");
    std::ofstream(path) << config.dump(2);
    auto p = Process::spawn({RECLOTHES_SIM_BIN, "box", "--config", path.string(), "--http",
                             "127.0.0.1:" + std::to_string(*port), "--state-dir", dir().string(),
                             "--auto-open-ms", "800", "--log-level", "warn"},
                            SpawnOptions{dir() / (b.id + ".log"), std::nullopt, {}, {}});
    if (!p.ok()) return p.error().to_string();
    auto up = testsupport::wait_until_listening(**p, *port, std::chrono::seconds(30));
    if (!up.ok())
      return b.id + ": " + up.error().to_string() + "\n" + read_file(dir() / (b.id + ".log"));
    boxes_.push_back(std::move(p).value());
    return "http://127.0.0.1:" + std::to_string(*port) + "/";
  }

  std::string problem_;
  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<PostgresServer> pg_;
  std::unique_ptr<MosquittoServer> broker_;
  std::unique_ptr<Process> controller_;
  std::vector<std::unique_ptr<Process>> boxes_;
  std::string conninfo_;
  int public_port_ = 0;
  int internal_port_ = 0;
  nlohmann::json accounts_ = nlohmann::json::object();
  fs::path env_file_;
};

class ConsoleBrowser : public ::testing::TestWithParam<std::string> {};

TEST_P(ConsoleBrowser, ScriptPasses) {
  auto& env = Environment::get();
  ASSERT_TRUE(env.problem().empty()) << "the environment did not start: " << env.problem();
  const auto script = fs::path(RECLOTHES_WEB_TESTS_DIR) / GetParam();
  const auto log = env.dir() / (GetParam() + ".log");
  const auto started = std::chrono::steady_clock::now();
  auto p = Process::spawn({"node", script.string(), "--env", env.env_file().string()},
                          SpawnOptions{log, std::nullopt, {}, RECLOTHES_WEB_TESTS_DIR});
  ASSERT_TRUE(p.ok()) << p.error().to_string();
  auto status = (*p)->wait(std::chrono::minutes(5));
  if (!status.ok()) (void)(*p)->kill();
  const auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started);
  const auto output = read_file(log);
  std::cout << tail(output, 4000) << "\n" << GetParam() << ": " << seconds.count() << " s\n";
  ASSERT_TRUE(status.ok()) << GetParam() << " did not finish within 5 minutes";
  EXPECT_EQ(*status, 0) << GetParam() << " failed; its output is above. Controller log (end):\n"
                        << tail(env.controller_log(), 4000);
  EXPECT_TRUE(env.controller_running()) << "the controller died:\n"
                                        << tail(env.controller_log(), 4000);
}

INSTANTIATE_TEST_SUITE_P(Scripts, ConsoleBrowser, ::testing::ValuesIn(scripts()),
                         [](const ::testing::TestParamInfo<std::string>& param_info) {
                           auto name = param_info.param.substr(0, param_info.param.size() - 4);
                           std::replace(name.begin(), name.end(), '-', '_');
                           std::replace(name.begin(), name.end(), '.', '_');
                           return name;
                         });

}  // namespace
}  // namespace reclothes::console_tests
