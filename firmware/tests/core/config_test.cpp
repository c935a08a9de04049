#include "reclothes/firmware/config.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "reclothes/firmware/sim_config.h"
#include "test_util.h"

#if __has_include("reclothes/hal/linux/pin_map.h")
#include "reclothes/firmware/linux_config.h"
#define HAVE_LINUX_CONFIG 1
#endif

namespace reclothes::firmware {
namespace {

using Json = nlohmann::json;
using testing::temp_dir;
using testing::TempDir;

std::filesystem::path example_path() {
  return std::filesystem::path(__FILE__).parent_path().parent_path().parent_path() / "config" /
         "box.example.json";
}

Json example() {
  std::ifstream in(example_path());
  std::stringstream text;
  text << in.rdbuf();
  return Json::parse(text.str());
}

TEST(Config, TheShippedExampleParses) {
  auto config = load_config(example_path());
  ASSERT_TRUE(config.ok()) << config.error().to_string();
  EXPECT_EQ(config->box_id, "box-0001");
  EXPECT_EQ(config->journal_path, "/var/lib/reclothes/journal.db");
  EXPECT_EQ(config->broker.client_id, "box-0001");  // defaults to the box id
  ASSERT_TRUE(config->broker.tls.has_value());
  EXPECT_EQ(config->broker.tls->cert, std::filesystem::path("/etc/reclothes/box.crt"));
  ASSERT_EQ(config->trusted_keys.size(), 1u);
  EXPECT_EQ(config->trusted_keys[0].key_id, 1);
  ASSERT_EQ(config->compartments.size(), 4u);
  EXPECT_EQ(config->compartments[3].size, CompartmentSize::kXL);
  EXPECT_EQ(config->compartments[3].pulse, std::chrono::milliseconds(600));
  EXPECT_TRUE(config->compartments[3].pin->lock_active_low);
  EXPECT_EQ(config->compartments[0].pin->lock_line, 17u);
  EXPECT_EQ(config->hal.backend, HalBackend::kSim);
  ASSERT_TRUE(config->camera.has_value());
  EXPECT_EQ(config->camera->fps, 10u);
  EXPECT_EQ(config->timeouts.door_ajar, std::chrono::seconds(120));
  EXPECT_EQ(config->state_report_interval, std::chrono::seconds(60));

  const auto sim = to_sim_config(*config);
  EXPECT_EQ(sim.compartments, 4u);
  EXPECT_TRUE(sim.fill_sensors);
}

TEST(Config, OptionalSectionsTakeTheirDefaults) {
  Json j = example();
  j.erase("timeouts");
  j.erase("camera");
  j.erase("trusted_keys");
  j.erase("state_report_interval_s");
  j["broker"] = {{"uri", "tcp://127.0.0.1:1883"}};
  j["compartments"] = Json::array({{{"id", 1}, {"size", "M"}}});
  auto config = parse_config(j.dump());
  ASSERT_TRUE(config.ok()) << config.error().to_string();
  EXPECT_FALSE(config->camera.has_value());
  EXPECT_TRUE(config->trusted_keys.empty());
  EXPECT_EQ(config->compartments[0].pulse, std::chrono::milliseconds(500));
  EXPECT_FALSE(config->compartments[0].fill_sensor);
  EXPECT_EQ(config->timeouts.door_open_after_unlock, std::chrono::seconds(15));
  EXPECT_EQ(config->broker.keepalive, std::chrono::seconds(30));
}

struct BadField {
  const char* name;
  std::function<void(Json&)> mutate;
  const char* expected;  // the start of the error message
};

class ConfigBadField : public ::testing::TestWithParam<BadField> {};

TEST_P(ConfigBadField, IsRefusedNamingTheField) {
  Json j = example();
  GetParam().mutate(j);
  auto config = parse_config(j.dump());
  ASSERT_FALSE(config.ok()) << GetParam().name;
  EXPECT_EQ(config.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(config.error().message.rfind(GetParam().expected, 0), 0u)
      << "got: " << config.error().message;
}

const BadField kBadFields[] = {
    {"lock line as string", [](Json& j) { j["compartments"][2]["pin"]["lock_line"] = "17"; },
     "/compartments/2/pin/lock_line: expected an integer 0..1023, got the string \"17\""},
    {"negative door line", [](Json& j) { j["compartments"][0]["pin"]["door_line"] = -1; },
     "/compartments/0/pin/door_line: expected an integer"},
    {"bad box id", [](Json& j) { j["box_id"] = "box 1!"; }, "/box_id: expected 1..32 characters"},
    {"box id number", [](Json& j) { j["box_id"] = 7; }, "/box_id: expected a string"},
    {"missing journal", [](Json& j) { j.erase("journal_path"); },
     "/journal_path: missing required field"},
    {"empty journal", [](Json& j) { j["journal_path"] = ""; }, "/journal_path: must not be empty"},
    {"ids not consecutive", [](Json& j) { j["compartments"][1]["id"] = 5; },
     "/compartments/1/id: expected 2"},
    {"bad size", [](Json& j) { j["compartments"][0]["size"] = "XXL"; },
     "/compartments/0/size: expected one of"},
    {"missing size", [](Json& j) { j["compartments"][0].erase("size"); },
     "/compartments/0/size: missing required field"},
    {"pulse too long", [](Json& j) { j["compartments"][0]["pulse_ms"] = 3000; },
     "/compartments/0/pulse_ms: expected an integer 50..2000, got 3000"},
    {"pulse too short", [](Json& j) { j["compartments"][3]["pulse_ms"] = 10; },
     "/compartments/3/pulse_ms"},
    {"pulse as float", [](Json& j) { j["compartments"][3]["pulse_ms"] = 400.5; },
     "/compartments/3/pulse_ms: expected an integer"},
    {"fill sensor as string", [](Json& j) { j["compartments"][3]["fill_sensor"] = "yes"; },
     "/compartments/3/fill_sensor: expected a boolean"},
    {"unknown compartment field", [](Json& j) { j["compartments"][0]["pulse"] = 400; },
     "/compartments/0/pulse: unknown field"},
    {"unknown top-level field", [](Json& j) { j["boxid"] = "x"; }, "/boxid: unknown field"},
    {"no compartments", [](Json& j) { j["compartments"] = Json::array(); },
     "/compartments: expected 1..64 compartments"},
    {"compartments not an array", [](Json& j) { j["compartments"] = Json::object(); },
     "/compartments: expected an array"},
    {"broker uri scheme", [](Json& j) { j["broker"]["uri"] = "http://broker:80"; },
     "/broker/uri: expected tcp://"},
    {"ssl without tls", [](Json& j) { j["broker"].erase("tls"); },
     "/broker/tls: required for a ssl:// uri"},
    {"cert without key", [](Json& j) { j["broker"]["tls"].erase("key"); },
     "/broker/tls/key: cert and key must be given together"},
    {"tls without ca", [](Json& j) { j["broker"]["tls"].erase("ca"); },
     "/broker/tls/ca: missing required field"},
    {"keepalive too short", [](Json& j) { j["broker"]["keepalive_s"] = 1; }, "/broker/keepalive_s"},
    {"password without user", [](Json& j) { j["broker"]["password"] = "x"; },
     "/broker/password: given without a username"},
    {"bad pem", [](Json& j) { j["trusted_keys"][0]["public_key_pem"] = "garbage"; },
     "/trusted_keys/0/public_key_pem: "},
    {"pem and file", [](Json& j) { j["trusted_keys"][0]["public_key_file"] = "k.pem"; },
     "/trusted_keys/0: give exactly one of"},
    {"duplicate key id", [](Json& j) { j["trusted_keys"].push_back(j["trusted_keys"][0]); },
     "/trusted_keys/1/key_id: key id 1 is already used by /trusted_keys/0"},
    {"key id too big", [](Json& j) { j["trusted_keys"][0]["key_id"] = 70000; },
     "/trusted_keys/0/key_id: expected an integer 0..65535"},
    {"retired as int", [](Json& j) { j["trusted_keys"][0]["retired"] = 1; },
     "/trusted_keys/0/retired: expected a boolean"},
    {"ajar too short", [](Json& j) { j["timeouts"]["door_ajar_s"] = 1; },
     "/timeouts/door_ajar_s: expected an integer 10..86400"},
    {"negative leeway", [](Json& j) { j["timeouts"]["token_leeway_s"] = -1; },
     "/timeouts/token_leeway_s"},
    {"unknown timeout", [](Json& j) { j["timeouts"]["jam_s"] = 3; },
     "/timeouts/jam_s: unknown field"},
    {"bad backend", [](Json& j) { j["hal"]["backend"] = "gpio"; },
     "/hal/backend: expected \"sim\" or \"linux\""},
    {"missing hal", [](Json& j) { j.erase("hal"); }, "/hal: missing required field"},
    {"camera fps", [](Json& j) { j["camera"]["fps"] = 0; },
     "/camera/fps: expected an integer 1..60"},
    {"report interval float", [](Json& j) { j["state_report_interval_s"] = 1.5; },
     "/state_report_interval_s: expected an integer"},
    {"null value", [](Json& j) { j["camera"]["device"] = nullptr; },
     "/camera/device: expected a string, got null"},
    {"linux without pin",
     [](Json& j) {
       j["hal"]["backend"] = "linux";
       j["compartments"][1].erase("pin");
     },
     "/compartments/1/pin: required with the linux backend"},
    {"linux line used twice",
     [](Json& j) {
       j["hal"]["backend"] = "linux";
       j["compartments"][1]["pin"]["door_line"] = 17;
     },
     "/compartments/1/pin/door_line: gpiochip0 line 17 is already used by "
     "/compartments/0/pin/lock_line"},
    {"linux tamper collides",
     [](Json& j) {
       j["hal"] = {{"backend", "linux"}, {"tamper", {{"line", 25}}}};
     },
     "/hal/tamper/line: gpiochip0 line 25 is already used by /compartments/2/pin/door_line"},
};

INSTANTIATE_TEST_SUITE_P(Fields, ConfigBadField, ::testing::ValuesIn(kBadFields),
                         [](const ::testing::TestParamInfo<BadField>& param_info) {
                           std::string name = param_info.param.name;
                           for (char& c : name) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name;
                         });

TEST(Config, DuplicateKeysAreRefusedWithTheirPath) {
  auto top = parse_config(R"({"box_id":"a","box_id":"b"})");
  ASSERT_FALSE(top.ok());
  EXPECT_EQ(top.error().message, "/box_id: duplicate key");

  std::string text = example().dump();
  // Give compartment 2 (index 1) a second "size" key.
  const auto pos = text.find("\"size\":\"M\"");
  ASSERT_NE(pos, std::string::npos);
  text.insert(pos, "\"size\":\"L\",");
  auto nested = parse_config(text);
  ASSERT_FALSE(nested.ok());
  EXPECT_EQ(nested.error().message, "/compartments/1/size: duplicate key");
}

TEST(Config, TextThatIsNotJsonIsRefused) {
  auto config = parse_config("{\"box_id\": ");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(config.error().message.rfind("not valid JSON", 0), 0u);
  EXPECT_FALSE(parse_config("[]").ok());
  EXPECT_FALSE(parse_config("").ok());
}

TEST(Config, PublicKeyFileIsReadRelativeToTheConfigFile) {
  const TempDir dir = temp_dir();
  Json j = example();
  const std::string pem = j["trusted_keys"][0]["public_key_pem"];
  std::ofstream(dir / "controller-1.pem") << pem;
  j["trusted_keys"][0].erase("public_key_pem");
  j["trusted_keys"][0]["public_key_file"] = "controller-1.pem";
  j["journal_path"] = "journal.db";
  std::ofstream(dir / "box.json") << j.dump(2);
  auto config = load_config(dir / "box.json");
  ASSERT_TRUE(config.ok()) << config.error().to_string();
  EXPECT_EQ(config->trusted_keys[0].public_key_pem, pem);
  EXPECT_EQ(config->journal_path, dir / "journal.db");

  j["trusted_keys"][0]["public_key_file"] = "missing.pem";
  std::ofstream(dir / "box.json") << j.dump(2);
  auto missing = load_config(dir / "box.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("/trusted_keys/0/public_key_file"), std::string::npos)
      << missing.error().message;
}

TEST(Config, MissingFileIsNotFound) {
  auto config = load_config("/nonexistent/box.json");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().code, ErrorCode::kNotFound);
}

#ifdef HAVE_LINUX_CONFIG
TEST(Config, LinuxPinMapCarriesEveryPinAndPulse) {
  Json j = example();
  j["hal"] = {{"backend", "linux"},
              {"tamper", {{"line", 4}, {"active_low", true}}},
              {"led_green", {{"line", 12}}}};
  auto config = parse_config(j.dump());
  ASSERT_TRUE(config.ok()) << config.error().to_string();
  auto map = to_pin_map(*config);
  ASSERT_TRUE(map.ok()) << map.error().to_string();
  ASSERT_EQ(map->compartments.size(), 4u);
  EXPECT_EQ(map->compartments[3].lock_line, 5u);
  EXPECT_TRUE(map->compartments[3].lock_active_low);
  EXPECT_EQ(map->compartments[3].pulse, std::chrono::milliseconds(600));
  ASSERT_TRUE(map->tamper.has_value());
  EXPECT_EQ(map->tamper->line, 4u);
  EXPECT_TRUE(map->tamper->active_low);
  EXPECT_TRUE(map->led_green.has_value());
  EXPECT_FALSE(map->led_red.has_value());
  EXPECT_EQ(to_v4l2_config(*config->camera).device, "/dev/video0");
}
#endif

}  // namespace
}  // namespace reclothes::firmware
