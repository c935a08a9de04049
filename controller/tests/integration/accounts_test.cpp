// Customers and staff: Argon2id hashes, sessions (logout, expiry), throttling, isolation.
#include "fixture.h"

namespace reclothes::controller::testing {
namespace {

class AccountsTest : public ControllerTest {
 protected:
  void SetUp() override {
    ControllerTest::SetUp();
    config_.sessions.customer_ttl = std::chrono::seconds(3600);
    config_.throttle.window = std::chrono::seconds(600);
    config_.throttle.max_failures_per_account = 3;
    config_.throttle.max_failures_per_address = 6;
    start_controller();
  }
};

TEST_F(AccountsTest, PasswordIsStoredOnlyAsArgon2idHash) {
  const auto id = register_customer("Alice@Example.org", "a very secret passphrase");
  const auto rows =
      query("SELECT email, password_hash FROM customers WHERE id = " + std::to_string(id));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0][0].as<std::string>(), "alice@example.org");
  const auto hash = rows[0][1].as<std::string>();
  EXPECT_EQ(hash.rfind("$argon2id$", 0), 0u) << hash;
  EXPECT_EQ(hash.find("a very secret passphrase"), std::string::npos);
  // Nowhere in the database is the plain password.
  EXPECT_EQ(count("SELECT count(*) FROM customers WHERE password_hash LIKE '%secret passphrase%' "
                  "OR display_name LIKE '%secret%' OR email LIKE '%secret%'"),
            0);
  // The hash verifies and is salted (a second account with the same password differs).
  register_customer("bob@example.org", "a very secret passphrase");
  EXPECT_EQ(count("SELECT count(DISTINCT password_hash) FROM customers"), 2);
  EXPECT_FALSE(customer_login("alice@example.org", "a very secret passphrase").empty());
}

TEST_F(AccountsTest, RegistrationRefusesWeakPasswordsBadEmailsAndDuplicates) {
  auto weak = pub("POST", "/v1/customers",
                  nlohmann::json{{"email", "c@example.org"}, {"password", "short"}});
  EXPECT_EQ(weak.status, 400);
  EXPECT_EQ(weak.body["error"]["details"]["field"], "/password");
  auto bad_email =
      pub("POST", "/v1/customers", nlohmann::json{{"email", "nope"}, {"password", kPassword}});
  EXPECT_EQ(bad_email.status, 400);
  EXPECT_EQ(bad_email.body["error"]["details"]["field"], "/email");
  register_customer("c@example.org");
  auto dup = pub("POST", "/v1/customers",
                 nlohmann::json{{"email", "C@EXAMPLE.org"}, {"password", kPassword}});
  EXPECT_EQ(dup.status, 409);
  EXPECT_EQ(dup.code(), "email_taken");
  EXPECT_EQ(count("SELECT count(*) FROM customers"), 1);
}

TEST_F(AccountsTest, LogoutRevokesTheSessionToken) {
  register_customer("dana@example.org");
  const auto token = customer_login("dana@example.org");
  EXPECT_EQ(pub("GET", "/v1/customers/me", std::nullopt, token).status, 200);
  EXPECT_EQ(pub("DELETE", "/v1/sessions/current", std::nullopt, token).status, 204);
  auto after = pub("GET", "/v1/customers/me", std::nullopt, token);
  EXPECT_EQ(after.status, 401) << describe(after);
  EXPECT_EQ(after.code(), "unauthenticated");
  // Only the token's SHA-256 is stored, never the token.
  EXPECT_EQ(
      count("SELECT count(*) FROM sessions WHERE encode(token_sha256, 'hex') = '" + token + "'"),
      0);
  EXPECT_EQ(count("SELECT count(*) FROM sessions WHERE revoked_at IS NOT NULL"), 1);
}

TEST_F(AccountsTest, ExpiredSessionIsRefused) {
  register_customer("eve@example.org");
  const auto token = customer_login("eve@example.org");
  clock_.advance(std::chrono::seconds(3599));
  EXPECT_EQ(pub("GET", "/v1/customers/me", std::nullopt, token).status, 200);
  clock_.advance(std::chrono::seconds(2));
  EXPECT_EQ(pub("GET", "/v1/customers/me", std::nullopt, token).status, 401);
}

