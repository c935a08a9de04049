// The role rules (issue 18, item 6): the subset rule and the other refusals of giving or taking
// away a role, the rules of defining one, and the form of a role's name.
#include "reclothes/controller/domain/role_rules.h"

#include <gtest/gtest.h>

#include <initializer_list>

namespace reclothes::controller::domain {
namespace {

using P = Permission;

PermissionSet set_of(std::initializer_list<Permission> ps) {
  PermissionSet s;
  for (auto p : ps) s.set(static_cast<std::size_t>(p));
  return s;
}

const PermissionSet kManagerSet =
    set_of({P::kFleetRead, P::kBoxOpen, P::kStaffRead, P::kOrdersReadAssigned, P::kProductsWrite,
            P::kTokensIssueCourier, P::kRolesAssignOperational});
const RoleActor kManagerActor{10, kManagerSet, false};
const RoleActor kUserAdmin{20, set_of({P::kStaffRead, P::kStaffWrite, P::kRolesAssign}), false};
const RoleActor kSuperAdmin{30, PermissionSet{}.set(), true};

const RoleFacts kChecker{"checker", set_of({P::kOrdersReadAssigned, P::kProductsWrite}), true,
                         true};
const RoleHolder kEmployee{11, 10, false};

std::string verdict_of(const std::optional<RoleRefusal>& r) { return r ? r->code : "allowed"; }

TEST(RoleSubset, BeyondIsWhatTheHolderLacks) {
  EXPECT_TRUE(beyond(kChecker.permissions, kManagerSet).none());
  EXPECT_TRUE(beyond(PermissionSet{}, PermissionSet{}).none());
  const auto extra =
      beyond(set_of({P::kOrdersReadAssigned, P::kPricesWrite, P::kKeysRotate}), kManagerSet);
  EXPECT_EQ(extra, set_of({P::kPricesWrite, P::kKeysRotate}));
  EXPECT_EQ(beyond(kManagerSet, PermissionSet{}), kManagerSet);
}

TEST(RoleAssignment, AManagerGivesAnOperationalRoleWithinTheirOwnToTheirEmployee) {
  EXPECT_EQ(verdict_of(assignment_refusal(kManagerActor, kChecker, kEmployee)), "allowed");
  const RoleFacts night_packer{"night_packer", set_of({P::kOrdersReadAssigned}), false, true};
  EXPECT_EQ(verdict_of(assignment_refusal(kManagerActor, night_packer, kEmployee)), "allowed");
}

TEST(RoleAssignment, AManagerIsRefusedARoleBroaderThanTheirOwn) {
  const RoleFacts broad{"key_keeper", set_of({P::kOrdersReadAssigned, P::kKeysRotate}), false,
                        true};
  const auto r = assignment_refusal(kManagerActor, broad, kEmployee);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->code, "role_broader_than_yours");
  EXPECT_EQ(r->kind, RoleRefusal::Kind::kForbidden);
  EXPECT_EQ(r->beyond, set_of({P::kKeysRotate}));
}

TEST(RoleAssignment, AManagerIsRefusedANonOperationalRoleAndSomeoneElsesEmployee) {
  const RoleFacts manager{"manager", kManagerSet, true, false};
  EXPECT_EQ(verdict_of(assignment_refusal(kManagerActor, manager, kEmployee)),
            "role_not_operational");
  EXPECT_EQ(verdict_of(assignment_refusal(kManagerActor, kChecker, RoleHolder{12, 99, false})),
            "not_your_employee");
  EXPECT_EQ(verdict_of(assignment_refusal(kManagerActor, kChecker, RoleHolder{12, {}, false})),
            "not_your_employee");
}

TEST(RoleAssignment, NobodyChangesTheirOwnRolesAndOnlySuperAdminsTouchSuperAdmin) {
  EXPECT_EQ(verdict_of(assignment_refusal(kManagerActor, kChecker, RoleHolder{10, 10, false})),
            "cannot_change_own_roles");
  EXPECT_EQ(verdict_of(assignment_refusal(kSuperAdmin, kChecker, RoleHolder{30, {}, true})),
            "cannot_change_own_roles");
  const RoleFacts super{"super_admin", PermissionSet{}.set(), true, false};
  EXPECT_EQ(verdict_of(assignment_refusal(kManagerActor, super, kEmployee)), "cannot_grant_role");
  EXPECT_EQ(verdict_of(assignment_refusal(kUserAdmin, super, kEmployee)), "cannot_grant_role");
  EXPECT_EQ(verdict_of(assignment_refusal(kSuperAdmin, super, kEmployee)), "allowed");
  EXPECT_EQ(verdict_of(assignment_refusal(kUserAdmin, kChecker, RoleHolder{31, {}, true})),
            "cannot_modify_super_admin");
  EXPECT_EQ(verdict_of(assignment_refusal(kManagerActor, kChecker, RoleHolder{31, 10, true})),
            "cannot_modify_super_admin");
}

TEST(RoleAssignment, UserAdminsAssignAnyRoleButSuperAdminToAnyone) {
  const RoleFacts manager{"manager", kManagerSet, true, false};
  EXPECT_EQ(verdict_of(assignment_refusal(kUserAdmin, manager, RoleHolder{12, {}, false})),
            "allowed");
  EXPECT_EQ(verdict_of(assignment_refusal(kUserAdmin, kChecker, RoleHolder{12, 99, false})),
            "allowed");
}

TEST(RoleAssignment, WithoutEitherPermissionNothing) {
  const RoleActor checker{40, kChecker.permissions, false};
  EXPECT_EQ(verdict_of(assignment_refusal(checker, kChecker, RoleHolder{41, 40, false})),
            "cannot_grant_role");
}

TEST(RoleDefinition, BuiltInRolesAreNeverChanged) {
  const auto r = definition_refusal(kSuperAdmin, true, false, PermissionSet{}, PermissionSet{});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->code, "builtin_role");
  EXPECT_EQ(r->kind, RoleRefusal::Kind::kConflict);
  EXPECT_EQ(verdict_of(definition_refusal(kUserAdmin, true, false, PermissionSet{}, kManagerSet)),
            "builtin_role");
}

