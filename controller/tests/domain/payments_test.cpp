// The payment adapter: the circuit breaker on a ManualClock, back-off, and HttpPaymentClient
// against the in-process sandbox provider (loopback HTTP) with each test card. The invariant
// checked everywhere: the provider charges an idempotency key at most once.
#include "reclothes/controller/domain/payments.h"

#include <gtest/gtest.h>

#include <vector>

#include "reclothes/common/clock.h"
#include "reclothes/controller/domain/sandbox.h"

namespace reclothes::controller::domain {
namespace {

using namespace std::chrono_literals;
using Kind = PaymentOutcome::Kind;

TEST(CircuitBreaker, OpensAfterConsecutiveFailuresAndProbesAfterTheCooldown) {
  ManualClock clock;
  CircuitBreaker b(clock, {3, 10s});
  EXPECT_TRUE(b.allow());
  b.record_failure();
  b.record_failure();
  b.record_success();  // a success resets the count
  b.record_failure();
  b.record_failure();
  EXPECT_EQ(b.state(), CircuitBreaker::State::kClosed);
  b.record_failure();
  EXPECT_EQ(b.state(), CircuitBreaker::State::kOpen);
  EXPECT_FALSE(b.allow());
  clock.advance(9999ms);
  EXPECT_FALSE(b.allow());
  clock.advance(1ms);
  // Half-open: exactly one trial goes out.
  EXPECT_TRUE(b.allow());
  EXPECT_EQ(b.state(), CircuitBreaker::State::kHalfOpen);
  EXPECT_FALSE(b.allow());
  b.record_failure();  // the trial failed: open again for a full cool-down
  EXPECT_EQ(b.state(), CircuitBreaker::State::kOpen);
  EXPECT_FALSE(b.allow());
  clock.advance(10s);
  EXPECT_TRUE(b.allow());
  b.record_success();
  EXPECT_EQ(b.state(), CircuitBreaker::State::kClosed);
  EXPECT_TRUE(b.allow());
  EXPECT_TRUE(b.allow());
}

class PaymentClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SandboxPaymentProvider::Options so;
    so.slow_delay = 1500ms;
    auto sandbox = SandboxPaymentProvider::start(so);
    ASSERT_TRUE(sandbox.ok()) << sandbox.error().to_string();
    sandbox_ = std::move(sandbox).value();
    make_client(3);
  }

  void make_client(int breaker_failures) {
    HttpPaymentClient::Options o;
    o.base_url = sandbox_->url();
    o.read_timeout = 300ms;
    o.connect_timeout = 300ms;
    o.max_attempts = 3;
    o.backoff_initial = 50ms;
    o.backoff_max = 400ms;
    o.breaker = {breaker_failures, 30s};
    auto c = HttpPaymentClient::create(o, clock_, [this](std::chrono::milliseconds d) {
      sleeps_.push_back(d);  // no real sleeping: the delays are checked instead
    });
    ASSERT_TRUE(c.ok()) << c.error().to_string();
    client_ = std::move(c).value();
  }

  std::string method(const char* number, const std::string& key) {
    auto m = client_->tokenize({number, 12, 2030, "123"}, key);
    EXPECT_EQ(m.kind, Kind::kSucceeded) << m.message;
    return m.provider_ref;
  }

  ManualClock clock_;
  std::unique_ptr<SandboxPaymentProvider> sandbox_;
  std::unique_ptr<HttpPaymentClient> client_;
  std::vector<std::chrono::milliseconds> sleeps_;
};

TEST_F(PaymentClientTest, GoodCardIsChargedOnceEvenWhenAskedTwice) {
  const auto pm = method(SandboxPaymentProvider::kCardOk, "m1");
  auto first = client_->charge(pm, 2500, "EUR", "order-1-charge");
  ASSERT_EQ(first.kind, Kind::kSucceeded) << first.message;
  auto again = client_->charge(pm, 2500, "EUR", "order-1-charge");
  EXPECT_EQ(again.kind, Kind::kSucceeded);
  EXPECT_EQ(again.provider_ref, first.provider_ref);
  EXPECT_EQ(sandbox_->charges_for_key("order-1-charge"), 1);
  EXPECT_EQ(sandbox_->net_amount(first.provider_ref), 2500);
}

TEST_F(PaymentClientTest, DeclinedCardIsAnAnswerAndNotRetried) {
  const auto pm = method(SandboxPaymentProvider::kCardDeclined, "m2");
  auto r = client_->charge(pm, 2500, "EUR", "order-2-charge");
  EXPECT_EQ(r.kind, Kind::kDeclined);
  EXPECT_EQ(r.code, "card_declined");
  EXPECT_EQ(r.attempts, 1);
  EXPECT_EQ(sandbox_->requests_for_key("order-2-charge"), 1);
  EXPECT_EQ(sandbox_->charges_for_key("order-2-charge"), 0);
  EXPECT_EQ(client_->breaker().state(), CircuitBreaker::State::kClosed);
}

TEST_F(PaymentClientTest, TimeoutIsRetriedWithTheSameKeyAndChargesOnce) {
  const auto pm = method(SandboxPaymentProvider::kCardSlow, "m3");
  auto r = client_->charge(pm, 1000, "EUR", "order-3-charge");
  ASSERT_EQ(r.kind, Kind::kSucceeded) << r.message;
  EXPECT_EQ(r.attempts, 2);
  EXPECT_EQ(sleeps_, (std::vector<std::chrono::milliseconds>{50ms}));
  EXPECT_EQ(sandbox_->charges_for_key("order-3-charge"), 1);
  EXPECT_EQ(sandbox_->total_charges(), 1);
}

