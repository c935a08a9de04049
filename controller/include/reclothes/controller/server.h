// The two HTTP listeners (cpp-httplib on EpollHttpServer's connections): public for customers,
// internal for staff (allowlisted networks only). Both feed the single dispatch function, which
// applies, in order:
//   request id -> network allowlist (internal) -> route lookup (404/405) -> body limit (413)
//   -> address rate limit (public, 429) -> authentication (401) -> account rate limit (public,
//   429) -> permission (403) -> ownership (404) -> JSON body (400) -> Idempotency-Key (replay,
//   400/409/422) -> handler -> commit + audit row (+ the key's answer) -> after-commit hooks
//   -> metrics + log line.
// Denials (401/403/429 on the internal listener, 403 and ownership misses on the public one) are
// written to the audit log.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "reclothes/common/clock.h"
#include "reclothes/common/result.h"
#include "reclothes/controller/audit.h"
#include "reclothes/controller/auth.h"
#include "reclothes/controller/cidr.h"
#include "reclothes/controller/config.h"
#include "reclothes/controller/db.h"
#include "reclothes/controller/http.h"
#include "reclothes/controller/idempotency.h"
#include "reclothes/controller/log.h"
#include "reclothes/controller/metrics.h"
#include "reclothes/controller/rate_limit.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace reclothes::controller {

class EpollHttpServer;

class HttpServer {
 public:
  struct Deps {
    const ControllerConfig& config;
    const Router& router;
    Database& db;
    const PrincipalResolver& sessions;  // the controller's SessionStore
    const AuditLog& audit;
    Metrics& metrics;
    const Log& log;
    // The time of rate-limit buckets and idempotency keys; nullptr: the system clock.
    const Clock* clock = nullptr;
  };

  // Parses the allowlists; kInvalidArgument for a bad CIDR block.
  static Result<std::unique_ptr<HttpServer>> create(Deps deps);
  ~HttpServer();

  // Binds both listeners (port 0: any free port) and serves on background threads. kUnavailable
  // if a port cannot be bound.
  Status start();
  // Stops accepting, finishes running requests, joins the threads. Idempotent.
  void stop();

  int public_port() const { return public_port_; }
  int internal_port() const { return internal_port_; }

  // Answers one request that has been read: what both listeners call for every request, with
  // the client's address in req.remote_addr. Thread-safe. Public for the REST fuzzer
  // (fuzz/fuzz_rest.cpp), which hands it requests without a socket.
  void handle(Listener listener, const httplib::Request& req, httplib::Response& res);

 private:
  struct IdempotentRequest {
    std::int64_t customer_id = 0;
    std::string key;
    std::string owner;
  };
  struct IdempotencyStart {
    std::optional<IdempotentRequest> owned;            // run the handler, then finish_idempotent
    std::optional<Result<Response, ApiError>> answer;  // answer this instead (replay, error)
  };
  explicit HttpServer(Deps deps, Allowlist internal_allow, Allowlist trusted_proxies,
                      Allowlist rate_exempt);
  std::unique_ptr<EpollHttpServer> make_listener(Listener listener, const ListenerConfig& lc);
  void configure(httplib::Server& server, Listener listener);
  Result<Response, ApiError> dispatch(Listener listener, const httplib::Request& req,
                                      const std::string& request_id, const std::string& address,
                                      std::string& route_label, std::string& actor);
  // dispatch's steps, in order; each ends the request with its error.
  // The route for the method and path, or 405 or 404.
  Result<RouteMatch, ApiError> route_for(Listener listener, const httplib::Request& req,
                                         HttpMethod method) const;
  // The session of the bearer token, if one was sent (token_sent); 5xx when it cannot be read.
  std::optional<ApiError> authenticate(RequestContext& ctx, const httplib::Request& req,
                                       bool& token_sent, std::string& actor) const;
  // The route's access rule and owner parameter: 401, 403, or 404 for another customer's id;
  // denials are audited.
  // A cookie-authenticated request that is not a GET must carry the session's CSRF token.
  std::optional<ApiError> check_csrf(RequestContext& ctx, const Route& route,
                                     const httplib::Request& req) const;
  std::optional<ApiError> authorize(RequestContext& ctx, const Route& route,
                                    const httplib::Request& req, bool token_sent) const;
  // The handler in the request's transaction: the audit row and the commit on success, the
  // after-commit hooks after it.
  Result<Response, ApiError> run_handler(RequestContext& ctx, const Route& route,
                                         const httplib::Request& req,
                                         const std::optional<IdempotentRequest>& key);
  void write_audit(RequestContext& ctx, const Route& route, const httplib::Request& req) const;
  // The public listener's token buckets (rate_limits): 429 rate_limited with Retry-After. Before
  // authentication for the address (no account yet), after it for the account.
  std::optional<ApiError> limit_address(const Route& route, const std::string& address);
  std::optional<ApiError> limit_account(const Route& route, const RequestContext& ctx);
  // Idempotency-Key of an idempotent route: claims the key (waiting for another request with
  // it, up to idempotency.max_wait) or answers what the key answered before (replay), 400 for a
  // bad key, 422 for a key used with another request, 409 when the wait was too long.
  IdempotencyStart begin_idempotent(RequestContext& ctx, const Route& route);
  // Stores the answer of an owned key (or releases the key for a 5xx/429/exception).
  void finish_idempotent(RequestContext& ctx, const IdempotentRequest& key,
                         const Result<Response, ApiError>& answer, bool in_transaction);
  std::string client_address(const httplib::Request& req) const;
  void audit_denial(Listener listener, const std::string& action, const std::string& path,
                    const std::optional<Principal>& principal, const std::string& address,
                    const std::string& request_id, const ApiError& error,
                    const std::optional<AuditDetail>& detail) const;

  Deps deps_;
  SystemClock system_clock_;
  const Clock& clock_;
  IdempotencyStore idempotency_;
  Allowlist rate_exempt_;
  BucketTable buckets_;
  Allowlist internal_allow_;
  Allowlist trusted_proxies_;
  std::unique_ptr<EpollHttpServer> public_;
  std::unique_ptr<EpollHttpServer> internal_;
  int public_port_ = 0;
  int internal_port_ = 0;
  bool started_ = false;
};

// The request id to use: the client's X-Request-Id if it is 1..64 characters of
// [A-Za-z0-9._-], otherwise a fresh random one.
std::string choose_request_id(std::string_view incoming);

// {"error":{"code","message","details"},"request_id"}
nlohmann::json error_body(const ApiError& e, const std::string& request_id);

}  // namespace reclothes::controller
