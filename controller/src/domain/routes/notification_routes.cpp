// The customer's notifications over HTTP (public listener): the in-app list, marking read, and
// the choice of channels. The SQL is in store/notification_store.cpp; the texts come from
// rules/notification_text.cpp.
#include "../store/notification_store.h"
#include "route_common.h"

namespace reclothes::controller::domain {
namespace {

Result<NotificationQuery, ApiError> notification_query(const RequestContext& ctx) {
  NotificationQuery q;
  q.customer_id = ctx.principal().account_id;
  if (auto read = ctx.query("read")) {
    if (*read == "true") {
      q.read = true;
    } else if (*read == "false") {
      q.read = false;
    } else {
      return invalid_query("read", "must be true or false");
    }
  }
  auto limit = query_int(ctx, "limit", 1, 100);
  if (!limit.ok()) return std::move(limit).error();
  auto offset = query_int(ctx, "offset", 0, 1000000);
  if (!offset.ok()) return std::move(offset).error();
  q.limit = limit->value_or(20);
  q.offset = offset->value_or(0);
  return q;
}

nlohmann::json preferences_json(const NotificationPreferences& p) {
  return {{"email", p.email}, {"webhook", p.webhook}, {"in_app", true}};
}

HandlerResult list_notifications_handler(DomainContext& d, RequestContext& ctx) {
  auto q = notification_query(ctx);
  if (!q.ok()) return std::move(q).error();
  auto page = list_notifications(ctx.tx(), *q);
  if (!page.ok()) return to_api(d.s, ctx, page.error());
  return Response::ok(std::move(page).value());
}

HandlerResult put_preferences_handler(DomainContext& d, RequestContext& ctx) {
  FieldReader r(ctx.body());
  NotificationPreferences p;
  p.email = r.boolean("email");
  p.webhook = r.boolean("webhook");
  RC_FINISH_BODY(r);
  auto saved = set_notification_preferences(ctx.tx(), ctx.principal().account_id, p, d.now_ms());
  if (!saved.ok()) return to_api(d.s, ctx, saved.error());
  return Response::ok(preferences_json(*saved));
}

}  // namespace

void register_notification_routes(Router& router, const std::shared_ptr<DomainContext>& dp) {
  using L = Listener;
  using M = HttpMethod;
  auto d = dp;

  router.add(route(L::kPublic, M::kGet, "/v1/notifications", Access::customer(),
                   "notification.list", false, BodyKind::kNone,
                   "The customer's notifications, newest first, paged; read=true|false filters",
                   [d](RequestContext& ctx) { return list_notifications_handler(*d, ctx); }));

  router.add(route(L::kPublic, M::kPost, "/v1/notifications/{id}/read", Access::customer(),
                   "notification.read", false, BodyKind::kNone,
                   "Mark one of the customer's notifications read",
                   [d](RequestContext& ctx) -> HandlerResult {
                     auto item = mark_notification_read(ctx.tx(), ctx.principal().account_id,
                                                        id_param(ctx, "id"), d->now_ms());
                     if (!item.ok()) return to_api(d->s, ctx, item.error());
                     return Response::ok(std::move(item).value());
                   }));

  router.add(route(L::kPublic, M::kPost, "/v1/notifications/read-all", Access::customer(),
                   "notification.read_all", false, BodyKind::kNone,
                   "Mark every unread notification of the customer read",
                   [d](RequestContext& ctx) -> HandlerResult {
                     auto marked = mark_all_notifications_read(ctx.tx(), ctx.principal().account_id,
                                                               d->now_ms());
                     if (!marked.ok()) return to_api(d->s, ctx, marked.error());
                     return Response::ok(std::move(marked).value());
                   }));

  router.add(route(L::kPublic, M::kGet, "/v1/me/notification-preferences", Access::customer(),
                   "notification.preferences.read", false, BodyKind::kNone,
                   "The customer's notification channels (the in-app list always records)",
                   [d](RequestContext& ctx) -> HandlerResult {
                     auto p = get_notification_preferences(ctx.tx(), ctx.principal().account_id);
                     if (!p.ok()) return to_api(d->s, ctx, p.error());
                     return Response::ok(preferences_json(*p));
                   }));

  router.add(route(L::kPublic, M::kPut, "/v1/me/notification-preferences", Access::customer(),
                   "notification.preferences.write", false, BodyKind::kRequired,
                   "Choose the customer's notification channels: {email, webhook}",
                   [d](RequestContext& ctx) { return put_preferences_handler(*d, ctx); }));
}

}  // namespace reclothes::controller::domain
