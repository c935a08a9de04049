// The email notification channel: mail over SMTP through libcurl, an adapter outside the domain
// target. Like the payment client (payments.h) it has timeouts, a bounded number of attempts
// with exponential back-off, and the same CircuitBreaker: while the mail server keeps failing,
// nothing is sent and send() fails at once, so the worker moves on (the delivery row is retried
// after its back-off, docs/orders.md "Notifications").
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "reclothes/common/clock.h"
#include "reclothes/common/result.h"
#include "reclothes/controller/domain/domain_config.h"
#include "reclothes/controller/domain/payments.h"
#include "reclothes/controller/domain/worker.h"
#include "reclothes/controller/log.h"

namespace reclothes::controller::domain {

class SmtpNotificationSender final : public NotificationSender {
 public:
  using Options = DomainConfig::Notifications::Smtp;
  // How the sender waits between attempts; tests inject one that does not sleep.
  using Sleeper = std::function<void(std::chrono::milliseconds)>;

  // kInvalidArgument for a URL that is not smtp(s)://host[:port], a From that is not a plain
  // address, or max_attempts outside 1..10.
  static Result<std::unique_ptr<SmtpNotificationSender>> create(Options options, const Clock& clock,
                                                                Sleeper sleeper = {});

  // Sends the notification's text (render_notification) to payload["to_email"] or else the
  // recipient's email. kFailedPrecondition without an address (nothing is tried), kUnavailable
  // when the server did not take it (connection, timeout, 4xx, breaker open: retry later),
  // kInvalidArgument when it refused it for good (5xx; the server works, the breaker is not
  // moved). Thread-safe.
  Status send(const Notification& n) override;

  const CircuitBreaker& breaker() const { return breaker_; }

 private:
  SmtpNotificationSender(Options options, const Clock& clock, Sleeper sleeper);
  // One SMTP conversation. Ok, or the error and whether the server answered for good (5xx).
  Status send_once(const std::string& to, const std::string& message, bool* permanent);

  Options options_;
  const Clock& clock_;
  CircuitBreaker breaker_;
  Sleeper sleeper_;
};

// The configured channels (config.enabled_channels()): log, the webhook, SMTP. kInvalidArgument
// for a channel's bad setting.
Result<std::vector<NotificationChannel>> make_notification_channels(
    const DomainConfig::Notifications& config, const Log& log, const Clock& clock);

}  // namespace reclothes::controller::domain
