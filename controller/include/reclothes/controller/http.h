// The route registry and the request context handlers see. Every route declares its listener,
// method, path template, access rule and whether it is an audited staff write; the one dispatch
// function in server.cpp applies all cross-cutting rules (request id, network allowlist, body
// limit, authentication, permission, JSON parsing, audit, metrics, error format) before a
// handler runs, so handlers contain only their own logic.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <string_view>
#include <vector>

#include "reclothes/common/result.h"
#include "reclothes/controller/db.h"
#include "reclothes/controller/json_fields.h"
#include "reclothes/controller/permissions.h"
#include "reclothes/controller/principal.h"

namespace reclothes::controller {

enum class Listener : std::uint8_t { kPublic = 1, kInternal = 2, kBoth = 3 };
std::string_view to_string(Listener l);  // "public", "internal", "both"
inline bool serves(Listener route, Listener actual) {
  return (static_cast<std::uint8_t>(route) & static_cast<std::uint8_t>(actual)) != 0;
}

enum class HttpMethod { kGet, kPost, kPut, kPatch, kDelete };
std::string_view to_string(HttpMethod m);  // "GET", ...
std::optional<HttpMethod> method_from_string(std::string_view s);

// Who may call a route.
struct Access {
  enum class Kind { kPublic, kCustomer, kStaff, kPermission };
  Kind kind = Kind::kPublic;
  Permission permission = Permission::kFleetRead;  // only for kPermission

  static Access anyone() { return {Kind::kPublic, Permission::kFleetRead}; }
  static Access customer() { return {Kind::kCustomer, Permission::kFleetRead}; }
  static Access staff() { return {Kind::kStaff, Permission::kFleetRead}; }
  static Access needs(Permission p) { return {Kind::kPermission, p}; }
};

// A client-facing error: rendered as
// {"error":{"code":"...","message":"...","details":{...}},"request_id":"..."}.
struct ApiError {
  int status = 500;
  std::string code;     // stable, snake_case: "malformed_json", "forbidden", "not_found", ...
  std::string message;  // for people
  nlohmann::json details = nlohmann::json::object();
  std::optional<int> retry_after_s;  // 429/503: sent as Retry-After

  static ApiError bad_request(std::string code, std::string message,
                              nlohmann::json details = nlohmann::json::object());
  static ApiError invalid_field(const FieldError& e);
  static ApiError not_found(std::string what);
  static ApiError conflict(std::string code, std::string message);
  static ApiError forbidden(std::string code, std::string message);
  static ApiError unauthenticated(std::string message);
  // Maps an internal Error: kInvalidArgument 400, kNotFound 404, kAlreadyExists/
  // kFailedPrecondition 409, kPermissionDenied 403, kUnauthenticated 401, kResourceExhausted 429,
  // kUnavailable 503, everything else 500 with a generic message (the detail goes to the log only).
  static ApiError from(const Error& e);
};

struct Response {
  int status = 200;
  std::optional<nlohmann::json> json;  // set for JSON responses
  std::string body;                    // raw body when json is empty
  std::string content_type;            // for raw bodies
  std::vector<std::pair<std::string, std::string>> headers;

  static Response ok(nlohmann::json j) { return with(200, std::move(j)); }
  static Response created(nlohmann::json j) { return with(201, std::move(j)); }
  static Response no_content() { return Response{204, std::nullopt, "", "", {}}; }
  static Response with(int status, nlohmann::json j) {
    return Response{status, std::move(j), "", "", {}};
  }
  static Response text(int status, std::string body, std::string content_type) {
    return Response{status, std::nullopt, std::move(body), std::move(content_type), {}};
  }
};

using HandlerResult = Result<Response, ApiError>;

// What the handler of an audited route reports for its audit row. The dispatcher writes the row
// in the request's transaction, so the write and its audit row commit or fail together.
struct AuditDetail {
  std::string target_type;
  std::string target_id;
  nlohmann::json before;  // null when there was nothing before (creation)
  nlohmann::json after;   // null when nothing is left (deletion)
  std::string reason;     // optional
};

class RequestContext {
 public:
  RequestContext(Database& db, std::string request_id, Listener listener, std::string address,
                 HttpMethod method, std::string path);
  ~RequestContext();
  RequestContext(const RequestContext&) = delete;
  RequestContext& operator=(const RequestContext&) = delete;

  const std::string& request_id() const { return request_id_; }
  Listener listener() const { return listener_; }
  const std::string& address() const { return address_; }  // client IP
  HttpMethod method() const { return method_; }
  const std::string& path() const { return path_; }

  // A path parameter by its name in the route template ("{box_id}").
  const std::string& param(std::string_view name) const;
  // A query-string parameter.
  std::optional<std::string> query(std::string_view name) const;
  std::optional<std::string> header(std::string_view name) const;
  // The parsed JSON body: an object for routes that take one (an empty object when an optional
  // body was absent), null otherwise.
  const nlohmann::json& body() const { return body_; }

  // True when the request was authenticated by the console's session cookie (not a bearer
  // token); its non-GET requests carry the CSRF token (checked before the handler runs).
  bool cookie_session() const { return cookie_session_; }
  // The CSRF token of the session that authenticated the request (empty without one).
  const std::string& csrf_token() const { return csrf_token_; }

