// Domain configuration, registration into the controller, and the access_completed dispatcher.
#include "reclothes/controller/domain/domain.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "common.h"

namespace reclothes::controller::domain {
namespace {

template <typename D>
void read_duration(FieldReader& r, std::string_view key, D& out, std::int64_t min,
                   std::int64_t max) {
  if (auto v = r.optional_integer(key, min, max)) out = D(*v);
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
  });
  section("buying", [&](FieldReader& r) {
    read_duration(r, "pickup_window_s", c.buying.pickup_window, 3600, 31 * 86400);
    read_duration(r, "return_window_s", c.buying.return_window, 0, 365 * 86400);
    read_duration(r, "return_reservation_s", c.buying.return_reservation, 60, 31 * 86400);
    if (auto v = r.optional_string("currency", 3, 3)) c.buying.currency = *v;
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
    read_duration(r, "retry_interval_s", c.notifications.retry_interval, 1, 86400);
    if (r.ok() && c.notifications.sender == "webhook" && c.notifications.webhook_url.empty()) {
      r.fail("webhook_url", "is required for the webhook sender");
    }
  });
  read_duration(root, "worker_interval_ms", c.worker_interval, 0, 3600000);
  if (auto e = root.finish()) {
    return make_error(ErrorCode::kInvalidArgument, "domain config " + e->to_string());
  }
  return c;
}

Status on_access_completed(DomainContext& d, pqxx::work& tx, const BoxEventContext& ctx,
                           const msg::Event& e) {
  // Remote opens (by command) carry no token: nothing for the domain.
  if (!e.action || !e.order_ref || !e.compartment) return ok_status();
  switch (*e.action) {
    case TokenAction::kDeposit:
      return on_deposit(d, tx, ctx, e);
    case TokenAction::kPickup:
      return on_pickup(d, tx, ctx, e);
    case TokenAction::kCourierCollect:
      return on_courier_collect(d, tx, ctx, e);
    case TokenAction::kCourierLoad:
      return on_courier_load(d, tx, ctx, e);
    case TokenAction::kReturn:
      return on_return(d, tx, ctx, e);
  }
  return ok_status();
}

Status register_domain(Router& router, EventApplier& events, const Services& services,
                       DomainConfig config) {
  const auto max = services.config.tokens.max_validity;
  const auto too_long = [&](std::chrono::seconds v, const char* what) -> Status {
    if (v > max) {
      return make_error(ErrorCode::kInvalidArgument,
                        std::string("domain config: ") + what + " (" + std::to_string(v.count()) +
                            " s) is longer than tokens.max_validity_s (" +
                            std::to_string(max.count()) + " s): its token could not be issued");
    }
    return ok_status();
  };
  RC_TRY(too_long(config.donations.reservation, "donations.reservation_s"));
  RC_TRY(too_long(config.buying.return_reservation, "buying.return_reservation_s"));
  RC_TRY(too_long(config.buying.pickup_window, "buying.pickup_window_s"));

  auto d =
      std::make_shared<DomainContext>(DomainContext{services, config, nullptr, nullptr, nullptr});
  if (config.payments.sandbox) {
    RC_ASSIGN_OR_RETURN(d->sandbox, SandboxPaymentProvider::start({}));
    config.payments.provider_url = d->sandbox->url();
    services.log.info("sandbox payment provider started", {{"url", config.payments.provider_url}});
  }
  if (!config.payments.provider_url.empty()) {
    HttpPaymentClient::Options o;
    o.base_url = config.payments.provider_url;
    o.api_key = config.payments.api_key;
    o.connect_timeout = config.payments.connect_timeout;
    o.read_timeout = config.payments.read_timeout;
    o.max_attempts = config.payments.max_attempts;
    o.backoff_initial = config.payments.backoff_initial;
    o.backoff_max = config.payments.backoff_max;
    o.breaker = {config.payments.breaker_failures, config.payments.breaker_cooldown};
    RC_ASSIGN_OR_RETURN(auto client, HttpPaymentClient::create(o, services.clock));
    d->payments = std::move(client);
  }
  std::shared_ptr<NotificationSender> sender;
  if (config.notifications.sender == "webhook") {
    RC_ASSIGN_OR_RETURN(auto w, WebhookNotificationSender::create(config.notifications.webhook_url,
                                                                  config.notifications.timeout));
    sender = std::move(w);
  } else {
    sender = std::make_shared<LogNotificationSender>(services.log);
  }
  d->config = config;
  d->worker = std::make_unique<DomainWorker>(services, config, d->payments, sender);
  if (config.worker_interval.count() > 0) d->worker->start(config.worker_interval);

  // The routes own the domain's state; the Router is destroyed before the services it uses, so
  // the worker stops while the database and the bridge still exist. Event hooks hold only weak
  // references for the same reason.
  register_donation_routes(router, d);
  register_buying_routes(router, d);
  register_task_routes(router, d);
  register_management_routes(router, d);

  std::weak_ptr<DomainContext> weak = d;
  events.on(msg::EventKind::kAccessCompleted,
            [weak](pqxx::work& tx, const BoxEventContext& ctx, const msg::Event& e) -> Status {
              auto dp = weak.lock();
              if (!dp) return make_error(ErrorCode::kUnavailable, "the domain is shutting down");
              return on_access_completed(*dp, tx, ctx, e);
            });
  events.on(msg::EventKind::kFillLevel,
            [weak](pqxx::work& tx, const BoxEventContext& ctx, const msg::Event& e) -> Status {
              auto dp = weak.lock();
              if (!dp) return make_error(ErrorCode::kUnavailable, "the domain is shutting down");
              return on_fill_level(*dp, tx, ctx, e);
            });
  return ok_status();
}

}  // namespace reclothes::controller::domain
