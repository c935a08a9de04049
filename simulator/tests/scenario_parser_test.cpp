// Scenario files: good ones parse into the steps they say; every mistake is refused with the file,
// the line and the step named.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "reclothes/simulator/scenario.h"
#include "test_util.h"

namespace reclothes::simulator {
namespace {

using std::chrono::milliseconds;

Scenario parse_ok(const std::string& text) {
  auto s = parse_scenario(text, "good.yaml");
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
  return s.ok() ? *s : Scenario{};
}

std::string parse_error(const std::string& text, const std::string& file = "bad.yaml") {
  auto s = parse_scenario(text, file);
  EXPECT_FALSE(s.ok()) << "parsed although it should not:\n" << text;
  if (s.ok()) return "";
  EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
  return s.error().message;
}

TEST(ScenarioParserTest, AFullFileParsesIntoItsSteps) {
  const Scenario s = parse_ok(R"(
name: courier visit
description: a courier loads compartment 3
vars:
  key: keys/dev.pem
  compartment: 3
steps:
  - start: {box: box-0001, config: box.json, broker: none, auto_open: 300ms}
  - mint: {key: "${key}", action: courier_load, compartments: [3], save_as: tok}
  - present: "${tok}"
  - expect_compartment: {compartment: "${compartment}", state: unlocked, within: 2s}
  - open_door: 3
  - close_door: 3
  - expect_event: {kind: access_completed, compartment: 3, within: 1.5s}
  - wait: 250ms
  - pull_network:
  - http:
      method: POST
      path: /v1/orders
      body: {box_id: box-0001, items: [1, 2]}
      expect_status: [200, 201]
      save: {order: $.id}
)");
  EXPECT_EQ(s.name, "courier visit");
  EXPECT_EQ(s.vars.at("key"), "keys/dev.pem");
  ASSERT_EQ(s.steps.size(), 10u);
  EXPECT_EQ(s.steps[0].kind, "start");
  EXPECT_EQ(s.steps[0].line, 8);
  EXPECT_EQ(s.steps[0].args["auto_open"], "300ms");
  // A shorthand scalar lands in its field; the only started box is filled in.
  EXPECT_EQ(s.steps[2].args["token"], "${tok}");
  EXPECT_EQ(s.steps[2].args["box"], "box-0001");
  EXPECT_EQ(s.steps[4].args["compartment"], 3);
  EXPECT_EQ(s.steps[7].args["for"], "250ms");
  EXPECT_EQ(s.steps[8].args["box"], "box-0001");
  EXPECT_EQ(s.steps[9].index, 10u);
  EXPECT_EQ(s.steps[9].line, 17);
  EXPECT_EQ(s.steps[9].args["body"]["items"], nlohmann::json::array({1, 2}));
  EXPECT_EQ(s.steps[9].args["save"]["order"], "$.id");
  EXPECT_EQ(describe(s, s.steps[3]), "step 4 (expect_compartment, good.yaml:11)");
}

TEST(ScenarioParserTest, JsonFilesAreReadToo) {
  const Scenario s = parse_ok(R"({
  "name": "json",
  "steps": [
    {"start": {"box": "b1", "config": "b.json"}},
    {"open_door": {"compartment": 2}},
    {"expect_event": "door_opened"}
  ]
})");
  ASSERT_EQ(s.steps.size(), 3u);
  EXPECT_EQ(s.steps[1].args["compartment"], 2);
  EXPECT_EQ(s.steps[2].args["kind"], "door_opened");
  EXPECT_EQ(s.steps[2].line, 6);
}

TEST(ScenarioParserTest, QuotedScalarsStayStringsAndPlainOnesAreTyped) {
  const Scenario s = parse_ok(R"(
steps:
  - set: {a: "3", b: 3, c: true, d: "true", e: 1.5}
)");
  const auto& a = s.steps[0].args;
  EXPECT_TRUE(a["a"].is_string());
  EXPECT_TRUE(a["b"].is_number_integer());
  EXPECT_TRUE(a["c"].is_boolean());
  EXPECT_TRUE(a["d"].is_string());
  EXPECT_TRUE(a["e"].is_number_float());
}

struct BadCase {
  const char* name;
  const char* text;
  const char* expected;  // the message must contain this
};

class ScenarioParserErrors : public ::testing::TestWithParam<BadCase> {};

TEST_P(ScenarioParserErrors, NameFileLineAndProblem) {
  const std::string message = parse_error(GetParam().text);
  EXPECT_NE(message.find(GetParam().expected), std::string::npos)
      << "message: " << message << "\nexpected to contain: " << GetParam().expected;
}

INSTANTIATE_TEST_SUITE_P(
    Files, ScenarioParserErrors,
    ::testing::Values(
        BadCase{"yaml_syntax", "steps:\n  - start: {box: b\n", "bad.yaml:3:1: not valid YAML"},
        BadCase{"not_a_mapping", "- just a list\n", "bad.yaml:1: a scenario is a mapping"},
        BadCase{"unknown_top_key", "name: x\nstep:\n  - wait: 1s\n",
                "bad.yaml:2: unknown key \"step\""},
        BadCase{"no_steps", "name: x\n", "bad.yaml:1: steps must be a non-empty list"},
        BadCase{"empty_steps", "steps: []\n", "steps must be a non-empty list"},
        BadCase{"unknown_step", "steps:\n  - wait: 1s\n  - opne_door: 3\n",
                "bad.yaml:3: step 2: unknown step \"opne_door\" (known: start,"},
        BadCase{"two_kinds_in_one_step", "steps:\n  - {wait: 1s, log: x}\n",
                "bad.yaml:2: step 1: a step is one `kind: arguments` pair"},
        BadCase{"unknown_field",
                "steps:\n  - start: {box: b, config: c.json}\n"
                "  - expect_compartment: {compartment: 3, stat: open}\n",
                "bad.yaml:3: step 2 (expect_compartment): unknown field \"stat\" (known: box, "
                "compartment, state"},
        BadCase{"missing_field", "steps:\n  - start: {box: b}\n",
                "bad.yaml:2: step 1 (start): missing field \"config\""},
        BadCase{"wrong_type", "steps:\n  - start: {box: b, config: c}\n  - open_door: three\n",
                "bad.yaml:3: step 2 (open_door): compartment: expected an integer, got \"three\""},
        BadCase{"bad_duration",
                "steps:\n  - start: {box: b, config: c}\n  - expect_event: {kind: boot, within: "
                "soon}\n",
                "step 2 (expect_event): within: expected a duration like 2s"},
        BadCase{"bad_wait", "steps:\n  - wait: 2 weeks\n",
                "bad.yaml:2: step 1 (wait): for: expected a duration"},
        BadCase{"bad_auto_open", "steps:\n  - start: {box: b, config: c, auto_open: maybe}\n",
                "auto_open: expected true, false or a duration"},
        BadCase{"bad_status", "steps:\n  - http: {url: 'http://x/', expect_status: 42}\n",
                "expect_status: an HTTP status is 100..599"},
        BadCase{"http_url_and_path", "steps:\n  - http: {url: 'http://x/a', path: /a}\n",
                "step 1 (http): give either url or path"},
        BadCase{"which_box",
                "steps:\n  - start: {box: a, config: c}\n  - start: {box: b, config: c}\n"
                "  - open_door: 1\n",
                "bad.yaml:4: step 3 (open_door): which box? several are started (a, b)"},
        BadCase{"duplicate_key", "steps:\n  - start: {box: a, box: b, config: c}\n",
                "bad.yaml:2: duplicate key \"box\""},
        BadCase{"bad_compartments",
                "steps:\n  - start: {box: a, config: c}\n"
                "  - mint: {key: k, compartments: [0], save_as: t}\n",
                "compartments: compartments are 1..255"},
        BadCase{"set_needs_mapping", "steps:\n  - set: 3\n",
                "step 1 (set): expected a mapping of variable: value"},
        BadCase{"shorthand_not_allowed", "steps:\n  - set_fill: 3\n",
                "step 1 (set_fill): expected a mapping of box, compartment, percent"},
        // Found by fuzz/fuzz_scenario: the duration's error message printed the value with
        // nlohmann, which threw on the stray byte, and reclothes-sim died (std::terminate).
        BadCase{"not_utf8", "steps:\n  - wait: \"\xff\"\n",
                "bad.yaml:2: text that is not valid UTF-8"}),

    [](const auto& param_info) { return std::string(param_info.param.name); });

// Aliases are counted at every use: lists of ten aliases of the list before stand for a million
// values here, refused before anything is converted (checked with fuzz/fuzz_scenario: two more
// levels and the conversion of the steps to JSON ran for minutes; before, this one parsed).
TEST(ScenarioParserTest, AnAliasBombIsRefused) {
  std::string text =
      "steps:\n  - http: {url: 'http://x/', body: &a0 [x, x, x, x, x, x, x, x, x, x]}\n";
  for (int i = 1; i < 6; ++i) {
    std::string items;
    for (int j = 0; j < 10; ++j) items += (j != 0 ? ", *a" : "*a") + std::to_string(i - 1);
    text += "  - http: {url: 'http://x/', body: &a" + std::to_string(i) + " [" + items + "]}\n";
  }
  const std::string message = parse_error(text);
  EXPECT_NE(message.find("more than 100000 values"), std::string::npos) << message;
}

// `include` splices another file's steps in; its vars are defaults under the includer's.
TEST(ScenarioParserTest, IncludedStepsRunInPlaceAndNameTheirFile) {
  const testing::TempDir dir = testing::temp_dir();
  const auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
  };
  write("setup.yaml",
        "vars: {who: setup, only_setup: 1}\nsteps:\n  - log: from setup\n  - wait: 1s\n");
  write("main.yaml",
        "vars: {who: main}\nsteps:\n  - log: first\n  - include: setup.yaml\n  - log: last\n");
  write("loop.yaml", "steps:\n  - include: loop.yaml\n");
  write("broken.yaml", "steps:\n  - log: ok\n  - nope: 1\n");
  write("uses_broken.yaml", "steps:\n  - include: broken.yaml\n");

