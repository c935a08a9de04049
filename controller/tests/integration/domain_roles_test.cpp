// Roles as named permission sets (issue 18, item 6) against real PostgreSQL and Mosquitto:
// user admins define roles, managers give their employees operational roles within their own
// permissions, every change is audited with before and after, and a staff session sees a change
// on its next request, on any replica, without logging in again.
#include <httplib.h>

#include <algorithm>

#include "domain_fixture.h"

namespace reclothes::controller::testing {
namespace {

using R = Role;

class RolesTest : public ControllerTest {
 protected:
  void SetUp() override {
    ControllerTest::SetUp();
    start_controller();
    user_admin_ = staff_token({R::kUserAdmin}, &user_admin_id_);
    manager_ = staff_token({R::kManager}, &manager_id_);
  }

  std::string staff_path(std::int64_t id, const std::string& rest = "") {
    return "/internal/v1/staff/" + std::to_string(id) + rest;
  }

  // The audit rows of one request: action, outcome, before, after (JSON, null when absent).
  pqxx::result audit_of(const Reply& r) {
    return query(
        "SELECT action, outcome, COALESCE(before, 'null'::jsonb)::text, "
        "COALESCE(after, 'null'::jsonb)::text, target_type, target_id, reason "
        "FROM audit_log WHERE request_id = '" +
        r.header("X-Request-Id") + "' ORDER BY id");
  }

  Reply set_manager(std::int64_t staff, const nlohmann::json& manager) {
    return internal("PUT", staff_path(staff, "/manager"), nlohmann::json{{"manager_id", manager}},
                    user_admin_);
  }

  nlohmann::json role_named(const std::string& name) {
    auto list = internal("GET", "/internal/v1/roles", std::nullopt, user_admin_);
    EXPECT_EQ(list.status, 200) << describe(list);
    for (const auto& r : list.body["items"]) {
      if (r["name"] == name) return r;
    }
    return nullptr;
  }

