#include "reclothes/controller/server.h"

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>

#include "reclothes/common/bytes.h"
#include "reclothes/controller/console_assets.h"
#include "reclothes/controller/epoll_server.h"

namespace reclothes::controller {
namespace {

constexpr std::string_view kJson = "application/json";

std::string default_code(int status) {
  switch (status) {
    case 400:
      return "bad_request";
    case 401:
      return "unauthenticated";
    case 403:
      return "forbidden";
    case 404:
      return "not_found";
    case 405:
      return "method_not_allowed";
    case 408:
      return "request_timeout";
    case 413:
      return "payload_too_large";
    case 414:
      return "uri_too_long";
    case 416:
      return "range_not_satisfiable";
    case 429:
      return "rate_limited";
    case 503:
      return "unavailable";
    default:
      return status >= 500 ? "internal" : "error";
  }
}

std::string default_message(int status) {
  switch (status) {
    case 400:
      return "the request could not be parsed";
    case 413:
      return "the request body is larger than the limit";
    case 414:
      return "the request URI is too long";
    case 404:
      return "no such route";
    default:
      return "request failed";
  }
}

std::optional<std::string> bearer_token(const httplib::Request& req) {
  if (!req.has_header("Authorization")) return std::nullopt;
  const auto value = req.get_header_value("Authorization");
  constexpr std::string_view kPrefix = "Bearer ";
  if (value.size() <= kPrefix.size() ||
      !std::equal(kPrefix.begin(), kPrefix.end(), value.begin(), [](char a, char b) {
        return std::tolower(static_cast<unsigned char>(a)) ==
               std::tolower(static_cast<unsigned char>(b));
      })) {
    return std::string();  // present but not a bearer token: treated as an invalid token
  }
  return value.substr(kPrefix.size());
}

// An error thrown out of a handler or a commit: never shows the internal message.
ApiError api_error_from_exception(const Error& e) {
  if (e.code == ErrorCode::kAlreadyExists) {
    return ApiError::conflict("already_exists", "the resource already exists");
  }
  if (e.code == ErrorCode::kUnavailable) return ApiError::from(e);
  return ApiError::from(make_error(ErrorCode::kInternal, ""));
}

bool is_denial(Listener listener, int status) {
  if (listener == Listener::kInternal) return status == 401 || status == 403 || status == 429;
  return status == 403;
}

// The request's JSON body as the route wants it: none, optional (an empty body is {}) or required;
// anything but a JSON object is refused with 400 malformed_json.
Result<nlohmann::json, ApiError> read_body(BodyKind kind, const std::string& text) {
  if (kind == BodyKind::kNone) return nlohmann::json();
  if (text.empty()) {
    if (kind == BodyKind::kRequired) {
      return ApiError::bad_request("malformed_json", "a JSON object body is required");
    }
    return nlohmann::json::object();
  }
  auto body = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) {
    return ApiError::bad_request("malformed_json", "the body is not valid JSON");
  }
  if (!body.is_object()) {
    return ApiError::bad_request("malformed_json", "the body must be a JSON object");
  }
  return body;
}

// The rate-limit class of a public route, or nullptr: the operational routes (/healthz, ...) have
// none and the login is the LoginThrottle's (database-backed, shared by replicas).
const ControllerConfig::RateLimitClass* server_rate_class(const ControllerConfig& config,
                                                          const Route& route,
                                                          std::string_view& name) {
  if (route.path.rfind("/v1/", 0) != 0) return nullptr;
  if (route.method == HttpMethod::kPost && route.path == "/v1/sessions") return nullptr;
  if (route.method == HttpMethod::kGet) {
    name = "reads";
    return &config.rate_limits.reads;
  }
  name = "writes";
  return &config.rate_limits.writes;
}

ApiError server_rate_limited(std::string_view route_class, std::string_view scope,
                             std::chrono::milliseconds wait) {
  const auto seconds = std::max<std::int64_t>(1, (wait.count() + 999) / 1000);
  return ApiError{429,
                  "rate_limited",
                  "too many requests; try again in " + std::to_string(seconds) + " s",
                  {{"class", route_class}, {"scope", scope}, {"retry_after_s", seconds}},
                  static_cast<int>(seconds)};
}

// What a stored answer is replayed as: the same status and body, marked as a replay.
Response server_replay(const StoredResponse& stored) {
  Response r;
  r.status = stored.status;
  if (stored.content_type == kJson) {
    r.json = nlohmann::json::parse(stored.body, nullptr, /*allow_exceptions=*/false);
  } else {
    r.body = stored.body;
    r.content_type = stored.content_type;
  }
  r.headers.emplace_back("Idempotent-Replayed", "true");
  return r;
}

bool is_console_path(const std::string& path) {
  return path == "/console" || path.rfind("/console/", 0) == 0;
}

// The staff console's files (console_assets.h): GET or HEAD of an embedded file's exact path,
// with the console's security headers and an ETag (a reload sends If-None-Match: 304).
Result<Response, ApiError> serve_console(const httplib::Request& req) {
  if (req.method != "GET" && req.method != "HEAD") {
    return ApiError{405,
                    "method_not_allowed",
                    "the console's files are read with GET",
                    {{"allowed", nlohmann::json::array({"GET"})}},
                    std::nullopt};
  }
  if (req.path == "/console") {
    Response r = Response::text(301, "", "text/plain");
    r.headers.emplace_back("Location", "/console/");
    return r;
  }
  const auto* asset = find_console_asset(req.path);
  if (asset == nullptr) {
    return ApiError::not_found("console file " + req.path);
  }
  Response r;
  const bool fresh =
      req.has_header("If-None-Match") && req.get_header_value("If-None-Match") == asset->etag;
  if (fresh) {
    r = Response::text(304, "", std::string(asset->content_type));
  } else {
    r = Response::text(200, std::string(asset->bytes), std::string(asset->content_type));
  }
  r.headers.emplace_back("Content-Security-Policy", std::string(kConsoleCsp));
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
  r.headers.emplace_back("X-Frame-Options", "DENY");
  r.headers.emplace_back("Cache-Control", "no-cache");
  r.headers.emplace_back("ETag", std::string(asset->etag));
  return r;
}

// A constant-time comparison of two tokens of public length.
bool same_token(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  }
  return diff == 0;
}

}  // namespace

