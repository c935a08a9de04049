#include "reclothes/controller/domain/role_rules.h"

namespace reclothes::controller::domain {
namespace {

RoleRefusal forbidden(std::string code, std::string message, PermissionSet too_broad = {}) {
  return RoleRefusal{RoleRefusal::Kind::kForbidden, std::move(code), std::move(message), too_broad};
}

}  // namespace

bool valid_role_name(std::string_view name) {
  if (name.size() < 2 || name.size() > 32) return false;
  if (name.front() < 'a' || name.front() > 'z') return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

std::optional<RoleRefusal> assignment_refusal(const RoleActor& actor, const RoleFacts& role,
                                              const RoleHolder& holder) {
  if (holder.id == actor.id) {
    return forbidden("cannot_change_own_roles", "you cannot change your own roles");
  }
  if (role.name == "super_admin" && !actor.super_admin) {
    return forbidden("cannot_grant_role", "only a super admin gives or takes away super_admin");
  }
  if (holder.super_admin && !actor.super_admin) {
    return forbidden("cannot_modify_super_admin",
                     "only a super admin may change a super admin's roles");
  }
  if (has(actor.permissions, Permission::kRolesAssign)) return std::nullopt;
  if (!has(actor.permissions, Permission::kRolesAssignOperational)) {
    return forbidden("cannot_grant_role", "you may not give or take away the role " + role.name);
  }
  if (!role.operational) {
    return forbidden("role_not_operational",
                     "managers give and take away only operational roles; " + role.name +
                         " is not one (a user admin assigns it)");
  }
  if (holder.manager_id != actor.id) {
    return forbidden("not_your_employee",
                     "this staff member is not your employee (a user admin sets their manager)");
  }
  if (const auto extra = beyond(role.permissions, actor.permissions); extra.any()) {
    return forbidden("role_broader_than_yours",
                     "the role " + role.name + " grants permissions you do not hold", extra);
  }
  return std::nullopt;
}

std::optional<RoleRefusal> definition_refusal(const RoleActor& actor, bool builtin,
                                              bool actor_holds, const PermissionSet& permissions,
                                              const PermissionSet& grantable) {
  if (builtin) {
    return RoleRefusal{RoleRefusal::Kind::kConflict,
                       "builtin_role",
                       "built-in roles cannot be changed or deleted; define a new role instead",
                       {}};
  }
  if (actor.super_admin) return std::nullopt;
  if (actor_holds) {
    return forbidden("cannot_change_own_role",
                     "you hold this role: another user admin changes or deletes it");
  }
  if (const auto extra = beyond(permissions, grantable); extra.any()) {
    return forbidden("permission_reserved", "only a super admin puts these permissions into a role",
                     extra);
  }
  return std::nullopt;
}

}  // namespace reclothes::controller::domain
