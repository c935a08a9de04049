// The donating orders' store (donation_store.h), and the module's box-event hooks (deposit,
// courier collect, fill level) and worker passes (reservation expiry and its warning), declared
// in shared.h.
#include "donation_store.h"

#include <chrono>

#include "noshow_store.h"
#include "reclothes/controller/fleet.h"
#include "shared.h"
#include "stuck_store.h"

namespace reclothes::controller::domain {
namespace {

struct DonationRow {
  std::int64_t id = 0;
  std::int64_t customer_id = 0;
  DonationState state = DonationState::kReserved;
  std::string box_id;
  int compartment = 0;
  std::optional<std::string> token_id;
};

std::optional<DonationRow> lock_donation(pqxx::work& tx, std::int64_t id) {
  const auto rows = tx.exec_params(
      "SELECT id, customer_id, state, box_id, compartment, token_id FROM donations WHERE id = $1 "
      "FOR UPDATE",
      id);
  if (rows.empty()) return std::nullopt;
  DonationRow d;
  d.id = rows[0][0].as<std::int64_t>();
  d.customer_id = rows[0][1].as<std::int64_t>();
  d.state = *donation_state_from_string(rows[0][2].as<std::string>());
  d.box_id = rows[0][3].as<std::string>();
  d.compartment = rows[0][4].as<int>();
  d.token_id = opt<std::string>(rows[0][5]);
  return d;
}

void set_donation_state(pqxx::work& tx, std::int64_t id, DonationState state, std::int64_t now,
                        const char* stamp_column = nullptr) {
  std::string sql = "UPDATE donations SET state = $2, updated_at = $3::timestamptz";
  if (stamp_column) sql += std::string(", ") + stamp_column + " = $3::timestamptz";
  // The deposit token is only shown while it can still be used.
  if (state != DonationState::kReserved) sql += ", token_text = NULL";
  tx.exec_params(sql + " WHERE id = $1", id, std::string(to_string(state)), ts(now));
}

// Frees what a reserved donation holds at its box and revokes its token. Returns the revoke
// command when one is wanted (cancellation: the box should learn at once).
std::optional<msg::Command> release_donation(const Services& s, pqxx::work& tx,
                                             const DonationRow& d, bool with_command,
                                             const std::string& reason, std::int64_t now) {
  drop_reservation(tx, d.box_id, d.compartment, d.id);
  release_hold(tx, d.box_id, d.compartment, d.id);
  if (!d.token_id) return std::nullopt;
  if (auto r = s.tokens.revoke(tx, *d.token_id); !r.ok()) {
    s.log.warn("revoking a deposit token failed",
               {{"donation", d.id}, {"error", r.error().message}});
    return std::nullopt;
  }
  if (!with_command) return std::nullopt;
  return record_revoke_command(tx, d.box_id, {*d.token_id}, reason, now);
}

// The customer's own donation: not_found, or not_owner for another customer's.
StoreStatus check_donation_owner(pqxx::work& tx, std::int64_t customer_id, std::int64_t id) {
  const auto rows = tx.exec_params("SELECT customer_id FROM donations WHERE id = $1", id);
  if (rows.empty()) return DomainError::not_found("donation");
  if (rows[0][0].as<std::int64_t>() != customer_id) return DomainError::not_owner("donation", id);
  return store_ok();
}

// The compartment size the items need.
StoreResult<std::string> donation_size(const std::vector<DonationItem>& items) {
  std::vector<ItemCount> counts;
  counts.reserve(items.size());
  for (const auto& i : items) counts.push_back({i.category, i.count});
  auto size = required_size(counts);
  if (!size.ok()) return DomainError::invalid("donation_too_large", size.error().message);
  return std::move(size).value();
}

TokenRequest deposit_token_request(const DomainContext& d, const Allocation& where,
                                   std::int64_t id) {
  TokenRequest req;
  req.action = TokenAction::kDeposit;
  req.box_id = where.box_id;
  req.compartments = {static_cast<std::uint8_t>(where.compartment)};
  req.order_ref = static_cast<std::uint64_t>(id);
  req.validity = d.config.donations.reservation;
  return req;
}

void insert_donation(pqxx::work& tx, std::int64_t id, const NewDonation& req,
                     const std::string& size, const Allocation& where, const IssuedToken& token,
                     std::int64_t until_ms, std::int64_t now) {
  tx.exec_params(
      "INSERT INTO donations (id, customer_id, location_id, state, size_class, box_id, "
      "compartment, token_id, token_text, reserved_until, created_at, updated_at) VALUES ($1, $2, "
      "$3, 'reserved', $4, $5, $6, $7, $8, $9::timestamptz, $10::timestamptz, $10::timestamptz)",
      id, req.customer_id, req.location_id, size, where.box_id, where.compartment, token.token_id,
      token.text, ts(until_ms), ts(now));
  for (std::size_t i = 0; i < req.items.size(); ++i) {
    tx.exec_params(
        "INSERT INTO donation_items (donation_id, position, category, count, condition_notes) "
        "VALUES ($1, $2, $3, $4, $5)",
        id, static_cast<int>(i + 1), req.items[i].category, req.items[i].count,
        req.items[i].condition_notes);
  }
}

}  // namespace

StoreResult<DonationChange> create_donation(DomainContext& d, pqxx::work& tx,
                                            const NewDonation& req, std::int64_t now_ms) {
  return guarded([&]() -> StoreResult<DonationChange> {
    auto size = donation_size(req.items);
    if (!size.ok()) return std::move(size).error();
    if (tx.exec_params("SELECT 1 FROM locations WHERE id = $1", req.location_id).empty()) {
      return DomainError::not_found("location " + std::to_string(req.location_id));
    }
    const auto id = tx.exec1("SELECT nextval('order_ids')")[0].as<std::int64_t>();
    const auto where =
        allocate_compartment(tx, req.location_id, fitting_sizes(*size), id, "donation", now_ms);
    if (!where) {
      return DomainError::conflict(
          "no_compartment_available",
          "no free compartment of size " + *size + " or larger at this location right now",
          {{"location_id", req.location_id}, {"size_class", *size}});
    }
    auto token = d.s.tokens.issue(tx, deposit_token_request(d, *where, id));
    if (!token.ok()) return DomainError::from(token.error());
    const auto until_ms = token->expires * 1000;
    insert_donation(tx, id, req, *size, *where, *token, until_ms, now_ms);
    reserve_at_box(tx, where->box_id, where->compartment, id, TokenAction::kDeposit, until_ms);
    return DonationChange{donation_json(tx, id, true), where->box_id, std::nullopt};
  });
}

StoreResult<nlohmann::json> list_donations(pqxx::work& tx, std::int64_t customer_id) {
  return guarded([&]() -> StoreResult<nlohmann::json> {
    nlohmann::json items = nlohmann::json::array();
    for (const auto& row : tx.exec_params(
             "SELECT id FROM donations WHERE customer_id = $1 ORDER BY id DESC LIMIT 200",
             customer_id)) {
      items.push_back(donation_json(tx, row[0].as<std::int64_t>(), true));
    }
    return items;
  });
}

StoreResult<nlohmann::json> get_donation(pqxx::work& tx, std::int64_t customer_id,
                                         std::int64_t id) {
  return guarded([&]() -> StoreResult<nlohmann::json> {
    RC_STORE_TRY(check_donation_owner(tx, customer_id, id));
    return donation_json(tx, id, true);
  });
}

StoreResult<DonationChange> cancel_donation(DomainContext& d, pqxx::work& tx,
                                            std::int64_t customer_id, std::int64_t id,
                                            std::int64_t now_ms) {
  return guarded([&]() -> StoreResult<DonationChange> {
    RC_STORE_TRY(check_donation_owner(tx, customer_id, id));
    // Box row first, then the donation: the order event application locks them in, so a cancel
    // racing the box's deposit event cannot deadlock with it.
    lock_box(
        tx, tx.exec_params1("SELECT box_id FROM donations WHERE id = $1", id)[0].as<std::string>());
    const auto row = lock_donation(tx, id);
    auto to = next(row->state, DonationEvent::kCancel);
    if (!to.ok()) return DomainError::transition(to.error());
    auto cmd = release_donation(d.s, tx, *row, true, "donation cancelled", now_ms);
    set_donation_state(tx, id, *to, now_ms);
    return DonationChange{donation_json(tx, id, true), row->box_id, std::move(cmd)};
  });
}

StoreResult<std::string> deposit_token_text(pqxx::work& tx, std::int64_t customer_id,
                                            std::int64_t id) {
  return guarded([&]() -> StoreResult<std::string> {
    RC_STORE_TRY(check_donation_owner(tx, customer_id, id));
    const auto rows = tx.exec_params(
        "SELECT token_text FROM donations WHERE id = $1 AND state = 'reserved' AND token_text IS "
        "NOT NULL",
        id);
    if (rows.empty()) {
      return DomainError::conflict("no_token", "the donation has no usable deposit token");
    }
    return rows[0][0].as<std::string>();
  });
}

// ---- worker passes ------------------------------------------------------------------------------

// Called by the worker for reservations whose time ran out. Returns the affected boxes.
std::vector<std::string> expire_donations(DomainContext& d, pqxx::work& tx, std::int64_t now,
                                          int* expired) {
  std::vector<std::string> boxes;
  const auto rows = tx.exec_params(
      "SELECT id, box_id FROM donations WHERE state = 'reserved' AND reserved_until <= "
      "$1::timestamptz ORDER BY reserved_until LIMIT 100",
      ts(now));
  for (const auto& r : rows) {
    if (!try_lock_box(tx, r[1].as<std::string>())) continue;
    const auto row = lock_donation(tx, r[0].as<std::int64_t>());
    auto to = next(row->state, DonationEvent::kExpire);
    if (!to.ok()) continue;
    release_donation(d.s, tx, *row, false, "reservation expired", now);
    set_donation_state(tx, row->id, *to, now);
    notify(tx, "customer", row->customer_id, "reservation_expired",
           {{"donation_id", row->id}, {"box_id", row->box_id}}, now,
           "reservation_expired:" + std::to_string(row->id));
    boxes.push_back(row->box_id);
    ++*expired;
  }
  return boxes;
}

// Warns donors whose reservation ends within the warning period (once per donation).
int warn_expiring_donations(DomainContext& d, pqxx::work& tx, std::int64_t now) {
  const auto horizon =
      now + std::chrono::duration_cast<std::chrono::milliseconds>(d.config.donations.expiry_warning)
                .count();
  const auto rows = tx.exec_params(
      "UPDATE donations SET expiry_notified = true WHERE id IN (SELECT id FROM donations WHERE "
      "state = 'reserved' AND NOT expiry_notified AND reserved_until <= $1::timestamptz AND "
      "reserved_until > $2::timestamptz FOR UPDATE SKIP LOCKED) RETURNING id, customer_id, " +
          ms_of("reserved_until") + ", box_id, compartment",
      ts(horizon), ts(now));
  for (const auto& r : rows) {
    notify(tx, "customer", r[1].as<std::int64_t>(), "reservation_expiring",
           {{"donation_id", r[0].as<std::int64_t>()},
            {"reserved_until", ts(r[2].as<std::int64_t>())},
            {"box_id", r[3].as<std::string>()},
            {"compartment", r[4].as<int>()}},
           now, "reservation_expiring:" + r[0].as<std::string>());
  }
  return static_cast<int>(rows.size());
}

// ---- box-event hooks ----------------------------------------------------------------------------

namespace {

// A late deposit (the box had not learned of the cancellation or expiry): the clothes are in the
// compartment, so the donation takes its compartment back. False: another order holds it now (an
// offline conflict, stuck_store.h).
bool reclaim_deposit_compartment(pqxx::work& tx, const DonationRow& row, std::int64_t now) {
  const auto held = tx.exec_params(
      "INSERT INTO compartment_holds (box_id, compartment, order_id, purpose, phase, since) "
      "VALUES ($1, $2, $3, 'donation', 'reserved', $4::timestamptz) ON CONFLICT DO NOTHING",
      row.box_id, row.compartment, row.id, ts(now));
  return held.affected_rows() == 1;
}

// A collected donation moves on and gets its checking order.
void collect_donation(const DomainContext& d, pqxx::work& tx, std::int64_t id, std::int64_t now) {
  const auto row = lock_donation(tx, id);
  auto to = next(row->state, DonationEvent::kCollect);
  if (!to.ok()) {
    d.s.log.warn("collect event ignored", {{"donation", id}, {"why", to.error().message()}});
    return;
  }
  set_donation_state(tx, id, *to, now, "collected_at");
  create_checking_for_donation(tx, id, now);
}

// A collected return of a buying order moves on and gets its checking order.
void collect_buying_return(const DomainContext& d, pqxx::work& tx, std::int64_t id,
                           std::int64_t now) {
  const auto st = tx.exec_params("SELECT state FROM buying_orders WHERE id = $1 FOR UPDATE", id);
  auto to =
      next(*buying_state_from_string(st[0][0].as<std::string>()), BuyingEvent::kReturnCollect);
  if (!to.ok()) {
    d.s.log.warn("collect event ignored", {{"order", id}, {"why", to.error().message()}});
    return;
  }
  tx.exec_params("UPDATE buying_orders SET state = $2, updated_at = $3::timestamptz WHERE id = $1",
                 id, std::string(to_string(*to)), ts(now));
  create_checking_for_return(tx, id, now);
}

}  // namespace

Status on_deposit(DomainContext& d, pqxx::work& tx, const BoxEventContext& ctx,
                  const msg::Event& e) {
  const auto id = static_cast<std::int64_t>(*e.order_ref);
  const auto row = lock_donation(tx, id);
  if (!row || row->box_id != ctx.box_id || row->compartment != e.compartment.value_or(0)) {
    d.s.log.warn("deposit for an unknown donation or another compartment ignored",
                 {{"box", ctx.box_id}, {"order_ref", id}, {"seq", e.seq}});
    return ok_status();
  }
  auto to = next(row->state, DonationEvent::kDeposit);
  if (!to.ok()) {
    d.s.log.warn("deposit event ignored", {{"donation", id}, {"why", to.error().message()}});
    return ok_status();
  }
  if (row->state != DonationState::kReserved &&
      !reclaim_deposit_compartment(tx, *row, ctx.now_ms)) {
    // The compartment was given to another order while the box was offline: the donation is
    // deposited (the donor is not cheated), the other order's hold stays exactly as it was, and
    // a fault and a collecting order make staff fetch the clothes.
    set_donation_state(tx, id, *to, ctx.now_ms, "deposited_at");
    open_late_deposit_conflict(d, tx, ctx, e, id, row->compartment);
    return ok_status();
  }
  set_donation_state(tx, id, *to, ctx.now_ms, "deposited_at");
  drop_reservation(tx, row->box_id, row->compartment, id);
  set_hold_filled(tx, row->box_id, row->compartment, ctx.now_ms);
  maybe_create_collecting(tx, d.config, ctx.box_id, "count", false, ctx.now_ms);
  return ok_status();
}

Status on_courier_collect(DomainContext& d, pqxx::work& tx, const BoxEventContext& ctx,
                          const msg::Event& e) {
  const auto order_id = static_cast<std::int64_t>(*e.order_ref);
  const auto rows = tx.exec_params(
      "SELECT ci.source_kind, ci.source_id, ci.collected_at IS NOT NULL OR "
      "COALESCE(ci.outcome = 'empty', false), ci.outcome IS NOT NULL FROM collecting_items ci "
      "JOIN internal_orders o ON o.id = ci.order_id WHERE ci.order_id = $1 AND ci.compartment = "
      "$2 AND o.box_id = $3 FOR UPDATE OF ci",
      order_id, e.compartment.value_or(0), ctx.box_id);
  if (rows.empty()) {
    d.s.log.warn("courier collect of a compartment outside its collecting order ignored",
                 {{"box", ctx.box_id}, {"order_ref", order_id}, {"seq", e.seq}});
    return ok_status();
  }
  if (rows[0][2].as<bool>()) return ok_status();
  const auto source_kind = rows[0][0].as<std::string>();
  const auto source_id = rows[0][1].as<std::int64_t>();
  const auto now = ctx.now_ms;
  if (collect_found_empty(d, tx, ctx, e)) {
    mark_collect_empty(d, tx, ctx, order_id, *e.compartment, source_kind, source_id);
    return ok_status();
  }
  tx.exec_params(
      "UPDATE collecting_items SET collected_at = $3::timestamptz WHERE order_id = $1 AND "
      "compartment = $2",
      order_id, *e.compartment, ts(now));
  release_hold(tx, ctx.box_id, *e.compartment, source_id);
  clear_conflict_collected(tx, ctx.box_id, *e.compartment, order_id, now);
  if (rows[0][3].as<bool>()) settle_taken_over(d, tx, source_kind, source_id, order_id, now);
  if (source_kind == "donation") {
    collect_donation(d, tx, source_id, now);
  } else if (source_kind == "pickup") {
    collect_no_show(d, tx, source_id, now);  // a no-show brought back (noshow_store.h)
  } else {
    collect_buying_return(d, tx, source_id, now);
  }
  advance_collecting(d, tx, order_id, now);
  return ok_status();
}

Status on_fill_level(DomainContext& d, pqxx::work& tx, const BoxEventContext& ctx,
                     const msg::Event& e) {
  if (!e.compartment || !e.fill_percent || *e.fill_percent < d.config.collecting.fill_percent) {
    return ok_status();
  }
  const auto held = tx.exec_params(
      "SELECT 1 FROM compartment_holds WHERE box_id = $1 AND compartment = $2 AND phase = "
      "'filled' AND purpose IN ('donation', 'return') AND collecting_order_id IS NULL",
      ctx.box_id, *e.compartment);
  if (held.empty()) return ok_status();
  maybe_create_collecting(tx, d.config, ctx.box_id, "fill_level", true, ctx.now_ms);
  return ok_status();
}

}  // namespace reclothes::controller::domain
