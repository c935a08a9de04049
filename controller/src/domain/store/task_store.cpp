// Internal orders, the SQL side (task_store.h). The HTTP side is routes/task_routes.cpp.
#include "task_store.h"

#include <algorithm>
#include <vector>

#include "reclothes/controller/accounts.h"
#include "reclothes/controller/fleet.h"
#include "shared.h"

namespace reclothes::controller::domain {

// From buying.cpp.
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

// The audit image of an order; null if there is none.
nlohmann::json task_summary(pqxx::work& tx, std::int64_t id) {
  const auto rows =
      tx.exec_params("SELECT state, assignee_id, token_id FROM internal_orders WHERE id = $1", id);
  if (rows.empty()) return nullptr;
  const auto& r = rows[0];
  return {{"state", r[0].as<std::string>()},
          {"assignee_id", nullable_int(r[1])},
          {"token_id", nullable_str(r[2])}};
}

nlohmann::json checking_items_json(pqxx::work& tx, std::int64_t id) {
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
  return items;
}

nlohmann::json collecting_items_json(pqxx::work& tx, std::int64_t id) {
  nlohmann::json items = nlohmann::json::array();
  for (const auto& it :
       tx.exec_params("SELECT compartment, source_kind, source_id, " + ms_of("collected_at") +
                          ", outcome FROM collecting_items WHERE order_id = $1 ORDER BY "
                          "compartment",
                      id)) {
    items.push_back({{"compartment", it[0].as<int>()},
                     {"source_kind", it[1].as<std::string>()},
                     {"source_id", it[2].as<std::int64_t>()},
                     {"collected_at", nullable_ts(it[3])},
                     {"outcome", nullable_str(it[4])}});
  }
  return items;
}

nlohmann::json task_json(pqxx::work& tx, std::int64_t id, std::int64_t viewer) {
  const auto rows = tx.exec_params(
      "SELECT o.id, o.kind, o.state, o.assignee_id, o.source_kind, o.source_id, o.box_id, "
      "array_to_json(o.compartments)::text, o.tracking_code, o.token_id, o.token_text, "
      "o.trigger, " +
          ms_of("o.created_at") + ", " + ms_of("o.updated_at") + ", " + ms_of("o.assigned_at") +
          ", " + ms_of("o.done_at") +
          ", l.id, l.name, l.address, o.note, o.replaced_by FROM internal_orders o LEFT JOIN boxes "
          "b ON b.id = o.box_id "
          "LEFT JOIN locations l ON l.id = b.location_id WHERE o.id = $1",
      id);
  if (rows.empty()) return nullptr;
  const auto& r = rows[0];
  const auto kind = r[1].as<std::string>();
  const auto state = r[2].as<std::string>();
  nlohmann::json j = {
      {"id", r[0].as<std::int64_t>()},
      {"kind", kind},
      {"state", state},
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
      {"note", nullable_str(r[19])},
      {"replaced_by", nullable_int(r[20])},
      {"token", nullptr}};
  // The courier token is a bearer credential: only its holder sees the text.
  if (!r[10].is_null() && !r[3].is_null() && r[3].as<std::int64_t>() == viewer && state != "done" &&
      state != "cancelled") {
    j["token"] = {{"token", r[10].as<std::string>()}, {"token_id", nullable_str(r[9])}};
  }
  if (kind == "checking") {
    j["items"] = checking_items_json(tx, id);
  } else if (kind == "collecting") {
    j["items"] = collecting_items_json(tx, id);
  }
  return j;
}

TaskView view_of(pqxx::work& tx, std::int64_t id, std::int64_t viewer) {
  return {task_summary(tx, id), task_json(tx, id, viewer)};
}

// The order if the viewer may see it: assigned to them, or they read all. not_found otherwise.
StoreResult<TaskRow> visible_task(pqxx::work& tx, std::int64_t id, const TaskViewer& v, bool lock) {
  auto t = load_task(tx, id, lock);
  if (!t) return DomainError::not_found("order");
  if (!v.reads_all && t->assignee != v.account_id) return DomainError::not_found("order");
  return *t;
}

// The visible order, locked, if the viewer is its assignee and it is of `kind` (else
// `wrong_kind`).
StoreResult<TaskRow> assigned_task(pqxx::work& tx, std::int64_t id, const TaskViewer& v,
                                   TaskKind kind, DomainError wrong_kind) {
  auto t = visible_task(tx, id, v, true);
  if (!t.ok()) return t;
  if (t->assignee != v.account_id) {
    return DomainError::forbidden("not_assignee", "only the assigned staff member may do this");
  }
  if (t->kind != kind) return wrong_kind;
  return t;
}

// Publishing a donated item without a title: the body a FieldReader's refusal gets (code
// invalid_field, details {field, problem}).
DomainError title_required() {
  const std::string field = "/title";
  const std::string problem = "is required to publish an item";
  return DomainError::invalid("invalid_field", field + ": " + problem,
                              {{"field", field}, {"problem", problem}});
}

// ---- assignment ---------------------------------------------------------------------------------

Role task_role(TaskKind k) {
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

std::optional<DomainError> eligibility_error(pqxx::work& tx, TaskKind kind, std::int64_t staff_id) {
  const auto staff = find_staff(tx, staff_id);
  const auto needed = task_role(kind);
  if (staff && staff->active &&
      std::find(staff->roles.begin(), staff->roles.end(), needed) != staff->roles.end()) {
    return std::nullopt;
  }
  return DomainError::conflict("assignee_not_eligible",
                               "a " + std::string(to_string(kind)) +
                                   " order goes to an active staff member with the role " +
                                   std::string(to_string(needed)),
                               {{"staff_id", staff_id}, {"role", to_string(needed)}});
}

// The compartments a courier opens: a collecting order's not yet emptied ones, a shipping order's.
std::vector<std::uint8_t> courier_compartments(pqxx::work& tx, const TaskRow& t) {
  const auto sql = t.kind == TaskKind::kCollecting
                       ? "SELECT compartment FROM collecting_items WHERE order_id = $1 AND "
                         "collected_at IS NULL AND outcome IS NULL ORDER BY compartment"
                       : "SELECT unnest(compartments) AS c FROM internal_orders WHERE id = $1 "
                         "ORDER BY c";
  std::vector<std::uint8_t> compartments;
  for (const auto& row : tx.exec_params(sql, t.id)) {
    compartments.push_back(static_cast<std::uint8_t>(row[0].as<int>()));
  }
  return compartments;
}

// A courier token for the new assignee; the previous assignee's token stops working (the revoke
// command is returned for publishing).
StoreResult<std::optional<BoxRevoke>> issue_courier_token(DomainContext& d, pqxx::work& tx,
                                                          const TaskRow& t,
                                                          std::int64_t assigned_by,
                                                          std::int64_t now) {
  std::optional<BoxRevoke> revoke;
  if (t.token_id && d.s.tokens.revoke(tx, *t.token_id).ok()) {
    revoke = BoxRevoke{
        *t.box_id, record_revoke_command(tx, *t.box_id, {*t.token_id}, "courier reassigned", now)};
  }
  TokenRequest req;
  req.action =
      t.kind == TaskKind::kCollecting ? TokenAction::kCourierCollect : TokenAction::kCourierLoad;
  req.box_id = *t.box_id;
  req.compartments = courier_compartments(tx, t);
  req.order_ref = static_cast<std::uint64_t>(t.id);
  req.validity = d.s.config.tokens.courier_validity;
  req.issued_by = assigned_by;
  auto token = d.s.tokens.issue(tx, req);
  if (!token.ok()) return DomainError::from(token.error());
  tx.exec_params("UPDATE internal_orders SET token_id = $2, token_text = $3 WHERE id = $1", t.id,
                 token->token_id, token->text);
  return revoke;
}

void notify_assignee(pqxx::work& tx, const TaskRow& t, std::int64_t staff_id, std::int64_t now) {
  const auto row =
      tx.exec_params1("SELECT tracking_code, box_id FROM internal_orders WHERE id = $1", t.id);
  notify(tx, "staff", staff_id,
         t.kind == TaskKind::kCollecting ? "collecting_assigned" : "task_assigned",
         {{"order_id", t.id},
          {"kind", to_string(t.kind)},
          {"box_id", nullable_str(row[1])},
          {"tracking_code", nullable_str(row[0])}},
         now);
}

// ---- grading ------------------------------------------------------------------------------------

// A graded item's product: a published donated item becomes one (available, unpriced); a returned
// product goes back on sale (at its price) or out of stock for good. Returns the product's id.
StoreResult<std::optional<std::int64_t>> place_graded_item(pqxx::work& tx, const pqxx::row& item,
                                                           std::int64_t order_id, int position,
                                                           const GradeInput& in,
                                                           std::int64_t grader, std::int64_t now) {
  std::optional<std::int64_t> product = opt<std::int64_t>(item[2]);
  const bool from_donation = !item[1].is_null();
  if (from_donation && in.grade == "publish") {
    if (!in.title) return title_required();
    product = tx.exec_params1(
                    "INSERT INTO products (title, description, category, size, condition, status, "
                    "source_item_id, created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, "
                    "$5, 'available', $6, $7, $8::timestamptz, $8::timestamptz) RETURNING id",
                    *in.title, in.description.value_or(""), item[3].as<std::string>(),
                    in.size.value_or(""), in.condition.value_or(""), item[1].as<std::int64_t>(),
                    grader, ts(now))[0]
                  .as<std::int64_t>();
    tx.exec_params(
        "UPDATE checking_items SET product_id = $3 WHERE order_id = $1 AND position = $2", order_id,
        position, *product);
  } else if (!from_donation && product) {
    // Either way its old sale is over, so a new order may take it.
    tx.exec_params("UPDATE buying_order_items SET active = false WHERE product_id = $1 AND active",
                   *product);
    tx.exec_params("UPDATE products SET status = $2, updated_at = $3::timestamptz WHERE id = $1",
                   *product, std::string(in.grade == "publish" ? "available" : "withdrawn"),
                   ts(now));
  }
  return product;
}

// Gives the donor the reward for the graded pieces; returns its JSON.
nlohmann::json reward_donor(pqxx::work& tx, std::int64_t customer, const Reward& reward,
                            std::int64_t donation_id, std::int64_t now) {
  if (reward.kind == Reward::Kind::kCoins) {
    award_coins(tx, customer, reward.coins, "donation", "donation", donation_id, now);
    return {{"kind", "coins"}, {"coins", reward.coins}};
  }
  const auto code = new_coupon_code();
  const auto expires = now + 365LL * 24 * 3600 * 1000;
  tx.exec_params(
      "INSERT INTO coupons (code, customer_id, percent_off, description, source, donation_id, "
      "issued_at, expires_at) VALUES ($1, $2, $3, $4, 'donation_reward', $5, $6::timestamptz, "
      "$7::timestamptz) ON CONFLICT DO NOTHING",
      code, customer, reward.percent_off, "thank you for recycling with ReClothes", donation_id,
      ts(now), ts(expires));
  return {{"kind", "coupon"}, {"percent_off", reward.percent_off}, {"coupon_code", code}};
}

// Every item of the donation graded: the donation is completed and the donor rewarded (coins or a
// coupon). A donation that cannot complete is logged and left alone.
void finish_donation(DomainContext& d, pqxx::work& tx, std::int64_t donation_id, std::int64_t now) {
  const auto row = tx.exec_params1(
      "SELECT customer_id, state FROM donations WHERE id = $1 FOR UPDATE", donation_id);
  const auto customer = row[0].as<std::int64_t>();
  auto to = next(*donation_state_from_string(row[1].as<std::string>()), DonationEvent::kComplete);
  if (!to.ok()) {
    d.s.log.warn("donation not completed",
                 {{"donation", donation_id}, {"why", to.error().message()}});
    return;
  }
  const auto counts = tx.exec_params1(
      "SELECT COALESCE(sum(di.count) FILTER (WHERE ci.grade = 'publish'), 0), "
      "COALESCE(sum(di.count) FILTER (WHERE ci.grade = 'recycle'), 0) FROM checking_items ci "
      "JOIN donation_items di ON di.id = ci.donation_item_id WHERE di.donation_id = $1",
      donation_id);
  const auto reward = donation_reward(counts[0].as<int>(), counts[1].as<int>());
  if (!reward.ok()) return;
  const auto j = reward_donor(tx, customer, *reward, donation_id, now);
  tx.exec_params(
      "UPDATE donations SET state = $2, reward = $3::jsonb, completed_at = $4::timestamptz, "
      "updated_at = $4::timestamptz WHERE id = $1",
      donation_id, std::string(to_string(*to)), j.dump(), ts(now));
  notify(tx, "customer", customer, "donation_rewarded",
         {{"donation_id", donation_id}, {"reward", j}}, now,
         "donation_rewarded:" + std::to_string(donation_id));
}

// When no item is left ungraded: the checking order is done, and its donation is rewarded or its
// return refunded. Returns the refund payment's id.
StoreResult<std::optional<std::int64_t>> finish_checking(DomainContext& d, pqxx::work& tx,
                                                         const TaskRow& t, std::int64_t now) {
  const auto left =
      tx.exec_params1("SELECT count(*) FROM checking_items WHERE order_id = $1 AND grade IS NULL",
                      t.id)[0]
          .as<std::int64_t>();
  if (left > 0) return std::optional<std::int64_t>();
  const auto done = advance_task(tx, t.id, TaskEvent::kComplete, now);
  if (!done.ok()) return DomainError::transition(done.error());
  if (t.source_kind == "donation") {
    finish_donation(d, tx, *t.source_id, now);
  } else if (t.source_kind == "return") {
    auto payment = refund_return(d, tx, *t.source_id, now);
    if (!payment.ok()) return DomainError::transition(payment.error());
    if (*payment == 0) return std::optional<std::int64_t>();  // nothing (left) to pay back
    return std::optional<std::int64_t>(*payment);
  }
  return std::optional<std::int64_t>();
}

}  // namespace

// ---- public -------------------------------------------------------------------------------------

StoreResult<TaskPage> list_tasks(pqxx::work& tx, const TaskFilter& f, const TaskViewer& v) {
  return guarded([&]() -> StoreResult<TaskPage> {
    std::string where = "true";
    std::vector<std::string> params;
    const auto add = [&](const std::string& clause, std::string value) {
      params.push_back(std::move(value));
      where += " AND " + clause + "$" + std::to_string(params.size());
    };
    if (f.kind) add("kind = ", std::string(to_string(*f.kind)));
    if (f.state) add("state = ", std::string(to_string(*f.state)));
    // Staff without orders.read_all see only their own work, whatever they ask for.
    if (!v.reads_all) {
      add("assignee_id = ", std::to_string(v.account_id));
    } else if (f.assignee_id) {
      add("assignee_id = ", std::to_string(*f.assignee_id));
    }
    if (f.unassigned) where += " AND assignee_id IS NULL";
    if (f.box_id) add("box_id = ", *f.box_id);
    if (f.location_id) {
      add("box_id IN (SELECT id FROM boxes WHERE location_id = ", std::to_string(*f.location_id));
      where += "::bigint)";
    }
    if (f.created_from_ms) {
      add("created_at >= ", ts(*f.created_from_ms));
      where += "::timestamptz";
    }
    if (f.created_to_ms) {
      add("created_at < ", ts(*f.created_to_ms));
      where += "::timestamptz";
    }
    if (f.before_id) add("id < ", std::to_string(*f.before_id));
    const auto rows = tx.exec_params("SELECT id FROM internal_orders WHERE " + where +
                                         " ORDER BY id DESC LIMIT " + std::to_string(f.limit),
                                     pqxx::prepare::make_dynamic_params(params));
    TaskPage page;
    for (const auto& row : rows) {
      page.items.push_back(task_json(tx, row[0].as<std::int64_t>(), v.account_id));
    }
    if (static_cast<std::int64_t>(rows.size()) == f.limit) {
      page.next_before_id = rows[rows.size() - 1][0].as<std::int64_t>();
    }
    return page;
  });
}

StoreResult<nlohmann::json> read_task(pqxx::work& tx, std::int64_t id, const TaskViewer& v) {
  return guarded([&]() -> StoreResult<nlohmann::json> {
    auto t = visible_task(tx, id, v, false);
    if (!t.ok()) return t.error();
    return task_json(tx, id, v.account_id);
  });
}

StoreResult<TaskView> view_task(pqxx::work& tx, std::int64_t id, std::int64_t viewer_id) {
  return guarded([&]() -> StoreResult<TaskView> {
    auto view = view_of(tx, id, viewer_id);
    if (view.summary.is_null()) return DomainError::not_found("order");
    return view;
  });
}

StoreResult<std::optional<std::int64_t>> finish_checking_order(DomainContext& d, pqxx::work& tx,
                                                               std::int64_t id,
                                                               std::int64_t now_ms) {
  auto t = load_task(tx, id, true);
  if (!t) return DomainError::not_found("order");
  return finish_checking(d, tx, *t, now_ms);
}

StoreResult<TaskAssignment> assign_task(DomainContext& d, pqxx::work& tx, std::int64_t id,
                                        std::int64_t staff_id, std::int64_t assigned_by,
                                        std::int64_t now_ms, TaskEvent event) {
  return guarded([&]() -> StoreResult<TaskAssignment> {
    // A courier order's box row first (token rows reference the box), then the order: the order
    // in which event application locks them, so an assignment racing the box's events for this
    // order cannot deadlock.
    if (auto peek = load_task(tx, id, false); peek && peek->box_id) lock_box(tx, *peek->box_id);
    auto t = load_task(tx, id, true);
    if (!t) return DomainError::not_found("order");
    TaskAssignment out;
    out.before = task_summary(tx, id);
    if (auto e = eligibility_error(tx, t->kind, staff_id)) return *e;
    auto to = next(t->kind, t->state, event);
    if (!to.ok()) return DomainError::transition(to.error());
    tx.exec_params(
        "UPDATE internal_orders SET state = $2, assignee_id = $3, assigned_at = $4::timestamptz, "
        "updated_at = $4::timestamptz WHERE id = $1",
        id, std::string(to_string(*to)), staff_id, ts(now_ms));
    if (t->kind == TaskKind::kCollecting || t->kind == TaskKind::kShipping) {
      auto revoke = issue_courier_token(d, tx, *t, assigned_by, now_ms);
      if (!revoke.ok()) return revoke.error();
      out.revoke = *revoke;
    }
    if (t->kind == TaskKind::kShipping && t->source_id) {
      dispatch_order(d, tx, *t->source_id, now_ms);
    }
    notify_assignee(tx, *t, staff_id, now_ms);
    out.after = view_of(tx, id, assigned_by);
    return out;
  });
}

StoreResult<PackingDone> finish_packing_task(pqxx::work& tx, std::int64_t id, const TaskViewer& v,
                                             std::int64_t now_ms) {
  return guarded([&]() -> StoreResult<PackingDone> {
    auto t = assigned_task(
        tx, id, v, TaskKind::kPacking,
        DomainError::conflict("not_completed_by_hand",
                              "collecting and shipping orders are completed by the box's events, "
                              "checking orders by grading their items"));
    if (!t.ok()) return t.error();
    PackingDone out{t->source_id.value(), task_summary(tx, id)};
    auto to = advance_task(tx, id, TaskEvent::kComplete, now_ms);
    if (!to.ok()) return DomainError::transition(to.error());
    return out;
  });
}

StoreResult<GradeOutcome> grade_item(DomainContext& d, pqxx::work& tx, std::int64_t id,
                                     int position, const GradeInput& input, const TaskViewer& v,
                                     std::int64_t now_ms) {
  return guarded([&]() -> StoreResult<GradeOutcome> {
    auto t = assigned_task(
        tx, id, v, TaskKind::kChecking,
        DomainError::conflict("not_a_checking_order", "only checking orders have items to grade"));
    if (!t.ok()) return t.error();
    const auto items = tx.exec_params(
        "SELECT ci.grade, ci.donation_item_id, ci.product_id, di.category FROM checking_items ci "
        "LEFT JOIN donation_items di ON di.id = ci.donation_item_id WHERE ci.order_id = $1 AND "
        "ci.position = $2 FOR UPDATE OF ci",
        id, position);
    if (items.empty()) return DomainError::not_found("item " + std::to_string(position));
    if (!items[0][0].is_null()) {
      return DomainError::conflict("already_graded", "this item is graded already");
    }
    const auto progressed = advance_task(tx, id, TaskEvent::kProgress, now_ms);
    if (!progressed.ok()) return DomainError::transition(progressed.error());
    GradeOutcome out;
    auto product = place_graded_item(tx, items[0], id, position, input, v.account_id, now_ms);
    if (!product.ok()) return product.error();
    out.product_id = *product;
    tx.exec_params(
        "UPDATE checking_items SET grade = $3, graded_by = $4, graded_at = $5::timestamptz WHERE "
        "order_id = $1 AND position = $2",
        id, position, input.grade, v.account_id, ts(now_ms));
    auto refund = finish_checking(d, tx, *t, now_ms);
    if (!refund.ok()) return refund.error();
    out.refund_payment_id = *refund;
    out.task = task_json(tx, id, v.account_id);
    return out;
  });
}

StoreResult<std::string> task_tracking_code(pqxx::work& tx, std::int64_t id, const TaskViewer& v) {
  return guarded([&]() -> StoreResult<std::string> {
    auto t = visible_task(tx, id, v, false);
    if (!t.ok()) return t.error();
    const auto rows = tx.exec_params("SELECT tracking_code FROM internal_orders WHERE id = $1", id);
    if (rows[0][0].is_null()) {
      return DomainError::conflict("no_tracking_code",
                                   "only collecting and shipping orders have labels");
    }
    return rows[0][0].as<std::string>();
  });
}

StoreResult<std::string> courier_token_text(pqxx::work& tx, std::int64_t id, const TaskViewer& v) {
  return guarded([&]() -> StoreResult<std::string> {
    auto t = visible_task(tx, id, v, false);
    if (!t.ok()) return t.error();
    if (t->assignee != v.account_id) {
      return DomainError::forbidden("not_assignee",
                                    "only the assigned courier may show the order's courier token");
    }
    const auto rows = tx.exec_params(
        "SELECT token_text FROM internal_orders WHERE id = $1 AND state IN ('assigned', "
        "'in_progress') AND kind IN ('collecting', 'shipping')",
        id);
    if (rows.empty() || rows[0][0].is_null()) {
      return DomainError::conflict("no_courier_token",
                                   "only an unfinished collecting or shipping order assigned to "
                                   "you has a courier token");
    }
    return rows[0][0].as<std::string>();
  });
}

namespace {

std::string describe_problem(const ProblemReport& report) {
  std::string what = report.problem == "jammed_door"   ? "door jammed"
                     : report.problem == "missing_bag" ? "bag missing"
                                                       : "problem";
  if (report.compartment) what += " at compartment " + std::to_string(*report.compartment);
  if (report.note && !report.note->empty()) what += ": " + *report.note;
  return what;
}

}  // namespace

StoreResult<std::int64_t> report_task_problem(pqxx::work& tx, std::int64_t id, const TaskViewer& v,
                                              const ProblemReport& report, std::int64_t now_ms) {
  return guarded([&]() -> StoreResult<std::int64_t> {
    auto t = visible_task(tx, id, v, true);
    if (!t.ok()) return t.error();
    if (t->assignee != v.account_id) {
      return DomainError::forbidden("not_assignee",
                                    "only the assigned staff member reports problems on an order");
    }
    if ((t->kind != TaskKind::kCollecting && t->kind != TaskKind::kShipping) || !t->box_id) {
      return DomainError::conflict("no_box_to_report",
                                   "problems at a box are reported on collecting and shipping "
                                   "orders");
    }
    if (t->state == TaskState::kDone || t->state == TaskState::kCancelled) {
      return DomainError::conflict("order_finished", "the order is " +
                                                         std::string(to_string(t->state)) +
                                                         ": report the problem to your manager");
    }
    if (report.compartment &&
        tx.exec_params("SELECT 1 FROM internal_orders WHERE id = $1 AND $2 = ANY(compartments)", id,
                       *report.compartment)
            .empty()) {
      const std::string field = "/compartment";
      const std::string problem = "is not one of the order's compartments";
      return DomainError::invalid("invalid_field", field + ": " + problem,
                                  {{"field", field}, {"problem", problem}});
    }
    const nlohmann::json details = {
        {"order_id", id},
        {"problem", report.problem},
        {"compartment", report.compartment ? nlohmann::json(*report.compartment) : nullptr},
        {"reported_by", v.account_id},
        {"note", report.note ? nlohmann::json(*report.note) : nullptr}};
    return tx
        .exec_params1(
            "INSERT INTO box_faults (box_id, compartment, kind, event_seq, opened_at, detail, "
            "details) VALUES ($1, $2, 'courier_report', NULL, $3::timestamptz, $4, $5::jsonb) "
            "RETURNING id",
            *t->box_id, report.compartment, ts(now_ms), describe_problem(report), details.dump())[0]
        .as<std::int64_t>();
  });
}

StoreResult<CollectingCreated> collect_now(pqxx::work& tx, const DomainConfig& config,
                                           const std::string& box_id, std::int64_t viewer_id,
                                           std::int64_t now_ms) {
  return guarded([&]() -> StoreResult<CollectingCreated> {
    if (tx.exec_params("SELECT 1 FROM boxes WHERE id = $1", box_id).empty()) {
      return DomainError::not_found("box " + box_id);
    }
    const auto id = maybe_create_collecting(tx, config, box_id, "manual", true, now_ms);
    if (!id) {
      return DomainError::conflict("nothing_to_collect",
                                   "no filled compartment waits for collection");
    }
    return CollectingCreated{*id, task_json(tx, *id, viewer_id)};
  });
}

}  // namespace reclothes::controller::domain
