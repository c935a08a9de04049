// A manager's decisions about stuck internal orders (issue 18, item 3): reassign, cancel and
// force-complete, each with a required reason (in the audit row, with the order before and after).
// The SQL is in store/stuck_store.cpp; docs/orders.md, "Stuck internal orders", says what each
// decision means for each kind of order.
#include "../store/shared.h"
#include "../store/stuck_store.h"
#include "route_common.h"

namespace reclothes::controller::domain {
namespace {

AuditDetail decision_audit(std::int64_t id, std::string reason, nlohmann::json before = nullptr,
                           nlohmann::json after = nullptr) {
  return {"internal_order", std::to_string(id), std::move(before), std::move(after),
          std::move(reason)};
}

// The reason every decision needs: 1..500 characters.
std::string read_reason(FieldReader& r) { return r.string("reason", 1, 500); }

void publish_after_commit(DomainContext& d, RequestContext& ctx,
                          const std::optional<BoxRevoke>& revoke,
                          std::vector<std::string> config_boxes,
                          std::optional<std::int64_t> refund_payment_id) {
  const auto* s = &d.s;
  if (revoke) {
    const auto r = *revoke;
    ctx.after_commit([s, r] {
      s->messaging.publish_command(r.box_id, r.command);
      s->messaging.publish_config(r.box_id);
    });
  }
  for (auto& box : config_boxes) {
    ctx.after_commit([s, box] { s->messaging.publish_config(box); });
  }
  if (refund_payment_id) {
    auto* dd = &d;
    const auto pid = *refund_payment_id;
    ctx.after_commit([dd, pid] {
      auto r = attempt_payment(*dd, pid, true);
      if (!r.ok()) dd->s.log.error("refund attempt failed", {{"error", r.error().message}});
    });
  }
}

HandlerResult reassign_handler(DomainContext& d, RequestContext& ctx) {
  FieldReader r(ctx.body());
  const auto staff_id = r.integer("staff_id", 1, INT64_MAX);
  const auto reason = read_reason(r);
  RC_FINISH_BODY(r);
  const auto id = id_param(ctx, "id");
  ctx.set_audit(decision_audit(id, reason));
  auto a = assign_task(d, ctx.tx(), id, staff_id, ctx.principal().account_id, d.now_ms(),
                       TaskEvent::kReassign);
  if (!a.ok()) return to_api(d.s, ctx, a.error());
  ctx.set_audit(decision_audit(id, reason, a->before, a->after.summary));
  publish_after_commit(d, ctx, a->revoke, {}, std::nullopt);
  return Response::ok(std::move(a->after.task));
}

template <typename Decide>
HandlerResult decision_handler(DomainContext& d, RequestContext& ctx, Decide decide) {
  FieldReader r(ctx.body());
  const auto reason = read_reason(r);
  RC_FINISH_BODY(r);
  const auto id = id_param(ctx, "id");
  ctx.set_audit(decision_audit(id, reason));
  StoreResult<ManagerDecision> made = decide(id);
  if (!made.ok()) return to_api(d.s, ctx, made.error());
  nlohmann::json after = made->after.summary;
  if (made->replaced_by) after["replaced_by"] = *made->replaced_by;
  ctx.set_audit(decision_audit(id, reason, made->before, after));
  publish_after_commit(d, ctx, made->revoke, made->config_boxes, made->refund_payment_id);
  return Response::ok(std::move(made->after.task));
}

}  // namespace

void register_stuck_routes(Router& router, const std::shared_ptr<DomainContext>& dp) {
  using L = Listener;
  using M = HttpMethod;
  using P = Permission;
  auto d = dp;

  router.add(route(L::kInternal, M::kPost, "/internal/v1/orders/{id}/reassign",
                   Access::needs(P::kOrdersAssign), "internal_order.reassign", true,
                   BodyKind::kRequired,
                   "A manager hands an assigned or half-done internal order to another staff "
                   "member, with a reason; a courier's token is replaced",
                   [d](RequestContext& ctx) { return reassign_handler(*d, ctx); }));

  router.add(route(
      L::kInternal, M::kPost, "/internal/v1/orders/{id}/cancel", Access::needs(P::kOrdersAssign),
      "internal_order.cancel", true, BodyKind::kRequired,
      "A manager cancels an unfinished internal order, with a reason; its "
      "unfinished work goes back to be done again",
      [d](RequestContext& ctx) {
        return decision_handler(*d, ctx, [&](std::int64_t id) {
          return manager_cancel_task(*d, ctx.tx(), id, ctx.principal().account_id, d->now_ms());
        });
      }));

  router.add(route(
      L::kInternal, M::kPost, "/internal/v1/orders/{id}/force-complete",
      Access::needs(P::kOrdersAssign), "internal_order.force_complete", true, BodyKind::kRequired,
      "A manager completes an assigned or half-done internal order with what was "
      "done, with a reason",
      [d](RequestContext& ctx) {
        return decision_handler(*d, ctx, [&](std::int64_t id) {
          return force_complete_task(*d, ctx.tx(), id, ctx.principal().account_id, d->now_ms());
        });
      }));
}

}  // namespace reclothes::controller::domain
