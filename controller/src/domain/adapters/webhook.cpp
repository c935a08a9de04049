// The webhook notification channel (an HTTP client: outside the domain target).
#include "reclothes/controller/domain/webhook.h"

#include <httplib.h>

#include <regex>

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

Status WebhookNotificationSender::send(const Notification& n) {
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
