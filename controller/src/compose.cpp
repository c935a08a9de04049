// The composition: the core and the modules that plug into it.
#include "reclothes/controller/compose.h"

#include "reclothes/controller/domain/domain.h"

namespace reclothes::controller {

Result<std::unique_ptr<Controller>> make_controller(const ControllerConfig& config,
                                                    const Clock& clock, Log log) {
  RC_ASSIGN_OR_RETURN(auto c, Controller::create(config, clock, std::move(log)));
  // The order domain (docs/orders.md): routes, box-event hooks and its background worker. Its
  // settings are the "domain" section of the configuration file.
  RC_TRY(domain::register_domain(c->router(), c->events(), c->services(), config.domain));
  return c;
}

}  // namespace reclothes::controller
