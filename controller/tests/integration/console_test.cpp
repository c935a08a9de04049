// The staff console (docs/console.md): its files served only on the internal listener with the
// console's security headers, no path outside the embedded table, and the cookie session with its
// CSRF token (the cookie works for reads, a change without the token is refused and audited,
// signing out ends the session server-side).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "fixture.h"
#include "reclothes/controller/console_assets.h"

namespace reclothes::controller::testing {
namespace {

class ConsoleTest : public ControllerTest {
 protected:
  void SetUp() override {
    ControllerTest::SetUp();
    start_controller();
    add_staff("manager@example.org", {Role::kManager});
  }

  // Signs in as the console does; returns the reply (Set-Cookie and the CSRF token).
  Reply cookie_login(const std::string& email = "manager@example.org") {
    return internal("POST", "/internal/v1/sessions",
                    nlohmann::json{{"email", email}, {"password", kPassword}, {"cookie", true}});
  }

  // "reclothes_staff=<token>" from a Set-Cookie header.
  static std::string cookie_pair(const Reply& r) {
    const auto set = r.header("Set-Cookie");
    return set.substr(0, set.find(';'));
  }

  Reply with_cookie(const std::string& method, const std::string& path, const std::string& cookie,
                    const std::optional<std::string>& csrf = std::nullopt,
                    const std::optional<nlohmann::json>& body = std::nullopt) {
    httplib::Headers h{{"Cookie", cookie}};
    if (csrf) h.emplace("X-CSRF-Token", *csrf);
    return call(Listener::kInternal, method, path, body, "", h);
  }