TEST_F(AccountsTest, RepeatedFailedLoginsAreThrottledEvenWithTheRightPassword) {
  register_customer("fay@example.org");
  for (int i = 0; i < 3; ++i) {
    auto r = pub("POST", "/v1/sessions",
                 nlohmann::json{{"email", "fay@example.org"}, {"password", "wrong password!"}});
    EXPECT_EQ(r.status, 401) << describe(r);
    EXPECT_EQ(r.code(), "invalid_credentials");
  }
  auto throttled = pub("POST", "/v1/sessions",
                       nlohmann::json{{"email", "fay@example.org"}, {"password", kPassword}});
  EXPECT_EQ(throttled.status, 429) << describe(throttled);
  EXPECT_EQ(throttled.code(), "too_many_attempts");
  EXPECT_EQ(throttled.body["error"]["details"]["scope"], "account");
  const auto retry_after = std::stoi(throttled.header("Retry-After"));
  EXPECT_GT(retry_after, 0);
  EXPECT_LE(retry_after, 600);
  EXPECT_EQ(count("SELECT count(*) FROM sessions"), 0);
  // When the window has passed, the right password works again.
  clock_.advance(std::chrono::seconds(601));
  EXPECT_FALSE(customer_login("fay@example.org").empty());
}

TEST_F(AccountsTest, FailuresFromOneAddressAcrossAccountsAreThrottled) {
  register_customer("gus@example.org");
  // 6 failures spread over different (partly nonexistent) accounts, each under its own limit.
  for (int i = 0; i < 6; ++i) {
    auto r = pub("POST", "/v1/sessions",
                 nlohmann::json{{"email", "user" + std::to_string(i % 3) + "@example.org"},
                                {"password", "wrong password!"}});
    EXPECT_EQ(r.status, 401) << describe(r);
  }
  auto r = pub("POST", "/v1/sessions",
               nlohmann::json{{"email", "gus@example.org"}, {"password", kPassword}});
  EXPECT_EQ(r.status, 429) << describe(r);
  EXPECT_EQ(r.body["error"]["details"]["scope"], "address");
}

TEST_F(AccountsTest, SuccessfulLoginDoesNotResetTheAddressCounter) {
  register_customer("hal@example.org");
  for (int i = 0; i < 2; ++i) {
    pub("POST", "/v1/sessions",
        nlohmann::json{{"email", "x" + std::to_string(i) + "@example.org"},
                       {"password", "wrong password!"}});
    pub("POST", "/v1/sessions",
        nlohmann::json{{"email", "hal@example.org"}, {"password", "wrong password!"}});
  }
  // A success clears hal's account count (2 < 3 so it is allowed) ...
  EXPECT_FALSE(customer_login("hal@example.org").empty());
  for (int i = 0; i < 2; ++i) {
    pub("POST", "/v1/sessions",
        nlohmann::json{{"email", "y" + std::to_string(i) + "@example.org"},
                       {"password", "wrong password!"}});
  }
  // ... but the address has now failed 6 times and stays throttled.
  auto r = pub("POST", "/v1/sessions",
               nlohmann::json{{"email", "hal@example.org"}, {"password", kPassword}});
  EXPECT_EQ(r.status, 429) << describe(r);
  EXPECT_EQ(r.body["error"]["details"]["scope"], "address");
}

