// Authorization: roles x routes, staff-management rules, the internal network allowlist, and the
// audit trail of writes and denials.
#include <map>
#include <set>

#include "fixture.h"

namespace reclothes::controller::testing {
namespace {

using R = Role;

const std::set<Role> kAllRoles = {R::kChecker, R::kPacker,    R::kDelivery,
                                  R::kManager, R::kUserAdmin, R::kSuperAdmin};

// Staff who work on orders (orders.read_assigned).
const std::set<Role> kOrderStaff = {R::kChecker, R::kPacker, R::kDelivery, R::kManager,
                                    R::kSuperAdmin};

// The expected access of every internal route, written out by hand: this is the specification
// the production role table is checked against (the test never asks permissions_of()).
struct Expectation {
  std::string method;
  std::string path_template;  // as registered
  std::set<Role> allowed;     // roles that may call it
};

const std::vector<Expectation>& expectations() {
  static const std::vector<Expectation> kTable = {
      {"DELETE", "/internal/v1/sessions/current", kAllRoles},
      {"GET", "/internal/v1/sessions/current", kAllRoles},
      {"GET", "/internal/v1/staff/me", kAllRoles},
      {"GET", "/internal/v1/staff", {R::kManager, R::kUserAdmin, R::kSuperAdmin}},
      {"POST", "/internal/v1/staff", {R::kUserAdmin, R::kSuperAdmin}},
      {"GET", "/internal/v1/staff/{staff_id}", {R::kManager, R::kUserAdmin, R::kSuperAdmin}},
      {"POST", "/internal/v1/staff/{staff_id}/deactivate", {R::kUserAdmin, R::kSuperAdmin}},
      {"POST", "/internal/v1/staff/{staff_id}/activate", {R::kUserAdmin, R::kSuperAdmin}},
      {"PUT", "/internal/v1/staff/{staff_id}/roles", {R::kUserAdmin, R::kSuperAdmin}},
      {"GET", "/internal/v1/locations", {R::kDelivery, R::kManager, R::kSuperAdmin}},
      {"POST", "/internal/v1/locations", {R::kManager, R::kSuperAdmin}},
      {"GET", "/internal/v1/locations/{location_id}", {R::kDelivery, R::kManager, R::kSuperAdmin}},
      {"PATCH", "/internal/v1/locations/{location_id}", {R::kManager, R::kSuperAdmin}},
      {"GET", "/internal/v1/boxes", {R::kDelivery, R::kManager, R::kSuperAdmin}},
      {"POST", "/internal/v1/boxes", {R::kManager, R::kSuperAdmin}},
      {"GET", "/internal/v1/boxes/{box_id}", {R::kDelivery, R::kManager, R::kSuperAdmin}},
      {"POST", "/internal/v1/boxes/{box_id}/maintenance", {R::kManager, R::kSuperAdmin}},
      {"POST", "/internal/v1/boxes/{box_id}/decommission", {R::kManager, R::kSuperAdmin}},
      {"POST",
       "/internal/v1/boxes/{box_id}/compartments/{number}/open",
       {R::kDelivery, R::kManager, R::kSuperAdmin}},
      {"GET", "/internal/v1/boxes/{box_id}/commands", {R::kDelivery, R::kManager, R::kSuperAdmin}},
      {"GET", "/internal/v1/keys", {R::kSuperAdmin}},
      {"POST", "/internal/v1/keys/rotate", {R::kSuperAdmin}},
      {"POST", "/internal/v1/keys/{key_id}/retire", {R::kSuperAdmin}},
      {"POST", "/internal/v1/tokens/courier", {R::kDelivery, R::kManager, R::kSuperAdmin}},
      {"POST", "/internal/v1/tokens/{token_id}/revoke", {R::kManager, R::kSuperAdmin}},
      {"GET", "/internal/v1/audit", {R::kManager, R::kSuperAdmin}},
      // The order domain (docs/orders.md).
      {"GET", "/internal/v1/orders", kOrderStaff},
      {"GET", "/internal/v1/orders/{id}", kOrderStaff},
      {"POST", "/internal/v1/orders/{id}/assign", {R::kManager, R::kSuperAdmin}},
      // A manager's decisions about stuck internal orders (issue 18).
      {"POST", "/internal/v1/orders/{id}/reassign", {R::kManager, R::kSuperAdmin}},
      {"POST", "/internal/v1/orders/{id}/cancel", {R::kManager, R::kSuperAdmin}},
      {"POST", "/internal/v1/orders/{id}/force-complete", {R::kManager, R::kSuperAdmin}},
      {"POST", "/internal/v1/orders/{id}/complete", kOrderStaff},
      {"POST", "/internal/v1/orders/{id}/items/{number}/grade", kOrderStaff},
      {"GET", "/internal/v1/orders/{id}/label.png", kOrderStaff},
      {"GET", "/internal/v1/orders/{id}/courier-qr.png", kOrderStaff},
      {"POST", "/internal/v1/orders/{id}/problems", kOrderStaff},
      {"POST", "/internal/v1/boxes/{box_id}/collect", {R::kManager, R::kSuperAdmin}},
      {"GET", "/internal/v1/products", {R::kChecker, R::kManager, R::kSuperAdmin}},
      {"POST", "/internal/v1/products", {R::kChecker, R::kManager, R::kSuperAdmin}},
      {"GET", "/internal/v1/products/{id}", {R::kChecker, R::kManager, R::kSuperAdmin}},
      {"PATCH", "/internal/v1/products/{id}", {R::kChecker, R::kManager, R::kSuperAdmin}},
      {"PUT", "/internal/v1/products/{id}/price", {R::kManager, R::kSuperAdmin}},
      {"GET", "/internal/v1/customers", {R::kManager, R::kSuperAdmin}},
      {"GET", "/internal/v1/customers/{customer_id}", {R::kManager, R::kSuperAdmin}},
      {"GET", "/internal/v1/customers/{customer_id}/export", {R::kSuperAdmin}},
      {"POST", "/internal/v1/customers/{customer_id}/erase", {R::kSuperAdmin}},
      {"POST", "/internal/v1/customers/{customer_id}/coins", {R::kManager, R::kSuperAdmin}},
      {"POST", "/internal/v1/coupons", {R::kManager, R::kSuperAdmin}},
      {"GET", "/internal/v1/coupons", {R::kManager, R::kSuperAdmin}},
      {"POST", "/internal/v1/coupons/redeem", kOrderStaff},
      // Roles as named permission sets (issue 18): user admins define them and set managers;
      // managers give their employees operational roles.
      {"GET", "/internal/v1/roles", {R::kManager, R::kUserAdmin, R::kSuperAdmin}},
      {"POST", "/internal/v1/roles", {R::kUserAdmin, R::kSuperAdmin}},
      {"PATCH", "/internal/v1/roles/{role}", {R::kUserAdmin, R::kSuperAdmin}},
      {"DELETE", "/internal/v1/roles/{role}", {R::kUserAdmin, R::kSuperAdmin}},
      {"POST", "/internal/v1/staff/{staff_id}/roles/{role}", {R::kManager, R::kSuperAdmin}},
      {"DELETE", "/internal/v1/staff/{staff_id}/roles/{role}", {R::kManager, R::kSuperAdmin}},
      {"PUT", "/internal/v1/staff/{staff_id}/manager", {R::kUserAdmin, R::kSuperAdmin}},
      // Customer service on a customer's behalf (docs/orders.md).
      {"GET", "/internal/v1/buying-orders", {R::kManager, R::kSuperAdmin}},
      {"GET", "/internal/v1/buying-orders/{id}", {R::kManager, R::kSuperAdmin}},
      {"POST", "/internal/v1/buying-orders/{id}/cancel", {R::kManager, R::kSuperAdmin}},
      {"POST", "/internal/v1/buying-orders/{id}/refund", {R::kManager, R::kSuperAdmin}},
      {"POST", "/internal/v1/buying-orders/{id}/resend-pickup-code", {R::kManager, R::kSuperAdmin}},
      {"GET", "/internal/v1/donations", {R::kManager, R::kSuperAdmin}},
      {"GET", "/internal/v1/donations/{id}", {R::kManager, R::kSuperAdmin}},
      {"POST", "/internal/v1/donations/{id}/cancel", {R::kManager, R::kSuperAdmin}},
      // Donor returns (issue 18): managers decide.
      {"GET", "/internal/v1/donor-returns", {R::kManager, R::kSuperAdmin}},
      {"POST", "/internal/v1/donor-returns/{id}/approve", {R::kManager, R::kSuperAdmin}},
      {"POST", "/internal/v1/donor-returns/{id}/refuse", {R::kManager, R::kSuperAdmin}},
      // Alarms (docs/orders.md, "Alarms"): whoever sees the fleet sees and acknowledges faults
      // (the courier on call); resolving and setting who is on call need fleet.write.
      {"GET", "/internal/v1/faults", {R::kDelivery, R::kManager, R::kSuperAdmin}},
      {"GET", "/internal/v1/faults/{id}", {R::kDelivery, R::kManager, R::kSuperAdmin}},
      {"POST", "/internal/v1/faults/{id}/acknowledge", {R::kDelivery, R::kManager, R::kSuperAdmin}},
      {"POST", "/internal/v1/faults/{id}/resolve", {R::kManager, R::kSuperAdmin}},
      {"GET",
       "/internal/v1/locations/{location_id}/on-call",
       {R::kDelivery, R::kManager, R::kSuperAdmin}},
      {"PUT", "/internal/v1/locations/{location_id}/on-call", {R::kManager, R::kSuperAdmin}},
  };
  return kTable;
}

// Routes anyone may call (no token).
const std::set<std::pair<std::string, std::string>> kOpenRoutes = {
    {"POST", "/internal/v1/sessions"}, {"GET", "/healthz"}, {"GET", "/readyz"}, {"GET", "/metrics"},
    {"GET", "/openapi.json"},
};

class AuthzTest : public ControllerTest {
 protected:
  void SetUp() override {
    ControllerTest::SetUp();
    start_controller();
  }

