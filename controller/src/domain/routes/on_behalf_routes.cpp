// Customer service on a customer's behalf, the HTTP side (internal listener): search and view a
// customer's buying orders and donations with their history; cancel, refund and re-send the
// pickup code of a buying order; cancel a reserved donation. Every action needs a reason and is
// audited with before/after. The SQL is in store/on_behalf_store.cpp.
#include "../store/on_behalf_store.h"
#include "../store/shared.h"
#include "reclothes/controller/domain/on_behalf.h"
#include "route_common.h"

namespace reclothes::controller::domain {

// The module's names stay in a namespace of their own (unity builds put route modules together).
namespace on_behalf_routes {
namespace {

using L = Listener;
using M = HttpMethod;
using P = Permission;

bool reads_full(const RequestContext& ctx) {
  return ctx.principal().can(Permission::kCustomersReadFull);
}

// ---- search -------------------------------------------------------------------------------------

std::string state_names(bool buying) {
  std::string names;
  if (buying) {
    for (auto s : all_buying_states())
      names += (names.empty() ? "" : ", ") + std::string(to_string(s));
  } else {
    for (auto s : all_donation_states()) {
      names += (names.empty() ? "" : ", ") + std::string(to_string(s));
    }
  }
  return names;
}

std::optional<ApiError> read_time_query(const RequestContext& ctx, std::string_view name,
                                        std::optional<std::int64_t>& out) {
  const auto v = ctx.query(name);
  if (!v) return std::nullopt;
  out = parse_ts(*v);
  if (!out) return invalid_query(name, "expected an RFC 3339 time (2026-01-31T12:00:00Z)");
  return std::nullopt;
}

std::optional<ApiError> read_text_query(const RequestContext& ctx, std::string_view name,
                                        std::optional<std::string>& out) {
  out = ctx.query(name);
  if (out && (out->empty() || out->size() > 254)) {
    return invalid_query(name, "must be 1 to 254 characters");
  }
  return std::nullopt;
}

Result<CustomerOrderQuery, ApiError> read_search(const RequestContext& ctx, bool buying) {
  CustomerOrderQuery q;
  q.full = reads_full(ctx);
  std::optional<std::int64_t> limit;
  for (auto e : {read_int_query(ctx, "customer_id", 1, INT64_MAX, q.customer_id),
                 read_int_query(ctx, "location_id", 1, INT64_MAX, q.location_id),
                 read_int_query(ctx, "before_id", 1, INT64_MAX, q.before_id),
                 read_int_query(ctx, "limit", 1, 200, limit),
                 read_text_query(ctx, "email", q.email), read_text_query(ctx, "box_id", q.box_id),
                 read_text_query(ctx, "tracking_code", q.tracking_code),
                 read_time_query(ctx, "created_from", q.created_from_ms),
                 read_time_query(ctx, "created_to", q.created_to_ms)}) {
    if (e) return std::move(*e);
  }
  q.limit = limit.value_or(50);
  if (auto s = ctx.query("state")) {
    const bool known = buying ? buying_state_from_string(*s).has_value()
                              : donation_state_from_string(*s).has_value();
    if (!known) return invalid_query("state", "must be one of " + state_names(buying));
    q.state = *s;
  }
  return q;
}

HandlerResult respond_page(DomainContext& d, const RequestContext& ctx,
                           StoreResult<CustomerOrderPage> page) {
  if (!page.ok()) return to_api(d.s, ctx, page.error());
  nlohmann::json next = nullptr;
  if (page->next_before_id) next = *page->next_before_id;
  return Response::ok(
      {{"items", std::move(page->items)}, {"total", page->total}, {"next_before_id", next}});
}

HandlerResult search_orders_handler(DomainContext& d, RequestContext& ctx) {
  auto q = read_search(ctx, true);
  if (!q.ok()) return std::move(q).error();
  return respond_page(d, ctx, search_buying_orders(ctx.tx(), *q));
}

HandlerResult search_donations_handler(DomainContext& d, RequestContext& ctx) {
  auto q = read_search(ctx, false);
  if (!q.ok()) return std::move(q).error();
  return respond_page(d, ctx, search_donations(ctx.tx(), *q));
}

HandlerResult order_case_handler(DomainContext& d, RequestContext& ctx) {
  auto view = buying_order_case(ctx.tx(), id_param(ctx, "id"), reads_full(ctx));
  if (!view.ok()) return to_api(d.s, ctx, view.error());
  return Response::ok(std::move(view).value());
}

HandlerResult donation_case_handler(DomainContext& d, RequestContext& ctx) {
  auto view = donation_case(ctx.tx(), id_param(ctx, "id"), reads_full(ctx));
  if (!view.ok()) return to_api(d.s, ctx, view.error());
  return Response::ok(std::move(view).value());
}

// ---- actions ------------------------------------------------------------------------------------

// The reason every action needs, read from the body (with amount_cents for a refund).
struct ActionBody {
  OnBehalf who;
  std::optional<std::int64_t> amount_cents;
};

Result<ActionBody, ApiError> read_action(const RequestContext& ctx, bool with_amount) {
  FieldReader r(ctx.body());
  ActionBody body;
  if (with_amount) body.amount_cents = r.optional_integer("amount_cents", 1, 100'000'000);
  if (!r.has("reason") && r.ok()) {
    r.fail("reason", "required: say why you act on the customer's behalf");
  }
  body.who.reason = r.string("reason", 0, 2000);
  if (r.ok()) {
    if (auto problem = reason_problem(body.who.reason); !problem.empty()) r.fail("reason", problem);
  }
  RC_FINISH_BODY(r);
  body.who.staff_id = ctx.principal().account_id;
  return body;
}

// After the commit: the box learns the change (revoke command first), the refund is attempted.
void follow_up(DomainContext& d, RequestContext& ctx, const OnBehalfChange& c) {
  auto* dp = &d;
  ctx.after_commit([dp, box = c.publish_config, cmd = c.revoke, pid = c.refund_payment_id] {
    if (box) {
      if (cmd) dp->s.messaging.publish_command(*box, *cmd);
      dp->s.messaging.publish_config(*box);
    }
    if (pid != 0 && dp->payments) {
      auto attempted = attempt_payment(*dp, pid, true);
      if (!attempted.ok()) {
        dp->s.log.error("refund attempt failed", {{"error", attempted.error().message}});
      }
    }
  });
}

using OrderAction = StoreResult<OnBehalfChange> (*)(DomainContext&, pqxx::work&, std::int64_t,
                                                    const ActionBody&, std::int64_t);

// One action on a buying order or a donation (target_type), audited with before/after and the
// reason; answers the case view after the change.
HandlerResult act(DomainContext& d, RequestContext& ctx, const char* target_type, bool with_amount,
                  OrderAction action) {
  auto body = read_action(ctx, with_amount);
  if (!body.ok()) return std::move(body).error();
  const auto id = id_param(ctx, "id");
  const auto target = std::to_string(id);
  ctx.set_audit({target_type, target, nullptr, nullptr, body->who.reason});
  auto change = action(d, ctx.tx(), id, *body, d.now_ms());
  if (!change.ok()) return to_api(d.s, ctx, change.error());
  ctx.set_audit({target_type, target, change->before, change->after, body->who.reason});
  follow_up(d, ctx, *change);
  const bool buying = std::string_view(target_type) == "buying_order";
  auto view = buying ? buying_order_case(ctx.tx(), id, reads_full(ctx))
                     : donation_case(ctx.tx(), id, reads_full(ctx));
  if (!view.ok()) return to_api(d.s, ctx, view.error());
  return Response::ok(std::move(view).value());
}

HandlerResult cancel_order_handler(DomainContext& d, RequestContext& ctx) {
  return act(d, ctx, "buying_order", false,
             [](DomainContext& dd, pqxx::work& tx, std::int64_t id, const ActionBody& b,
                std::int64_t now) { return cancel_order_on_behalf(dd, tx, id, b.who, now); });
}

HandlerResult refund_order_handler(DomainContext& d, RequestContext& ctx) {
  return act(d, ctx, "buying_order", true,
             [](DomainContext& dd, pqxx::work& tx, std::int64_t id, const ActionBody& b,
                std::int64_t now) {
               return refund_order_on_behalf(dd, tx, id, b.amount_cents, b.who, now);
             });
}

HandlerResult resend_code_handler(DomainContext& d, RequestContext& ctx) {
  return act(d, ctx, "buying_order", false,
             [](DomainContext&, pqxx::work& tx, std::int64_t id, const ActionBody& b,
                std::int64_t now) { return resend_pickup_code(tx, id, b.who, now); });
}

HandlerResult cancel_donation_handler(DomainContext& d, RequestContext& ctx) {
  return act(d, ctx, "donation", false,
             [](DomainContext& dd, pqxx::work& tx, std::int64_t id, const ActionBody& b,
                std::int64_t now) { return cancel_donation_on_behalf(dd, tx, id, b.who, now); });
}

}  // namespace
}  // namespace on_behalf_routes

void register_on_behalf_routes(Router& router, const std::shared_ptr<DomainContext>& d) {
  using namespace on_behalf_routes;
  router.add(route(L::kInternal, M::kGet, "/internal/v1/buying-orders",
                   Access::needs(P::kCustomersReadMasked), "customer_order.list", false,
                   BodyKind::kNone,
                   "Customers' buying orders, newest first: filter by customer_id, email, state, "
                   "box_id, location_id, created_from/created_to, tracking_code; paged by "
                   "before_id; personal data masked unless customers.read_full",
                   with_domain(d, search_orders_handler)));
  router.add(route(L::kInternal, M::kGet, "/internal/v1/buying-orders/{id}",
                   Access::needs(P::kCustomersReadMasked), "customer_order.read", false,
                   BodyKind::kNone,
                   "One buying order with its history: payments and refunds, state changes, "
                   "tokens, internal orders, audit rows",
                   with_domain(d, order_case_handler)));
  router.add(route(L::kInternal, M::kPost, "/internal/v1/buying-orders/{id}/cancel",
                   Access::needs(P::kOrdersActOnBehalf), "customer_order.cancel", true,
                   BodyKind::kRequired,
                   "Cancel on the customer's behalf (paid or packed; with a reason): the "
                   "customer's cancel's effects, what is left to refund is refunded",
                   with_domain(d, cancel_order_handler)));
  router.add(route(L::kInternal, M::kPost, "/internal/v1/buying-orders/{id}/refund",
                   Access::needs(P::kRefundsIssue), "customer_order.refund", true,
                   BodyKind::kRequired,
                   "Refund all that is left or amount_cents of it, with a reason; several "
                   "partial refunds add up to at most the charge",
                   with_domain(d, refund_order_handler)));
  router.add(route(L::kInternal, M::kPost, "/internal/v1/buying-orders/{id}/resend-pickup-code",
                   Access::needs(P::kOrdersActOnBehalf), "customer_order.resend_pickup_code", true,
                   BodyKind::kRequired,
                   "Send the pickup code notification again (ready_for_pickup; same token)",
                   with_domain(d, resend_code_handler)));
  router.add(route(L::kInternal, M::kGet, "/internal/v1/donations",
                   Access::needs(P::kCustomersReadMasked), "customer_donation.list", false,
                   BodyKind::kNone,
                   "Customers' donations, newest first: the buying-order search's filters; "
                   "personal data masked unless customers.read_full",
                   with_domain(d, search_donations_handler)));
  router.add(route(L::kInternal, M::kGet, "/internal/v1/donations/{id}",
                   Access::needs(P::kCustomersReadMasked), "customer_donation.read", false,
                   BodyKind::kNone,
                   "One donation with its history: state changes, tokens, internal orders, audit "
                   "rows",
                   with_domain(d, donation_case_handler)));
  router.add(route(L::kInternal, M::kPost, "/internal/v1/donations/{id}/cancel",
                   Access::needs(P::kOrdersActOnBehalf), "customer_donation.cancel", true,
                   BodyKind::kRequired,
                   "Cancel a reserved donation on the customer's behalf (with a reason): the "
                   "compartment is freed and the deposit token revoked at the box",
                   with_domain(d, cancel_donation_handler)));
}

}  // namespace reclothes::controller::domain
