// A sandbox payment provider: a small HTTP server that speaks the provider API HttpPaymentClient
// uses (POST /v1/payment_methods, /v1/charges, /v1/refunds with Idempotency-Key), for local runs
// (`payments.sandbox` in the domain configuration) and tests. It records every charge and refund
// by idempotency key, so a test can assert that nothing was charged twice.
//
// Test card numbers (all pass the Luhn check; any other valid number behaves like kCardOk):
//   4242424242424242  charge succeeds
//   4000000000000002  charge declined (402 card_declined)
//   4000000000000119  charge succeeds, but the first answer comes only after slow_delay (the
//                     client times out; a retry with the same key gets the stored success)
//   4000000000000259  the first flaky_failures requests of a key get 503 and charge nothing;
//                     then the charge succeeds
//   4000000000000077  a longer outage: the first outage_failures requests of a key get 503
//   4000000000000341  charge succeeds, but the connection is dropped before the first answer
//   4000000000009995  the provider is down for this card: always 500, nothing charged
// An idempotency key repeated with the same body gets the first stored answer; with another
// body, 422 idempotency_key_reuse.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "reclothes/common/result.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace reclothes::controller::domain {

class SandboxPaymentProvider {
 public:
  static constexpr const char* kCardOk = "4242424242424242";
  static constexpr const char* kCardDeclined = "4000000000000002";
  static constexpr const char* kCardSlow = "4000000000000119";
  static constexpr const char* kCardFlaky = "4000000000000259";
  static constexpr const char* kCardOutage = "4000000000000077";
  static constexpr const char* kCardDrop = "4000000000000341";
  static constexpr const char* kCardDown = "4000000000009995";

  struct Options {
    std::string host = "127.0.0.1";
    int port = 0;  // 0: any free port
    std::chrono::milliseconds slow_delay{3000};
    int flaky_failures = 2;
    int outage_failures = 5;
  };

  // Binds and serves on a background thread. kUnavailable if the port cannot be bound.
  static Result<std::unique_ptr<SandboxPaymentProvider>> start(Options options);
  ~SandboxPaymentProvider();  // stops serving; interrupts slow answers

  int port() const { return port_; }
  std::string url() const;

  // Charges that moved money, per idempotency key (a correct client keeps this <= 1) and in all.
  int charges_for_key(const std::string& key) const;
  int refunds_for_key(const std::string& key) const;
  int total_charges() const;
  int total_refunds() const;
  // Requests seen for a key (answered, failed or dropped).
  int requests_for_key(const std::string& key) const;
  // Sum of the amounts charged minus refunded for a charge id.
  std::int64_t net_amount(const std::string& charge_id) const;

 private:
  struct Stored {
    std::string fingerprint;  // path + body
    int status = 0;
    std::string body;
  };
  struct ChargeRecord {
    std::int64_t amount = 0;
    std::int64_t refunded = 0;
    std::string key;
  };
  explicit SandboxPaymentProvider(Options options);
  void handle(const httplib::Request& req, httplib::Response& res);
  void sleep_interruptibly(std::chrono::milliseconds d);

  Options options_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  int next_id_ = 1;
  std::map<std::string, Stored> stored_;         // idempotency key -> first answer
  std::map<std::string, int> requests_;          // idempotency key -> requests seen
  std::map<std::string, std::string> methods_;   // pm id -> card number
  std::map<std::string, ChargeRecord> charges_;  // charge id -> record
  std::map<std::string, int> charges_by_key_;    // idempotency key -> charges made
  std::map<std::string, int> refunds_by_key_;    // idempotency key -> refunds made
  int total_charges_ = 0;
  int total_refunds_ = 0;
};

}  // namespace reclothes::controller::domain
