// The customer session cache (SessionCache): what it serves, and above all what it must stop
// serving at once: logouts and erasures on this replica, changes made by another replica (by
// NOTIFY), and everything while its listening connection is down. Real PostgreSQL throughout.
#include "reclothes/controller/session_cache.h"

#include <regex>

#include "fixture.h"

namespace reclothes::controller::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// The series of /metrics, by name (first sample).
double metric(const std::string& exposition, const std::string& name) {
  std::smatch m;
  if (!std::regex_search(exposition, m, std::regex("\n" + name + " ([0-9.e+-]+)"))) return -1;
  return std::stod(m[1].str());
}

class SessionCacheTest : public ControllerTest {
 protected:
  void SetUp() override {
    ControllerTest::SetUp();
    // An hour: anything that ends a cached session within the tests below was told, not aged.
    config_.sessions.cache_ttl = std::chrono::hours(1);
    start_controller();
    ASSERT_NE(cache(), nullptr);
    ASSERT_TRUE(eventually([&] { return cache()->listening(); })) << "the cache never listened";
  }

  SessionCache* cache() { return controller_->session_cache(); }

  // A customer with a session that the cache now holds (one request fills it).
  std::string cached_customer(const std::string& email, std::int64_t* id = nullptr) {
    const auto customer = register_customer(email);
    if (id) *id = customer;
    const auto token = customer_login(email);
    EXPECT_EQ(pub("GET", "/v1/customers/me", std::nullopt, token).status, 200);
    const auto before = cache()->stats().hits;
    EXPECT_EQ(pub("GET", "/v1/customers/me", std::nullopt, token).status, 200);
    EXPECT_EQ(cache()->stats().hits, before + 1) << "the second request was not served from it";
    return token;
  }

  // Without the triggers of migration 0007 no notification is sent: what still ends a cached
  // session is this replica's own forgetting.
  void mute_notifications() {
    exec("ALTER TABLE sessions DISABLE TRIGGER sessions_notify_change");
    exec("ALTER TABLE customers DISABLE TRIGGER customers_notify_change");
  }

  void terminate_listener() {
    exec(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = "
        "'reclothes-session-cache' AND datname = current_database()");
  }
};

TEST_F(SessionCacheTest, ASessionIsReadFromTheDatabaseOnceThenServedFromMemory) {
  register_customer("ann@example.org");
  const auto token = customer_login("ann@example.org");
  const auto before = cache()->stats();
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(pub("GET", "/v1/customers/me", std::nullopt, token).status, 200);
  }
  const auto after = cache()->stats();
  EXPECT_EQ(after.misses - before.misses, 1u);
  EXPECT_EQ(after.hits - before.hits, 4u);
  EXPECT_EQ(after.entries, 1u);
  // /metrics carries the same counts.
  const auto text = internal("GET", "/metrics").raw;
  EXPECT_GE(metric(text, "reclothes_session_cache_hits_total"), 4);
  EXPECT_EQ(metric(text, "reclothes_session_cache_listening"), 1);
  EXPECT_EQ(metric(text, "reclothes_session_cache_entries"), 1);
}

TEST_F(SessionCacheTest, AnUnknownTokenIsRefusedAndNotRemembered) {
  const std::string forged(64, 'a');
  EXPECT_EQ(pub("GET", "/v1/customers/me", std::nullopt, forged).status, 401);
  EXPECT_EQ(pub("GET", "/v1/customers/me", std::nullopt, forged).status, 401);
  EXPECT_EQ(cache()->stats().entries, 0u);
  EXPECT_EQ(cache()->stats().hits, 0u);
}

TEST_F(SessionCacheTest, LogoutEndsACachedSessionOnTheVeryNextRequest) {
  const auto token = cached_customer("bea@example.org");
  mute_notifications();
  ASSERT_EQ(pub("DELETE", "/v1/sessions/current", std::nullopt, token).status, 204);
  // No waiting: this replica forgot the session before it answered the logout.
  const auto after = pub("GET", "/v1/customers/me", std::nullopt, token);
  EXPECT_EQ(after.status, 401) << describe(after);
  EXPECT_EQ(cache()->stats().entries, 0u);
}

TEST_F(SessionCacheTest, GdprEraseEndsTheCustomersCachedSessionsAtOnce) {
  std::int64_t id = 0;
  const auto token = cached_customer("cid@example.org", &id);
  const auto admin = staff_token({Role::kSuperAdmin});
  mute_notifications();
  const auto erased = internal("POST", "/internal/v1/customers/" + std::to_string(id) + "/erase",
                               std::nullopt, admin);
  ASSERT_EQ(erased.status, 200) << describe(erased);
  EXPECT_EQ(pub("GET", "/v1/customers/me", std::nullopt, token).status, 401);
}

