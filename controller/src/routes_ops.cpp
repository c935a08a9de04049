// Operations (/healthz, /readyz, /metrics, /openapi.json) and the audit query.
#include "reclothes/controller/embedded.h"
#include "route_util.h"

namespace reclothes::controller {

void register_ops_routes(Router& router, const Services& s) {
  using L = Listener;
  using M = HttpMethod;

  router.add(route(L::kBoth, M::kGet, "/healthz", Access::anyone(), "ops.health", false,
                   BodyKind::kNone, "Liveness: the process serves requests (no dependencies)",
                   [](RequestContext&) -> HandlerResult {
                     return Response::ok({{"status", "ok"}});
                   }));

  router.add(route(L::kBoth, M::kGet, "/readyz", Access::anyone(), "ops.ready", false,
                   BodyKind::kNone, "Readiness: the database answers and the broker is connected",
                   [&s](RequestContext&) -> HandlerResult {
                     const bool db_ok = s.db.ping().ok();
                     const bool broker_ok = s.messaging.connected();
                     nlohmann::json details = {{"database", db_ok ? "ok" : "down"},
                                               {"broker", broker_ok ? "ok" : "down"}};
                     if (db_ok && broker_ok)
                       return Response::ok({{"status", "ready"}, {"checks", details}});
                     return ApiError{503, "not_ready", "a dependency is down", details, 5};
                   }));

  router.add(route(
      L::kInternal, M::kGet, "/metrics", Access::anyone(), "ops.metrics", false, BodyKind::kNone,
      "Prometheus metrics (text exposition format)", [&s](RequestContext&) -> HandlerResult {
        return Response::text(200, s.metrics.scrape(), "text/plain; version=0.0.4; charset=utf-8");
      }));

  router.add(
      route(L::kBoth, M::kGet, "/openapi.json", Access::anyone(), "ops.openapi", false,
            BodyKind::kNone, "This API's OpenAPI 3 document", [](RequestContext&) -> HandlerResult {
              return Response::text(200, std::string(embedded::openapi_json()), "application/json");
            }));

  router.add(
      route(L::kInternal, M::kGet, "/internal/v1/audit", Access::needs(Permission::kAuditRead),
            "audit.query", false, BodyKind::kNone,
            "Query the audit log (filters: actor_kind, actor_id, action, target_type, target_id, "
            "outcome, from, to; paging: limit, before_id)",
            [&s](RequestContext& ctx) -> HandlerResult {
              AuditQuery q;
              const auto bad = [](const std::string& name, const std::string& problem) {
                return ApiError::bad_request("invalid_query", name + ": " + problem,
                                             {{"parameter", name}, {"problem", problem}});
              };
              const auto integer =
                  [&](const std::string& name, std::int64_t min,
                      std::int64_t max) -> Result<std::optional<std::int64_t>, ApiError> {
                auto v = ctx.query(name);
                if (!v) return std::optional<std::int64_t>{};
                std::int64_t n = 0;
                const auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
                if (v->empty() || ec != std::errc{} || end != v->data() + v->size() || n < min ||
                    n > max) {
                  return bad(name, "expected an integer between " + std::to_string(min) + " and " +
                                       std::to_string(max));
                }
                return std::optional<std::int64_t>(n);
              };
              const auto time =
                  [&](const std::string& name) -> Result<std::optional<std::int64_t>, ApiError> {
                auto v = ctx.query(name);
                if (!v) return std::optional<std::int64_t>{};
                auto t = parse_ts(*v);
                if (!t) return bad(name, "expected an RFC 3339 UTC time like 2026-01-01T00:00:00Z");
                return std::optional<std::int64_t>(t);
              };
              q.actor_kind = ctx.query("actor_kind");
              q.action = ctx.query("action");
              q.target_type = ctx.query("target_type");
              q.target_id = ctx.query("target_id");
              q.outcome = ctx.query("outcome");
              if (q.outcome && *q.outcome != "ok" && *q.outcome != "denied") {
                return bad("outcome", "must be ok or denied");
              }
              auto actor = integer("actor_id", 1, INT64_MAX);
              if (!actor.ok()) return actor.error();
              q.actor_id = *actor;
              auto before = integer("before_id", 1, INT64_MAX);
              if (!before.ok()) return before.error();
              q.before_id = *before;
              auto limit = integer("limit", 1, 200);
              if (!limit.ok()) return limit.error();
              q.limit = static_cast<int>(limit->value_or(50));
              auto from = time("from");
              if (!from.ok()) return from.error();
              q.from_ms = *from;
              auto to = time("to");
              if (!to.ok()) return to.error();
              q.to_ms = *to;
              auto page = s.audit.query(ctx.tx(), q);
              if (!page.ok()) return api_error(page.error());
              return Response::ok(*page);
            }));
}

}  // namespace reclothes::controller
