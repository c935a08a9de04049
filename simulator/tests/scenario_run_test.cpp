// Scenarios played against in-process boxes (real firmware on the sim HAL, no broker), on the
// virtual clock so waits cost no real time; the HTTP step against a small local server.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <string>
#include <thread>

#include "reclothes/simulator/scenario.h"
#include "test_util.h"

namespace reclothes::simulator {
namespace {

const std::filesystem::path kScenarios = RECLOTHES_SIM_SCENARIOS_DIR;

ScenarioReport run_file(const std::filesystem::path& file, ScenarioRunOptions options = {}) {
  auto scenario = load_scenario(file);
  EXPECT_TRUE(scenario.ok()) << (scenario.ok() ? "" : scenario.error().message);
  if (!scenario.ok()) return {};
  return run_scenario(*scenario, options);
}

ScenarioReport run_text(const std::string& text, const std::filesystem::path& as_file,
                        ScenarioRunOptions options = {}) {
  auto scenario = parse_scenario(text, as_file);
  EXPECT_TRUE(scenario.ok()) << (scenario.ok() ? "" : scenario.error().message);
  if (!scenario.ok()) return {};
  return run_scenario(*scenario, options);
}

std::string joined(const ScenarioReport& r) {
  std::string out;
  for (const std::string& line : r.log) out += line + "\n";
  return out + r.failure;
}

ScenarioRunOptions virtual_time() {
  ScenarioRunOptions o;
  o.virtual_time = true;
  return o;
}

TEST(ScenarioRunTest, AValidTokenUnlocksOpensClosesAndCompletesTheVisit) {
  const ScenarioReport r = run_file(kScenarios / "courier_visit.yaml", virtual_time());
  EXPECT_TRUE(r.passed) << joined(r);
  EXPECT_EQ(r.steps_run, 14u);
}

TEST(ScenarioRunTest, AForgedTokenIsRejectedAndNoLockIsPulsed) {
  const ScenarioReport r = run_file(kScenarios / "forged_token.yaml", virtual_time());
  EXPECT_TRUE(r.passed) << joined(r);
}

TEST(ScenarioRunTest, APowerCutRecoversFromTheJournal) {
  const ScenarioReport r = run_file(kScenarios / "power_cut.yaml", virtual_time());
  EXPECT_TRUE(r.passed) << joined(r);
}

TEST(ScenarioRunTest, RealTimeRunsTheSameScenario) {
  // The boxes step on their own threads and the runner polls: a couple of seconds of real time.
  const ScenarioReport r = run_file(kScenarios / "courier_visit.yaml");
  EXPECT_TRUE(r.passed) << joined(r);
}

TEST(ScenarioRunTest, AFailedExpectationNamesTheStepAndWhatWasSeen) {
  const ScenarioReport r = run_text(R"(
steps:
  - keygen: k
  - start: {box: box-0001, config: box.json, broker: none, auto_open: false, trust: "${k_public}"}
  - open_door: 2
  - expect_compartment: {compartment: 2, state: open, within: 1s}
  - wait: 1s
)",
                                    kScenarios / "inline.yaml", virtual_time());
  EXPECT_FALSE(r.passed);
  ASSERT_EQ(r.failed_step, 4u);
  EXPECT_EQ(r.steps_run, 3u);
  EXPECT_NE(r.failure.find("step 4 (expect_compartment, inline.yaml:6)"), std::string::npos)
      << r.failure;
  // Opened without an unlock: the firmware calls it forced.
  EXPECT_NE(r.failure.find("it is forced, door open"), std::string::npos) << r.failure;
}

TEST(ScenarioRunTest, AMissingEventListsWhatWasJournaledInstead) {
  const ScenarioReport r = run_text(R"(
steps:
  - keygen: k
  - start: {box: box-0001, config: box.json, broker: none, trust: "${k_public}"}
  - expect_event: {kind: unlocked, within: 500ms}
)",
                                    kScenarios / "inline.yaml", virtual_time());
  EXPECT_FALSE(r.passed);
  EXPECT_EQ(r.failed_step, 3u);
  EXPECT_NE(r.failure.find("event unlocked at box-0001 within 500ms: not journaled; events since "
                           "the last match: 1:boot"),
            std::string::npos)
      << r.failure;
}