TEST_F(SessionCacheTest, ALogoutOnAnotherReplicaReachesThisOneByNotify) {
  const auto token = cached_customer("dot@example.org");
  // A second replica on the same database, with its own listeners and cache.
  auto other_config = config_;
  other_config.mqtt.client_id += "-b";
  auto other = make_controller(other_config, clock_, Log::null());
  ASSERT_TRUE(other.ok()) << other.error().to_string();
  ASSERT_TRUE((*other)->start().ok());
  httplib::Client b("127.0.0.1", (*other)->public_port());
  auto out = b.Delete("/v1/sessions/current", {{"Authorization", "Bearer " + token}});
  ASSERT_TRUE(out);
  ASSERT_EQ(out->status, 204);
  // The entry here is an hour from expiry: only the notification can end it.
  EXPECT_TRUE(
      eventually([&] { return pub("GET", "/v1/customers/me", std::nullopt, token).status == 401; },
                 seconds(2)));
  EXPECT_GE(cache()->stats().invalidations, 1u);
  (*other)->stop();
}

TEST_F(SessionCacheTest, ChangesMadeDirectlyInTheDatabaseReachTheCache) {
  std::int64_t id = 0;
  const auto revoked = cached_customer("eli@example.org", &id);
  exec("UPDATE sessions SET revoked_at = now() WHERE account_kind = 'customer' AND account_id = " +
       std::to_string(id));
  EXPECT_TRUE(eventually(
      [&] { return pub("GET", "/v1/customers/me", std::nullopt, revoked).status == 401; },
      seconds(2)));

  std::int64_t other = 0;
  const auto disabled = cached_customer("fox@example.org", &other);
  exec("UPDATE customers SET status = 'disabled' WHERE id = " + std::to_string(other));
  EXPECT_TRUE(eventually(
      [&] { return pub("GET", "/v1/customers/me", std::nullopt, disabled).status == 401; },
      seconds(2)));

  const auto deleted = cached_customer("gus@example.org");
  exec(
      "DELETE FROM sessions WHERE account_kind = 'customer' AND account_id IN (SELECT id FROM "
      "customers WHERE email = 'gus@example.org')");
  EXPECT_TRUE(eventually(
      [&] { return pub("GET", "/v1/customers/me", std::nullopt, deleted).status == 401; },
      seconds(2)));
}

TEST_F(SessionCacheTest, AProfileChangeDoesNotEmptyTheCache) {
  std::int64_t id = 0;
  const auto token = cached_customer("hal@example.org", &id);
  ASSERT_EQ(pub("PATCH", "/v1/customers/" + std::to_string(id),
                nlohmann::json{{"display_name", "Hal"}}, token)
                .status,
            200);
  std::this_thread::sleep_for(milliseconds(300));  // a notification would have arrived by now
  EXPECT_EQ(cache()->stats().entries, 1u);
  EXPECT_EQ(cache()->stats().invalidations, 0u);
}

TEST_F(SessionCacheTest, StaffSessionsAreAlwaysReadFromTheDatabase) {
  const auto token = staff_token({Role::kManager});
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(internal("GET", "/internal/v1/staff/me", std::nullopt, token).status, 200);
  }
  EXPECT_EQ(cache()->stats().entries, 0u);
  EXPECT_EQ(cache()->stats().hits, 0u);
}

TEST_F(SessionCacheTest, WhileTheListeningConnectionIsDownNothingIsServedFromTheCache) {
  const auto token = cached_customer("ida@example.org");
  terminate_listener();
  ASSERT_TRUE(eventually([&] { return !cache()->listening(); }, seconds(3)));
  EXPECT_EQ(cache()->stats().entries, 0u);
  // Back after the reconnect delay, counted as a restart; then caching resumes.
  ASSERT_TRUE(eventually([&] { return cache()->listening(); }, seconds(5)));
  EXPECT_EQ(cache()->stats().listener_restarts, 1u);
  const auto misses = cache()->stats().misses;
  EXPECT_EQ(pub("GET", "/v1/customers/me", std::nullopt, token).status, 200);
  EXPECT_EQ(cache()->stats().misses, misses + 1) << "an entry from before the gap was served";
  EXPECT_EQ(pub("GET", "/v1/customers/me", std::nullopt, token).status, 200);
  EXPECT_EQ(cache()->stats().entries, 1u);
}

TEST_F(SessionCacheTest, ARevocationDuringAListenerOutageIsNeverMissed) {
  // A cache of its own whose listener stays away for a minute once it is cut.
  SessionCache::Options o;
  o.conninfo = conninfo_;
  o.ttl = std::chrono::hours(1);
  o.reconnect_delay = seconds(60);
  SessionCache c(o, clock_, Log::null());
  c.start();
  ASSERT_TRUE(eventually([&] { return c.listening(); }));
  Principal p;
  p.kind = AccountKind::kCustomer;
  p.account_id = 7;
  p.session_expires_ms = clock_.wall_ms() + 3600 * 1000;
  c.put("digest-7", p, c.generation(), clock_.wall_ms());
  ASSERT_TRUE(c.find("digest-7", clock_.wall_ms()).has_value());
  terminate_listener();
  ASSERT_TRUE(eventually([&] { return !c.listening(); }, seconds(3)));
  // Whatever happens in the database now is unheard: nothing may be served or stored.
  EXPECT_FALSE(c.find("digest-7", clock_.wall_ms()).has_value());
  c.put("digest-7", p, c.generation(), clock_.wall_ms());
  EXPECT_FALSE(c.find("digest-7", clock_.wall_ms()).has_value());
  EXPECT_EQ(c.stats().entries, 0u);
  c.stop();
}

