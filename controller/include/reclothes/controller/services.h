// What the controller's modules share: configuration, clock, database, log, metrics, password
// hashing, sessions, throttle, audit, tokens and box messaging. HTTP-free, so the order domain's
// store can take it without seeing the listeners (controller.h builds it; server.h serves it).
#pragma once

#include "reclothes/common/clock.h"
#include "reclothes/controller/audit.h"
#include "reclothes/controller/auth.h"
#include "reclothes/controller/config.h"
#include "reclothes/controller/db.h"
#include "reclothes/controller/log.h"
#include "reclothes/controller/messaging.h"
#include "reclothes/controller/metrics.h"
#include "reclothes/controller/tokens.h"

namespace reclothes::controller {

// Everything a route module needs. References stay valid for the controller's lifetime.
struct Services {
  const ControllerConfig& config;
  const Clock& clock;
  Database& db;
  const Log& log;
  Metrics& metrics;
  const PasswordHasher& passwords;
  const SessionStore& sessions;
  const LoginThrottle& throttle;
  const AuditLog& audit;
  TokenService& tokens;
  BoxMessaging& messaging;
};

}  // namespace reclothes::controller
