#include "shared.h"

#include <charconv>

#include "coins_store.h"
#include "reclothes/common/bytes.h"
#include "reclothes/controller/domain/worker.h"

namespace reclothes::controller::domain {

nlohmann::json nullable_ts(const pqxx::field& f) {
  return f.is_null() ? nlohmann::json() : nlohmann::json(ts(f.as<std::int64_t>()));
}
nlohmann::json nullable_int(const pqxx::field& f) {
  return f.is_null() ? nlohmann::json() : nlohmann::json(f.as<std::int64_t>());
}
nlohmann::json nullable_str(const pqxx::field& f) {
  return f.is_null() ? nlohmann::json() : nlohmann::json(f.as<std::string>());
}

namespace {

std::string text_array(const std::vector<std::string>& v) {
  std::string out = "{";
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) out += ',';
    out += v[i];
  }
  return out + "}";
}

std::string int_array(const std::vector<int>& v) {
  std::string out = "{";
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(v[i]);
  }
  return out + "}";
}

std::string random_base32(std::size_t chars) {
  static constexpr char kAlphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";  // Crockford
  auto bytes = random_bytes(chars);
  std::string out;
  for (std::size_t i = 0; i < chars; ++i) {
    const std::uint8_t b = bytes.ok() ? (*bytes)[i] : static_cast<std::uint8_t>(i * 37);
    out += kAlphabet[b % 32];
  }
  return out;
}

}  // namespace

// ---- compartments -------------------------------------------------------------------------------

std::string free_compartment_sql(std::string_view now_param) {
  const std::string now(now_param);
  return "(b.status = 'active' AND NOT b.maintenance "
         "AND c.state NOT IN ('out_of_service', 'jammed', 'forced', 'ajar', 'open', 'unlocked', "
         "'occupied') "
         "AND NOT EXISTS (SELECT 1 FROM compartment_holds h WHERE h.box_id = c.box_id AND "
         "h.compartment = c.number) "
         "AND NOT EXISTS (SELECT 1 FROM compartment_reservations r WHERE r.box_id = c.box_id AND "
         "r.compartment = c.number AND r.until > " +
         now +
         "::timestamptz) "
         "AND NOT EXISTS (SELECT 1 FROM box_faults f WHERE f.box_id = c.box_id AND f.cleared_at IS "
         "NULL AND (f.compartment = c.number OR (f.compartment IS NULL AND f.kind = 'tamper'))))";
}

std::optional<Allocation> allocate_compartment(pqxx::work& tx, std::int64_t location_id,
                                               const std::vector<std::string>& sizes,
                                               std::int64_t order_id, const std::string& purpose,
                                               std::int64_t now_ms) {
  for (int attempt = 0; attempt < 5; ++attempt) {
    const auto rows = tx.exec_params(
        "SELECT c.box_id, c.number, c.size_class FROM compartments c "
        "JOIN boxes b ON b.id = c.box_id "
        "WHERE b.location_id = $1 AND c.size_class = ANY($2::text[]) AND " +
            free_compartment_sql("$3") +
            " ORDER BY array_position($2::text[], c.size_class), b.online DESC, c.box_id, c.number "
            "LIMIT 1 FOR UPDATE OF c SKIP LOCKED",
        location_id, text_array(sizes), ts(now_ms));
    if (rows.empty()) return std::nullopt;
    Allocation a{rows[0][0].as<std::string>(), rows[0][1].as<int>(), rows[0][2].as<std::string>()};
    const auto held = tx.exec_params(
        "INSERT INTO compartment_holds (box_id, compartment, order_id, purpose, phase, since) "
        "VALUES ($1, $2, $3, $4, 'reserved', $5::timestamptz) ON CONFLICT DO NOTHING",
        a.box_id, a.compartment, order_id, purpose, ts(now_ms));
    if (held.affected_rows() == 1) return a;
  }
  return std::nullopt;
}

bool try_lock_box(pqxx::work& tx, const std::string& box_id) {
  return !tx.exec_params("SELECT 1 FROM boxes WHERE id = $1 FOR UPDATE SKIP LOCKED", box_id)
              .empty();
}

bool location_has_active_box(pqxx::work& tx, std::int64_t location_id) {
  return !tx.exec_params("SELECT 1 FROM boxes WHERE location_id = $1 AND status = 'active' LIMIT 1",
                         location_id)
              .empty();
}

