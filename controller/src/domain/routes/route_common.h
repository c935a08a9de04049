// HTTP helpers shared by the domain's route modules: DomainError to the API's error body, query
// parameters, the customer-ownership denial, and each module's route registration.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "../../route_util.h"
#include "../store/context.h"
#include "../store/outcome.h"

namespace reclothes::controller::domain {

// The API error for a store's refusal: the same status, code, message and details the client has
// always seen (kNotFound 404, kInvalidArgument 400, kFailedPrecondition/kAlreadyExists 409,
// kPermissionDenied 403, anything else through ApiError::from: 503 for kUnavailable, 500).
ApiError to_api(const DomainError& e);
// As above, and: a not_owner refusal is audited and answered as 404 (not_owner() below); the
// cause of a 5xx is logged with the request id.
ApiError to_api(const Services& s, const RequestContext& ctx, const DomainError& e);

// Query-string helpers: 400 invalid_query naming the parameter.
Result<std::optional<std::int64_t>, ApiError> query_int(const RequestContext& ctx,
                                                        std::string_view name, std::int64_t min,
                                                        std::int64_t max);
ApiError invalid_query(std::string_view name, std::string problem);
// query_int into `out` (left alone when the parameter is absent), or its 400.
std::optional<ApiError> read_int_query(const RequestContext& ctx, std::string_view name,
                                       std::int64_t min, std::int64_t max,
                                       std::optional<std::int64_t>& out);

// A route handler that runs on the domain, bound to it (the domain lives as long as the routes).
using DomainHandler = HandlerResult (*)(DomainContext&, RequestContext&);
inline Handler with_domain(const std::shared_ptr<DomainContext>& d, DomainHandler handler) {
  return [d, handler](RequestContext& ctx) { return handler(*d, ctx); };
}

// Denial of a customer's access to another customer's order: 404 (ids cannot be probed), and an
// audit row (reason not_owner) in its own transaction.
ApiError not_owner(const Services& s, const RequestContext& ctx, const std::string& target_type,
                   std::int64_t id);
// The audit row of such a denial alone (actor the customer, denied, reason not_owner), for a
// route that answers its own 404: `action` on target_type `id`, with `after` as the row's after.
void audit_not_owner(const Services& s, const RequestContext& ctx, std::string action,
                     const std::string& target_type, std::int64_t id, nlohmann::json after);

// 409 illegal_transition with details {order_kind, from, event}.
inline ApiError transition_error(const TransitionError& e) {
  return to_api(DomainError::transition(e));
}

// The descriptive fields staff may write on an item or a product, each optional: title (1..200),
// description (..2000), size (..32) and condition (..64). T has those four optional strings.
template <typename T>
void read_item_description(FieldReader& r, T& out) {
  out.title = r.optional_string("title", 1, 200);
  out.description = r.optional_string("description", 0, 2000);
  out.size = r.optional_string("size", 0, 32);
  out.condition = r.optional_string("condition", 0, 64);
}

// pack_order (store/shared.h) with its refusal as the API's error (the 404/409 the packing
// completion answers), for the task routes. Defined in routes/buying_routes.cpp.
Result<std::string, ApiError> complete_packing(DomainContext& d, pqxx::work& tx,
                                               std::int64_t order_id, std::int64_t now);

// Route registration of each module.
void register_donation_routes(Router& router, const std::shared_ptr<DomainContext>& d);
void register_buying_routes(Router& router, const std::shared_ptr<DomainContext>& d);
void register_task_routes(Router& router, const std::shared_ptr<DomainContext>& d);
void register_management_routes(Router& router, const std::shared_ptr<DomainContext>& d);
void register_account_routes(Router& router, const std::shared_ptr<DomainContext>& d);
void register_location_routes(Router& router, const std::shared_ptr<DomainContext>& d);
void register_box_open_routes(Router& router, const std::shared_ptr<DomainContext>& d);
void register_notification_routes(Router& router, const std::shared_ptr<DomainContext>& d);
void register_stuck_routes(Router& router, const std::shared_ptr<DomainContext>& d);
void register_role_routes(Router& router, const std::shared_ptr<DomainContext>& d);
void register_on_behalf_routes(Router& router, const std::shared_ptr<DomainContext>& d);
void register_donor_return_routes(Router& router, const std::shared_ptr<DomainContext>& d);
void register_alarm_routes(Router& router, const std::shared_ptr<DomainContext>& d);

}  // namespace reclothes::controller::domain
