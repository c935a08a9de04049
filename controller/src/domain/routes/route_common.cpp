// HTTP helpers shared by the domain's route modules.
#include "route_common.h"

#include <charconv>

namespace reclothes::controller::domain {

ApiError to_api(const DomainError& e) {
  switch (e.kind) {
    case ErrorCode::kNotFound:
      return ApiError{404, e.code, e.message, e.details, std::nullopt};
    case ErrorCode::kInvalidArgument:
      return ApiError{400, e.code, e.message, e.details, std::nullopt};
    case ErrorCode::kAlreadyExists:
    case ErrorCode::kFailedPrecondition:
      return ApiError{409, e.code, e.message, e.details, std::nullopt};
    case ErrorCode::kPermissionDenied:
      return ApiError{403, e.code, e.message, e.details, std::nullopt};
    default:
      return ApiError::from(Error{e.kind, e.cause.empty() ? e.message : e.cause});
  }
}

ApiError to_api(const Services& s, const RequestContext& ctx, const DomainError& e) {
  if (e.is_not_owner()) return not_owner(s, ctx, e.message, e.not_owner_id());
  if (!e.cause.empty()) {
    s.log.error("store error", {{"request_id", ctx.request_id()}, {"error", e.cause}});
  }
  return to_api(e);
}

ApiError invalid_query(std::string_view name, std::string problem) {
  return ApiError::bad_request("invalid_query",
                               "query parameter " + std::string(name) + ": " + problem,
                               {{"parameter", name}, {"problem", problem}});
}

Result<std::optional<std::int64_t>, ApiError> query_int(const RequestContext& ctx,
                                                        std::string_view name, std::int64_t min,
                                                        std::int64_t max) {
  const auto v = ctx.query(name);
  if (!v) return std::optional<std::int64_t>();
  std::int64_t n = 0;
  const auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (ec != std::errc() || p != v->data() + v->size()) {
    return invalid_query(name, "expected an integer");
  }
  if (n < min || n > max) {
    return invalid_query(name,
                         "must be between " + std::to_string(min) + " and " + std::to_string(max));
  }
  return std::optional<std::int64_t>(n);
}

std::optional<ApiError> read_int_query(const RequestContext& ctx, std::string_view name,
                                       std::int64_t min, std::int64_t max,
                                       std::optional<std::int64_t>& out) {
  auto v = query_int(ctx, name, min, max);
  if (!v.ok()) return std::move(v).error();
  out = *v;
  return std::nullopt;
}

void audit_not_owner(const Services& s, const RequestContext& ctx, std::string action,
                     const std::string& target_type, std::int64_t id, nlohmann::json after) {
  AuditEntry e;
  e.actor_kind = "customer";
  e.actor_id = ctx.principal().account_id;
  e.action = std::move(action);
  e.target_type = target_type;
  e.target_id = std::to_string(id);
  e.after = std::move(after);
  e.address = ctx.address();
  e.request_id = ctx.request_id();
  e.denied = true;
  e.reason = "not_owner";
  if (auto st = s.audit.write_own(e); !st.ok()) {
    s.log.error("audit write failed", {{"request_id", ctx.request_id()}});
  }
}

ApiError not_owner(const Services& s, const RequestContext& ctx, const std::string& target_type,
                   std::int64_t id) {
  audit_not_owner(s, ctx, target_type + ".read", target_type, id, nullptr);
  return ApiError::not_found(target_type);
}

}  // namespace reclothes::controller::domain