  // A concrete request for a route template, with a body that is valid if the caller is allowed.
  std::pair<std::string, std::optional<nlohmann::json>> sample(const Expectation& e) {
    std::string path = e.path_template;
    const auto replace = [&](const std::string& name, const std::string& value) {
      const auto pos = path.find("{" + name + "}");
      if (pos != std::string::npos) path.replace(pos, name.size() + 2, value);
    };
    replace("staff_id", std::to_string(target_staff_));
    replace("location_id", std::to_string(location_id_));
    replace("box_id",
            e.path_template.find("decommission") != std::string::npos ? "box-dc" : "box-1");
    replace("number", "1");
    replace("key_id", "999");
    replace("token_id", "0123456789abcdef");
    replace("id", "999999");  // an order or product that does not exist: 404 when allowed
    replace("customer_id", "999999");
    replace("role", "no_such_role");  // a role that does not exist: 404 when allowed
    std::optional<nlohmann::json> body;
    if (e.method == "POST" && e.path_template == "/internal/v1/staff") {
      body = {{"email", "new" + std::to_string(++unique_) + "@example.org"},
              {"password", kPassword}};
    } else if (e.method == "POST" && e.path_template == "/internal/v1/roles") {
      body = {{"name", "role" + std::to_string(++unique_)}, {"permissions", {"fleet.read"}}};
    } else if (e.method == "PATCH" && e.path_template == "/internal/v1/roles/{role}") {
      body = {{"description", "x"}};
    } else if (e.path_template.ends_with("/manager")) {
      body = {{"manager_id", nullptr}};
    } else if (e.path_template.ends_with("/roles")) {
      body = {{"roles", {"packer"}}};
    } else if (e.method == "POST" && e.path_template == "/internal/v1/locations") {
      body = {{"name", "Depot " + std::to_string(++unique_)}};
    } else if (e.method == "PATCH" && e.path_template == "/internal/v1/locations/{location_id}") {
      body = {{"opening_notes", "Mon-Sat 8-20"}};
    } else if (e.method == "POST" && e.path_template == "/internal/v1/boxes") {
      body = {{"box_id", "auto-" + std::to_string(++unique_)},
              {"compartments", {{{"number", 1}, {"size", "M"}}}}};
    } else if (e.path_template.ends_with("/maintenance")) {
      body = {{"on", true}};
    } else if (e.path_template.ends_with("/assign")) {
      body = {{"staff_id", target_staff_}};
    } else if (e.path_template.ends_with("/reassign")) {
      body = {{"staff_id", target_staff_}, {"reason", "the courier is ill"}};
    } else if (e.path_template.ends_with("/orders/{id}/cancel") ||
               e.path_template.ends_with("/force-complete")) {
      body = {{"reason", "stuck for a week"}};
    } else if (e.path_template.ends_with("/grade")) {
      body = {{"grade", "recycle"}};
    } else if (e.method == "POST" && e.path_template == "/internal/v1/products") {
      body = {{"title", "Shirt"}, {"category", "tops"}};
    } else if (e.method == "PATCH" && e.path_template == "/internal/v1/products/{id}") {
      body = {{"title", "Shirt"}};
    } else if (e.path_template.ends_with("/price")) {
      body = {{"price_cents", 1000}};
    } else if (e.path_template.ends_with("/coins")) {
      body = {{"delta", 5}, {"reason", "goodwill"}};
    } else if (e.method == "POST" && e.path_template == "/internal/v1/coupons") {
      body = {{"percent_off", 10}};
    } else if (e.path_template.ends_with("/refuse")) {
      body = {{"reason", "not ours to give"}};
    } else if (e.path_template.ends_with("/redeem")) {
      body = {{"code", "RCC-NOSUCHCODE"}};
    } else if (e.path_template.starts_with("/internal/v1/buying-orders/") ||
               e.path_template.starts_with("/internal/v1/donations/")) {
      if (e.method == "POST") body = {{"reason", "customer called"}};
    } else if (e.path_template.ends_with("/resolve")) {
      body = {{"note", "fixed"}};
    } else if (e.method == "PUT" && e.path_template.ends_with("/on-call")) {
      body = {{"staff", nlohmann::json::array()}};
    } else if (e.path_template.ends_with("/courier")) {
      body = {{"box_id", "box-1"}, {"compartments", {1}}, {"action", "courier_collect"}};
    }
    return {path, body};
  }

