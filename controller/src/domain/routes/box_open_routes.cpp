// The online open over HTTP (public listener, customers): the app scanned the box's printed code
// (reclothes:box:<box_id>) and asks the controller to open the caller's compartment there. The
// SQL is in store/box_open_store.cpp, the rules in rules/box_open.cpp.
#include "../store/box_open_store.h"
#include "route_common.h"

namespace reclothes::controller::domain {
namespace {

// Another customer's reservation named by order_id: the same 404 as nothing there, and an audit
// row of the probe (reason not_owner), in its own transaction like route_common's not_owner().
ApiError box_not_owner(const Services& s, const RequestContext& ctx, const std::string& box_id,
                       std::int64_t order_id) {
  audit_not_owner(s, ctx, "box.customer_open", "order", order_id, {{"box_id", box_id}});
  return to_api(DomainError::not_found("reservation at box " + box_id));
}

HandlerResult open_box_handler(DomainContext& d, RequestContext& ctx) {
  FieldReader r(ctx.body());
  const auto order_id = r.optional_integer("order_id", 1, INT64_MAX);
  RC_FINISH_BODY(r);
  const std::string& box_id = ctx.param("box_id");
  // Not a box id at all: no box has it (and the text is not echoed back).
  if (!is_valid_box_id(box_id)) return to_api(DomainError::not_found("reservation at that box"));
  OpenBoxRequest req{ctx.principal().account_id, box_id, order_id};
  auto opened = open_box_for_customer(d, ctx.tx(), req, d.now_ms());
  if (!opened.ok()) {
    if (opened.error().is_not_owner()) {
      return box_not_owner(d.s, ctx, box_id, opened.error().not_owner_id());
    }
    return to_api(d.s, ctx, opened.error());
  }
  const nlohmann::json body = {{"command_id", opened->command_id},   {"box_id", opened->box_id},
                               {"order_id", opened->order_id},       {"purpose", opened->purpose},
                               {"compartment", opened->compartment}, {"status", opened->status}};
  ctx.set_audit({"order", std::to_string(opened->order_id), nullptr, body, ""});
  if (opened->command) {
    const auto* s = &d.s;
    ctx.after_commit([s, box = opened->box_id, cmd = *opened->command] {
      s->messaging.publish_command(box, cmd);
    });
  }
  return Response::with(202, body);
}

}  // namespace

void register_box_open_routes(Router& router, const std::shared_ptr<DomainContext>& dp) {
  auto d = dp;
  router.add(route(Listener::kPublic, HttpMethod::kPost, "/v1/boxes/{box_id}/open",
                   Access::customer(), "box.customer_open", true, BodyKind::kOptional,
                   "Open the caller's compartment at a box whose printed code the app scanned: "
                   "an open_access command for the caller's live reservation there",
                   [d](RequestContext& ctx) { return open_box_handler(*d, ctx); }));
}

}  // namespace reclothes::controller::domain
