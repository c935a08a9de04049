// Stuck internal orders and offline conflicts, the SQL side (stuck_store.h). The HTTP side is
// routes/stuck_routes.cpp.
#include "stuck_store.h"

#include <sstream>

#include "reclothes/controller/fleet.h"
#include "shared.h"

namespace reclothes::controller::domain {
namespace {

struct StuckRow {
  std::int64_t id = 0;
  TaskKind kind = TaskKind::kChecking;
  TaskState state = TaskState::kOpen;
  std::optional<std::string> source_kind;
  std::optional<std::int64_t> source_id;
  std::optional<std::string> box_id;
  std::vector<int> compartments;
  std::optional<std::string> token_id;
};

std::vector<int> int_list(const pqxx::field& f) {
  std::vector<int> out;
  if (f.is_null()) return out;
  std::stringstream ss(f.as<std::string>());
  std::string part;
  while (std::getline(ss, part, ',')) {
    if (!part.empty()) out.push_back(std::stoi(part));
  }
  return out;
}

// The order, locked (its box row first, the order in which event application locks them).
std::optional<StuckRow> lock_stuck(pqxx::work& tx, std::int64_t id) {
  const auto peek = tx.exec_params("SELECT box_id FROM internal_orders WHERE id = $1", id);
  if (peek.empty()) return std::nullopt;
  if (!peek[0][0].is_null()) lock_box(tx, peek[0][0].as<std::string>());
  const auto rows = tx.exec_params(
      "SELECT id, kind, state, source_kind, source_id, box_id, array_to_string(compartments, ','), "
      "token_id FROM internal_orders WHERE id = $1 FOR UPDATE",
      id);
  const auto& r = rows[0];
  StuckRow t;
  t.id = r[0].as<std::int64_t>();
  t.kind = *task_kind_from_string(r[1].as<std::string>());
  t.state = *task_state_from_string(r[2].as<std::string>());
  t.source_kind = opt<std::string>(r[3]);
  t.source_id = opt<std::int64_t>(r[4]);
  t.box_id = opt<std::string>(r[5]);
  t.compartments = int_list(r[6]);
  t.token_id = opt<std::string>(r[7]);
  return t;
}

void set_task_state(pqxx::work& tx, std::int64_t id, TaskState to, std::int64_t now) {
  tx.exec_params(
      "UPDATE internal_orders SET state = $2, updated_at = $3::timestamptz, done_at = CASE WHEN "
      "$2 = 'done' THEN $3::timestamptz ELSE done_at END, token_text = CASE WHEN $2 IN ('done', "
      "'cancelled') THEN NULL ELSE token_text END WHERE id = $1",
      id, std::string(to_string(to)), ts(now));
}

// The courier's token of a collecting or shipping order no longer opens anything.
std::optional<BoxRevoke> revoke_courier_token(DomainContext& d, pqxx::work& tx, const StuckRow& t,
                                              const std::string& why, std::int64_t now) {
  if (!t.token_id || !t.box_id) return std::nullopt;
  if (!d.s.tokens.revoke(tx, *t.token_id).ok()) return std::nullopt;
  return BoxRevoke{*t.box_id, record_revoke_command(tx, *t.box_id, {*t.token_id}, why, now)};
}

// A compartment of a collecting order goes back to the pool: a later collecting order (the next
// trigger, or POST /boxes/{id}/collect) takes its donation or return again.
void return_to_pool(pqxx::work& tx, const std::string& box_id, int compartment,
                    std::int64_t order_id, const std::string& source_kind, std::int64_t source_id) {
  tx.exec_params(
      "UPDATE compartment_holds SET collecting_order_id = NULL WHERE box_id = $1 AND compartment "
      "= $2 AND collecting_order_id = $3",
      box_id, compartment, order_id);
  if (source_kind == "donation") {
    tx.exec_params(
        "UPDATE donations SET collecting_order_id = NULL WHERE id = $1 AND collecting_order_id = "
        "$2",
        source_id, order_id);
  }
}

// Every part of the collecting order not collected and not otherwise ended becomes `skipped`.
void skip_uncollected(pqxx::work& tx, const StuckRow& t) {
  for (const auto& r : tx.exec_params(
           "UPDATE collecting_items SET outcome = 'skipped' WHERE order_id = $1 AND collected_at "
           "IS NULL AND outcome IS NULL RETURNING compartment, source_kind, source_id",
           t.id)) {
    return_to_pool(tx, *t.box_id, r[0].as<int>(), t.id, r[1].as<std::string>(),
                   r[2].as<std::int64_t>());
  }
}

// The new open order that takes over a cancelled checking, packing or shipping order's work.
std::int64_t replacement_order(pqxx::work& tx, const StuckRow& t, std::int64_t now) {
  const bool courier = t.kind == TaskKind::kShipping;
  const auto id = create_internal_order(
      tx, t.kind, t.source_kind, t.source_id, courier ? t.box_id : std::nullopt,
      courier ? t.compartments : std::vector<int>{}, courier, std::nullopt, now);
  if (t.kind == TaskKind::kChecking) {
    tx.exec_params(
        "INSERT INTO checking_items (order_id, position, donation_item_id, product_id) SELECT $1, "
        "position, donation_item_id, product_id FROM checking_items WHERE order_id = $2 AND grade "
        "IS NULL",
        id, t.id);
    if (t.source_kind == "donation") {
      tx.exec_params("UPDATE donations SET checking_order_id = $2 WHERE id = $1", *t.source_id, id);
    }
  }
  return id;
}

// The ungraded items of a checking order are recycled by the manager: a returned product is
// withdrawn (its sale is over), a donated piece simply counts as recycled.
void recycle_ungraded(pqxx::work& tx, std::int64_t id, std::int64_t manager_id, std::int64_t now) {
  const auto items = tx.exec_params(
      "UPDATE checking_items SET grade = 'recycle', graded_by = $2, graded_at = $3::timestamptz "
      "WHERE order_id = $1 AND grade IS NULL RETURNING product_id, donation_item_id",
      id, manager_id, ts(now));
  for (const auto& it : items) {
    if (it[0].is_null() || !it[1].is_null()) continue;
    const auto product = it[0].as<std::int64_t>();
    tx.exec_params("UPDATE buying_order_items SET active = false WHERE product_id = $1 AND active",
                   product);
    tx.exec_params(
        "UPDATE products SET status = 'withdrawn', updated_at = $2::timestamptz WHERE id = $1",
        product, ts(now));
  }
}

// The shipping order's parcel is in its compartment: the box's courier_load effect, without the
// box's event (the courier loaded by hand or through a remote open).
StoreStatus load_by_hand(DomainContext& d, pqxx::work& tx, const StuckRow& t, std::int64_t now) {
  const auto state =
      tx.exec_params("SELECT state FROM buying_orders WHERE id = $1", t.source_id.value_or(0));
  if (state.empty() || state[0][0].as<std::string>() != "shipping" || !t.box_id ||
      t.compartments.empty()) {
    return DomainError::conflict(
        "parcel_not_dispatched",
        "the buying order is not being shipped, so there is no parcel to count as loaded; cancel "
        "the shipping order instead");
  }
  const std::string box = *t.box_id;
  const BoxEventContext ctx{box, now};
  msg::Event e;
  e.kind = msg::EventKind::kAccessCompleted;
  e.compartment = t.compartments.front();
  e.order_ref = static_cast<std::uint64_t>(t.id);
  e.action = TokenAction::kCourierLoad;
  auto loaded = on_courier_load(d, tx, ctx, e);
  if (!loaded.ok()) return DomainError::from(loaded.error());
  return store_ok();
}

ManagerDecision decision_start(pqxx::work& tx, std::int64_t id, std::int64_t manager_id) {
  ManagerDecision out;
  auto v = view_task(tx, id, manager_id);
  if (v.ok()) out.before = v->summary;
  return out;
}

StoreStatus decision_finish(pqxx::work& tx, ManagerDecision& out, std::int64_t id,
                            std::int64_t manager_id) {
  auto v = view_task(tx, id, manager_id);
  if (!v.ok()) return v.error();
  out.after = std::move(v).value();
  return store_ok();
}

}  // namespace

// ---- a manager's decisions ----------------------------------------------------------------------

StoreResult<ManagerDecision> manager_cancel_task(DomainContext& d, pqxx::work& tx, std::int64_t id,
                                                 std::int64_t manager_id, std::int64_t now_ms) {
  return guarded([&]() -> StoreResult<ManagerDecision> {
    const auto t = lock_stuck(tx, id);
    if (!t) return DomainError::not_found("order");
    auto to = next(t->kind, t->state, TaskEvent::kManagerCancel);
    if (!to.ok()) return DomainError::transition(to.error());
    auto out = decision_start(tx, id, manager_id);
    out.revoke = revoke_courier_token(d, tx, *t, "internal order cancelled by a manager", now_ms);
    if (t->kind == TaskKind::kCollecting) {
      skip_uncollected(tx, *t);
    } else {
      out.replaced_by = replacement_order(tx, *t, now_ms);
      tx.exec_params("UPDATE internal_orders SET replaced_by = $2 WHERE id = $1", id,
                     *out.replaced_by);
    }
    set_task_state(tx, id, *to, now_ms);
    RC_STORE_TRY(decision_finish(tx, out, id, manager_id));
    return out;
  });
}

StoreResult<ManagerDecision> force_complete_task(DomainContext& d, pqxx::work& tx, std::int64_t id,
                                                 std::int64_t manager_id, std::int64_t now_ms) {
  return guarded([&]() -> StoreResult<ManagerDecision> {
    const auto t = lock_stuck(tx, id);
    if (!t) return DomainError::not_found("order");
    auto to = next(t->kind, t->state, TaskEvent::kForceComplete);
    if (!to.ok()) return DomainError::transition(to.error());
    auto out = decision_start(tx, id, manager_id);
    switch (t->kind) {
      case TaskKind::kCollecting:
        skip_uncollected(tx, *t);
        set_task_state(tx, id, *to, now_ms);
        break;
      case TaskKind::kChecking: {
        recycle_ungraded(tx, id, manager_id, now_ms);
        // Completes the order (done) and rewards the donor or refunds the return.
        auto refund = finish_checking_order(d, tx, id, now_ms);
        if (!refund.ok()) return refund.error();
        out.refund_payment_id = *refund;
        break;
      }
      case TaskKind::kPacking: {
        auto box = pack_order(d, tx, t->source_id.value_or(0), now_ms);
        if (!box.ok()) return box.error();
        out.config_boxes.push_back(*box);
        set_task_state(tx, id, *to, now_ms);
        break;
      }
      case TaskKind::kShipping:
        // on_courier_load completes the shipping order as the box's event would.
        RC_STORE_TRY(load_by_hand(d, tx, *t, now_ms));
        out.config_boxes.push_back(*t->box_id);
        break;
    }
    out.revoke = revoke_courier_token(d, tx, *t, "internal order completed by a manager", now_ms);
    RC_STORE_TRY(decision_finish(tx, out, id, manager_id));
    return out;
  });
}

// ---- collecting adapts --------------------------------------------------------------------------

void advance_collecting(DomainContext& d, pqxx::work& tx, std::int64_t order_id, std::int64_t now) {
  const auto left = tx.exec_params1(
                          "SELECT count(*) FROM collecting_items WHERE order_id = $1 AND "
                          "collected_at IS NULL AND outcome IS NULL",
                          order_id)[0]
                        .as<std::int64_t>();
  auto moved =
      advance_task(tx, order_id, left == 0 ? TaskEvent::kComplete : TaskEvent::kProgress, now);
  if (!moved.ok()) {
    d.s.log.warn("collecting order not advanced",
                 {{"order", order_id}, {"why", moved.error().message()}});
  }
}

Status on_collect_jammed(DomainContext& d, pqxx::work& tx, const BoxEventContext& ctx,
                         const msg::Event& e) {
  if (!e.action || *e.action != TokenAction::kCourierCollect || !e.order_ref || !e.compartment) {
    return ok_status();
  }
  const auto order_id = static_cast<std::int64_t>(*e.order_ref);
  const auto rows = tx.exec_params(
      "UPDATE collecting_items ci SET outcome = 'jammed' FROM internal_orders o WHERE o.id = "
      "ci.order_id AND ci.order_id = $1 AND ci.compartment = $2 AND o.box_id = $3 AND "
      "o.state IN ('assigned', 'in_progress') AND ci.collected_at IS NULL AND ci.outcome IS NULL "
      "RETURNING ci.source_kind, ci.source_id",
      order_id, *e.compartment, ctx.box_id);
  if (rows.empty()) return ok_status();
  return_to_pool(tx, ctx.box_id, *e.compartment, order_id, rows[0][0].as<std::string>(),
                 rows[0][1].as<std::int64_t>());
  d.s.log.warn("collecting compartment jammed; the order goes on without it",
               {{"box", ctx.box_id}, {"compartment", *e.compartment}, {"order", order_id}});
  advance_collecting(d, tx, order_id, ctx.now_ms);
  return ok_status();
}

bool collect_found_empty(DomainContext& d, pqxx::work& tx, const BoxEventContext& ctx,
                         const msg::Event& e) {
  if (!d.config.collecting.empty_by_fill_sensor || !e.token_id || !e.compartment) return false;
  const auto rows = tx.exec_params(
      "SELECT fill_percent FROM token_consumptions WHERE box_id = $1 AND token_id = $2 AND "
      "compartment = $3 ORDER BY seq DESC LIMIT 1",
      ctx.box_id, *e.token_id, *e.compartment);
  return !rows.empty() && !rows[0][0].is_null() && rows[0][0].as<int>() == 0;
}

void mark_collect_empty(DomainContext& d, pqxx::work& tx, const BoxEventContext& ctx,
                        std::int64_t order_id, int compartment, const std::string& source_kind,
                        std::int64_t source_id) {
  tx.exec_params(
      "UPDATE collecting_items SET outcome = 'empty' WHERE order_id = $1 AND compartment = $2",
      order_id, compartment);
  return_to_pool(tx, ctx.box_id, compartment, order_id, source_kind, source_id);
  release_hold(tx, ctx.box_id, compartment, source_id);
  d.s.log.warn("collecting compartment found empty",
               {{"box", ctx.box_id},
                {"compartment", compartment},
                {"order", order_id},
                {"source", source_kind + " " + std::to_string(source_id)}});
  advance_collecting(d, tx, order_id, ctx.now_ms);
}

void settle_taken_over(DomainContext& d, pqxx::work& tx, const std::string& source_kind,
                       std::int64_t source_id, std::int64_t order_id, std::int64_t now) {
  for (const auto& r : tx.exec_params(
           "UPDATE collecting_items SET outcome = 'skipped' WHERE source_kind = $1 AND source_id = "
           "$2 AND order_id <> $3 AND collected_at IS NULL AND outcome IS NULL RETURNING order_id",
           source_kind, source_id, order_id)) {
    const auto other = r[0].as<std::int64_t>();
    const auto left = tx.exec_params1(
        "SELECT count(*) FILTER (WHERE collected_at IS NULL AND outcome IS NULL), count(*) FILTER "
        "(WHERE collected_at IS NOT NULL) FROM collecting_items WHERE order_id = $1",
        other);
    if (left[0].as<std::int64_t>() > 0) continue;
    const auto event = left[1].as<std::int64_t>() > 0 ? TaskEvent::kComplete : TaskEvent::kCancel;
    if (auto moved = advance_task(tx, other, event, now); !moved.ok()) {
      d.s.log.warn("collecting order not settled",
                   {{"order", other}, {"why", moved.error().message()}});
    }
  }
}

// ---- token consumptions and offline conflicts ---------------------------------------------------

Status on_token_unlocked(DomainContext&, pqxx::work& tx, const BoxEventContext& ctx,
                         const msg::Event& e) {
  if (!e.token_id) return ok_status();
  std::optional<std::string> action;
  if (e.action) action = std::string(to_string(*e.action));
  std::optional<std::int64_t> order_ref;
  if (e.order_ref) order_ref = static_cast<std::int64_t>(*e.order_ref);
  tx.exec_params(
      "INSERT INTO token_consumptions (box_id, seq, token_id, compartment, action, order_ref, "
      "consumed_at, applied_at, fill_percent) VALUES ($1, $2, $3, $4, $5, $6, $7::timestamptz, "
      "$8::timestamptz, (SELECT fill_percent FROM compartments WHERE box_id = $1 AND number = "
      "$4)) ON CONFLICT DO NOTHING",
      ctx.box_id, static_cast<std::int64_t>(e.seq), *e.token_id, e.compartment, action, order_ref,
      ts(e.at_ms), ts(ctx.now_ms));
  return ok_status();
}

std::int64_t open_late_deposit_conflict(DomainContext& d, pqxx::work& tx,
                                        const BoxEventContext& ctx, const msg::Event& e,
                                        std::int64_t donation_id, int compartment) {
  const auto now = ctx.now_ms;
  nlohmann::json holder = nullptr;
  for (const auto& h : tx.exec_params(
           "SELECT order_id, purpose, phase FROM compartment_holds WHERE box_id = $1 AND "
           "compartment = $2",
           ctx.box_id, compartment)) {
    holder = {{"kind", h[1].as<std::string>()},
              {"id", h[0].as<std::int64_t>()},
              {"phase", h[2].as<std::string>()}};
  }
  nlohmann::json consumed = nullptr;
  if (e.token_id) {
    for (const auto& c :
         tx.exec_params("SELECT seq, " + ms_of("consumed_at") +
                            " FROM token_consumptions WHERE box_id = $1 AND token_id = $2 ORDER "
                            "BY seq DESC LIMIT 1",
                        ctx.box_id, *e.token_id)) {
      consumed = {{"token_id", *e.token_id},
                  {"seq", c[0].as<std::int64_t>()},
                  {"at", ts(c[1].as<std::int64_t>())}};
    }
  }
  // The staff task: a collecting order for this compartment that fetches the late clothes (the
  // donation is then collected and checked as any other); its note says why.
  const auto collecting =
      create_internal_order(tx, TaskKind::kCollecting, std::nullopt, std::nullopt, ctx.box_id,
                            {compartment}, true, std::string("late_deposit"), now);
  tx.exec_params(
      "INSERT INTO collecting_items (order_id, compartment, source_kind, source_id) VALUES ($1, "
      "$2, 'donation', $3)",
      collecting, compartment, donation_id);
  tx.exec_params("UPDATE donations SET collecting_order_id = $2 WHERE id = $1", donation_id,
                 collecting);
  const std::string holder_text = holder.is_null()
                                      ? std::string("another order")
                                      : holder["kind"].get<std::string>() + " order " +
                                            std::to_string(holder["id"].get<std::int64_t>());
  const std::string note = "late offline deposit: donation " + std::to_string(donation_id) +
                           " was deposited into box " + ctx.box_id + " compartment " +
                           std::to_string(compartment) + ", which now belongs to " + holder_text +
                           "; fetch the donated clothes and leave that order's hold alone";
  tx.exec_params("UPDATE internal_orders SET note = $2 WHERE id = $1", collecting, note);
  const nlohmann::json details = {{"late_order", {{"kind", "donation"}, {"id", donation_id}}},
                                  {"holding_order", holder},
                                  {"consumption", consumed},
                                  {"event_seq", e.seq},
                                  {"collecting_order_id", collecting}};
  const auto fault =
      tx.exec_params1(
            "INSERT INTO box_faults (box_id, compartment, kind, event_seq, opened_at, detail, "
            "details) VALUES ($1, $2, 'late_deposit_conflict', $3, $4::timestamptz, $5, "
            "$6::jsonb) RETURNING id",
            ctx.box_id, compartment, static_cast<std::int64_t>(e.seq), ts(now), note,
            details.dump())[0]
          .as<std::int64_t>();
  d.s.log.warn("late deposit into a compartment held by another order: fault and collecting order",
               {{"box", ctx.box_id},
                {"compartment", compartment},
                {"donation", donation_id},
                {"fault", fault},
                {"collecting_order", collecting}});
  return fault;
}

void clear_conflict_collected(pqxx::work& tx, const std::string& box_id, int compartment,
                              std::int64_t order_id, std::int64_t now_ms) {
  tx.exec_params(
      "UPDATE box_faults SET cleared_at = $4::timestamptz WHERE box_id = $1 AND compartment = $2 "
      "AND kind = 'late_deposit_conflict' AND cleared_at IS NULL AND "
      "(details->>'collecting_order_id')::bigint = $3",
      box_id, compartment, order_id, ts(now_ms));
}

}  // namespace reclothes::controller::domain
