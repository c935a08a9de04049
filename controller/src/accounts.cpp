#include "reclothes/controller/accounts.h"

#include <algorithm>

#include "reclothes/controller/db.h"

namespace reclothes::controller {
namespace {

// Splits the comma-separated role names into the built-in roles and the custom ones.
void parse_roles(const std::string& csv, StaffRecord& s) {
  std::size_t start = 0;
  while (start < csv.size()) {
    auto end = csv.find(',', start);
    if (end == std::string::npos) end = csv.size();
    const auto name = std::string_view(csv).substr(start, end - start);
    if (auto r = role_from_string(name)) {
      s.roles.push_back(*r);
    } else if (!name.empty()) {
      s.custom_roles.emplace_back(name);
    }
    start = end + 1;
  }
  std::sort(s.roles.begin(), s.roles.end());
  std::sort(s.custom_roles.begin(), s.custom_roles.end());
}

const std::string kCustomerColumns =
    "id, email, display_name, phone, status, " + ms_of("created_at");
const std::string kStaffColumns =
    "id, email, display_name, active, " + ms_of("created_at") +
    ", COALESCE((SELECT string_agg(role, ',') FROM staff_roles r WHERE r.staff_id = staff.id), "
    "''), manager_id";

CustomerRecord customer_from(const pqxx::row& row) {
  CustomerRecord c;
  c.id = row[0].as<std::int64_t>();
  c.email = row[1].as<std::string>();
  c.display_name = row[2].as<std::string>();
  c.phone = opt<std::string>(row[3]);
  c.status = row[4].as<std::string>();
  c.created_ms = row[5].as<std::int64_t>();
  return c;
}

StaffRecord staff_from(const pqxx::row& row) {
  StaffRecord s;
  s.id = row[0].as<std::int64_t>();
  s.email = row[1].as<std::string>();
  s.display_name = row[2].as<std::string>();
  s.active = row[3].as<bool>();
  s.created_ms = row[4].as<std::int64_t>();
  parse_roles(row[5].as<std::string>(), s);
  s.manager_id = opt<std::int64_t>(row[6]);
  return s;
}

}  // namespace

std::optional<std::string> normalize_email(std::string_view email) {
  while (!email.empty() && std::isspace(static_cast<unsigned char>(email.front())))
    email.remove_prefix(1);
  while (!email.empty() && std::isspace(static_cast<unsigned char>(email.back())))
    email.remove_suffix(1);
  if (email.size() < 3 || email.size() > 254) return std::nullopt;
  const auto at = email.find('@');
  if (at == std::string_view::npos || at == 0 || at + 1 >= email.size() ||
      email.find('@', at + 1) != std::string_view::npos) {
    return std::nullopt;
  }
  std::string out(email);
  for (auto& ch : out) {
    const auto u = static_cast<unsigned char>(ch);
    if (u < 0x21 || u == 0x7f) return std::nullopt;  // no spaces or control characters
    ch = static_cast<char>(std::tolower(u));
  }
  return out;
}

nlohmann::json roles_json(const std::vector<Role>& roles) {
  nlohmann::json a = nlohmann::json::array();
  for (auto r : roles) a.push_back(to_string(r));
  return a;
}

nlohmann::json CustomerRecord::to_json() const {
  return {{"id", id},
          {"email", email},
          {"display_name", display_name},
          {"phone", phone ? nlohmann::json(*phone) : nlohmann::json()},
          {"status", status},
          {"created_at", ts(created_ms)}};
}

std::vector<std::string> StaffRecord::role_names() const {
  std::vector<std::string> out;
  for (auto r : roles) out.emplace_back(to_string(r));
  out.insert(out.end(), custom_roles.begin(), custom_roles.end());
  return out;
}

bool StaffRecord::holds(std::string_view role) const {
  if (auto r = role_from_string(role))
    return std::find(roles.begin(), roles.end(), *r) != roles.end();
  return std::find(custom_roles.begin(), custom_roles.end(), role) != custom_roles.end();
}

nlohmann::json StaffRecord::to_json() const {
  return {{"id", id},
          {"email", email},
          {"display_name", display_name},
          {"active", active},
          {"roles", role_names()},
          {"manager_id", manager_id ? nlohmann::json(*manager_id) : nlohmann::json()},
          {"created_at", ts(created_ms)}};
}

Result<CustomerRecord> create_customer(pqxx::work& tx, const PasswordHasher& hasher,
                                       const Clock& clock, std::string_view email,
                                       std::string_view password, std::string_view display_name,
                                       const std::optional<std::string>& phone) {
  const auto normalized = normalize_email(email);
  if (!normalized) return make_error(ErrorCode::kInvalidArgument, "email is not a valid address");
  if (auto problem = hasher.policy_problem(password)) {
    return make_error(ErrorCode::kInvalidArgument, "password " + *problem);
  }
  const auto exists =
      tx.exec_params("SELECT 1 FROM customers WHERE lower(email) = $1", *normalized);
  if (!exists.empty()) return make_error(ErrorCode::kAlreadyExists, "email is already registered");
  RC_ASSIGN_OR_RETURN(auto hash, hasher.hash(password));
  const auto now = ts(clock.wall_ms());
  const auto row = tx.exec_params1(
      "INSERT INTO customers (email, password_hash, display_name, phone, created_at, updated_at) "
      "VALUES ($1, $2, $3, $4, $5::timestamptz, $5::timestamptz) RETURNING " +
          kCustomerColumns,
      *normalized, hash, std::string(display_name), phone, now);
  return customer_from(row);
}

std::optional<CustomerRecord> find_customer(pqxx::work& tx, std::int64_t id) {
  const auto rows =
      tx.exec_params("SELECT " + kCustomerColumns + " FROM customers WHERE id = $1", id);
  if (rows.empty()) return std::nullopt;
  return customer_from(rows[0]);
}

std::optional<std::pair<CustomerRecord, std::string>> find_customer_by_email(
    pqxx::work& tx, std::string_view email) {
  const auto rows = tx.exec_params(
      "SELECT " + kCustomerColumns + ", password_hash FROM customers WHERE lower(email) = $1",
      std::string(email));
  if (rows.empty()) return std::nullopt;
  return std::make_pair(customer_from(rows[0]), rows[0][6].as<std::string>());
}

Result<StaffRecord> create_staff(pqxx::work& tx, const PasswordHasher& hasher, const Clock& clock,
                                 std::string_view email, std::string_view password,
                                 std::string_view display_name, const std::vector<Role>& roles) {
  const auto normalized = normalize_email(email);
  if (!normalized) return make_error(ErrorCode::kInvalidArgument, "email is not a valid address");
  if (auto problem = hasher.policy_problem(password)) {
    return make_error(ErrorCode::kInvalidArgument, "password " + *problem);
  }
  const auto exists = tx.exec_params("SELECT 1 FROM staff WHERE lower(email) = $1", *normalized);
  if (!exists.empty()) return make_error(ErrorCode::kAlreadyExists, "email is already registered");
  RC_ASSIGN_OR_RETURN(auto hash, hasher.hash(password));
  const auto now = ts(clock.wall_ms());
  const auto row = tx.exec_params1(
      "INSERT INTO staff (email, password_hash, display_name, created_at, updated_at) "
      "VALUES ($1, $2, $3, $4::timestamptz, $4::timestamptz) RETURNING id",
      *normalized, hash, std::string(display_name), now);
  const auto id = row[0].as<std::int64_t>();
  set_staff_roles(tx, id, roles);
  return *find_staff(tx, id);
}

std::optional<StaffRecord> find_staff(pqxx::work& tx, std::int64_t id) {
  const auto rows = tx.exec_params("SELECT " + kStaffColumns + " FROM staff WHERE id = $1", id);
  if (rows.empty()) return std::nullopt;
  return staff_from(rows[0]);
}

std::optional<std::pair<StaffRecord, std::string>> find_staff_by_email(pqxx::work& tx,
                                                                       std::string_view email) {
  const auto rows = tx.exec_params(
      "SELECT " + kStaffColumns + ", password_hash FROM staff WHERE lower(email) = $1",
      std::string(email));
  if (rows.empty()) return std::nullopt;
  return std::make_pair(staff_from(rows[0]), rows[0][7].as<std::string>());
}

std::vector<StaffRecord> list_staff(pqxx::work& tx) {
  std::vector<StaffRecord> out;
  for (const auto& row : tx.exec("SELECT " + kStaffColumns + " FROM staff ORDER BY id")) {
    out.push_back(staff_from(row));
  }
  return out;
}

void set_staff_roles(pqxx::work& tx, std::int64_t staff_id, const std::vector<Role>& roles) {
  tx.exec_params("DELETE FROM staff_roles WHERE staff_id = $1", staff_id);
  for (auto r : roles) {
    tx.exec_params(
        "INSERT INTO staff_roles (staff_id, role) VALUES ($1, $2) ON CONFLICT DO NOTHING", staff_id,
        std::string(to_string(r)));
  }
}

void set_staff_roles(pqxx::work& tx, std::int64_t staff_id, const std::vector<Role>& roles,
                     std::int64_t now_ms) {
  set_staff_roles(tx, staff_id, roles);
  tx.exec_params("UPDATE staff SET updated_at = $2::timestamptz WHERE id = $1", staff_id,
                 ts(now_ms));
}

void set_staff_roles(pqxx::work& tx, std::int64_t staff_id, const std::vector<std::string>& roles,
                     std::int64_t now_ms) {
  tx.exec_params("DELETE FROM staff_roles WHERE staff_id = $1", staff_id);
  for (const auto& r : roles) {
    tx.exec_params(
        "INSERT INTO staff_roles (staff_id, role) VALUES ($1, $2) ON CONFLICT DO NOTHING", staff_id,
        r);
  }
  tx.exec_params("UPDATE staff SET updated_at = $2::timestamptz WHERE id = $1", staff_id,
                 ts(now_ms));
}

std::vector<std::string> unknown_roles(pqxx::work& tx, const std::vector<std::string>& names) {
  std::vector<std::string> out;
  for (const auto& n : names) {
    if (role_from_string(n)) continue;
    if (tx.exec_params("SELECT 1 FROM roles WHERE name = $1", n).empty()) out.push_back(n);
  }
  return out;
}

std::int64_t sync_builtin_roles(pqxx::work& tx) {
  if (!tx.exec1("SELECT to_regclass('public.role_permissions') IS NOT NULL")[0].as<bool>())
    return 0;
  std::size_t changed = 0;
  for (auto role : all_roles()) {
    const std::string name(to_string(role));
    const bool operational =
        role == Role::kChecker || role == Role::kPacker || role == Role::kDelivery;
    changed += tx.exec_params(
                     "INSERT INTO roles (name, builtin, operational) VALUES ($1, true, $2) "
                     "ON CONFLICT (name) DO UPDATE SET builtin = true WHERE NOT roles.builtin",
                     name, operational)
                   .affected_rows();
    const auto granted = permissions_of(role);
    std::vector<std::string> names;
    for (auto p : all_permissions()) {
      if (has(granted, p)) names.emplace_back(to_string(p));
    }
    for (const auto& row :
         tx.exec_params("SELECT permission FROM role_permissions WHERE role = $1", name)) {
      const auto held = row[0].as<std::string>();
      if (std::find(names.begin(), names.end(), held) != names.end()) continue;
      changed += tx.exec_params("DELETE FROM role_permissions WHERE role = $1 AND permission = $2",
                                name, held)
                     .affected_rows();
    }
    for (const auto& p : names) {
      changed += tx.exec_params(
                       "INSERT INTO role_permissions (role, permission) VALUES ($1, $2) "
                       "ON CONFLICT DO NOTHING",
                       name, p)
                     .affected_rows();
    }
  }
  return static_cast<std::int64_t>(changed);
}

void set_staff_active(pqxx::work& tx, std::int64_t staff_id, bool active, std::int64_t now_ms) {
  tx.exec_params("UPDATE staff SET active = $2, updated_at = $3::timestamptz WHERE id = $1",
                 staff_id, active, ts(now_ms));
}

void update_customer_profile(pqxx::work& tx, std::int64_t id,
                             const std::optional<std::string>& display_name, bool phone_sent,
                             const std::optional<std::string>& phone, std::int64_t now_ms) {
  tx.exec_params(
      "UPDATE customers SET display_name = COALESCE($2, display_name), "
      "phone = CASE WHEN $3 THEN $4 ELSE phone END, "
      "updated_at = $5::timestamptz WHERE id = $1",
      id, display_name, phone_sent, phone, ts(now_ms));
}

}  // namespace reclothes::controller
