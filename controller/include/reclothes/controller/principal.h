// Who is making a request, as established by the dispatcher from a session token.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "reclothes/controller/permissions.h"

namespace reclothes::controller {

enum class AccountKind { kCustomer, kStaff };
std::string_view to_string(AccountKind kind);  // "customer", "staff"

struct Principal {
  AccountKind kind = AccountKind::kCustomer;
  std::int64_t account_id = 0;
  std::int64_t session_id = 0;
  std::string email;
  std::vector<Role> roles;                // staff only: the built-in roles held
  std::vector<std::string> custom_roles;  // staff only: the custom roles held, by name
  // Staff only: the union over all roles held, as the database defines them now (read on every
  // request: a role or assignment change holds on the next one).
  PermissionSet permissions;
  std::int64_t session_expires_ms = 0;

  bool is_staff() const { return kind == AccountKind::kStaff; }
  bool can(Permission p) const { return is_staff() && has(permissions, p); }
};

}  // namespace reclothes::controller