  std::int64_t target_staff_ = 0;
  std::int64_t location_id_ = 0;
  int unique_ = 0;
};

TEST_F(AuthzTest, EveryInternalRouteIsInTheExpectedTable) {
  std::set<std::pair<std::string, std::string>> expected;
  for (const auto& e : expectations()) expected.emplace(e.method, e.path_template);
  std::set<std::pair<std::string, std::string>> registered;
  for (const auto& r : controller_->router().routes()) {
    if (!serves(r->route.listener, Listener::kInternal)) continue;
    std::pair<std::string, std::string> key{std::string(to_string(r->route.method)), r->route.path};
    registered.insert(key);
    if (r->route.access.kind == Access::Kind::kPublic) {
      EXPECT_TRUE(kOpenRoutes.contains(key))
          << key.first << " " << key.second << " is open to anyone";
    } else {
      EXPECT_TRUE(expected.contains(key))
          << key.first << " " << key.second << " has no row in the role x route table";
    }
  }
  for (const auto& key : expected) {
    EXPECT_TRUE(registered.contains(key)) << key.first << " " << key.second << " is not registered";
  }
}

TEST_F(AuthzTest, EachRoleCanDoExactlyWhatItsPermissionsAllow) {
  target_staff_ = add_staff("target@example.org", {R::kChecker});
  auto admin = staff_token({R::kSuperAdmin});
  auto loc = internal("POST", "/internal/v1/locations", nlohmann::json{{"name", "Depot"}}, admin);
  ASSERT_EQ(loc.status, 201);
  location_id_ = loc.body["id"];
  for (const char* id : {"box-1", "box-dc"}) {
    ASSERT_EQ(
        internal("POST", "/internal/v1/boxes",
                 nlohmann::json{{"box_id", id}, {"compartments", {{{"number", 1}, {"size", "M"}}}}},
                 admin)
            .status,
        201);
  }

  int denied_calls = 0;
  const auto denials_before = count("SELECT count(*) FROM audit_log WHERE outcome = 'denied'");
  for (auto role : kAllRoles) {
    const auto token = staff_token({role});
    for (const auto& e : expectations()) {
      auto [path, body] = sample(e);
      // Logging out ends the session: use a throwaway one for that route.
      const auto use =
          e.path_template == "/internal/v1/sessions/current" ? staff_token({role}) : token;
      const auto r = internal(e.method, path, body, use);
      const bool allowed = e.allowed.contains(role);
      const std::string what =
          std::string(to_string(role)) + " " + e.method + " " + path + " -> " + describe(r);
      EXPECT_NE(r.status, 401) << what;
      if (allowed) {
        EXPECT_FALSE(r.status == 403 && r.code() == "forbidden") << what;
        EXPECT_LT(r.status, 500) << what;
      } else {
        ++denied_calls;
        EXPECT_EQ(r.status, 403) << what;
        EXPECT_EQ(r.code(), "forbidden") << what;
      }
    }
  }
  // Every denial is in the audit log.
  EXPECT_EQ(
      count("SELECT count(*) FROM audit_log WHERE outcome = 'denied' AND reason = 'forbidden'"),
      denials_before + denied_calls);
  // Without a token every one of them is 401.
  for (const auto& e : expectations()) {
    auto [path, body] = sample(e);
    EXPECT_EQ(internal(e.method, path, body).status, 401) << e.method << " " << path;
  }
}

TEST_F(AuthzTest, UserAdminCannotGrantSuperAdminNorTouchSuperAdmins) {
  const auto user_admin = staff_token({R::kUserAdmin});
  const auto super_id = add_staff("root@example.org", {R::kSuperAdmin});
  const auto packer_id = add_staff("packer@example.org", {R::kPacker});
  auto grant = internal("PUT", "/internal/v1/staff/" + std::to_string(packer_id) + "/roles",
                        nlohmann::json{{"roles", {"packer", "super_admin"}}}, user_admin);
  EXPECT_EQ(grant.status, 403) << describe(grant);
  EXPECT_EQ(grant.code(), "cannot_grant_role");
  EXPECT_EQ(count("SELECT count(*) FROM staff_roles WHERE role = 'super_admin'"), 1);
  auto create =
      internal("POST", "/internal/v1/staff",
               nlohmann::json{
                   {"email", "x@example.org"}, {"password", kPassword}, {"roles", {"super_admin"}}},
               user_admin);
  EXPECT_EQ(create.status, 403);
  EXPECT_EQ(count("SELECT count(*) FROM staff WHERE email = 'x@example.org'"), 0);
  auto deactivate =
      internal("POST", "/internal/v1/staff/" + std::to_string(super_id) + "/deactivate",
               std::nullopt, user_admin);
  EXPECT_EQ(deactivate.status, 403);
  EXPECT_EQ(deactivate.code(), "cannot_modify_super_admin");
  // Ordinary roles are fine.
  auto ok = internal("PUT", "/internal/v1/staff/" + std::to_string(packer_id) + "/roles",
                     nlohmann::json{{"roles", {"packer", "checker"}}}, user_admin);
  EXPECT_EQ(ok.status, 200) << describe(ok);
  EXPECT_EQ(ok.body["roles"], nlohmann::json({"checker", "packer"}));
  // A super admin may grant super_admin.
  const auto super_token = staff_login("root@example.org");
  auto promote = internal("PUT", "/internal/v1/staff/" + std::to_string(packer_id) + "/roles",
                          nlohmann::json{{"roles", {"super_admin"}}}, super_token);
  EXPECT_EQ(promote.status, 200) << describe(promote);
  // Nobody changes their own roles.
  auto own = internal("PUT", "/internal/v1/staff/" + std::to_string(super_id) + "/roles",
                      nlohmann::json{{"roles", {"packer"}}}, super_token);
  EXPECT_EQ(own.status, 403);
  EXPECT_EQ(own.code(), "cannot_change_own_roles");
}

TEST_F(AuthzTest, EveryStaffWriteHasAnAuditRowInTheSameTransaction) {
  std::int64_t admin_id = 0;
  const auto admin = staff_token({R::kSuperAdmin}, &admin_id);
  const auto before = count("SELECT count(*) FROM audit_log");
  struct Write {
    std::string method, path;
    nlohmann::json body;
    std::string action;
  };
  auto loc = internal("POST", "/internal/v1/locations",
                      nlohmann::json{{"name", "Depot"}, {"lat", 52.5}, {"lon", 13.4}}, admin);
  ASSERT_EQ(loc.status, 201);
  const auto loc_rid = loc.header("X-Request-Id");
  std::vector<Write> writes = {
      {"POST",
       "/internal/v1/boxes",
       {{"box_id", "b1"},
        {"location_id", loc.body["id"]},
        {"compartments", {{{"number", 1}, {"size", "S"}}}}},
       "box.register"},
      {"POST", "/internal/v1/boxes/b1/maintenance", {{"on", true}}, "box.maintenance"},
      {"POST",
       "/internal/v1/staff",
       {{"email", "n@example.org"}, {"password", kPassword}},
       "staff.create"},
      {"POST", "/internal/v1/keys/rotate", nullptr, "keys.rotate"},
      {"POST",
       "/internal/v1/tokens/courier",
       {{"box_id", "b1"}, {"compartments", {1}}, {"action", "courier_load"}},
       "tokens.courier"},
      {"POST", "/internal/v1/boxes/b1/decommission", nullptr, "box.decommission"},
  };
  for (const auto& w : writes) {
    auto r =
        internal(w.method, w.path, w.body.is_null() ? std::nullopt : std::optional(w.body), admin);
    EXPECT_LT(r.status, 300) << w.path << ": " << describe(r);
    const auto rid = r.header("X-Request-Id");
    ASSERT_FALSE(rid.empty());
    auto rows = query(
        "SELECT actor_kind, actor_id, action, outcome, address, after IS NOT NULL "
        "FROM audit_log WHERE request_id = '" +
        rid + "'");
    ASSERT_EQ(rows.size(), 1u) << w.path;
    EXPECT_EQ(rows[0][0].as<std::string>(), "staff");
    EXPECT_EQ(rows[0][1].as<std::int64_t>(), admin_id);
    EXPECT_EQ(rows[0][2].as<std::string>(), w.action);
    EXPECT_EQ(rows[0][3].as<std::string>(), "ok");
    EXPECT_EQ(rows[0][4].as<std::string>(), "127.0.0.1");
    EXPECT_TRUE(rows[0][5].as<bool>()) << w.action << " has no after image";
  }
  EXPECT_EQ(count("SELECT count(*) FROM audit_log"),
            before + 1 + static_cast<std::int64_t>(writes.size()));
  // Before/after images of the maintenance change.
  auto m = query(
      "SELECT before->>'maintenance', after->>'maintenance' FROM audit_log WHERE action = "
      "'box.maintenance'");
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0][0].as<std::string>(), "false");
  EXPECT_EQ(m[0][1].as<std::string>(), "true");
  EXPECT_EQ(count("SELECT count(*) FROM audit_log WHERE request_id = '" + loc_rid +
                  "' AND action = 'location.create'"),
            1);
  // The courier token's text (a credential) is not in the audit log.
  EXPECT_EQ(count("SELECT count(*) FROM audit_log WHERE after::text LIKE '%RC1:%'"), 0);
  // A write refused by the handler (unknown box) leaves no "ok" row and changes nothing.
  auto missing =
      internal("POST", "/internal/v1/boxes/nope/maintenance", nlohmann::json{{"on", true}}, admin);
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(count("SELECT count(*) FROM audit_log WHERE request_id = '" +
                  missing.header("X-Request-Id") + "'"),
            0);
}