std::string choose_request_id(std::string_view incoming) {
  const bool sane =
      !incoming.empty() && incoming.size() <= 64 &&
      std::all_of(incoming.begin(), incoming.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
      });
  return sane ? std::string(incoming) : random_id();
}

nlohmann::json error_body(const ApiError& e, const std::string& request_id) {
  return {{"error", {{"code", e.code}, {"message", e.message}, {"details", e.details}}},
          {"request_id", request_id}};
}

Result<std::unique_ptr<HttpServer>> HttpServer::create(Deps deps) {
  RC_ASSIGN_OR_RETURN(auto allow, Allowlist::parse(deps.config.internal_allow));
  RC_ASSIGN_OR_RETURN(auto proxies, Allowlist::parse(deps.config.trusted_proxies));
  RC_ASSIGN_OR_RETURN(auto exempt, Allowlist::parse(deps.config.rate_limits.exempt));
  return std::unique_ptr<HttpServer>(
      new HttpServer(deps, std::move(allow), std::move(proxies), std::move(exempt)));
}

HttpServer::HttpServer(Deps deps, Allowlist internal_allow, Allowlist trusted_proxies,
                       Allowlist rate_exempt)
    : deps_(deps),
      clock_(deps.clock ? *deps.clock : system_clock_),
      idempotency_(clock_, deps.config.idempotency),
      rate_exempt_(std::move(rate_exempt)),
      buckets_(clock_, deps.config.rate_limits.max_buckets),
      internal_allow_(std::move(internal_allow)),
      trusted_proxies_(std::move(trusted_proxies)),
      public_(make_listener(Listener::kPublic, deps.config.public_listener)),
      internal_(make_listener(Listener::kInternal, deps.config.internal_listener)) {
  configure(*public_, Listener::kPublic);
  configure(*internal_, Listener::kInternal);
}

HttpServer::~HttpServer() { stop(); }

