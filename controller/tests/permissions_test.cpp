#include "reclothes/controller/permissions.h"

#include <gtest/gtest.h>

#include <vector>

namespace reclothes::controller {
namespace {

TEST(Permissions, NamesRoundTrip) {
  for (auto r : all_roles()) EXPECT_EQ(role_from_string(to_string(r)), r);
  for (auto p : all_permissions()) EXPECT_EQ(permission_from_string(to_string(p)), p);
  EXPECT_FALSE(role_from_string("root").has_value());
  EXPECT_FALSE(permission_from_string("fleet.*").has_value());
  EXPECT_EQ(all_permissions().size(), kPermissionCount);
}

TEST(Permissions, OnlyManagersAndSuperAdminsSetPricesAndReadAllOrders) {
  for (auto r : all_roles()) {
    const bool expected = r == Role::kManager || r == Role::kSuperAdmin;
    EXPECT_EQ(has(permissions_of(r), Permission::kPricesWrite), expected) << to_string(r);
    EXPECT_EQ(has(permissions_of(r), Permission::kOrdersReadAll), expected) << to_string(r);
  }
}

TEST(Permissions, OnlyManagersAndSuperAdminsActOnACustomersBehalfAndRefund) {
  for (auto r : all_roles()) {
    const bool expected = r == Role::kManager || r == Role::kSuperAdmin;
    EXPECT_EQ(has(permissions_of(r), Permission::kOrdersActOnBehalf), expected) << to_string(r);
    EXPECT_EQ(has(permissions_of(r), Permission::kRefundsIssue), expected) << to_string(r);
  }
  EXPECT_EQ(permission_from_string("orders.act_on_behalf"), Permission::kOrdersActOnBehalf);
  EXPECT_EQ(permission_from_string("refunds.issue"), Permission::kRefundsIssue);
}

TEST(Permissions, OnlyUserAdminsAndSuperAdminsManageStaffAndRoles) {
  for (auto r : all_roles()) {
    const bool expected = r == Role::kUserAdmin || r == Role::kSuperAdmin;
    EXPECT_EQ(has(permissions_of(r), Permission::kStaffWrite), expected) << to_string(r);
    EXPECT_EQ(has(permissions_of(r), Permission::kRolesAssign), expected) << to_string(r);
  }
}

TEST(Permissions, SuperAdminHasEverything) { EXPECT_TRUE(permissions_of(Role::kSuperAdmin).all()); }

TEST(Permissions, UnionOverRoles) {
  const std::vector<Role> roles = {Role::kChecker, Role::kUserAdmin};
  const auto set = permissions_of(roles);
  EXPECT_TRUE(has(set, Permission::kOrdersReadAssigned));
  EXPECT_TRUE(has(set, Permission::kStaffWrite));
  EXPECT_FALSE(has(set, Permission::kFleetWrite));
}

TEST(Permissions, UserAdminCannotGrantSuperAdmin) {
  const std::vector<Role> user_admin = {Role::kUserAdmin};
  const std::vector<Role> super_admin = {Role::kSuperAdmin};
  const std::vector<Role> manager = {Role::kManager};
  EXPECT_TRUE(may_assign_role(user_admin, Role::kManager));
  EXPECT_FALSE(may_assign_role(user_admin, Role::kSuperAdmin));
  EXPECT_TRUE(may_assign_role(super_admin, Role::kSuperAdmin));
  EXPECT_FALSE(may_assign_role(manager, Role::kChecker));
}

TEST(Permissions, ManagersAssignOperationalRolesAndUserAdminsGrantAllButSuperAdminOnlyOnes) {
  for (auto r : all_roles()) {
    const bool expected = r == Role::kManager || r == Role::kSuperAdmin;
    EXPECT_EQ(has(permissions_of(r), Permission::kRolesAssignOperational), expected)
        << to_string(r);
  }
  const auto grantable = grantable_by_user_admins();
  EXPECT_FALSE(has(grantable, Permission::kKeysRotate));
  EXPECT_FALSE(has(grantable, Permission::kCustomersReadFull));
  EXPECT_TRUE(has(grantable, Permission::kPricesWrite));
  EXPECT_TRUE(has(grantable, Permission::kRolesAssign));
}

}  // namespace
}  // namespace reclothes::controller
