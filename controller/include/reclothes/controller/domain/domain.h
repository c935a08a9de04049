// The order domain: donating and buying orders, internal orders (checking, packing, collecting,
// shipping), products, cart, payments, coins, coupons, customer management, GDPR and
// notifications. docs/orders.md describes it; docs/rest-api.md lists its routes.
//
// The domain is three layers (docs/architecture.md, "The order domain"):
//   controller/src/domain/routes/  HTTP only: read and validate the request, call the store,
//                                  write the response (target reclothes_controller_core);
//   controller/src/domain/store/   SQL only: a transaction and plain values in, Result out
//                                  (target reclothes_controller_domain, no HTTP);
//   controller/src/domain/rules/   pure state machines and rules (same target).
// Adapters to the outside (payment provider client, sandbox provider, webhook) are in
// controller/src/domain/adapters/ (target reclothes_controller_adapters).
//
// register_domain() is the domain's composition: it plugs the domain into a Controller under
// construction (compose.cpp calls it): its routes into the Router, its box-event hooks
// (access_completed, fill_level) into the EventApplier, and its background worker (worker.h).
#pragma once

#include "reclothes/common/result.h"
#include "reclothes/controller/domain/domain_config.h"
#include "reclothes/controller/events.h"
#include "reclothes/controller/http.h"
#include "reclothes/controller/services.h"

namespace reclothes::controller::domain {

// Registers the domain's routes and event hooks and starts its worker (unless the configured
// interval is 0). The domain's state lives as long as the router's routes. kInvalidArgument for
// a bad domain configuration, kUnavailable if the sandbox provider cannot start.
Status register_domain(Router& router, EventApplier& events, const Services& services,
                       DomainConfig config);

}  // namespace reclothes::controller::domain
