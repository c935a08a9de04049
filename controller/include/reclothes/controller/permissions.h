// Staff roles and permissions. The role -> permission table lives in exactly one place
// (permissions.cpp, mirrored in docs/controller.md); routes name the permission they need and the
// dispatcher checks it, so no handler decides access by hand.
#pragma once

#include <bitset>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace reclothes::controller {

enum class Role : std::uint8_t {
  kChecker,
  kPacker,
  kDelivery,
  kManager,
  kUserAdmin,
  kSuperAdmin,
};
inline constexpr std::size_t kRoleCount = 6;

enum class Permission : std::uint8_t {
  kFleetRead,           // fleet.read: locations, boxes, their state and commands
  kFleetWrite,          // fleet.write: locations, maintenance mode, decommissioning
  kBoxOpen,             // box.open: remote open of a compartment (audited)
  kBoxRegister,         // box.register: the provisioning CLI registers boxes
  kStaffRead,           // staff.read
  kStaffWrite,          // staff.write: create, activate, deactivate staff accounts
  kRolesAssign,         // roles.assign
  kAuditRead,           // audit.read
  kKeysRotate,          // keys.rotate: token signing keys
  kTokensIssueCourier,  // tokens.issue_courier
  // Used by the order domain (a later module); granted now so the table is complete.
  kOrdersReadAssigned,   // orders.read_assigned
  kOrdersReadAll,        // orders.read_all
  kOrdersAssign,         // orders.assign
  kProductsWrite,        // products.write
  kPricesWrite,          // prices.write
  kCustomersReadMasked,  // customers.read_masked
  kCustomersReadFull,    // customers.read_full
  // roles.assign_operational: give and take away operational roles (checker, packer, delivery,
  // custom roles marked operational) for one's own employees, never a role broader than one's own
  // permissions (role_rules.h).
  kRolesAssignOperational,
  // Customer service (docs/orders.md, "Orders on a customer's behalf").
  kOrdersActOnBehalf,  // orders.act_on_behalf: cancel, re-send a pickup code for a customer
  kRefundsIssue,       // refunds.issue: full or partial refunds with a reason
};
inline constexpr std::size_t kPermissionCount = 20;

using PermissionSet = std::bitset<kPermissionCount>;

std::string_view to_string(Role role);  // "checker", "user_admin", ...
std::optional<Role> role_from_string(std::string_view s);
std::span<const Role> all_roles();

std::string_view to_string(Permission permission);  // "fleet.read", ...
std::optional<Permission> permission_from_string(std::string_view s);
std::span<const Permission> all_permissions();

// The permissions one role grants.
PermissionSet permissions_of(Role role);
// The union over several roles.
PermissionSet permissions_of(std::span<const Role> roles);

inline bool has(const PermissionSet& set, Permission p) {
  return set.test(static_cast<std::size_t>(p));
}

// Whether a staff member holding `granter_roles` may give or take away `role`: only a super
// admin may touch super_admin; otherwise roles.assign is enough.
bool may_assign_role(std::span<const Role> granter_roles, Role role);

// The permissions some built-in role other than super_admin grants: what a user admin may put
// into a custom role (the rest, keys.rotate and customers.read_full today, stay with super
// admins).
PermissionSet grantable_by_user_admins();

}  // namespace reclothes::controller
