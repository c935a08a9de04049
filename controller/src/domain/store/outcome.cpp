#include "outcome.h"

namespace reclothes::controller::domain {

DomainError DomainError::not_found(std::string what) {
  return DomainError{ErrorCode::kNotFound, "not_found", std::move(what) + " not found",
                     nlohmann::json::object(), ""};
}

DomainError DomainError::not_owner(std::string target, std::int64_t id) {
  return DomainError{ErrorCode::kNotFound, "not_owner", std::move(target), {{"id", id}}, ""};
}

DomainError DomainError::conflict(std::string code, std::string message, nlohmann::json details) {
  return DomainError{ErrorCode::kFailedPrecondition, std::move(code), std::move(message),
                     std::move(details), ""};
}

DomainError DomainError::invalid(std::string code, std::string message, nlohmann::json details) {
  return DomainError{ErrorCode::kInvalidArgument, std::move(code), std::move(message),
                     std::move(details), ""};
}

DomainError DomainError::forbidden(std::string code, std::string message) {
  return DomainError{ErrorCode::kPermissionDenied, std::move(code), std::move(message),
                     nlohmann::json::object(), ""};
}

DomainError DomainError::transition(const TransitionError& e) {
  return conflict("illegal_transition", e.message(),
                  {{"order_kind", e.order_kind}, {"from", e.from}, {"event", e.event}});
}

DomainError DomainError::from(const Error& e) {
  switch (e.code) {
    case ErrorCode::kNotFound:
      return DomainError{e.code, "not_found", e.message, nlohmann::json::object(), ""};
    case ErrorCode::kInvalidArgument:
      return DomainError{e.code, "invalid_argument", e.message, nlohmann::json::object(), ""};
    case ErrorCode::kAlreadyExists:
      return DomainError{e.code, "already_exists", e.message, nlohmann::json::object(), ""};
    case ErrorCode::kFailedPrecondition:
      return DomainError{e.code, "failed_precondition", e.message, nlohmann::json::object(), ""};
    case ErrorCode::kPermissionDenied:
      return DomainError{e.code, "forbidden", e.message, nlohmann::json::object(), ""};
    default:
      return DomainError{e.code, "", e.message, nlohmann::json::object(), e.message};
  }
}

DomainError DomainError::from_exception(const Error& e) {
  if (e.code == ErrorCode::kAlreadyExists) {
    return DomainError{e.code, "already_exists", "the resource already exists",
                       nlohmann::json::object(), e.message};
  }
  const auto kind = e.code == ErrorCode::kUnavailable ? e.code : ErrorCode::kInternal;
  return DomainError{kind, "", e.message, nlohmann::json::object(), e.message};
}

}  // namespace reclothes::controller::domain
