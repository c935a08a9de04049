// Customer service on a customer's behalf: the pure rules (on_behalf.h).
#include "reclothes/controller/domain/on_behalf.h"

#include <algorithm>

namespace reclothes::controller::domain {
namespace {

std::string usual_buying_actor(std::string_view from, std::string_view to) {
  if (from.empty()) return "customer";  // the customer ordered
  if (to == "paid" || to == "payment_failed") return "payment";
  if (to == "packed") return "packer";
  if (to == "shipping") return "courier";
  if (to == "ready_for_pickup" || to == "returned" || to == "return_collected") return "box";
  if (to == "completed") return from == "return_requested" ? "worker" : "box";
  if (to == "cancelled" || to == "return_requested") return "customer";
  if (to == "refunded") return "checker";
  return "system";
}

std::string usual_donating_actor(std::string_view from, std::string_view to) {
  if (from.empty() || to == "cancelled") return "customer";
  if (to == "deposited" || to == "collected") return "box";
  if (to == "expired") return "worker";
  if (to == "completed") return "checker";
  return "system";
}

}  // namespace

std::string usual_actor(std::string_view order_kind, std::string_view from, std::string_view to) {
  if (order_kind == "buying") return usual_buying_actor(from, to);
  if (order_kind == "donating") return usual_donating_actor(from, to);
  return "system";
}

std::string reason_problem(std::string_view reason) {
  const auto blank = [](char c) { return c == ' ' || c == '\t'; };
  while (!reason.empty() && blank(reason.front())) reason.remove_prefix(1);
  while (!reason.empty() && blank(reason.back())) reason.remove_suffix(1);
  if (reason.empty()) return "must say why (1 to 500 characters)";
  if (reason.size() > 500) return "must be at most 500 characters";
  if (std::any_of(reason.begin(), reason.end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
    return "must be one line without control characters";
  }
  return "";
}

}  // namespace reclothes::controller::domain
