// Customer accounts (public listener) and staff sessions (internal listener).
#include <algorithm>

#include "reclothes/controller/accounts.h"
#include "reclothes/controller/console_assets.h"
#include "route_util.h"

namespace reclothes::controller {
namespace {

struct Credentials {
  std::string email;
  std::string password;
};

std::string account_key(std::string_view email) {
  if (auto n = normalize_email(email)) return *n;
  std::string lower(email);
  for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return lower;
}

// The shared login flow: throttle check, password check (constant work for unknown emails),
// failure recorded in its own transaction (it must survive the 401), session on success.
template <typename Find>
HandlerResult login(const Services& s, RequestContext& ctx, AccountKind kind, Find find,
                    const std::function<nlohmann::json(pqxx::work&, std::int64_t)>& describe) {
  FieldReader r(ctx.body());
  Credentials c{r.string("email", 1, 254), r.string("password", 1, 1024)};
  // The console asks for its session in an HttpOnly cookie (staff only): the token is then not
  // in the body, and the body carries the CSRF token instead (docs/console.md).
  const bool cookie = kind == AccountKind::kStaff && r.optional_boolean("cookie").value_or(false);
  RC_FINISH_BODY(r);
  const auto key = account_key(c.email);
  ctx.set_audit({std::string(to_string(kind)), key, nullptr, nullptr, "login"});

  auto decision = s.db.with_transaction([&](pqxx::work& tx) -> Result<ThrottleDecision> {
    return s.throttle.check(tx, kind, key, ctx.address());
  });
  if (!decision.ok()) return api_error(decision.error());
  if (!decision->allowed) {
    // The login class of the rate limits (docs/controller.md "Rate limits").
    s.metrics.count_rate_limited("login", decision->scope);
    ApiError e{
        429,
        "too_many_attempts",
        "too many failed logins; try again in " + std::to_string(decision->retry_after_s) + " s",
        {{"scope", decision->scope}, {"retry_after_s", decision->retry_after_s}},
        static_cast<int>(decision->retry_after_s)};
    return e;
  }

  auto found = s.db.with_transaction(
      [&](pqxx::work& tx) -> Result<std::optional<std::pair<std::int64_t, std::string>>> {
        return find(tx, key);
      });
  if (!found.ok()) return api_error(found.error());
  bool good = false;
  if (*found) {
    good = s.passwords.verify((*found)->second, c.password);
  } else {
    s.passwords.burn_time(c.password);
  }
  if (!good) {
    auto recorded = s.db.with_transaction([&](pqxx::work& tx) -> Status {
      s.throttle.record_failure(tx, kind, key, ctx.address());
      return ok_status();
    });
    if (!recorded.ok()) return api_error(recorded.error());
    return ApiError{401, "invalid_credentials",
                    "email or password is wrong, or the account is "
                    "disabled",
                    nlohmann::json::object(), std::nullopt};
  }
  const auto account_id = (*found)->first;
  s.throttle.record_success(ctx.tx(), kind, key);
  const auto session = s.sessions.create(ctx.tx(), kind, account_id, ctx.address());
  nlohmann::json body = {{"expires_at", ts(session.expires_ms)}};
  body[kind == AccountKind::kStaff ? "staff" : "customer"] = describe(ctx.tx(), account_id);
  if (!cookie) {
    body["token"] = session.token;
    return Response::created(body);
  }
  body["csrf_token"] = SessionStore::csrf_token(session.token);
  auto response = Response::created(body);
  const auto max_age_s = std::max<std::int64_t>(0, (session.expires_ms - s.clock.wall_ms()) / 1000);
  response.headers.emplace_back("Set-Cookie", session_cookie(session.token, max_age_s));
  response.headers.emplace_back("Cache-Control", "no-store");
  return response;
}

HandlerResult customer_json(RequestContext& ctx, std::int64_t id) {
  auto c = find_customer(ctx.tx(), id);
  if (!c) return ApiError::not_found("customer");
  return Response::ok(c->to_json());
}

}  // namespace

void register_account_routes(Router& router, const Services& s) {
  using L = Listener;
  using M = HttpMethod;

  router.add(route(L::kPublic, M::kPost, "/v1/customers", Access::anyone(), "customer.register",
                   false, BodyKind::kRequired, "Register a customer account",
                   [&s](RequestContext& ctx) -> HandlerResult {
                     FieldReader r(ctx.body());
                     const auto email = r.string("email", 1, 254);
                     const auto password = r.string("password", 1, 1024);
                     const auto name = r.optional_string("display_name", 0, 200);
                     const auto phone = r.optional_string("phone", 3, 32);
                     RC_FINISH_BODY(r);
                     if (!normalize_email(email)) {
                       return ApiError::invalid_field({"/email", "is not a valid email address"});
                     }
                     if (auto problem = s.passwords.policy_problem(password)) {
                       return ApiError::invalid_field({"/password", *problem});
                     }
                     auto c = create_customer(ctx.tx(), s.passwords, s.clock, email, password,
                                              name.value_or(""), phone);
                     if (!c.ok()) {
                       if (c.error().code == ErrorCode::kAlreadyExists) {
                         return ApiError::conflict("email_taken",
                                                   "this email is already registered");
                       }
                       return api_error(c.error());
                     }
                     return Response::created(c->to_json());
                   }));

  router.add(route(
      L::kPublic, M::kPost, "/v1/sessions", Access::anyone(), "customer.login", false,
      BodyKind::kRequired, "Log in as a customer; returns a session token",
      [&s](RequestContext& ctx) {
        return login(
            s, ctx, AccountKind::kCustomer,
            [](pqxx::work& tx,
               const std::string& key) -> std::optional<std::pair<std::int64_t, std::string>> {
              auto f = find_customer_by_email(tx, key);
              if (!f || f->first.status != "active") return std::nullopt;
              return std::make_pair(f->first.id, f->second);
            },
            [](pqxx::work& tx, std::int64_t id) { return find_customer(tx, id)->to_json(); });
      }));

  router.add(route(L::kPublic, M::kDelete, "/v1/sessions/current", Access::customer(),
                   "customer.logout", false, BodyKind::kNone, "Log out (revoke this session)",
                   [&s](RequestContext& ctx) -> HandlerResult {
                     s.sessions.revoke(ctx.tx(), ctx.principal().session_id);
                     ctx.after_commit([&s, id = ctx.principal().account_id] {
                       s.sessions.forget_cached(AccountKind::kCustomer, id);
                     });
                     return Response::no_content();
                   }));

  router.add(
      route(L::kPublic, M::kGet, "/v1/customers/me", Access::customer(), "customer.read", false,
            BodyKind::kNone, "The logged-in customer's profile",
            [](RequestContext& ctx) { return customer_json(ctx, ctx.principal().account_id); }));

  auto get_one =
      route(L::kPublic, M::kGet, "/v1/customers/{customer_id}", Access::customer(), "customer.read",
            false, BodyKind::kNone, "A customer's profile (only one's own)",
            [](RequestContext& ctx) { return customer_json(ctx, ctx.principal().account_id); });
  get_one.owner_param = "customer_id";
  router.add(std::move(get_one));

  auto patch =
      route(L::kPublic, M::kPatch, "/v1/customers/{customer_id}", Access::customer(),
            "customer.update", false, BodyKind::kRequired, "Change one's display name or phone",
            [&s](RequestContext& ctx) -> HandlerResult {
              FieldReader r(ctx.body());
              const auto name = r.optional_string("display_name", 0, 200);
              // "phone": null clears it, so presence (not has(), which treats null as absent)
              // counts.
              const bool phone_sent = ctx.body().contains("phone");
              const auto phone = r.optional_string("phone", 3, 32);
              RC_FINISH_BODY(r);
              const auto id = ctx.principal().account_id;
              update_customer_profile(ctx.tx(), id, name, phone_sent, phone, s.clock.wall_ms());
              return customer_json(ctx, id);
            });
  patch.owner_param = "customer_id";
  router.add(std::move(patch));

  // Staff sessions.
  router.add(route(
      L::kInternal, M::kPost, "/internal/v1/sessions", Access::anyone(), "staff.login", false,
      BodyKind::kRequired, "Log in as staff; returns a session token", [&s](RequestContext& ctx) {
        return login(
            s, ctx, AccountKind::kStaff,
            [](pqxx::work& tx,
               const std::string& key) -> std::optional<std::pair<std::int64_t, std::string>> {
              auto f = find_staff_by_email(tx, key);
              if (!f || !f->first.active) return std::nullopt;
              return std::make_pair(f->first.id, f->second);
            },
            [](pqxx::work& tx, std::int64_t id) { return find_staff(tx, id)->to_json(); });
      }));

  router.add(route(L::kInternal, M::kDelete, "/internal/v1/sessions/current", Access::staff(),
                   "staff.logout", false, BodyKind::kNone,
                   "Log out (revoke this session; clears the console's cookie)",
                   [&s](RequestContext& ctx) -> HandlerResult {
                     s.sessions.revoke(ctx.tx(), ctx.principal().session_id);
                     auto r = Response::no_content();
                     r.headers.emplace_back("Set-Cookie", cleared_session_cookie());
                     return r;
                   }));

  // The console's page asks after a reload: is the cookie's session alive, and its CSRF token.
  router.add(route(L::kInternal, M::kGet, "/internal/v1/sessions/current", Access::staff(),
                   "staff.session", false, BodyKind::kNone,
                   "This session: expiry, how it was sent and its CSRF token",
                   [](RequestContext& ctx) -> HandlerResult {
                     auto r = Response::ok({{"expires_at", ts(ctx.principal().session_expires_ms)},
                                            {"via", ctx.cookie_session() ? "cookie" : "bearer"},
                                            {"csrf_token", ctx.csrf_token()}});
                     r.headers.emplace_back("Cache-Control", "no-store");
                     return r;
                   }));
}

}  // namespace reclothes::controller