TEST(ScenarioRunTest, AnUnknownVariableFailsItsStep) {
  const ScenarioReport r = run_text("steps:\n  - log: \"${nope}\"\n", kScenarios / "inline.yaml");
  EXPECT_FALSE(r.passed);
  EXPECT_EQ(r.failed_step, 1u);
  EXPECT_NE(r.failure.find("unknown variable ${nope}"), std::string::npos) << r.failure;
}

TEST(ScenarioRunTest, AStepForABoxThatWasNeverStartedFails) {
  const ScenarioReport r =
      run_text("steps:\n  - open_door: {box: ghost, compartment: 1}\n", kScenarios / "inline.yaml");
  EXPECT_FALSE(r.passed);
  EXPECT_NE(r.failure.find("box ghost was not started"), std::string::npos) << r.failure;
}

TEST(ScenarioRunTest, CommandLineVarsOverrideTheFilesVars) {
  ScenarioRunOptions o;
  o.vars["who"] = "cli";
  const ScenarioReport r =
      run_text("vars: {who: file}\nsteps:\n  - set: {greeting: \"hello ${who}\"}\n",
               kScenarios / "inline.yaml", o);
  ASSERT_TRUE(r.passed) << joined(r);
  EXPECT_EQ(r.vars.at("greeting"), "hello cli");
}

// A stand-in for the controller's REST API.
class HttpStepTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.Post("/v1/donations", [this](const httplib::Request& req, httplib::Response& res) {
      last_body_ = req.body;
      last_auth_ = req.get_header_value("Authorization");
      res.status = 201;
      res.set_content(R"({"id": 42, "token": "RC1:ABC", "box": {"compartment": 3}})",
                      "application/json");
    });
    server_.Get("/v1/donations/42", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"state": "deposited"})", "application/json");
    });
    // Like an order the controller changes when a box event arrives: "reserved" for the first
    // three reads, then "deposited".
    server_.Get("/v1/orders/7", [this](const httplib::Request&, httplib::Response& res) {
      const int n = ++reads_;
      res.set_content(
          nlohmann::json{
              {"state", n > 3 ? "deposited" : "reserved"}, {"compartment", 3}, {"token", nullptr}}
              .dump(),
          "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  void TearDown() override {
    server_.stop();
    thread_.join();
  }

  ScenarioRunOptions with_base_url() {
    ScenarioRunOptions o;
    o.vars["base_url"] = "http://127.0.0.1:" + std::to_string(port_);
    return o;
  }

  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::string last_body_;
  std::string last_auth_;
  std::atomic<int> reads_{0};
};

TEST_F(HttpStepTest, ExpectChecksTheAnswerAndWithinRetriesUntilItHolds) {
  const ScenarioReport r = run_text(R"(
vars: {compartment: 3}
steps:
  - http:
      path: /v1/orders/7
      expect: {$.state: deposited, $.compartment: "${compartment}", $.token: null}
      within: 5s
)",
                                    kScenarios / "inline.yaml", with_base_url());
  ASSERT_TRUE(r.passed) << joined(r);
  EXPECT_EQ(reads_.load(), 4) << "retried until the fourth read said deposited";
}

TEST_F(HttpStepTest, AnExpectationThatNeverHoldsFailsWithTheLastAnswer) {
  const ScenarioReport r = run_text(R"(
steps:
  - http: {path: /v1/orders/7, expect: {$.state: collected}, within: 600ms}
)",
                                    kScenarios / "inline.yaml", with_base_url());
  EXPECT_FALSE(r.passed);
  EXPECT_NE(r.failure.find("expect $.state = \"collected\", got \"deposited\""), std::string::npos)
      << r.failure;
  EXPECT_NE(r.failure.find("after 600ms"), std::string::npos) << r.failure;
  EXPECT_GE(reads_.load(), 2);
}

