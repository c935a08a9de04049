// Roles as named permission sets (issue 18, item 6): the pure rules of who may define a role and
// who may give or take away a role, and the form of a role's name. docs/controller.md, "Roles
// and permissions", states the same rules. Nothing here reads the database: the store gives the
// facts, the routes turn a refusal into the API's 403/409.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "reclothes/controller/permissions.h"

namespace reclothes::controller::domain {

// A role's name: 2..32 characters, a lower-case letter first, then lower-case letters, digits
// and '_' ("night_packer"). The built-in names are roles too (they exist already).
bool valid_role_name(std::string_view name);

// The permissions of `wanted` that `held` lacks: empty when wanted is a subset of held.
inline PermissionSet beyond(const PermissionSet& wanted, const PermissionSet& held) {
  return wanted & ~held;
}

// The staff member who asks.
struct RoleActor {
  std::int64_t id = 0;
  PermissionSet permissions;
  bool super_admin = false;
};

// A role as it is stored.
struct RoleFacts {
  std::string name;
  PermissionSet permissions;
  bool builtin = false;
  bool operational = false;
};

// The staff member whose roles change.
struct RoleHolder {
  std::int64_t id = 0;
  std::optional<std::int64_t> manager_id;
  bool super_admin = false;
};

// Why not. code is the API's error code; `beyond` the permissions that made the role too broad.
struct RoleRefusal {
  enum class Kind { kForbidden, kConflict };
  Kind kind = Kind::kForbidden;
  std::string code;
  std::string message;
  PermissionSet beyond;
};

// Whether `actor` may give `role` to `holder` or take it away (the same rule both ways):
// - nobody changes their own roles (cannot_change_own_roles);
// - only a super admin gives or takes away super_admin (cannot_grant_role) or changes a super
//   admin's roles (cannot_modify_super_admin);
// - with roles.assign (user admins) any other role;
// - with roles.assign_operational (managers) only an operational role (role_not_operational),
//   only for their own employees, whose manager_id names them (not_your_employee), and never a
//   role granting a permission they do not hold themselves (role_broader_than_yours);
// - without either: cannot_grant_role.
std::optional<RoleRefusal> assignment_refusal(const RoleActor& actor, const RoleFacts& role,
                                              const RoleHolder& holder);

// Whether `actor` (who has roles.assign) may create, change or delete a role that, after the
// change, grants `permissions`:
// - built-in roles are never changed or deleted (builtin_role, a conflict);
// - a role the actor holds is changed or deleted only by a super admin (cannot_change_own_role:
//   nobody widens their own permissions);
// - a permission no built-in role below super_admin grants (`grantable`, from
//   grantable_by_user_admins()) goes into a role only by a super admin (permission_reserved).
// For a new role pass builtin = false and actor_holds = false.
std::optional<RoleRefusal> definition_refusal(const RoleActor& actor, bool builtin,
                                              bool actor_holds, const PermissionSet& permissions,
                                              const PermissionSet& grantable);

}  // namespace reclothes::controller::domain
