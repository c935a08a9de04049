#include "reclothes/controller/audit.h"

namespace reclothes::controller {
namespace {

std::optional<std::string> json_or_null(const nlohmann::json& j) {
  if (j.is_null()) return std::nullopt;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::optional<std::string> text_or_null(const std::string& s) {
  if (s.empty()) return std::nullopt;
  return s;
}

}  // namespace

void AuditLog::write(pqxx::work& tx, const AuditEntry& e) const {
  tx.exec_params(
      "INSERT INTO audit_log (at, actor_kind, actor_id, action, target_type, target_id, before, "
      "after, address, request_id, outcome, reason) VALUES ($1::timestamptz, $2, $3, $4, $5, $6, "
      "$7::jsonb, $8::jsonb, $9, $10, $11, $12)",
      ts(clock_.wall_ms()), e.actor_kind, e.actor_id, e.action, text_or_null(e.target_type),
      text_or_null(e.target_id), json_or_null(e.before), json_or_null(e.after),
      text_or_null(e.address), text_or_null(e.request_id), e.denied ? "denied" : "ok",
      text_or_null(e.reason));
}

Status AuditLog::write_own(const AuditEntry& entry) const {
  return db_.with_transaction([&](pqxx::work& tx) -> Status {
    write(tx, entry);
    return ok_status();
  });
}

Result<nlohmann::json> AuditLog::query(pqxx::work& tx, const AuditQuery& q) const {
  // Each filter is "($n IS NULL OR column = $n)" so one prepared shape serves every combination.
  const std::string sql =
      "SELECT id, " + ms_of("at") +
      ", actor_kind, actor_id, action, target_type, target_id, before::text, after::text, "
      "address, request_id, outcome, reason FROM audit_log WHERE "
      "($1::text IS NULL OR actor_kind = $1) AND ($2::bigint IS NULL OR actor_id = $2) AND "
      "($3::text IS NULL OR action = $3) AND ($4::text IS NULL OR target_type = $4) AND "
      "($5::text IS NULL OR target_id = $5) AND ($6::text IS NULL OR outcome = $6) AND "
      "($7::timestamptz IS NULL OR at >= $7::timestamptz) AND "
      "($8::timestamptz IS NULL OR at < $8::timestamptz) AND "
      "($9::bigint IS NULL OR id < $9) ORDER BY id DESC LIMIT $10";
  const auto from = q.from_ms ? std::optional<std::string>(ts(*q.from_ms)) : std::nullopt;
  const auto to = q.to_ms ? std::optional<std::string>(ts(*q.to_ms)) : std::nullopt;
  const auto rows = tx.exec_params(sql, q.actor_kind, q.actor_id, q.action, q.target_type,
                                   q.target_id, q.outcome, from, to, q.before_id, q.limit + 1);
  nlohmann::json items = nlohmann::json::array();
  std::optional<std::int64_t> next;
  int n = 0;
  for (const auto& row : rows) {
    if (n == q.limit) {
      next = items.back()["id"].get<std::int64_t>();
      break;
    }
    ++n;
    const auto parse = [](const pqxx::field& f) {
      return f.is_null() ? nlohmann::json() : nlohmann::json::parse(f.c_str(), nullptr, false);
    };
    items.push_back({
        {"id", row[0].as<std::int64_t>()},
        {"at", ts(row[1].as<std::int64_t>())},
        {"actor_kind", row[2].as<std::string>()},
        {"actor_id",
         row[3].is_null() ? nlohmann::json() : nlohmann::json(row[3].as<std::int64_t>())},
        {"action", row[4].as<std::string>()},
        {"target_type",
         row[5].is_null() ? nlohmann::json() : nlohmann::json(row[5].as<std::string>())},
        {"target_id",
         row[6].is_null() ? nlohmann::json() : nlohmann::json(row[6].as<std::string>())},
        {"before", parse(row[7])},
        {"after", parse(row[8])},
        {"address", row[9].is_null() ? nlohmann::json() : nlohmann::json(row[9].as<std::string>())},
        {"request_id",
         row[10].is_null() ? nlohmann::json() : nlohmann::json(row[10].as<std::string>())},
        {"outcome", row[11].as<std::string>()},
        {"reason",
         row[12].is_null() ? nlohmann::json() : nlohmann::json(row[12].as<std::string>())},
    });
  }
  return nlohmann::json{{"items", items},
                        {"next_before_id", next ? nlohmann::json(*next) : nlohmann::json()}};
}

}  // namespace reclothes::controller
