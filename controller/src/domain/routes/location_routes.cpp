// Location routes: the public drop-off point search (GET /v1/locations, no session) and the staff
// edit of a location's coordinates and opening notes. The handlers read and check the query or
// body, call the location store (store/location_store.h) and answer; every statement is in the
// store.
#include "../store/location_store.h"
#include "reclothes/controller/domain/rules.h"
#include "route_common.h"

namespace reclothes::controller::domain {
namespace {

constexpr std::int64_t kLocationDefaultRadiusM = 10'000;
constexpr std::int64_t kLocationMaxRadiusM = 1'000'000;

Result<LocationQuery, ApiError> location_query(const RequestContext& ctx) {
  LocationQuery q;
  if (auto near = ctx.query("near")) {
    auto point = parse_geo_point(*near);
    if (!point.ok()) return invalid_query("near", point.error().message);
    q.near = *point;
  }
  std::optional<std::int64_t> radius, limit, offset;
  if (auto e = read_int_query(ctx, "radius_m", 1, kLocationMaxRadiusM, radius)) return *e;
  if (radius && !q.near) return invalid_query("radius_m", "needs near=lat,lon");
  q.radius_m = static_cast<double>(radius.value_or(kLocationDefaultRadiusM));
  if (auto size = ctx.query("size")) {
    bool known = false;
    for (const auto s : all_size_classes()) known = known || s == *size;
    if (!known) return invalid_query("size", "must be S, M, L or XL");
    q.size = *size;
  }
  if (auto e = read_int_query(ctx, "limit", 1, 100, limit)) return *e;
  if (auto e = read_int_query(ctx, "offset", 0, 1000000, offset)) return *e;
  q.limit = limit.value_or(20);
  q.offset = offset.value_or(0);
  return q;
}

HandlerResult find_locations(const DomainContext& d, RequestContext& ctx) {
  auto q = location_query(ctx);
  if (!q.ok()) return std::move(q).error();
  auto page = search_locations(ctx.read(), *q, d.now_ms());
  if (!page.ok()) return to_api(d.s, ctx, page.error());
  nlohmann::json body = {
      {"items", page->items}, {"total", page->total}, {"limit", q->limit}, {"offset", q->offset}};
  if (q->near) {
    body["near"] = {{"lat", q->near->lat}, {"lon", q->near->lon}};
    body["radius_m"] = static_cast<std::int64_t>(q->radius_m);
  }
  return Response::ok(std::move(body));
}

HandlerResult edit_location(const DomainContext& d, RequestContext& ctx) {
  FieldReader r(ctx.body());
  const auto lat = r.optional_number("lat", -90, 90);
  const auto lon = r.optional_number("lon", -180, 180);
  LocationEdit edit;
  edit.opening_notes = r.optional_string("opening_notes", 0, 1000);
  if (r.ok() && lat.has_value() != lon.has_value()) {
    r.fail(lat ? "lon" : "lat", "give lat and lon together");
  }
  RC_FINISH_BODY(r);
  if (lat) edit.at = GeoPoint{*lat, *lon};
  if (!edit.at && !edit.opening_notes) {
    return ApiError::invalid_field(
        {"", "nothing to change: give lat and lon, opening_notes or both"});
  }
  const auto id = id_param(ctx, "location_id");
  ctx.set_audit({"location", std::to_string(id), nullptr, nullptr, ""});
  auto change = update_location(ctx.tx(), id, edit, d.now_ms());
  if (!change.ok()) return to_api(d.s, ctx, change.error());
  ctx.set_audit({"location", std::to_string(id), change->before, change->after, ""});
  return Response::ok(change->after);
}

}  // namespace

void register_location_routes(Router& router, const std::shared_ptr<DomainContext>& dp) {
  using L = Listener;
  using M = HttpMethod;
  using P = Permission;
  auto d = dp;

  router.add(route(L::kPublic, M::kGet, "/v1/locations", Access::anyone(), "location.find", false,
                   BodyKind::kNone,
                   "Find a drop-off point: locations with their active boxes, online state and "
                   "free compartments per size; near a point, by size; paged",
                   [d](RequestContext& ctx) { return find_locations(*d, ctx); }));

  router.add(route(L::kInternal, M::kPatch, "/internal/v1/locations/{location_id}",
                   Access::needs(P::kFleetWrite), "location.update", true, BodyKind::kRequired,
                   "Set a location's coordinates and opening notes (audited before/after)",
                   [d](RequestContext& ctx) { return edit_location(*d, ctx); }));
}

}  // namespace reclothes::controller::domain
