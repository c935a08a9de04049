// Authentication: Argon2id password hashes (libsodium), opaque server-side sessions and login
// throttling. Times come from the injected Clock.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <string_view>

#include "reclothes/common/clock.h"
#include "reclothes/common/result.h"
#include "reclothes/controller/config.h"
#include "reclothes/controller/db.h"
#include "reclothes/controller/principal.h"
#include "reclothes/controller/session_cache.h"

namespace reclothes::controller {

class PasswordHasher {
 public:
  // Initialises libsodium; fails if it cannot (no entropy source).
  static Result<PasswordHasher> create(const ControllerConfig::Passwords& config);

  // "$argon2id$v=19$m=...,t=...,p=1$<salt>$<hash>" with a fresh random salt.
  Result<std::string> hash(std::string_view password) const;
  // Constant-time comparison inside libsodium; false for any malformed hash.
  bool verify(std::string_view hash, std::string_view password) const;
  // A password policy failure as a message, or nullopt if acceptable.
  std::optional<std::string> policy_problem(std::string_view password) const;
  // Verifies against a fixed hash made at start-up, so a login for an unknown email costs the
  // same time as one for a known email.
  void burn_time(std::string_view password) const;

 private:
  explicit PasswordHasher(ControllerConfig::Passwords config) : config_(config) {}
  ControllerConfig::Passwords config_;
  std::string dummy_hash_;
};

// What the request dispatcher asks to turn a bearer token into a principal (server.h). The
// controller's is SessionStore; the REST fuzzer (fuzz/fuzz_rest.cpp) has one of fixed tokens that
// needs no database.
class PrincipalResolver {
 public:
  virtual ~PrincipalResolver() = default;
  // nullopt for a token that names no valid session of `kind`; an error when it cannot be told
  // (the database is unavailable). `tx` gives the request's transaction, called only if needed.
  virtual Result<std::optional<Principal>> resolve(
      const std::function<pqxx::transaction_base&()>& tx, std::string_view token,
      AccountKind kind) const = 0;
};

struct NewSession {
  std::string token;  // 64 hex characters; shown to the client once
  std::int64_t session_id = 0;
  std::int64_t expires_ms = 0;
};

class SessionStore : public PrincipalResolver {
 public:
  SessionStore(Database& db, const Clock& clock, const ControllerConfig::Sessions& config)
      : db_(db), clock_(clock), config_(config) {}

  // Creates a session in the caller's transaction.
  NewSession create(pqxx::work& tx, AccountKind kind, std::int64_t account_id,
                    std::string_view address) const;
  // Looks a token up (own read transaction). nullopt for an unknown, expired or revoked token,
  // a token of the other account kind, or a disabled account. kUnavailable if the database is.
  Result<std::optional<Principal>> authenticate(std::string_view token, AccountKind kind) const;
  // The same lookup, one statement on the caller's transaction (the request's own connection:
  // no second pool lease and no BEGIN/COMMIT of its own).
  Result<std::optional<Principal>> authenticate(pqxx::transaction_base& tx, std::string_view token,
                                                AccountKind kind) const;
  // The request path's lookup: a customer session from the cache when it holds one (no database
  // at all), otherwise the one statement on tx() (called only then), and the answer is cached.
  Result<std::optional<Principal>> authenticate(const std::function<pqxx::transaction_base&()>& tx,
                                                std::string_view token, AccountKind kind) const;
  // The dispatcher's lookup: authenticate(tx, token, kind) above.
  Result<std::optional<Principal>> resolve(const std::function<pqxx::transaction_base&()>& tx,
                                           std::string_view token,
                                           AccountKind kind) const override {
    return authenticate(tx, token, kind);
  }
  // The console's CSRF token of a session: derived from the session token (SHA-256 of a
  // domain-separated copy), so it needs no storage, dies with the session and cannot be
  // computed by a page that cannot read the HttpOnly cookie.
  static std::string csrf_token(std::string_view session_token);
  void revoke(pqxx::work& tx, std::int64_t session_id) const;
  void revoke_all(pqxx::work& tx, AccountKind kind, std::int64_t account_id) const;
  // After a committed change to an account's sessions or account row: this replica forgets what
  // it cached for the account, before it answers (other replicas hear of it by NOTIFY).
  void forget_cached(AccountKind kind, std::int64_t account_id) const {
    if (cache_ != nullptr) cache_->forget_account(kind, account_id);
  }
  // The cache of customer sessions, or nullptr (sessions.cache_ttl_ms = 0). Not owned.
  void set_cache(SessionCache* cache) { cache_ = cache; }

  // The SHA-256 of a token, as stored.
  static std::string token_digest(std::string_view token);

 private:
  Database& db_;
  const Clock& clock_;
  ControllerConfig::Sessions config_;
  SessionCache* cache_ = nullptr;
};

struct ThrottleDecision {
  bool allowed = true;
  std::int64_t retry_after_s = 0;
  std::string scope;  // "account" or "address" when refused
};

// Counts failed logins in a sliding window, per account (the email tried, whether or not it
// exists) and per client address, in the database so that replicas share the counts.
class LoginThrottle {
 public:
  LoginThrottle(const Clock& clock, const ControllerConfig::Throttle& config)
      : clock_(clock), config_(config) {}

  ThrottleDecision check(pqxx::work& tx, AccountKind scope, std::string_view account_key,
                         std::string_view address) const;
  void record_failure(pqxx::work& tx, AccountKind scope, std::string_view account_key,
                      std::string_view address) const;
  // A successful login forgets the account's failures (the per-address count stays, so one
  // address cannot alternate a known good account with guesses at others).
  void record_success(pqxx::work& tx, AccountKind scope, std::string_view account_key) const;

 private:
  const Clock& clock_;
  ControllerConfig::Throttle config_;
};

}  // namespace reclothes::controller