TEST_F(PaymentClientTest, DroppedConnectionIsRetriedAndChargesOnce) {
  const auto pm = method(SandboxPaymentProvider::kCardDrop, "m4");
  auto r = client_->charge(pm, 1000, "EUR", "order-4-charge");
  ASSERT_EQ(r.kind, Kind::kSucceeded) << r.message;
  EXPECT_EQ(r.attempts, 2);
  EXPECT_EQ(sandbox_->requests_for_key("order-4-charge"), 2);
  EXPECT_EQ(sandbox_->charges_for_key("order-4-charge"), 1);
}

TEST_F(PaymentClientTest, ServerErrorsAreRetriedWithBackoffUntilTheProviderAnswers) {
  const auto pm = method(SandboxPaymentProvider::kCardFlaky, "m5");
  auto r = client_->charge(pm, 1000, "EUR", "order-5-charge");
  ASSERT_EQ(r.kind, Kind::kSucceeded) << r.message;
  EXPECT_EQ(r.attempts, 3);
  EXPECT_EQ(sleeps_, (std::vector<std::chrono::milliseconds>{50ms, 100ms}));
  EXPECT_EQ(sandbox_->charges_for_key("order-5-charge"), 1);
}

TEST_F(PaymentClientTest, ProviderDownGivesUnknownAndTheBreakerStopsCallingIt) {
  const auto down = method(SandboxPaymentProvider::kCardDown, "m6");
  const auto ok = method(SandboxPaymentProvider::kCardOk, "m7");
  auto r = client_->charge(down, 1000, "EUR", "order-6-charge");
  EXPECT_EQ(r.kind, Kind::kUnknown);
  EXPECT_EQ(r.attempts, 3);
  EXPECT_EQ(sandbox_->charges_for_key("order-6-charge"), 0);
  // Three failures in a row opened the breaker: the next call does not reach the provider.
  EXPECT_EQ(client_->breaker().state(), CircuitBreaker::State::kOpen);
  auto fast = client_->charge(ok, 1000, "EUR", "order-7-charge");
  EXPECT_EQ(fast.kind, Kind::kUnknown);
  EXPECT_EQ(fast.code, "breaker_open");
  EXPECT_EQ(sandbox_->requests_for_key("order-7-charge"), 0);
  // After the cool-down one trial goes out; it succeeds and closes the breaker.
  clock_.advance(30s);
  auto later = client_->charge(ok, 1000, "EUR", "order-7-charge");
  EXPECT_EQ(later.kind, Kind::kSucceeded) << later.message;
  EXPECT_EQ(client_->breaker().state(), CircuitBreaker::State::kClosed);
  EXPECT_EQ(sandbox_->charges_for_key("order-7-charge"), 1);
}

TEST_F(PaymentClientTest, RefundOnceAndNeverMoreThanCharged) {
  const auto pm = method(SandboxPaymentProvider::kCardOk, "m8");
  auto charge = client_->charge(pm, 3000, "EUR", "order-8-charge");
  ASSERT_EQ(charge.kind, Kind::kSucceeded);
  auto refund = client_->refund(charge.provider_ref, 3000, "order-8-refund");
  ASSERT_EQ(refund.kind, Kind::kSucceeded) << refund.message;
  auto again = client_->refund(charge.provider_ref, 3000, "order-8-refund");
  EXPECT_EQ(again.kind, Kind::kSucceeded);
  EXPECT_EQ(sandbox_->refunds_for_key("order-8-refund"), 1);
  EXPECT_EQ(sandbox_->net_amount(charge.provider_ref), 0);
  // A second refund under another key would exceed the charge: refused.
  auto other = client_->refund(charge.provider_ref, 3000, "order-8-refund-b");
  EXPECT_EQ(other.kind, Kind::kDeclined);
  EXPECT_EQ(other.code, "amount_exceeds_charge");
}

TEST_F(PaymentClientTest, BadCardsAndKeyReuseAreRefusedAnswers) {
  auto bad = client_->tokenize({"4242424242424241", 12, 2030, "123"}, "m9");
  EXPECT_EQ(bad.kind, Kind::kDeclined);
  EXPECT_EQ(bad.code, "invalid_card");
  const auto pm = method(SandboxPaymentProvider::kCardOk, "m10");
  ASSERT_EQ(client_->charge(pm, 100, "EUR", "k").kind, Kind::kSucceeded);
  auto reuse = client_->charge(pm, 999, "EUR", "k");
  EXPECT_EQ(reuse.kind, Kind::kDeclined);
  EXPECT_EQ(reuse.code, "idempotency_key_reuse");
  EXPECT_EQ(sandbox_->charges_for_key("k"), 1);
}

TEST_F(PaymentClientTest, UnreachableProviderIsUnknown) {
  HttpPaymentClient::Options o;
  o.base_url = "http://127.0.0.1:1";  // nothing listens on port 1
  o.max_attempts = 2;
  o.connect_timeout = 200ms;
  auto c = HttpPaymentClient::create(o, clock_, [](std::chrono::milliseconds) {});
  ASSERT_TRUE(c.ok());
  auto r = (*c)->charge("pm_1", 100, "EUR", "x");
  EXPECT_EQ(r.kind, Kind::kUnknown);
  EXPECT_EQ(r.attempts, 2);
  EXPECT_FALSE(HttpPaymentClient::create({}, clock_).ok());
  HttpPaymentClient::Options bad;
  bad.base_url = "ftp://example.org";
  EXPECT_EQ(HttpPaymentClient::create(bad, clock_).error().code, ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace reclothes::controller::domain
