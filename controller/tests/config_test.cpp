#include "reclothes/controller/config.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace reclothes::controller {
namespace {

nlohmann::json minimal() {
  return {{"database", {{"conninfo", "host=127.0.0.1 dbname=x"}}},
          {"public_listener", {{"host", "0.0.0.0"}, {"port", 8080}}},
          {"internal_listener", {{"host", "127.0.0.1"}, {"port", 8081}}},
          {"mqtt", {{"uri", "tcp://127.0.0.1:1883"}, {"client_id", "c1"}}},
          {"tokens", {{"key_dir", "/tmp/keys"}}}};
}

TEST(Config, MinimalConfigGetsDefaults) {
  auto c = parse_config(minimal().dump());
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->database.conninfo, "host=127.0.0.1 dbname=x");
  EXPECT_EQ(c->database.pool_size, 8);
  EXPECT_EQ(c->public_listener.port, 8080);
  EXPECT_EQ(c->internal_listener.host, "127.0.0.1");
  EXPECT_EQ(c->http.body_limit_bytes, 64u * 1024u);
  EXPECT_EQ(c->http.min_request_rate, 1024u);
  EXPECT_EQ(c->http.max_unfinished_per_address, 32u);
  EXPECT_EQ(c->throttle.max_failures_per_account, 5);
  EXPECT_EQ(c->sessions.cache_ttl, std::chrono::milliseconds(10000));
  EXPECT_EQ(c->mqtt.client_id, "c1");
  EXPECT_EQ(c->log.format, LogFormat::kText);
}

TEST(Config, FullConfigIsRead) {
  auto j = minimal();
  j["internal_allow"] = {"10.0.0.0/8", "fd00::/8"};
  j["http"] = {{"body_limit_bytes", 1024},
               {"min_request_rate_bytes_per_s", 0},
               {"max_unfinished_requests_per_address", 4}};
  j["sessions"] = {
      {"customer_ttl_s", 60}, {"staff_ttl_s", 30}, {"cache_ttl_ms", 0}, {"cache_max_entries", 50}};
  j["passwords"] = {{"opslimit", 1}, {"memlimit_bytes", 8192}, {"min_length", 12}};
  j["throttle"] = {
      {"window_s", 10}, {"max_failures_per_account", 3}, {"max_failures_per_address", 7}};
  j["log"] = {{"level", "debug"}, {"format", "json"}};
  j["mqtt"]["keepalive_s"] = 5;
  j["mqtt"]["retry_capacity"] = 0;
  j["mqtt"]["retry_bytes"] = 65536;
  j["domain"] = {{"payments", {{"sandbox", true}}}, {"donations", {{"reservation_s", 600}}}};
  auto c = parse_config(j.dump());
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->internal_allow.size(), 2u);
  EXPECT_EQ(c->http.body_limit_bytes, 1024u);
  EXPECT_EQ(c->http.min_request_rate, 0u);
  EXPECT_EQ(c->http.max_unfinished_per_address, 4u);
  EXPECT_EQ(c->sessions.staff_ttl, std::chrono::seconds(30));
  EXPECT_EQ(c->sessions.cache_ttl, std::chrono::milliseconds(0));
  EXPECT_EQ(c->sessions.cache_max_entries, 50u);
  EXPECT_EQ(c->passwords.memlimit, 8192u);
  EXPECT_EQ(c->throttle.max_failures_per_address, 7);
  EXPECT_EQ(c->log.format, LogFormat::kJson);
  EXPECT_EQ(c->mqtt.keepalive, std::chrono::seconds(5));
  EXPECT_EQ(c->mqtt.retry_capacity, 0u);
  EXPECT_EQ(c->mqtt.retry_bytes, 65536u);
  EXPECT_TRUE(c->domain.payments.sandbox);
  EXPECT_EQ(c->domain.donations.reservation, std::chrono::seconds(600));
  EXPECT_EQ(c->domain.collecting.compartment_threshold, 3);  // the domain's own default
}

struct BadCase {
  const char* name;
  std::function<void(nlohmann::json&)> mutate;
  const char* field;
};

TEST(Config, ErrorsNameTheField) {
  const std::vector<BadCase> cases = {
      {"missing database", [](auto& j) { j.erase("database"); }, "/database"},
      {"wrong type", [](auto& j) { j["public_listener"]["port"] = "80"; }, "/public_listener/port"},
      {"out of range", [](auto& j) { j["public_listener"]["port"] = 70000; },
       "/public_listener/port"},
      {"unknown key", [](auto& j) { j["mqtt"]["urii"] = "x"; }, "/mqtt/urii"},
      {"unknown top key", [](auto& j) { j["extra"] = 1; }, "/extra"},
      {"negative cache ttl",
       [](auto& j) {
         j["sessions"] = {{"cache_ttl_ms", -1}};
       },
       "/sessions/cache_ttl_ms"},
      {"bad cidr",
       [](auto& j) {
         j["internal_allow"] = {"10.0.0.0/8", "10.0.0.1/8"};
       },
       "/internal_allow/1"},
      {"bad log format",
       [](auto& j) {
         j["log"] = {{"format", "xml"}};
       },
       "/log/format"},
      {"argon2 below minimum",
       [](auto& j) {
         j["passwords"] = {{"memlimit_bytes", 100}};
       },
       "/passwords/memlimit_bytes"},
      {"cert without key", [](auto& j) { j["mqtt"]["cert_file"] = "/c.pem"; }, "/mqtt/key_file"},
      {"domain typo",
       [](auto& j) {
         j["domain"] = {{"donations", {{"reservation", 60}}}};
       },
       "/domain: /donations/reservation"},
      {"domain not an object", [](auto& j) { j["domain"] = 5; }, "/domain"},
      {"negative retry bytes", [](auto& j) { j["mqtt"]["retry_bytes"] = -1; }, "/mqtt/retry_bytes"},
  };
  for (const auto& bad : cases) {
    auto j = minimal();
    bad.mutate(j);
    auto c = parse_config(j.dump());
    ASSERT_FALSE(c.ok()) << bad.name;
    EXPECT_EQ(c.error().code, ErrorCode::kInvalidArgument) << bad.name;
    EXPECT_NE(c.error().message.find(bad.field), std::string::npos)
        << bad.name << ": " << c.error().message;
  }
}

TEST(Config, NotJsonIsRefused) {
  auto c = parse_config("{not json");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("not valid JSON"), std::string::npos);
}

TEST(Config, MissingFileIsNotFound) {
  auto c = load_config("/nonexistent/reclothes.json");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace reclothes::controller
