// Internal orders (checking, packing, collecting, shipping): listing and reading with the
// assigned/all rule, assignment (with courier tokens), packing completion, grading, tracking-code
// labels, and manual collecting.
#include "common.h"
#include "reclothes/controller/accounts.h"
#include "reclothes/controller/domain/png.h"
#include "reclothes/controller/fleet.h"

namespace reclothes::controller::domain {

// From buying.cpp.
Result<std::string, ApiError> complete_packing(DomainContext& d, pqxx::work& tx,
                                               std::int64_t order_id, std::int64_t now);
void dispatch_order(DomainContext& d, pqxx::work& tx, std::int64_t order_id, std::int64_t now);
Result<std::int64_t, TransitionError> refund_return(DomainContext& d, pqxx::work& tx,
                                                    std::int64_t order_id, std::int64_t now);

namespace {

struct TaskRow {
  std::int64_t id = 0;
  TaskKind kind = TaskKind::kChecking;
  TaskState state = TaskState::kOpen;
  std::optional<std::int64_t> assignee;
  std::optional<std::string> source_kind;
  std::optional<std::int64_t> source_id;
  std::optional<std::string> box_id;
  std::optional<std::string> token_id;
};

std::optional<TaskRow> load_task(pqxx::work& tx, std::int64_t id, bool lock) {
  const auto rows = tx.exec_params(
      std::string("SELECT id, kind, state, assignee_id, source_kind, source_id, box_id, token_id "
                  "FROM internal_orders WHERE id = $1") +
          (lock ? " FOR UPDATE" : ""),
      id);
  if (rows.empty()) return std::nullopt;
  const auto& r = rows[0];
  TaskRow t;
  t.id = r[0].as<std::int64_t>();
  t.kind = *task_kind_from_string(r[1].as<std::string>());
  t.state = *task_state_from_string(r[2].as<std::string>());
  t.assignee = opt<std::int64_t>(r[3]);
  t.source_kind = opt<std::string>(r[4]);
  t.source_id = opt<std::int64_t>(r[5]);
  t.box_id = opt<std::string>(r[6]);
  t.token_id = opt<std::string>(r[7]);
  return t;
}

nlohmann::json task_summary(pqxx::work& tx, std::int64_t id) {
  const auto r =
      tx.exec_params1("SELECT state, assignee_id, token_id FROM internal_orders WHERE id = $1", id);
  return {{"state", r[0].as<std::string>()},
          {"assignee_id", nullable_int(r[1])},
          {"token_id", nullable_str(r[2])}};
}

nlohmann::json task_json(pqxx::work& tx, std::int64_t id, std::int64_t viewer) {
  const auto rows = tx.exec_params(
      "SELECT o.id, o.kind, o.state, o.assignee_id, o.source_kind, o.source_id, o.box_id, "
      "array_to_json(o.compartments)::text, o.tracking_code, o.token_id, o.token_text, "
      "o.trigger, " +
          ms_of("o.created_at") + ", " + ms_of("o.updated_at") + ", " + ms_of("o.assigned_at") +
          ", " + ms_of("o.done_at") +
          ", l.id, l.name, l.address FROM internal_orders o LEFT JOIN boxes b ON b.id = o.box_id "
          "LEFT JOIN locations l ON l.id = b.location_id WHERE o.id = $1",
      id);
  if (rows.empty()) return nullptr;
  const auto& r = rows[0];
  const auto kind = r[1].as<std::string>();
  nlohmann::json j = {
      {"id", r[0].as<std::int64_t>()},
      {"kind", kind},
      {"state", r[2].as<std::string>()},
      {"assignee_id", nullable_int(r[3])},
      {"source", r[4].is_null() ? nlohmann::json()
                                : nlohmann::json{{"kind", r[4].as<std::string>()},
                                                 {"id", r[5].as<std::int64_t>()}}},
      {"box_id", nullable_str(r[6])},
      {"compartments", r[7].is_null() ? nlohmann::json::array()
                                      : nlohmann::json::parse(r[7].c_str(), nullptr, false)},
      {"tracking_code", nullable_str(r[8])},
      {"trigger", nullable_str(r[11])},
      {"created_at", ts(r[12].as<std::int64_t>())},
      {"updated_at", ts(r[13].as<std::int64_t>())},
      {"assigned_at", nullable_ts(r[14])},
      {"done_at", nullable_ts(r[15])},
      {"location", r[16].is_null() ? nlohmann::json()
                                   : nlohmann::json{{"id", r[16].as<std::int64_t>()},
                                                    {"name", r[17].as<std::string>()},
                                                    {"address", r[18].as<std::string>()}}},
      {"token", nullptr}};
  // The courier token is a bearer credential: only its holder sees the text.
  if (!r[10].is_null() && !r[3].is_null() && r[3].as<std::int64_t>() == viewer &&
      r[2].as<std::string>() != "done" && r[2].as<std::string>() != "cancelled") {
    j["token"] = {{"token", r[10].as<std::string>()}, {"token_id", nullable_str(r[9])}};
  }
  if (kind == "checking") {
    nlohmann::json items = nlohmann::json::array();
    for (const auto& it : tx.exec_params(
             "SELECT ci.position, ci.grade, ci.graded_by, di.category, di.count, "
             "di.condition_notes, p.id, p.title, COALESCE(di.category, p.category) FROM "
             "checking_items ci LEFT JOIN donation_items di ON di.id = ci.donation_item_id LEFT "
             "JOIN products p ON p.id = ci.product_id WHERE ci.order_id = $1 ORDER BY ci.position",
             id)) {
      items.push_back({{"position", it[0].as<int>()},
                       {"grade", nullable_str(it[1])},
                       {"graded_by", nullable_int(it[2])},
                       {"category", it[8].as<std::string>()},
                       {"count", it[4].is_null() ? 1 : it[4].as<int>()},
                       {"condition_notes", nullable_str(it[5])},
                       {"product_id", nullable_int(it[6])},
                       {"title", nullable_str(it[7])}});
    }
    j["items"] = items;
  } else if (kind == "collecting") {
    nlohmann::json items = nlohmann::json::array();
    for (const auto& it :
         tx.exec_params("SELECT compartment, source_kind, source_id, " + ms_of("collected_at") +
                            " FROM collecting_items WHERE order_id = $1 ORDER BY "
                            "compartment",
                        id)) {
      items.push_back({{"compartment", it[0].as<int>()},
                       {"source_kind", it[1].as<std::string>()},
                       {"source_id", it[2].as<std::int64_t>()},
                       {"collected_at", nullable_ts(it[3])}});
    }
    j["items"] = items;
  }
  return j;
}

// The order if the caller may see it: assigned to them, or they read all. 404 otherwise.
Result<TaskRow, ApiError> visible_task(RequestContext& ctx, bool lock) {
  auto t = load_task(ctx.tx(), id_param(ctx, "id"), lock);
  if (!t) return ApiError::not_found("order");
  const auto& p = ctx.principal();
  if (!p.can(Permission::kOrdersReadAll) && t->assignee != p.account_id) {
    return ApiError::not_found("order");
  }
  return *t;
}

std::optional<ApiError> require_assignee(const RequestContext& ctx, const TaskRow& t) {
  if (t.assignee != ctx.principal().account_id) {
    return ApiError::forbidden("not_assignee", "only the assigned staff member may do this");
  }
  return std::nullopt;
}

Role role_for(TaskKind k) {
  switch (k) {
    case TaskKind::kChecking:
      return Role::kChecker;
    case TaskKind::kPacking:
      return Role::kPacker;
    case TaskKind::kCollecting:
    case TaskKind::kShipping:
      return Role::kDelivery;
  }
  return Role::kManager;
}

HandlerResult list_tasks(RequestContext& ctx) {
  std::string where = "true";
  std::vector<std::string> params;
  const auto add = [&](const std::string& clause, std::string value) {
    params.push_back(std::move(value));
    where += " AND " + clause + "$" + std::to_string(params.size());
  };
  if (auto k = ctx.query("kind")) {
    if (!task_kind_from_string(*k)) {
      return invalid_query("kind", "must be checking, packing, collecting or shipping");
    }
    add("kind = ", *k);
  }
  if (auto s = ctx.query("state")) {
    if (!task_state_from_string(*s)) {
      return invalid_query("state", "must be open, assigned, in_progress, done or cancelled");
    }
    add("state = ", *s);
  }
  auto assignee = query_int(ctx, "assignee_id", 1, INT64_MAX);
  if (!assignee.ok()) return std::move(assignee).error();
  auto before = query_int(ctx, "before_id", 1, INT64_MAX);
  if (!before.ok()) return std::move(before).error();
  auto limit = query_int(ctx, "limit", 1, 200);
  if (!limit.ok()) return std::move(limit).error();
  const auto& p = ctx.principal();
  // Staff without orders.read_all see only their own work, whatever they ask for.
  if (!p.can(Permission::kOrdersReadAll)) {
    add("assignee_id = ", std::to_string(p.account_id));
  } else if (*assignee) {
    add("assignee_id = ", std::to_string(**assignee));
  }
  if (ctx.query("unassigned") == std::optional<std::string>("true"))
    where += " AND assignee_id IS NULL";
  if (*before) add("id < ", std::to_string(**before));
  const auto lim = limit->value_or(50);
  auto& tx = ctx.tx();
  nlohmann::json items = nlohmann::json::array();
  const auto rows = tx.exec_params("SELECT id FROM internal_orders WHERE " + where +
                                       " ORDER BY id DESC LIMIT " + std::to_string(lim),
                                   pqxx::prepare::make_dynamic_params(params));
  for (const auto& row : rows) {
    items.push_back(task_json(tx, row[0].as<std::int64_t>(), p.account_id));
  }
  nlohmann::json next_before = nullptr;
  if (static_cast<std::int64_t>(rows.size()) == lim)
    next_before = rows[rows.size() - 1][0].as<std::int64_t>();
  return Response::ok({{"items", items}, {"next_before_id", next_before}});
}

HandlerResult assign_task(DomainContext& d, RequestContext& ctx) {
  FieldReader r(ctx.body());
  const auto staff_id = r.integer("staff_id", 1, INT64_MAX);
  RC_FINISH_BODY(r);
  auto& tx = ctx.tx();
  const auto id = id_param(ctx, "id");
  ctx.set_audit({"internal_order", std::to_string(id), nullptr, nullptr, ""});
  // A courier order's box row first (token rows reference the box), then the order: the order
  // in which event application locks them, so an assignment racing the box's events for this
  // order cannot deadlock.
  if (auto peek = load_task(tx, id, false); peek && peek->box_id) lock_box(tx, *peek->box_id);
  auto t = load_task(tx, id, true);
  if (!t) return ApiError::not_found("order");
  const auto before = task_summary(tx, id);
  const auto staff = find_staff(tx, staff_id);
  const auto needed = role_for(t->kind);
  if (!staff || !staff->active ||
      std::find(staff->roles.begin(), staff->roles.end(), needed) == staff->roles.end()) {
    ApiError e = ApiError::conflict("assignee_not_eligible",
                                    "a " + std::string(to_string(t->kind)) +
                                        " order goes to an active staff member with the role " +
                                        std::string(to_string(needed)));
    e.details = {{"staff_id", staff_id}, {"role", to_string(needed)}};
    return e;
  }
  auto to = next(t->kind, t->state, TaskEvent::kAssign);
  if (!to.ok()) return transition_error(to.error());
  const auto now = d.now_ms();
  tx.exec_params(
      "UPDATE internal_orders SET state = $2, assignee_id = $3, assigned_at = $4::timestamptz, "
      "updated_at = $4::timestamptz WHERE id = $1",
      id, std::string(to_string(*to)), staff_id, ts(now));
  std::optional<msg::Command> revoke;
  if (t->kind == TaskKind::kCollecting || t->kind == TaskKind::kShipping) {
    // A courier token for the new assignee; the previous assignee's token stops working.
    if (t->token_id) {
      auto revoked = d.s.tokens.revoke(tx, *t->token_id);
      if (revoked.ok()) {
        revoke = record_revoke_command(tx, *t->box_id, {*t->token_id}, "courier reassigned", now);
      }
    }
    std::vector<std::uint8_t> compartments;
    const auto sql = t->kind == TaskKind::kCollecting
                         ? "SELECT compartment FROM collecting_items WHERE order_id = $1 AND "
                           "collected_at IS NULL ORDER BY compartment"
                         : "SELECT unnest(compartments) AS c FROM internal_orders WHERE id = $1 "
                           "ORDER BY c";
    for (const auto& row : tx.exec_params(sql, id)) {
      compartments.push_back(static_cast<std::uint8_t>(row[0].as<int>()));
    }
    TokenRequest req;
    req.action =
        t->kind == TaskKind::kCollecting ? TokenAction::kCourierCollect : TokenAction::kCourierLoad;
    req.box_id = *t->box_id;
    req.compartments = compartments;
    req.order_ref = static_cast<std::uint64_t>(id);
    req.validity = d.s.config.tokens.courier_validity;
    req.issued_by = ctx.principal().account_id;
    auto token = d.s.tokens.issue(tx, req);
    if (!token.ok()) return api_error(token.error());
    tx.exec_params("UPDATE internal_orders SET token_id = $2, token_text = $3 WHERE id = $1", id,
                   token->token_id, token->text);
  }
  if (t->kind == TaskKind::kShipping && t->source_id) dispatch_order(d, tx, *t->source_id, now);
  const auto row =
      tx.exec_params1("SELECT tracking_code, box_id FROM internal_orders WHERE id = $1", id);
  notify(tx, "staff", staff_id,
         t->kind == TaskKind::kCollecting ? "collecting_assigned" : "task_assigned",
         {{"order_id", id},
          {"kind", to_string(t->kind)},
          {"box_id", nullable_str(row[1])},
          {"tracking_code", nullable_str(row[0])}},
         now);
  ctx.set_audit({"internal_order", std::to_string(id), before, task_summary(tx, id), ""});
  if (revoke) {
    const auto* s = &d.s;
    const auto box = *t->box_id;
    const auto cmd = *revoke;
    ctx.after_commit([s, box, cmd] {
      s->messaging.publish_command(box, cmd);
      s->messaging.publish_config(box);
    });
  }
  return Response::ok(task_json(tx, id, ctx.principal().account_id));
}

HandlerResult complete_task(DomainContext& d, RequestContext& ctx) {
  auto& tx = ctx.tx();
  auto t = visible_task(ctx, true);
  if (!t.ok()) return std::move(t).error();
  ctx.set_audit({"internal_order", std::to_string(t->id), nullptr, nullptr, ""});
  if (auto e = require_assignee(ctx, *t)) return *e;
  if (t->kind != TaskKind::kPacking) {
    return ApiError::conflict("not_completed_by_hand",
                              "collecting and shipping orders are completed by the box's events, "
                              "checking orders by grading their items");
  }
  const auto before = task_summary(tx, t->id);
  const auto now = d.now_ms();
  auto to = advance_task(tx, t->id, TaskEvent::kComplete, now);
  if (!to.ok()) return transition_error(to.error());
  auto box = complete_packing(d, tx, *t->source_id, now);
  if (!box.ok()) return std::move(box).error();
  ctx.set_audit({"internal_order", std::to_string(t->id), before, task_summary(tx, t->id), ""});
  const auto* s = &d.s;
  const auto b = *box;
  ctx.after_commit([s, b] { s->messaging.publish_config(b); });
  return Response::ok(task_json(tx, t->id, ctx.principal().account_id));
}

// Every item graded: reward the donor (coins or a coupon). Returns the reward JSON.
nlohmann::json finish_donation(DomainContext& d, pqxx::work& tx, std::int64_t donation_id,
                               std::int64_t now) {
  const auto row = tx.exec_params1(
      "SELECT customer_id, state FROM donations WHERE id = $1 FOR UPDATE", donation_id);
  const auto customer = row[0].as<std::int64_t>();
  auto to = next(*donation_state_from_string(row[1].as<std::string>()), DonationEvent::kComplete);
  if (!to.ok()) {
    d.s.log.warn("donation not completed",
                 {{"donation", donation_id}, {"why", to.error().message()}});
    return nullptr;
  }
  const auto counts = tx.exec_params1(
      "SELECT COALESCE(sum(di.count) FILTER (WHERE ci.grade = 'publish'), 0), "
      "COALESCE(sum(di.count) FILTER (WHERE ci.grade = 'recycle'), 0) FROM checking_items ci "
      "JOIN donation_items di ON di.id = ci.donation_item_id WHERE di.donation_id = $1",
      donation_id);
  const auto reward = donation_reward(counts[0].as<int>(), counts[1].as<int>());
  nlohmann::json j;
  if (!reward.ok()) return nullptr;
  if (reward->kind == Reward::Kind::kCoins) {
    award_coins(tx, customer, reward->coins, "donation", "donation", donation_id, now);
    j = {{"kind", "coins"}, {"coins", reward->coins}};
  } else {
    const auto code = new_coupon_code();
    const auto expires = now + 365LL * 24 * 3600 * 1000;
    tx.exec_params(
        "INSERT INTO coupons (code, customer_id, percent_off, description, source, donation_id, "
        "issued_at, expires_at) VALUES ($1, $2, $3, $4, 'donation_reward', $5, $6::timestamptz, "
        "$7::timestamptz) ON CONFLICT DO NOTHING",
        code, customer, reward->percent_off, "thank you for recycling with ReClothes", donation_id,
        ts(now), ts(expires));
    j = {{"kind", "coupon"}, {"percent_off", reward->percent_off}, {"coupon_code", code}};
  }
  tx.exec_params(
      "UPDATE donations SET state = $2, reward = $3::jsonb, completed_at = $4::timestamptz, "
      "updated_at = $4::timestamptz WHERE id = $1",
      donation_id, std::string(to_string(*to)), j.dump(), ts(now));
  notify(tx, "customer", customer, "donation_rewarded",
         {{"donation_id", donation_id}, {"reward", j}}, now,
         "donation_rewarded:" + std::to_string(donation_id));
  return j;
}

HandlerResult grade_item(DomainContext& d, RequestContext& ctx) {
  FieldReader r(ctx.body());
  const auto grade = r.string("grade", 1, 16);
  const auto title = r.optional_string("title", 1, 200);
  const auto description = r.optional_string("description", 0, 2000);
  const auto size = r.optional_string("size", 0, 32);
  const auto condition = r.optional_string("condition", 0, 64);
  if (r.ok() && grade != "publish" && grade != "recycle")
    r.fail("grade", "must be publish or recycle");
  RC_FINISH_BODY(r);
  auto& tx = ctx.tx();
  auto t = visible_task(ctx, true);
  if (!t.ok()) return std::move(t).error();
  const auto position = static_cast<int>(id_param(ctx, "number"));
  ctx.set_audit({"internal_order", std::to_string(t->id) + "/" + std::to_string(position), nullptr,
                 nullptr, ""});
  if (auto e = require_assignee(ctx, *t)) return *e;
  if (t->kind != TaskKind::kChecking) {
    return ApiError::conflict("not_a_checking_order", "only checking orders have items to grade");
  }
  const auto items = tx.exec_params(
      "SELECT ci.grade, ci.donation_item_id, ci.product_id, di.category FROM checking_items ci "
      "LEFT JOIN donation_items di ON di.id = ci.donation_item_id WHERE ci.order_id = $1 AND "
      "ci.position = $2 FOR UPDATE OF ci",
      t->id, position);
  if (items.empty()) return ApiError::not_found("item " + std::to_string(position));
  if (!items[0][0].is_null()) {
    return ApiError::conflict("already_graded", "this item is graded already");
  }
  const auto now = d.now_ms();
  const auto progressed = advance_task(tx, t->id, TaskEvent::kProgress, now);
  if (!progressed.ok()) return transition_error(progressed.error());
  std::optional<std::int64_t> product = opt<std::int64_t>(items[0][2]);
  const bool from_donation = !items[0][1].is_null();
  if (from_donation && grade == "publish") {
    if (!title) return ApiError::invalid_field({"/title", "is required to publish an item"});
    product = tx.exec_params1(
                    "INSERT INTO products (title, description, category, size, condition, status, "
                    "source_item_id, created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, "
                    "$5, 'available', $6, $7, $8::timestamptz, $8::timestamptz) RETURNING id",
                    *title, description.value_or(""), items[0][3].as<std::string>(),
                    size.value_or(""), condition.value_or(""), items[0][1].as<std::int64_t>(),
                    ctx.principal().account_id, ts(now))[0]
                  .as<std::int64_t>();
    tx.exec_params(
        "UPDATE checking_items SET product_id = $3 WHERE order_id = $1 AND position = $2", t->id,
        position, *product);
  } else if (!from_donation && product) {
    // A returned product goes back on sale (at its price) or out of stock for good; either way
    // its old sale is over, so a new order may take it.
    tx.exec_params("UPDATE buying_order_items SET active = false WHERE product_id = $1 AND active",
                   *product);
    tx.exec_params("UPDATE products SET status = $2, updated_at = $3::timestamptz WHERE id = $1",
                   *product, std::string(grade == "publish" ? "available" : "withdrawn"), ts(now));
  }
  tx.exec_params(
      "UPDATE checking_items SET grade = $3, graded_by = $4, graded_at = $5::timestamptz WHERE "
      "order_id = $1 AND position = $2",
      t->id, position, grade, ctx.principal().account_id, ts(now));
  const auto left =
      tx.exec_params1("SELECT count(*) FROM checking_items WHERE order_id = $1 AND grade IS NULL",
                      t->id)[0]
          .as<std::int64_t>();
  std::optional<std::int64_t> refund;
  if (left == 0) {
    const auto done = advance_task(tx, t->id, TaskEvent::kComplete, now);
    if (!done.ok()) return transition_error(done.error());
    if (t->source_kind == "donation") {
      finish_donation(d, tx, *t->source_id, now);
    } else if (t->source_kind == "return") {
      auto payment = refund_return(d, tx, *t->source_id, now);
      if (!payment.ok()) return transition_error(payment.error());
      refund = *payment;
    }
  }
  ctx.set_audit(
      {"internal_order",
       std::to_string(t->id) + "/" + std::to_string(position),
       nullptr,
       {{"grade", grade}, {"product_id", product ? nlohmann::json(*product) : nlohmann::json()}},
       ""});
  if (refund) {
    auto dd = &d;
    const auto pid = *refund;
    ctx.after_commit([dd, pid] {
      auto r2 = attempt_payment(*dd, pid, true);
      if (!r2.ok()) dd->s.log.error("refund attempt failed", {{"error", r2.error().message}});
    });
  }
  return Response::ok(task_json(tx, t->id, ctx.principal().account_id));
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
                   "orders.read_all, else only one's own; filter by kind, state, assignee",
                   [](RequestContext& ctx) { return list_tasks(ctx); }));

