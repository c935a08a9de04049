// The domain's box-event hook: an access_completed event moves the order its token names.
#include "shared.h"

namespace reclothes::controller::domain {

Status on_access_completed(DomainContext& d, pqxx::work& tx, const BoxEventContext& ctx,
                           const msg::Event& e) {
  // Remote opens (by command) carry no token: nothing for the domain.
  if (!e.action || !e.order_ref || !e.compartment) return ok_status();
  switch (*e.action) {
    case TokenAction::kDeposit:
      return on_deposit(d, tx, ctx, e);
    case TokenAction::kPickup:
      return on_pickup(d, tx, ctx, e);
    case TokenAction::kCourierCollect:
      return on_courier_collect(d, tx, ctx, e);
    case TokenAction::kCourierLoad:
      return on_courier_load(d, tx, ctx, e);
    case TokenAction::kReturn:
      return on_return(d, tx, ctx, e);
  }
  return ok_status();
}

}  // namespace reclothes::controller::domain