  auto s = load_scenario(dir / "main.yaml");
  ASSERT_TRUE(s.ok()) << s.error().message;
  ASSERT_EQ(s->steps.size(), 4u);
  EXPECT_EQ(s->steps[1].kind, "log");
  EXPECT_EQ(s->steps[1].args["message"], "from setup");
  EXPECT_EQ(s->steps[2].kind, "wait");
  EXPECT_EQ(s->steps[3].index, 4u);
  EXPECT_EQ(describe(*s, s->steps[2]), "step 3 (wait, setup.yaml:4)");
  EXPECT_EQ(describe(*s, s->steps[3]), "step 4 (log, main.yaml:5)");
  EXPECT_EQ(s->vars.at("who"), "main");
  EXPECT_EQ(s->vars.at("only_setup"), "1");

  auto loop = load_scenario(dir / "loop.yaml");
  ASSERT_FALSE(loop.ok());
  EXPECT_NE(loop.error().message.find("nest deeper than 8"), std::string::npos)
      << loop.error().message;
  auto broken = load_scenario(dir / "uses_broken.yaml");
  ASSERT_FALSE(broken.ok());
  EXPECT_NE(broken.error().message.find("broken.yaml:3: step 2: unknown step \"nope\""),
            std::string::npos)
      << broken.error().message;
  auto missing = parse_scenario("steps:\n  - include: nowhere.yaml\n", dir / "x.yaml");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("x.yaml:2: step 1 (include): "), std::string::npos)
      << missing.error().message;
  EXPECT_NE(missing.error().message.find("no such scenario file"), std::string::npos);
}

