// The webhook notification channel (an HTTP client: outside the domain target).
#include "reclothes/controller/domain/webhook.h"

#include <httplib.h>

#include <regex>
#include <thread>

#include "reclothes/common/backoff.h"

namespace reclothes::controller::domain {

Result<std::unique_ptr<WebhookNotificationSender>> WebhookNotificationSender::create(
    const std::string& url, std::chrono::milliseconds timeout) {
  static const std::regex kUrl(R"(^(https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?)(/[^\s]*)?$)");
  std::smatch m;
  if (!std::regex_match(url, m, kUrl)) {
    return make_error(ErrorCode::kInvalidArgument,
                      "webhook URL must be http(s)://host[:port][/path], got \"" + url + "\"");
  }
  const std::string path = m[3].matched ? m[3].str() : "/";
  return std::unique_ptr<WebhookNotificationSender>(
      new WebhookNotificationSender(m[1].str(), path, timeout));
}

Result<std::unique_ptr<WebhookNotificationSender>> WebhookNotificationSender::create(
    const std::string& url, std::chrono::milliseconds timeout, const Clock& clock, Retry retry,
    Sleeper sleeper) {
  if (retry.max_attempts < 1 || retry.max_attempts > 10) {
    return make_error(ErrorCode::kInvalidArgument, "webhook max_attempts must be 1..10");
  }
  RC_ASSIGN_OR_RETURN(auto sender, create(url, timeout));
  sender->retry_ = retry;
  sender->breaker_ = std::make_unique<CircuitBreaker>(clock, retry.breaker);
  sender->sleeper_ = sleeper ? std::move(sleeper)
                             : [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
  return sender;
}

Status WebhookNotificationSender::send(const Notification& n) {
  if (!breaker_) return send_once(n);
  Status last = make_error(ErrorCode::kUnavailable, "webhook: not attempted");
  for (int attempt = 1; attempt <= retry_.max_attempts; ++attempt) {
    if (!breaker_->allow()) {
      if (attempt > 1) {
        return make_error(ErrorCode::kUnavailable,
                          last.error().message + "; the breaker is open now");
      }
      return make_error(ErrorCode::kUnavailable,
                        "webhook: breaker open (the receiver failed repeatedly; not calling it "
                        "for a while)");
    }
    last = send_once(n);
    if (last.ok()) {
      breaker_->record_success();
      return last;
    }
    breaker_->record_failure();
    if (attempt < retry_.max_attempts && breaker_->state() != CircuitBreaker::State::kOpen) {
      sleeper_(reclothes::backoff_delay(attempt, retry_.backoff_initial, retry_.backoff_max));
    }
  }
  return last;
}

Status WebhookNotificationSender::send_once(const Notification& n) {
  httplib::Client cli(base_);
  cli.set_connection_timeout(timeout_);
  cli.set_read_timeout(timeout_);
  cli.set_write_timeout(timeout_);
  const httplib::Headers headers = {{"X-Notification-Id", std::to_string(n.id)}};
  auto res = cli.Post(path_.c_str(), headers, n.to_json().dump(), "application/json");
  if (!res) {
    return make_error(ErrorCode::kUnavailable, "webhook: " + httplib::to_string(res.error()));
  }
  if (res->status < 200 || res->status >= 300) {
    return make_error(ErrorCode::kUnavailable, "webhook answered " + std::to_string(res->status));
  }
  return ok_status();
}

}  // namespace reclothes::controller::domain
