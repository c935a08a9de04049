// libFuzzer target for the controller's REST dispatch: a request (listener, method, target,
// headers, body) from the fuzzer goes through HttpServer::handle, the function both listeners call
// for every request they have read, with the controller's real route table (every core route and
// every order-domain route, registered as Controller::create and make_controller do).
//
// Input (text, so seeds can be written by hand):
//   <who> <METHOD> <target>\n
//   <Header>: <value>\n ...
//   \n
//   <body>
// <who> picks the listener and the socket's peer: "p" public from 127.0.0.1, "i" internal from
// 127.0.0.1, "x" internal from 10.9.8.7 (not on the allowlist), "f" public from the trusted proxy
// 127.0.0.2 (its X-Forwarded-For is believed). The target is split and decoded as httplib does
// (path through decode_url, the query through parse_query_text). A method httplib's parser
// refuses (it answers 400 before any of our code runs) is skipped.
// Bearer tokens resolve without a database: "customer-<n>" is customer n (1..999999),
// "staff-all" a super admin, "staff-<role>" staff with that one role ("staff-checker", ...),
// "staff-none" staff without roles, "db-down" an unavailable session store; anything else is an
// unknown token.
//
// Covered (our code, with coverage feedback): the request id, the internal network allowlist,
// X-Forwarded-For through trusted proxies, method mapping, the route table's matching and path
// parameter rules (404/405), the body limit (413), authentication and authorization (401, 403,
// ownership 404), the JSON body reader (400), every handler's reading of its path parameters,
// query and body up to its first database access, the error format and the response headers.
// With no database: the conninfo names no server, so the first database access of a handler
// (and every audit write of a denial) fails at once; the handler answers 503 from the dispatcher's
// exception mapping. Not covered: handlers past their first database access, the session store's
// own lookup (SessionStore, the cache), the commit and audit rows of successful writes, the
// after-commit hooks, and the HTTP framing (controller/src/epoll_server.cpp and httplib's
// parser have a fuzzer of their own).
//
// Besides "never crash, never hang": every answer is a status from 200 to 599 but never 500 (with
// no database a handler can only fail with 503; a 500 is an exception from our own code, such as
// a JSON type error), carries the request id, and an error is a JSON object in the documented
// format.
#include <httplib.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <set>
#include <string>
#include <string_view>

#include "reclothes/common/clock.h"
#include "reclothes/controller/auth.h"
#include "reclothes/controller/controller.h"
#include "reclothes/controller/domain/domain.h"
#include "reclothes/controller/server.h"

namespace {

namespace rc = reclothes::controller;
using reclothes::Result;

void check(bool ok) {
  if (!ok) std::abort();
}

// The fixed tokens of the header comment.
class FixedPrincipals final : public rc::PrincipalResolver {
 public:
  Result<std::optional<rc::Principal>> resolve(
      const std::function<pqxx::transaction_base&()>& /*tx*/, std::string_view token,
      rc::AccountKind kind) const override {
    if (token == "db-down") {
      return reclothes::make_error(reclothes::ErrorCode::kUnavailable, "fuzz: no database");
    }
    rc::Principal p;
    p.session_id = 1;
    p.session_expires_ms = 4102444800000;  // 2100
    constexpr std::string_view kCustomer = "customer-";
    constexpr std::string_view kStaff = "staff-";
    if (token.starts_with(kCustomer)) {
      const std::string_view digits = token.substr(kCustomer.size());
      if (digits.empty() || digits.size() > 6 ||
          digits.find_first_not_of("0123456789") != std::string_view::npos) {
        return std::optional<rc::Principal>{};
      }
      p.kind = rc::AccountKind::kCustomer;
      p.account_id = std::stoll(std::string(digits));
      if (p.account_id == 0) return std::optional<rc::Principal>{};
      p.email = "c@example.org";
    } else if (token.starts_with(kStaff)) {
      const std::string_view role = token.substr(kStaff.size());
      p.kind = rc::AccountKind::kStaff;
      p.account_id = 77;
      p.email = "s@example.org";
      if (role == "all") {
        p.roles = {rc::Role::kSuperAdmin};
      } else if (auto r = rc::role_from_string(role)) {
        p.roles = {*r};
      } else if (role != "none") {
        return std::optional<rc::Principal>{};
      }
      p.permissions = rc::permissions_of(p.roles);
      if (role == "all") p.permissions.set();
    } else {
      return std::optional<rc::Principal>{};
    }
    // A session of the other kind is no session here (as in SessionStore).
    if (p.kind != kind) return std::optional<rc::Principal>{};
    return std::optional<rc::Principal>{std::move(p)};
  }
};

// Commands and configs are never published: every handler that would fails at the database
// before.
class NoMessaging final : public rc::BoxMessaging {
 public:
  void publish_config(const std::string& /*box_id*/) override {}
  void publish_all_configs() override {}
  void publish_command(const std::string& /*box_id*/,
                       const reclothes::msg::Command& /*command*/) override {}
  bool connected() const override { return false; }
};

// Everything a Controller holds for its routes, without a database, a broker or a listener.
struct Rig {
  rc::ControllerConfig config;
  reclothes::SystemClock clock;
  rc::Log log = rc::Log::null();
  rc::Metrics metrics;
  std::unique_ptr<rc::Database> db;
  std::optional<rc::PasswordHasher> passwords;
  std::unique_ptr<rc::SessionStore> sessions;
  std::unique_ptr<rc::LoginThrottle> throttle;
  std::unique_ptr<rc::AuditLog> audit;
  std::unique_ptr<rc::TokenService> tokens;
  NoMessaging messaging;
  std::unique_ptr<rc::Services> services;
  FixedPrincipals principals;
  rc::EventApplier events;
  rc::Router router;
  std::unique_ptr<rc::HttpServer> server;