  std::string user_admin_, manager_;
  std::int64_t user_admin_id_ = 0, manager_id_ = 0;
};

// A request to another controller (a second replica on the same database).
Reply call_on(Controller& c, const std::string& method, const std::string& path,
              const std::string& token) {
  httplib::Client cli("127.0.0.1", c.internal_port());
  httplib::Headers headers{{"Authorization", "Bearer " + token}};
  auto res = method == "GET" ? cli.Get(path.c_str(), headers)
                             : cli.Delete(path.c_str(), headers, "", "application/json");
  Reply r;
  if (!res) {
    ADD_FAILURE() << method << " " << path << ": HTTP error";
    return r;
  }
  r.status = res->status;
  r.raw = res->body;
  r.headers = res->headers;
  r.body = nlohmann::json::parse(res->body, nullptr, false);
  return r;
}

TEST_F(RolesTest, TheBuiltInRolesAreRowsWithTheCompiledSets) {
  auto list = internal("GET", "/internal/v1/roles", std::nullopt, manager_);
  ASSERT_EQ(list.status, 200) << describe(list);
  std::vector<std::string> names;
  for (const auto& r : list.body["items"]) names.push_back(r["name"]);
  EXPECT_EQ(names, (std::vector<std::string>{"checker", "packer", "delivery", "manager",
                                             "user_admin", "super_admin"}));
  for (auto role : all_roles()) {
    const auto j = role_named(std::string(to_string(role)));
    ASSERT_TRUE(j.is_object()) << to_string(role);
    nlohmann::json expected = nlohmann::json::array();
    for (auto p : all_permissions()) {
      if (has(permissions_of(role), p)) expected.push_back(to_string(p));
    }
    EXPECT_EQ(j["permissions"], expected) << to_string(role);
    EXPECT_TRUE(j["builtin"].get<bool>());
    EXPECT_EQ(j["operational"].get<bool>(),
              role == R::kChecker || role == R::kPacker || role == R::kDelivery)
        << to_string(role);
  }
  EXPECT_EQ(role_named("manager")["holders"], 1);
  // No other rows (the database was made by migrate(), which writes the built-in rows) ...
  EXPECT_EQ(count("SELECT count(*) FROM role_permissions"), [] {
    std::int64_t n = 0;
    for (auto role : all_roles()) n += static_cast<std::int64_t>(permissions_of(role).count());
    return n;
  }());
  // ... and migrate() puts back a built-in row that went missing or was added by hand.
  exec("DELETE FROM role_permissions WHERE role = 'checker' AND permission = 'products.write'");
  exec("INSERT INTO role_permissions VALUES ('packer', 'prices.write')");
  auto db = Database::open({conninfo_, 1, std::chrono::seconds(5)});
  ASSERT_TRUE(db.ok());
  ASSERT_TRUE(migrate(**db).ok());
  EXPECT_EQ(count("SELECT count(*) FROM role_permissions WHERE role = 'checker' AND permission = "
                  "'products.write'"),
            1);
  EXPECT_EQ(count("SELECT count(*) FROM role_permissions WHERE role = 'packer'"), 1);
}

// The migration's SQL alone (without migrate(), which rewrites the built-in rows afterwards)
// seeds the compiled sets: a database migrated by an older `migrate` is right too.
TEST_F(RolesTest, TheMigrationAloneSeedsTheCompiledSets) {
  const auto raw = db_name_ + "_raw";
  {
    pqxx::connection admin(pg_->connection_string());
    pqxx::nontransaction tx(admin);
    tx.exec("CREATE DATABASE " + raw);
  }
  pqxx::connection conn(pg_->connection_string(raw));
  for (const auto& m : embedded::migrations()) {
    pqxx::work tx(conn);
    tx.exec(std::string(m.sql));
    tx.commit();
  }
  pqxx::work tx(conn);
  for (auto role : all_roles()) {
    std::string expected;
    std::vector<std::string> names;
    for (auto p : all_permissions()) {
      if (has(permissions_of(role), p)) names.emplace_back(to_string(p));
    }
    std::sort(names.begin(), names.end());
    for (const auto& n : names) expected += (expected.empty() ? "" : ",") + n;
    const auto row = tx.exec_params1(
        "SELECT COALESCE((SELECT string_agg(permission, ',' ORDER BY permission) FROM "
        "role_permissions WHERE role = $1), ''), (SELECT builtin FROM roles WHERE name = $1)",
        std::string(to_string(role)));
    EXPECT_EQ(row[0].as<std::string>(), expected) << to_string(role);
    EXPECT_TRUE(row[1].as<bool>()) << to_string(role);
  }
}

TEST_F(RolesTest, UserAdminsDefineChangeAndDeleteRolesWithClearRefusals) {
  auto created = internal("POST", "/internal/v1/roles",
                          nlohmann::json{{"name", "night_packer"},
                                         {"description", "Packs at night"},
                                         {"operational", true},
                                         {"permissions", {"orders.read_assigned", "fleet.read"}}},
                          user_admin_);
  ASSERT_EQ(created.status, 201) << describe(created);
  EXPECT_EQ(created.body["permissions"], nlohmann::json({"fleet.read", "orders.read_assigned"}));
  EXPECT_FALSE(created.body["builtin"].get<bool>());
  auto audit = audit_of(created);
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0][0].as<std::string>(), "role.create");
  EXPECT_EQ(audit[0][2].as<std::string>(), "null");
  EXPECT_EQ(nlohmann::json::parse(audit[0][3].as<std::string>())["name"], "night_packer");

