// The append-only audit trail (table audit_log; a trigger refuses UPDATE, DELETE and TRUNCATE).
// Staff writes are recorded in the same transaction as the write; denials in their own.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <string>

#include "reclothes/common/clock.h"
#include "reclothes/common/result.h"
#include "reclothes/controller/db.h"

namespace reclothes::controller {

struct AuditEntry {
  std::string actor_kind = "anonymous";  // staff, customer, anonymous, system
  std::optional<std::int64_t> actor_id;
  std::string action;  // the route's action name ("box.open") or a system action
  std::string target_type;
  std::string target_id;
  nlohmann::json before;  // null: none
  nlohmann::json after;
  std::string address;
  std::string request_id;
  bool denied = false;
  std::string reason;  // denials: the error code ("forbidden", "network_not_allowed", ...)
};

struct AuditQuery {
  std::optional<std::string> actor_kind;
  std::optional<std::int64_t> actor_id;
  std::optional<std::string> action;
  std::optional<std::string> target_type;
  std::optional<std::string> target_id;
  std::optional<std::string> outcome;     // "ok" | "denied"
  std::optional<std::int64_t> from_ms;    // inclusive
  std::optional<std::int64_t> to_ms;      // exclusive
  std::optional<std::int64_t> before_id;  // keyset paging: rows with id < before_id
  int limit = 50;                         // 1..200
};

class AuditLog {
 public:
  AuditLog(Database& db, const Clock& clock) : db_(db), clock_(clock) {}

  // Inside the caller's transaction (staff writes). Throws like any pqxx call.
  void write(pqxx::work& tx, const AuditEntry& entry) const;
  // In a transaction of its own (denials, whose request transaction is rolled back).
  Status write_own(const AuditEntry& entry) const;

  // Newest first. Returns {"items":[...], "next_before_id": id|null}.
  Result<nlohmann::json> query(pqxx::work& tx, const AuditQuery& q) const;

 private:
  Database& db_;
  const Clock& clock_;
};

}  // namespace reclothes::controller