  // Set for every route except Access::anyone(); may be set there too.
  const Principal& principal() const { return *principal_; }
  const std::optional<Principal>& maybe_principal() const { return principal_; }

  // The request's transaction, opened on first use. The dispatcher commits it when the handler
  // returns a 2xx response and rolls it back otherwise. Throws on a broken database (the
  // dispatcher maps that to 503).
  pqxx::work& tx();
  // For reads of one statement: no BEGIN/COMMIT round trips (autocommit on the request's
  // connection). Once tx() is open this is tx(); calling tx() later ends the autocommit reads.
  pqxx::transaction_base& read();
  // For a route whose whole effect is one writing statement, not audited: the statement commits
  // on its own (one round trip, no BEGIN/COMMIT), whatever the handler answers afterwards, so it
  // must be the handler's only write and decide the answer. Once tx() is open this is tx().
  pqxx::transaction_base& autocommit() { return read(); }
  // For audited routes: what the audit row says about the target.
  void set_audit(AuditDetail detail) { audit_ = std::move(detail); }
  // Runs after a successful commit (publishing MQTT messages about what was committed).
  void after_commit(std::function<void()> fn) { after_commit_.push_back(std::move(fn)); }

 private:
  friend class HttpServer;
  Database::Lease& lease();  // acquired on first use, held until the request ends

  Database& db_;
  std::string request_id_;
  Listener listener_;
  std::string address_;
  HttpMethod method_;
  std::string path_;
  std::map<std::string, std::string, std::less<>> params_;
  std::map<std::string, std::string, std::less<>> query_;
  std::multimap<std::string, std::string> headers_;  // lower-case names
  nlohmann::json body_;
  std::optional<Principal> principal_;
  bool cookie_session_ = false;
  std::string csrf_token_;
  std::optional<Database::Lease> lease_;
  std::unique_ptr<pqxx::nontransaction> read_tx_;
  std::unique_ptr<pqxx::work> tx_;
  std::optional<AuditDetail> audit_;
  std::vector<std::function<void()>> after_commit_;
};

using Handler = std::function<HandlerResult(RequestContext&)>;

enum class BodyKind {
  kNone,      // no body is read
  kOptional,  // a JSON object if present
  kRequired,  // a JSON object must be sent
};

struct Route {
  Listener listener = Listener::kPublic;
  HttpMethod method = HttpMethod::kGet;
  // Path template with named parameters: "/internal/v1/boxes/{box_id}". Each parameter name has
  // a fixed pattern (see path_param_pattern), so bad ids never reach a handler (404).
  std::string path;
  Access access;
  // A stable name for audit rows, logs and docs: "box.maintenance".
  std::string action;
  bool audited = false;  // a staff write: an audit row is written with the change
  BodyKind body = BodyKind::kNone;
  // For customer routes on a resource that belongs to one customer: the path parameter that must
  // equal the caller's account id. A mismatch is answered 404 (and audited as a denial) so
  // that other customers' ids cannot even be probed.
  std::optional<std::string> owner_param;
  std::string summary;  // one line for docs
  Handler handler;
  // A customer POST that creates something: it takes an optional Idempotency-Key header and a
  // retry with the same key and body answers the first response (idempotency.h).
  bool idempotent = false;
};

// What a path parameter may hold: characters of one class, between min and max of them. Each
// parameter name in the API has one rule, so bad ids never reach a handler (404). Unknown names
// are a programming error (abort in Router::add).
struct PathParamRule {
  bool (*allowed)(char);
  std::string_view char_class;  // the same characters as a regex class: "[0-9]"
  std::size_t min = 1;
  std::size_t max = 1;
  bool matches(std::string_view value) const;
};
std::optional<PathParamRule> path_param_rule(std::string_view name);
// The rule as a regex ("[0-9]{1,18}"), for documentation and the OpenAPI document.
std::optional<std::string> path_param_pattern(std::string_view name);

struct CompiledRoute {
  Route route;
  // The template split at '/': a literal segment, or a parameter (index into param_names) with
  // its rule. Matching compares segment by segment; no regex runs per request.
  struct Segment {
    std::string literal;
    std::optional<PathParamRule> rule;
  };
  std::vector<Segment> segments;
  std::vector<std::string> param_names;
};

struct RouteMatch {
  const CompiledRoute* route = nullptr;  // nullptr: no route
  std::map<std::string, std::string, std::less<>> params;
  std::vector<HttpMethod> allowed;  // the path exists with these methods (for 405)
};

class Router {
 public:
  // Adds a route. Aborts on a template with an unknown parameter name or a duplicate
  // (listener, method, path): both are programming errors found by any test run.
  void add(Route route);
  RouteMatch match(Listener listener, HttpMethod method, std::string_view path) const;
  const std::vector<std::unique_ptr<CompiledRoute>>& routes() const { return routes_; }

 private:
  std::vector<std::unique_ptr<CompiledRoute>> routes_;
};

// Template -> regex, in one place: "/boxes/{box_id}" -> "/boxes/([A-Za-z0-9_-]{1,32})".
// Returns the parameter names in order.
Result<std::pair<std::string, std::vector<std::string>>> compile_path_template(
    std::string_view path_template);

}  // namespace reclothes::controller
