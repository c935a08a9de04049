// The --compartments argument: shorthand and JSON pin maps, and the errors a technician sees.
#include "reclothes/provisioning/cli/cabinet_spec.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "reclothes/testsupport/temp_dir.h"

namespace reclothes::provisioning::cli {
namespace {

std::string error_of(const Result<CabinetPlan>& r) {
  return r.ok() ? std::string("(no error)") : r.error().message;
}

TEST(CabinetSpecTest, ShorthandNumbersCompartmentsInTheOrderGiven) {
  auto plan = parse_shorthand("S:2, m:1 ,XL:2");
  ASSERT_TRUE(plan.ok()) << plan.error().to_string();
  ASSERT_EQ(plan->compartments.size(), 5u);
  const std::vector<std::string> sizes = {"S", "S", "M", "XL", "XL"};
  for (std::size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(plan->compartments[i].number, static_cast<int>(i + 1));
    EXPECT_EQ(plan->compartments[i].size, sizes[i]);
    EXPECT_EQ(plan->compartments[i].pulse, kDefaultPulse);
    EXPECT_FALSE(plan->compartments[i].pins);
  }
  EXPECT_FALSE(plan->has_pin_map());
  EXPECT_EQ(describe(*plan), "2 x S, 1 x M, 2 x XL (5 compartments, no pin map)");
}

TEST(CabinetSpecTest, ShorthandErrorsNameTheItem) {
  EXPECT_NE(error_of(parse_shorthand("")).find("empty"), std::string::npos);
  EXPECT_NE(error_of(parse_shorthand("Q:3")).find("\"Q:3\": size must be S, M, L or XL"),
            std::string::npos);
  EXPECT_NE(error_of(parse_shorthand("S:0")).find("\"S:0\": count must be"), std::string::npos);
  EXPECT_NE(error_of(parse_shorthand("S:x")).find("count must be"), std::string::npos);
  EXPECT_NE(error_of(parse_shorthand("S:3x")).find("count must be"), std::string::npos);
  EXPECT_NE(error_of(parse_shorthand("S")).find("expected SIZE:COUNT"), std::string::npos);
  EXPECT_NE(error_of(parse_shorthand("S:2,,M:1")).find("empty item"), std::string::npos);
  EXPECT_NE(error_of(parse_shorthand("S:2,")).find("empty item"), std::string::npos);
  EXPECT_NE(error_of(parse_shorthand("S:40,M:40")).find("more than 64"), std::string::npos);
  EXPECT_TRUE(parse_shorthand("S:32,M:32").ok());
  for (const char* bad : {"", "Q:3", "S:0", "S:-1", "S", "S:2,,M:1", "S:99999999999"}) {
    auto r = parse_shorthand(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument) << bad;
  }
}

constexpr char kPinMap[] = R"({
  "compartments": [
    {"size": "s", "pulse_ms": 400, "fill_sensor": true,
     "pin": {"chip": "gpiochip0", "lock_line": 17, "door_line": 27}},
    {"number": 2, "size": "XL", "pin": {"lock_line": 5, "lock_active_low": true, "door_line": 6}}
  ],
  "tamper": {"line": 4, "active_low": true},
  "led_green": {"chip": "gpiochip1", "line": 1},
  "led_red": {"line": 2}
})";

TEST(CabinetSpecTest, JsonPinMapIsReadCompletely) {
  auto plan = parse_cabinet_json(kPinMap);
  ASSERT_TRUE(plan.ok()) << plan.error().to_string();
  ASSERT_EQ(plan->compartments.size(), 2u);
  const auto& first = plan->compartments[0];
  EXPECT_EQ(first.number, 1);
  EXPECT_EQ(first.size, "S");
  EXPECT_EQ(first.pulse, std::chrono::milliseconds(400));
  EXPECT_TRUE(first.fill_sensor);
  ASSERT_TRUE(first.pins);
  EXPECT_EQ(*first.pins, (CompartmentPins{"gpiochip0", 17, false, 27, false}));
  const auto& second = plan->compartments[1];
  EXPECT_EQ(second.size, "XL");
  EXPECT_EQ(second.pulse, kDefaultPulse);
  EXPECT_EQ(*second.pins, (CompartmentPins{"gpiochip0", 5, true, 6, false}));
  EXPECT_EQ(plan->tamper, (GpioPin{"gpiochip0", 4, true}));
  EXPECT_EQ(plan->led_green, (GpioPin{"gpiochip1", 1, false}));
  EXPECT_EQ(plan->led_red, (GpioPin{"gpiochip0", 2, false}));
  EXPECT_TRUE(plan->has_pin_map());

  auto bare = parse_cabinet_json(R"([{"size": "M"}, {"size": "L"}])");
  ASSERT_TRUE(bare.ok()) << bare.error().to_string();
  EXPECT_EQ(bare->compartments.size(), 2u);
  EXPECT_FALSE(bare->has_pin_map());
}

