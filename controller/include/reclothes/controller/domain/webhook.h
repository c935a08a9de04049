// The webhook notification channel: an adapter (HTTP client), outside the domain target.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "reclothes/common/result.h"
#include "reclothes/controller/domain/worker.h"

namespace reclothes::controller::domain {

// POSTs each notification as JSON to a URL; any 2xx is delivered. Receivers must tolerate
// duplicates (delivery is at least once): the body's "id" identifies a notification.
class WebhookNotificationSender final : public NotificationSender {
 public:
  // kInvalidArgument for a URL that is not http(s)://host[:port][/path].
  static Result<std::unique_ptr<WebhookNotificationSender>> create(
      const std::string& url, std::chrono::milliseconds timeout);
  Status send(const Notification& n) override;

 private:
  WebhookNotificationSender(std::string base, std::string path, std::chrono::milliseconds timeout)
      : base_(std::move(base)), path_(std::move(path)), timeout_(timeout) {}
  std::string base_;
  std::string path_;
  std::chrono::milliseconds timeout_;
};

}  // namespace reclothes::controller::domain