TEST_F(AuthzTest, DenialsAreAudited) {
  std::int64_t packer_id = 0;
  const auto packer = staff_token({R::kPacker}, &packer_id);
  auto forbidden = internal("GET", "/internal/v1/audit", std::nullopt, packer);
  EXPECT_EQ(forbidden.status, 403);
  auto rows = query(
      "SELECT actor_id, action, outcome, reason, target_id FROM audit_log WHERE request_id = '" +
      forbidden.header("X-Request-Id") + "'");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0][0].as<std::int64_t>(), packer_id);
  EXPECT_EQ(rows[0][1].as<std::string>(), "audit.query");
  EXPECT_EQ(rows[0][2].as<std::string>(), "denied");
  EXPECT_EQ(rows[0][3].as<std::string>(), "forbidden");

  auto no_token = internal("GET", "/internal/v1/boxes");
  EXPECT_EQ(no_token.status, 401);
  EXPECT_EQ(
      count("SELECT count(*) FROM audit_log WHERE request_id = '" +
            no_token.header("X-Request-Id") +
            "' AND outcome = 'denied' AND actor_kind = 'anonymous' AND reason = 'unauthenticated'"),
      1);

  auto bad_login =
      internal("POST", "/internal/v1/sessions",
               nlohmann::json{{"email", "nobody@example.org"}, {"password", "wrong password!"}});
  EXPECT_EQ(bad_login.status, 401);
  EXPECT_EQ(count("SELECT count(*) FROM audit_log WHERE request_id = '" +
                  bad_login.header("X-Request-Id") +
                  "' AND action = 'staff.login' AND target_id = 'nobody@example.org' AND outcome = "
                  "'denied'"),
            1);
}

