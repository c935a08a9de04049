#include "reclothes/controller/auth.h"

#include <sodium.h>

#include <algorithm>

#include "reclothes/common/bytes.h"

namespace reclothes::controller {

std::string_view to_string(AccountKind kind) {
  return kind == AccountKind::kStaff ? "staff" : "customer";
}

Result<PasswordHasher> PasswordHasher::create(const ControllerConfig::Passwords& config) {
  if (sodium_init() < 0) {
    return make_error(ErrorCode::kInternal, "libsodium could not be initialised");
  }
  if (config.opslimit < crypto_pwhash_argon2id_OPSLIMIT_MIN ||
      config.memlimit < crypto_pwhash_argon2id_MEMLIMIT_MIN) {
    return make_error(ErrorCode::kInvalidArgument, "Argon2id limits below libsodium's minimum");
  }
  PasswordHasher h(config);
  auto dummy = h.hash("reclothes-dummy-password");
  if (!dummy.ok()) return std::move(dummy).error();
  h.dummy_hash_ = std::move(dummy).value();
  return h;
}

Result<std::string> PasswordHasher::hash(std::string_view password) const {
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), config_.opslimit,
                            config_.memlimit, crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return make_error(ErrorCode::kResourceExhausted,
                      "password hashing failed (out of memory for the Argon2id memory limit)");
  }
  return std::string(out);
}

bool PasswordHasher::verify(std::string_view hash, std::string_view password) const {
  if (hash.size() >= crypto_pwhash_STRBYTES) return false;
  char buf[crypto_pwhash_STRBYTES] = {};
  std::copy(hash.begin(), hash.end(), buf);
  return crypto_pwhash_str_verify(buf, password.data(), password.size()) == 0;
}

void PasswordHasher::burn_time(std::string_view password) const {
  (void)verify(dummy_hash_, password);
}

std::optional<std::string> PasswordHasher::policy_problem(std::string_view password) const {
  if (password.size() < config_.min_length) {
    return "must be at least " + std::to_string(config_.min_length) + " characters";
  }
  if (password.size() > 1024) return "must be at most 1024 characters";
  return std::nullopt;
}