  router.add(route(L::kInternal, M::kGet, "/internal/v1/orders/{id}",
                   Access::needs(P::kOrdersReadAssigned), "internal_order.read", false,
                   BodyKind::kNone,
                   "One internal order (assigned to the caller, or orders.read_all)",
                   [](RequestContext& ctx) -> HandlerResult {
                     auto t = visible_task(ctx, false);
                     if (!t.ok()) return std::move(t).error();
                     return Response::ok(task_json(ctx.tx(), t->id, ctx.principal().account_id));
                   }));

  router.add(route(L::kInternal, M::kPost, "/internal/v1/orders/{id}/assign",
                   Access::needs(P::kOrdersAssign), "internal_order.assign", true,
                   BodyKind::kRequired,
                   "Assign (or reassign) an internal order; couriers get a courier token",
                   [d](RequestContext& ctx) { return assign_task(*d, ctx); }));

  router.add(route(L::kInternal, M::kPost, "/internal/v1/orders/{id}/complete",
                   Access::needs(P::kOrdersReadAssigned), "internal_order.complete", true,
                   BodyKind::kNone,
                   "The assignee completes a packing order: a pickup compartment is reserved and "
                   "a shipping order made",
                   [d](RequestContext& ctx) { return complete_task(*d, ctx); }));

