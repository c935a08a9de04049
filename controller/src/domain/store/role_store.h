// Roles as named permission sets and the staff's managers (issue 18, item 6): the role rows
// (roles, role_permissions: migration 0017), one staff member's roles one at a time, and who
// manages whom. Every function takes the caller's transaction and plain values and returns a
// StoreResult (outcome.h); the rules of who may do what are rules/role_rules.cpp, checked by
// the routes before they call these. Nothing here knows HTTP.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "outcome.h"
#include "reclothes/controller/accounts.h"
#include "reclothes/controller/domain/role_rules.h"

namespace reclothes::controller::domain {

struct RoleRecord {
  std::string name;
  std::string description;
  bool builtin = false;
  bool operational = false;
  PermissionSet permissions;  // super_admin: every permission
  std::int64_t holders = 0;   // staff members holding it
  std::int64_t created_ms = 0;
  std::int64_t updated_ms = 0;
  // {name, description, builtin, operational, permissions (names, in enum order), holders,
  // created_at, updated_at}
  nlohmann::json to_json() const;
  RoleFacts facts() const { return RoleFacts{name, permissions, builtin, operational}; }
};

// Every role, built-in ones first (in the compiled order), then custom ones by name.
StoreResult<std::vector<RoleRecord>> list_roles(pqxx::work& tx);
// One role; `lock` takes its row for the rest of the transaction. Errors: not_found "role".
StoreResult<RoleRecord> find_role(pqxx::work& tx, const std::string& name, bool lock = false);

struct RoleDraft {
  std::string name;  // valid_role_name (checked by the caller)
  std::string description;
  bool operational = false;
  PermissionSet permissions;
};
// A custom role. Errors: conflict role_exists.
StoreResult<RoleRecord> create_role(pqxx::work& tx, const RoleDraft& draft, std::int64_t now_ms);

// The fields of a change that are set.
struct RoleEdit {
  std::optional<std::string> description;
  std::optional<bool> operational;
  std::optional<PermissionSet> permissions;  // replaces the set
};
struct RoleChange {
  RoleRecord before;
  RoleRecord after;
};
// Changes a custom role (the caller checked definition_refusal). Errors: not_found "role".
StoreResult<RoleChange> update_role(pqxx::work& tx, const std::string& name, const RoleEdit& edit,
                                    std::int64_t now_ms);
// Deletes a custom role (the caller checked definition_refusal) and returns it as it was.
// Errors: not_found "role"; conflict role_assigned with details {role, holders} while anyone
// holds it.
StoreResult<RoleRecord> delete_role(pqxx::work& tx, const std::string& name);

struct StaffChange {
  StaffRecord before;
  StaffRecord after;
};
// One staff member, its row locked for the rest of the transaction (two role changes of one
// member are serialised). Errors: not_found "staff member".
StoreResult<StaffRecord> lock_staff(pqxx::work& tx, std::int64_t staff_id);
// Gives (`give`) or takes away one role; giving a held role or taking away one not held changes
// nothing (before == after). Errors: not_found "staff member".
StoreResult<StaffChange> change_staff_role(pqxx::work& tx, std::int64_t staff_id,
                                           const std::string& role, bool give, std::int64_t now_ms);
// Sets (or with nullopt clears) a staff member's manager. Errors: not_found "staff member";
// invalid manager_not_found for an unknown manager; invalid cannot_manage_self; conflict
// manager_loop when the manager reports, directly or not, to the staff member.
StoreResult<StaffChange> set_staff_manager(pqxx::work& tx, std::int64_t staff_id,
                                           std::optional<std::int64_t> manager_id,
                                           std::int64_t now_ms);

// Permission names to a set; the names that are no permission go to `unknown`.
PermissionSet permission_set(const std::vector<std::string>& names,
                             std::vector<std::string>& unknown);
// A set as its permission names, in enum order.
nlohmann::json permission_names(const PermissionSet& set);

}  // namespace reclothes::controller::domain
