// Customer and staff accounts: the store functions shared by the routes and the CLI.
// All take the caller's transaction.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <string_view>
#include <vector>

#include "reclothes/common/clock.h"
#include "reclothes/common/result.h"
#include "reclothes/controller/auth.h"
#include "reclothes/controller/permissions.h"

namespace reclothes::controller {

// Lower-cased, trimmed; nullopt unless it looks like local@domain (3..254 characters).
std::optional<std::string> normalize_email(std::string_view email);

struct CustomerRecord {
  std::int64_t id = 0;
  std::string email;
  std::string display_name;
  std::optional<std::string> phone;
  std::string status;
  std::int64_t created_ms = 0;
  nlohmann::json to_json() const;
};

struct StaffRecord {
  std::int64_t id = 0;
  std::string email;
  std::string display_name;
  bool active = true;
  std::vector<Role> roles;                 // the built-in roles held, in enum order
  std::vector<std::string> custom_roles;   // the custom roles held, by name, sorted
  std::optional<std::int64_t> manager_id;  // who the member reports to (set by user admins)
  std::int64_t created_ms = 0;
  // Every role held by name: the built-in ones in enum order, then the custom ones.
  std::vector<std::string> role_names() const;
  bool holds(std::string_view role) const;
  nlohmann::json to_json() const;
};

// kAlreadyExists if the email is taken, kInvalidArgument for a bad email or password.
Result<CustomerRecord> create_customer(pqxx::work& tx, const PasswordHasher& hasher,
                                       const Clock& clock, std::string_view email,
                                       std::string_view password, std::string_view display_name,
                                       const std::optional<std::string>& phone);
std::optional<CustomerRecord> find_customer(pqxx::work& tx, std::int64_t id);
// With its password hash, for login.
std::optional<std::pair<CustomerRecord, std::string>> find_customer_by_email(
    pqxx::work& tx, std::string_view email);

Result<StaffRecord> create_staff(pqxx::work& tx, const PasswordHasher& hasher, const Clock& clock,
                                 std::string_view email, std::string_view password,
                                 std::string_view display_name, const std::vector<Role>& roles);
std::optional<StaffRecord> find_staff(pqxx::work& tx, std::int64_t id);
std::optional<std::pair<StaffRecord, std::string>> find_staff_by_email(pqxx::work& tx,
                                                                       std::string_view email);
std::vector<StaffRecord> list_staff(pqxx::work& tx);
void set_staff_roles(pqxx::work& tx, std::int64_t staff_id, const std::vector<Role>& roles);
// The same, and stamps updated_at (a change by a user admin).
void set_staff_roles(pqxx::work& tx, std::int64_t staff_id, const std::vector<Role>& roles,
                     std::int64_t now_ms);
// The same by role name (built-in or custom; a name that names no role row fails the foreign key).
void set_staff_roles(pqxx::work& tx, std::int64_t staff_id, const std::vector<std::string>& roles,
                     std::int64_t now_ms);
// The names among `names` that are not roles (neither built-in nor defined in the roles table).
std::vector<std::string> unknown_roles(pqxx::work& tx, const std::vector<std::string>& names);
// Makes the built-in roles' rows (roles, role_permissions) equal to the compiled table
// (permissions_of(); super_admin: every permission). A no-op while the roles table does not
// exist. Run by migrate() after the migrations. Returns the number of rows changed.
std::int64_t sync_builtin_roles(pqxx::work& tx);
void set_staff_active(pqxx::work& tx, std::int64_t staff_id, bool active, std::int64_t now_ms);
// Changes the display name (nullopt: unchanged) and the phone (when phone_sent; nullopt clears).
void update_customer_profile(pqxx::work& tx, std::int64_t id,
                             const std::optional<std::string>& display_name, bool phone_sent,
                             const std::optional<std::string>& phone, std::int64_t now_ms);

nlohmann::json roles_json(const std::vector<Role>& roles);

}  // namespace reclothes::controller