void set_hold_filled(pqxx::work& tx, const std::string& box_id, int compartment,
                     std::int64_t now_ms) {
  tx.exec_params(
      "UPDATE compartment_holds SET phase = 'filled', filled_at = $3::timestamptz "
      "WHERE box_id = $1 AND compartment = $2",
      box_id, compartment, ts(now_ms));
}

void release_hold(pqxx::work& tx, const std::string& box_id, int compartment,
                  std::int64_t order_id) {
  tx.exec_params(
      "DELETE FROM compartment_holds WHERE box_id = $1 AND compartment = $2 AND order_id = $3",
      box_id, compartment, order_id);
}

void reserve_at_box(pqxx::work& tx, const std::string& box_id, int compartment,
                    std::int64_t order_ref, TokenAction action, std::int64_t until_ms) {
  tx.exec_params(
      "INSERT INTO compartment_reservations (box_id, compartment, order_ref, action, until) "
      "VALUES ($1, $2, $3, $4, $5::timestamptz) ON CONFLICT (box_id, compartment) DO UPDATE SET "
      "order_ref = EXCLUDED.order_ref, action = EXCLUDED.action, until = EXCLUDED.until",
      box_id, compartment, order_ref, std::string(to_string(action)), ts(until_ms));
}

void drop_reservation(pqxx::work& tx, const std::string& box_id, int compartment,
                      std::int64_t order_ref) {
  tx.exec_params(
      "DELETE FROM compartment_reservations WHERE box_id = $1 AND compartment = $2 AND "
      "order_ref = $3",
      box_id, compartment, order_ref);
}

msg::Command record_revoke_command(pqxx::work& tx, const std::string& box_id,
                                   const std::vector<std::string>& token_ids,
                                   const std::string& reason, std::int64_t now_ms) {
  msg::Command cmd;
  cmd.id = random_id();
  cmd.op = msg::CommandOp::kRevoke;
  cmd.token_ids = token_ids;
  cmd.reason = reason;
  tx.exec_params(
      "INSERT INTO box_commands (id, box_id, op, reason, created_at) VALUES ($1, $2, 'revoke', "
      "$3, $4::timestamptz)",
      cmd.id, box_id, reason, ts(now_ms));
  return cmd;
}

void mark_config_dirty(pqxx::work& tx, const std::string& box_id) {
  tx.exec_params("INSERT INTO domain_config_dirty (box_id) VALUES ($1) ON CONFLICT DO NOTHING",
                 box_id);
}

nlohmann::json Notification::to_json() const {
  return {{"id", id},
          {"recipient", {{"kind", recipient_kind}, {"id", recipient_id}}},
          {"kind", kind},
          {"payload", payload},
          {"created_at", ts(created_ms)}};
}

// ---- outbox, coins ------------------------------------------------------------------------------

void notify(pqxx::work& tx, const std::string& recipient_kind, std::int64_t recipient_id,
            const std::string& kind, const nlohmann::json& payload, std::int64_t now_ms,
            const std::optional<std::string>& dedup_key) {
  tx.exec_params(
      "INSERT INTO notifications (recipient_kind, recipient_id, kind, payload, dedup_key, "
      "created_at, next_attempt_at) VALUES ($1, $2, $3, $4::jsonb, $5, $6::timestamptz, "
      "$6::timestamptz) ON CONFLICT (dedup_key) DO NOTHING",
      recipient_kind, recipient_id, kind, payload.dump(), dedup_key, ts(now_ms));
}

bool award_coins(pqxx::work& tx, std::int64_t customer_id, int delta, const std::string& reason,
                 const std::string& ref_kind, std::int64_t ref_id, std::int64_t now_ms) {
  const auto r = tx.exec_params(
      "INSERT INTO coin_ledger (customer_id, delta, reason, ref_kind, ref_id, created_at) VALUES "
      "($1, $2, $3, $4, $5, $6::timestamptz) ON CONFLICT (reason, ref_kind, ref_id) DO NOTHING "
      "RETURNING id",
      customer_id, delta, reason, ref_kind, ref_id, ts(now_ms));
  if (r.empty()) return false;
  // Coins owed from a take-back are paid off first (coins_store.h).
  settle_coin_debts(tx, customer_id, r[0][0].as<std::int64_t>(), delta, now_ms);
  return true;
}