TEST(RoleDefinition, ReservedPermissionsAndOwnRolesOnlyBySuperAdmins) {
  const auto grantable = set_of({P::kFleetRead, P::kOrdersReadAssigned, P::kStaffRead});
  EXPECT_EQ(
      verdict_of(definition_refusal(kUserAdmin, false, false, set_of({P::kFleetRead}), grantable)),
      "allowed");
  const auto reserved = definition_refusal(kUserAdmin, false, false,
                                           set_of({P::kFleetRead, P::kKeysRotate}), grantable);
  ASSERT_TRUE(reserved.has_value());
  EXPECT_EQ(reserved->code, "permission_reserved");
  EXPECT_EQ(reserved->beyond, set_of({P::kKeysRotate}));
  EXPECT_EQ(
      verdict_of(definition_refusal(kUserAdmin, false, true, set_of({P::kFleetRead}), grantable)),
      "cannot_change_own_role");
  EXPECT_EQ(verdict_of(definition_refusal(kSuperAdmin, false, true,
                                          set_of({P::kFleetRead, P::kKeysRotate}), grantable)),
            "allowed");
}

TEST(RoleName, LowerCaseLettersDigitsAndUnderscoreAfterALetter) {
  for (const char* ok :
       {"night_packer", "qa", "checker2", "a_b_c", "abcdefghijklmnopqrstuvwxyz012345"}) {
    EXPECT_TRUE(valid_role_name(ok)) << ok;
  }
  for (const char* bad : {"", "a", "Night", "2nd", "_x", "night-packer", "night packer", "é1",
                          "abcdefghijklmnopqrstuvwxyz0123456"}) {
    EXPECT_FALSE(valid_role_name(bad)) << bad;
  }
}

}  // namespace
}  // namespace reclothes::controller::domain
