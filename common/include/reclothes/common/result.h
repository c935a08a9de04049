// Errors as values: every boundary (HAL, SQLite, MQTT, HTTP, CLI) returns Result<T> or Status.
// Exceptions thrown by libraries are caught at the boundary and turned into an Error whose message
// tells a person what happened and, where possible, what to do.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace reclothes {

enum class ErrorCode {
  kInvalidArgument,     // the caller's input is wrong (bad JSON, bad field, malformed token)
  kNotFound,            // an id that does not exist
  kAlreadyExists,       // a unique thing created twice
  kFailedPrecondition,  // the system is not in a state that allows this (illegal transition)
  kPermissionDenied,    // authenticated but not allowed
  kUnauthenticated,     // no or bad credentials
  kResourceExhausted,   // a limit was hit (size, rate, buffer)
  kDeadlineExceeded,    // timed out
  kUnavailable,         // a dependency (broker, database, device) cannot be reached; retry may help
  kIo,                  // an operating system or device call failed
  kDataLoss,            // stored data is corrupt
  kInternal,            // a bug or an unexpected library failure
};

std::string_view to_string(ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;

  // "invalid_argument: compartment 7 does not exist"
  std::string to_string() const;

  // Prefixes the message with context, keeping the code: "loading config: <message>".
  Error with_context(std::string_view context) const&;
  Error with_context(std::string_view context) &&;
};

inline Error make_error(ErrorCode code, std::string message) {
  return Error{code, std::move(message)};
}

// Result<T, E> holds either a T or an E (by default an Error). Result<void> is spelled Status.
// A module with a closed set of failure reasons (token verification) uses its own E.
template <typename T, typename E = Error>
class [[nodiscard]] Result {
 public:
  using value_type = T;
  using error_type = E;

  Result(T value)
      : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(E error)
      : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const E& error() const& {
    assert(!ok());
    return std::get<1>(v_);
  }
  E&& error() && {
    assert(!ok());
    return std::get<1>(std::move(v_));
  }

  T value_or(T fallback) const& { return ok() ? value() : std::move(fallback); }

 private:
  std::variant<T, E> v_;
};

template <typename E>
class [[nodiscard]] Result<void, E> {
 public:
  using value_type = void;
  using error_type = E;

  Result() = default;
  Result(E error) : error_(std::move(error)), ok_(false) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  void value() const { assert(ok_); }
  const E& error() const& {
    assert(!ok_);
    return error_;
  }
  E&& error() && {
    assert(!ok_);
    return std::move(error_);
  }

 private:
  E error_{};
  bool ok_ = true;
};

using Status = Result<void>;
inline Status ok_status() { return Status{}; }

}  // namespace reclothes

#define RECLOTHES_CONCAT_INNER(a, b) a##b
#define RECLOTHES_CONCAT(a, b) RECLOTHES_CONCAT_INNER(a, b)

// RC_TRY(expr): returns the error from the enclosing function if expr (a Result or Status) failed.
#define RC_TRY(expr)                                                    \
  do {                                                                  \
    auto&& rc_try_result_ = (expr);                                     \
    if (!rc_try_result_.ok()) return std::move(rc_try_result_).error(); \
  } while (false)

// RC_ASSIGN_OR_RETURN(decl, expr): `decl = value` of a successful Result, or return its error.
#define RC_ASSIGN_OR_RETURN(decl, expr) \
  RC_ASSIGN_OR_RETURN_IMPL(RECLOTHES_CONCAT(rc_assign_result_, __LINE__), decl, expr)
#define RC_ASSIGN_OR_RETURN_IMPL(tmp, decl, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return std::move(tmp).error();   \
  decl = std::move(tmp).value()
