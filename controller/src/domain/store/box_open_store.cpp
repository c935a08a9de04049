// The online open's store (box_open_store.h).
#include "box_open_store.h"

#include <vector>

#include "reclothes/controller/domain/box_open.h"

namespace reclothes::controller::domain {
namespace {

// Every live reservation at the box (any customer's) with the token the box would accept: a
// reserved donation (deposit), a parcel ready for pickup, a requested return.
const char* const kBoxOpenLiveAccessSql =
    "SELECT a.order_id, a.customer_id, a.purpose, a.compartment, a.token_id, "
    "floor(extract(epoch FROM t.expires))::bigint FROM ("
    "  SELECT id AS order_id, customer_id, 'deposit' AS purpose, compartment, token_id "
    "  FROM donations WHERE box_id = $1 AND state = 'reserved' AND reserved_until > $2::timestamptz"
    "  UNION ALL"
    "  SELECT id, customer_id, 'pickup', compartment, pickup_token_id FROM buying_orders"
    "  WHERE box_id = $1 AND state = 'ready_for_pickup'"
    "  UNION ALL"
    "  SELECT id, customer_id, 'return', return_compartment, return_token_id FROM buying_orders"
    "  WHERE return_box_id = $1 AND state = 'return_requested' AND return_until > $2::timestamptz"
    ") a JOIN issued_tokens t ON t.token_id = a.token_id "
    "WHERE t.expires > $2::timestamptz "
    "AND NOT EXISTS (SELECT 1 FROM revoked_tokens r WHERE r.token_id = a.token_id) "
    "ORDER BY a.order_id";

struct BoxOpenRow {
  std::int64_t customer_id = 0;
  LiveAccess access;
};

std::vector<BoxOpenRow> box_open_live_rows(pqxx::work& tx, const std::string& box_id,
                                           std::int64_t now_ms) {
  std::vector<BoxOpenRow> out;
  for (const auto& r : tx.exec_params(kBoxOpenLiveAccessSql, box_id, ts(now_ms))) {
    BoxOpenRow row;
    row.access.order_id = r[0].as<std::int64_t>();
    row.customer_id = r[1].as<std::int64_t>();
    row.access.purpose = r[2].as<std::string>();
    row.access.action = *token_action_from_string(row.access.purpose);
    row.access.compartment = r[3].as<int>();
    row.access.token_id = r[4].as<std::string>();
    row.access.token_expires = r[5].as<std::int64_t>();
    out.push_back(std::move(row));
  }
  return out;
}

std::vector<PriorOpen> box_open_priors(pqxx::work& tx, const std::string& box_id,
                                       const std::string& token_id) {
  std::vector<PriorOpen> out;
  for (const auto& r : tx.exec_params("SELECT id, " + ms_of("created_at") +
                                          ", result_ok, result_code FROM box_commands "
                                          "WHERE box_id = $1 AND op = 'open_access' AND id LIKE $2",
                                      box_id, "access-" + token_id + "-%")) {
    out.push_back({r[0].as<std::string>(), r[1].as<std::int64_t>(), opt<bool>(r[2]),
                   opt<std::string>(r[3]).value_or("")});
  }
  return out;
}

DomainError box_open_nothing_there(const std::string& box_id) {
  return DomainError::not_found("reservation at box " + box_id);
}

// The choice among the caller's reservations, or the refusal.
StoreResult<LiveAccess> box_open_choose(const std::vector<BoxOpenRow>& rows,
                                        const OpenBoxRequest& req) {
  std::vector<LiveAccess> mine;
  for (const BoxOpenRow& r : rows) {
    if (r.customer_id == req.customer_id) mine.push_back(r.access);
  }
  const AccessChoice choice = choose_access(mine, req.order_id);
  switch (choice.problem) {
    case AccessChoiceProblem::kNone:
      return *choice.chosen;
    case AccessChoiceProblem::kAmbiguous: {
      nlohmann::json list = nlohmann::json::array();
      for (const LiveAccess& a : mine) {
        list.push_back(
            {{"order_id", a.order_id}, {"purpose", a.purpose}, {"compartment", a.compartment}});
      }
      return DomainError::conflict("reservation_ambiguous",
                                   "you have " + std::to_string(mine.size()) +
                                       " reservations at box " + req.box_id +
                                       "; say which to open with order_id",
                                   {{"reservations", std::move(list)}});
    }
    case AccessChoiceProblem::kNothing:
    case AccessChoiceProblem::kNotAmongThem:
      break;
  }
  // Another customer's live reservation named by id: answered as nothing, audited as a probe.
  if (req.order_id) {
    for (const BoxOpenRow& r : rows) {
      if (r.access.order_id == *req.order_id) return DomainError::not_owner("box", *req.order_id);
    }
  }
  return box_open_nothing_there(req.box_id);
}

StoreResult<OpenBoxOutcome> box_open_decide(pqxx::work& tx, const OpenBoxRequest& req,
                                            const LiveAccess& a, std::int64_t now_ms) {
  OpenBoxOutcome out;
  out.box_id = req.box_id;
  out.order_id = a.order_id;
  out.purpose = a.purpose;
  out.compartment = a.compartment;
  const auto prior = box_open_priors(tx, req.box_id, a.token_id);
  const OpenDecision decision = decide_open(prior, a.token_id, now_ms, kOpenPendingMs);
  const nlohmann::json details = {{"command_id", decision.command_id}, {"order_id", a.order_id}};
  switch (decision.step) {
    case OpenStep::kAlreadyOpened:
      return DomainError::conflict("already_opened",
                                   "compartment " + std::to_string(a.compartment) + " of box " +
                                       req.box_id + " was opened for order " +
                                       std::to_string(a.order_id) +
                                       " already; each reservation opens its door once",
                                   details);
    case OpenStep::kRefused:
      if (decision.code == "too_many_attempts") {
        return DomainError::conflict("too_many_attempts",
                                     "the box could not be opened after " +
                                         std::to_string(kMaxOpenAttempts) +
                                         " attempts; please contact customer service",
                                     details);
      }
      return DomainError::conflict(
          decision.code,
          "the box refused to open for order " + std::to_string(a.order_id) + ": " +
              (decision.code == "already_used" ? "its code was used already (each code opens once)"
                                               : "its code was cancelled"),
          details);
    case OpenStep::kPending:
      out.command_id = decision.command_id;
      out.status = "pending";
      return out;
    case OpenStep::kSend:
      break;
  }
  msg::Command cmd;
  cmd.id = decision.command_id;
  cmd.op = msg::CommandOp::kOpenAccess;
  cmd.access = msg::Access{a.compartment, static_cast<std::uint64_t>(a.order_id), a.action,
                           a.token_id, a.token_expires};
  cmd.reason = "customer app: box code scanned, order " + std::to_string(a.order_id);
  // The primary key makes attempt n exist once, whichever replica asks.
  tx.exec_params(
      "INSERT INTO box_commands (id, box_id, op, compartment, reason, created_at) "
      "VALUES ($1, $2, 'open_access', $3, $4, $5::timestamptz)",
      cmd.id, req.box_id, a.compartment, *cmd.reason, ts(now_ms));
  out.command_id = cmd.id;
  out.status = "sent";
  out.command = std::move(cmd);
  return out;
}

}  // namespace

StoreResult<OpenBoxOutcome> open_box_for_customer(DomainContext& /*d*/, pqxx::work& tx,
                                                  const OpenBoxRequest& req, std::int64_t now_ms) {
  return guarded([&]() -> StoreResult<OpenBoxOutcome> {
    // The box row's lock serialises opens of one box (two replicas, a double tap).
    const auto box = tx.exec_params(
        "SELECT status, online, maintenance FROM boxes WHERE id = $1 FOR UPDATE", req.box_id);
    if (box.empty() || box[0][0].as<std::string>() == "decommissioned") {
      return box_open_nothing_there(req.box_id);
    }
    auto chosen = box_open_choose(box_open_live_rows(tx, req.box_id, now_ms), req);
    if (!chosen.ok()) return chosen.error();
    if (!box[0][1].as<bool>()) {
      return DomainError::conflict(
          "box_offline",
          "box " + req.box_id +
              " is offline and cannot be opened from the app; show your order's QR code from the "
              "app to the box's camera instead (it works without a network)",
          {{"box_id", req.box_id}, {"order_id", chosen->order_id}});
    }
    if (box[0][2].as<bool>()) {
      return DomainError::conflict("box_maintenance",
                                   "box " + req.box_id + " is in maintenance; please try later",
                                   {{"box_id", req.box_id}});
    }
    return box_open_decide(tx, req, *chosen, now_ms);
  });
}

}  // namespace reclothes::controller::domain