std::int64_t coin_balance(pqxx::work& tx, std::int64_t customer_id) {
  return tx
      .exec_params1("SELECT COALESCE(sum(delta), 0) FROM coin_ledger WHERE customer_id = $1",
                    customer_id)[0]
      .as<std::int64_t>();
}

// ---- internal orders ----------------------------------------------------------------------------

std::string new_tracking_code() { return "RC-" + random_base32(10); }
std::string new_coupon_code() { return "RCC-" + random_base32(10); }

std::int64_t create_internal_order(pqxx::work& tx, TaskKind kind,
                                   const std::optional<std::string>& source_kind,
                                   std::optional<std::int64_t> source_id,
                                   const std::optional<std::string>& box_id,
                                   const std::vector<int>& compartments, bool with_tracking_code,
                                   const std::optional<std::string>& trigger, std::int64_t now_ms) {
  std::optional<std::string> code;
  if (with_tracking_code) code = new_tracking_code();
  std::optional<std::string> comps;
  if (!compartments.empty()) comps = int_array(compartments);
  return tx
      .exec_params1(
          "INSERT INTO internal_orders (kind, state, source_kind, source_id, box_id, compartments, "
          "tracking_code, trigger, created_at, updated_at) VALUES ($1, 'open', $2, $3, $4, "
          "$5::integer[], $6, $7, $8::timestamptz, $8::timestamptz) RETURNING id",
          std::string(to_string(kind)), source_kind, source_id, box_id, comps, code, trigger,
          ts(now_ms))[0]
      .as<std::int64_t>();
}

Result<TaskState, TransitionError> advance_task(pqxx::work& tx, std::int64_t id, TaskEvent event,
                                                std::int64_t now_ms) {
  const auto rows =
      tx.exec_params("SELECT kind, state FROM internal_orders WHERE id = $1 FOR UPDATE", id);
  if (rows.empty()) return TransitionError{"internal", "missing", std::string(to_string(event))};
  const auto kind = *task_kind_from_string(rows[0][0].as<std::string>());
  const auto from = *task_state_from_string(rows[0][1].as<std::string>());
  auto to = next(kind, from, event);
  if (!to.ok()) return to;
  tx.exec_params(
      "UPDATE internal_orders SET state = $2, updated_at = $3::timestamptz, "
      "done_at = CASE WHEN $2 = 'done' THEN $3::timestamptz ELSE done_at END WHERE id = $1",
      id, std::string(to_string(*to)), ts(now_ms));
  return to;
}

std::optional<std::int64_t> maybe_create_collecting(pqxx::work& tx, const DomainConfig& config,
                                                    const std::string& box_id,
                                                    const std::string& trigger, bool force,
                                                    std::int64_t now_ms) {
  // The box row lock serialises collecting decisions for one box (event application takes the
  // same lock, so this is free inside a hook).
  tx.exec_params("SELECT 1 FROM boxes WHERE id = $1 FOR UPDATE", box_id);
  const auto rows = tx.exec_params(
      "SELECT compartment, order_id, purpose FROM compartment_holds WHERE box_id = $1 AND "
      "phase = 'filled' AND purpose IN ('donation', 'return') AND collecting_order_id IS NULL "
      "ORDER BY compartment",
      box_id);
  if (rows.empty()) return std::nullopt;
  if (!force && static_cast<int>(rows.size()) < config.collecting.compartment_threshold) {
    return std::nullopt;
  }
  std::vector<int> compartments;
  for (const auto& row : rows) compartments.push_back(row[0].as<int>());
  const auto id = create_internal_order(tx, TaskKind::kCollecting, std::nullopt, std::nullopt,
                                        box_id, compartments, true, trigger, now_ms);
  for (const auto& row : rows) {
    const auto purpose = row[2].as<std::string>();
    tx.exec_params(
        "INSERT INTO collecting_items (order_id, compartment, source_kind, source_id) VALUES "
        "($1, $2, $3, $4)",
        id, row[0].as<int>(), purpose, row[1].as<std::int64_t>());
    tx.exec_params(
        "UPDATE compartment_holds SET collecting_order_id = $3 WHERE box_id = $1 AND "
        "compartment = $2",
        box_id, row[0].as<int>(), id);
    if (purpose == "donation") {
      tx.exec_params("UPDATE donations SET collecting_order_id = $2 WHERE id = $1",
                     row[1].as<std::int64_t>(), id);
    }
  }
  return id;
}

