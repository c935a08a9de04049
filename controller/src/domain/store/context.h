// What every route, event hook and worker pass of the domain shares; lives as long as the routes.
#pragma once

#include <cstdint>
#include <memory>

#include "reclothes/controller/domain/domain_config.h"
#include "reclothes/controller/domain/payments.h"
#include "reclothes/controller/services.h"

namespace reclothes::controller::domain {

class DomainWorker;

struct DomainContext {
  const Services& s;
  DomainConfig config;
  std::shared_ptr<PaymentProvider> payments;  // null: payments not configured
  // Adapters the ports above point at (the sandbox provider), kept alive with the domain.
  std::shared_ptr<void> adapters;
  std::unique_ptr<DomainWorker> worker;
  std::int64_t now_ms() const { return s.clock.wall_ms(); }
};

}  // namespace reclothes::controller::domain
