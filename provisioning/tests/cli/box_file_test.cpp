// The box configuration as the CLI writes and reads it. (That the firmware accepts what the CLI
// writes is proved against firmware::load_config in the integration test, which may link the
// firmware; the CLI itself does not.)
#include "reclothes/provisioning/cli/box_file.h"

#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>

namespace reclothes::provisioning::cli {
namespace {

BoxFile sample() {
  BoxFile f;
  f.box_id = "box-0042";
  f.journal_path = "journal.db";
  f.broker.uri = "ssl://broker.example:8883";
  f.broker.keepalive_s = 20;
  f.trusted_keys = {{1, "-----BEGIN PUBLIC KEY-----\nAA==\n-----END PUBLIC KEY-----\n", false},
                    {2, "-----BEGIN PUBLIC KEY-----\nAB==\n-----END PUBLIC KEY-----\n", true}};
  auto plan = parse_shorthand("S:1,XL:1");
  f.cabinet = *plan;
  f.cabinet.compartments[0].pins = CompartmentPins{"gpiochip0", 17, false, 27, true};
  f.cabinet.compartments[0].fill_sensor = true;
  f.cabinet.compartments[1].pins = CompartmentPins{"gpiochip0", 5, true, 6, false};
  f.cabinet.compartments[1].pulse = std::chrono::milliseconds(700);
  f.cabinet.tamper = GpioPin{"gpiochip0", 4, false};
  f.backend = Backend::kLinux;
  f.camera = CameraSettings{"/dev/video2", 320, 240, 5};
  f.state_report_interval_s = 30;
  return f;
}

TEST(BoxFileTest, RenderedFileParsesBackToTheSameModel) {
  const BoxFile f = sample();
  const std::string text = render_box_file(f);
  auto back = parse_box_file(text);
  ASSERT_TRUE(back.ok()) << back.error().to_string() << "\n" << text;
  EXPECT_EQ(*back, f);
}

TEST(BoxFileTest, RenderedFileUsesTheFirmwareFieldNames) {
  const auto j = nlohmann::json::parse(render_box_file(sample()));
  EXPECT_EQ(j["box_id"], "box-0042");
  EXPECT_EQ(j["broker"]["tls"]["cert"], "box.crt");
  EXPECT_EQ(j["broker"]["tls"]["key"], "box.key");
  EXPECT_EQ(j["broker"]["tls"]["ca"], "ca.crt");
  EXPECT_EQ(j["broker"]["keepalive_s"], 20);
  EXPECT_EQ(j["compartments"][0]["id"], 1);
  EXPECT_EQ(j["compartments"][0]["pin"]["lock_line"], 17);
  EXPECT_EQ(j["compartments"][0]["pin"]["door_active_low"], true);
  EXPECT_EQ(j["compartments"][1]["pulse_ms"], 700);
  EXPECT_EQ(j["hal"]["backend"], "linux");
  EXPECT_EQ(j["hal"]["tamper"]["line"], 4);
  EXPECT_FALSE(j["hal"].contains("led_red"));
  EXPECT_EQ(j["trusted_keys"][1]["retired"], true);
  EXPECT_EQ(j["camera"]["device"], "/dev/video2");
  EXPECT_EQ(j["state_report_interval_s"], 30);
}

TEST(BoxFileTest, FieldsTheCliDoesNotModelAreIgnoredButModelledOnesAreChecked) {
  nlohmann::json j = nlohmann::json::parse(render_box_file(sample()));
  j["timeouts"] = {{"door_ajar_s", 300}};
  j["broker"]["client_id"] = "custom";
  auto ok = parse_box_file(j.dump());
  ASSERT_TRUE(ok.ok()) << ok.error().to_string();

  struct Case {
    std::function<void(nlohmann::json&)> damage;
    const char* expected;
  };
  const Case cases[] = {
      {[](nlohmann::json& c) { c.erase("box_id"); }, "/box_id: missing"},
      {[](nlohmann::json& c) { c["broker"]["keepalive_s"] = 1; }, "/broker/keepalive_s"},
      {[](nlohmann::json& c) { c["compartments"][1]["id"] = 7; }, "/compartments/1/id"},
      {[](nlohmann::json& c) { c["compartments"][0]["size"] = "m"; }, "/compartments/0/size"},
      {[](nlohmann::json& c) { c["compartments"][0]["pin"]["lock_line"] = "17"; },
       "/compartments/0/pin/lock_line"},
      {[](nlohmann::json& c) { c["hal"]["backend"] = "gpio"; }, "/hal/backend"},
      {[](nlohmann::json& c) { c["trusted_keys"][0].erase("public_key_pem"); },
       "/trusted_keys/0: needs public_key_pem or public_key_file"},
      {[](nlohmann::json& c) { c["camera"]["fps"] = 0; }, "/camera/fps"},
  };
  for (const Case& c : cases) {
    nlohmann::json damaged = j;
    c.damage(damaged);
    auto r = parse_box_file(damaged.dump());
    ASSERT_FALSE(r.ok()) << c.expected;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message.find(c.expected), std::string::npos) << r.error().message;
  }
  EXPECT_FALSE(parse_box_file("{").ok());
  EXPECT_FALSE(parse_box_file("[]").ok());
}

TEST(BoxFileTest, RelativeNamesResolveAgainstTheFilesDirectory) {
  EXPECT_EQ(resolve("/etc/reclothes/box.json", "box.key"), "/etc/reclothes/box.key");
  EXPECT_EQ(resolve("/etc/reclothes/box.json", "/srv/box.key"), "/srv/box.key");
  EXPECT_EQ(resolve("box.json", "box.key"), "box.key");
}

TEST(BoxFileTest, MissingFileIsNotFoundNamingIt) {
  auto r = load_box_file("/nonexistent/box.json");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  EXPECT_NE(r.error().message.find("/nonexistent/box.json"), std::string::npos);
}

}  // namespace
}  // namespace reclothes::provisioning::cli
