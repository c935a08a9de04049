// Payments through a provider adapter.
//
// The controller never keeps a card number: the card is exchanged for the provider's payment
// method id once (tokenize), and charges and refunds name that id. Every request carries an
// idempotency key that the caller keeps for the whole life of one payment attempt and reuses on
// every retry, so a charge whose answer was lost (timeout, dropped connection, 5xx) can be asked
// again without charging twice: the provider answers a repeated key with the first outcome.
//
// HttpPaymentClient adds timeouts, a bounded number of retries with exponential back-off and a
// circuit breaker (closed -> open after N consecutive failures -> half-open after a cool-down ->
// closed on a success). "Failure" means the provider could not give an answer (connection error,
// timeout, 5xx, 409 "in progress"); a declined card is an answer.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "reclothes/common/clock.h"
#include "reclothes/common/result.h"

namespace reclothes::controller::domain {

struct Card {
  std::string number;  // digits only
  int exp_month = 0;
  int exp_year = 0;
  std::string cvc;
};

struct PaymentOutcome {
  enum class Kind {
    kSucceeded,  // done; provider_ref names the payment method, charge or refund
    kDeclined,   // a final no (declined card, invalid card, refund refused): do not retry
    kUnknown,    // no answer (or breaker open): retry later WITH THE SAME KEY
  };
  Kind kind = Kind::kUnknown;
  std::string provider_ref;
  std::string code;     // provider's code ("card_declined", "timeout", "http_503", "breaker_open")
  std::string message;  // for logs and the order's failure reason
  int attempts = 0;     // HTTP requests made
};
std::string_view to_string(PaymentOutcome::Kind k);

// What the domain needs from a payment provider. Implementations are thread-safe.
class PaymentProvider {
 public:
  virtual ~PaymentProvider() = default;
  virtual PaymentOutcome tokenize(const Card& card, const std::string& idempotency_key) = 0;
  virtual PaymentOutcome charge(const std::string& method_ref, std::int64_t amount_cents,
                                const std::string& currency,
                                const std::string& idempotency_key) = 0;
  virtual PaymentOutcome refund(const std::string& charge_ref, std::int64_t amount_cents,
                                const std::string& idempotency_key) = 0;
};

// Thread-safe. Time comes from the injected clock (monotonic), so tests step through the
// cool-down without sleeping.
class CircuitBreaker {
 public:
  enum class State { kClosed, kOpen, kHalfOpen };
  struct Options {
    int failure_threshold = 5;  // consecutive failures that open the breaker
    std::chrono::milliseconds cooldown{30000};
  };
  CircuitBreaker(const Clock& clock, Options options) : clock_(clock), options_(options) {}

  // Whether a request may go out now. Open: false until the cool-down has passed, then the
  // breaker becomes half-open and lets exactly one trial request through (others are refused
  // until that trial reports).
  bool allow();
  void record_success();
  void record_failure();
  State state() const;

 private:
  const Clock& clock_;
  Options options_;
  mutable std::mutex mu_;
  State state_ = State::kClosed;
  int failures_ = 0;
  Clock::Monotonic opened_at_{};
  bool trial_out_ = false;
};
std::string_view to_string(CircuitBreaker::State s);

class HttpPaymentClient final : public PaymentProvider {
 public:
  struct Options {
    std::string base_url;  // "http://127.0.0.1:9000"
    std::string api_key = "sandbox";
    std::chrono::milliseconds connect_timeout{2000};
    std::chrono::milliseconds read_timeout{5000};
    int max_attempts = 3;  // per call, 1..10
    std::chrono::milliseconds backoff_initial{200};
    std::chrono::milliseconds backoff_max{2000};
    CircuitBreaker::Options breaker;
  };
  // How the client waits between retries; tests inject one that does not sleep.
  using Sleeper = std::function<void(std::chrono::milliseconds)>;

  // kInvalidArgument for a base URL that is not http(s)://host[:port].
  static Result<std::unique_ptr<HttpPaymentClient>> create(Options options, const Clock& clock,
                                                           Sleeper sleeper = {});

  PaymentOutcome tokenize(const Card& card, const std::string& idempotency_key) override;
  PaymentOutcome charge(const std::string& method_ref, std::int64_t amount_cents,
                        const std::string& currency, const std::string& idempotency_key) override;
  PaymentOutcome refund(const std::string& charge_ref, std::int64_t amount_cents,
                        const std::string& idempotency_key) override;

  const CircuitBreaker& breaker() const { return breaker_; }

 private:
  HttpPaymentClient(Options options, const Clock& clock, Sleeper sleeper);
  PaymentOutcome post(const std::string& path, const std::string& body,
                      const std::string& idempotency_key);

  Options options_;
  CircuitBreaker breaker_;
  Sleeper sleeper_;
};

}  // namespace reclothes::controller::domain
