// The customer's own account (account_store.h).
#include "account_store.h"

#include <sodium.h>

#include <array>

#include "reclothes/controller/accounts.h"
#include "shared.h"

namespace reclothes::controller::domain {

// The module's file-local names stay in a namespace of their own (unity builds put several store
// files in one translation unit).
namespace account_store {
namespace {

// Runs f(tx, commit) -> StoreResult<T> in a transaction of its own. It commits when f succeeds,
// and also when f refuses after setting commit (a wrong code's attempt must count although the
// request is refused); otherwise it rolls back.
template <typename T, typename F>
StoreResult<T> own_transaction(Database& db, F&& f) {
  bool commit = false;
  std::optional<StoreResult<T>> out;
  auto status = db.with_transaction([&](pqxx::work& tx) -> Status {
    out = guarded([&]() -> StoreResult<T> { return f(tx, commit); });
    if (out->ok() || commit) return ok_status();
    return make_error(ErrorCode::kFailedPrecondition, "refused: rolled back");
  });
  if (!out || ((out->ok() || commit) && !status.ok())) {
    return DomainError::from(status.error());  // never ran, or the commit failed
  }
  return std::move(*out);
}

DomainError too_many(const std::string& code, const std::string& what, const std::string& scope,
                     std::int64_t retry_after_s) {
  DomainError e;
  e.kind = ErrorCode::kResourceExhausted;
  e.code = code;
  e.message = what + "; try again in " + std::to_string(retry_after_s) + " s";
  e.details = {{"scope", scope}, {"retry_after_s", retry_after_s}};
  return e;
}

DomainError invalid_code() {
  return DomainError::invalid(
      "invalid_code",
      "the code is wrong, used, replaced by a newer one or expired; ask for a new one");
}

// A fresh code from libsodium's generator (initialised by PasswordHasher::create).
std::string new_account_code() {
  std::array<std::uint8_t, kAccountCodeRandomBytes> random{};
  randombytes_buf(random.data(), random.size());
  return account_code_from(random);
}

Result<std::string> hash_code(DomainContext& d, const std::string& code) {
  return d.s.passwords.hash(code);
}

// Closes the customer's open code of the purpose (a new one replaces it, or a password change
// ends it).
void close_open_code(pqxx::work& tx, std::int64_t customer_id, CodePurpose purpose,
                     const std::string& reason, const std::string& now) {
  tx.exec_params(
      "UPDATE account_codes SET closed_at = $3::timestamptz, closed_reason = $4 WHERE "
      "customer_id = $1 AND purpose = $2 AND closed_at IS NULL",
      customer_id, std::string(to_string(purpose)), now, reason);
}

// Issues a code: closes the open one, stores the new one's hash and returns its expiry (ms).
std::int64_t store_code(DomainContext& d, pqxx::work& tx, std::int64_t customer_id,
                        CodePurpose purpose, const std::string& code_hash,
                        const std::optional<std::string>& new_email) {
  const auto now_ms = d.now_ms();
  const auto now = ts(now_ms);
  const auto expires_ms =
      now_ms +
      std::chrono::duration_cast<std::chrono::milliseconds>(d.config.accounts.code_ttl).count();
  close_open_code(tx, customer_id, purpose, "superseded", now);
  tx.exec_params(
      "INSERT INTO account_codes (customer_id, purpose, code_hash, new_email, created_at, "
      "expires_at) VALUES ($1, $2, $3, $4, $5::timestamptz, $6::timestamptz)",
      customer_id, std::string(to_string(purpose)), code_hash, new_email, now, ts(expires_ms));
  // Codes long past their expiry are of no use to anyone.
  tx.exec_params(
      "DELETE FROM account_codes WHERE customer_id = $1 AND expires_at < $2::timestamptz - "
      "interval '1 day'",
      customer_id, now);
  return expires_ms;
}

// Consumes the matched code: only an open one, so two confirmations cannot both use it.
bool consume_code(pqxx::work& tx, std::int64_t code_id, const std::string& now) {
  return tx.exec_params(
               "UPDATE account_codes SET used_at = $2::timestamptz, closed_at = $2::timestamptz, "
               "closed_reason = 'used' WHERE id = $1 AND closed_at IS NULL",
               code_id, now)
             .affected_rows() == 1;
}

}  // namespace
}  // namespace account_store

using account_store::close_open_code;
using account_store::consume_code;
using account_store::hash_code;
using account_store::invalid_code;
using account_store::new_account_code;
using account_store::own_transaction;
using account_store::store_code;
using account_store::too_many;

StoreStatus check_own_password(DomainContext& d, std::int64_t customer_id, const std::string& email,
                               std::string_view password, const std::string& address) {
  auto decision = own_transaction<ThrottleDecision>(
      d.s.db, [&](pqxx::work& tx, bool&) -> StoreResult<ThrottleDecision> {
        return d.s.throttle.check(tx, AccountKind::kCustomer, email, address);
      });
  if (!decision.ok()) return decision.error();
  if (!decision->allowed) {
    return too_many("too_many_attempts", "too many wrong passwords", decision->scope,
                    decision->retry_after_s);
  }
  auto hash =
      own_transaction<std::string>(d.s.db, [&](pqxx::work& tx, bool&) -> StoreResult<std::string> {
        const auto rows = tx.exec_params(
            "SELECT password_hash FROM customers WHERE id = $1 AND status = 'active'", customer_id);
        if (rows.empty()) return DomainError::not_found("customer");
        return rows[0][0].as<std::string>();
      });
  if (!hash.ok()) return hash.error();
  if (d.s.passwords.verify(*hash, password)) return store_ok();
  auto recorded = own_transaction<bool>(d.s.db, [&](pqxx::work& tx, bool&) -> StoreResult<bool> {
    d.s.throttle.record_failure(tx, AccountKind::kCustomer, email, address);
    return true;
  });
  if (!recorded.ok()) return recorded.error();
  return DomainError::forbidden("wrong_password", "the current password is wrong");
}

StoreResult<std::int64_t> change_password(DomainContext& d, pqxx::work& tx,
                                          std::int64_t customer_id, std::int64_t keep_session_id,
                                          std::string_view new_password) {
  auto hash = d.s.passwords.hash(new_password);
  if (!hash.ok()) return DomainError::from(hash.error());
  return guarded([&]() -> StoreResult<std::int64_t> {
    const auto now = ts(d.now_ms());
    const auto updated = tx.exec_params(
        "UPDATE customers SET password_hash = $2, updated_at = $3::timestamptz WHERE id = $1 AND "
        "status = 'active'",
        customer_id, *hash, now);
    if (updated.affected_rows() != 1) return DomainError::not_found("customer");
    close_open_code(tx, customer_id, CodePurpose::kPasswordReset, "password_changed", now);
    // The sessions trigger of migration 0007 tells every replica at commit.
    const auto ended = tx.exec_params(
        "UPDATE sessions SET revoked_at = $3::timestamptz WHERE account_kind = 'customer' AND "
        "account_id = $1 AND id <> $2 AND revoked_at IS NULL",
        customer_id, keep_session_id, now);
    return static_cast<std::int64_t>(ended.affected_rows());
  });
}

StoreStatus count_code_request(DomainContext& d, CodePurpose purpose, const std::string& email_key,
                               const std::string& address) {
  const auto& config = d.config.accounts;
  const auto window_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(config.request_window).count();
  auto refusal = own_transaction<std::optional<DomainError>>(
      d.s.db, [&](pqxx::work& tx, bool&) -> StoreResult<std::optional<DomainError>> {
        const auto now_ms = d.now_ms();
        const auto since = ts(now_ms - window_ms);
        const auto kind = std::string(to_string(purpose));
        // The count in the window and the limit-th newest request of one dimension.
        const auto seen = [&](const std::string& column, const std::string& key, int limit) {
          const auto rows = tx.exec_params(
              "SELECT count(*), (SELECT " + ms_of("at") +
                  " FROM account_code_requests WHERE "
                  "purpose = $1 AND " +
                  column +
                  " = $2 AND at > $3::timestamptz ORDER BY at DESC "
                  "OFFSET $4 LIMIT 1) FROM account_code_requests WHERE purpose = $1 AND " +
                  column + " = $2 AND at > $3::timestamptz",
              kind, key, since, limit - 1);
          return WindowCount{rows[0][0].as<int>(), opt<std::int64_t>(rows[0][1])};
        };
        const std::pair<const char*, int> limits[] = {{"email", config.requests_per_email},
                                                      {"address", config.requests_per_address}};
        for (const auto& [scope, limit] : limits) {
          const bool by_email = std::string_view(scope) == "email";
          const auto count =
              seen(by_email ? "email_key" : "address", by_email ? email_key : address, limit);
          if (auto wait = window_retry_after_s(count, limit, window_ms, now_ms)) {
            return std::optional<DomainError>(
                too_many("too_many_requests", "too many code requests", scope, *wait));
          }
        }
        tx.exec_params(
            "INSERT INTO account_code_requests (purpose, email_key, address, at) VALUES ($1, $2, "
            "$3, $4::timestamptz)",
            kind, email_key, address, ts(now_ms));
        tx.exec_params("DELETE FROM account_code_requests WHERE at < $1::timestamptz",
                       ts(now_ms - 2 * window_ms));
        return std::optional<DomainError>();
      });
  if (!refusal.ok()) return refusal.error();
  if (*refusal) return std::move(**refusal);
  return store_ok();
}

StoreResult<bool> request_password_reset(DomainContext& d, pqxx::work& tx,
                                         const std::string& email) {
  const auto code = new_account_code();
  // Hashed before the look-up, for known and unknown emails alike: the same Argon2id work.
  auto hash = hash_code(d, code);
  if (!hash.ok()) return DomainError::from(hash.error());
  return guarded([&]() -> StoreResult<bool> {
    const auto rows = tx.exec_params(
        "SELECT id FROM customers WHERE lower(email) = $1 AND status = 'active' FOR UPDATE", email);
    if (rows.empty()) return false;
    const auto id = rows[0][0].as<std::int64_t>();
    const auto expires_ms = store_code(d, tx, id, CodePurpose::kPasswordReset, *hash, std::nullopt);
    notify(tx, "customer", id, std::string(to_string(CodePurpose::kPasswordReset)),
           {{"code", display_account_code(code)}, {"expires_at", ts(expires_ms)}}, d.now_ms());
    return true;
  });
}

StoreResult<std::string> request_email_change(DomainContext& d, pqxx::work& tx,
                                              std::int64_t customer_id,
                                              const std::string& new_email) {
  const auto code = new_account_code();
  auto hash = hash_code(d, code);
  if (!hash.ok()) return DomainError::from(hash.error());
  return guarded([&]() -> StoreResult<std::string> {
    const auto rows = tx.exec_params(
        "SELECT email FROM customers WHERE id = $1 AND status = 'active' FOR UPDATE", customer_id);
    if (rows.empty()) return DomainError::not_found("customer");
    if (rows[0][0].as<std::string>() == new_email) {
      return DomainError::invalid("same_email", "this is already the account's email");
    }
    const auto expires_ms =
        store_code(d, tx, customer_id, CodePurpose::kEmailChange, *hash, new_email);
    notify(tx, "customer", customer_id, std::string(to_string(CodePurpose::kEmailChange)),
           {{"code", display_account_code(code)},
            {"to_email", new_email},
            {"expires_at", ts(expires_ms)}},
           d.now_ms());
    return ts(expires_ms);
  });
}

StoreResult<CodeMatch> match_code(DomainContext& d, CodePurpose purpose, const CodeOwner& owner,
                                  const std::optional<std::string>& code, std::string* reason) {
  const auto refuse = [&](const char* why) -> StoreResult<CodeMatch> {
    if (reason != nullptr) *reason = why;
    return invalid_code();
  };
  struct Row {
    CodeMatch match;
    std::string hash;
    CodeState state;
  };
  // The newest code of the owner and purpose, locked: concurrent tries count one by one.
  auto found = own_transaction<std::optional<Row>>(
      d.s.db, [&](pqxx::work& tx, bool&) -> StoreResult<std::optional<Row>> {
        pqxx::result rows;
        const std::string columns = "c.id, c.customer_id, cu.email, c.new_email, c.code_hash, " +
                                    ms_of("c.expires_at") +
                                    ", c.attempts, c.closed_at IS NOT NULL FROM account_codes c "
                                    "JOIN customers cu ON cu.id = c.customer_id ";
        const auto kind = std::string(to_string(purpose));
        if (owner.email) {
          rows = tx.exec_params("SELECT " + columns +
                                    "WHERE lower(cu.email) = $1 AND cu.status = 'active' AND "
                                    "c.purpose = $2 ORDER BY c.id DESC LIMIT 1",
                                *owner.email, kind);
        } else {
          rows = tx.exec_params("SELECT " + columns +
                                    "WHERE cu.id = $1 AND cu.status = 'active' AND c.purpose = $2 "
                                    "ORDER BY c.id DESC LIMIT 1",
                                owner.customer_id.value_or(0), kind);
        }
        if (rows.empty()) return std::optional<Row>();
        const auto& r = rows[0];
        Row row;
        row.match = {r[0].as<std::int64_t>(), r[1].as<std::int64_t>(), r[2].as<std::string>(),
                     opt<std::string>(r[3])};
        row.hash = r[4].as<std::string>();
        row.state = {r[5].as<std::int64_t>(), r[6].as<int>(), r[7].as<bool>()};
        return std::optional<Row>(std::move(row));
      });
  if (!found.ok()) return found.error();
  if (!*found) {
    d.s.passwords.burn_time(code.value_or(""));
    return refuse(code ? "no_code" : "unreadable");
  }
  auto& row = **found;
  switch (judge_code(row.state, d.now_ms(), d.config.accounts.code_max_attempts)) {
    case CodeVerdict::kClosed:
      return refuse("closed");
    case CodeVerdict::kExpired:
      return refuse("expired");
    case CodeVerdict::kExhausted:
      return refuse("exhausted");
    case CodeVerdict::kUsable:
      break;
  }
  if (code && d.s.passwords.verify(row.hash, *code)) return row.match;
  // A wrong code counts, committed although the request is refused. Only an open code counts
  // (one that was closed meanwhile needs no more).
  auto counted =
      own_transaction<bool>(d.s.db, [&](pqxx::work& tx, bool& commit) -> StoreResult<bool> {
        tx.exec_params(
            "UPDATE account_codes SET attempts = attempts + 1 WHERE id = $1 AND closed_at IS NULL",
            row.match.code_id);
        commit = true;
        return true;
      });
  if (!counted.ok()) return counted.error();
  return refuse(code ? "wrong" : "unreadable");
}

StoreStatus complete_password_reset(DomainContext& d, pqxx::work& tx, const CodeMatch& match,
                                    std::string_view new_password) {
  auto hash = d.s.passwords.hash(new_password);
  if (!hash.ok()) return DomainError::from(hash.error());
  return guarded([&]() -> StoreStatus {
    const auto now = ts(d.now_ms());
    if (!consume_code(tx, match.code_id, now)) return invalid_code();
    tx.exec_params(
        "UPDATE customers SET password_hash = $2, updated_at = $3::timestamptz WHERE id = $1",
        match.customer_id, *hash, now);
    d.s.sessions.revoke_all(tx, AccountKind::kCustomer, match.customer_id);
    // Whoever locked the account out with wrong passwords no longer keeps its owner out.
    d.s.throttle.record_success(tx, AccountKind::kCustomer, match.email);
    return store_ok();
  });
}

StoreResult<nlohmann::json> complete_email_change(DomainContext& d, pqxx::work& tx,
                                                  const CodeMatch& match) {
  return guarded([&]() -> StoreResult<nlohmann::json> {
    const auto now = ts(d.now_ms());
    if (!match.new_email || !consume_code(tx, match.code_id, now)) return invalid_code();
    const auto taken =
        tx.exec_params("SELECT 1 FROM customers WHERE lower(email) = $1 AND id <> $2",
                       *match.new_email, match.customer_id);
    if (!taken.empty()) {
      return DomainError::conflict("email_taken", "this email is already registered");
    }
    // The unique index settles a race with a registration of the same address: guarded() makes
    // its violation a 409 already_exists.
    tx.exec_params("UPDATE customers SET email = $2, updated_at = $3::timestamptz WHERE id = $1",
                   match.customer_id, *match.new_email, now);
    const auto customer = find_customer(tx, match.customer_id);
    if (!customer) return DomainError::not_found("customer");
    return customer->to_json();
  });
}

}  // namespace reclothes::controller::domain
