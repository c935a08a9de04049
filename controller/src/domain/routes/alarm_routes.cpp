// Alarm routes on the internal listener (docs/orders.md, "Alarms"): the faults of the fleet with
// acknowledge and resolve, and the staff on call per location. The handlers read and check the
// query or body, call the alarm store (store/alarm_store.h) and answer; every statement is in the
// store.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "../store/alarm_store.h"
#include "route_common.h"

namespace reclothes::controller::domain {

// The module's names stay in a namespace of their own (unity builds).
namespace alarm_routes {
namespace {

using L = Listener;
using M = HttpMethod;
using P = Permission;

bool is_fault_kind_text(std::string_view s) {
  if (s.empty() || s.size() > 40 || s[0] < 'a' || s[0] > 'z') return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return (c >= 'a' && c <= 'z') || c == '_'; });
}

bool is_box_id_text(std::string_view s) {
  return !s.empty() && s.size() <= 32 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

Result<FaultQuery, ApiError> fault_query(const RequestContext& ctx) {
  FaultQuery q;
  if (auto s = ctx.query("state")) {
    q.state = fault_state_from_string(*s);
    if (!q.state) return invalid_query("state", "must be open, acknowledged or resolved");
  }
  if (auto k = ctx.query("kind")) {
    if (!is_fault_kind_text(*k)) {
      return invalid_query("kind", "must be a fault kind like jammed, ajar or offline");
    }
    q.kind = *k;
  }
  if (auto b = ctx.query("box_id")) {
    if (!is_box_id_text(*b)) return invalid_query("box_id", "must be 1..32 of [A-Za-z0-9_-]");
    q.box_id = *b;
  }
  std::optional<std::int64_t> limit, offset;
  if (auto e = read_int_query(ctx, "location_id", 1, INT64_MAX, q.location_id)) return *e;
  if (auto e = read_int_query(ctx, "limit", 1, 200, limit)) return *e;
  if (auto e = read_int_query(ctx, "offset", 0, 1000000, offset)) return *e;
  q.limit = limit.value_or(50);
  q.offset = offset.value_or(0);
  return q;
}

HandlerResult get_faults(DomainContext& d, RequestContext& ctx) {
  auto q = fault_query(ctx);
  if (!q.ok()) return std::move(q).error();
  auto page = list_faults(ctx.tx(), *q);
  if (!page.ok()) return to_api(d.s, ctx, page.error());
  return Response::ok(std::move(page).value());
}

HandlerResult get_one_fault(DomainContext& d, RequestContext& ctx) {
  auto fault = get_fault(ctx.tx(), id_param(ctx, "id"));
  if (!fault.ok()) return to_api(d.s, ctx, fault.error());
  return Response::ok(std::move(fault).value());
}

HandlerResult post_acknowledge(DomainContext& d, RequestContext& ctx) {
  FieldReader r(ctx.body());
  const auto note = r.optional_string("note", 0, 500).value_or("");
  RC_FINISH_BODY(r);
  const auto id = id_param(ctx, "id");
  ctx.set_audit({"fault", std::to_string(id), nullptr, nullptr, note});
  auto change = acknowledge_fault(ctx.tx(), id, ctx.principal().account_id, note, d.now_ms());
  if (!change.ok()) return to_api(d.s, ctx, change.error());
  ctx.set_audit({"fault", std::to_string(id), change->before, change->after, note});
  return Response::ok(change->after);
}

HandlerResult post_resolve(DomainContext& d, RequestContext& ctx) {
  FieldReader r(ctx.body());
  const auto note = r.string("note", 1, 500);
  RC_FINISH_BODY(r);
  const auto id = id_param(ctx, "id");
  ctx.set_audit({"fault", std::to_string(id), nullptr, nullptr, note});
  auto change = resolve_fault(ctx.tx(), id, ctx.principal().account_id, note, d.now_ms());
  if (!change.ok()) return to_api(d.s, ctx, change.error());
  ctx.set_audit({"fault", std::to_string(id), change->before, change->after, note});
  return Response::ok(change->after);
}

HandlerResult get_on_call(DomainContext& d, RequestContext& ctx) {
  auto list = list_on_call(ctx.tx(), id_param(ctx, "location_id"), d.now_ms());
  if (!list.ok()) return to_api(d.s, ctx, list.error());
  return Response::ok(std::move(list).value());
}

// One entry of PUT .../on-call: {staff_id, from?, until?} ("HH:MM" UTC, both or neither).
OnCallEntry read_on_call_entry(FieldReader& r) {
  OnCallEntry e;
  e.staff_id = r.integer("staff_id", 1, INT64_MAX);
  const auto from = r.optional_string("from", 5, 5);
  const auto until = r.optional_string("until", 5, 5);
  if (!r.ok()) return e;
  if (from.has_value() != until.has_value()) {
    r.fail(from ? "until" : "from", "give from and until together (HH:MM, UTC), or neither");
    return e;
  }
  if (!from) return e;
  e.window.from_minute = parse_clock_time(*from);
  e.window.until_minute = parse_clock_time(*until);
  if (!e.window.from_minute) {
    r.fail("from", "must be HH:MM (00:00..23:59, UTC)");
  } else if (!e.window.until_minute) {
    r.fail("until", "must be HH:MM (00:00..23:59, UTC)");
  } else if (*e.window.from_minute == *e.window.until_minute) {
    r.fail("until", "must differ from from (leave both out for all day)");
  }
  return e;
}

HandlerResult put_on_call(DomainContext& d, RequestContext& ctx) {
  FieldReader r(ctx.body());
  std::vector<OnCallEntry> entries;
  if (const auto* arr = r.array("staff", true, 0, 50)) {
    for (std::size_t i = 0; i < arr->size() && r.ok(); ++i) {
      FieldReader item((*arr)[i], r.pointer("staff") + "/" + std::to_string(i));
      entries.push_back(read_on_call_entry(item));
      item.finish();
      r.merge(item);
    }
  }
  RC_FINISH_BODY(r);
  const auto location = id_param(ctx, "location_id");
  ctx.set_audit({"location", std::to_string(location), nullptr, nullptr, "on call"});
  auto change = set_on_call(ctx.tx(), location, entries, ctx.principal().account_id, d.now_ms());
  if (!change.ok()) return to_api(d.s, ctx, change.error());
  ctx.set_audit({"location",
                 std::to_string(location),
                 {{"on_call", change->before["items"]}},
                 {{"on_call", change->after["items"]}},
                 "on call"});
  return Response::ok(change->after);
}

void add_routes(Router& router, const std::shared_ptr<DomainContext>& d) {
  router.add(route(L::kInternal, M::kGet, "/internal/v1/faults", Access::needs(P::kFleetRead),
                   "fault.list", false, BodyKind::kNone,
                   "Box faults, newest first; filter by state (open, acknowledged, resolved), "
                   "kind, box_id, location_id; paged",
                   with_domain(d, get_faults)));
  router.add(route(L::kInternal, M::kGet, "/internal/v1/faults/{id}", Access::needs(P::kFleetRead),
                   "fault.read", false, BodyKind::kNone,
                   "One box fault with the alarms sent about it", with_domain(d, get_one_fault)));
  router.add(route(L::kInternal, M::kPost, "/internal/v1/faults/{id}/acknowledge",
                   Access::needs(P::kFleetRead), "fault.acknowledge", true, BodyKind::kOptional,
                   "Acknowledge an open fault (optional note): no more alarms or reminders",
                   with_domain(d, post_acknowledge)));
  router.add(route(L::kInternal, M::kPost, "/internal/v1/faults/{id}/resolve",
                   Access::needs(P::kFleetWrite), "fault.resolve", true, BodyKind::kRequired,
                   "Resolve an open or acknowledged fault with a note (the box did not clear it)",
                   with_domain(d, post_resolve)));
  router.add(route(L::kInternal, M::kGet, "/internal/v1/locations/{location_id}/on-call",
                   Access::needs(P::kFleetRead), "location.on_call_read", false, BodyKind::kNone,
                   "The staff on call for a location's alarms, with their daily windows",
                   with_domain(d, get_on_call)));
  router.add(route(L::kInternal, M::kPut, "/internal/v1/locations/{location_id}/on-call",
                   Access::needs(P::kFleetWrite), "location.on_call_set", true, BodyKind::kRequired,
                   "Replace the staff on call for a location's alarms (audited before/after)",
                   with_domain(d, put_on_call)));
}

}  // namespace
}  // namespace alarm_routes

void register_alarm_routes(Router& router, const std::shared_ptr<DomainContext>& d) {
  alarm_routes::add_routes(router, d);
}

}  // namespace reclothes::controller::domain