std::unique_ptr<EpollHttpServer> HttpServer::make_listener(Listener listener,
                                                           const ListenerConfig& lc) {
  const auto& config = deps_.config;
  EpollHttpServer::Options o;
  o.threads = static_cast<std::size_t>(lc.threads);
  o.max_connections = config.http.max_connections;
  o.idle_timeout = config.http.keep_alive_timeout;
  o.request_timeout = config.http.read_timeout;
  o.min_request_rate = config.http.min_request_rate;
  o.max_unfinished_per_address = config.http.max_unfinished_per_address;
  // What the listener answers itself (a request too slow, too large before its body, framed
  // wrong, or one unfinished request too many from one address): the API's error body, logged
  // and counted like any answer.
  auto refusal_body = [this, listener](int status, std::string_view message,
                                       const std::string& remote_ip) {
    const auto rid = random_id();
    ApiError e{status, default_code(status), std::string(message), nlohmann::json::object(),
               std::nullopt};
    if (status == 413) e.details = {{"limit_bytes", deps_.config.http.body_limit_bytes}};
    deps_.metrics.observe_request(to_string(listener), "refused", "unknown", status,
                                  std::chrono::duration<double>(0));
    deps_.log.info("request refused", {{"request_id", rid},
                                       {"listener", to_string(listener)},
                                       {"peer", remote_ip},
                                       {"status", status},
                                       {"error", e.code},
                                       {"message", e.message}});
    return EpollHttpServer::Refusal{error_body(e, rid).dump(), {{"X-Request-Id", rid}}};
  };
  return std::make_unique<EpollHttpServer>(o, std::move(refusal_body));
}

void HttpServer::configure(httplib::Server& server, Listener listener) {
  // httplib's default of 5 requests per connection forces needless reconnects (STACK.md
  // section 5). The connections themselves are EpollHttpServer's (TCP_NODELAY, timeouts).
  server.set_keep_alive_max_count(100000);
  server.set_payload_max_length(deps_.config.http.body_limit_bytes);

  const auto handler = [this, listener](const httplib::Request& req, httplib::Response& res) {
    handle(listener, req, res);
  };
  // All routing is ours (Router): httplib only delivers every request to the one dispatcher.
  server.Get(".*", handler);
  server.Post(".*", handler);
  server.Put(".*", handler);
  server.Patch(".*", handler);
  server.Delete(".*", handler);
  server.Options(".*", handler);

  if (listener == Listener::kInternal) {
    // Refuse foreign networks before the body is even read.
    server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (internal_allow_.allows(client_address(req))) {
        return httplib::Server::HandlerResponse::Unhandled;
      }
      handle(Listener::kInternal, req, res);
      return httplib::Server::HandlerResponse::Handled;
    });
  }
  // Errors produced by httplib itself (413 body too large, 400 unparsable request) get the same
  // JSON error format. Our own error responses already have a body and are left alone.
  server.set_error_handler(httplib::Server::HandlerWithResponse(
      [this, listener](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        const auto rid = choose_request_id(req.get_header_value("X-Request-Id"));
        ApiError e{res.status, default_code(res.status), default_message(res.status),
                   nlohmann::json::object(), std::nullopt};
        if (res.status == 413) {
          e.details = {{"limit_bytes", deps_.config.http.body_limit_bytes}};
        }
        res.set_header("X-Request-Id", rid);
        res.set_content(error_body(e, rid).dump(), std::string(kJson));
        deps_.metrics.observe_request(to_string(listener), "unmatched", req.method, res.status,
                                      std::chrono::duration<double>(0));
        deps_.log.info("request", {{"request_id", rid},
                                   {"listener", to_string(listener)},
                                   {"method", req.method},
                                   {"path", req.path},
                                   {"status", res.status},
                                   {"error", e.code}});
        return httplib::Server::HandlerResponse::Handled;
      }));
}

Status HttpServer::start() {
  if (started_) return ok_status();
  const auto& pc = deps_.config.public_listener;
  const auto& ic = deps_.config.internal_listener;
  RC_ASSIGN_OR_RETURN(public_port_, public_->bind_listener(pc.host, pc.port));
  RC_ASSIGN_OR_RETURN(internal_port_, internal_->bind_listener(ic.host, ic.port));
  RC_TRY(public_->serve());
  if (auto s = internal_->serve(); !s.ok()) {
    public_->shutdown();
    return s;
  }
  started_ = true;
  deps_.log.info("listening", {{"public_port", public_port_}, {"internal_port", internal_port_}});
  return ok_status();
}

