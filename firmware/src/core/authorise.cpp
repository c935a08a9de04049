#include "reclothes/firmware/authorise.h"

#include <algorithm>

namespace reclothes::firmware {
namespace {

AuthDecision refuse(std::string_view why) {
  AuthDecision d;
  d.reason = std::string(why);
  return d;
}

const CompartmentView* find_compartment(const AuthRequest& r, int id) {
  for (const CompartmentView& c : r.compartments) {
    if (c.id == id) return &c;
  }
  return nullptr;
}

// Why this compartment cannot be opened now, or "" if it can (reservations aside).
std::string_view blocker(const CompartmentView* c) {
  if (c == nullptr) return reason::kWrongCompartment;
  if (c->state == CompartmentState::kOutOfService) return reason::kOutOfService;
  if (!is_closed_state(c->state)) return reason::kCompartmentBusy;
  return {};
}

bool has_reservation(const AuthRequest& r, int compartment) {
  return std::any_of(
      r.reservations.begin(), r.reservations.end(), [&](const msg::Reservation& res) {
        return res.compartment == compartment && res.order_ref == r.claims.order_ref &&
               res.action == r.claims.action && r.now_s < res.until + r.reservation_grace_s;
      });
}

}  // namespace

bool is_courier(TokenAction action) {
  return action == TokenAction::kCourierCollect || action == TokenAction::kCourierLoad;
}

std::string used_token_key(std::string_view token_id_hex, TokenAction action, int compartment) {
  std::string key(token_id_hex);
  if (is_courier(action)) key += "#" + std::to_string(compartment);
  return key;
}

std::string used_token_key(const TokenClaims& claims, int compartment) {
  return used_token_key(claims.token_id_hex(), claims.action, compartment);
}

AuthDecision authorise(const AuthRequest& r) {
  if (r.revoked) return refuse(reason::kRevoked);
  const bool courier = is_courier(r.claims.action);
  if (r.maintenance && !courier) return refuse(reason::kMaintenance);

  if (!courier) {
    if (r.token_used) return refuse(reason::kAlreadyUsed);
    std::string_view first_reason;
    for (std::uint8_t id : r.claims.compartments) {
      const int c = int{id};
      std::string_view why = blocker(find_compartment(r, c));
      if (why.empty() && !has_reservation(r, c)) why = reason::kNotReserved;
      if (why.empty()) {
        AuthDecision d;
        d.accepted = true;
        d.compartments = {c};
        return d;
      }
      if (first_reason.empty()) first_reason = why;
    }
    return refuse(first_reason.empty() ? reason::kWrongCompartment : first_reason);
  }

  AuthDecision d;
  std::string_view first_reason;
  bool any_here = false;
  bool any_left = false;
  for (std::uint8_t id : r.claims.compartments) {
    const int c = int{id};
    const CompartmentView* view = find_compartment(r, c);
    if (view == nullptr) continue;
    any_here = true;
    if (r.used_compartments.count(c) != 0) continue;
    any_left = true;
    const std::string_view why = blocker(view);
    if (why.empty()) {
      d.compartments.push_back(c);
    } else if (first_reason.empty()) {
      first_reason = why;
    }
  }
  if (!any_here) return refuse(reason::kWrongCompartment);
  if (!any_left) return refuse(reason::kAlreadyUsed);
  if (d.compartments.empty()) return refuse(first_reason);
  d.accepted = true;
  return d;
}

}  // namespace reclothes::firmware
