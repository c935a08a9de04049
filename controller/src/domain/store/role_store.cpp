#include "role_store.h"

#include <algorithm>

#include "reclothes/controller/db.h"

namespace reclothes::controller::domain {
namespace {

const std::string kRoleColumns =
    "r.name, r.description, r.builtin, r.operational, " + ms_of("r.created_at") + ", " +
    ms_of("r.updated_at") +
    ", COALESCE((SELECT string_agg(permission, ',') FROM role_permissions p WHERE p.role = "
    "r.name), ''), (SELECT count(*) FROM staff_roles s WHERE s.role = r.name)";

RoleRecord role_from(const pqxx::row& row) {
  RoleRecord r;
  r.name = row[0].as<std::string>();
  r.description = row[1].as<std::string>();
  r.builtin = row[2].as<bool>();
  r.operational = row[3].as<bool>();
  r.created_ms = row[4].as<std::int64_t>();
  r.updated_ms = row[5].as<std::int64_t>();
  const auto csv = row[6].as<std::string>();
  std::size_t start = 0;
  while (start < csv.size()) {
    auto end = csv.find(',', start);
    if (end == std::string::npos) end = csv.size();
    if (auto p = permission_from_string(std::string_view(csv).substr(start, end - start))) {
      r.permissions.set(static_cast<std::size_t>(*p));
    }
    start = end + 1;
  }
  if (r.name == to_string(Role::kSuperAdmin)) r.permissions.set();
  r.holders = row[7].as<std::int64_t>();
  return r;
}

// Built-in roles in the compiled order, then custom roles by name.
int builtin_rank(const RoleRecord& r) {
  const auto builtin = role_from_string(r.name);
  return builtin ? static_cast<int>(*builtin) : static_cast<int>(kRoleCount);
}

void write_permissions(pqxx::work& tx, const std::string& role, const PermissionSet& set) {
  tx.exec_params("DELETE FROM role_permissions WHERE role = $1", role);
  for (auto p : all_permissions()) {
    if (!has(set, p)) continue;
    tx.exec_params("INSERT INTO role_permissions (role, permission) VALUES ($1, $2)", role,
                   std::string(to_string(p)));
  }
}

StoreResult<RoleRecord> read_role(pqxx::work& tx, const std::string& name, bool lock) {
  if (lock) {
    if (tx.exec_params("SELECT 1 FROM roles WHERE name = $1 FOR UPDATE", name).empty()) {
      return DomainError::not_found("role");
    }
  }
  const auto rows =
      tx.exec_params("SELECT " + kRoleColumns + " FROM roles r WHERE r.name = $1", name);
  if (rows.empty()) return DomainError::not_found("role");
  return role_from(rows[0]);
}

}  // namespace

nlohmann::json RoleRecord::to_json() const {
  return {{"name", name},
          {"description", description},
          {"builtin", builtin},
          {"operational", operational},
          {"permissions", permission_names(permissions)},
          {"holders", holders},
          {"created_at", ts(created_ms)},
          {"updated_at", ts(updated_ms)}};
}

PermissionSet permission_set(const std::vector<std::string>& names,
                             std::vector<std::string>& unknown) {
  PermissionSet set;
  for (const auto& n : names) {
    if (auto p = permission_from_string(n)) {
      set.set(static_cast<std::size_t>(*p));
    } else {
      unknown.push_back(n);
    }
  }
  return set;
}

nlohmann::json permission_names(const PermissionSet& set) {
  nlohmann::json out = nlohmann::json::array();
  for (auto p : all_permissions()) {
    if (has(set, p)) out.push_back(to_string(p));
  }
  return out;
}

StoreResult<std::vector<RoleRecord>> list_roles(pqxx::work& tx) {
  return guarded([&]() -> StoreResult<std::vector<RoleRecord>> {
    std::vector<RoleRecord> out;
    for (const auto& row : tx.exec("SELECT " + kRoleColumns + " FROM roles r ORDER BY r.name")) {
      out.push_back(role_from(row));
    }
    std::stable_sort(out.begin(), out.end(), [](const RoleRecord& a, const RoleRecord& b) {
      return builtin_rank(a) < builtin_rank(b);
    });
    return out;
  });
}

StoreResult<RoleRecord> find_role(pqxx::work& tx, const std::string& name, bool lock) {
  return guarded([&]() -> StoreResult<RoleRecord> { return read_role(tx, name, lock); });
}

StoreResult<RoleRecord> create_role(pqxx::work& tx, const RoleDraft& draft, std::int64_t now_ms) {
  return guarded([&]() -> StoreResult<RoleRecord> {
    const auto inserted = tx.exec_params(
        "INSERT INTO roles (name, description, builtin, operational, created_at, updated_at) "
        "VALUES ($1, $2, false, $3, $4::timestamptz, $4::timestamptz) "
        "ON CONFLICT (name) DO NOTHING RETURNING name",
        draft.name, draft.description, draft.operational, ts(now_ms));
    if (inserted.empty()) {
      return DomainError::conflict("role_exists",
                                   "a role named " + draft.name +
                                       " exists already; choose another "
                                       "name or change that role (PATCH /internal/v1/roles/" +
                                       draft.name + ")",
                                   {{"role", draft.name}});
    }
    write_permissions(tx, draft.name, draft.permissions);
    return read_role(tx, draft.name, false);
  });
}

StoreResult<RoleChange> update_role(pqxx::work& tx, const std::string& name, const RoleEdit& edit,
                                    std::int64_t now_ms) {
  return guarded([&]() -> StoreResult<RoleChange> {
    auto before = read_role(tx, name, true);
    if (!before.ok()) return before.error();
    tx.exec_params(
        "UPDATE roles SET description = COALESCE($2, description), "
        "operational = COALESCE($3, operational), updated_at = $4::timestamptz WHERE name = $1",
        name, edit.description, edit.operational, ts(now_ms));
    if (edit.permissions) write_permissions(tx, name, *edit.permissions);
    auto after = read_role(tx, name, false);
    if (!after.ok()) return after.error();
    return RoleChange{std::move(before).value(), std::move(after).value()};
  });
}

StoreResult<RoleRecord> delete_role(pqxx::work& tx, const std::string& name) {
  return guarded([&]() -> StoreResult<RoleRecord> {
    auto role = read_role(tx, name, true);
    if (!role.ok()) return role.error();
    // The role row lock keeps new holders out (staff_roles' foreign key takes a share lock on it).
    if (role->holders > 0) {
      return DomainError::conflict(
          "role_assigned",
          "the role " + name + " is held by " + std::to_string(role->holders) +
              " staff member(s); take it away from them first (GET /internal/v1/staff lists "
              "their roles)",
          {{"role", name}, {"holders", role->holders}});
    }
    tx.exec_params("DELETE FROM roles WHERE name = $1", name);
    return role;
  });
}

StoreResult<StaffRecord> lock_staff(pqxx::work& tx, std::int64_t staff_id) {
  return guarded([&]() -> StoreResult<StaffRecord> {
    if (tx.exec_params("SELECT 1 FROM staff WHERE id = $1 FOR UPDATE", staff_id).empty()) {
      return DomainError::not_found("staff member");
    }
    return *find_staff(tx, staff_id);
  });
}

StoreResult<StaffChange> change_staff_role(pqxx::work& tx, std::int64_t staff_id,
                                           const std::string& role, bool give,
                                           std::int64_t now_ms) {
  return guarded([&]() -> StoreResult<StaffChange> {
    auto before = lock_staff(tx, staff_id);
    if (!before.ok()) return before.error();
    const auto changed =
        give ? tx.exec_params(
                     "INSERT INTO staff_roles (staff_id, role) VALUES ($1, $2) "
                     "ON CONFLICT DO NOTHING",
                     staff_id, role)
                   .affected_rows()
             : tx.exec_params("DELETE FROM staff_roles WHERE staff_id = $1 AND role = $2", staff_id,
                              role)
                   .affected_rows();
    if (changed > 0) {
      tx.exec_params("UPDATE staff SET updated_at = $2::timestamptz WHERE id = $1", staff_id,
                     ts(now_ms));
    }
    return StaffChange{std::move(before).value(), *find_staff(tx, staff_id)};
  });
}

StoreResult<StaffChange> set_staff_manager(pqxx::work& tx, std::int64_t staff_id,
                                           std::optional<std::int64_t> manager_id,
                                           std::int64_t now_ms) {
  return guarded([&]() -> StoreResult<StaffChange> {
    auto before = lock_staff(tx, staff_id);
    if (!before.ok()) return before.error();
    if (manager_id) {
      if (*manager_id == staff_id) {
        return DomainError::invalid("cannot_manage_self",
                                    "a staff member is not their own manager");
      }
      if (!find_staff(tx, *manager_id)) {
        return DomainError::invalid("manager_not_found",
                                    "no staff member has the id " + std::to_string(*manager_id),
                                    {{"manager_id", *manager_id}});
      }
      // The manager's own chain of managers must not lead back to this staff member.
      const auto loop = tx.exec_params(
          "WITH RECURSIVE chain(id) AS (SELECT $1::bigint UNION SELECT s.manager_id FROM staff s "
          "JOIN chain c ON s.id = c.id WHERE s.manager_id IS NOT NULL) "
          "SELECT 1 FROM chain WHERE id = $2",
          *manager_id, staff_id);
      if (!loop.empty()) {
        return DomainError::conflict("manager_loop",
                                     "staff member " + std::to_string(*manager_id) +
                                         " reports to staff member " + std::to_string(staff_id) +
                                         ", directly or not: they cannot also be their manager",
                                     {{"manager_id", *manager_id}});
      }
    }
    tx.exec_params("UPDATE staff SET manager_id = $2, updated_at = $3::timestamptz WHERE id = $1",
                   staff_id, manager_id, ts(now_ms));
    return StaffChange{std::move(before).value(), *find_staff(tx, staff_id)};
  });
}

}  // namespace reclothes::controller::domain