TEST(ScenarioParserTest, LoadingAMissingFileNamesIt) {
  auto s = load_scenario("/nonexistent/dir/x.yaml");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kNotFound);
  EXPECT_NE(s.error().message.find("/nonexistent/dir/x.yaml"), std::string::npos);
}

TEST(ScenarioParserTest, DurationsInEveryUnit) {
  EXPECT_EQ(parse_duration("2s").value(), milliseconds(2000));
  EXPECT_EQ(parse_duration("500ms").value(), milliseconds(500));
  EXPECT_EQ(parse_duration("1.5s").value(), milliseconds(1500));
  EXPECT_EQ(parse_duration("2m").value(), milliseconds(120'000));
  EXPECT_EQ(parse_duration("1h").value(), milliseconds(3'600'000));
  EXPECT_EQ(parse_duration(3).value(), milliseconds(3000));
  EXPECT_EQ(parse_duration("-1m").value(), milliseconds(-60'000));
  EXPECT_FALSE(parse_duration("fast").ok());
  EXPECT_FALSE(parse_duration(nlohmann::json::array()).ok());
}

TEST(ScenarioParserTest, JsonPathsAndPointersExtractValues) {
  const nlohmann::json doc = nlohmann::json::parse(
      R"({"token": "RC1:X", "order": {"id": 7, "lines": [{"sku": "a"}, {"sku": "b"}]}})");
  EXPECT_EQ(extract_path(doc, "$.token").value(), "RC1:X");
  EXPECT_EQ(extract_path(doc, "$.order.id").value(), 7);
  EXPECT_EQ(extract_path(doc, "$.order.lines[1].sku").value(), "b");
  EXPECT_EQ(extract_path(doc, "$['order']['id']").value(), 7);
  EXPECT_EQ(extract_path(doc, "/order/lines/0/sku").value(), "a");
  EXPECT_EQ(extract_path(doc, "$.missing").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(extract_path(doc, "token").error().code, ErrorCode::kInvalidArgument);
}

TEST(ScenarioParserTest, TheShippedExampleScenariosAreValid) {
  std::size_t found = 0;
  for (const auto& entry : std::filesystem::directory_iterator(RECLOTHES_SIM_SCENARIOS_DIR)) {
    const auto ext = entry.path().extension();
    if (ext != ".yaml" && ext != ".json") continue;
    if (entry.path().filename().string().find("box") == 0) continue;  // box configurations
    auto s = load_scenario(entry.path());
    EXPECT_TRUE(s.ok()) << entry.path() << ": " << (s.ok() ? "" : s.error().message);
    ++found;
  }
  EXPECT_GE(found, 3u);
}

}  // namespace
}  // namespace reclothes::simulator