void HttpServer::stop() {
  if (!started_) return;
  public_->shutdown();
  internal_->shutdown();
  started_ = false;
}

std::string HttpServer::client_address(const httplib::Request& req) const {
  // X-Forwarded-For is believed only when the socket peer is a configured proxy; then the client
  // is the right-most address that is not itself a trusted proxy.
  if (trusted_proxies_.empty() || !trusted_proxies_.allows(req.remote_addr) ||
      !req.has_header("X-Forwarded-For")) {
    return req.remote_addr;
  }
  const auto xff = req.get_header_value("X-Forwarded-For");
  std::vector<std::string> hops;
  std::size_t start = 0;
  while (start <= xff.size()) {
    auto end = xff.find(',', start);
    if (end == std::string::npos) end = xff.size();
    auto hop = xff.substr(start, end - start);
    hop.erase(0, hop.find_first_not_of(" \t"));
    hop.erase(hop.find_last_not_of(" \t") + 1);
    if (!hop.empty()) hops.push_back(hop);
    start = end + 1;
  }
  for (auto it = hops.rbegin(); it != hops.rend(); ++it) {
    if (!parse_ip(*it)) return req.remote_addr;  // garbage: fall back to the socket
    if (!trusted_proxies_.allows(*it)) return *it;
  }
  return hops.empty() ? req.remote_addr : hops.front();
}

void HttpServer::audit_denial(Listener listener, const std::string& action, const std::string& path,
                              const std::optional<Principal>& principal, const std::string& address,
                              const std::string& request_id, const ApiError& error,
                              const std::optional<AuditDetail>& detail) const {
  AuditEntry e;
  if (principal) {
    e.actor_kind = std::string(to_string(principal->kind));
    e.actor_id = principal->account_id;
  }
  e.action = action;
  if (detail) {
    e.target_type = detail->target_type;
    e.target_id = detail->target_id;
  } else {
    e.target_type = "route";
    e.target_id = path;
  }
  e.address = address;
  e.request_id = request_id;
  e.denied = true;
  e.reason = error.code;
  e.after = {{"listener", to_string(listener)}, {"status", error.status}};
  if (auto s = deps_.audit.write_own(e); !s.ok()) {
    deps_.log.error("audit write failed",
                    {{"request_id", request_id}, {"error", s.error().message}});
  }
}

void HttpServer::handle(Listener listener, const httplib::Request& req, httplib::Response& res) {
  const auto started = std::chrono::steady_clock::now();
  const auto request_id = choose_request_id(req.get_header_value("X-Request-Id"));
  const auto address = client_address(req);
  std::string route_label = "unmatched";
  std::string actor = "-";
  auto result = dispatch(listener, req, request_id, address, route_label, actor);

  res.set_header("X-Request-Id", request_id);
  std::string error_code;
  if (result.ok()) {
    auto& r = result.value();
    res.status = r.status;
    for (const auto& [k, v] : r.headers) res.set_header(k, v);
    if (r.json) {
      res.set_content(r.json->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                      std::string(kJson));
    } else if (r.status != 204) {
      res.set_content(r.body, r.content_type);
    }
  } else {
    const auto& e = result.error();
    error_code = e.code;
    res.status = e.status;
    if (e.retry_after_s) res.set_header("Retry-After", std::to_string(*e.retry_after_s));
    res.set_content(
        error_body(e, request_id).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
        std::string(kJson));
  }
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - started;
  deps_.metrics.observe_request(to_string(listener), route_label, req.method, res.status, elapsed);
  deps_.log.info("request", {{"request_id", request_id},
                             {"listener", to_string(listener)},
                             {"method", req.method},
                             {"path", req.path},
                             {"route", route_label},
                             {"status", res.status},
                             {"ms", elapsed.count() * 1000.0},
                             {"actor", actor},
                             {"address", address},
                             {"error", error_code.empty() ? "-" : error_code}});
}

