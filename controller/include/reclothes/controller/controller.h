// The controller application: wires configuration, database, services, routes, HTTP listeners
// and the MQTT bridge together. Domain modules plug in before start() through router(),
// events() and services(); compose.h (make_controller) plugs in the order domain.
#pragma once

#include <memory>

#include "reclothes/common/clock.h"
#include "reclothes/common/result.h"
#include "reclothes/controller/audit.h"
#include "reclothes/controller/auth.h"
#include "reclothes/controller/bridge.h"
#include "reclothes/controller/config.h"
#include "reclothes/controller/db.h"
#include "reclothes/controller/events.h"
#include "reclothes/controller/http.h"
#include "reclothes/controller/log.h"
#include "reclothes/controller/metrics.h"
#include "reclothes/controller/server.h"
#include "reclothes/controller/services.h"
#include "reclothes/controller/tokens.h"

namespace reclothes::controller {

// Route modules of the core; each adds its routes to the router.
void register_account_routes(Router& router, const Services& s);
void register_staff_routes(Router& router, const Services& s);
void register_fleet_routes(Router& router, const Services& s);
void register_token_routes(Router& router, const Services& s);
// /healthz, /readyz, /metrics, /openapi.json and the audit query.
void register_ops_routes(Router& router, const Services& s);

class Controller {
 public:
  // Opens the database, checks the schema (kFailedPrecondition telling to run `migrate` when it
  // is behind), makes sure a signing key exists, builds the services and registers the core
  // routes and event hooks. Nothing is listening yet.
  static Result<std::unique_ptr<Controller>> create(const ControllerConfig& config,
                                                    const Clock& clock, Log log);
  ~Controller();

  // Binds the listeners and starts the MQTT bridge.
  Status start();
  void stop();

  // Plug-in points for domain modules (before start()).
  Router& router() { return router_; }
  EventApplier& events() { return events_; }
  const Services& services() const { return *services_; }

  int public_port() const { return http_ ? http_->public_port() : 0; }
  int internal_port() const { return http_ ? http_->internal_port() : 0; }
  MqttBridge& bridge() { return *bridge_; }
  Database& db() { return *db_; }
  Metrics& metrics() { return metrics_; }
  // nullptr when sessions.cache_ttl_ms is 0.
  SessionCache* session_cache() { return session_cache_.get(); }

 private:
  Controller(const ControllerConfig& config, Log log);
  // The scrape hook: gauges and counters read from the pool, the listeners, the MQTT queue, the
  // session cache and the database.
  void refresh_metrics();

  ControllerConfig config_;
  Log log_;
  Metrics metrics_;
  std::unique_ptr<Database> db_;
  std::optional<PasswordHasher> passwords_;
  std::unique_ptr<SessionCache> session_cache_;  // outlives the listeners that read it
  std::unique_ptr<SessionStore> sessions_;
  std::unique_ptr<LoginThrottle> throttle_;
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<TokenService> tokens_;
  EventApplier events_;
  std::unique_ptr<MqttBridge> bridge_;
  std::unique_ptr<Services> services_;
  Router router_;
  std::unique_ptr<HttpServer> http_;
};

}  // namespace reclothes::controller
