// Small helpers shared by the route modules (private to the controller library).
#pragma once

#include <charconv>
#include <optional>
#include <string>
#include <string_view>

#include "reclothes/controller/controller.h"
#include "reclothes/controller/http.h"
#include "reclothes/controller/json_fields.h"

namespace reclothes::controller {

// Returns the invalid-field error of a reader whose finish() failed.
#define RC_FINISH_BODY(reader)                                                   \
  do {                                                                           \
    if (auto rc_field_error_ = (reader).finish()) {                              \
      return ::reclothes::controller::ApiError::invalid_field(*rc_field_error_); \
    }                                                                            \
  } while (false)

inline std::int64_t id_param(const RequestContext& ctx, std::string_view name) {
  const auto& text = ctx.param(name);
  std::int64_t v = 0;
  std::from_chars(text.data(), text.data() + text.size(), v);  // the route regex allows digits only
  return v;
}

// An Error from a store function, as the client sees it.
inline ApiError api_error(const Error& e) { return ApiError::from(e); }

inline Route route(Listener listener, HttpMethod method, std::string path, Access access,
                   std::string action, bool audited, BodyKind body, std::string summary,
                   Handler handler) {
  Route r;
  r.listener = listener;
  r.method = method;
  r.path = std::move(path);
  r.access = access;
  r.action = std::move(action);
  r.audited = audited;
  r.body = body;
  r.summary = std::move(summary);
  r.handler = std::move(handler);
  return r;
}

// The route with Route::idempotent set: it takes an Idempotency-Key header (idempotency.h).
inline Route idempotent(Route r) {
  r.idempotent = true;
  return r;
}

}  // namespace reclothes::controller