  // Refusals: the same name, an unknown permission, a bad name, a reserved permission.
  auto again =
      internal("POST", "/internal/v1/roles",
               nlohmann::json{{"name", "night_packer"}, {"permissions", nlohmann::json::array()}},
               user_admin_);
  EXPECT_EQ(again.status, 409) << describe(again);
  EXPECT_EQ(again.code(), "role_exists");
  auto builtin_name = internal(
      "POST", "/internal/v1/roles",
      nlohmann::json{{"name", "manager"}, {"permissions", nlohmann::json::array()}}, user_admin_);
  EXPECT_EQ(builtin_name.status, 409);
  auto unknown = internal(
      "POST", "/internal/v1/roles",
      nlohmann::json{{"name", "x_role"}, {"permissions", {"fleet.read", "fleet.*"}}}, user_admin_);
  EXPECT_EQ(unknown.status, 400) << describe(unknown);
  EXPECT_EQ(unknown.code(), "invalid_field");
  EXPECT_EQ(unknown.body["error"]["details"]["field"], "/permissions/1");
  auto bad_name = internal(
      "POST", "/internal/v1/roles",
      nlohmann::json{{"name", "Night Packer"}, {"permissions", {"fleet.read"}}}, user_admin_);
  EXPECT_EQ(bad_name.status, 400);
  EXPECT_EQ(bad_name.body["error"]["details"]["field"], "/name");
  auto reserved = internal("POST", "/internal/v1/roles",
                           nlohmann::json{{"name", "key_keeper"}, {"permissions", {"keys.rotate"}}},
                           user_admin_);
  EXPECT_EQ(reserved.status, 403) << describe(reserved);
  EXPECT_EQ(reserved.code(), "permission_reserved");
  EXPECT_EQ(reserved.body["error"]["details"]["permissions"], nlohmann::json({"keys.rotate"}));
  EXPECT_EQ(count("SELECT count(*) FROM roles WHERE name IN ('x_role', 'key_keeper')"), 0);
  // Built-in roles stay as they are.
  auto widen = internal("PATCH", "/internal/v1/roles/packer",
                        nlohmann::json{{"permissions", {"orders.read_assigned", "prices.write"}}},
                        user_admin_);
  EXPECT_EQ(widen.status, 409) << describe(widen);
  EXPECT_EQ(widen.code(), "builtin_role");
  auto drop = internal("DELETE", "/internal/v1/roles/super_admin", std::nullopt, user_admin_);
  EXPECT_EQ(drop.status, 409);
  EXPECT_EQ(drop.code(), "builtin_role");
  EXPECT_EQ(count("SELECT count(*) FROM role_permissions WHERE role = 'packer'"), 1);
  EXPECT_EQ(internal("PATCH", "/internal/v1/roles/no_such_role",
                     nlohmann::json{{"description", "x"}}, user_admin_)
                .status,
            404);

