// What a store function returns instead of throwing: a value, or a DomainError that says why not.
//
// Inside the store, statements throw (libpqxx does); every store function that a route, an event
// hook or the worker calls is an edge that catches with guarded() and returns a DomainError with
// a message a person can act on. The routes turn a DomainError into the API's error body
// (routes/route_common.h: to_api); nothing here knows HTTP.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "reclothes/common/result.h"
#include "reclothes/controller/db.h"
#include "reclothes/controller/domain/state_machines.h"

namespace reclothes::controller::domain {

struct DomainError {
  // kNotFound, kFailedPrecondition (a conflict with the current state), kInvalidArgument,
  // kPermissionDenied, kUnavailable (retry), kInternal (a bug or an unexpected library failure).
  ErrorCode kind = ErrorCode::kInternal;
  // Stable snake_case reason the API shows as its error code ("no_compartment_available").
  std::string code;
  std::string message;
  nlohmann::json details = nlohmann::json::object();
  // For kInternal and kUnavailable: what went wrong below (logged, never shown to clients).
  std::string cause;

  // "<what> not found", code not_found.
  static DomainError not_found(std::string what);
  // The resource exists but belongs to another customer. The route answers it like a missing id
  // (so ids cannot be probed) and audits the attempt; target names the resource ("donation").
  static DomainError not_owner(std::string target, std::int64_t id);
  static DomainError conflict(std::string code, std::string message,
                              nlohmann::json details = nlohmann::json::object());
  static DomainError invalid(std::string code, std::string message,
                             nlohmann::json details = nlohmann::json::object());
  static DomainError forbidden(std::string code, std::string message);
  // illegal_transition with details {order_kind, from, event}.
  static DomainError transition(const TransitionError& e);
  // A failure below the domain (database, provider): kUnavailable stays retryable.
  static DomainError from(const Error& e);
  // What guarded() makes of an exception, answered as the HTTP server answers one a handler
  // throws: a unique violation 409 already_exists "the resource already exists", kUnavailable
  // (serialisation failure, lost connection) 503, anything else kInternal (500). The library's
  // text is kept in cause for the log only.
  static DomainError from_exception(const Error& e);

  bool is_not_owner() const { return code == "not_owner"; }
  std::int64_t not_owner_id() const { return details.value("id", std::int64_t{0}); }
};

template <typename T>
using StoreResult = Result<T, DomainError>;
using StoreStatus = Result<void, DomainError>;

inline StoreStatus store_ok() { return StoreStatus(); }

// Runs fn (which returns a StoreResult) and turns any exception it throws into a DomainError
// (database errors through error_from_exception: serialisation failures and lost connections stay
// kUnavailable, so the client is told to retry).
template <typename F>
auto guarded(F&& fn) -> decltype(fn()) {
  try {
    return std::forward<F>(fn)();
  } catch (...) {
    return DomainError::from_exception(error_from_exception(std::current_exception()));
  }
}

}  // namespace reclothes::controller::domain

// Returns the DomainError of a StoreResult/StoreStatus expression from the enclosing function.
#define RC_STORE_TRY(expr)                                       \
  do {                                                           \
    auto rc_store_status_ = (expr);                              \
    if (!rc_store_status_.ok()) return rc_store_status_.error(); \
  } while (false)
