// Donor returns over HTTP: the donor asks for a donated item back (public listener), staff list,
// approve or refuse the requests (internal listener, audited). The SQL is in
// store/donor_return_store.cpp; an approved request's delivery is a buying order of kind
// donor_return, which the buying and task routes drive like any other.
#include "../store/donor_return_store.h"
#include "route_common.h"

namespace reclothes::controller::domain {

// File-local names in a namespace of their own (unity builds compile route modules together).
namespace donor_return_routes {
namespace {

using L = Listener;
using M = HttpMethod;
using P = Permission;

AuditDetail donor_return_audit(std::int64_t id, nlohmann::json before = nullptr,
                               nlohmann::json after = nullptr, std::string reason = "") {
  return {"donor_return", std::to_string(id), std::move(before), std::move(after),
          std::move(reason)};
}

HandlerResult request_handler(DomainContext& d, RequestContext& ctx) {
  FieldReader r(ctx.body());
  DonorReturnRequest req;
  req.location_id = r.integer("location_id", 1, INT64_MAX);
  req.note = r.optional_string("note", 0, 500).value_or("");
  RC_FINISH_BODY(r);
  req.customer_id = ctx.principal().account_id;
  req.donation_id = id_param(ctx, "id");
  req.position = static_cast<int>(id_param(ctx, "number"));
  auto created = request_donor_return(ctx.tx(), req, d.now_ms());
  if (!created.ok()) return to_api(d.s, ctx, created.error());
  return Response::created(std::move(created).value());
}

HandlerResult own_list_handler(DomainContext& d, RequestContext& ctx) {
  auto items = list_own_donor_returns(ctx.tx(), ctx.principal().account_id);
  if (!items.ok()) return to_api(d.s, ctx, items.error());
  return Response::ok({{"items", std::move(items).value()}});
}

HandlerResult staff_list_handler(DomainContext& d, RequestContext& ctx) {
  std::optional<DonorReturnState> state;
  if (auto s = ctx.query("state")) {
    state = donor_return_state_from_string(*s);
    if (!state) return invalid_query("state", "must be requested, approved or refused");
  }
  auto limit = query_int(ctx, "limit", 1, 200);
  if (!limit.ok()) return std::move(limit).error();
  auto items = list_donor_returns(ctx.tx(), state, limit->value_or(50));
  if (!items.ok()) return to_api(d.s, ctx, items.error());
  return Response::ok({{"items", std::move(items).value()}});
}

HandlerResult approve_handler(DomainContext& d, RequestContext& ctx) {
  const auto id = id_param(ctx, "id");
  ctx.set_audit(donor_return_audit(id));
  auto done = approve_donor_return(d, ctx.tx(), id, ctx.principal().account_id, d.now_ms());
  if (!done.ok()) return to_api(d.s, ctx, done.error());
  ctx.set_audit(donor_return_audit(id, done->before, done->after));
  return Response::ok(std::move(done->after));
}

HandlerResult refuse_handler(DomainContext& d, RequestContext& ctx) {
  FieldReader r(ctx.body());
  const auto reason = r.string("reason", 1, 500);
  RC_FINISH_BODY(r);
  const auto id = id_param(ctx, "id");
  ctx.set_audit(donor_return_audit(id, nullptr, nullptr, reason));
  auto done = refuse_donor_return(ctx.tx(), id, ctx.principal().account_id, reason, d.now_ms());
  if (!done.ok()) return to_api(d.s, ctx, done.error());
  ctx.set_audit(donor_return_audit(id, done->before, done->after, reason));
  return Response::ok(std::move(done->after));
}

}  // namespace
}  // namespace donor_return_routes

void register_donor_return_routes(Router& router, const std::shared_ptr<DomainContext>& dp) {
  using namespace donor_return_routes;
  auto d = dp;
  router.add(route(L::kPublic, M::kPost, "/v1/donations/{id}/items/{number}/return",
                   Access::customer(), "donor_return.request", false, BodyKind::kRequired,
                   "Ask for a donated item back (before it is published or recycled); staff "
                   "approve or refuse",
                   [d](RequestContext& ctx) { return request_handler(*d, ctx); }));
  router.add(route(L::kPublic, M::kGet, "/v1/donor-returns", Access::customer(),
                   "donor_return.list_own", false, BodyKind::kNone,
                   "The customer's requests for donated items back, newest first",
                   [d](RequestContext& ctx) { return own_list_handler(*d, ctx); }));
  router.add(route(L::kInternal, M::kGet, "/internal/v1/donor-returns",
                   Access::needs(P::kOrdersReadAll), "donor_return.list", false, BodyKind::kNone,
                   "Donors' requests for items back, newest first; filter by state",
                   [d](RequestContext& ctx) { return staff_list_handler(*d, ctx); }));
  router.add(route(L::kInternal, M::kPost, "/internal/v1/donor-returns/{id}/approve",
                   Access::needs(P::kOrdersAssign), "donor_return.approve", true, BodyKind::kNone,
                   "Approve a donor return: a buying order (kind donor_return) delivers the item "
                   "to the donor's box; its reward coins are taken back",
                   [d](RequestContext& ctx) { return approve_handler(*d, ctx); }));
  router.add(route(L::kInternal, M::kPost, "/internal/v1/donor-returns/{id}/refuse",
                   Access::needs(P::kOrdersAssign), "donor_return.refuse", true,
                   BodyKind::kRequired, "Refuse a donor return with a reason (the donor is told)",
                   [d](RequestContext& ctx) { return refuse_handler(*d, ctx); }));
}

}  // namespace reclothes::controller::domain