  // A change, audited with before and after.
  auto changed = internal("PATCH", "/internal/v1/roles/night_packer",
                          nlohmann::json{{"permissions", {"orders.read_assigned"}}}, user_admin_);
  ASSERT_EQ(changed.status, 200) << describe(changed);
  EXPECT_EQ(changed.body["permissions"], nlohmann::json({"orders.read_assigned"}));
  EXPECT_EQ(changed.body["description"], "Packs at night");
  audit = audit_of(changed);
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0][0].as<std::string>(), "role.update");
  EXPECT_EQ(nlohmann::json::parse(audit[0][2].as<std::string>())["permissions"],
            nlohmann::json({"fleet.read", "orders.read_assigned"}));
  EXPECT_EQ(nlohmann::json::parse(audit[0][3].as<std::string>())["permissions"],
            nlohmann::json({"orders.read_assigned"}));

  // User admins assign custom roles too; a held role cannot be deleted.
  const auto packer = add_staff("p@example.org", {R::kPacker});
  auto assign = internal("PUT", staff_path(packer, "/roles"),
                         nlohmann::json{{"roles", {"packer", "night_packer"}}}, user_admin_);
  ASSERT_EQ(assign.status, 200) << describe(assign);
  EXPECT_EQ(assign.body["roles"], nlohmann::json({"packer", "night_packer"}));
  auto unknown_role = internal("PUT", staff_path(packer, "/roles"),
                               nlohmann::json{{"roles", {"packer", "day_packer"}}}, user_admin_);
  EXPECT_EQ(unknown_role.status, 400);
  EXPECT_EQ(unknown_role.body["error"]["details"]["field"], "/roles/1");
  auto held = internal("DELETE", "/internal/v1/roles/night_packer", std::nullopt, user_admin_);
  EXPECT_EQ(held.status, 409) << describe(held);
  EXPECT_EQ(held.code(), "role_assigned");
  EXPECT_EQ(held.body["error"]["details"]["holders"], 1);
  ASSERT_EQ(internal("PUT", staff_path(packer, "/roles"), nlohmann::json{{"roles", {"packer"}}},
                     user_admin_)
                .status,
            200);
  auto deleted = internal("DELETE", "/internal/v1/roles/night_packer", std::nullopt, user_admin_);
  ASSERT_EQ(deleted.status, 200) << describe(deleted);
  audit = audit_of(deleted);
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0][0].as<std::string>(), "role.delete");
  EXPECT_EQ(nlohmann::json::parse(audit[0][2].as<std::string>())["name"], "night_packer");
  EXPECT_EQ(audit[0][3].as<std::string>(), "null");
  EXPECT_EQ(count("SELECT count(*) FROM roles WHERE name = 'night_packer'"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM role_permissions WHERE role = 'night_packer'"), 0);
}

TEST_F(RolesTest, NobodyWidensARoleTheyHoldButASuperAdmin) {
  std::int64_t other_admin_id = 0;
  const auto other_admin = staff_token({R::kUserAdmin}, &other_admin_id);
  ASSERT_EQ(
      internal("POST", "/internal/v1/roles",
               nlohmann::json{{"name", "auditor"}, {"permissions", {"audit.read"}}}, user_admin_)
          .status,
      201);
  ASSERT_EQ(internal("PUT", staff_path(other_admin_id, "/roles"),
                     nlohmann::json{{"roles", {"user_admin", "auditor"}}}, user_admin_)
                .status,
            200);
  auto own = internal("PATCH", "/internal/v1/roles/auditor",
                      nlohmann::json{{"permissions", {"audit.read", "fleet.write"}}}, other_admin);
  EXPECT_EQ(own.status, 403) << describe(own);
  EXPECT_EQ(own.code(), "cannot_change_own_role");
  EXPECT_EQ(audit_of(own)[0][1].as<std::string>(), "denied");
  const auto super = staff_token({R::kSuperAdmin});
  EXPECT_EQ(internal("PATCH", "/internal/v1/roles/auditor",
                     nlohmann::json{{"permissions", {"audit.read", "keys.rotate"}}}, super)
                .status,
            200);
}

TEST_F(RolesTest, AManagerGivesAndTakesAwayOperationalRolesOfTheirEmployees) {
  const auto employee = add_staff("e@example.org", {R::kPacker});
  const auto stranger = add_staff("s@example.org", {R::kPacker});
  auto set = set_manager(employee, manager_id_);
  ASSERT_EQ(set.status, 200) << describe(set);
  EXPECT_EQ(set.body["manager_id"], manager_id_);
  auto audit = audit_of(set);
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0][0].as<std::string>(), "staff.manager");
  EXPECT_TRUE(nlohmann::json::parse(audit[0][2].as<std::string>())["manager_id"].is_null());
  EXPECT_EQ(nlohmann::json::parse(audit[0][3].as<std::string>())["manager_id"], manager_id_);

  auto give = internal("POST", staff_path(employee, "/roles/checker"), std::nullopt, manager_);
  ASSERT_EQ(give.status, 200) << describe(give);
  EXPECT_EQ(give.body["roles"], nlohmann::json({"checker", "packer"}));
  audit = audit_of(give);
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0][0].as<std::string>(), "staff.role_give");
  EXPECT_EQ(audit[0][4].as<std::string>(), "staff");
  EXPECT_EQ(audit[0][5].as<std::string>(), std::to_string(employee));
  EXPECT_EQ(nlohmann::json::parse(audit[0][2].as<std::string>())["roles"],
            nlohmann::json({"packer"}));
  EXPECT_EQ(nlohmann::json::parse(audit[0][3].as<std::string>())["roles"],
            nlohmann::json({"checker", "packer"}));
  // The employee's roles are what the table says, and the task assignment sees them.
  EXPECT_EQ(count("SELECT count(*) FROM staff_roles WHERE staff_id = " + std::to_string(employee) +
                  " AND role = 'checker'"),
            1);

  // Refusals, each audited as a denial and changing nothing.
  const auto refused = [&](const std::string& method, const std::string& path,
                           const std::string& code) {
    const auto before = count("SELECT count(*) FROM staff_roles");
    auto r = internal(method, path, std::nullopt, manager_);
    EXPECT_EQ(r.status, 403) << path << ": " << describe(r);
    EXPECT_EQ(r.code(), code) << path;
    auto rows = audit_of(r);
    EXPECT_EQ(rows.size(), 1u) << path;
    if (!rows.empty()) {
      EXPECT_EQ(rows[0][1].as<std::string>(), "denied") << path;
    }
    EXPECT_EQ(count("SELECT count(*) FROM staff_roles"), before) << path;
    return r;
  };
  refused("POST", staff_path(stranger, "/roles/checker"), "not_your_employee");
  refused("POST", staff_path(employee, "/roles/manager"), "role_not_operational");
  refused("POST", staff_path(employee, "/roles/user_admin"), "role_not_operational");
  refused("POST", staff_path(employee, "/roles/super_admin"), "cannot_grant_role");
  refused("POST", staff_path(manager_id_, "/roles/checker"), "cannot_change_own_roles");
  // An operational role broader than the manager's own permissions (only a super admin can
  // define it: it holds keys.rotate).
  const auto super = staff_token({R::kSuperAdmin});
  ASSERT_EQ(internal("POST", "/internal/v1/roles",
                     nlohmann::json{{"name", "key_courier"},
                                    {"operational", true},
                                    {"permissions", {"tokens.issue_courier", "keys.rotate"}}},
                     super)
                .status,
            201);
  auto broad =
      refused("POST", staff_path(employee, "/roles/key_courier"), "role_broader_than_yours");
  EXPECT_EQ(broad.body["error"]["details"]["permissions"], nlohmann::json({"keys.rotate"}));
  // A custom operational role within the manager's own is fine.
  ASSERT_EQ(internal("POST", "/internal/v1/roles",
                     nlohmann::json{{"name", "night_packer"},
                                    {"operational", true},
                                    {"permissions", {"orders.read_assigned"}}},
                     user_admin_)
                .status,
            201);
  auto custom =
      internal("POST", staff_path(employee, "/roles/night_packer"), std::nullopt, manager_);
  ASSERT_EQ(custom.status, 200) << describe(custom);
  EXPECT_EQ(custom.body["roles"], nlohmann::json({"checker", "packer", "night_packer"}));
  EXPECT_EQ(
      internal("POST", staff_path(employee, "/roles/no_such_role"), std::nullopt, manager_).status,
      404);

  // Taking away follows the same rules.
  auto take = internal("DELETE", staff_path(employee, "/roles/checker"), std::nullopt, manager_);
  ASSERT_EQ(take.status, 200) << describe(take);
  EXPECT_EQ(take.body["roles"], nlohmann::json({"packer", "night_packer"}));
  EXPECT_EQ(audit_of(take)[0][0].as<std::string>(), "staff.role_take");
  refused("DELETE", staff_path(stranger, "/roles/packer"), "not_your_employee");

  // Managers do not replace whole role sets, and staff without the permission assign nothing.
  auto put = internal("PUT", staff_path(employee, "/roles"), nlohmann::json{{"roles", {"packer"}}},
                      manager_);
  EXPECT_EQ(put.status, 403);
  EXPECT_EQ(put.code(), "forbidden");
  const auto checker = staff_token({R::kChecker});
  auto by_checker = internal("POST", staff_path(employee, "/roles/checker"), std::nullopt, checker);
  EXPECT_EQ(by_checker.status, 403);
  EXPECT_EQ(by_checker.code(), "forbidden");
  // A user admin still assigns anything but super_admin.
  auto admin_gives = internal("PUT", staff_path(stranger, "/roles"),
                              nlohmann::json{{"roles", {"manager", "packer"}}}, user_admin_);
  EXPECT_EQ(admin_gives.status, 200) << describe(admin_gives);
  auto admin_super = internal("PUT", staff_path(stranger, "/roles"),
                              nlohmann::json{{"roles", {"super_admin"}}}, user_admin_);
  EXPECT_EQ(admin_super.status, 403);
  EXPECT_EQ(admin_super.code(), "cannot_grant_role");
}

