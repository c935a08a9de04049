// Roles as named permission sets (issue 18, item 6) on the internal listener: user admins define
// roles (GET/POST /internal/v1/roles, PATCH/DELETE /internal/v1/roles/{role}) and set each staff
// member's manager (PUT /internal/v1/staff/{staff_id}/manager); managers give and take away the
// operational roles of their own employees (POST/DELETE /internal/v1/staff/{staff_id}/roles/
// {role}). The rules are rules/role_rules.cpp; the handlers read the request, check the rules on
// what the store says, call the store and answer. Every change is audited with before and after.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "../store/role_store.h"
#include "reclothes/controller/domain/role_rules.h"
#include "route_common.h"

namespace reclothes::controller::domain {

// The module's names stay in a namespace of their own (unity builds, see management_routes.cpp).
namespace role_routes {
namespace {

using L = Listener;
using M = HttpMethod;
using P = Permission;

bool holds(const std::vector<Role>& roles, Role role) {
  return std::find(roles.begin(), roles.end(), role) != roles.end();
}

RoleActor actor_of(const Principal& p) {
  return RoleActor{p.account_id, p.permissions, holds(p.roles, Role::kSuperAdmin)};
}

bool actor_holds(const Principal& p, const std::string& role) {
  if (auto builtin = role_from_string(role)) return holds(p.roles, *builtin);
  return std::find(p.custom_roles.begin(), p.custom_roles.end(), role) != p.custom_roles.end();
}

ApiError refusal_error(const RoleRefusal& r) {
  ApiError e = r.kind == RoleRefusal::Kind::kConflict ? ApiError::conflict(r.code, r.message)
                                                      : ApiError::forbidden(r.code, r.message);
  if (r.beyond.any()) e.details = {{"permissions", permission_names(r.beyond)}};
  return e;
}

// A "permissions" array of permission names; an unknown name is an invalid field (400).
std::optional<PermissionSet> read_permissions(FieldReader& r, bool required) {
  auto names = required ? std::optional(r.string_array("permissions", kPermissionCount * 2, 64))
                        : r.optional_string_array("permissions", kPermissionCount * 2, 64);
  if (!names || !r.ok()) return std::nullopt;
  std::vector<std::string> unknown;
  const auto set = permission_set(*names, unknown);
  if (!unknown.empty()) {
    const auto at = std::find(names->begin(), names->end(), unknown.front()) - names->begin();
    r.fail("permissions/" + std::to_string(at),
           "unknown permission \"" + unknown.front() +
               "\" (the permissions are listed in docs/controller.md, \"Roles and permissions\")");
    return std::nullopt;
  }
  return set;
}

// ---- roles --------------------------------------------------------------------------------------

HandlerResult get_roles(DomainContext& d, RequestContext& ctx) {
  auto roles = list_roles(ctx.tx());
  if (!roles.ok()) return to_api(d.s, ctx, roles.error());
  nlohmann::json items = nlohmann::json::array();
  for (const auto& r : *roles) items.push_back(r.to_json());
  return Response::ok({{"items", items}});
}

HandlerResult post_role(DomainContext& d, RequestContext& ctx) {
  FieldReader r(ctx.body());
  RoleDraft draft;
  draft.name = r.string("name", 2, 32);
  if (r.ok() && !valid_role_name(draft.name)) {
    r.fail("name",
           "must be 2..32 characters: a lower-case letter, then lower-case letters, "
           "digits or _");
  }
  draft.description = r.optional_string("description", 0, 500).value_or("");
  draft.operational = r.optional_boolean("operational").value_or(false);
  auto permissions = read_permissions(r, true);
  RC_FINISH_BODY(r);
  draft.permissions = *permissions;
  ctx.set_audit({"role", draft.name, nullptr, nullptr, ""});
  if (auto no = definition_refusal(actor_of(ctx.principal()), false, false, draft.permissions,
                                   grantable_by_user_admins())) {
    return refusal_error(*no);
  }
  auto role = create_role(ctx.tx(), draft, d.now_ms());
  if (!role.ok()) return to_api(d.s, ctx, role.error());
  ctx.set_audit({"role", role->name, nullptr, role->to_json(), ""});
  return Response::created(role->to_json());
}

HandlerResult patch_role(DomainContext& d, RequestContext& ctx) {
  FieldReader r(ctx.body());
  RoleEdit edit;
  edit.description = r.optional_string("description", 0, 500);
  edit.operational = r.optional_boolean("operational");
  edit.permissions = read_permissions(r, false);
  RC_FINISH_BODY(r);
  const auto name = ctx.param("role");
  ctx.set_audit({"role", name, nullptr, nullptr, ""});
  auto current = find_role(ctx.tx(), name, true);
  if (!current.ok()) return to_api(d.s, ctx, current.error());
  const auto& me = ctx.principal();
  if (auto no = definition_refusal(actor_of(me), current->builtin, actor_holds(me, name),
                                   edit.permissions.value_or(current->permissions),
                                   grantable_by_user_admins())) {
    return refusal_error(*no);
  }
  auto change = update_role(ctx.tx(), name, edit, d.now_ms());
  if (!change.ok()) return to_api(d.s, ctx, change.error());
  ctx.set_audit({"role", name, change->before.to_json(), change->after.to_json(), ""});
  return Response::ok(change->after.to_json());
}

HandlerResult delete_role_route(DomainContext& d, RequestContext& ctx) {
  const auto name = ctx.param("role");
  ctx.set_audit({"role", name, nullptr, nullptr, ""});
  auto current = find_role(ctx.tx(), name, true);
  if (!current.ok()) return to_api(d.s, ctx, current.error());
  const auto& me = ctx.principal();
  if (auto no = definition_refusal(actor_of(me), current->builtin, actor_holds(me, name),
                                   current->permissions, grantable_by_user_admins())) {
    return refusal_error(*no);
  }
  auto gone = delete_role(ctx.tx(), name);
  if (!gone.ok()) return to_api(d.s, ctx, gone.error());
  ctx.set_audit({"role", name, gone->to_json(), nullptr, ""});
  return Response::ok({{"deleted", name}});
}

// ---- one staff member's roles and manager -------------------------------------------------------

HandlerResult change_role(DomainContext& d, RequestContext& ctx, bool give) {
  const auto staff_id = id_param(ctx, "staff_id");
  const auto name = ctx.param("role");
  ctx.set_audit({"staff", std::to_string(staff_id), nullptr, nullptr, ""});
  auto role = find_role(ctx.tx(), name, false);
  if (!role.ok()) return to_api(d.s, ctx, role.error());
  auto holder = lock_staff(ctx.tx(), staff_id);
  if (!holder.ok()) return to_api(d.s, ctx, holder.error());
  const RoleHolder facts{holder->id, holder->manager_id, holds(holder->roles, Role::kSuperAdmin)};
  if (auto no = assignment_refusal(actor_of(ctx.principal()), role->facts(), facts)) {
    return refusal_error(*no);
  }
  auto change = change_staff_role(ctx.tx(), staff_id, name, give, d.now_ms());
  if (!change.ok()) return to_api(d.s, ctx, change.error());
  ctx.set_audit({"staff", std::to_string(staff_id), change->before.to_json(),
                 change->after.to_json(), (give ? "gave " : "took away ") + name});
  return Response::ok(change->after.to_json());
}

HandlerResult post_staff_role(DomainContext& d, RequestContext& ctx) {
  return change_role(d, ctx, true);
}

HandlerResult delete_staff_role(DomainContext& d, RequestContext& ctx) {
  return change_role(d, ctx, false);
}

HandlerResult put_manager(DomainContext& d, RequestContext& ctx) {
  FieldReader r(ctx.body());
  if (!ctx.body().is_object() || !ctx.body().contains("manager_id")) {
    r.fail("manager_id", "is required (a staff id, or null for no manager)");
  }
  const auto manager_id = r.optional_integer("manager_id", 1, std::int64_t{1} << 62);
  RC_FINISH_BODY(r);
  const auto staff_id = id_param(ctx, "staff_id");
  ctx.set_audit({"staff", std::to_string(staff_id), nullptr, nullptr, ""});
  auto change = set_staff_manager(ctx.tx(), staff_id, manager_id, d.now_ms());
  if (!change.ok()) return to_api(d.s, ctx, change.error());
  ctx.set_audit(
      {"staff", std::to_string(staff_id), change->before.to_json(), change->after.to_json(), ""});
  return Response::ok(change->after.to_json());
}

// ---- route table --------------------------------------------------------------------------------

void add_routes(Router& router, const std::shared_ptr<DomainContext>& d) {
  router.add(route(L::kInternal, M::kGet, "/internal/v1/roles", Access::needs(P::kStaffRead),
                   "role.list", false, BodyKind::kNone,
                   "Every role (built-in and custom) with its permissions and holders",
                   with_domain(d, get_roles)));
  router.add(route(L::kInternal, M::kPost, "/internal/v1/roles", Access::needs(P::kRolesAssign),
                   "role.create", true, BodyKind::kRequired,
                   "Define a role: a named set of permissions", with_domain(d, post_role)));
  router.add(route(L::kInternal, M::kPatch, "/internal/v1/roles/{role}",
                   Access::needs(P::kRolesAssign), "role.update", true, BodyKind::kRequired,
                   "Change a custom role's permissions, description or operational flag",
                   with_domain(d, patch_role)));
  router.add(route(L::kInternal, M::kDelete, "/internal/v1/roles/{role}",
                   Access::needs(P::kRolesAssign), "role.delete", true, BodyKind::kNone,
                   "Delete a custom role nobody holds", with_domain(d, delete_role_route)));
  router.add(route(L::kInternal, M::kPost, "/internal/v1/staff/{staff_id}/roles/{role}",
                   Access::needs(P::kRolesAssignOperational), "staff.role_give", true,
                   BodyKind::kNone, "Give one's employee an operational role",
                   with_domain(d, post_staff_role)));
  router.add(route(L::kInternal, M::kDelete, "/internal/v1/staff/{staff_id}/roles/{role}",
                   Access::needs(P::kRolesAssignOperational), "staff.role_take", true,
                   BodyKind::kNone, "Take an operational role away from one's employee",
                   with_domain(d, delete_staff_role)));
  router.add(route(L::kInternal, M::kPut, "/internal/v1/staff/{staff_id}/manager",
                   Access::needs(P::kStaffWrite), "staff.manager", true, BodyKind::kRequired,
                   "Set or clear a staff member's manager", with_domain(d, put_manager)));
}

}  // namespace
}  // namespace role_routes

void register_role_routes(Router& router, const std::shared_ptr<DomainContext>& d) {
  role_routes::add_routes(router, d);
}

}  // namespace reclothes::controller::domain