  Rig() {
    // No server listens on a socket in a directory that does not exist: libpq fails at once.
    config.database.conninfo = "host=/nonexistent/reclothes-fuzz port=1 connect_timeout=1";
    config.database.pool_size = 2;
    config.database.acquire_timeout = std::chrono::milliseconds(10);
    config.trusted_proxies = {"127.0.0.2/32"};
    config.http.body_limit_bytes = 4096;
    config.passwords.opslimit = 1;  // libsodium's minimum: a hash costs microseconds
    config.passwords.memlimit = 8192;
    config.passwords.min_length = 10;
    config.tokens.key_dir = "/nonexistent/reclothes-fuzz-keys";
    config.domain.payments.sandbox = false;
    config.domain.payments.provider_url.clear();
    config.domain.notifications.sender = "log";
    config.domain.worker_interval = std::chrono::milliseconds(0);  // no background worker

    db = rc::Database::unconnected(
        {config.database.conninfo, config.database.pool_size, config.database.acquire_timeout});
    auto hasher = rc::PasswordHasher::create(config.passwords);
    check(hasher.ok());
    passwords.emplace(std::move(hasher).value());
    sessions = std::make_unique<rc::SessionStore>(*db, clock, config.sessions);
    throttle = std::make_unique<rc::LoginThrottle>(clock, config.throttle);
    audit = std::make_unique<rc::AuditLog>(*db, clock);
    tokens = rc::TokenService::unchecked(*db, clock, config.tokens);
    services.reset(new rc::Services{config, clock, *db, log, metrics, *passwords, *sessions,
                                    *throttle, *audit, *tokens, messaging});
    rc::register_account_routes(router, *services);
    rc::register_staff_routes(router, *services);
    rc::register_fleet_routes(router, *services);
    rc::register_token_routes(router, *services);
    rc::register_ops_routes(router, *services);
    check(rc::domain::register_domain(router, events, *services, config.domain).ok());
    auto s =
        rc::HttpServer::create({config, router, *db, principals, *audit, metrics, log, nullptr});
    check(s.ok());
    server = std::move(s).value();
  }
};

// The methods httplib 0.11's request line parser accepts.
bool httplib_method(std::string_view m) {
  static const std::set<std::string_view> kMethods = {
      "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "PRI"};
  return kMethods.contains(m);
}

std::string_view take_line(std::string_view& text) {
  const std::size_t end = text.find('\n');
  std::string_view line = text.substr(0, end);
  text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Rig* rig = new Rig();  // lives for the process, as a controller does
  std::string_view text(reinterpret_cast<const char*>(data), size);

  const std::string_view first = take_line(text);
  const std::size_t sp1 = first.find(' ');
  if (sp1 == std::string_view::npos) return 0;
  const std::size_t sp2 = first.find(' ', sp1 + 1);
  const std::string_view who = first.substr(0, sp1);
  const std::string_view method = first.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view target =
      sp2 == std::string_view::npos ? std::string_view() : first.substr(sp2 + 1);
  if (!httplib_method(method) || target.empty()) return 0;

  httplib::Request req;
  rc::Listener listener = rc::Listener::kPublic;
  req.remote_addr = "127.0.0.1";
  if (who == "i") {
    listener = rc::Listener::kInternal;
  } else if (who == "x") {
    listener = rc::Listener::kInternal;
    req.remote_addr = "10.9.8.7";
  } else if (who == "f") {
    req.remote_addr = "127.0.0.2";
  }
  req.method = std::string(method);
  req.target = std::string(target);
  const std::size_t q = target.find('?');
  req.path = httplib::detail::decode_url(std::string(target.substr(0, q)), false);
  if (q != std::string_view::npos) {
    httplib::detail::parse_query_text(std::string(target.substr(q + 1)), req.params);
  }
  while (!text.empty()) {
    const std::string_view line = take_line(text);
    if (line.empty()) break;
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) continue;
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
      value.remove_prefix(1);
    }
    req.headers.emplace(std::string(line.substr(0, colon)), std::string(value));
  }
  req.body = std::string(text);

  httplib::Response res;
  rig->server->handle(listener, req, res);

  check(res.status >= 200 && res.status <= 599);
  check(res.status != 500);
  check(res.has_header("X-Request-Id"));
  if (res.status >= 400) {
    const auto body = nlohmann::json::parse(res.body, nullptr, /*allow_exceptions=*/false);
    check(body.is_object() && body.contains("error") && body["error"].is_object());
    check(body["error"].contains("code") && body["error"]["code"].is_string());
    check(body.value("request_id", std::string()) == res.get_header_value("X-Request-Id"));
  }
  return 0;
}
