// Customer service on a customer's behalf: the pure rules (docs/orders.md, "Orders on a
// customer's behalf"). No I/O.
#pragma once

#include <string>
#include <string_view>

namespace reclothes::controller::domain {

// Who usually makes a state change of a buying ("buying") or donating ("donating") order, for the
// history of an order whose change did not record its actor (only changes made on a customer's
// behalf record one): "customer", "box", "worker", "payment", "packer", "courier", "checker", or
// "system" when the transition is not one the rule knows. from is "" for the creation.
std::string usual_actor(std::string_view order_kind, std::string_view from, std::string_view to);

// The reason staff give for an action on a customer's behalf: 1..500 characters after trimming
// blanks at both ends, no control characters. Empty: acceptable; else what is wrong with it.
std::string reason_problem(std::string_view reason);

}  // namespace reclothes::controller::domain
