#include "reclothes/controller/permissions.h"

#include <algorithm>
#include <array>
#include <initializer_list>

namespace reclothes::controller {
namespace {

constexpr std::array<Role, kRoleCount> kRoles = {Role::kChecker,   Role::kPacker,
                                                 Role::kDelivery,  Role::kManager,
                                                 Role::kUserAdmin, Role::kSuperAdmin};

constexpr std::array<Permission, kPermissionCount> kPermissions = {
    Permission::kFleetRead,
    Permission::kFleetWrite,
    Permission::kBoxOpen,
    Permission::kBoxRegister,
    Permission::kStaffRead,
    Permission::kStaffWrite,
    Permission::kRolesAssign,
    Permission::kAuditRead,
    Permission::kKeysRotate,
    Permission::kTokensIssueCourier,
    Permission::kOrdersReadAssigned,
    Permission::kOrdersReadAll,
    Permission::kOrdersAssign,
    Permission::kProductsWrite,
    Permission::kPricesWrite,
    Permission::kCustomersReadMasked,
    Permission::kCustomersReadFull,
    Permission::kRolesAssignOperational,
    Permission::kOrdersActOnBehalf,
    Permission::kRefundsIssue,
};

PermissionSet set_of(std::initializer_list<Permission> ps) {
  PermissionSet s;
  for (auto p : ps) s.set(static_cast<std::size_t>(p));
  return s;
}

}  // namespace

std::string_view to_string(Role role) {
  switch (role) {
    case Role::kChecker:
      return "checker";
    case Role::kPacker:
      return "packer";
    case Role::kDelivery:
      return "delivery";
    case Role::kManager:
      return "manager";
    case Role::kUserAdmin:
      return "user_admin";
    case Role::kSuperAdmin:
      return "super_admin";
  }
  return "unknown";
}

std::optional<Role> role_from_string(std::string_view s) {
  for (auto r : kRoles) {
    if (to_string(r) == s) return r;
  }
  return std::nullopt;
}

std::span<const Role> all_roles() { return kRoles; }

std::string_view to_string(Permission p) {
  switch (p) {
    case Permission::kFleetRead:
      return "fleet.read";
    case Permission::kFleetWrite:
      return "fleet.write";
    case Permission::kBoxOpen:
      return "box.open";
    case Permission::kBoxRegister:
      return "box.register";
    case Permission::kStaffRead:
      return "staff.read";
    case Permission::kStaffWrite:
      return "staff.write";
    case Permission::kRolesAssign:
      return "roles.assign";
    case Permission::kAuditRead:
      return "audit.read";
    case Permission::kKeysRotate:
      return "keys.rotate";
    case Permission::kTokensIssueCourier:
      return "tokens.issue_courier";
    case Permission::kOrdersReadAssigned:
      return "orders.read_assigned";
    case Permission::kOrdersReadAll:
      return "orders.read_all";
    case Permission::kOrdersAssign:
      return "orders.assign";
    case Permission::kProductsWrite:
      return "products.write";
    case Permission::kPricesWrite:
      return "prices.write";
    case Permission::kCustomersReadMasked:
      return "customers.read_masked";
    case Permission::kCustomersReadFull:
      return "customers.read_full";
    case Permission::kRolesAssignOperational:
      return "roles.assign_operational";
    case Permission::kOrdersActOnBehalf:
      return "orders.act_on_behalf";
    case Permission::kRefundsIssue:
      return "refunds.issue";
  }
  return "unknown";
}

std::optional<Permission> permission_from_string(std::string_view s) {
  for (auto p : kPermissions) {
    if (to_string(p) == s) return p;
  }
  return std::nullopt;
}

std::span<const Permission> all_permissions() { return kPermissions; }

// THE table of the built-in roles. docs/controller.md shows the same table; the role x route test
// checks the routes against its own copy of the expectations, not against this function. The
// database holds a copy (roles, role_permissions: migration 0017, re-written from this function
// by `migrate`, sync_builtin_roles in accounts.h) next to the custom roles, and a staff
// session's permissions are read from there.
PermissionSet permissions_of(Role role) {
  using P = Permission;
  switch (role) {
    case Role::kChecker:
      // Checkers write the product texts of what they publish; prices stay with managers.
      return set_of({P::kOrdersReadAssigned, P::kProductsWrite});
    case Role::kPacker:
      return set_of({P::kOrdersReadAssigned});
    case Role::kDelivery:
      return set_of({P::kOrdersReadAssigned, P::kFleetRead, P::kBoxOpen, P::kTokensIssueCourier});
    case Role::kManager:
      return set_of({P::kFleetRead, P::kFleetWrite, P::kBoxOpen, P::kBoxRegister, P::kStaffRead,
                     P::kAuditRead, P::kTokensIssueCourier, P::kOrdersReadAssigned,
                     P::kOrdersReadAll, P::kOrdersAssign, P::kProductsWrite, P::kPricesWrite,
                     P::kCustomersReadMasked, P::kRolesAssignOperational, P::kOrdersActOnBehalf,
                     P::kRefundsIssue});
    case Role::kUserAdmin:
      return set_of({P::kStaffRead, P::kStaffWrite, P::kRolesAssign});
    case Role::kSuperAdmin: {
      PermissionSet all;
      all.set();
      return all;
    }
  }
  return {};
}

PermissionSet permissions_of(std::span<const Role> roles) {
  PermissionSet s;
  for (auto r : roles) s |= permissions_of(r);
  return s;
}

bool may_assign_role(std::span<const Role> granter_roles, Role role) {
  const bool super = std::find(granter_roles.begin(), granter_roles.end(), Role::kSuperAdmin) !=
                     granter_roles.end();
  if (role == Role::kSuperAdmin) return super;
  return has(permissions_of(granter_roles), Permission::kRolesAssign);
}

PermissionSet grantable_by_user_admins() {
  PermissionSet s;
  for (auto r : kRoles) {
    if (r != Role::kSuperAdmin) s |= permissions_of(r);
  }
  return s;
}

}  // namespace reclothes::controller