  router.add(route(L::kInternal, M::kPost, "/internal/v1/orders/{id}/items/{number}/grade",
                   Access::needs(P::kOrdersReadAssigned), "internal_order.grade", true,
                   BodyKind::kRequired,
                   "The assignee grades one item of a checking order: publish or recycle",
                   [d](RequestContext& ctx) { return grade_item(*d, ctx); }));

  router.add(route(
      L::kInternal, M::kGet, "/internal/v1/orders/{id}/label.png",
      Access::needs(P::kOrdersReadAssigned), "internal_order.label", false, BodyKind::kNone,
      "The tracking-code label (QR code PNG) of a collecting or shipping order",
      [](RequestContext& ctx) -> HandlerResult {
        auto t = visible_task(ctx, false);
        if (!t.ok()) return std::move(t).error();
        const auto rows =
            ctx.tx().exec_params("SELECT tracking_code FROM internal_orders WHERE id = $1", t->id);
        if (rows[0][0].is_null()) {
          return ApiError::conflict("no_tracking_code",
                                    "only collecting and shipping orders have labels");
        }
        auto png = render_label_png(rows[0][0].as<std::string>());
        if (!png.ok()) return api_error(png.error());
        Response res = Response::text(200, std::move(png).value(), "image/png");
        res.headers.emplace_back("X-Tracking-Code", rows[0][0].as<std::string>());
        return res;
      }));

  router.add(route(L::kInternal, M::kPost, "/internal/v1/boxes/{box_id}/collect",
                   Access::needs(P::kOrdersAssign), "box.collect", true, BodyKind::kNone,
                   "Make a collecting order now for every filled compartment of the box that no "
                   "collecting order covers yet",
                   [d](RequestContext& ctx) -> HandlerResult {
                     const auto& box = ctx.param("box_id");
                     ctx.set_audit({"box", box, nullptr, nullptr, ""});
                     auto& tx = ctx.tx();
                     if (tx.exec_params("SELECT 1 FROM boxes WHERE id = $1", box).empty()) {
                       return ApiError::not_found("box " + box);
                     }
                     const auto id =
                         maybe_create_collecting(tx, d->config, box, "manual", true, d->now_ms());
                     if (!id) {
                       return ApiError::conflict("nothing_to_collect",
                                                 "no filled compartment waits for collection");
                     }
                     ctx.set_audit({"box", box, nullptr, {{"collecting_order_id", *id}}, ""});
                     return Response::created(task_json(tx, *id, ctx.principal().account_id));
                   }));
}

}  // namespace reclothes::controller::domain
