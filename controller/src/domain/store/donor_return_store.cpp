// Donor returns, the SQL side (donor_return_store.h). The HTTP side is
// routes/donor_return_routes.cpp.
#include "donor_return_store.h"

#include "coins_store.h"
#include "shared.h"

namespace reclothes::controller::domain {
namespace {

// The item a request is about, with what decides whether it can go back.
struct DrItem {
  std::int64_t item_id = 0;
  int count = 1;
  std::string donation_state;
  std::optional<std::string> grade;
  std::optional<std::int64_t> product_id;
  std::optional<std::string> product_status;
  bool priced = false;
  std::optional<std::int64_t> customer_id;  // the donor
};

std::optional<DrItem> dr_find_item(pqxx::work& tx, std::int64_t donation_id, int position,
                                   bool lock_product) {
  const auto rows = tx.exec_params(
      "SELECT di.id, di.count, d.state, ci.grade, p.id, p.status, p.price_cents IS NOT NULL, "
      "d.customer_id FROM donation_items di JOIN donations d ON d.id = di.donation_id LEFT JOIN "
      "checking_items ci ON ci.donation_item_id = di.id LEFT JOIN products p ON p.id = "
      "ci.product_id WHERE di.donation_id = $1 AND di.position = $2",
      donation_id, position);
  if (rows.empty()) return std::nullopt;
  const auto& r = rows[0];
  DrItem it;
  it.item_id = r[0].as<std::int64_t>();
  it.count = r[1].as<int>();
  it.donation_state = r[2].as<std::string>();
  it.grade = opt<std::string>(r[3]);
  it.product_id = opt<std::int64_t>(r[4]);
  if (lock_product && it.product_id) {
    // The product row is what a price change or a sale would change: hold it for the decision.
    const auto p = tx.exec_params1(
        "SELECT status, price_cents IS NOT NULL FROM products WHERE id = "
        "$1 FOR UPDATE",
        *it.product_id);
    it.product_status = p[0].as<std::string>();
    it.priced = p[1].as<bool>();
  } else {
    it.product_status = opt<std::string>(r[5]);
    it.priced = !r[6].is_null() && r[6].as<bool>();
  }
  it.customer_id = r[7].as<std::int64_t>();
  return it;
}

// Whether the item can still go back to its donor: in the warehouse, checked, not for sale.
StoreStatus dr_returnable(const DrItem& it) {
  if (it.donation_state != "completed") {
    return DomainError::conflict(
        "item_not_checked",
        "the donation is " + it.donation_state +
            ": an item can be asked back once every item of the donation was checked",
        {{"donation_state", it.donation_state}});
  }
  if (it.grade == std::optional<std::string>("recycle")) {
    return DomainError::conflict("item_recycled",
                                 "the item was graded for recycling and cannot be given back");
  }
  if (!it.product_id || it.product_status != std::optional<std::string>("available") || it.priced) {
    const bool listed = it.product_status == std::optional<std::string>("available") && it.priced;
    return DomainError::conflict(
        "item_published",
        "the item is " + std::string(listed ? "published for sale" : "no longer in stock") +
            " and cannot be given back",
        {{"product_status",
          it.product_status ? nlohmann::json(*it.product_status) : nlohmann::json()},
         {"listed", listed}});
  }
  return store_ok();
}

nlohmann::json dr_json(pqxx::work& tx, std::int64_t id) {
  const auto rows = tx.exec_params(
      "SELECT r.id, r.customer_id, r.donation_id, di.position, r.product_id, r.location_id, "
      "r.state, r.note, r.refusal_reason, r.decided_by, r.buying_order_id, o.state, "
      "r.coins_taken, " +
          ms_of("r.created_at") + ", " + ms_of("r.updated_at") + ", " + ms_of("r.decided_at") +
          " FROM donor_returns r JOIN donation_items di ON di.id = r.donation_item_id LEFT JOIN "
          "buying_orders o ON o.id = r.buying_order_id WHERE r.id = $1",
      id);
  if (rows.empty()) return nullptr;
  const auto& r = rows[0];
  return {{"id", r[0].as<std::int64_t>()},
          {"customer_id", r[1].as<std::int64_t>()},
          {"donation_id", r[2].as<std::int64_t>()},
          {"item_position", r[3].as<int>()},
          {"product_id", r[4].as<std::int64_t>()},
          {"location_id", r[5].as<std::int64_t>()},
          {"state", r[6].as<std::string>()},
          {"note", r[7].as<std::string>()},
          {"refusal_reason", nullable_str(r[8])},
          {"decided_by", nullable_int(r[9])},
          {"order_id", nullable_int(r[10])},
          {"order_state", nullable_str(r[11])},
          {"coins_taken", r[12].as<int>()},
          {"created_at", ts(r[13].as<std::int64_t>())},
          {"updated_at", ts(r[14].as<std::int64_t>())},
          {"decided_at", nullable_ts(r[15])}};
}

nlohmann::json dr_list(pqxx::work& tx, const pqxx::result& ids) {
  nlohmann::json items = nlohmann::json::array();
  for (const auto& row : ids) items.push_back(dr_json(tx, row[0].as<std::int64_t>()));
  return items;
}

struct DrRow {
  std::int64_t id = 0;
  std::int64_t customer_id = 0;
  std::int64_t donation_id = 0;
  int position = 0;
  std::int64_t product_id = 0;
  std::int64_t location_id = 0;
  DonorReturnState state = DonorReturnState::kRequested;
};

std::optional<DrRow> dr_lock(pqxx::work& tx, std::int64_t id) {
  const auto rows = tx.exec_params(
      "SELECT r.id, r.customer_id, r.donation_id, di.position, r.product_id, r.location_id, "
      "r.state FROM donor_returns r JOIN donation_items di ON di.id = r.donation_item_id WHERE "
      "r.id = $1 FOR UPDATE OF r",
      id);
  if (rows.empty()) return std::nullopt;
  const auto& r = rows[0];
  return DrRow{r[0].as<std::int64_t>(),
               r[1].as<std::int64_t>(),
               r[2].as<std::int64_t>(),
               r[3].as<int>(),
               r[4].as<std::int64_t>(),
               r[5].as<std::int64_t>(),
               *donor_return_state_from_string(r[6].as<std::string>())};
}

// The buying order that brings the item back: kind donor_return, nothing to pay, so it is born
// paid, with its packing order (the buying flow takes it from there). Returns its id.
std::int64_t dr_create_order(pqxx::work& tx, const DrRow& r, const std::string& currency,
                             std::int64_t now) {
  const auto id = tx.exec1("SELECT nextval('order_ids')")[0].as<std::int64_t>();
  tx.exec_params(
      "INSERT INTO buying_orders (id, customer_id, pickup_location_id, state, kind, total_cents, "
      "currency, created_at, updated_at, paid_at) VALUES ($1, $2, $3, 'paid', 'donor_return', 0, "
      "$4, $5::timestamptz, $5::timestamptz, $5::timestamptz)",
      id, r.customer_id, r.location_id, currency, ts(now));
  tx.exec_params(
      "INSERT INTO buying_order_items (order_id, position, product_id, price_cents) VALUES ($1, "
      "1, $2, 0)",
      id, r.product_id);
  tx.exec_params(
      "UPDATE products SET status = 'reserved', updated_at = $2::timestamptz WHERE id = $1",
      r.product_id, ts(now));
  tx.exec_params("DELETE FROM cart_items WHERE product_id = $1", r.product_id);
  create_internal_order(tx, TaskKind::kPacking, std::string("buying"), id, std::nullopt, {}, false,
                        std::nullopt, now);
  return id;
}

// The reward coins the item earned: its pieces at the published rate, if the donation was
// rewarded with coins (a published item always earns coins; rules.h donation_reward).
int dr_item_coins(pqxx::work& tx, std::int64_t donation_id, int count) {
  const auto rows =
      tx.exec_params("SELECT reward->>'kind' FROM donations WHERE id = $1", donation_id);
  if (rows.empty() || rows[0][0].is_null() || rows[0][0].as<std::string>() != "coins") return 0;
  return count * kCoinsPerPublishedPiece;
}

}  // namespace

StoreResult<nlohmann::json> request_donor_return(pqxx::work& tx, const DonorReturnRequest& req,
                                                 std::int64_t now_ms) {
  return guarded([&]() -> StoreResult<nlohmann::json> {
    const auto owner =
        tx.exec_params("SELECT customer_id FROM donations WHERE id = $1", req.donation_id);
    if (owner.empty()) return DomainError::not_found("donation");
    if (owner[0][0].as<std::int64_t>() != req.customer_id) {
      return DomainError::not_owner("donation", req.donation_id);
    }
    const auto item = dr_find_item(tx, req.donation_id, req.position, false);
    if (!item) return DomainError::not_found("item " + std::to_string(req.position));
    if (tx.exec_params("SELECT 1 FROM locations WHERE id = $1", req.location_id).empty()) {
      return DomainError::not_found("location " + std::to_string(req.location_id));
    }
    RC_STORE_TRY(dr_returnable(*item));
    const auto live = tx.exec_params(
        "SELECT id FROM donor_returns WHERE donation_item_id = $1 AND state <> 'refused'",
        item->item_id);
    if (!live.empty()) {
      return DomainError::conflict("already_requested", "this item was asked back already",
                                   {{"donor_return_id", live[0][0].as<std::int64_t>()}});
    }
    const auto id =
        tx.exec_params1(
              "INSERT INTO donor_returns (customer_id, donation_id, donation_item_id, product_id, "
              "location_id, state, note, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, "
              "'requested', $6, $7::timestamptz, $7::timestamptz) RETURNING id",
              req.customer_id, req.donation_id, item->item_id, *item->product_id, req.location_id,
              req.note, ts(now_ms))[0]
            .as<std::int64_t>();
    return dr_json(tx, id);
  });
}

StoreResult<nlohmann::json> list_own_donor_returns(pqxx::work& tx, std::int64_t customer_id) {
  return guarded([&]() -> StoreResult<nlohmann::json> {
    return dr_list(tx, tx.exec_params("SELECT id FROM donor_returns WHERE customer_id = $1 ORDER "
                                      "BY id DESC LIMIT 200",
                                      customer_id));
  });
}

StoreResult<nlohmann::json> list_donor_returns(pqxx::work& tx,
                                               std::optional<DonorReturnState> state,
                                               std::int64_t limit) {
  return guarded([&]() -> StoreResult<nlohmann::json> {
    const std::optional<std::string> s =
        state ? std::optional<std::string>(std::string(to_string(*state))) : std::nullopt;
    return dr_list(tx, tx.exec_params("SELECT id FROM donor_returns WHERE ($1::text IS NULL OR "
                                      "state = $1) ORDER BY id DESC LIMIT $2",
                                      s, limit));
  });
}

StoreResult<DonorReturnDecision> approve_donor_return(const DomainContext& d, pqxx::work& tx,
                                                      std::int64_t id, std::int64_t staff_id,
                                                      std::int64_t now_ms) {
  return guarded([&]() -> StoreResult<DonorReturnDecision> {
    const auto r = dr_lock(tx, id);
    if (!r) return DomainError::not_found("donor return");
    DonorReturnDecision out;
    out.before = dr_json(tx, id);
    auto to = next(r->state, DonorReturnEvent::kApprove);
    if (!to.ok()) return DomainError::transition(to.error());
    // Still returnable now (a manager may have priced it meanwhile)?
    const auto item = dr_find_item(tx, r->donation_id, r->position, true);
    RC_STORE_TRY(dr_returnable(*item));
    if (!location_has_active_box(tx, r->location_id)) {
      return DomainError::conflict("location_unavailable",
                                   "the donor's pickup location has no box in service",
                                   {{"location_id", r->location_id}});
    }
    const auto order = dr_create_order(tx, *r, d.config.buying.currency, now_ms);
    const auto coins = dr_item_coins(tx, r->donation_id, item->count);
    const auto back =
        take_back_coins(tx, r->customer_id, coins, "donor_return", "donor_return", id, now_ms);
    const int taken = back.from_balance + back.owed;
    tx.exec_params(
        "UPDATE donor_returns SET state = $2, decided_by = $3, decided_at = $4::timestamptz, "
        "updated_at = $4::timestamptz, buying_order_id = $5, coins_taken = $6 WHERE id = $1",
        id, std::string(to_string(*to)), staff_id, ts(now_ms), order, taken);
    notify(tx, "customer", r->customer_id, "donor_return_approved",
           {{"donor_return_id", id},
            {"donation_id", r->donation_id},
            {"order_id", order},
            {"coins_taken", taken}},
           now_ms, "donor_return_approved:" + std::to_string(id));
    out.after = dr_json(tx, id);
    return out;
  });
}

StoreResult<DonorReturnDecision> refuse_donor_return(pqxx::work& tx, std::int64_t id,
                                                     std::int64_t staff_id,
                                                     const std::string& reason,
                                                     std::int64_t now_ms) {
  return guarded([&]() -> StoreResult<DonorReturnDecision> {
    const auto r = dr_lock(tx, id);
    if (!r) return DomainError::not_found("donor return");
    DonorReturnDecision out;
    out.before = dr_json(tx, id);
    auto to = next(r->state, DonorReturnEvent::kRefuse);
    if (!to.ok()) return DomainError::transition(to.error());
    tx.exec_params(
        "UPDATE donor_returns SET state = $2, refusal_reason = $3, decided_by = $4, decided_at = "
        "$5::timestamptz, updated_at = $5::timestamptz WHERE id = $1",
        id, std::string(to_string(*to)), reason, staff_id, ts(now_ms));
    notify(tx, "customer", r->customer_id, "donor_return_refused",
           {{"donor_return_id", id}, {"donation_id", r->donation_id}, {"reason", reason}}, now_ms,
           "donor_return_refused:" + std::to_string(id));
    out.after = dr_json(tx, id);
    return out;
  });
}

}  // namespace reclothes::controller::domain