Result<RouteMatch, ApiError> HttpServer::route_for(Listener listener, const httplib::Request& req,
                                                   HttpMethod method) const {
  auto match = deps_.router.match(listener, method, req.path);
  if (!match.route) {
    if (!match.allowed.empty()) {
      nlohmann::json allowed = nlohmann::json::array();
      for (auto m : match.allowed) allowed.push_back(to_string(m));
      return ApiError{405,
                      "method_not_allowed",
                      req.method + " is not allowed on this path",
                      {{"allowed", allowed}},
                      std::nullopt};
    }
    return ApiError{404, "not_found", "no route for " + req.path, nlohmann::json::object(),
                    std::nullopt};
  }
  return match;
}

std::optional<ApiError> HttpServer::authenticate(RequestContext& ctx, const httplib::Request& req,
                                                 bool& token_sent, std::string& actor) const {
  // A customer token is never valid on the internal listener and a staff token never on the
  // public one.
  const auto kind =
      ctx.listener() == Listener::kInternal ? AccountKind::kStaff : AccountKind::kCustomer;
  auto token = bearer_token(req);
  // The console's session cookie, on the internal listener only and only without a bearer
  // token (an API client's Authorization header always wins).
  bool from_cookie = false;
  if (!token && ctx.listener() == Listener::kInternal && req.has_header("Cookie")) {
    auto value = cookie_value(req.get_header_value("Cookie"), kSessionCookie);
    if (value && !value->empty()) {
      token = std::move(value);
      from_cookie = true;
    }
  }
  if (!token) return std::nullopt;
  token_sent = true;
  // A cached customer session needs no database; otherwise one autocommit statement on the
  // request's own connection (no second lease, no BEGIN/COMMIT of its own).
  Result<std::optional<Principal>> principal = std::optional<Principal>{};
  try {
    principal = deps_.sessions.resolve([&ctx]() -> pqxx::transaction_base& { return ctx.read(); },
                                       *token, kind);
  } catch (...) {
    principal = error_from_exception(std::current_exception());
  }
  if (!principal.ok()) {
    deps_.log.error("session lookup failed",
                    {{"request_id", ctx.request_id()}, {"error", principal.error().message}});
    return ApiError::from(principal.error());
  }
  ctx.principal_ = std::move(principal).value();
  if (ctx.principal_ && ctx.principal_->is_staff()) {
    ctx.cookie_session_ = from_cookie;
    ctx.csrf_token_ = SessionStore::csrf_token(*token);
  }
  if (ctx.principal_) {
    actor = std::string(to_string(ctx.principal_->kind)) + ":" +
            std::to_string(ctx.principal_->account_id);
  }
  return std::nullopt;
}

std::optional<ApiError> HttpServer::check_csrf(RequestContext& ctx, const Route& route,
                                               const httplib::Request& req) const {
  if (!ctx.cookie_session_ || ctx.method() == HttpMethod::kGet) return std::nullopt;
  if (route.access.kind == Access::Kind::kPublic) {
    // A route anyone may call (signing in) does not act as the cookie's session.
    ctx.principal_.reset();
    ctx.cookie_session_ = false;
    ctx.csrf_token_.clear();
    return std::nullopt;
  }
  const auto sent = ctx.header(kCsrfHeader);
  if (sent && same_token(*sent, ctx.csrf_token_)) return std::nullopt;
  ApiError e = ApiError::forbidden(
      "csrf_token_invalid",
      "a request signed in by the console's cookie needs the X-CSRF-Token header (from signing in "
      "or from GET /internal/v1/sessions/current); reload the console or sign in again");
  e.details = {{"header", kCsrfHeader}};
  ctx.read_tx_.reset();
  ctx.lease_.reset();
  audit_denial(ctx.listener(), route.action, req.path, ctx.principal_, ctx.address(),
               ctx.request_id(), e, std::nullopt);
  return e;
}

