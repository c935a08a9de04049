#include "reclothes/controller/controller.h"

#include "reclothes/controller/fleet.h"
#include "reclothes/controller/migrations.h"

namespace reclothes::controller {

Controller::Controller(const ControllerConfig& config, Log log)
    : config_(config), log_(std::move(log)) {}

Controller::~Controller() { stop(); }

Result<std::unique_ptr<Controller>> Controller::create(const ControllerConfig& config,
                                                       const Clock& clock, Log log) {
  std::unique_ptr<Controller> c(new Controller(config, std::move(log)));
  const auto& cfg = c->config_;
  RC_ASSIGN_OR_RETURN(c->db_, Database::open({cfg.database.conninfo, cfg.database.pool_size,
                                              cfg.database.acquire_timeout}));
  RC_TRY(check_schema(*c->db_));
  RC_ASSIGN_OR_RETURN(auto hasher, PasswordHasher::create(cfg.passwords));
  c->passwords_.emplace(std::move(hasher));
  c->sessions_ = std::make_unique<SessionStore>(*c->db_, clock, cfg.sessions);
  if (cfg.sessions.cache_ttl.count() > 0) {
    SessionCache::Options o;
    o.conninfo = cfg.database.conninfo;
    o.ttl = cfg.sessions.cache_ttl;
    o.max_entries = cfg.sessions.cache_max_entries;
    c->session_cache_ = std::make_unique<SessionCache>(o, clock, c->log_);
    c->sessions_->set_cache(c->session_cache_.get());
  }
  c->throttle_ = std::make_unique<LoginThrottle>(clock, cfg.throttle);
  c->audit_ = std::make_unique<AuditLog>(*c->db_, clock);
  RC_ASSIGN_OR_RETURN(c->tokens_, TokenService::create(*c->db_, clock, cfg.tokens));
  register_core_event_hooks(c->events_);
  RC_ASSIGN_OR_RETURN(
      c->bridge_, MqttBridge::create({cfg.mqtt, *c->db_, clock, c->events_, c->metrics_, c->log_}));
  c->services_.reset(new Services{cfg, clock, *c->db_, c->log_, c->metrics_, *c->passwords_,
                                  *c->sessions_, *c->throttle_, *c->audit_, *c->tokens_,
                                  *c->bridge_});
  register_account_routes(c->router_, *c->services_);
  register_staff_routes(c->router_, *c->services_);
  register_fleet_routes(c->router_, *c->services_);
  register_token_routes(c->router_, *c->services_);
  register_ops_routes(c->router_, *c->services_);

  auto* self = c.get();
  c->metrics_.set_scrape_hook([self] { self->refresh_metrics(); });
  return c;
}

void Controller::refresh_metrics() {
  // The pool first: the count below leases a connection of its own.
  metrics_.set_db_pool(db_->pool_stats());
  auto n = db_->with_transaction(
      [](pqxx::work& tx) -> Result<std::int64_t> { return count_online_boxes(tx); });
  if (n.ok()) metrics_.set_boxes_online(static_cast<double>(*n));
  if (session_cache_) metrics_.set_session_cache(session_cache_->stats());
  metrics_.set_mqtt_queue_depth(bridge_->queue_depth());
  if (http_) {
    for (const auto listener : {Listener::kPublic, Listener::kInternal}) {
      const auto conns = http_->connections(listener);
      metrics_.set_http_connections(to_string(listener), conns.open, conns.accepted);
    }
  }
}

Status Controller::start() {
  if (!http_) {
    RC_ASSIGN_OR_RETURN(http_, HttpServer::create({config_, router_, *db_, *sessions_, *audit_,
                                                   metrics_, log_, &services_->clock}));
  }
  if (session_cache_) session_cache_->start();
  RC_TRY(http_->start());
  bridge_->start();
  return ok_status();
}

void Controller::stop() {
  if (http_) http_->stop();
  if (bridge_) bridge_->stop();
  if (session_cache_) session_cache_->stop();
}

}  // namespace reclothes::controller