TEST_F(RolesTest, UserAdminsSetManagersWithoutLoops) {
  const auto a = add_staff("a@example.org", {R::kPacker});
  const auto b = add_staff("b@example.org", {R::kManager});
  ASSERT_EQ(set_manager(a, b).status, 200);
  auto loop = set_manager(b, a);
  EXPECT_EQ(loop.status, 409) << describe(loop);
  EXPECT_EQ(loop.code(), "manager_loop");
  auto self = set_manager(a, a);
  EXPECT_EQ(self.status, 400);
  EXPECT_EQ(self.code(), "cannot_manage_self");
  auto nobody = set_manager(a, 987654);
  EXPECT_EQ(nobody.status, 400);
  EXPECT_EQ(nobody.code(), "manager_not_found");
  auto missing = internal("PUT", staff_path(a, "/manager"), nlohmann::json::object(), user_admin_);
  EXPECT_EQ(missing.status, 400);
  EXPECT_EQ(missing.body["error"]["details"]["field"], "/manager_id");
  auto cleared = set_manager(a, nullptr);
  ASSERT_EQ(cleared.status, 200) << describe(cleared);
  EXPECT_TRUE(cleared.body["manager_id"].is_null());
  EXPECT_EQ(internal("PUT", staff_path(a, "/manager"), nlohmann::json{{"manager_id", b}}, manager_)
                .status,
            403);
}