std::optional<ApiError> HttpServer::authorize(RequestContext& ctx, const Route& route,
                                              const httplib::Request& req, bool token_sent) const {
  const Listener listener = ctx.listener();
  // The audit log writes on its own connection: give the request's back first (a pool of one
  // would otherwise wait for itself).
  const auto release_db = [&] {
    ctx.read_tx_.reset();
    ctx.lease_.reset();
  };
  const auto deny = [&](ApiError e) {
    release_db();
    if (is_denial(listener, e.status)) {
      audit_denial(listener, route.action, req.path, ctx.principal_, ctx.address(),
                   ctx.request_id(), e, std::nullopt);
    }
    return e;
  };
  const auto unauthenticated = [&] {
    return deny(ApiError::unauthenticated(token_sent ? "the session token is invalid or expired"
                                                     : "a session token is required"));
  };
  switch (route.access.kind) {
    case Access::Kind::kPublic:
      break;
    case Access::Kind::kCustomer:
      if (!ctx.principal_ || ctx.principal_->kind != AccountKind::kCustomer)
        return unauthenticated();
      break;
    case Access::Kind::kStaff:
      if (!ctx.principal_ || !ctx.principal_->is_staff()) return unauthenticated();
      break;
    case Access::Kind::kPermission:
      if (!ctx.principal_ || !ctx.principal_->is_staff()) return unauthenticated();
      if (!ctx.principal_->can(route.access.permission)) {
        ApiError e =
            ApiError::forbidden("forbidden", "this needs the permission " +
                                                 std::string(to_string(route.access.permission)));
        e.details = {{"permission", to_string(route.access.permission)}};
        return deny(e);
      }
      break;
  }
  if (route.owner_param &&
      ctx.param(*route.owner_param) != std::to_string(ctx.principal().account_id)) {
    // Answered like a missing id so other customers' ids cannot be probed; audited.
    ApiError e = ApiError::not_found("resource");
    ApiError audited = e;
    audited.code = "not_owner";
    release_db();
    audit_denial(listener, route.action, req.path, ctx.principal_, ctx.address(), ctx.request_id(),
                 audited, std::nullopt);
    return e;
  }
  return std::nullopt;
}

Result<Response, ApiError> HttpServer::run_handler(RequestContext& ctx, const Route& route,
                                                   const httplib::Request& req,
                                                   const std::optional<IdempotentRequest>& key) {
  std::optional<HandlerResult> result;
  bool committed = false;
  try {
    result = route.handler(ctx);
    if (result->ok() && result->value().status < 300) {
      if (route.audited) write_audit(ctx, route, req);
      // The key's answer commits with what the handler did (a handler that committed on its own
      // has its answer committed right after).
      if (key) finish_idempotent(ctx, *key, *result, /*in_transaction=*/true);
      if (ctx.tx_) ctx.tx_->commit();
      committed = true;
    }
  } catch (...) {
    const auto err = error_from_exception(std::current_exception());
    deps_.log.error(
        "request failed",
        {{"request_id", ctx.request_id()}, {"route", route.path}, {"error", err.to_string()}});
    ctx.tx_.reset();
    ctx.read_tx_.reset();
    auto answer = api_error_from_exception(err);
    if (key) finish_idempotent(ctx, *key, answer, /*in_transaction=*/false);
    return answer;
  }
  ctx.tx_.reset();
  ctx.read_tx_.reset();
  if (key && !committed) finish_idempotent(ctx, *key, *result, /*in_transaction=*/false);
  ctx.lease_.reset();

  if (!result->ok()) {
    const auto& e = result->error();
    if (e.status >= 500) {
      deps_.log.error("handler error", {{"request_id", ctx.request_id()}, {"code", e.code}});
    }
    if (is_denial(ctx.listener(), e.status)) {
      audit_denial(ctx.listener(), route.action, req.path, ctx.principal_, ctx.address(),
                   ctx.request_id(), e, ctx.audit_);
    }
    return std::move(*result).error();
  }
  if (result->value().status < 300) {
    for (auto& fn : ctx.after_commit_) {
      try {
        fn();
      } catch (const std::exception& ex) {
        deps_.log.error("after-commit hook failed",
                        {{"request_id", ctx.request_id()}, {"error", ex.what()}});
      }
    }
  }
  return std::move(*result).value();
}

void HttpServer::write_audit(RequestContext& ctx, const Route& route,
                             const httplib::Request& req) const {
  AuditEntry e;
  e.actor_kind = ctx.principal_ ? std::string(to_string(ctx.principal_->kind)) : "anonymous";
  if (ctx.principal_) e.actor_id = ctx.principal_->account_id;
  e.action = route.action;
  if (ctx.audit_) {
    e.target_type = ctx.audit_->target_type;
    e.target_id = ctx.audit_->target_id;
    e.before = ctx.audit_->before;
    e.after = ctx.audit_->after;
    e.reason = ctx.audit_->reason;
  } else {
    e.target_type = "route";
    e.target_id = req.path;
  }
  e.address = ctx.address();
  e.request_id = ctx.request_id();
  deps_.audit.write(ctx.tx(), e);
}

