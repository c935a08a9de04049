// Safe retries (Idempotency-Key) and gentle limits (token buckets) of the public listener,
// against real PostgreSQL and Mosquitto; two controllers on one database for the race.
#include <algorithm>
#include <future>

#include "domain_fixture.h"

namespace reclothes::controller::testing {
namespace {

using namespace std::chrono_literals;

class RetriesTest : public DomainTest {
 protected:
  void SetUp() override {
    DomainTest::SetUp();
    add_fleet({"M", "M", "M"});
  }

  nlohmann::json donation_body(int count = 1) const {
    return {{"location_id", location_}, {"items", {{{"category", "tops"}, {"count", count}}}}};
  }
  Reply donate(const std::string& token, const std::string& key, const nlohmann::json& body) {
    return call(Listener::kPublic, "POST", "/v1/donations", body, token,
                {{"Idempotency-Key", key}});
  }
  std::int64_t donations() { return count("SELECT count(*) FROM donations"); }
};

TEST_F(RetriesTest, ARetriedPostCreatesOneDonationAndAnswersTheSameBody) {
  const auto alice = customer("alice");
  const auto first = donate(alice, "phone-on-a-train-1", donation_body());
  ASSERT_EQ(first.status, 201) << describe(first);
  EXPECT_EQ(first.header("Idempotent-Replayed"), "");
  // The retry writes its JSON in another order and spacing: the same request all the same.
  const auto retry = call(Listener::kPublic, "POST", "/v1/donations", std::nullopt, alice,
                          {{"Idempotency-Key", "phone-on-a-train-1"}},
                          R"({ "items": [ {"count": 1, "category": "tops"} ], "location_id": )" +
                              std::to_string(location_) + "}");
  ASSERT_EQ(retry.status, 201) << describe(retry);
  EXPECT_EQ(retry.header("Idempotent-Replayed"), "true");
  EXPECT_EQ(retry.raw, first.raw);
  EXPECT_EQ(donations(), 1);
  // Without a key every POST creates (the header is optional).
  ASSERT_EQ(create_donation(alice, donation_body()["items"]).status, 201);
  EXPECT_EQ(donations(), 2);
}

TEST_F(RetriesTest, TheSameKeyWithAnotherBodyIsRefused) {
  const auto alice = customer("alice");
  ASSERT_EQ(donate(alice, "k1", donation_body(1)).status, 201);
  const auto other = donate(alice, "k1", donation_body(2));
  ASSERT_EQ(other.status, 422) << describe(other);
  EXPECT_EQ(other.code(), "idempotency_key_reused");
  EXPECT_EQ(other.body["error"]["details"]["header"], "Idempotency-Key");
  // Another path with the same key and body is another request too.
  const auto path = call(Listener::kPublic, "POST", "/v1/cart/items", donation_body(1), alice,
                         {{"Idempotency-Key", "k1"}});
  EXPECT_EQ(path.status, 422) << describe(path);
  EXPECT_EQ(donations(), 1);
}

TEST_F(RetriesTest, KeysArePerCustomer) {
  const auto alice = customer("alice");
  const auto bob = customer("bob");
  const auto a = donate(alice, "same-key", donation_body());
  const auto b = donate(bob, "same-key", donation_body());
  ASSERT_EQ(a.status, 201) << describe(a);
  ASSERT_EQ(b.status, 201) << describe(b);
  EXPECT_EQ(b.header("Idempotent-Replayed"), "");
  EXPECT_NE(a.body["id"], b.body["id"]);
  EXPECT_EQ(donations(), 2);
}

TEST_F(RetriesTest, AMalformedKeyIsRefused) {
  const auto alice = customer("alice");
  for (const std::string& key : {std::string(256, 'k'), std::string("caf\xc3\xa9")}) {
    const auto r = donate(alice, key, donation_body());
    EXPECT_EQ(r.status, 400) << describe(r);
    EXPECT_EQ(r.code(), "invalid_idempotency_key");
  }
  EXPECT_EQ(donations(), 0);
}

TEST_F(RetriesTest, AClientErrorIsReplayedToo) {
  const auto alice = customer("alice");
  auto body = donation_body();
  body["location_id"] = 999999;
  const auto first = donate(alice, "k-404", body);
  ASSERT_EQ(first.status, 404) << describe(first);
  const auto retry = donate(alice, "k-404", body);
  EXPECT_EQ(retry.status, 404);
  EXPECT_EQ(retry.header("Idempotent-Replayed"), "true");
  EXPECT_EQ(retry.raw, first.raw);  // the first request's error body, request id included
}

TEST_F(RetriesTest, ErasingTheAccountDeletesItsKeysAndTheirStoredReplies) {
  // A stored reply may echo personal data (an order's shipping address): GDPR erase takes it.
  std::int64_t id = 0;
  const auto alice = customer("alice", &id);
  auto body = donation_body();
  body["location_id"] = 999999;
  ASSERT_EQ(donate(alice, "k-erase", body).status, 404);
  const auto keys =
      "SELECT count(*) FROM idempotency_keys WHERE customer_id = " + std::to_string(id);
  ASSERT_EQ(count(keys), 1);
  const auto erased =
      pub("POST", "/v1/customers/me/erase", nlohmann::json{{"password", kPassword}}, alice);
  ASSERT_EQ(erased.status, 200) << describe(erased);
  EXPECT_EQ(count(keys), 0);
}

TEST_F(RetriesTest, KeysExpireAndTheWorkerDeletesThem) {
  const auto alice = customer("alice");
  ASSERT_EQ(donate(alice, "k-day", donation_body()).status, 201);
  clock_.advance(23h);
  EXPECT_EQ(donate(alice, "k-day", donation_body()).header("Idempotent-Replayed"), "true");
  EXPECT_EQ(run_worker().idempotency_keys_expired, 0);
  clock_.advance(1h);
  EXPECT_EQ(run_worker().idempotency_keys_expired, 1);
  EXPECT_EQ(count("SELECT count(*) FROM idempotency_keys"), 0);
  const auto again = donate(alice, "k-day", donation_body());
  ASSERT_EQ(again.status, 201) << describe(again);
  EXPECT_EQ(again.header("Idempotent-Replayed"), "");
  EXPECT_EQ(donations(), 2);
}

TEST_F(RetriesTest, TwoIdenticalOrdersAtOnceOnTwoReplicasMakeOneOrder) {
  // A second replica on the same database and broker.
  auto second_config = config_;
  second_config.mqtt.client_id = config_.mqtt.client_id + "-2";
  auto made = make_controller(second_config, clock_, Log::null());
  ASSERT_TRUE(made.ok()) << made.error().to_string();
  auto second = std::move(made).value();
  ASSERT_TRUE(second->start().ok());

  const auto alice = customer("alice");
  const auto product = listed_product("wool sweater", 3000);
  ASSERT_EQ(pub("POST", "/v1/cart/items", nlohmann::json{{"product_id", product}}, alice).status,
            201);
  const nlohmann::json order = {{"pickup_location_id", location_},
                                {"payment",
                                 {{"card_number", domain::SandboxPaymentProvider::kCardOk},
                                  {"exp_month", 12},
                                  {"exp_year", 2030},
                                  {"cvc", "123"}}}};
  const auto post_to = [&](int port) {
    httplib::Client cli("127.0.0.1", port);
    cli.set_read_timeout(10s);
    auto res = cli.Post("/v1/orders",
                        {{"Authorization", "Bearer " + alice}, {"Idempotency-Key", "buy-once"}},
                        order.dump(), "application/json");
    Reply r;
    if (res) {
      r.status = res->status;
      r.raw = res->body;
      r.headers = res->headers;
      r.body = nlohmann::json::parse(res->body, nullptr, false);
    }
    return r;
  };
  auto a = std::async(std::launch::async, post_to, controller_->public_port());
  auto b = std::async(std::launch::async, post_to, second->public_port());
  const auto ra = a.get();
  const auto rb = b.get();
  EXPECT_EQ(count("SELECT count(*) FROM buying_orders"), 1);
  // One ran it; the other waited for it and replayed its answer (within idempotency.max_wait).
  ASSERT_EQ(ra.status, 201) << describe(ra);
  ASSERT_EQ(rb.status, 201) << describe(rb);
  EXPECT_EQ(ra.raw, rb.raw);
  EXPECT_EQ(
      (ra.header("Idempotent-Replayed") == "true") + (rb.header("Idempotent-Replayed") == "true"),
      1);
  second.reset();
}

TEST_F(RetriesTest, EveryIdempotentRouteDocumentsTheHeaderAndThe422) {
  const auto doc = pub("GET", "/openapi.json").body;
  int idempotent = 0;
  for (const auto& r : controller_->router().routes()) {
    if (!r->route.idempotent) continue;
    ++idempotent;
    std::string method(to_string(r->route.method));
    for (auto& ch : method) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    const auto& op = doc["paths"][r->route.path][method];
    const nlohmann::json ref = {{"$ref", "#/components/parameters/IdempotencyKey"}};
    const auto params = op.value("parameters", nlohmann::json::array());
    EXPECT_NE(std::find(params.begin(), params.end(), ref), params.end())
        << r->route.path << " does not document Idempotency-Key";
    EXPECT_TRUE(op["responses"].contains("422")) << r->route.path << " does not document 422";
  }
  EXPECT_GE(idempotent, 4);  // donations, cart items, orders, returns
  EXPECT_EQ(doc["components"]["parameters"]["IdempotencyKey"]["name"], "Idempotency-Key");
}

class LimitsTest : public RetriesTest {
 protected:
  void restart_with_limits(const std::function<void(ControllerConfig::RateLimits&)>& set) {
    config_.rate_limits.exempt.clear();  // the tests come from loopback
    set(config_.rate_limits);
    restart_with_domain_config();
  }
  double metric(const std::string& series) {
    const auto m = internal("GET", "/metrics");
    const auto at = m.raw.find(series + " ");
    if (at == std::string::npos) return 0;
    return std::stod(m.raw.substr(at + series.size() + 1));
  }
};

TEST_F(LimitsTest, TooManyReadsFromOneAddressGet429UntilTheBucketRefills) {
  restart_with_limits([](ControllerConfig::RateLimits& l) { l.reads.per_address = {1, 3}; });
  for (int i = 0; i < 3; ++i) ASSERT_EQ(pub("GET", "/v1/products").status, 200) << i;
  const auto refused = pub("GET", "/v1/products");
  ASSERT_EQ(refused.status, 429) << describe(refused);
  EXPECT_EQ(refused.code(), "rate_limited");
  EXPECT_EQ(refused.header("Retry-After"), "1");
  EXPECT_EQ(refused.body["error"]["details"]["class"], "reads");
  EXPECT_EQ(refused.body["error"]["details"]["scope"], "address");
  EXPECT_EQ(metric(R"(reclothes_http_rate_limited_total{class="reads",scope="address"})"), 1);
  // The health check is not limited.
  EXPECT_EQ(pub("GET", "/healthz").status, 200);
  clock_.advance(1s);
  EXPECT_EQ(pub("GET", "/v1/products").status, 200);
  EXPECT_EQ(pub("GET", "/v1/products").status, 429);
}

TEST_F(LimitsTest, WritesPerAccountAreLimitedPerCustomer) {
  restart_with_limits([](ControllerConfig::RateLimits& l) {
    l.writes.per_address = {};
    l.writes.per_account = {0.5, 1};
  });
  const auto alice = customer("alice");
  const auto bob = customer("bob");
  ASSERT_EQ(create_donation(alice, donation_body()["items"]).status, 201);
  const auto refused = create_donation(alice, donation_body()["items"]);
  ASSERT_EQ(refused.status, 429) << describe(refused);
  EXPECT_EQ(refused.header("Retry-After"), "2");
  EXPECT_EQ(refused.body["error"]["details"]["scope"], "account");
  EXPECT_EQ(create_donation(bob, donation_body()["items"]).status, 201);
  clock_.advance(2s);
  EXPECT_EQ(create_donation(alice, donation_body()["items"]).status, 201);
  EXPECT_EQ(metric(R"(reclothes_http_rate_limited_total{class="writes",scope="account"})"), 1);
}

TEST_F(LimitsTest, ForwardedForCountsOnlyFromTrustedProxies) {
  restart_with_limits([](ControllerConfig::RateLimits& l) { l.reads.per_address = {1, 1}; });
  const auto get_as = [&](const std::string& xff) {
    return call(Listener::kPublic, "GET", "/v1/products", std::nullopt, "",
                {{"X-Forwarded-For", xff}})
        .status;
  };
  // Loopback is no trusted proxy here: its X-Forwarded-For is ignored, one bucket for all.
  EXPECT_EQ(get_as("203.0.113.1"), 200);
  EXPECT_EQ(get_as("203.0.113.2"), 429);
  config_.trusted_proxies = {"127.0.0.0/8"};
  restart_with_limits([](ControllerConfig::RateLimits& l) { l.reads.per_address = {1, 1}; });
  EXPECT_EQ(get_as("203.0.113.1"), 200);
  EXPECT_EQ(get_as("203.0.113.1"), 429);
  EXPECT_EQ(get_as("203.0.113.2"), 200);
}

TEST_F(LimitsTest, LoginRefusalsAreCountedAsTheLoginClass) {
  register_customer("carol@example.org");
  Reply r;
  for (int i = 0; i < 6; ++i) {
    r = pub("POST", "/v1/sessions",
            nlohmann::json{{"email", "carol@example.org"}, {"password", "wrong-guess-1"}});
  }
  EXPECT_EQ(r.status, 429) << describe(r);
  EXPECT_FALSE(r.header("Retry-After").empty());
  EXPECT_EQ(metric(R"(reclothes_http_rate_limited_total{class="login",scope="account"})"), 1);
}

}  // namespace
}  // namespace reclothes::controller::testing