TEST_F(RolesTest, ASessionSeesRoleChangesOnItsNextRequestOnEveryReplica) {
  // A second replica on the same database.
  auto config = config_;
  config.mqtt.client_id += "-b";
  auto made = make_controller(config, clock_, Log::null());
  ASSERT_TRUE(made.ok()) << made.error().to_string();
  auto replica = std::move(made).value();
  ASSERT_TRUE(replica->start().ok());

  ASSERT_EQ(internal("POST", "/internal/v1/roles",
                     nlohmann::json{{"name", "fleet_viewer"},
                                    {"operational", true},
                                    {"permissions", {"fleet.read"}}},
                     user_admin_)
                .status,
            201);
  std::int64_t viewer_id = 0;
  const auto viewer = staff_token({R::kPacker}, &viewer_id);  // logged in once, here
  ASSERT_EQ(set_manager(viewer_id, manager_id_).status, 200);
  EXPECT_EQ(call_on(*replica, "GET", "/internal/v1/boxes", viewer).status, 403);

  // A manager gives the role on this replica: the session can on the other one at once.
  ASSERT_EQ(
      internal("POST", staff_path(viewer_id, "/roles/fleet_viewer"), std::nullopt, manager_).status,
      200);
  auto can = call_on(*replica, "GET", "/internal/v1/boxes", viewer);
  EXPECT_EQ(can.status, 200) << describe(can);
  auto me = call_on(*replica, "GET", "/internal/v1/staff/me", viewer);
  ASSERT_EQ(me.status, 200);
  EXPECT_EQ(me.body["roles"], nlohmann::json({"packer", "fleet_viewer"}));
  EXPECT_NE(std::find(me.body["permissions"].begin(), me.body["permissions"].end(), "fleet.read"),
            me.body["permissions"].end());

  // The role's definition changes on the other replica: this one follows on the next request.
  auto narrowed = call_on(*replica, "GET", "/internal/v1/roles", user_admin_);
  ASSERT_EQ(narrowed.status, 200);
  ASSERT_EQ(internal("PATCH", "/internal/v1/roles/fleet_viewer",
                     nlohmann::json{{"permissions", {"audit.read"}}}, user_admin_)
                .status,
            200);
  EXPECT_EQ(call_on(*replica, "GET", "/internal/v1/boxes", viewer).status, 403);
  EXPECT_EQ(internal("GET", "/internal/v1/boxes", std::nullopt, viewer).status, 403);
  EXPECT_EQ(call_on(*replica, "GET", "/internal/v1/audit", viewer).status, 200);

  // Taken away on one replica: gone on both.
  ASSERT_EQ(internal("DELETE", staff_path(viewer_id, "/roles/fleet_viewer"), std::nullopt, manager_)
                .status,
            200);
  EXPECT_EQ(call_on(*replica, "GET", "/internal/v1/audit", viewer).status, 403);
  EXPECT_EQ(internal("GET", "/internal/v1/audit", std::nullopt, viewer).status, 403);
  // The session itself lived on throughout.
  EXPECT_EQ(call_on(*replica, "GET", "/internal/v1/staff/me", viewer).status, 200);
}

}  // namespace
}  // namespace reclothes::controller::testing
