// Fleet: drop-off locations, boxes, compartments, maintenance, remote open (internal listener).
#include <cstdint>

#include "domain/routes/route_common.h"
#include "reclothes/controller/fleet.h"
#include "route_util.h"

namespace reclothes::controller {
namespace {

// Locks the box row: 404 if unknown, 409 if decommissioned.
std::optional<ApiError> require_box(RequestContext& ctx, const std::string& box_id) {
  const auto status = lock_box(ctx.tx(), box_id);
  if (!status) return ApiError::not_found("box " + box_id);
  if (*status == "decommissioned") {
    return ApiError::conflict("box_decommissioned", "box " + box_id + " is decommissioned");
  }
  return std::nullopt;
}

// GET /internal/v1/boxes: the filters and the page from the query string, each checked (400
// invalid_query naming the parameter).
HandlerResult list_boxes_handler(RequestContext& ctx) {
  using domain::invalid_query;
  using domain::read_int_query;
  BoxFilter f;
  if (auto e = read_int_query(ctx, "location_id", 1, INT64_MAX, f.location_id)) return *e;
  std::optional<std::int64_t> page;
  if (auto e = read_int_query(ctx, "page", 1, 1000000, page)) return *e;
  if (auto e = read_int_query(ctx, "page_size", 1, kMaxBoxPageSize, f.page_size)) return *e;
  f.page = page.value_or(1);
  f.state = ctx.query("state").value_or("");
  if (!is_box_state_filter(f.state)) {
    return invalid_query("state", "must be online, offline, maintenance or decommissioned");
  }
  f.fault = ctx.query("fault").value_or("");
  if (!f.fault.empty() && f.fault != "any" && f.fault != "none" && !is_fault_kind(f.fault)) {
    return invalid_query("fault",
                         "must be any, none or a fault kind (jammed, forced, ajar, tamper, "
                         "out_of_service, unlock_unknown)");
  }
  f.search = ctx.query("q").value_or("");
  if (f.search.size() > kMaxBoxIdLength) {
    return invalid_query("q", "at most " + std::to_string(kMaxBoxIdLength) + " characters");
  }
  return Response::ok(list_boxes(ctx.read(), f));
}

HandlerResult register_box_handler(const Services& s, RequestContext& ctx) {
  FieldReader r(ctx.body());
  const auto box_id = r.string("box_id", 1, kMaxBoxIdLength);
  const auto location_id = r.optional_integer("location_id", 1, INT64_MAX);
  std::vector<CompartmentSpec> compartments;
  if (const auto* arr = r.array("compartments", true, 1, 255)) {
    for (std::size_t i = 0; i < arr->size() && r.ok(); ++i) {
      FieldReader c((*arr)[i], r.pointer("compartments") + "/" + std::to_string(i));
      const auto number = c.integer("number", 1, 255);
      const auto size = c.string("size", 1, 2);
      if (c.ok() && !is_valid_size_class(size)) c.fail("size", "must be S, M, L or XL");
      c.finish();
      r.merge(c);
      compartments.push_back({static_cast<int>(number), size});
    }
  }
  RC_FINISH_BODY(r);
  if (!is_valid_box_id(box_id)) {
    return ApiError::invalid_field({"/box_id", "must be 1..32 characters of [A-Za-z0-9_-]"});
  }
  ctx.set_audit({"box", box_id, nullptr, nullptr, ""});
  auto box = register_box(ctx.tx(), box_id, location_id, compartments, s.clock.wall_ms());
  if (!box.ok()) {
    if (box.error().code == ErrorCode::kAlreadyExists) {
      return ApiError::conflict("box_exists", box.error().message);
    }
    return api_error(box.error());
  }
  ctx.set_audit({"box", box_id, nullptr, *box_summary(ctx.tx(), box_id), ""});
  ctx.after_commit([&s, box_id] { s.messaging.publish_config(box_id); });
  return Response::created(*box);
}

HandlerResult open_handler(const Services& s, RequestContext& ctx) {
  FieldReader r(ctx.body());
  const auto reason = r.optional_string("reason", 0, 500);
  RC_FINISH_BODY(r);
  const auto& box_id = ctx.param("box_id");
  const auto number = static_cast<int>(id_param(ctx, "number"));
  ctx.set_audit({"compartment", box_id + "/" + std::to_string(number), nullptr, nullptr,
                 reason.value_or("")});
  if (auto e = require_box(ctx, box_id)) return *e;
  if (!compartment_exists(ctx.tx(), box_id, number)) {
    return ApiError::not_found("compartment " + std::to_string(number) + " of box " + box_id);
  }
  // A command to an offline box would wait in the broker and open the door at some unknown
  // later time; refuse instead.
  if (!box_online(ctx.tx(), box_id)) {
    return ApiError::conflict("box_offline", "box " + box_id + " is offline");
  }
  const auto cmd = create_open_command(ctx.tx(), box_id, number, reason.value_or(""),
                                       ctx.principal().account_id, s.clock.wall_ms());
  ctx.set_audit({"compartment",
                 box_id + "/" + std::to_string(number),
                 nullptr,
                 {{"command_id", cmd.id}, {"op", "open"}},
                 reason.value_or("")});
  ctx.after_commit([&s, box_id, cmd] { s.messaging.publish_command(box_id, cmd); });
  return Response::with(
      202,
      {{"command_id", cmd.id}, {"box_id", box_id}, {"compartment", number}, {"status", "queued"}});
}

}  // namespace

void register_fleet_routes(Router& router, const Services& s) {
  using L = Listener;
  using M = HttpMethod;
  using P = Permission;

  router.add(route(
      L::kInternal, M::kGet, "/internal/v1/locations", Access::needs(P::kFleetRead),
      "location.list", false, BodyKind::kNone, "List drop-off locations",
      [](RequestContext& ctx) -> HandlerResult { return Response::ok(list_locations(ctx.tx())); }));

  router.add(route(L::kInternal, M::kPost, "/internal/v1/locations", Access::needs(P::kFleetWrite),
                   "location.create", true, BodyKind::kRequired, "Create a drop-off location",
                   [&s](RequestContext& ctx) -> HandlerResult {
                     FieldReader r(ctx.body());
                     const auto name = r.string("name", 1, 200);
                     const auto address = r.optional_string("address", 0, 500);
                     const auto lat = r.optional_number("lat", -90, 90);
                     const auto lon = r.optional_number("lon", -180, 180);
                     const auto notes = r.optional_string("opening_notes", 0, 1000);
                     if (r.ok() && lat.has_value() != lon.has_value()) {
                       r.fail(lat ? "lon" : "lat", "give lat and lon together");
                     }
                     RC_FINISH_BODY(r);
                     auto loc = create_location(ctx.tx(), name, address.value_or(""), lat, lon,
                                                s.clock.wall_ms(), notes.value_or(""));
                     ctx.set_audit({"location", std::to_string(loc["id"].get<std::int64_t>()),
                                    nullptr, loc, ""});
                     return Response::created(loc);
                   }));

  router.add(route(L::kInternal, M::kGet, "/internal/v1/locations/{location_id}",
                   Access::needs(P::kFleetRead), "location.read", false, BodyKind::kNone,
                   "One drop-off location", [](RequestContext& ctx) -> HandlerResult {
                     auto loc = get_location(ctx.tx(), id_param(ctx, "location_id"));
                     if (!loc) return ApiError::not_found("location");
                     return Response::ok(*loc);
                   }));

  router.add(route(
      L::kInternal, M::kGet, "/internal/v1/boxes", Access::needs(P::kFleetRead), "box.list", false,
      BodyKind::kNone,
      "Fleet overview: boxes with online state, last seen, firmware, open faults, fill, climate "
      "(filters: location_id, state, fault, q; paging: page, page_size)",
      list_boxes_handler));

  router.add(route(L::kInternal, M::kPost, "/internal/v1/boxes", Access::needs(P::kBoxRegister),
                   "box.register", true, BodyKind::kRequired,
                   "Register a box and its compartments (provisioning CLI)",
                   [&s](RequestContext& ctx) { return register_box_handler(s, ctx); }));

  router.add(route(L::kInternal, M::kGet, "/internal/v1/boxes/{box_id}",
                   Access::needs(P::kFleetRead), "box.read", false, BodyKind::kNone,
                   "One box with compartments, open faults, last state and recent commands",
                   [](RequestContext& ctx) -> HandlerResult {
                     auto box = get_box(ctx.tx(), ctx.param("box_id"));
                     if (!box) return ApiError::not_found("box " + ctx.param("box_id"));
                     return Response::ok(*box);
                   }));

  router.add(route(L::kInternal, M::kPost, "/internal/v1/boxes/{box_id}/maintenance",
                   Access::needs(P::kFleetWrite), "box.maintenance", true, BodyKind::kRequired,
                   "Turn maintenance mode on or off (pushed to the box in its config)",
                   [&s](RequestContext& ctx) -> HandlerResult {
                     FieldReader r(ctx.body());
                     const bool on = r.boolean("on");
                     RC_FINISH_BODY(r);
                     const auto& box_id = ctx.param("box_id");
                     if (auto e = require_box(ctx, box_id)) return *e;
                     auto before = box_summary(ctx.tx(), box_id);
                     set_maintenance(ctx.tx(), box_id, on);
                     auto after = box_summary(ctx.tx(), box_id);
                     ctx.set_audit({"box",
                                    box_id,
                                    {{"maintenance", (*before)["maintenance"]}},
                                    {{"maintenance", on}},
                                    ""});
                     ctx.after_commit([&s, box_id] { s.messaging.publish_config(box_id); });
                     return Response::ok(*after);
                   }));

  router.add(route(L::kInternal, M::kPost, "/internal/v1/boxes/{box_id}/decommission",
                   Access::needs(P::kFleetWrite), "box.decommission", true, BodyKind::kNone,
                   "Decommission a box: its events are no longer applied",
                   [&s](RequestContext& ctx) -> HandlerResult {
                     const auto& box_id = ctx.param("box_id");
                     if (auto e = require_box(ctx, box_id)) return *e;
                     auto before = box_summary(ctx.tx(), box_id);
                     decommission_box(ctx.tx(), box_id, s.clock.wall_ms());
                     auto after = box_summary(ctx.tx(), box_id);
                     ctx.set_audit({"box", box_id, *before, *after, ""});
                     return Response::ok(*after);
                   }));

  router.add(route(L::kInternal, M::kPost, "/internal/v1/boxes/{box_id}/compartments/{number}/open",
                   Access::needs(P::kBoxOpen), "box.open", true, BodyKind::kOptional,
                   "Remote open of one compartment (a command to the box; audited)",
                   [&s](RequestContext& ctx) { return open_handler(s, ctx); }));

  router.add(route(L::kInternal, M::kGet, "/internal/v1/boxes/{box_id}/commands",
                   Access::needs(P::kFleetRead), "box.commands", false, BodyKind::kNone,
                   "Recent commands to a box and their results",
                   [](RequestContext& ctx) -> HandlerResult {
                     const auto& box_id = ctx.param("box_id");
                     if (!box_summary(ctx.tx(), box_id))
                       return ApiError::not_found("box " + box_id);
                     return Response::ok(list_commands(ctx.tx(), box_id, 100));
                   }));
}

}  // namespace reclothes::controller
