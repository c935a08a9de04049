// The customer's own account against real PostgreSQL and Mosquitto: changing the password ends
// every other session (on this replica and, by NOTIFY, on another), a password reset by a
// one-time code from the notification outbox (the same answer for known and unknown emails,
// single use, expiry, attempt limit, request limits), an email change confirmed by a code sent
// to the new address, and erasing one's own account with the staff erase's rules.
#include "domain_fixture.h"

namespace reclothes::controller::testing {
namespace {

using std::chrono::seconds;

constexpr const char* kNewPassword = "a brand new passphrase";

class AccountTest : public DomainTest {
 protected:
  // The newest notification of a kind queued for a customer: its payload.
  nlohmann::json outbox(std::int64_t customer, const std::string& kind) {
    const auto rows = query(
        "SELECT payload::text FROM notifications WHERE recipient_kind = 'customer' AND "
        "recipient_id = " +
        std::to_string(customer) + " AND kind = '" + kind + "' ORDER BY id DESC LIMIT 1");
    if (rows.empty()) return nullptr;
    return nlohmann::json::parse(rows[0][0].as<std::string>());
  }
  std::string reset_code(std::int64_t customer) {
    const auto payload = outbox(customer, "password_reset");
    return payload.is_object() ? payload.value("code", "") : "";
  }
  Reply request_reset(const std::string& email) {
    return pub("POST", "/v1/password-reset", nlohmann::json{{"email", email}});
  }
  Reply confirm_reset(const std::string& email, const std::string& code,
                      const std::string& password = kNewPassword) {
    return pub("POST", "/v1/password-reset/confirm",
               nlohmann::json{{"email", email}, {"code", code}, {"new_password", password}});
  }
  Reply me(const std::string& token) { return pub("GET", "/v1/customers/me", std::nullopt, token); }
  int login_status(const std::string& email, const std::string& password) {
    return pub("POST", "/v1/sessions", nlohmann::json{{"email", email}, {"password", password}})
        .status;
  }
  // A customer with an email of its own; returns the id.
  std::int64_t new_customer(const std::string& name, std::string* email) {
    *email = name + std::to_string(++customers_) + "@example.org";
    return register_customer(*email);
  }
};

TEST_F(AccountTest, ChangingThePasswordEndsEveryOtherSessionButThisOneOnEveryReplica) {
  std::string email;
  const auto id = new_customer("change", &email);
  const auto here = customer_login(email);
  const auto other = customer_login(email);
  // Both sessions are cached here, and `other` also on a second replica whose cache entry lives
  // an hour: only the NOTIFY of migration 0007 can end it there.
  ASSERT_EQ(me(here).status, 200);
  ASSERT_EQ(me(other).status, 200);
  auto second_config = config_;
  second_config.mqtt.client_id += "-b";
  second_config.sessions.cache_ttl = std::chrono::hours(1);
  auto second = make_controller(second_config, clock_, Log::null());
  ASSERT_TRUE(second.ok()) << second.error().to_string();
  ASSERT_TRUE((*second)->start().ok());
  ASSERT_TRUE(eventually([&] { return (*second)->session_cache()->listening(); }));
  httplib::Client b("127.0.0.1", (*second)->public_port());
  const httplib::Headers bearer{{"Authorization", "Bearer " + other}};
  ASSERT_EQ(b.Get("/v1/customers/me", bearer)->status, 200);
  ASSERT_EQ(b.Get("/v1/customers/me", bearer)->status, 200);
  ASSERT_GE((*second)->session_cache()->stats().hits, 1u) << "not served from its cache";

  auto changed =
      pub("POST", "/v1/customers/me/password",
          nlohmann::json{{"current_password", kPassword}, {"new_password", kNewPassword}}, here);
  ASSERT_EQ(changed.status, 200) << describe(changed);
  EXPECT_EQ(changed.body["sessions_ended"], 1);
  EXPECT_EQ(me(here).status, 200) << "the session that changed it stays";
  EXPECT_EQ(me(other).status, 401);
  EXPECT_TRUE(
      eventually([&] { return b.Get("/v1/customers/me", bearer)->status == 401; }, seconds(3)))
      << "the other replica still serves the ended session";
  EXPECT_EQ(login_status(email, kPassword), 401) << "the old password still works";
  EXPECT_EQ(login_status(email, kNewPassword), 201);
  EXPECT_EQ(count("SELECT count(*) FROM audit_log WHERE action = 'customer.password_change' AND "
                  "actor_kind = 'customer' AND actor_id = " +
                  std::to_string(id) + " AND outcome = 'ok'"),
            1);
  (*second)->stop();
}

TEST_F(AccountTest, AWrongCurrentPasswordIsRefusedAndCountedLikeAFailedLogin) {
  std::string email;
  new_customer("wrong", &email);
  const auto token = customer_login(email);
  const auto change = [&](const std::string& current, const std::string& next) {
    return pub("POST", "/v1/customers/me/password",
               nlohmann::json{{"current_password", current}, {"new_password", next}}, token);
  };
  auto weak = change(kPassword, "short");
  EXPECT_EQ(weak.status, 400);
  EXPECT_EQ(weak.body["error"]["details"]["field"], "/new_password") << describe(weak);
  EXPECT_EQ(pub("POST", "/v1/customers/me/password",
                nlohmann::json{
                    {"current_password", kPassword}, {"new_password", kNewPassword}, {"extra", 1}},
                token)
                .status,
            400);
  const int limit = config_.throttle.max_failures_per_account;
  for (int i = 0; i < limit; ++i) {
    auto wrong = change("not my password", kNewPassword);
    ASSERT_EQ(wrong.status, 403) << describe(wrong);
    EXPECT_EQ(wrong.code(), "wrong_password");
  }
  // At the login throttle's limit even the right password is refused, for the login too.
  auto throttled = change(kPassword, kNewPassword);
  EXPECT_EQ(throttled.status, 429) << describe(throttled);
  EXPECT_EQ(throttled.code(), "too_many_attempts");
  EXPECT_FALSE(throttled.header("Retry-After").empty());
  EXPECT_EQ(login_status(email, kPassword), 429);
  clock_.advance(config_.throttle.window + seconds(1));
  EXPECT_EQ(change(kPassword, kNewPassword).status, 200);
}

TEST_F(AccountTest, AResetRequestAnswersTheSameForKnownAndUnknownEmails) {
  std::string email;
  const auto id = new_customer("known", &email);
  auto known = request_reset(email);
  auto unknown = request_reset("nobody-here@example.org");
  ASSERT_EQ(known.status, 202) << describe(known);
  EXPECT_EQ(unknown.status, known.status);
  EXPECT_EQ(unknown.body, known.body);
  EXPECT_EQ(count("SELECT count(*) FROM notifications WHERE kind = 'password_reset'"), 1);
  const auto payload = outbox(id, "password_reset");
  ASSERT_TRUE(payload.is_object());
  EXPECT_EQ(payload["code"].get<std::string>().size(), 9u) << payload;  // XXXX-XXXX
  EXPECT_FALSE(payload.value("expires_at", "").empty());
  // Only the hash is stored.
  EXPECT_EQ(count("SELECT count(*) FROM account_codes WHERE code_hash LIKE '$argon2id$%' AND "
                  "position('" +
                  payload["code"].get<std::string>().substr(5) + "' in code_hash) = 0"),
            1);
  EXPECT_EQ(request_reset("not an email").status, 400);
}

TEST_F(AccountTest, AResetCodeFromTheOutboxWorksOnceAndEndsEverySession) {
  std::string email;
  const auto id = new_customer("reset", &email);
  const auto token = customer_login(email);
  ASSERT_EQ(me(token).status, 200);
  ASSERT_EQ(request_reset(email).status, 202);
  const auto first = reset_code(id);
  // A newer request replaces the code.
  ASSERT_EQ(request_reset(email).status, 202);
  const auto code = reset_code(id);
  ASSERT_NE(code, first);
  auto superseded = confirm_reset(email, first);
  EXPECT_EQ(superseded.status, 400);
  EXPECT_EQ(superseded.code(), "invalid_code");
  // A wrong email with the right code is the same refusal.
  EXPECT_EQ(confirm_reset("nobody-here@example.org", code).code(), "invalid_code");
  EXPECT_EQ(confirm_reset(email, code, "short").status, 400);

  // Typed as people type it: lower case, without the dash.
  std::string typed = code.substr(0, 4) + code.substr(5);
  for (auto& c : typed) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto done = confirm_reset(email, typed);
  ASSERT_EQ(done.status, 200) << describe(done);
  EXPECT_EQ(me(token).status, 401) << "every session ends";
  EXPECT_EQ(login_status(email, kPassword), 401);
  EXPECT_EQ(login_status(email, kNewPassword), 201);
  auto reused = confirm_reset(email, code, "yet another passphrase");
  EXPECT_EQ(reused.status, 400);
  EXPECT_EQ(reused.code(), "invalid_code");
  EXPECT_EQ(login_status(email, kNewPassword), 201) << "the reused code changed nothing";
}

TEST_F(AccountTest, AnExpiredCodeAndACodeAfterTooManyWrongTriesAreRefused) {
  std::string email;
  const auto id = new_customer("expiry", &email);
  ASSERT_EQ(request_reset(email).status, 202);
  const auto code = reset_code(id);
  clock_.advance(std::chrono::minutes(15) + seconds(1));
  auto expired = confirm_reset(email, code);
  EXPECT_EQ(expired.status, 400);
  EXPECT_EQ(expired.code(), "invalid_code");

  ASSERT_EQ(request_reset(email).status, 202);
  const auto fresh = reset_code(id);
  const std::string wrong = fresh == "0000-0000" ? "ZZZZ-ZZZZ" : "0000-0000";
  for (int i = 0; i < 5; ++i) EXPECT_EQ(confirm_reset(email, wrong).code(), "invalid_code");
  auto dead = confirm_reset(email, fresh);
  EXPECT_EQ(dead.status, 400);
  EXPECT_EQ(dead.code(), "invalid_code");
  EXPECT_EQ(
      count("SELECT max(attempts) FROM account_codes WHERE customer_id = " + std::to_string(id)),
      5);
  EXPECT_EQ(login_status(email, kPassword), 201) << "the password is unchanged";
  // The client hears one refusal; the metrics keep the reasons.
  const auto metrics = call(Listener::kInternal, "GET", "/metrics").raw;
  for (const std::string reason : {"expired", "wrong", "exhausted"}) {
    EXPECT_NE(
        metrics.find("reclothes_account_code_refusals_total{purpose=\"password_reset\",reason=\"" +
                     reason + "\"}"),
        std::string::npos)
        << reason;
  }
  EXPECT_NE(metrics.find("reclothes_account_codes_issued_total{purpose=\"password_reset\"} 2"),
            std::string::npos);
}

TEST_F(AccountTest, ResetRequestsAreLimitedPerEmailAndPerAddressKnownOrNot) {
  domain_overrides_ = {{"accounts", {{"requests_per_email", 2}, {"requests_per_address", 5}}}};
  restart_with_domain_config();
  std::string email;
  new_customer("limit", &email);
  const std::string unknown = "nobody-here@example.org";
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(request_reset(email).status, 202);
    ASSERT_EQ(request_reset(unknown).status, 202);
  }
  auto known_over = request_reset(email);
  auto unknown_over = request_reset(unknown);
  EXPECT_EQ(known_over.status, 429) << describe(known_over);
  EXPECT_EQ(known_over.code(), "too_many_requests");
  EXPECT_EQ(known_over.body["error"]["details"]["scope"], "email");
  EXPECT_EQ(known_over.header("Retry-After"), "3600");
  EXPECT_EQ(unknown_over.status, 429);
  EXPECT_EQ(unknown_over.body["error"], known_over.body["error"]);
  // 4 counted from this address so far: one more, then the address is at its limit.
  ASSERT_EQ(request_reset("third@example.org").status, 202);
  auto address_over = request_reset("fourth@example.org");
  EXPECT_EQ(address_over.status, 429);
  EXPECT_EQ(address_over.body["error"]["details"]["scope"], "address");
  clock_.advance(seconds(3601));
  EXPECT_EQ(request_reset(email).status, 202);
}

TEST_F(AccountTest, AnEmailChangeTakesEffectOnlyWithTheCodeSentToTheNewAddress) {
  std::string email;
  const auto id = new_customer("move", &email);
  const auto token = customer_login(email);
  const auto ask = [&](const std::string& password, const std::string& to) {
    return pub("POST", "/v1/customers/me/email",
               nlohmann::json{{"password", password}, {"new_email", to}}, token);
  };
  EXPECT_EQ(ask("not my password", "moved@example.org").code(), "wrong_password");
  EXPECT_EQ(ask(kPassword, "not an email").status, 400);
  EXPECT_EQ(ask(kPassword, email).code(), "same_email");
  auto asked = ask(kPassword, "Moved@Example.org");
  ASSERT_EQ(asked.status, 202) << describe(asked);
  EXPECT_EQ(asked.body["to_email"], "moved@example.org");
  const auto payload = outbox(id, "email_change");
  ASSERT_TRUE(payload.is_object());
  EXPECT_EQ(payload["to_email"], "moved@example.org");
  EXPECT_EQ(me(token).body["email"], email) << "until confirmed the old email stays";
  EXPECT_EQ(login_status(email, kPassword), 201);

  const auto confirm = [&](const std::string& code, const std::string& as) {
    return pub("POST", "/v1/customers/me/email/confirm", nlohmann::json{{"code", code}}, as);
  };
  EXPECT_EQ(confirm("0000-0000", token).code(), "invalid_code");
  // Someone else's session cannot use the code.
  EXPECT_EQ(confirm(payload["code"], customer("stranger")).code(), "invalid_code");
  auto done = confirm(payload["code"], token);
  ASSERT_EQ(done.status, 200) << describe(done);
  EXPECT_EQ(done.body["email"], "moved@example.org");
  EXPECT_EQ(me(token).body["email"], "moved@example.org");
  EXPECT_EQ(login_status(email, kPassword), 401);
  EXPECT_EQ(login_status("moved@example.org", kPassword), 201);
  EXPECT_EQ(confirm(payload["code"], token).code(), "invalid_code") << "single use";
}

TEST_F(AccountTest, NoExportShowsAResetOrEmailChangeCode) {
  std::string email;
  const auto id = new_customer("export", &email);
  const auto token = customer_login(email);
  ASSERT_EQ(request_reset(email).status, 202);
  ASSERT_EQ(
      pub("POST", "/v1/customers/me/email",
          nlohmann::json{{"password", kPassword}, {"new_email", "elsewhere@example.org"}}, token)
          .status,
      202);
  const auto reset = reset_code(id);
  const auto change = outbox(id, "email_change")["code"].get<std::string>();
  const auto sid = std::to_string(id);
  auto staff = internal("GET", "/internal/v1/customers/" + sid + "/export", std::nullopt,
                        staff_token({Role::kSuperAdmin}));
  auto own = pub("GET", "/v1/customers/" + sid + "/export", std::nullopt, token);
  for (const auto& r : {staff, own}) {
    ASSERT_EQ(r.status, 200) << describe(r);
    EXPECT_EQ(r.body["notifications"].size(), 2u) << r.raw;
    EXPECT_EQ(r.raw.find(reset), std::string::npos) << r.raw;
    EXPECT_EQ(r.raw.find(change), std::string::npos) << r.raw;
  }
}

TEST_F(AccountTest, TheInAppNotificationListNeverShowsACode) {
  // A stolen session must not be enough: ask for a reset, read the code in the app, take over.
  std::string email;
  const auto id = new_customer("inapp", &email);
  const auto token = customer_login(email);
  ASSERT_EQ(request_reset(email).status, 202);
  ASSERT_EQ(pub("POST", "/v1/customers/me/email",
                nlohmann::json{{"password", kPassword}, {"new_email", "moved@example.org"}}, token)
                .status,
            202);
  const auto reset = reset_code(id);
  const auto change = outbox(id, "email_change")["code"].get<std::string>();
  const auto list = pub("GET", "/v1/notifications", std::nullopt, token);
  ASSERT_EQ(list.status, 200) << describe(list);
  ASSERT_EQ(list.body["items"].size(), 2u) << list.raw;
  EXPECT_EQ(list.raw.find(reset), std::string::npos) << list.raw;
  EXPECT_EQ(list.raw.find(change), std::string::npos) << list.raw;
}

TEST_F(AccountTest, AnAddressInUseIsRefusedAtConfirmationWithoutSayingWhose) {
  std::string first_email, second_email;
  const auto first = new_customer("first", &first_email);
  const auto second = new_customer("second", &second_email);
  const auto token = customer_login(second_email);
  // The request does not tell whether the address is taken (it could probe addresses)...
  auto asked = pub("POST", "/v1/customers/me/email",
                   nlohmann::json{{"password", kPassword}, {"new_email", first_email}}, token);
  ASSERT_EQ(asked.status, 202) << describe(asked);
  // ...the holder of the code, who reads that mailbox, learns it at the confirmation.
  auto taken = pub("POST", "/v1/customers/me/email/confirm",
                   nlohmann::json{{"code", outbox(second, "email_change")["code"]}}, token);
  EXPECT_EQ(taken.status, 409) << describe(taken);
  EXPECT_EQ(taken.code(), "email_taken");
  EXPECT_EQ(taken.body["error"]["details"], nlohmann::json::object()) << describe(taken);
  EXPECT_EQ(taken.body["error"]["message"].get<std::string>().find(std::to_string(first)),
            std::string::npos);
  EXPECT_EQ(me(token).body["email"], second_email);
}

TEST_F(AccountTest, ErasingOnesOwnAccountFollowsTheStaffEraseRules) {
  add_fleet({"M"});
  std::string email;
  const auto id = new_customer("erase", &email);
  const auto token = customer_login(email);
  const auto sid = std::to_string(id);
  ASSERT_EQ(internal("POST", "/internal/v1/customers/" + sid + "/coins",
                     nlohmann::json{{"delta", 25}, {"reason", "goodwill"}}, manager_)
                .status,
            201);
  auto donation = create_donation(token, {{{"category", "tops"}, {"count", 1}}});
  ASSERT_EQ(donation.status, 201) << describe(donation);
  const auto donation_id = donation.body["id"].get<std::int64_t>();
  const auto erase = [&](const std::string& password) {
    return pub("POST", "/v1/customers/me/erase", nlohmann::json{{"password", password}}, token);
  };
  EXPECT_EQ(erase("not my password").code(), "wrong_password");
  // A live reservation blocks it, and the answer lists what is open.
  auto blocked = erase(kPassword);
  EXPECT_EQ(blocked.status, 409) << describe(blocked);
  EXPECT_EQ(blocked.code(), "customer_has_open_orders");
  EXPECT_EQ(blocked.body["error"]["details"]["donations"], nlohmann::json({donation_id}));
  ASSERT_EQ(
      pub("POST", "/v1/donations/" + std::to_string(donation_id) + "/cancel", std::nullopt, token)
          .status,
      200);
  ASSERT_EQ(request_reset(email).status, 202);  // a pending code is personal data too
  const auto ledger_before = count("SELECT count(*) FROM coin_ledger WHERE customer_id = " + sid);

  auto erased = erase(kPassword);
  ASSERT_EQ(erased.status, 200) << describe(erased);
  EXPECT_EQ(erased.body["id"], id);
  auto row = query("SELECT email, display_name, status FROM customers WHERE id = " + sid);
  EXPECT_EQ(row[0][0].as<std::string>(), "erased-" + sid + "@erased.invalid");
  EXPECT_EQ(row[0][2].as<std::string>(), "disabled");
  EXPECT_EQ(count("SELECT count(*) FROM account_codes WHERE customer_id = " + sid), 0);
  EXPECT_EQ(me(token).status, 401) << "the session no longer works";
  EXPECT_EQ(login_status(email, kPassword), 401);
  // Financial records stay.
  EXPECT_EQ(count("SELECT count(*) FROM coin_ledger WHERE customer_id = " + sid), ledger_before);
  EXPECT_EQ(count("SELECT count(*) FROM donations WHERE customer_id = " + sid), 1);
  EXPECT_EQ(count("SELECT count(*) FROM audit_log WHERE action = 'customer.erase' AND actor_kind = "
                  "'customer' AND actor_id = " +
                  sid + " AND target_id = '" + sid + "' AND outcome = 'ok'"),
            1);
}

}  // namespace
}  // namespace reclothes::controller::testing
