// The webhook notification channel: an adapter (HTTP client), outside the domain target.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "reclothes/common/clock.h"
#include "reclothes/common/result.h"
#include "reclothes/controller/domain/payments.h"
#include "reclothes/controller/domain/worker.h"

namespace reclothes::controller::domain {

// POSTs each notification as JSON to a URL; any 2xx is delivered. Receivers must tolerate
// duplicates (delivery is at least once): the body's "id" identifies a notification.
//
// With retry options (what the controller configures) it works like the payment adapter:
// max_attempts per notification with exponential back-off, and a CircuitBreaker: while the
// receiver keeps failing (no answer, a non-2xx) nothing is sent and send() fails at once.
class WebhookNotificationSender final : public NotificationSender {
 public:
  struct Retry {
    int max_attempts = 1;  // 1..10
    std::chrono::milliseconds backoff_initial{200};
    std::chrono::milliseconds backoff_max{2000};
    CircuitBreaker::Options breaker;
  };
  using Sleeper = std::function<void(std::chrono::milliseconds)>;

  // One attempt per send(), no breaker. kInvalidArgument for a URL that is not
  // http(s)://host[:port][/path].
  static Result<std::unique_ptr<WebhookNotificationSender>> create(
      const std::string& url, std::chrono::milliseconds timeout);
  // With attempts, back-off and a breaker on `clock`; also kInvalidArgument for max_attempts
  // outside 1..10.
  static Result<std::unique_ptr<WebhookNotificationSender>> create(
      const std::string& url, std::chrono::milliseconds timeout, const Clock& clock, Retry retry,
      Sleeper sleeper = {});
  Status send(const Notification& n) override;

  // Null without retry options.
  const CircuitBreaker* breaker() const { return breaker_.get(); }

 private:
  WebhookNotificationSender(std::string base, std::string path, std::chrono::milliseconds timeout)
      : base_(std::move(base)), path_(std::move(path)), timeout_(timeout) {}
  Status send_once(const Notification& n);
  std::string base_;
  std::string path_;
  std::chrono::milliseconds timeout_;
  Retry retry_;
  std::unique_ptr<CircuitBreaker> breaker_;
  Sleeper sleeper_;
};

}  // namespace reclothes::controller::domain
