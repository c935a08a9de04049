// The domain's composition: its adapters, context, worker, routes and event hooks.
#include "../store/shared.h"
#include "../store/stuck_store.h"
#include "reclothes/controller/domain/domain.h"
#include "reclothes/controller/domain/sandbox.h"
#include "reclothes/controller/domain/smtp.h"
#include "reclothes/controller/domain/worker.h"
#include "route_common.h"

namespace reclothes::controller::domain {

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
    RC_ASSIGN_OR_RETURN(auto sandbox, SandboxPaymentProvider::start({}));
    config.payments.provider_url = sandbox->url();
    d->adapters = std::shared_ptr<SandboxPaymentProvider>(std::move(sandbox));
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
  RC_ASSIGN_OR_RETURN(auto channels, make_notification_channels(config.notifications, services.log,
                                                                services.clock));
  d->config = config;
  d->worker = std::make_unique<DomainWorker>(services, config, d->payments, std::move(channels));
  if (config.worker_interval.count() > 0) d->worker->start(config.worker_interval);

  // The routes own the domain's state; the Router is destroyed before the services it uses, so
  // the worker stops while the database and the bridge still exist. Event hooks hold only weak
  // references for the same reason.
  register_donation_routes(router, d);
  register_buying_routes(router, d);
  register_task_routes(router, d);
  register_management_routes(router, d);
  register_account_routes(router, d);
  register_location_routes(router, d);
  register_box_open_routes(router, d);
  register_notification_routes(router, d);
  register_stuck_routes(router, d);
  register_role_routes(router, d);
  register_on_behalf_routes(router, d);
  register_donor_return_routes(router, d);
  register_alarm_routes(router, d);

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
  // Issue 18: token consumptions are recorded; a courier's jammed collect door ends that part of
  // the collecting order.
  events.on(msg::EventKind::kUnlocked,
            [weak](pqxx::work& tx, const BoxEventContext& ctx, const msg::Event& e) -> Status {
              auto dp = weak.lock();
              if (!dp) return make_error(ErrorCode::kUnavailable, "the domain is shutting down");
              return on_token_unlocked(*dp, tx, ctx, e);
            });
  events.on(msg::EventKind::kJammed,
            [weak](pqxx::work& tx, const BoxEventContext& ctx, const msg::Event& e) -> Status {
              auto dp = weak.lock();
              if (!dp) return make_error(ErrorCode::kUnavailable, "the domain is shutting down");
              return on_collect_jammed(*dp, tx, ctx, e);
            });
  return ok_status();
}

}  // namespace reclothes::controller::domain