TEST_F(AuthzTest, AuditLogIsAppendOnly) {
  const auto admin = staff_token({R::kSuperAdmin});
  ASSERT_EQ(
      internal("POST", "/internal/v1/locations", nlohmann::json{{"name", "Depot"}}, admin).status,
      201);
  const auto n = count("SELECT count(*) FROM audit_log");
  ASSERT_GT(n, 0);
  EXPECT_THROW(exec("UPDATE audit_log SET outcome = 'denied'"), pqxx::sql_error);
  EXPECT_THROW(exec("DELETE FROM audit_log"), pqxx::sql_error);
  EXPECT_THROW(exec("TRUNCATE audit_log"), pqxx::sql_error);
  EXPECT_EQ(count("SELECT count(*) FROM audit_log"), n);
  EXPECT_EQ(count("SELECT count(*) FROM audit_log WHERE outcome = 'denied'"), 0);
}

TEST_F(AuthzTest, ManagersQueryTheAuditLogWithFiltersAndPaging) {
  std::int64_t manager_id = 0;
  const auto manager = staff_token({R::kManager}, &manager_id);
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(internal("POST", "/internal/v1/locations",
                       nlohmann::json{{"name", "L" + std::to_string(i)}}, manager)
                  .status,
              201);
    clock_.advance(std::chrono::seconds(10));
  }
  const auto packer = staff_token({R::kPacker});
  internal("GET", "/internal/v1/boxes", std::nullopt, packer);  // a denial

  auto page1 =
      internal("GET", "/internal/v1/audit?action=location.create&limit=2", std::nullopt, manager);
  ASSERT_EQ(page1.status, 200) << describe(page1);
  ASSERT_EQ(page1.body["items"].size(), 2u);
  EXPECT_EQ(page1.body["items"][0]["after"]["name"], "L4");  // newest first
  const auto next = page1.body["next_before_id"].get<std::int64_t>();
  auto page2 = internal(
      "GET", "/internal/v1/audit?action=location.create&limit=2&before_id=" + std::to_string(next),
      std::nullopt, manager);
  ASSERT_EQ(page2.body["items"].size(), 2u);
  EXPECT_EQ(page2.body["items"][0]["after"]["name"], "L2");
  auto page3 = internal("GET",
                        "/internal/v1/audit?action=location.create&limit=2&before_id=" +
                            page2.body["next_before_id"].dump(),
                        std::nullopt, manager);
  ASSERT_EQ(page3.body["items"].size(), 1u);
  EXPECT_TRUE(page3.body["next_before_id"].is_null());

  auto denied = internal("GET", "/internal/v1/audit?outcome=denied", std::nullopt, manager);
  ASSERT_EQ(denied.body["items"].size(), 1u);
  EXPECT_EQ(denied.body["items"][0]["action"], "box.list");

  auto by_actor =
      internal("GET", "/internal/v1/audit?actor_id=" + std::to_string(manager_id) + "&outcome=ok",
               std::nullopt, manager);
  EXPECT_EQ(by_actor.body["items"].size(), 5u);
  // Time window: the first two writes happened at t0 and t0+10 s.
  auto window = internal(
      "GET",
      "/internal/v1/audit?action=location.create&from=2026-01-01T00:00:00Z&to=2026-01-01T00:00:15Z",
      std::nullopt, manager);
  EXPECT_EQ(window.body["items"].size(), 2u) << describe(window);

  auto bad = internal("GET", "/internal/v1/audit?limit=500", std::nullopt, manager);
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.code(), "invalid_query");
  EXPECT_EQ(internal("GET", "/internal/v1/audit?from=yesterday", std::nullopt, manager).status,
            400);
}