std::int64_t create_checking_for_donation(pqxx::work& tx, std::int64_t donation_id,
                                          std::int64_t now_ms) {
  const auto id = create_internal_order(tx, TaskKind::kChecking, std::string("donation"),
                                        donation_id, std::nullopt, {}, false, std::nullopt, now_ms);
  tx.exec_params(
      "INSERT INTO checking_items (order_id, position, donation_item_id) SELECT $1, position, id "
      "FROM donation_items WHERE donation_id = $2",
      id, donation_id);
  tx.exec_params("UPDATE donations SET checking_order_id = $2 WHERE id = $1", donation_id, id);
  return id;
}

std::int64_t create_checking_for_return(pqxx::work& tx, std::int64_t order_id,
                                        std::int64_t now_ms) {
  const auto id = create_internal_order(tx, TaskKind::kChecking, std::string("return"), order_id,
                                        std::nullopt, {}, false, std::nullopt, now_ms);
  tx.exec_params(
      "INSERT INTO checking_items (order_id, position, product_id) SELECT $1, position, "
      "product_id FROM buying_order_items WHERE order_id = $2",
      id, order_id);
  return id;
}

// ---- JSON ---------------------------------------------------------------------------------------

const std::string kProductColumns =
    "id, title, description, category, size, condition, price_cents, status, " +
    ms_of("created_at") + ", " + ms_of("updated_at");

nlohmann::json product_json(const pqxx::row& row) {
  const bool listed = row[7].as<std::string>() == "available" && !row[6].is_null();
  return {{"id", row[0].as<std::int64_t>()},
          {"title", row[1].as<std::string>()},
          {"description", row[2].as<std::string>()},
          {"category", row[3].as<std::string>()},
          {"size", row[4].as<std::string>()},
          {"condition", row[5].as<std::string>()},
          {"price_cents", nullable_int(row[6])},
          {"status", row[7].as<std::string>()},
          {"listed", listed},
          {"created_at", ts(row[8].as<std::int64_t>())},
          {"updated_at", ts(row[9].as<std::int64_t>())}};
}

nlohmann::json donation_json(pqxx::work& tx, std::int64_t id, bool with_token) {
  const auto rows = tx.exec_params(
      "SELECT id, customer_id, location_id, state, size_class, box_id, compartment, token_id, "
      "token_text, " +
          ms_of("reserved_until") + ", collecting_order_id, checking_order_id, reward::text, " +
          ms_of("created_at") + ", " + ms_of("updated_at") + ", " + ms_of("deposited_at") + ", " +
          ms_of("collected_at") + ", " + ms_of("completed_at") + " FROM donations WHERE id = $1",
      id);
  if (rows.empty()) return nullptr;
  const auto& r = rows[0];
  nlohmann::json items = nlohmann::json::array();
  for (const auto& it : tx.exec_params(
           "SELECT di.position, di.category, di.count, di.condition_notes, ci.grade FROM "
           "donation_items di LEFT JOIN checking_items ci ON ci.donation_item_id = di.id "
           "WHERE di.donation_id = $1 ORDER BY di.position",
           id)) {
    items.push_back({{"position", it[0].as<int>()},
                     {"category", it[1].as<std::string>()},
                     {"count", it[2].as<int>()},
                     {"condition_notes", it[3].as<std::string>()},
                     {"grade", nullable_str(it[4])}});
  }
  const auto state = r[3].as<std::string>();
  nlohmann::json j = {{"id", r[0].as<std::int64_t>()},
                      {"customer_id", r[1].as<std::int64_t>()},
                      {"location_id", r[2].as<std::int64_t>()},
                      {"state", state},
                      {"size_class", r[4].as<std::string>()},
                      {"box_id", r[5].as<std::string>()},
                      {"compartment", r[6].as<int>()},
                      {"reserved_until", ts(r[9].as<std::int64_t>())},
                      {"items", items},
                      {"reward", nullptr},
                      {"created_at", ts(r[13].as<std::int64_t>())},
                      {"updated_at", ts(r[14].as<std::int64_t>())},
                      {"deposited_at", nullable_ts(r[15])},
                      {"collected_at", nullable_ts(r[16])},
                      {"completed_at", nullable_ts(r[17])},
                      {"token", nullptr}};
  if (!r[12].is_null()) j["reward"] = nlohmann::json::parse(r[12].c_str(), nullptr, false);
  if (with_token && state == "reserved" && !r[8].is_null()) {
    j["token"] = {{"token", r[8].as<std::string>()},
                  {"token_id", nullable_str(r[7])},
                  {"expires", ts(r[9].as<std::int64_t>())}};
  }
  return j;
}

