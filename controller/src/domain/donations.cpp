// Donating orders: create (compartment + deposit token), read, cancel, the deposit QR code, and
// the box events that move a donation on (deposit, courier collect, fill level).
#include "common.h"
#include "reclothes/controller/domain/png.h"
#include "reclothes/controller/fleet.h"

namespace reclothes::controller::domain {
namespace {

constexpr std::size_t kMaxItems = 20;

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
std::optional<msg::Command> release_reservation(const Services& s, pqxx::work& tx,
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

HandlerResult create_donation(DomainContext& d, RequestContext& ctx) {
  FieldReader r(ctx.body());
  const auto location_id = r.integer("location_id", 1, INT64_MAX);
  std::vector<ItemCount> counts;
  std::vector<std::string> notes;
  if (const auto* arr = r.array("items", true, 1, kMaxItems)) {
    for (std::size_t i = 0; i < arr->size() && r.ok(); ++i) {
      FieldReader item((*arr)[i], r.pointer("items") + "/" + std::to_string(i));
      const auto category = item.string("category", 1, 32);
      const auto count = item.integer("count", 1, 50);
      const auto note = item.optional_string("condition_notes", 0, 500);
      if (item.ok() && !find_category(category)) {
        std::string names;
        for (const auto& c : all_categories())
          names += (names.empty() ? "" : ", ") + std::string(c.name);
        item.fail("category", "must be one of " + names);
      }
      item.finish();
      r.merge(item);
      counts.push_back({category, static_cast<int>(count)});
      notes.push_back(note.value_or(""));
    }
  }
  RC_FINISH_BODY(r);
  auto size = required_size(counts);
  if (!size.ok()) {
    return ApiError::bad_request("donation_too_large", size.error().message);
  }
  auto& tx = ctx.tx();
  if (tx.exec_params("SELECT 1 FROM locations WHERE id = $1", location_id).empty()) {
    return ApiError::not_found("location " + std::to_string(location_id));
  }
  const auto now = d.now_ms();
  const auto id = tx.exec1("SELECT nextval('order_ids')")[0].as<std::int64_t>();
  const auto where =
      allocate_compartment(tx, location_id, fitting_sizes(*size), id, "donation", now);
  if (!where) {
    ApiError e =
        ApiError::conflict("no_compartment_available", "no free compartment of size " + *size +
                                                           " or larger at this location right now");
    e.details = {{"location_id", location_id}, {"size_class", *size}};
    return e;
  }
  TokenRequest req;
  req.action = TokenAction::kDeposit;
  req.box_id = where->box_id;
  req.compartments = {static_cast<std::uint8_t>(where->compartment)};
  req.order_ref = static_cast<std::uint64_t>(id);
  req.validity = d.config.donations.reservation;
  auto token = d.s.tokens.issue(tx, req);
  if (!token.ok()) return api_error(token.error());
  const auto until_ms = token->expires * 1000;
  tx.exec_params(
      "INSERT INTO donations (id, customer_id, location_id, state, size_class, box_id, "
      "compartment, token_id, token_text, reserved_until, created_at, updated_at) VALUES ($1, $2, "
      "$3, 'reserved', $4, $5, $6, $7, $8, $9::timestamptz, $10::timestamptz, $10::timestamptz)",
      id, ctx.principal().account_id, location_id, *size, where->box_id, where->compartment,
      token->token_id, token->text, ts(until_ms), ts(now));
  for (std::size_t i = 0; i < counts.size(); ++i) {
    tx.exec_params(
        "INSERT INTO donation_items (donation_id, position, category, count, condition_notes) "
        "VALUES ($1, $2, $3, $4, $5)",
        id, static_cast<int>(i + 1), counts[i].category, counts[i].count, notes[i]);
  }
  reserve_at_box(tx, where->box_id, where->compartment, id, TokenAction::kDeposit, until_ms);
  const auto box = where->box_id;
  const auto* s = &d.s;
  ctx.after_commit([s, box] { s->messaging.publish_config(box); });
  return Response::created(donation_json(tx, id, true));
}

// Loads a donation for its owner: 404 (audited) for someone else's.
Result<std::int64_t, ApiError> owned_donation(DomainContext& d, RequestContext& ctx) {
  const auto id = id_param(ctx, "id");
  const auto rows = ctx.tx().exec_params("SELECT customer_id FROM donations WHERE id = $1", id);
  if (rows.empty()) return ApiError::not_found("donation");
  if (rows[0][0].as<std::int64_t>() != ctx.principal().account_id) {
    return not_owner(d.s, ctx, "donation", id);
  }
  return id;
}

HandlerResult cancel_donation(DomainContext& d, RequestContext& ctx) {
  auto id = owned_donation(d, ctx);
  if (!id.ok()) return std::move(id).error();
  auto& tx = ctx.tx();
  // Box row first, then the donation: the order event application locks them in, so a cancel
  // racing the box's deposit event cannot deadlock with it.
  lock_box(tx,
           tx.exec_params1("SELECT box_id FROM donations WHERE id = $1", *id)[0].as<std::string>());
  const auto row = lock_donation(tx, *id);
  auto to = next(row->state, DonationEvent::kCancel);
  if (!to.ok()) return transition_error(to.error());
  const auto now = d.now_ms();
  auto cmd = release_reservation(d.s, tx, *row, true, "donation cancelled", now);
  set_donation_state(tx, *id, *to, now);
  const auto box = row->box_id;
  const auto* s = &d.s;
  ctx.after_commit([s, box, cmd] {
    if (cmd) s->messaging.publish_command(box, *cmd);
    s->messaging.publish_config(box);
  });
  return Response::ok(donation_json(tx, *id, true));
}

}  // namespace

// Called by the worker for reservations whose time ran out. Returns the affected boxes.
std::vector<std::string> expire_donations(DomainContext& d, pqxx::work& tx, std::int64_t now,
                                          int* expired) {
  std::vector<std::string> boxes;
  const auto rows = tx.exec_params(
      "SELECT id, box_id FROM donations WHERE state = 'reserved' AND reserved_until <= "
      "$1::timestamptz ORDER BY reserved_until LIMIT 100",
      ts(now));
  for (const auto& r : rows) {
    // Box first (as event application does), skipping a box another replica or an event batch
    // is busy with: the next pass takes it.
    if (tx.exec_params("SELECT 1 FROM boxes WHERE id = $1 FOR UPDATE SKIP LOCKED",
                       r[1].as<std::string>())
            .empty()) {
      continue;
    }
    const auto row = lock_donation(tx, r[0].as<std::int64_t>());
    auto to = next(row->state, DonationEvent::kExpire);
    if (!to.ok()) continue;
    release_reservation(d.s, tx, *row, false, "reservation expired", now);
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
  if (row->state != DonationState::kReserved) {
    // A late deposit (the box had not learned of the cancellation or expiry): the clothes are in
    // the compartment, so the donation takes its compartment back.
    const auto held = tx.exec_params(
        "INSERT INTO compartment_holds (box_id, compartment, order_id, purpose, phase, since) "
        "VALUES ($1, $2, $3, 'donation', 'reserved', $4::timestamptz) ON CONFLICT DO NOTHING",
        row->box_id, row->compartment, id, ts(ctx.now_ms));
    if (held.affected_rows() == 0) {
      d.s.log.error("late deposit into a compartment held by another order",
                    {{"box", row->box_id}, {"compartment", row->compartment}, {"donation", id}});
    }
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
      "SELECT ci.source_kind, ci.source_id, ci.collected_at IS NOT NULL FROM collecting_items ci "
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
  tx.exec_params(
      "UPDATE collecting_items SET collected_at = $3::timestamptz WHERE order_id = $1 AND "
      "compartment = $2",
      order_id, *e.compartment, ts(now));
  release_hold(tx, ctx.box_id, *e.compartment, source_id);
  if (source_kind == "donation") {
    const auto row = lock_donation(tx, source_id);
    auto to = next(row->state, DonationEvent::kCollect);
    if (to.ok()) {
      set_donation_state(tx, source_id, *to, now, "collected_at");
      create_checking_for_donation(tx, source_id, now);
    } else {
      d.s.log.warn("collect event ignored",
                   {{"donation", source_id}, {"why", to.error().message()}});
    }
  } else {
    const auto st =
        tx.exec_params("SELECT state FROM buying_orders WHERE id = $1 FOR UPDATE", source_id);
    auto to =
        next(*buying_state_from_string(st[0][0].as<std::string>()), BuyingEvent::kReturnCollect);
    if (to.ok()) {
      tx.exec_params(
          "UPDATE buying_orders SET state = $2, updated_at = $3::timestamptz WHERE id = $1",
          source_id, std::string(to_string(*to)), ts(now));
      create_checking_for_return(tx, source_id, now);
    } else {
      d.s.log.warn("collect event ignored", {{"order", source_id}, {"why", to.error().message()}});
    }
  }
  const auto left =
      tx.exec_params1(
            "SELECT count(*) FROM collecting_items WHERE order_id = $1 AND collected_at IS NULL",
            order_id)[0]
          .as<std::int64_t>();
  auto moved =
      advance_task(tx, order_id, left == 0 ? TaskEvent::kComplete : TaskEvent::kProgress, now);
  if (!moved.ok()) {
    d.s.log.warn("collecting order not advanced",
                 {{"order", order_id}, {"why", moved.error().message()}});
  }
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

void register_donation_routes(Router& router, const std::shared_ptr<DomainContext>& dp) {
  using L = Listener;
  using M = HttpMethod;
  auto d = dp;

  router.add(route(L::kPublic, M::kPost, "/v1/donations", Access::customer(), "donation.create",
                   false, BodyKind::kRequired,
                   "Create a donating order: reserves a compartment and issues a deposit token",
                   [d](RequestContext& ctx) { return create_donation(*d, ctx); }));

  router.add(route(L::kPublic, M::kGet, "/v1/donations", Access::customer(), "donation.list", false,
                   BodyKind::kNone, "The customer's donating orders, newest first",
                   [](RequestContext& ctx) -> HandlerResult {
                     nlohmann::json items = nlohmann::json::array();
                     for (const auto& row : ctx.tx().exec_params(
                              "SELECT id FROM donations WHERE customer_id = $1 ORDER BY id DESC "
                              "LIMIT 200",
                              ctx.principal().account_id)) {
                       items.push_back(donation_json(ctx.tx(), row[0].as<std::int64_t>(), true));
                     }
                     return Response::ok({{"items", items}});
                   }));

  router.add(route(L::kPublic, M::kGet, "/v1/donations/{id}", Access::customer(), "donation.read",
                   false, BodyKind::kNone, "One donating order (the customer's own)",
                   [d](RequestContext& ctx) -> HandlerResult {
                     auto id = owned_donation(*d, ctx);
                     if (!id.ok()) return std::move(id).error();
                     return Response::ok(donation_json(ctx.tx(), *id, true));
                   }));

  router.add(route(L::kPublic, M::kPost, "/v1/donations/{id}/cancel", Access::customer(),
                   "donation.cancel", false, BodyKind::kNone,
                   "Cancel before depositing: the reservation is released and the token revoked",
                   [d](RequestContext& ctx) { return cancel_donation(*d, ctx); }));

  router.add(route(
      L::kPublic, M::kGet, "/v1/donations/{id}/qr.png", Access::customer(), "donation.qr", false,
      BodyKind::kNone, "The deposit token as a QR code PNG (while the donation is reserved)",
      [d](RequestContext& ctx) -> HandlerResult {
        auto id = owned_donation(*d, ctx);
        if (!id.ok()) return std::move(id).error();
        const auto rows = ctx.tx().exec_params(
            "SELECT token_text FROM donations WHERE id = $1 AND state = 'reserved' "
            "AND token_text IS NOT NULL",
            *id);
        if (rows.empty()) {
          return ApiError::conflict("no_token", "the donation has no usable deposit token");
        }
        auto png = render_qr_png(rows[0][0].as<std::string>());
        if (!png.ok()) return api_error(png.error());
        return Response::text(200, std::move(png).value(), "image/png");
      }));
}

}  // namespace reclothes::controller::domain
