// The "domain" section of the controller configuration (docs/orders.md#configuration).
#include "reclothes/controller/domain/domain_config.h"

#include <regex>

#include "reclothes/controller/domain/notification_text.h"
#include "reclothes/controller/json_fields.h"

namespace reclothes::controller::domain {
namespace {

template <typename D>
void read_duration(FieldReader& r, std::string_view key, D& out, std::int64_t min,
                   std::int64_t max) {
  if (auto v = r.optional_integer(key, min, max)) out = D(*v);
}

// notifications.channels: 1..3 distinct names of log, webhook, smtp.
void read_notification_channels(FieldReader& r, DomainConfig::Notifications& n) {
  const auto* arr = r.array("channels", false, 1, 3);
  if (arr == nullptr) return;
  for (const auto& item : *arr) {
    if (!item.is_string() || (item != "log" && item != "webhook" && item != "smtp")) {
      r.fail("channels", "each must be log, webhook or smtp");
      return;
    }
    const auto name = item.get<std::string>();
    if (std::find(n.channels.begin(), n.channels.end(), name) != n.channels.end()) {
      r.fail("channels", "lists " + name + " twice");
      return;
    }
    n.channels.push_back(name);
  }
}

// notifications.smtp_*: the SMTP channel's server, sender and adapter settings.
void read_smtp(FieldReader& r, DomainConfig::Notifications::Smtp& s) {
  static const std::regex kSmtpUrl(R"(^smtps?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?$)");
  if (auto v = r.optional_string("smtp_url", 1, 512)) {
    if (!std::regex_match(*v, kSmtpUrl)) r.fail("smtp_url", "must be smtp(s)://host[:port]");
    s.url = *v;
  }
  if (auto v = r.optional_string("smtp_from", 3, 254)) {
    if (!is_plain_mail_address(*v)) r.fail("smtp_from", "must be a plain address like a@b.example");
    s.from = *v;
  }
  if (auto v = r.optional_string("smtp_from_name", 0, 100)) {
    if (v->find_first_of("\r\n") != std::string::npos) r.fail("smtp_from_name", "must be one line");
    s.from_name = *v;
  }
  if (auto v = r.optional_string("smtp_username", 1, 256)) s.username = *v;
  if (auto v = r.optional_string("smtp_password", 1, 256)) s.password = *v;
  if (auto v = r.optional_boolean("smtp_starttls")) s.starttls = *v;
  read_duration(r, "smtp_connect_timeout_ms", s.connect_timeout, 10, 60000);
  read_duration(r, "smtp_timeout_ms", s.timeout, 10, 120000);
  if (auto v = r.optional_integer("smtp_max_attempts", 1, 10))
    s.max_attempts = static_cast<int>(*v);
  read_duration(r, "smtp_backoff_initial_ms", s.backoff_initial, 0, 60000);
  read_duration(r, "smtp_backoff_max_ms", s.backoff_max, 0, 600000);
  if (auto v = r.optional_integer("smtp_breaker_failures", 1, 1000)) {
    s.breaker_failures = static_cast<int>(*v);
  }
  read_duration(r, "smtp_breaker_cooldown_ms", s.breaker_cooldown, 0, 3600000);
  if (r.ok() && s.username.empty() != s.password.empty()) {
    r.fail("smtp_password", "give both smtp_username and smtp_password, or neither");
  }
}

}  // namespace

Result<DomainConfig> parse_domain_config(const nlohmann::json& j) {
  DomainConfig c;
  FieldReader root(j);
  const auto section = [&](std::string_view key, const auto& read) {
    if (const auto* obj = root.object(key, false)) {
      FieldReader r = root.child(key, *obj);
      read(r);
      r.finish();
      root.merge(r);
    }
  };
  section("donations", [&](FieldReader& r) {
    read_duration(r, "reservation_s", c.donations.reservation, 10, 31 * 86400);
    read_duration(r, "expiry_warning_s", c.donations.expiry_warning, 0, 31 * 86400);
  });
  section("collecting", [&](FieldReader& r) {
    if (auto v = r.optional_integer("compartment_threshold", 1, 255)) {
      c.collecting.compartment_threshold = static_cast<int>(*v);
    }
    if (auto v = r.optional_integer("fill_percent", 1, 100)) {
      c.collecting.fill_percent = static_cast<int>(*v);
    }
    read_duration(r, "max_wait_s", c.collecting.max_wait, 60, 365 * 86400);
    if (auto v = r.optional_boolean("empty_by_fill_sensor")) c.collecting.empty_by_fill_sensor = *v;
  });
  section("buying", [&](FieldReader& r) {
    read_duration(r, "pickup_window_s", c.buying.pickup_window, 10, 31 * 86400);
    read_duration(r, "return_window_s", c.buying.return_window, 0, 365 * 86400);
    read_duration(r, "return_reservation_s", c.buying.return_reservation, 60, 31 * 86400);
    read_duration(r, "pickup_reminder_s", c.buying.pickup_reminder, 0, 31 * 86400);
    read_duration(r, "pickup_last_reminder_s", c.buying.pickup_last_reminder, 0, 31 * 86400);
    if (auto v = r.optional_string("no_show_policy", 1, 16)) {
      if (*v != "refund" && *v != "restock") r.fail("no_show_policy", "must be refund or restock");
      c.buying.no_show_policy = *v;
    }
    if (r.ok() && c.buying.pickup_last_reminder.count() > 0 &&
        c.buying.pickup_last_reminder >= c.buying.pickup_reminder) {
      r.fail("pickup_last_reminder_s", "must be shorter than pickup_reminder_s (or 0)");
    }
    if (auto v = r.optional_string("currency", 3, 3)) c.buying.currency = *v;
    if (const auto* obj = r.object("return_refund_percent_by_grade", false)) {
      FieldReader g = r.child("return_refund_percent_by_grade", *obj);
      auto& pct = c.buying.return_refund_percent_by_grade;
      if (auto v = g.optional_integer("publish", 0, 100)) pct.publish = static_cast<int>(*v);
      if (auto v = g.optional_integer("recycle", 0, 100)) pct.recycle = static_cast<int>(*v);
      g.finish();
      r.merge(g);
    }
  });
  section("payments", [&](FieldReader& r) {
    if (auto v = r.optional_string("provider_url", 1, 512)) c.payments.provider_url = *v;
    if (auto v = r.optional_boolean("sandbox")) c.payments.sandbox = *v;
    if (auto v = r.optional_string("api_key", 1, 512)) c.payments.api_key = *v;
    read_duration(r, "connect_timeout_ms", c.payments.connect_timeout, 10, 60000);
    read_duration(r, "read_timeout_ms", c.payments.read_timeout, 10, 120000);
    if (auto v = r.optional_integer("max_attempts", 1, 10)) {
      c.payments.max_attempts = static_cast<int>(*v);
    }
    read_duration(r, "backoff_initial_ms", c.payments.backoff_initial, 0, 60000);
    read_duration(r, "backoff_max_ms", c.payments.backoff_max, 0, 600000);
    if (auto v = r.optional_integer("breaker_failures", 1, 1000)) {
      c.payments.breaker_failures = static_cast<int>(*v);
    }
    read_duration(r, "breaker_cooldown_ms", c.payments.breaker_cooldown, 0, 3600000);
    read_duration(r, "retry_interval_s", c.payments.retry_interval, 1, 86400);
    if (r.ok() && c.payments.sandbox && !c.payments.provider_url.empty()) {
      r.fail("sandbox", "give either provider_url or sandbox, not both");
    }
  });
  section("notifications", [&](FieldReader& r) {
    if (auto v = r.optional_string("sender", 1, 16)) {
      if (*v != "log" && *v != "webhook") r.fail("sender", "must be log or webhook");
      c.notifications.sender = *v;
    }
    if (auto v = r.optional_string("webhook_url", 1, 512)) c.notifications.webhook_url = *v;
    read_duration(r, "timeout_ms", c.notifications.timeout, 10, 60000);
    if (auto v = r.optional_integer("webhook_max_attempts", 1, 10)) {
      c.notifications.webhook_max_attempts = static_cast<int>(*v);
    }
    if (auto v = r.optional_integer("webhook_breaker_failures", 1, 1000)) {
      c.notifications.webhook_breaker_failures = static_cast<int>(*v);
    }
    read_duration(r, "webhook_breaker_cooldown_ms", c.notifications.webhook_breaker_cooldown, 0,
                  3600000);
    read_duration(r, "retry_interval_s", c.notifications.retry_interval, 1, 86400);
    read_notification_channels(r, c.notifications);
    read_smtp(r, c.notifications.smtp);
    const auto channels = c.notifications.enabled_channels();
    const auto uses = [&](const char* ch) {
      return std::find(channels.begin(), channels.end(), ch) != channels.end();
    };
    if (r.ok() && uses("webhook") && c.notifications.webhook_url.empty()) {
      r.fail("webhook_url", "is required for the webhook sender");
    }
    if (r.ok() && uses("smtp") && c.notifications.smtp.url.empty()) {
      r.fail("smtp_url", "is required for the smtp channel");
    }
    if (r.ok() && uses("smtp") && c.notifications.smtp.from.empty()) {
      r.fail("smtp_from", "is required for the smtp channel");
    }
  });
  section("accounts", [&](FieldReader& r) {
    read_duration(r, "code_ttl_s", c.accounts.code_ttl, 60, 86400);
    if (auto v = r.optional_integer("code_max_attempts", 1, 20)) {
      c.accounts.code_max_attempts = static_cast<int>(*v);
    }
    read_duration(r, "request_window_s", c.accounts.request_window, 60, 7 * 86400);
    if (auto v = r.optional_integer("requests_per_email", 1, 1000)) {
      c.accounts.requests_per_email = static_cast<int>(*v);
    }
    if (auto v = r.optional_integer("requests_per_address", 1, 100000)) {
      c.accounts.requests_per_address = static_cast<int>(*v);
    }
  });
  section("alarms", [&](FieldReader& r) {
    read_duration(r, "offline_after_s", c.alarms.offline_after, 0, 7 * 86400);
    if (r.ok() && c.alarms.offline_after.count() > 0 && c.alarms.offline_after.count() < 60) {
      r.fail("offline_after_s", "must be 0 (no offline faults) or at least 60");
    }
    read_duration(r, "reminder_s", c.alarms.reminder, 10, 7 * 86400);
    if (auto v = r.optional_integer("max_reminders", 0, 100)) {
      c.alarms.max_reminders = static_cast<int>(*v);
    }
    if (auto v = r.optional_boolean("notify_closed")) c.alarms.notify_closed = *v;
  });
  read_duration(root, "worker_interval_ms", c.worker_interval, 0, 3600000);
  if (auto e = root.finish()) {
    return make_error(ErrorCode::kInvalidArgument, "domain config " + e->to_string());
  }
  return c;
}

}  // namespace reclothes::controller::domain