TEST(CabinetSpecTest, JsonErrorsNameTheField) {
  struct Case {
    const char* json;
    const char* expected;
  };
  const Case cases[] = {
      {R"({"compartments": [{"size": "M", "colour": "red"}]})", "/compartments/0/colour: unknown"},
      {R"({"compartments": [{"size": "Q"}]})", "/compartments/0/size: must be S, M, L or XL"},
      {R"({"compartments": [{}]})", "/compartments/0/size: missing"},
      {R"({"compartments": [{"size": "M", "pulse_ms": 10}]})",
       "/compartments/0/pulse_ms: expected an integer 50..2000, got 10"},
      {R"({"compartments": [{"size": "M", "pulse_ms": "400"}]})",
       "/compartments/0/pulse_ms: expected an integer 50..2000, got the string \"400\""},
      {R"({"compartments": [{"size": "M", "pin": {"lock_line": 1024, "door_line": 1}}]})",
       "/compartments/0/pin/lock_line: expected an integer 0..1023, got 1024"},
      {R"({"compartments": [{"size": "M", "pin": {"lock_line": 3}}]})",
       "/compartments/0/pin/door_line: missing"},
      {R"({"compartments": [{"size": "M"}, {"number": 3, "size": "M"}]})",
       "/compartments/1/number: compartments are numbered 1..N in file order"},
      {R"({"compartments": []})", "/compartments: a box has 1..64 compartments"},
      {R"({"compartments": 3})", "/compartments: expected an array"},
      {R"({"boxes": []})", "/boxes: unknown field"},
      {R"({"compartments": [{"size": "M", "pin": {"lock_line": 1, "door_line": 2}},
                            {"size": "M", "pin": {"lock_line": 2, "door_line": 3}}]})",
       "gpiochip0 line 2 is used by /compartments/0/pin/door_line and "
       "/compartments/1/pin/lock_line"},
      {R"({"compartments": [{"size": "M", "pin": {"lock_line": 1, "door_line": 2}}],
           "tamper": {"line": 1}})",
       "gpiochip0 line 1 is used by /compartments/0/pin/lock_line and /tamper/line"},
      {R"({"compartments": [)", "not valid JSON"},
  };
  for (const Case& c : cases) {
    auto r = parse_cabinet_json(c.json);
    ASSERT_FALSE(r.ok()) << c.json;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument) << c.json;
    EXPECT_NE(r.error().message.find(c.expected), std::string::npos)
        << "got: " << r.error().message << "\nwanted: " << c.expected;
  }
}

TEST(CabinetSpecTest, ArgumentIsAFileOrShorthand) {
  const auto dir = testsupport::TempDir::create_or_throw("reclothes-spec-");
  const auto file = dir / "pins.json";
  std::ofstream(file) << kPinMap;
  auto from_file = load_cabinet_spec(file.string());
  ASSERT_TRUE(from_file.ok()) << from_file.error().to_string();
  EXPECT_TRUE(from_file->has_pin_map());
  auto with_at = load_cabinet_spec("@" + file.string());
  ASSERT_TRUE(with_at.ok()) << with_at.error().to_string();
  EXPECT_EQ(*with_at, *from_file);

  auto missing = load_cabinet_spec((dir / "nope.json").string());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_NE(missing.error().message.find("nope.json"), std::string::npos);

  std::ofstream(dir / "bad.json") << R"({"compartments": [{"size": "Q"}]})";
  auto bad = load_cabinet_spec((dir / "bad.json").string());
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("bad.json: /compartments/0/size"), std::string::npos)
      << bad.error().message;

  auto shorthand = load_cabinet_spec("M:3");
  ASSERT_TRUE(shorthand.ok());
  EXPECT_EQ(shorthand->compartments.size(), 3u);
}

}  // namespace
}  // namespace reclothes::provisioning::cli
