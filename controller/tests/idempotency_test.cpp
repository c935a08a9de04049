// The pure rules of Idempotency-Key (the SQL is tested against PostgreSQL in
// tests/integration/idempotency_test.cpp), and their configuration.
#include "reclothes/controller/idempotency.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace reclothes::controller {
namespace {

TEST(IdempotencyKey, PrintableAsciiOfOneTo255Characters) {
  EXPECT_FALSE(idempotency_key_problem("a"));
  EXPECT_FALSE(idempotency_key_problem("0f8fad5b-d9cb-469f-a165-70867728950e"));
  EXPECT_FALSE(idempotency_key_problem("with space and ~!@#$%^&*()"));
  EXPECT_FALSE(idempotency_key_problem(std::string(255, 'k')));
  EXPECT_TRUE(idempotency_key_problem(""));
  EXPECT_TRUE(idempotency_key_problem(std::string(256, 'k')));
  EXPECT_TRUE(idempotency_key_problem("tab\there"));
  EXPECT_TRUE(idempotency_key_problem("caf\xc3\xa9"));
  EXPECT_TRUE(idempotency_key_problem(std::string("nul\0x", 5)));
}

TEST(IdempotencyHash, SameRequestSameHash) {
  // The canonical body: parsed JSON dumped again, so key order and spaces do not matter.
  const auto a = nlohmann::json::parse(R"({"location_id": 1, "items": [{"count": 2}]})").dump();
  const auto b = nlohmann::json::parse(R"({"items":[{"count":2}],"location_id":1})").dump();
  EXPECT_EQ(idempotency_request_hash("POST", "/v1/donations", 7, a),
            idempotency_request_hash("POST", "/v1/donations", 7, b));
  EXPECT_EQ(idempotency_request_hash("POST", "/v1/donations", 7, a).size(), 64u);
}

TEST(IdempotencyHash, EachPartCounts) {
  const std::string body = R"({"location_id":1})";
  const auto base = idempotency_request_hash("POST", "/v1/donations", 7, body);
  EXPECT_NE(base, idempotency_request_hash("PUT", "/v1/donations", 7, body));
  EXPECT_NE(base, idempotency_request_hash("POST", "/v1/orders", 7, body));
  EXPECT_NE(base, idempotency_request_hash("POST", "/v1/donations", 8, body));
  EXPECT_NE(base, idempotency_request_hash("POST", "/v1/donations", 7, R"({"location_id":2})"));
  // Fields are length-prefixed: moving text from one part to the next is another request.
  EXPECT_NE(idempotency_request_hash("POST", "/v1/orders/1", 2, "{}"),
            idempotency_request_hash("POST", "/v1/orders/", 12, "{}"));
}

TEST(IdempotencyStorable, SuccessAndClientErrorsButNot429Or5xx) {
  for (int s : {200, 201, 204, 400, 404, 409, 422}) EXPECT_TRUE(idempotency_storable(s)) << s;
  for (int s : {301, 429, 500, 502, 503}) EXPECT_FALSE(idempotency_storable(s)) << s;
}

nlohmann::json idempotency_minimal_config() {
  return {{"database", {{"conninfo", "host=127.0.0.1 dbname=x"}}},
          {"public_listener", {{"port", 8080}}},
          {"internal_listener", {{"port", 8081}}},
          {"mqtt", {{"uri", "tcp://127.0.0.1:1883"}, {"client_id", "c1"}}},
          {"tokens", {{"key_dir", "/tmp/keys"}}}};
}

TEST(IdempotencyConfig, DefaultsAndFields) {
  auto c = parse_config(idempotency_minimal_config().dump());
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->idempotency.ttl, std::chrono::hours(24));
  EXPECT_EQ(c->idempotency.max_wait, std::chrono::milliseconds(5000));
  EXPECT_EQ(c->idempotency.in_progress_timeout, std::chrono::seconds(60));
  auto j = idempotency_minimal_config();
  j["idempotency"] = {{"ttl_s", 3600}, {"max_wait_ms", 0}, {"in_progress_timeout_s", 30}};
  c = parse_config(j.dump());
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->idempotency.ttl, std::chrono::hours(1));
  EXPECT_EQ(c->idempotency.max_wait, std::chrono::milliseconds(0));
  EXPECT_EQ(c->idempotency.in_progress_timeout, std::chrono::seconds(30));
  j["idempotency"] = {{"ttl_s", 10}};
  c = parse_config(j.dump());
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("/idempotency/ttl_s"), std::string::npos);
}

}  // namespace
}  // namespace reclothes::controller
