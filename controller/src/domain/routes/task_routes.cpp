// Internal orders (checking, packing, collecting, shipping), the HTTP side: listing and reading
// with the assigned/all rule, assignment (with courier tokens), packing completion, grading,
// tracking-code labels, the courier QR code, problems reported at the box, and manual
// collecting. The SQL is in store/task_store.cpp.
#include "../store/alarm_store.h"
#include "../store/shared.h"
#include "../store/task_store.h"
#include "reclothes/controller/domain/png.h"
#include "route_common.h"

namespace reclothes::controller::domain {

// From buying.cpp. It still answers in ApiError (an HTTP type the store may not see), so the
// route calls it between the store's two steps of completing a packing order.
Result<std::string, ApiError> complete_packing(DomainContext& d, pqxx::work& tx,
                                               std::int64_t order_id, std::int64_t now);

namespace {

TaskViewer task_viewer(const RequestContext& ctx) {
  const auto& p = ctx.principal();
  return {p.account_id, p.can(Permission::kOrdersReadAll)};
}

AuditDetail task_audit(std::string target, nlohmann::json before = nullptr,
                       nlohmann::json after = nullptr) {
  return {"internal_order", std::move(target), std::move(before), std::move(after), ""};
}

HandlerResult list_tasks_handler(DomainContext& d, RequestContext& ctx) {
  TaskFilter f;
  if (auto k = ctx.query("kind")) {
    f.kind = task_kind_from_string(*k);
    if (!f.kind) return invalid_query("kind", "must be checking, packing, collecting or shipping");
  }
  if (auto s = ctx.query("state")) {
    f.state = task_state_from_string(*s);
    if (!f.state) {
      return invalid_query("state", "must be open, assigned, in_progress, done or cancelled");
    }
  }
  auto assignee = query_int(ctx, "assignee_id", 1, INT64_MAX);
  if (!assignee.ok()) return std::move(assignee).error();
  auto before = query_int(ctx, "before_id", 1, INT64_MAX);
  if (!before.ok()) return std::move(before).error();
  auto limit = query_int(ctx, "limit", 1, 200);
  if (!limit.ok()) return std::move(limit).error();
  auto location = query_int(ctx, "location_id", 1, INT64_MAX);
  if (!location.ok()) return std::move(location).error();
  f.location_id = *location;
  f.box_id = ctx.query("box_id");
  if (f.box_id && (f.box_id->empty() || f.box_id->size() > 64)) {
    return invalid_query("box_id", "must be 1 to 64 characters");
  }
  for (const auto& [name, out] :
       {std::pair{"created_from", &f.created_from_ms}, std::pair{"created_to", &f.created_to_ms}}) {
    if (auto v = ctx.query(name)) {
      *out = parse_ts(*v);
      if (!*out) return invalid_query(name, "expected an RFC 3339 time (2026-01-31T12:00:00Z)");
    }
  }
  f.assignee_id = *assignee;
  f.unassigned = ctx.query("unassigned") == std::optional<std::string>("true");
  f.before_id = *before;
  f.limit = limit->value_or(50);
  auto page = list_tasks(ctx.tx(), f, task_viewer(ctx));
  if (!page.ok()) return to_api(d.s, ctx, page.error());
  nlohmann::json next_before = nullptr;
  if (page->next_before_id) next_before = *page->next_before_id;
  return Response::ok({{"items", std::move(page->items)}, {"next_before_id", next_before}});
}

HandlerResult read_task_handler(DomainContext& d, RequestContext& ctx) {
  auto task = read_task(ctx.tx(), id_param(ctx, "id"), task_viewer(ctx));
  if (!task.ok()) return to_api(d.s, ctx, task.error());
  return Response::ok(std::move(task).value());
}

HandlerResult assign_task_handler(DomainContext& d, RequestContext& ctx) {
  FieldReader r(ctx.body());
  const auto staff_id = r.integer("staff_id", 1, INT64_MAX);
  RC_FINISH_BODY(r);
  const auto id = id_param(ctx, "id");
  ctx.set_audit(task_audit(std::to_string(id)));
  auto a = assign_task(d, ctx.tx(), id, staff_id, ctx.principal().account_id, d.now_ms());
  if (!a.ok()) return to_api(d.s, ctx, a.error());
  ctx.set_audit(task_audit(std::to_string(id), a->before, a->after.summary));
  if (a->revoke) {
    const auto* s = &d.s;
    const auto revoke = *a->revoke;
    ctx.after_commit([s, revoke] {
      s->messaging.publish_command(revoke.box_id, revoke.command);
      s->messaging.publish_config(revoke.box_id);
    });
  }
  return Response::ok(std::move(a->after.task));
}

HandlerResult complete_task_handler(DomainContext& d, RequestContext& ctx) {
  const auto id = id_param(ctx, "id");
  ctx.set_audit(task_audit(std::to_string(id)));
  const auto now = d.now_ms();
  auto done = finish_packing_task(ctx.tx(), id, task_viewer(ctx), now);
  if (!done.ok()) return to_api(d.s, ctx, done.error());
  auto box = complete_packing(d, ctx.tx(), done->buying_order_id, now);
  if (!box.ok()) return std::move(box).error();
  auto view = view_task(ctx.tx(), id, ctx.principal().account_id);
  if (!view.ok()) return to_api(d.s, ctx, view.error());
  ctx.set_audit(task_audit(std::to_string(id), done->before, view->summary));
  const auto* s = &d.s;
  const auto b = *box;
  ctx.after_commit([s, b] { s->messaging.publish_config(b); });
  return Response::ok(std::move(view->task));
}

HandlerResult grade_item_handler(DomainContext& d, RequestContext& ctx) {
  FieldReader r(ctx.body());
  GradeInput in;
  in.grade = r.string("grade", 1, 16);
  read_item_description(r, in);
  if (r.ok() && in.grade != "publish" && in.grade != "recycle") {
    r.fail("grade", "must be publish or recycle");
  }
  RC_FINISH_BODY(r);
  const auto id = id_param(ctx, "id");
  const auto position = static_cast<int>(id_param(ctx, "number"));
  const auto target = std::to_string(id) + "/" + std::to_string(position);
  ctx.set_audit(task_audit(target));
  auto g = grade_item(d, ctx.tx(), id, position, in, task_viewer(ctx), d.now_ms());
  if (!g.ok()) return to_api(d.s, ctx, g.error());
  ctx.set_audit(task_audit(
      target, nullptr,
      {{"grade", in.grade},
       {"product_id", g->product_id ? nlohmann::json(*g->product_id) : nlohmann::json()}}));
  if (g->refund_payment_id) {
    auto* dd = &d;
    const auto pid = *g->refund_payment_id;
    ctx.after_commit([dd, pid] {
      auto r2 = attempt_payment(*dd, pid, true);
      if (!r2.ok()) dd->s.log.error("refund attempt failed", {{"error", r2.error().message}});
    });
  }
  return Response::ok(std::move(g->task));
}

HandlerResult task_label_handler(DomainContext& d, RequestContext& ctx) {
  auto code = task_tracking_code(ctx.tx(), id_param(ctx, "id"), task_viewer(ctx));
  if (!code.ok()) return to_api(d.s, ctx, code.error());
  auto png = render_label_png(*code);
  if (!png.ok()) return api_error(png.error());
  Response res = Response::text(200, std::move(png).value(), "image/png");
  res.headers.emplace_back("X-Tracking-Code", *code);
  return res;
}

HandlerResult courier_qr_handler(DomainContext& d, RequestContext& ctx) {
  auto token = courier_token_text(ctx.tx(), id_param(ctx, "id"), task_viewer(ctx));
  if (!token.ok()) return to_api(d.s, ctx, token.error());
  auto png = render_courier_qr_png(*token);
  if (!png.ok()) return api_error(png.error());
  Response res = Response::text(200, std::move(png).value(), "image/png");
  // A bearer credential: no cache keeps it after the page is left.
  res.headers.emplace_back("Cache-Control", "no-store");
  return res;
}

HandlerResult report_problem_handler(DomainContext& d, RequestContext& ctx) {
  FieldReader r(ctx.body());
  ProblemReport report;
  report.problem = r.string("problem", 1, 16);
  if (r.ok() && report.problem != "jammed_door" && report.problem != "missing_bag" &&
      report.problem != "other") {
    r.fail("problem", "must be jammed_door, missing_bag or other");
  }
  if (auto c = r.optional_integer("compartment", 1, 255)) report.compartment = static_cast<int>(*c);
  report.note = r.optional_string("note", 0, 500);
  if (r.ok() && report.problem == "other" && (!report.note || report.note->empty())) {
    r.fail("note", "is required for a problem of kind other: say what is wrong");
  }
  RC_FINISH_BODY(r);
  const auto id = id_param(ctx, "id");
  ctx.set_audit(task_audit(std::to_string(id)));
  auto fault_id = report_task_problem(ctx.tx(), id, task_viewer(ctx), report, d.now_ms());
  if (!fault_id.ok()) return to_api(d.s, ctx, fault_id.error());
  auto fault = get_fault(ctx.tx(), *fault_id);
  if (!fault.ok()) return to_api(d.s, ctx, fault.error());
  ctx.set_audit(task_audit(std::to_string(id), nullptr,
                           {{"fault_id", *fault_id}, {"problem", report.problem}}));
  return Response::created(std::move(fault).value());
}

HandlerResult collect_now_handler(DomainContext& d, RequestContext& ctx) {
  const auto& box = ctx.param("box_id");
  ctx.set_audit({"box", box, nullptr, nullptr, ""});
  auto made = collect_now(ctx.tx(), d.config, box, ctx.principal().account_id, d.now_ms());
  if (!made.ok()) return to_api(d.s, ctx, made.error());
  ctx.set_audit({"box", box, nullptr, {{"collecting_order_id", made->order_id}}, ""});
  return Response::created(std::move(made->task));
}

}  // namespace

void register_task_routes(Router& router, const std::shared_ptr<DomainContext>& dp) {
  using L = Listener;
  using M = HttpMethod;
  using P = Permission;
  auto d = dp;

  router.add(route(L::kInternal, M::kGet, "/internal/v1/orders",
                   Access::needs(P::kOrdersReadAssigned), "internal_order.list", false,
                   BodyKind::kNone,
                   "Internal orders (checking, packing, collecting, shipping): all with "
                   "orders.read_all, else only one's own; filter by kind, state, assignee, box, "
                   "location, creation time",
                   [d](RequestContext& ctx) { return list_tasks_handler(*d, ctx); }));

  router.add(route(L::kInternal, M::kGet, "/internal/v1/orders/{id}",
                   Access::needs(P::kOrdersReadAssigned), "internal_order.read", false,
                   BodyKind::kNone,
                   "One internal order (assigned to the caller, or orders.read_all)",
                   [d](RequestContext& ctx) { return read_task_handler(*d, ctx); }));

  router.add(route(L::kInternal, M::kPost, "/internal/v1/orders/{id}/assign",
                   Access::needs(P::kOrdersAssign), "internal_order.assign", true,
                   BodyKind::kRequired,
                   "Assign (or reassign) an internal order; couriers get a courier token",
                   [d](RequestContext& ctx) { return assign_task_handler(*d, ctx); }));

  router.add(route(L::kInternal, M::kPost, "/internal/v1/orders/{id}/complete",
                   Access::needs(P::kOrdersReadAssigned), "internal_order.complete", true,
                   BodyKind::kNone,
                   "The assignee completes a packing order: a pickup compartment is reserved and "
                   "a shipping order made",
                   [d](RequestContext& ctx) { return complete_task_handler(*d, ctx); }));

  router.add(route(L::kInternal, M::kPost, "/internal/v1/orders/{id}/items/{number}/grade",
                   Access::needs(P::kOrdersReadAssigned), "internal_order.grade", true,
                   BodyKind::kRequired,
                   "The assignee grades one item of a checking order: publish or recycle",
                   [d](RequestContext& ctx) { return grade_item_handler(*d, ctx); }));

  router.add(route(L::kInternal, M::kGet, "/internal/v1/orders/{id}/label.png",
                   Access::needs(P::kOrdersReadAssigned), "internal_order.label", false,
                   BodyKind::kNone,
                   "The tracking-code label (QR code PNG) of a collecting or shipping order",
                   [d](RequestContext& ctx) { return task_label_handler(*d, ctx); }));

  router.add(route(L::kInternal, M::kGet, "/internal/v1/orders/{id}/courier-qr.png",
                   Access::needs(P::kOrdersReadAssigned), "internal_order.courier_qr", false,
                   BodyKind::kNone,
                   "The assignee's courier token as a QR code PNG, shown to the box camera",
                   [d](RequestContext& ctx) { return courier_qr_handler(*d, ctx); }));

  router.add(route(L::kInternal, M::kPost, "/internal/v1/orders/{id}/problems",
                   Access::needs(P::kOrdersReadAssigned), "internal_order.report_problem", true,
                   BodyKind::kRequired,
                   "The assignee reports a problem at the order's box (a jammed door, a missing "
                   "bag): a box fault the on-call staff are alarmed about",
                   [d](RequestContext& ctx) { return report_problem_handler(*d, ctx); }));

  router.add(route(L::kInternal, M::kPost, "/internal/v1/boxes/{box_id}/collect",
                   Access::needs(P::kOrdersAssign), "box.collect", true, BodyKind::kNone,
                   "Make a collecting order now for every filled compartment of the box that no "
                   "collecting order covers yet",
                   [d](RequestContext& ctx) { return collect_now_handler(*d, ctx); }));
}

}  // namespace reclothes::controller::domain