Result<Response, ApiError> HttpServer::dispatch(Listener listener, const httplib::Request& req,
                                                const std::string& request_id,
                                                const std::string& address,
                                                std::string& route_label, std::string& actor) {
  if (listener == Listener::kInternal && !internal_allow_.allows(address)) {
    ApiError e = ApiError::forbidden("network_not_allowed",
                                     "the internal API is not reachable from this network");
    e.details = {{"address", address}};
    audit_denial(listener, "network", req.path, std::nullopt, address, request_id, e, std::nullopt);
    return e;
  }
  if (listener == Listener::kInternal && is_console_path(req.path)) {
    route_label = "/console/";
    return serve_console(req);
  }
  const auto method = method_from_string(req.method);
  if (!method) {
    return ApiError{405, "method_not_allowed", "method " + req.method + " is not supported",
                    nlohmann::json::object(), std::nullopt};
  }
  auto match = route_for(listener, req, *method);
  if (!match.ok()) return std::move(match).error();
  const Route& route = match->route->route;
  route_label = route.path;
  if (req.body.size() > deps_.config.http.body_limit_bytes) {
    return ApiError{413,
                    "payload_too_large",
                    "the request body is larger than the limit",
                    {{"limit_bytes", deps_.config.http.body_limit_bytes}},
                    std::nullopt};
  }

  if (listener == Listener::kPublic) {
    if (auto e = limit_address(route, address)) return std::move(*e);
  }

  RequestContext ctx(deps_.db, request_id, listener, address, *method, req.path);
  ctx.params_ = std::move(match->params);
  for (const auto& [k, v] : req.params) ctx.query_.emplace(k, v);
  for (const auto& [k, v] : req.headers) {
    std::string lower = k;
    for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    ctx.headers_.emplace(lower, v);
  }

  bool token_sent = false;
  if (auto e = authenticate(ctx, req, token_sent, actor)) return std::move(*e);
  if (listener == Listener::kPublic) {
    if (auto e = limit_account(route, ctx)) return std::move(*e);
  }
  if (auto e = check_csrf(ctx, route, req)) return std::move(*e);
  if (auto e = authorize(ctx, route, req, token_sent)) return std::move(*e);
  auto body = read_body(route.body, req.body);
  if (!body.ok()) return std::move(body).error();
  if (route.body != BodyKind::kNone) ctx.body_ = std::move(body).value();
  auto start = begin_idempotent(ctx, route);
  if (start.answer) return std::move(*start.answer);
  return run_handler(ctx, route, req, start.owned);
}

std::optional<ApiError> HttpServer::limit_address(const Route& route, const std::string& address) {
  std::string_view name;
  const auto* cls = server_rate_class(deps_.config, route, name);
  if (!cls || rate_exempt_.allows(address)) return std::nullopt;
  const BucketSpec spec{cls->per_address.rate_per_s, cls->per_address.burst};
  const auto wait = buckets_.take(std::string(name) + "|a|" + address, spec);
  if (!wait) return std::nullopt;
  deps_.metrics.count_rate_limited(name, "address");
  return server_rate_limited(name, "address", *wait);
}

std::optional<ApiError> HttpServer::limit_account(const Route& route, const RequestContext& ctx) {
  std::string_view name;
  const auto* cls = server_rate_class(deps_.config, route, name);
  const auto& who = ctx.maybe_principal();
  if (!cls || !who || who->kind != AccountKind::kCustomer || rate_exempt_.allows(ctx.address())) {
    return std::nullopt;
  }
  const BucketSpec spec{cls->per_account.rate_per_s, cls->per_account.burst};
  const auto wait =
      buckets_.take(std::string(name) + "|c|" + std::to_string(who->account_id), spec);
  if (!wait) return std::nullopt;
  deps_.metrics.count_rate_limited(name, "account");
  return server_rate_limited(name, "account", *wait);
}