nlohmann::json buying_order_json(pqxx::work& tx, std::int64_t id, bool with_tokens) {
  const auto rows = tx.exec_params(
      "SELECT id, customer_id, pickup_location_id, state, total_cents, currency, box_id, "
      "compartment, " +
          ms_of("pickup_until") + ", pickup_token_id, pickup_token_text, return_box_id, " +
          "return_compartment, " + ms_of("return_until") +
          ", return_token_id, return_token_text, failure_reason, " + ms_of("created_at") + ", " +
          ms_of("updated_at") + ", " + ms_of("paid_at") + ", " + ms_of("completed_at") + ", " +
          ms_of("cancelled_at") + ", kind FROM buying_orders WHERE id = $1",
      id);
  if (rows.empty()) return nullptr;
  const auto& r = rows[0];
  const auto state = r[3].as<std::string>();
  nlohmann::json items = nlohmann::json::array();
  for (const auto& it : tx.exec_params(
           "SELECT i.position, i.product_id, p.title, i.price_cents, i.active FROM "
           "buying_order_items i JOIN products p ON p.id = i.product_id WHERE i.order_id = $1 "
           "ORDER BY i.position",
           id)) {
    items.push_back({{"position", it[0].as<int>()},
                     {"product_id", it[1].as<std::int64_t>()},
                     {"title", it[2].as<std::string>()},
                     {"price_cents", it[3].as<std::int64_t>()}});
  }
  nlohmann::json payments = nlohmann::json::object();
  for (const auto& p :
       tx.exec_params("SELECT kind, state, amount_cents, attempts, last_error FROM payments WHERE "
                      "order_id = $1 ORDER BY id",
                      id)) {
    payments[p[0].as<std::string>()] = {{"state", p[1].as<std::string>()},
                                        {"amount_cents", p[2].as<std::int64_t>()},
                                        {"attempts", p[3].as<int>()},
                                        {"last_error", nullable_str(p[4])}};
  }
  nlohmann::json pickup = nullptr;
  if (!r[6].is_null()) {
    pickup = {{"box_id", r[6].as<std::string>()},
              {"compartment", nullable_int(r[7])},
              {"until", nullable_ts(r[8])},
              {"token", nullptr}};
    if (with_tokens && state == "ready_for_pickup" && !r[10].is_null()) {
      pickup["token"] = {{"token", r[10].as<std::string>()},
                         {"token_id", nullable_str(r[9])},
                         {"expires", nullable_ts(r[8])}};
    }
  }
  nlohmann::json ret = nullptr;
  if (!r[11].is_null()) {
    ret = {{"box_id", r[11].as<std::string>()},
           {"compartment", nullable_int(r[12])},
           {"until", nullable_ts(r[13])},
           {"token", nullptr}};
    if (with_tokens && state == "return_requested" && !r[15].is_null()) {
      ret["token"] = {{"token", r[15].as<std::string>()},
                      {"token_id", nullable_str(r[14])},
                      {"expires", nullable_ts(r[13])}};
    }
  }
  return {{"id", r[0].as<std::int64_t>()},
          {"customer_id", r[1].as<std::int64_t>()},
          {"pickup_location_id", r[2].as<std::int64_t>()},
          {"state", state},
          {"kind", r[22].as<std::string>()},  // purchase, or donor_return (a donated item back)
          {"total_cents", r[4].as<std::int64_t>()},
          {"currency", r[5].as<std::string>()},
          {"items", items},
          {"payment", payments.value("charge", nlohmann::json())},
          {"refund", payments.value("refund", nlohmann::json())},
          {"pickup", pickup},
          {"return", ret},
          {"failure_reason", nullable_str(r[16])},
          {"created_at", ts(r[17].as<std::int64_t>())},
          {"updated_at", ts(r[18].as<std::int64_t>())},
          {"paid_at", nullable_ts(r[19])},
          {"completed_at", nullable_ts(r[20])},
          {"cancelled_at", nullable_ts(r[21])}};
}

}  // namespace reclothes::controller::domain