TEST_F(SessionCacheTest, AReadThatRacedAnInvalidationIsNotStored) {
  Principal p;
  p.kind = AccountKind::kCustomer;
  p.account_id = 11;
  p.session_expires_ms = clock_.wall_ms() + 3600 * 1000;
  const auto generation = cache()->generation();  // the request reads the database now ...
  cache()->apply_notification("customer:99");     // ... while any session change commits
  cache()->put("digest-11", p, generation, clock_.wall_ms());
  EXPECT_FALSE(cache()->find("digest-11", clock_.wall_ms()).has_value());
  cache()->put("digest-11", p, cache()->generation(), clock_.wall_ms());
  EXPECT_TRUE(cache()->find("digest-11", clock_.wall_ms()).has_value());
}

TEST_F(SessionCacheTest, NotificationsForgetTheirCustomerOnlyAndOddOnesForgetEverything) {
  Principal p;
  p.kind = AccountKind::kCustomer;
  p.session_expires_ms = clock_.wall_ms() + 3600 * 1000;
  const auto fill = [&] {
    for (std::int64_t id : {1, 2, 3}) {
      p.account_id = id;
      cache()->put("d" + std::to_string(id), p, cache()->generation(), clock_.wall_ms());
    }
  };
  fill();
  cache()->apply_notification("customer:2");
  EXPECT_TRUE(cache()->find("d1", clock_.wall_ms()).has_value());
  EXPECT_FALSE(cache()->find("d2", clock_.wall_ms()).has_value());
  EXPECT_TRUE(cache()->find("d3", clock_.wall_ms()).has_value());
  for (const char* odd : {"all", "customer:", "customer:2x", "staff:1", ""}) {
    fill();
    cache()->apply_notification(odd);
    EXPECT_EQ(cache()->stats().entries, 0u) << "payload '" << odd << "'";
  }
}

TEST_F(SessionCacheTest, EntriesEndWithTheirTtlOrTheirSessionWhicheverIsFirst) {
  SessionCache::Options o;
  o.conninfo = conninfo_;
  o.ttl = seconds(10);
  o.max_entries = 2;
  SessionCache c(o, clock_, Log::null());
  c.start();
  ASSERT_TRUE(eventually([&] { return c.listening(); }));
  Principal p;
  p.kind = AccountKind::kCustomer;
  p.account_id = 1;
  p.session_expires_ms = clock_.wall_ms() + 3600 * 1000;
  c.put("long", p, c.generation(), clock_.wall_ms());
  p.account_id = 2;
  p.session_expires_ms = clock_.wall_ms() + 4000;
  c.put("short", p, c.generation(), clock_.wall_ms());
  clock_.advance(seconds(5));
  EXPECT_TRUE(c.find("long", clock_.wall_ms()).has_value());
  EXPECT_FALSE(c.find("short", clock_.wall_ms()).has_value()) << "outlived its session";
  clock_.advance(seconds(6));
  EXPECT_FALSE(c.find("long", clock_.wall_ms()).has_value()) << "outlived the ttl";
  // At most max_entries live entries.
  for (int i = 0; i < 5; ++i) {
    p.account_id = 10 + i;
    p.session_expires_ms = clock_.wall_ms() + 3600 * 1000;
    c.put("n" + std::to_string(i), p, c.generation(), clock_.wall_ms());
    EXPECT_LE(c.stats().entries, 2u);
  }
  // A staff principal is never stored.
  p.kind = AccountKind::kStaff;
  c.put("staff", p, c.generation(), clock_.wall_ms());
  EXPECT_FALSE(c.find("staff", clock_.wall_ms()).has_value());
  c.stop();
}

TEST_F(SessionCacheTest, ATtlOfZeroTurnsTheCacheOff) {
  auto config = base_config();
  config.sessions.cache_ttl = milliseconds(0);
  start_controller(config);
  EXPECT_EQ(controller_->session_cache(), nullptr);
  register_customer("joy@example.org");
  const auto token = customer_login("joy@example.org");
  EXPECT_EQ(pub("GET", "/v1/customers/me", std::nullopt, token).status, 200);
  EXPECT_EQ(pub("DELETE", "/v1/sessions/current", std::nullopt, token).status, 204);
  EXPECT_EQ(pub("GET", "/v1/customers/me", std::nullopt, token).status, 401);
}

}  // namespace
}  // namespace reclothes::controller::testing