TEST_F(HttpStepTest, WithoutWithinAnExpectationIsCheckedOnce) {
  const ScenarioReport r = run_text(R"(
steps:
  - http: {path: /v1/orders/7, expect: {$.state: deposited}}
)",
                                    kScenarios / "inline.yaml", with_base_url());
  EXPECT_FALSE(r.passed);
  EXPECT_EQ(reads_.load(), 1);
}

TEST_F(HttpStepTest, PostsJsonSavesFieldsAndChainsThemIntoLaterSteps) {
  const ScenarioReport r = run_text(R"(
vars: {session: s3cret}
steps:
  - http:
      method: POST
      path: /v1/donations
      headers: {Authorization: "Bearer ${session}"}
      body: {box_id: box-0001, size: L}
      expect_status: 201
      save: {deposit_token: $.token, order: $.id, compartment: $.box.compartment}
  - http: {path: "/v1/donations/${order}", save: {state: /state}}
)",
                                    kScenarios / "inline.yaml", with_base_url());
  ASSERT_TRUE(r.passed) << joined(r);
  EXPECT_EQ(r.vars.at("deposit_token"), "RC1:ABC");
  EXPECT_EQ(r.vars.at("order"), "42");
  EXPECT_EQ(r.vars.at("compartment"), "3");
  EXPECT_EQ(r.vars.at("state"), "deposited");
  EXPECT_EQ(nlohmann::json::parse(last_body_),
            nlohmann::json::parse(R"({"box_id":"box-0001","size":"L"})"));
  EXPECT_EQ(last_auth_, "Bearer s3cret");
}

TEST_F(HttpStepTest, SavedNumbersGoBackIntoBodiesAsNumbers) {
  const ScenarioReport r = run_text(R"(
vars: {cli_number: 5}
steps:
  - http: {method: POST, path: /v1/donations, body: {}, save: {order: $.id, box: $.box}}
  - http:
      method: POST
      path: /v1/donations
      body: {order: "${order}", box: "${box}", text: "order ${order}", from_vars: "${cli_number}"}
)",
                                    kScenarios / "inline.yaml", with_base_url());
  ASSERT_TRUE(r.passed) << joined(r);
  EXPECT_EQ(nlohmann::json::parse(last_body_),
            nlohmann::json::parse(R"({"order": 42, "box": {"compartment": 3}, "text": "order 42",
                                      "from_vars": "5"})"));
}

TEST_F(HttpStepTest, AnUnexpectedStatusFailsWithTheAnswer) {
  const ScenarioReport r = run_text(R"(
steps:
  - http: {path: /v1/unknown}
)",
                                    kScenarios / "inline.yaml", with_base_url());
  EXPECT_FALSE(r.passed);
  EXPECT_NE(r.failure.find("step 1 (http, inline.yaml:3): GET http://127.0.0.1:"),
            std::string::npos)
      << r.failure;
  EXPECT_NE(r.failure.find("answered 404"), std::string::npos) << r.failure;
}

TEST_F(HttpStepTest, SavingAFieldTheAnswerLacksFails) {
  const ScenarioReport r = run_text(R"(
steps:
  - http: {method: POST, path: /v1/donations, body: {}, save: {t: $.nothing}}
)",
                                    kScenarios / "inline.yaml", with_base_url());
  EXPECT_FALSE(r.passed);
  EXPECT_NE(r.failure.find("save t: the response has nothing at $.nothing"), std::string::npos)
      << r.failure;
}

TEST(ScenarioRunTest, AnUnreachableServerFailsTheHttpStep) {
  const ScenarioReport r = run_text(
      "steps:\n  - http: {url: 'http://127.0.0.1:1/x', timeout: 1s}\n", kScenarios / "inline.yaml");
  EXPECT_FALSE(r.passed);
  EXPECT_NE(r.failure.find("GET http://127.0.0.1:1/x: "), std::string::npos) << r.failure;
}

}  // namespace
}  // namespace reclothes::simulator