std::string SessionStore::token_digest(std::string_view token) {
  std::uint8_t out[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(out, reinterpret_cast<const unsigned char*>(token.data()), token.size());
  return to_hex(out);
}

std::string SessionStore::csrf_token(std::string_view session_token) {
  std::string input = "reclothes-console-csrf:";
  input += session_token;
  return token_digest(input);
}

NewSession SessionStore::create(pqxx::work& tx, AccountKind kind, std::int64_t account_id,
                                std::string_view address) const {
  auto random = random_bytes(32);
  if (!random.ok()) throw std::runtime_error(random.error().message);
  NewSession s;
  s.token = to_hex(*random);
  const auto now = clock_.wall_ms();
  const auto ttl = kind == AccountKind::kStaff ? config_.staff_ttl : config_.customer_ttl;
  s.expires_ms = now + std::chrono::duration_cast<std::chrono::milliseconds>(ttl).count();
  const auto row = tx.exec_params1(
      "INSERT INTO sessions (token_sha256, account_kind, account_id, created_at, expires_at, "
      "address) VALUES (decode($1, 'hex'), $2, $3, $4::timestamptz, $5::timestamptz, $6) "
      "RETURNING id",
      token_digest(s.token), std::string(to_string(kind)), account_id, ts(now), ts(s.expires_ms),
      std::string(address));
  s.session_id = row[0].as<std::int64_t>();
  return s;
}

namespace {
bool plausible_token(std::string_view token) {
  // Tokens are 64 hex characters; anything else cannot be ours, and is not worth a query.
  return token.size() == 64 && std::all_of(token.begin(), token.end(), [](char c) {
           return std::isxdigit(static_cast<unsigned char>(c));
         });
}

// The principal of a session row whose first columns are session id, account id, expiry (ms) and
// email.
Principal session_principal(const pqxx::row& row, AccountKind kind) {
  Principal p;
  p.kind = kind;
  p.session_id = row[0].as<std::int64_t>();
  p.account_id = row[1].as<std::int64_t>();
  p.session_expires_ms = row[2].as<std::int64_t>();
  p.email = row[3].as<std::string>();
  return p;
}

// Calls fn with each non-empty item of a comma-separated list.
template <typename F>
void for_each_csv(std::string_view csv, F&& fn) {
  std::size_t start = 0;
  while (start < csv.size()) {
    auto end = csv.find(',', start);
    if (end == std::string_view::npos) end = csv.size();
    if (end > start) fn(csv.substr(start, end - start));
    start = end + 1;
  }
}

}  // namespace

Result<std::optional<Principal>> SessionStore::authenticate(std::string_view token,
                                                            AccountKind kind) const {
  if (!plausible_token(token)) return std::optional<Principal>{};
  auto lease = db_.acquire();
  if (!lease.ok()) return std::move(lease).error();
  pqxx::nontransaction tx(lease->conn());
  auto result = authenticate(tx, token, kind);
  if (!result.ok() && !lease->conn().is_open()) lease->discard();
  return result;
}

Result<std::optional<Principal>> SessionStore::authenticate(pqxx::transaction_base& tx,
                                                            std::string_view token,
                                                            AccountKind kind) const {
  if (!plausible_token(token)) return std::optional<Principal>{};
  const auto digest = token_digest(token);
  const auto now = ts(clock_.wall_ms());
  try {
    std::optional<Principal> out;
    if (kind == AccountKind::kCustomer) {
      static const std::string kSql =
          "SELECT s.id, s.account_id, " + ms_of("s.expires_at") +
          ", c.email FROM sessions s JOIN customers c ON c.id = s.account_id "
          "WHERE s.token_sha256 = decode($1, 'hex') AND s.account_kind = 'customer' AND "
          "s.revoked_at IS NULL AND s.expires_at > $2::timestamptz AND c.status = 'active'";
      const auto rows = exec_hot(tx, "auth_customer_session", kSql, digest, now);
      if (rows.empty()) return out;
      out = session_principal(rows[0], kind);
      return out;
    }
    // The roles held and the permissions they grant, from the role tables (migration 0017):
    // read on every request, so a change to a role or an assignment holds at once everywhere.
    static const std::string kSql =
        "SELECT s.id, s.account_id, " + ms_of("s.expires_at") +
        ", st.email, COALESCE((SELECT string_agg(role, ',') FROM staff_roles r "
        "WHERE r.staff_id = st.id), ''), COALESCE((SELECT string_agg(DISTINCT rp.permission, ',') "
        "FROM staff_roles r JOIN role_permissions rp ON rp.role = r.role "
        "WHERE r.staff_id = st.id), '') FROM sessions s JOIN staff st ON st.id = s.account_id "
        "WHERE s.token_sha256 = decode($1, 'hex') AND s.account_kind = 'staff' AND "
        "s.revoked_at IS NULL AND s.expires_at > $2::timestamptz AND st.active";
    const auto rows = exec_hot(tx, "auth_staff_session", kSql, digest, now);
    if (rows.empty()) return out;
    Principal p = session_principal(rows[0], kind);
    for_each_csv(rows[0][4].as<std::string>(), [&p](std::string_view name) {
      if (auto r = role_from_string(name)) {
        p.roles.push_back(*r);
      } else {
        p.custom_roles.emplace_back(name);
      }
    });
    std::sort(p.roles.begin(), p.roles.end());
    std::sort(p.custom_roles.begin(), p.custom_roles.end());
    for_each_csv(rows[0][5].as<std::string>(), [&p](std::string_view name) {
      if (auto perm = permission_from_string(name))
        p.permissions.set(static_cast<std::size_t>(*perm));
    });
    // super_admin holds every permission, whatever the rows say.
    if (std::find(p.roles.begin(), p.roles.end(), Role::kSuperAdmin) != p.roles.end()) {
      p.permissions.set();
    }
    out = std::move(p);
    return out;
  } catch (...) {
    return error_from_exception(std::current_exception());
  }
}

Result<std::optional<Principal>> SessionStore::authenticate(
    const std::function<pqxx::transaction_base&()>& tx, std::string_view token,
    AccountKind kind) const {
  if (cache_ == nullptr || kind != AccountKind::kCustomer || !plausible_token(token)) {
    return authenticate(tx(), token, kind);
  }
  auto digest = token_digest(token);
  const auto now = clock_.wall_ms();
  if (auto hit = cache_->find(digest, now)) return std::optional<Principal>(std::move(*hit));
  // Taken before the read: an invalidation that lands while the statement runs makes put()
  // drop what the statement saw.
  const auto generation = cache_->generation();
  auto result = authenticate(tx(), token, kind);
  if (result.ok() && result->has_value()) {
    cache_->put(std::move(digest), **result, generation, now);
  }
  return result;
}

void SessionStore::revoke(pqxx::work& tx, std::int64_t session_id) const {
  tx.exec_params(
      "UPDATE sessions SET revoked_at = $2::timestamptz WHERE id = $1 AND "
      "revoked_at IS NULL",
      session_id, ts(clock_.wall_ms()));
}

void SessionStore::revoke_all(pqxx::work& tx, AccountKind kind, std::int64_t account_id) const {
  tx.exec_params(
      "UPDATE sessions SET revoked_at = $3::timestamptz WHERE account_kind = $1 AND "
      "account_id = $2 AND revoked_at IS NULL",
      std::string(to_string(kind)), account_id, ts(clock_.wall_ms()));
}

ThrottleDecision LoginThrottle::check(pqxx::work& tx, AccountKind scope,
                                      std::string_view account_key,
                                      std::string_view address) const {
  const auto now = clock_.wall_ms();
  const auto window_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(config_.window).count();
  const auto since = ts(now - window_ms);
  // For each dimension: how many failures are in the window and when the one that would have
  // to expire (to get back under the limit) entered it.
  const auto probe = [&](const std::string& where, const std::string& key, int limit,
                         const std::string& name) -> std::optional<ThrottleDecision> {
    const auto rows =
        tx.exec_params("SELECT " + ms_of("at") + " FROM login_failures WHERE " + where +
                           " AND at > $2::timestamptz ORDER BY at DESC OFFSET $3 LIMIT 1",
                       key, since, limit - 1);
    if (rows.empty()) return std::nullopt;  // fewer than `limit` failures in the window
    const auto oldest_relevant = rows[0][0].as<std::int64_t>();
    ThrottleDecision d;
    d.allowed = false;
    d.scope = name;
    d.retry_after_s = std::max<std::int64_t>(1, (oldest_relevant + window_ms - now + 999) / 1000);
    return d;
  };
  if (auto d = probe("scope = '" + std::string(to_string(scope)) +
                         "' AND account_key = $1 AND NOT account_cleared",
                     std::string(account_key), config_.max_failures_per_account, "account")) {
    return *d;
  }
  if (auto d = probe("address = $1", std::string(address), config_.max_failures_per_address,
                     "address")) {
    return *d;
  }
  return {};
}

void LoginThrottle::record_failure(pqxx::work& tx, AccountKind scope, std::string_view account_key,
                                   std::string_view address) const {
  const auto now = clock_.wall_ms();
  tx.exec_params(
      "INSERT INTO login_failures (scope, account_key, address, at) VALUES ($1, $2, "
      "$3, $4::timestamptz)",
      std::string(to_string(scope)), std::string(account_key), std::string(address), ts(now));
  // Keep the table small: rows older than the window no longer count.
  const auto window_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(config_.window).count();
  tx.exec_params("DELETE FROM login_failures WHERE at < $1::timestamptz", ts(now - 2 * window_ms));
}

void LoginThrottle::record_success(pqxx::work& tx, AccountKind scope,
                                   std::string_view account_key) const {
  tx.exec_params(
      "UPDATE login_failures SET account_cleared = true WHERE scope = $1 AND "
      "account_key = $2 AND NOT account_cleared",
      std::string(to_string(scope)), std::string(account_key));
}

}  // namespace reclothes::controller
