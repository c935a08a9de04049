// Staff accounts and roles (internal listener). Only user admins and super admins manage them
// (managers give their employees operational roles: domain/routes/role_routes.cpp);
// nobody deactivates themselves or changes their own roles; only a super admin grants, removes
// or touches super_admin.
#include <algorithm>
#include <set>

#include "reclothes/controller/accounts.h"
#include "route_util.h"

namespace reclothes::controller {
namespace {

bool is_super_admin(const std::vector<Role>& roles) {
  return std::find(roles.begin(), roles.end(), Role::kSuperAdmin) != roles.end();
}

// Reads a "roles" array of role names: built-in roles, or custom roles defined under
// /internal/v1/roles. A name that is no role is an invalid field. Sorted, without duplicates.
std::optional<std::vector<std::string>> read_roles(pqxx::work& tx, FieldReader& r, bool required) {
  constexpr std::size_t kMaxRoles = 32;
  auto names = required ? std::optional(r.string_array("roles", kMaxRoles, 32))
                        : r.optional_string_array("roles", kMaxRoles, 32);
  if (!names || !r.ok()) return std::nullopt;
  const auto unknown = unknown_roles(tx, *names);
  for (std::size_t i = 0; i < names->size(); ++i) {
    if (std::find(unknown.begin(), unknown.end(), (*names)[i]) != unknown.end()) {
      r.fail("roles/" + std::to_string(i),
             "unknown role \"" + (*names)[i] + "\" (GET /internal/v1/roles lists the roles)");
      return std::nullopt;
    }
  }
  std::set<std::string> roles(names->begin(), names->end());
  return std::vector<std::string>(roles.begin(), roles.end());
}

// Whether the caller may give or take away `role`: only a super admin touches super_admin;
// otherwise roles.assign (from any role, built-in or custom) is enough.
bool may_assign(const Principal& me, const std::string& role) {
  if (role == to_string(Role::kSuperAdmin)) return is_super_admin(me.roles);
  return me.can(Permission::kRolesAssign);
}

ApiError cannot_grant(const std::string& role, const char* verb) {
  ApiError e = ApiError::forbidden("cannot_grant_role",
                                   std::string("you may not ") + verb + " the role " + role);
  e.details = {{"role", role}};
  return e;
}

HandlerResult set_active(const Services& s, RequestContext& ctx, bool active) {
  const auto id = id_param(ctx, "staff_id");
  const auto& me = ctx.principal();
  ctx.set_audit({"staff", std::to_string(id), nullptr, nullptr, ""});
  if (!active && id == me.account_id) {
    return ApiError::forbidden("cannot_deactivate_self", "you cannot deactivate your own account");
  }
  auto before = find_staff(ctx.tx(), id);
  if (!before) return ApiError::not_found("staff member");
  if (is_super_admin(before->roles) && !is_super_admin(me.roles)) {
    return ApiError::forbidden("cannot_modify_super_admin",
                               "only a super admin may change a super admin's account");
  }
  set_staff_active(ctx.tx(), id, active, s.clock.wall_ms());
  // A deactivated account's sessions end now, not when they expire.
  if (!active) s.sessions.revoke_all(ctx.tx(), AccountKind::kStaff, id);
  auto after = find_staff(ctx.tx(), id);
  ctx.set_audit({"staff", std::to_string(id), before->to_json(), after->to_json(), ""});
  return Response::ok(after->to_json());
}

}  // namespace

void register_staff_routes(Router& router, const Services& s) {
  using L = Listener;
  using M = HttpMethod;
  using P = Permission;

  router.add(route(L::kInternal, M::kGet, "/internal/v1/staff/me", Access::staff(), "staff.me",
                   false, BodyKind::kNone, "The logged-in staff member with roles and permissions",
                   [](RequestContext& ctx) -> HandlerResult {
                     auto me = find_staff(ctx.tx(), ctx.principal().account_id);
                     if (!me) return ApiError::not_found("staff member");
                     auto j = me->to_json();
                     nlohmann::json perms = nlohmann::json::array();
                     for (auto p : all_permissions()) {
                       if (ctx.principal().can(p)) perms.push_back(to_string(p));
                     }
                     j["permissions"] = perms;
                     return Response::ok(j);
                   }));

  router.add(route(L::kInternal, M::kGet, "/internal/v1/staff", Access::needs(P::kStaffRead),
                   "staff.list", false, BodyKind::kNone, "List staff accounts",
                   [](RequestContext& ctx) -> HandlerResult {
                     nlohmann::json items = nlohmann::json::array();
                     for (const auto& st : list_staff(ctx.tx())) items.push_back(st.to_json());
                     return Response::ok({{"items", items}});
                   }));

  router.add(route(
      L::kInternal, M::kPost, "/internal/v1/staff", Access::needs(P::kStaffWrite), "staff.create",
      true, BodyKind::kRequired, "Create a staff account",
      [&s](RequestContext& ctx) -> HandlerResult {
        FieldReader r(ctx.body());
        const auto email = r.string("email", 1, 254);
        const auto password = r.string("password", 1, 1024);
        const auto name = r.optional_string("display_name", 0, 200);
        auto roles = read_roles(ctx.tx(), r, false);
        RC_FINISH_BODY(r);
        if (!normalize_email(email)) {
          return ApiError::invalid_field({"/email", "is not a valid email address"});
        }
        if (auto problem = s.passwords.policy_problem(password)) {
          return ApiError::invalid_field({"/password", *problem});
        }
        ctx.set_audit({"staff", *normalize_email(email), nullptr, nullptr, ""});
        const auto wanted = roles.value_or(std::vector<std::string>{});
        for (const auto& role : wanted) {
          if (!may_assign(ctx.principal(), role)) return cannot_grant(role, "grant");
        }
        auto created = create_staff(ctx.tx(), s.passwords, s.clock, email, password,
                                    name.value_or(""), std::vector<Role>{});
        if (created.ok() && !wanted.empty()) {
          set_staff_roles(ctx.tx(), created->id, wanted, s.clock.wall_ms());
          created = *find_staff(ctx.tx(), created->id);
        }
        if (!created.ok()) {
          if (created.error().code == ErrorCode::kAlreadyExists) {
            return ApiError::conflict("email_taken", "this email is already registered");
          }
          return api_error(created.error());
        }
        ctx.set_audit({"staff", std::to_string(created->id), nullptr, created->to_json(), ""});
        return Response::created(created->to_json());
      }));

  router.add(route(L::kInternal, M::kGet, "/internal/v1/staff/{staff_id}",
                   Access::needs(P::kStaffRead), "staff.read", false, BodyKind::kNone,
                   "One staff account", [](RequestContext& ctx) -> HandlerResult {
                     auto st = find_staff(ctx.tx(), id_param(ctx, "staff_id"));
                     if (!st) return ApiError::not_found("staff member");
                     return Response::ok(st->to_json());
                   }));

  router.add(route(L::kInternal, M::kPost, "/internal/v1/staff/{staff_id}/deactivate",
                   Access::needs(P::kStaffWrite), "staff.deactivate", true, BodyKind::kNone,
                   "Deactivate a staff account and end its sessions",
                   [&s](RequestContext& ctx) { return set_active(s, ctx, false); }));

  router.add(route(L::kInternal, M::kPost, "/internal/v1/staff/{staff_id}/activate",
                   Access::needs(P::kStaffWrite), "staff.activate", true, BodyKind::kNone,
                   "Activate a staff account",
                   [&s](RequestContext& ctx) { return set_active(s, ctx, true); }));

  router.add(route(
      L::kInternal, M::kPut, "/internal/v1/staff/{staff_id}/roles", Access::needs(P::kRolesAssign),
      "staff.roles", true, BodyKind::kRequired, "Replace a staff member's roles",
      [&s](RequestContext& ctx) -> HandlerResult {
        FieldReader r(ctx.body());
        auto roles = read_roles(ctx.tx(), r, true);
        RC_FINISH_BODY(r);
        const auto id = id_param(ctx, "staff_id");
        const auto& me = ctx.principal();
        ctx.set_audit({"staff", std::to_string(id), nullptr, nullptr, ""});
        if (id == me.account_id) {
          return ApiError::forbidden("cannot_change_own_roles", "you cannot change your own roles");
        }
        auto before = find_staff(ctx.tx(), id);
        if (!before) return ApiError::not_found("staff member");
        if (is_super_admin(before->roles) && !is_super_admin(me.roles)) {
          return ApiError::forbidden("cannot_modify_super_admin",
                                     "only a super admin may change a super admin's roles");
        }
        // Every role added or removed must be one the caller may assign.
        auto held = before->role_names();
        std::sort(held.begin(), held.end());
        std::vector<std::string> changed;
        std::set_symmetric_difference(held.begin(), held.end(), roles->begin(), roles->end(),
                                      std::back_inserter(changed));
        for (const auto& role : changed) {
          if (!may_assign(me, role)) return cannot_grant(role, "grant or remove");
        }
        set_staff_roles(ctx.tx(), id, *roles, s.clock.wall_ms());
        auto after = find_staff(ctx.tx(), id);
        ctx.set_audit({"staff", std::to_string(id), before->to_json(), after->to_json(), ""});
        return Response::ok(after->to_json());
      }));
}

}  // namespace reclothes::controller