TEST_F(AccountsTest, CustomerCannotReadOrChangeAnotherCustomer) {
  const auto a = register_customer("ann@example.org");
  const auto b = register_customer("ben@example.org");
  const auto token_a = customer_login("ann@example.org");
  const auto audit_before = count("SELECT count(*) FROM audit_log");

  auto own = pub("GET", "/v1/customers/" + std::to_string(a), std::nullopt, token_a);
  EXPECT_EQ(own.status, 200);
  EXPECT_EQ(own.body["email"], "ann@example.org");

  auto read_b = pub("GET", "/v1/customers/" + std::to_string(b), std::nullopt, token_a);
  EXPECT_EQ(read_b.status, 404) << describe(read_b);
  EXPECT_EQ(read_b.raw.find("ben@example.org"), std::string::npos);
  auto patch_b = pub("PATCH", "/v1/customers/" + std::to_string(b),
                     nlohmann::json{{"display_name", "hacked"}}, token_a);
  EXPECT_EQ(patch_b.status, 404) << describe(patch_b);
  EXPECT_EQ(count("SELECT count(*) FROM customers WHERE display_name = 'hacked'"), 0);
  // A nonexistent id looks the same as someone else's.
  EXPECT_EQ(pub("GET", "/v1/customers/999999", std::nullopt, token_a).status, 404);
  // Both attempts on B are recorded as denials.
  EXPECT_EQ(
      count("SELECT count(*) FROM audit_log WHERE outcome = 'denied' AND reason = 'not_owner' "
            "AND actor_id = " +
            std::to_string(a)),
      3);
  EXPECT_EQ(count("SELECT count(*) FROM audit_log"), audit_before + 3);

  // Own changes work.
  auto patch_a = pub("PATCH", "/v1/customers/" + std::to_string(a),
                     nlohmann::json{{"display_name", "Ann"}, {"phone", "+4912345"}}, token_a);
  EXPECT_EQ(patch_a.status, 200) << describe(patch_a);
  EXPECT_EQ(patch_a.body["display_name"], "Ann");
  EXPECT_EQ(patch_a.body["phone"], "+4912345");
  auto clear = pub("PATCH", "/v1/customers/" + std::to_string(a),
                   nlohmann::json{{"phone", nullptr}}, token_a);
  EXPECT_EQ(clear.status, 200);
  EXPECT_TRUE(clear.body["phone"].is_null());
  EXPECT_EQ(clear.body["display_name"], "Ann");
}

TEST_F(AccountsTest, TokensOnlyWorkOnTheirOwnListener) {
  register_customer("ivy@example.org");
  const auto customer = customer_login("ivy@example.org");
  const auto staff = staff_token({Role::kSuperAdmin});
  auto c_internal = internal("GET", "/internal/v1/staff/me", std::nullopt, customer);
  EXPECT_EQ(c_internal.status, 401) << describe(c_internal);
  auto s_public = pub("GET", "/v1/customers/me", std::nullopt, staff);
  EXPECT_EQ(s_public.status, 401) << describe(s_public);
  EXPECT_EQ(internal("GET", "/internal/v1/staff/me", std::nullopt, staff).status, 200);
}

TEST_F(AccountsTest, DeactivationRevokesSessionsAndNobodyDeactivatesThemselves) {
  std::int64_t admin_id = 0;
  const auto admin = staff_token({Role::kUserAdmin}, &admin_id);
  const auto victim_id = add_staff("victim@example.org", {Role::kPacker});
  const auto victim = staff_login("victim@example.org");
  EXPECT_EQ(internal("GET", "/internal/v1/staff/me", std::nullopt, victim).status, 200);
  auto r = internal("POST", "/internal/v1/staff/" + std::to_string(victim_id) + "/deactivate",
                    std::nullopt, admin);
  EXPECT_EQ(r.status, 200) << describe(r);
  EXPECT_EQ(r.body["active"], false);
  EXPECT_EQ(internal("GET", "/internal/v1/staff/me", std::nullopt, victim).status, 401);
  // A deactivated account cannot log in either.
  auto login = internal("POST", "/internal/v1/sessions",
                        nlohmann::json{{"email", "victim@example.org"}, {"password", kPassword}});
  EXPECT_EQ(login.status, 401);
  // Nobody deactivates themselves.
  auto self = internal("POST", "/internal/v1/staff/" + std::to_string(admin_id) + "/deactivate",
                       std::nullopt, admin);
  EXPECT_EQ(self.status, 403);
  EXPECT_EQ(self.code(), "cannot_deactivate_self");
}

}  // namespace
}  // namespace reclothes::controller::testing
