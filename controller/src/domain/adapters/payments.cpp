#include "reclothes/controller/domain/payments.h"

#include <httplib.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "reclothes/common/backoff.h"

namespace reclothes::controller::domain {

std::string_view to_string(PaymentOutcome::Kind k) {
  switch (k) {
    case PaymentOutcome::Kind::kSucceeded:
      return "succeeded";
    case PaymentOutcome::Kind::kDeclined:
      return "declined";
    case PaymentOutcome::Kind::kUnknown:
      return "unknown";
  }
  return "unknown";
}

std::string_view to_string(CircuitBreaker::State s) {
  switch (s) {
    case CircuitBreaker::State::kClosed:
      return "closed";
    case CircuitBreaker::State::kOpen:
      return "open";
    case CircuitBreaker::State::kHalfOpen:
      return "half_open";
  }
  return "unknown";
}

// ---- circuit breaker --------------------------------------------------------------------------

bool CircuitBreaker::allow() {
  std::lock_guard lock(mu_);
  switch (state_) {
    case State::kClosed:
      return true;
    case State::kOpen:
      if (clock_.monotonic() - opened_at_ < options_.cooldown) return false;
      state_ = State::kHalfOpen;
      trial_out_ = true;
      return true;
    case State::kHalfOpen:
      // One trial at a time: the others wait for its verdict.
      if (trial_out_) return false;
      trial_out_ = true;
      return true;
  }
  return false;
}

void CircuitBreaker::record_success() {
  std::lock_guard lock(mu_);
  state_ = State::kClosed;
  failures_ = 0;
  trial_out_ = false;
}

void CircuitBreaker::record_failure() {
  std::lock_guard lock(mu_);
  trial_out_ = false;
  if (state_ == State::kHalfOpen) {
    state_ = State::kOpen;
    opened_at_ = clock_.monotonic();
    return;
  }
  if (state_ == State::kOpen) return;
  if (++failures_ >= options_.failure_threshold) {
    state_ = State::kOpen;
    opened_at_ = clock_.monotonic();
  }
}

CircuitBreaker::State CircuitBreaker::state() const {
  std::lock_guard lock(mu_);
  return state_;
}

// ---- HTTP client ------------------------------------------------------------------------------

Result<std::unique_ptr<HttpPaymentClient>> HttpPaymentClient::create(Options options,
                                                                     const Clock& clock,
                                                                     Sleeper sleeper) {
  static const std::regex kUrl(R"(^https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?$)");
  if (!std::regex_match(options.base_url, kUrl)) {
    return make_error(
        ErrorCode::kInvalidArgument,
        "payment provider URL must be http(s)://host[:port], got \"" + options.base_url + "\"");
  }
  if (options.max_attempts < 1 || options.max_attempts > 10) {
    return make_error(ErrorCode::kInvalidArgument, "payment max_attempts must be 1..10");
  }
  if (!sleeper) sleeper = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
  return std::unique_ptr<HttpPaymentClient>(
      new HttpPaymentClient(std::move(options), clock, std::move(sleeper)));
}

HttpPaymentClient::HttpPaymentClient(Options options, const Clock& clock, Sleeper sleeper)
    : options_(std::move(options)),
      breaker_(clock, options_.breaker),
      sleeper_(std::move(sleeper)) {}

PaymentOutcome HttpPaymentClient::post(const std::string& path, const std::string& body,
                                       const std::string& idempotency_key) {
  PaymentOutcome last;
  for (int attempt = 1; attempt <= options_.max_attempts; ++attempt) {
    if (!breaker_.allow()) {
      last.kind = PaymentOutcome::Kind::kUnknown;
      last.code = "breaker_open";
      last.message = "the payment provider failed repeatedly; not calling it for a while";
      return last;
    }
    ++last.attempts;
    httplib::Client cli(options_.base_url);
    cli.set_connection_timeout(options_.connect_timeout);
    cli.set_read_timeout(options_.read_timeout);
    cli.set_write_timeout(options_.read_timeout);
    const httplib::Headers headers = {{"Authorization", "Bearer " + options_.api_key},
                                      {"Idempotency-Key", idempotency_key}};
    auto res = cli.Post(path.c_str(), headers, body, "application/json");
    if (!res) {
      breaker_.record_failure();
      last.kind = PaymentOutcome::Kind::kUnknown;
      last.code = res.error() == httplib::Error::Read ? "timeout_or_dropped" : "connection";
      last.message = "no answer from the payment provider: " + httplib::to_string(res.error());
    } else {
      const auto j = nlohmann::json::parse(res->body, nullptr, false);
      const auto error_code = [&](const std::string& fallback) {
        if (j.is_object() && j.contains("error") && j["error"].is_object()) {
          return j["error"].value("code", fallback);
        }
        return fallback;
      };
      if (res->status >= 200 && res->status < 300 && j.is_object() && j.contains("id") &&
          j["id"].is_string()) {
        breaker_.record_success();
        last.kind = PaymentOutcome::Kind::kSucceeded;
        last.provider_ref = j["id"].get<std::string>();
        last.code = "ok";
        last.message = "";
        return last;
      }
      if (res->status >= 400 && res->status < 500 && res->status != 409 && res->status != 429 &&
          res->status != 408) {
        // An answer: the provider works, it just says no.
        breaker_.record_success();
        last.kind = PaymentOutcome::Kind::kDeclined;
        last.code = error_code("http_" + std::to_string(res->status));
        last.message = "the payment provider refused: " + last.code;
        return last;
      }
      breaker_.record_failure();
      last.kind = PaymentOutcome::Kind::kUnknown;
      last.code = error_code("http_" + std::to_string(res->status));
      last.message = "the payment provider answered " + std::to_string(res->status);
    }
    if (attempt < options_.max_attempts) {
      sleeper_(reclothes::backoff_delay(attempt, options_.backoff_initial, options_.backoff_max));
    }
  }
  return last;
}

PaymentOutcome HttpPaymentClient::tokenize(const Card& card, const std::string& idempotency_key) {
  const nlohmann::json body = {{"card_number", card.number},
                               {"exp_month", card.exp_month},
                               {"exp_year", card.exp_year},
                               {"cvc", card.cvc}};
  return post("/v1/payment_methods", body.dump(), idempotency_key);
}

PaymentOutcome HttpPaymentClient::charge(const std::string& method_ref, std::int64_t amount_cents,
                                         const std::string& currency,
                                         const std::string& idempotency_key) {
  const nlohmann::json body = {
      {"payment_method", method_ref}, {"amount", amount_cents}, {"currency", currency}};
  return post("/v1/charges", body.dump(), idempotency_key);
}

PaymentOutcome HttpPaymentClient::refund(const std::string& charge_ref, std::int64_t amount_cents,
                                         const std::string& idempotency_key) {
  const nlohmann::json body = {{"charge", charge_ref}, {"amount", amount_cents}};
  return post("/v1/refunds", body.dump(), idempotency_key);
}

}  // namespace reclothes::controller::domain