class AllowlistTest : public ControllerTest {};

TEST_F(AllowlistTest, InternalListenerRefusesAddressesOutsideTheAllowlist) {
  config_.internal_allow = {"10.0.0.0/8"};
  start_controller();
  auto r = internal("GET", "/healthz");
  EXPECT_EQ(r.status, 403) << describe(r);
  EXPECT_EQ(r.code(), "network_not_allowed");
  EXPECT_EQ(r.body["error"]["details"]["address"], "127.0.0.1");
  EXPECT_FALSE(r.body["request_id"].get<std::string>().empty());
  // Even a login with a body is refused before anything else happens, and audited.
  auto login = internal("POST", "/internal/v1/sessions",
                        nlohmann::json{{"email", "a@b.c"}, {"password", "x"}});
  EXPECT_EQ(login.status, 403);
  EXPECT_EQ(count("SELECT count(*) FROM audit_log WHERE reason = 'network_not_allowed' AND address "
                  "= '127.0.0.1'"),
            2);
  EXPECT_EQ(count("SELECT count(*) FROM login_failures"), 0);
  // X-Forwarded-For is not believed without a trusted proxy.
  auto spoofed = call(Listener::kInternal, "GET", "/healthz", std::nullopt, "",
                      {{"X-Forwarded-For", "10.1.2.3"}});
  EXPECT_EQ(spoofed.status, 403);
  // The public listener is not affected.
  EXPECT_EQ(pub("GET", "/healthz").status, 200);
}

TEST_F(AllowlistTest, LoopbackAllowlistAllows) {
  config_.internal_allow = {"127.0.0.0/8"};
  start_controller();
  EXPECT_EQ(internal("GET", "/healthz").status, 200);
}

TEST_F(AllowlistTest, TrustedProxyForwardsTheClientAddress) {
  config_.internal_allow = {"10.0.0.0/8"};
  config_.trusted_proxies = {"127.0.0.1"};
  start_controller();
  EXPECT_EQ(call(Listener::kInternal, "GET", "/healthz", std::nullopt, "",
                 {{"X-Forwarded-For", "10.1.2.3"}})
                .status,
            200);
  auto outside = call(Listener::kInternal, "GET", "/healthz", std::nullopt, "",
                      {{"X-Forwarded-For", "192.168.1.1"}});
  EXPECT_EQ(outside.status, 403);
  EXPECT_EQ(outside.body["error"]["details"]["address"], "192.168.1.1");
}

}  // namespace
}  // namespace reclothes::controller::testing
