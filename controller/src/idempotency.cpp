#include "reclothes/controller/idempotency.h"

#include "reclothes/controller/db.h"
#include "reclothes/controller/migrations.h"

namespace reclothes::controller {

std::optional<std::string> idempotency_key_problem(std::string_view key) {
  if (key.empty() || key.size() > 255) return "must be 1 to 255 characters";
  for (const char c : key) {
    if (c < 0x20 || c > 0x7e) return "must be printable ASCII";
  }
  return std::nullopt;
}

std::string idempotency_request_hash(std::string_view method, std::string_view path,
                                     std::int64_t customer_id, std::string_view canonical_body) {
  // Length-prefixed fields, so no two different requests can concatenate to the same text.
  const auto customer = std::to_string(customer_id);
  std::string text;
  for (const std::string_view part : {method, path, std::string_view(customer), canonical_body}) {
    text += std::to_string(part.size());
    text += ':';
    text += part;
    text += '\n';
  }
  return sha256_hex(text);
}

bool idempotency_storable(int status) {
  return (status >= 200 && status < 300) || (status >= 400 && status < 500 && status != 429);
}

IdempotencyClaim IdempotencyStore::claim(pqxx::transaction_base& tx, std::int64_t customer_id,
                                         const std::string& key, const std::string& request_hash,
                                         const std::string& owner) const {
  const auto now = clock_.wall_ms();
  const auto ttl_ms = std::chrono::duration_cast<std::chrono::milliseconds>(config_.ttl).count();
  const auto claim_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(config_.in_progress_timeout).count();
  const auto taken = tx.exec_params(
      "INSERT INTO idempotency_keys AS k (customer_id, key, request_hash, state, owner, "
      "created_at, claimed_until, expires_at) VALUES ($1, $2, $3, 'in_progress', $4, "
      "$5::timestamptz, $6::timestamptz, $7::timestamptz) "
      "ON CONFLICT (customer_id, key) DO UPDATE SET request_hash = excluded.request_hash, "
      "state = 'in_progress', owner = excluded.owner, status = NULL, content_type = NULL, "
      "body = NULL, created_at = excluded.created_at, claimed_until = excluded.claimed_until, "
      "expires_at = excluded.expires_at "
      "WHERE k.expires_at <= excluded.created_at OR (k.state = 'in_progress' AND "
      "k.claimed_until <= excluded.created_at AND k.request_hash = excluded.request_hash) "
      "RETURNING 1",
      customer_id, key, request_hash, owner, ts(now), ts(now + claim_ms), ts(now + ttl_ms));
  if (!taken.empty()) return {IdempotencyClaim::Kind::kOwned, {}};
  const auto rows = tx.exec_params(
      "SELECT request_hash, state, status, content_type, body FROM idempotency_keys WHERE "
      "customer_id = $1 AND key = $2",
      customer_id, key);
  // Deleted between the two statements (expired and swept): the caller tries again.
  if (rows.empty()) return {IdempotencyClaim::Kind::kInProgress, {}};
  const auto& r = rows[0];
  if (r[0].as<std::string>() != request_hash) return {IdempotencyClaim::Kind::kMismatch, {}};
  if (r[1].as<std::string>() != "done") return {IdempotencyClaim::Kind::kInProgress, {}};
  return {IdempotencyClaim::Kind::kReplay,
          StoredResponse{r[2].as<int>(), r[3].as<std::string>(""), r[4].as<std::string>("")}};
}

void IdempotencyStore::complete(pqxx::transaction_base& tx, std::int64_t customer_id,
                                const std::string& key, const std::string& owner,
                                const StoredResponse& response) const {
  tx.exec_params(
      "UPDATE idempotency_keys SET state = 'done', status = $4, content_type = $5, body = $6 "
      "WHERE customer_id = $1 AND key = $2 AND owner = $3",
      customer_id, key, owner, response.status, response.content_type, response.body);
}

void IdempotencyStore::release(pqxx::transaction_base& tx, std::int64_t customer_id,
                               const std::string& key, const std::string& owner) const {
  tx.exec_params(
      "DELETE FROM idempotency_keys WHERE customer_id = $1 AND key = $2 AND owner = $3 AND "
      "state = 'in_progress'",
      customer_id, key, owner);
}

std::int64_t IdempotencyStore::delete_expired(pqxx::transaction_base& tx,
                                              std::int64_t limit) const {
  const auto rows = tx.exec_params(
      "DELETE FROM idempotency_keys WHERE ctid IN (SELECT ctid FROM idempotency_keys WHERE "
      "expires_at <= $1::timestamptz LIMIT $2)",
      ts(clock_.wall_ms()), limit);
  return static_cast<std::int64_t>(rows.affected_rows());
}

}  // namespace reclothes::controller