  // The status line's code of a request sent byte for byte (no client normalises the path).
  int raw_status(Listener listener, const std::string& target) {
    const int port =
        listener == Listener::kPublic ? controller_->public_port() : controller_->internal_port();
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd);
      ADD_FAILURE() << "connect failed";
      return 0;
    }
    const std::string req = "GET " + target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    (void)::send(fd, req.data(), req.size(), 0);
    std::string got;
    char buf[4096];
    for (;;) {
      const auto n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      got.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    if (got.rfind("HTTP/1.1 ", 0) != 0 || got.size() < 12) return 0;
    return std::stoi(got.substr(9, 3));
  }
};

TEST_F(ConsoleTest, ServesTheConsoleOnTheInternalListenerWithItsSecurityHeaders) {
  auto index = internal("GET", "/console/");
  ASSERT_EQ(index.status, 200) << index.raw.substr(0, 200);
  EXPECT_EQ(index.header("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(index.raw.find("<!doctype html>"), std::string::npos);
  EXPECT_EQ(index.header("Content-Security-Policy"), std::string(kConsoleCsp));
  EXPECT_NE(index.header("Content-Security-Policy").find("script-src 'self'"), std::string::npos);
  EXPECT_EQ(index.header("Content-Security-Policy").find("unsafe-inline"), std::string::npos);
  EXPECT_EQ(index.header("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(index.header("Referrer-Policy"), "no-referrer");
  // No inline script or style in the page itself.
  EXPECT_EQ(index.raw.find("<script>"), std::string::npos);
  EXPECT_EQ(index.raw.find("<style"), std::string::npos);
  EXPECT_EQ(index.raw.find(" style="), std::string::npos);

  auto app = internal("GET", "/console/app.js");
  ASSERT_EQ(app.status, 200);
  EXPECT_EQ(app.header("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(app.header("Content-Security-Policy"), std::string(kConsoleCsp));
  auto css = internal("GET", "/console/styles.css");
  EXPECT_EQ(css.status, 200);
  EXPECT_EQ(css.header("Content-Type"), "text/css; charset=utf-8");
  EXPECT_EQ(internal("GET", "/console/i18n/en/core.json").status, 200);

  // A reload revalidates: the same ETag gets 304 without the body.
  const auto etag = app.header("ETag");
  ASSERT_FALSE(etag.empty());
  auto again = call(Listener::kInternal, "GET", "/console/app.js", std::nullopt, "",
                    {{"If-None-Match", etag}});
  EXPECT_EQ(again.status, 304);
  EXPECT_TRUE(again.raw.empty());

  // Every embedded file is served at its path.
  for (const auto& a : console_assets()) {
    EXPECT_EQ(internal("GET", std::string(a.path)).status, 200) << a.path;
  }
  // /console redirects to the page.
  EXPECT_EQ(raw_status(Listener::kInternal, "/console"), 301);
  // Writes are not files.
  EXPECT_EQ(internal("POST", "/console/app.js", nlohmann::json::object()).status, 405);
}

TEST_F(ConsoleTest, TheConsoleIsNotOnThePublicListenerAndHasNoOtherFiles) {
  EXPECT_EQ(pub("GET", "/console/").status, 404);
  EXPECT_EQ(pub("GET", "/console/app.js").status, 404);
  EXPECT_EQ(raw_status(Listener::kPublic, "/console/index.html"), 404);
  EXPECT_EQ(internal("GET", "/console/nope.js").status, 404);
  EXPECT_EQ(internal("GET", "/console/index.html.bak").status, 404);
  // No path leaves the embedded table, however it is spelled.
  for (const char* target :
       {"/console/../openapi.json", "/console/%2e%2e/openapi.json", "/console/%2E%2E/openapi.json",
        "/console/..%2fopenapi.json", "/console/..%2Fopenapi.json", "/console/lib/../../etc/passwd",
        "/console/%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/console/..\\openapi.json",
        "/console//etc/passwd", "/console/./index.html", "/console/lib/../index.html"}) {
    const auto status = raw_status(Listener::kInternal, target);
    EXPECT_TRUE(status == 404 || status == 400) << target << " -> " << status;
  }
}

TEST_F(ConsoleTest, CookieSessionReadsButChangesNeedTheCsrfToken) {
  auto login = cookie_login();
  ASSERT_EQ(login.status, 201) << describe(login);
  // The token is in the HttpOnly cookie, not in the body the page's script reads.
  EXPECT_FALSE(login.body.contains("token")) << login.raw;
  const auto csrf = login.body.value("csrf_token", "");
  ASSERT_EQ(csrf.size(), 64u);
  const auto set_cookie = login.header("Set-Cookie");
  EXPECT_EQ(set_cookie.rfind("reclothes_staff=", 0), 0u) << set_cookie;
  EXPECT_NE(set_cookie.find("; HttpOnly"), std::string::npos) << set_cookie;
  EXPECT_NE(set_cookie.find("; SameSite=Strict"), std::string::npos) << set_cookie;
  EXPECT_NE(set_cookie.find("; Path=/"), std::string::npos) << set_cookie;
  const auto cookie = cookie_pair(login);

  // GET with the cookie alone works.
  auto me = with_cookie("GET", "/internal/v1/staff/me", cookie);
  ASSERT_EQ(me.status, 200) << describe(me);
  EXPECT_EQ(me.body["email"], "manager@example.org");
  auto session = with_cookie("GET", "/internal/v1/sessions/current", cookie);
  ASSERT_EQ(session.status, 200) << describe(session);
  EXPECT_EQ(session.body["via"], "cookie");
  EXPECT_EQ(session.body["csrf_token"], csrf);

  // A change without the token, or with a wrong one, is refused (403) and audited; nothing
  // is written.
  const nlohmann::json loc{{"name", "Depot"}};
  const auto denials = count(
      "SELECT count(*) FROM audit_log WHERE outcome = 'denied' AND reason = 'csrf_token_invalid'");
  auto bare = with_cookie("POST", "/internal/v1/locations", cookie, std::nullopt, loc);
  EXPECT_EQ(bare.status, 403) << describe(bare);
  EXPECT_EQ(bare.code(), "csrf_token_invalid");
  auto wrong = with_cookie("POST", "/internal/v1/locations", cookie, std::string(64, 'a'), loc);
  EXPECT_EQ(wrong.status, 403) << describe(wrong);
  EXPECT_EQ(count("SELECT count(*) FROM locations"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM audit_log WHERE outcome = 'denied' AND "
                  "reason = 'csrf_token_invalid'"),
            denials + 2);
  // Another session's token is not this one's.
  auto other = cookie_login();
  ASSERT_EQ(other.status, 201);
  EXPECT_EQ(with_cookie("POST", "/internal/v1/locations", cookie,
                        other.body["csrf_token"].get<std::string>(), loc)
                .status,
            403);

  // With it, the change goes through.
  auto ok = with_cookie("POST", "/internal/v1/locations", cookie, csrf, loc);
  EXPECT_EQ(ok.status, 201) << describe(ok);
  EXPECT_EQ(count("SELECT count(*) FROM locations"), 1);

  // A bearer token needs no CSRF token (an API client is not a browser page), and a bearer
  // session is not a cookie session.
  const auto bearer = staff_login("manager@example.org");
  auto api = internal("POST", "/internal/v1/locations", nlohmann::json{{"name", "Two"}}, bearer);
  EXPECT_EQ(api.status, 201) << describe(api);
  EXPECT_EQ(internal("GET", "/internal/v1/sessions/current", std::nullopt, bearer).body["via"],
            "bearer");
}

TEST_F(ConsoleTest, TheCookieIsOnlyForTheInternalListener) {
  auto login = cookie_login();
  ASSERT_EQ(login.status, 201);
  httplib::Headers h{{"Cookie", cookie_pair(login)}};
  // Customer routes on the public listener do not read the staff cookie.
  EXPECT_EQ(call(Listener::kPublic, "GET", "/v1/customers/me", std::nullopt, "", h).status, 401);
  // A customer login cannot ask for a cookie.
  register_customer("c@example.org");
  auto customer =
      pub("POST", "/v1/sessions",
          nlohmann::json{{"email", "c@example.org"}, {"password", kPassword}, {"cookie", true}});
  EXPECT_EQ(customer.status, 400) << describe(customer);
  EXPECT_TRUE(customer.header("Set-Cookie").empty());
}

TEST_F(ConsoleTest, SigningOutEndsTheSessionAndClearsTheCookie) {
  auto login = cookie_login();
  ASSERT_EQ(login.status, 201);
  const auto cookie = cookie_pair(login);
  const auto csrf = login.body["csrf_token"].get<std::string>();
  // Signing out is a change: it needs the CSRF token too.
  EXPECT_EQ(with_cookie("DELETE", "/internal/v1/sessions/current", cookie).status, 403);
  EXPECT_EQ(with_cookie("GET", "/internal/v1/staff/me", cookie).status, 200);
  auto out = with_cookie("DELETE", "/internal/v1/sessions/current", cookie, csrf);
  EXPECT_EQ(out.status, 204) << describe(out);
  const auto cleared = out.header("Set-Cookie");
  EXPECT_EQ(cleared.rfind("reclothes_staff=;", 0), 0u) << cleared;
  EXPECT_NE(cleared.find("Max-Age=0"), std::string::npos) << cleared;
  // The old cookie (kept by an attacker or a stale tab) is refused: the session is revoked in
  // the database, not only forgotten by the browser.
  auto after = with_cookie("GET", "/internal/v1/staff/me", cookie);
  EXPECT_EQ(after.status, 401) << describe(after);
  EXPECT_EQ(with_cookie("GET", "/internal/v1/sessions/current", cookie).status, 401);
  EXPECT_EQ(count("SELECT count(*) FROM sessions WHERE revoked_at IS NOT NULL"), 1);
  // Signing in again with the dead cookie still in the browser works (the login ignores it).
  auto again = call(
      Listener::kInternal, "POST", "/internal/v1/sessions",
      nlohmann::json{{"email", "manager@example.org"}, {"password", kPassword}, {"cookie", true}},
      "", {{"Cookie", cookie}});
  EXPECT_EQ(again.status, 201) << describe(again);
}

TEST_F(ConsoleTest, AValidCookieDoesNotBlockSigningInAgain) {
  auto login = cookie_login();
  ASSERT_EQ(login.status, 201);
  auto again = call(
      Listener::kInternal, "POST", "/internal/v1/sessions",
      nlohmann::json{{"email", "manager@example.org"}, {"password", kPassword}, {"cookie", true}},
      "", {{"Cookie", cookie_pair(login)}});
  EXPECT_EQ(again.status, 201) << describe(again);
}

// The fleet list behind the console's Fleet page: filters and server-side paging.
class FleetListTest : public ControllerTest {
 protected:
  void SetUp() override {
    ControllerTest::SetUp();
    start_controller();
    admin_ = staff_token({Role::kManager});
    for (const char* name : {"North", "South"}) {
      auto r = internal("POST", "/internal/v1/locations", nlohmann::json{{"name", name}}, admin_);
      ASSERT_EQ(r.status, 201) << describe(r);
      locations_.push_back(r.body["id"].get<std::int64_t>());
    }
    // box-00..box-11: even ones at North, odd ones at South.
    for (int i = 0; i < 12; ++i) {
      char id[16];
      std::snprintf(id, sizeof id, "box-%02d", i);
      auto r = internal(
          "POST", "/internal/v1/boxes",
          nlohmann::json{
              {"box_id", id},
              {"location_id", locations_[static_cast<std::size_t>(i % 2)]},
              {"compartments", {{{"number", 1}, {"size", "M"}}, {{"number", 2}, {"size", "L"}}}}},
          admin_);
      ASSERT_EQ(r.status, 201) << describe(r);
    }
    // Online: box-00..box-05. A jammed fault on box-01, a tamper on box-02; box-03 in
    // maintenance; box-11 decommissioned.
    exec(
        "UPDATE boxes SET online = true, status = 'active', last_seen = now(), "
        "firmware_version = '1.2.0', last_state = '{\"temperature_c\": 21.5, "
        "\"humidity_percent\": 40}' WHERE id <= 'box-05'");
    exec("UPDATE compartments SET fill_percent = 70 WHERE box_id = 'box-00' AND number = 2");
    exec(
        "INSERT INTO box_faults (box_id, compartment, kind, event_seq, opened_at) VALUES "
        "('box-01', 1, 'jammed', 1, now()), ('box-02', NULL, 'tamper', 1, now())");
    exec("UPDATE boxes SET maintenance = true WHERE id = 'box-03'");
    exec("UPDATE boxes SET status = 'decommissioned', online = false WHERE id = 'box-11'");
  }

  std::vector<std::string> ids(const std::string& query) {
    auto r = internal("GET", "/internal/v1/boxes" + query, std::nullopt, admin_);
    EXPECT_EQ(r.status, 200) << query << " -> " << describe(r);
    std::vector<std::string> out;
    for (const auto& b : r.body["items"]) out.push_back(b["id"].get<std::string>());
    return out;
  }

  std::string admin_;
  std::vector<std::int64_t> locations_;
};

using Ids = std::vector<std::string>;

TEST_F(FleetListTest, FiltersByLocationStateFaultAndIdPrefix) {
  const auto north = "?location_id=" + std::to_string(locations_[0]);
  EXPECT_EQ(ids(north), (Ids{"box-00", "box-02", "box-04", "box-06", "box-08", "box-10"}));
  EXPECT_EQ(ids("?state=online"),
            (Ids{"box-00", "box-01", "box-02", "box-03", "box-04", "box-05"}));
  EXPECT_EQ(ids("?state=offline"), (Ids{"box-06", "box-07", "box-08", "box-09", "box-10"}));
  EXPECT_EQ(ids("?state=maintenance"), (Ids{"box-03"}));
  EXPECT_EQ(ids("?state=decommissioned"), (Ids{"box-11"}));
  EXPECT_EQ(ids("?fault=any"), (Ids{"box-01", "box-02"}));
  EXPECT_EQ(ids("?fault=jammed"), (Ids{"box-01"}));
  EXPECT_EQ(ids("?fault=none").size(), 10u);
  EXPECT_EQ(ids(north + "&state=online&fault=any"), (Ids{"box-02"}));
  EXPECT_EQ(ids("?q=BOX-1"), (Ids{"box-10", "box-11"}));
  // LIKE's wildcards are literal in the prefix.
  EXPECT_TRUE(ids("?q=box_0").empty());
  EXPECT_TRUE(ids("?q=%25").empty());

  auto r = internal("GET", "/internal/v1/boxes?state=online&page_size=2", std::nullopt, admin_);
  ASSERT_EQ(r.status, 200);
  const auto& first = r.body["items"][0];
  EXPECT_EQ(first["location_name"], "North");
  EXPECT_EQ(first["temperature_c"], 21.5);
  EXPECT_EQ(first["humidity_percent"], 40.0);
  EXPECT_EQ(first["fill_max_percent"], 70);
  EXPECT_EQ(first["firmware_version"], "1.2.0");
  EXPECT_EQ(r.body["items"][1]["open_faults"], 1);
  // The whole fleet's counts, whatever the filter.
  EXPECT_EQ(r.body["fleet"]["total"], 12);
  EXPECT_EQ(r.body["fleet"]["online"], 6);
  EXPECT_EQ(r.body["fleet"]["offline"], 5);
  EXPECT_EQ(r.body["fleet"]["maintenance"], 1);
  EXPECT_EQ(r.body["fleet"]["decommissioned"], 1);
  EXPECT_EQ(r.body["fleet"]["with_faults"], 2);
  // Each location with its boxes (decommissioned ones left out).
  ASSERT_EQ(r.body["locations"].size(), 2u);
  EXPECT_EQ(r.body["locations"][0]["name"], "North");
  EXPECT_EQ(r.body["locations"][0]["boxes"], 6);
  EXPECT_EQ(r.body["locations"][0]["online"], 3);       // box-00, 02, 04
  EXPECT_EQ(r.body["locations"][0]["with_faults"], 1);  // box-02
  EXPECT_EQ(r.body["locations"][1]["boxes"], 5);        // box-11 is decommissioned
  EXPECT_EQ(r.body["locations"][1]["online"], 3);
  EXPECT_EQ(r.body["locations"][1]["with_faults"], 1);  // box-01
}

TEST_F(FleetListTest, PagesOnTheServer) {
  auto r = internal("GET", "/internal/v1/boxes?page_size=5&page=2", std::nullopt, admin_);
  ASSERT_EQ(r.status, 200) << describe(r);
  EXPECT_EQ(r.body["total"], 12);
  EXPECT_EQ(r.body["page"], 2);
  EXPECT_EQ(r.body["page_size"], 5);
  EXPECT_EQ(ids("?page_size=5&page=2"), (Ids{"box-05", "box-06", "box-07", "box-08", "box-09"}));
  EXPECT_EQ(ids("?page_size=5&page=3"), (Ids{"box-10", "box-11"}));
  EXPECT_TRUE(ids("?page_size=5&page=4").empty());
  // Without paging parameters: every box, as the list always answered.
  EXPECT_EQ(ids("").size(), 12u);
}

TEST_F(FleetListTest, RefusesBadQueriesNamingTheParameter) {
  for (const auto& [query, name] :
       std::vector<std::pair<std::string, std::string>>{{"?state=sleeping", "state"},
                                                        {"?fault=sticky", "fault"},
                                                        {"?page=0", "page"},
                                                        {"?page_size=501", "page_size"},
                                                        {"?page_size=x", "page_size"},
                                                        {"?location_id=-1", "location_id"},
                                                        {"?q=" + std::string(33, 'a'), "q"}}) {
    auto r = internal("GET", "/internal/v1/boxes" + query, std::nullopt, admin_);
    EXPECT_EQ(r.status, 400) << query << " -> " << describe(r);
    EXPECT_EQ(r.code(), "invalid_query") << query;
    EXPECT_NE(r.raw.find(name), std::string::npos) << query << " -> " << r.raw;
  }
}

TEST_F(FleetListTest, BoxPageShowsHoldsAndTheRecentEvents) {
  exec(
      "INSERT INTO compartment_holds (box_id, compartment, order_id, purpose, phase, since) "
      "VALUES ('box-00', 2, 42, 'donation', 'filled', now())");
  exec(
      "INSERT INTO box_events (box_id, seq, kind, at, compartment, payload, applied_at) VALUES "
      "('box-00', 1, 'door_opened', now(), 2, '{\"x\": 1}', now()), "
      "('box-00', 2, 'door_closed', now(), 2, '{}', now())");
  auto r = internal("GET", "/internal/v1/boxes/box-00", std::nullopt, admin_);
  ASSERT_EQ(r.status, 200) << describe(r);
  EXPECT_TRUE(r.body["compartments"][0]["hold"].is_null());
  EXPECT_EQ(r.body["compartments"][1]["hold"]["purpose"], "donation");
  EXPECT_EQ(r.body["compartments"][1]["hold"]["phase"], "filled");
  EXPECT_EQ(r.body["compartments"][1]["hold"]["order_id"], 42);
  ASSERT_EQ(r.body["recent_events"].size(), 2u);
  EXPECT_EQ(r.body["recent_events"][0]["seq"], 2);  // newest first
  EXPECT_EQ(r.body["recent_events"][0]["kind"], "door_closed");
  EXPECT_EQ(r.body["recent_events"][1]["payload"]["x"], 1);
  EXPECT_EQ(r.body["location_name"], "North");
}

// 10,000 boxes (40,000 compartments, 500 with an open fault): each page the console asks for
// stays well inside a second even under the sanitizers (the figures are printed).
TEST_F(FleetListTest, StaysFastWithTenThousandBoxes) {
  exec(
      "INSERT INTO boxes (id, location_id, status, online, last_seen, firmware_version, "
      "created_at) SELECT 'fleet-' || lpad(i::text, 5, '0'), " +
      std::to_string(locations_[1]) +
      ", 'active', i % 3 <> 0, now(), '1.2.0', now() FROM generate_series(1, 10000) i");
  exec(
      "INSERT INTO compartments (box_id, number, size_class, fill_percent) SELECT "
      "'fleet-' || lpad(i::text, 5, '0'), n, 'M', (i * n) % 100 FROM generate_series(1, 10000) "
      "i, generate_series(1, 4) n");
  exec(
      "INSERT INTO box_faults (box_id, compartment, kind, event_seq, opened_at) SELECT "
      "'fleet-' || lpad(i::text, 5, '0'), 1, CASE WHEN i % 40 = 1 THEN 'jammed' ELSE 'ajar' END, "
      "1, now() FROM generate_series(1, 10000, 20) i");
  exec("ANALYZE");
  const auto south = "location_id=" + std::to_string(locations_[1]);
  for (const auto& query :
       {std::string("?page_size=50"), std::string("?page_size=50&page=200"),
        "?page_size=50&" + south + "&state=offline", std::string("?page_size=50&fault=jammed"),
        std::string("?page_size=50&q=fleet-09")}) {
    const auto started = std::chrono::steady_clock::now();
    auto r = internal("GET", "/internal/v1/boxes" + query, std::nullopt, admin_);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - started)
                        .count();
    ASSERT_EQ(r.status, 200) << describe(r);
    std::printf("GET /internal/v1/boxes%s: %lld ms, %zu of %lld boxes, %zu bytes\n", query.c_str(),
                static_cast<long long>(ms), r.body["items"].size(),
                static_cast<long long>(r.body["total"].get<std::int64_t>()), r.raw.size());
    EXPECT_LT(ms, 1000) << query;
    EXPECT_LE(r.body["items"].size(), 50u);
  }
  EXPECT_EQ(internal("GET", "/internal/v1/boxes?page_size=50&fault=jammed", std::nullopt, admin_)
                .body["total"],
            250 + 1);
}

}  // namespace
}  // namespace reclothes::controller::testing
