// The customer's own account: checking the password of a logged-in customer (counted by the login
// throttle), changing it, one-time codes for a password reset and an email change (issued,
// limited, matched, consumed), and the code requests' limit. Erasing one's own account is
// erase_customer (management_store.h), the same function the staff erase calls.
//
// Store functions take plain values and return a StoreResult (outcome.h); nothing here knows
// HTTP. Those that take a DomainContext but no transaction work in transactions of their own,
// because what they record must outlive the refused request (a wrong password, a wrong code, a
// counted request).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <string_view>

#include "context.h"
#include "outcome.h"
#include "reclothes/controller/domain/account_rules.h"

namespace reclothes::controller::domain {

// The logged-in customer's password, checked like a login: refused at the login throttle's
// limit (per email and per address) before the check, and a wrong password counts as a failed
// login. Refusals: too_many_attempts (kResourceExhausted, details {scope, retry_after_s});
// wrong_password (kPermissionDenied).
StoreStatus check_own_password(DomainContext& d, std::int64_t customer_id, const std::string& email,
                               std::string_view password, const std::string& address);

// Sets the password and ends every session of the customer but keep_session_id; an open reset
// code closes too. Returns how many sessions ended. The caller checked the password policy and
// drops this replica's cached sessions after commit (other replicas hear of it by NOTIFY).
StoreResult<std::int64_t> change_password(DomainContext& d, pqxx::work& tx,
                                          std::int64_t customer_id, std::int64_t keep_session_id,
                                          std::string_view new_password);

// Counts a code request against the limits (requests_per_email for email_key, whether or not it
// belongs to anyone, and requests_per_address) and records it, in a transaction of its own.
// Refusal: too_many_requests (kResourceExhausted, details {scope, retry_after_s}).
StoreStatus count_code_request(DomainContext& d, CodePurpose purpose, const std::string& email_key,
                               const std::string& address);

// For an active customer with this (normalized) email: a new reset code (the open one closes)
// and a password_reset notification {code, expires_at}. For any other email the same hashing
// work and nothing written, so the answer and its time do not tell the two apart. Returns whether
// a code was issued (for the metrics only: never tell the client).
StoreResult<bool> request_password_reset(DomainContext& d, pqxx::work& tx,
                                         const std::string& email);

// A new email_change code for new_email (the open one closes) and an email_change notification
// {code, to_email, expires_at}; returns expires_at (RFC 3339). Refusal: same_email (400) when
// it is the current address. Whether new_email is taken is told only at the confirmation, to
// the holder of the code (so the request cannot probe addresses).
StoreResult<std::string> request_email_change(DomainContext& d, pqxx::work& tx,
                                              std::int64_t customer_id,
                                              const std::string& new_email);

// Whose code it is: a reset names the account by email, an email change by the session.
struct CodeOwner {
  std::optional<std::string> email;         // password_reset: the normalized email given
  std::optional<std::int64_t> customer_id;  // email_change: the logged-in customer
};

// A code that matched (not yet consumed).
struct CodeMatch {
  std::int64_t code_id = 0;
  std::int64_t customer_id = 0;
  std::string email;                     // the account's email when matched
  std::optional<std::string> new_email;  // email_change
};

// Matches a typed code (normalize_account_code; nullopt when it could not be read) against the
// owner's newest code of the purpose, in a transaction of its own: a wrong code counts an attempt
// (committed); code_max_attempts wrong codes kill it. Refusal, the same for every reason (unknown
// email, no code, wrong, used, superseded, expired, dead): invalid_code (400). The reason
// (unreadable, no_code, wrong, closed, expired, exhausted) is set in *reason for the metrics only.
StoreResult<CodeMatch> match_code(DomainContext& d, CodePurpose purpose, const CodeOwner& owner,
                                  const std::optional<std::string>& code,
                                  std::string* reason = nullptr);

// Consumes a matched reset code (single use: of two confirmations one wins), sets the password,
// ends ALL the customer's sessions and clears the account's failed-login count. Refusal:
// invalid_code when the code was consumed or closed meanwhile.
StoreStatus complete_password_reset(DomainContext& d, pqxx::work& tx, const CodeMatch& match,
                                    std::string_view new_password);

// Consumes a matched email_change code and switches the email; returns the customer's profile.
// Refusals: invalid_code as above; email_taken (409) when another account has the address (it
// does not say whose).
StoreResult<nlohmann::json> complete_email_change(DomainContext& d, pqxx::work& tx,
                                                  const CodeMatch& match);

}  // namespace reclothes::controller::domain