HttpServer::IdempotencyStart HttpServer::begin_idempotent(RequestContext& ctx, const Route& route) {
  IdempotencyStart out;
  const auto header = route.idempotent ? ctx.header("Idempotency-Key") : std::nullopt;
  const auto& who = ctx.maybe_principal();
  if (!header || !who || who->kind != AccountKind::kCustomer) return out;
  if (auto problem = idempotency_key_problem(*header)) {
    out.answer = ApiError::bad_request("invalid_idempotency_key", "Idempotency-Key " + *problem,
                                       {{"header", "Idempotency-Key"}, {"problem", *problem}});
    return out;
  }
  IdempotentRequest key{who->account_id, *header, random_id()};
  const auto hash = idempotency_request_hash(to_string(ctx.method()), ctx.path(), key.customer_id,
                                             ctx.body().dump());
  // Waiting is real time (the injectable clock is for key expiry): the other request is running
  // now, on this replica or another one.
  const auto deadline = std::chrono::steady_clock::now() + deps_.config.idempotency.max_wait;
  auto pause = std::chrono::milliseconds(10);
  for (;;) {
    IdempotencyClaim claim;
    try {
      claim = idempotency_.claim(ctx.read(), key.customer_id, key.key, hash, key.owner);
    } catch (...) {
      const auto err = error_from_exception(std::current_exception());
      deps_.log.error("idempotency key claim failed",
                      {{"request_id", ctx.request_id()}, {"error", err.to_string()}});
      out.answer = api_error_from_exception(err);
      return out;
    }
    // The handler starts without a connection, as it would without a key (a handler that
    // opens its own transactions must not hold two).
    ctx.read_tx_.reset();
    ctx.lease_.reset();
    switch (claim.kind) {
      case IdempotencyClaim::Kind::kOwned:
        deps_.metrics.count_idempotency("executed");
        out.owned = std::move(key);
        return out;
      case IdempotencyClaim::Kind::kReplay:
        deps_.metrics.count_idempotency("replayed");
        out.answer = server_replay(claim.response);
        return out;
      case IdempotencyClaim::Kind::kMismatch: {
        deps_.metrics.count_idempotency("mismatch");
        out.answer = ApiError{422,
                              "idempotency_key_reused",
                              "this Idempotency-Key was already used for a different request "
                              "(method, path or body); send a new key for a new request",
                              {{"header", "Idempotency-Key"}},
                              std::nullopt};
        return out;
      }
      case IdempotencyClaim::Kind::kInProgress:
        break;
    }
    if (std::chrono::steady_clock::now() + pause > deadline) {
      deps_.metrics.count_idempotency("in_progress");
      out.answer = ApiError{409,
                            "idempotency_in_progress",
                            "a request with this Idempotency-Key is still running; retry later "
                            "to get its answer",
                            {{"header", "Idempotency-Key"}},
                            1};
      return out;
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(200));
  }
}

void HttpServer::finish_idempotent(RequestContext& ctx, const IdempotentRequest& key,
                                   const Result<Response, ApiError>& answer, bool in_transaction) {
  const int status = answer.ok() ? answer.value().status : answer.error().status;
  const auto dump = [](const nlohmann::json& j) {
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  };
  StoredResponse stored;
  stored.status = status;
  if (!answer.ok()) {
    stored.content_type = std::string(kJson);
    stored.body = dump(error_body(answer.error(), ctx.request_id()));
  } else if (answer.value().json) {
    stored.content_type = std::string(kJson);
    stored.body = dump(*answer.value().json);
  } else {
    stored.content_type = answer.value().content_type;
    stored.body = answer.value().body;
  }
  if (in_transaction) {
    // Throws like the handler's own statements: the request fails and rolls back whole.
    idempotency_.complete(ctx.tx(), key.customer_id, key.key, key.owner, stored);
    return;
  }
  try {
    if (idempotency_storable(status)) {
      idempotency_.complete(ctx.autocommit(), key.customer_id, key.key, key.owner, stored);
    } else {
      idempotency_.release(ctx.autocommit(), key.customer_id, key.key, key.owner);
    }
  } catch (...) {
    // The claim stays unfinished; a retry takes it over after idempotency.in_progress_timeout.
    const auto err = error_from_exception(std::current_exception());
    deps_.log.error("idempotency key not finished",
                    {{"request_id", ctx.request_id()}, {"error", err.to_string()}});
  }
  ctx.read_tx_.reset();
}

}  // namespace reclothes::controller
