// Token authorisation against the box's local state: pure logic, no I/O.
//
// TokenVerifier (common/token.h) has already checked format, key, signature, validity window and
// box. This decides, from the journal's state handed in as plain values, whether the verified
// token may open something here now, and which compartment(s).
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "reclothes/common/messages.h"
#include "reclothes/common/token.h"
#include "reclothes/firmware/compartment.h"

namespace reclothes::firmware {

// Rejection reasons (stable strings: they go into scan_rejected events next to the TokenError
// strings of token.h).
namespace reason {
inline constexpr std::string_view kRevoked = "revoked";
inline constexpr std::string_view kAlreadyUsed = "already_used";
inline constexpr std::string_view kNotReserved = "not_reserved";
inline constexpr std::string_view kCompartmentBusy = "compartment_busy";
inline constexpr std::string_view kOutOfService = "out_of_service";
inline constexpr std::string_view kMaintenance = "maintenance";
// The token names a compartment this box does not have (a TokenError string, reused).
inline constexpr std::string_view kWrongCompartment = "wrong_compartment";
// The camera saw the box's own printed code (reclothes:box:...), which is for the customer app.
inline constexpr std::string_view kBoxCode = "box_code";
}  // namespace reason

// Courier tokens (courier_collect, courier_load) cover several compartments; the others are
// customer tokens for one compartment with a reservation.
bool is_courier(TokenAction action);

// The key under which a use is recorded in the journal's used_tokens: the token id for customer
// tokens (single use), "<token id>#<compartment>" for courier tokens (each compartment once).
std::string used_token_key(const TokenClaims& claims, int compartment);
std::string used_token_key(std::string_view token_id_hex, TokenAction action, int compartment);

struct CompartmentView {
  int id = 0;
  CompartmentState state = CompartmentState::kFree;
  bool occupied = false;
};

struct AuthRequest {
  TokenClaims claims;
  bool revoked = false;
  // Customer tokens: the token id is in used_tokens.
  bool token_used = false;
  // Courier tokens: the compartments of this token that were already opened with it.
  std::set<int> used_compartments;
  bool maintenance = false;
  std::vector<CompartmentView> compartments;  // every compartment of the box
  std::vector<msg::Reservation> reservations;
  std::int64_t now_s = 0;
  std::int64_t reservation_grace_s = 0;
};

struct AuthDecision {
  bool accepted = false;
  std::string reason;             // set when refused
  std::vector<int> compartments;  // when accepted: what to open, in this order
};

// Rules, first failing one wins:
//  1. revoked                   -> "revoked"
//  2. maintenance and customer  -> "maintenance" (couriers and technicians still get in)
//  3. customer token id used    -> "already_used"
//  4. customer: the first covered compartment that exists, is in service, closed (free,
//     reserved, occupied) and has a reservation with the token's order_ref and action that has
//     not run out (until + grace > now) is opened. Otherwise the reason of the first covered
//     compartment: "wrong_compartment", "out_of_service", "compartment_busy", "not_reserved".
//  5. courier: every covered compartment of this box not yet opened with the token and closed and
//     in service, in ascending order. None left to open at all -> "already_used"; some left but
//     none openable now -> the first one's reason.
AuthDecision authorise(const AuthRequest& request);

}  // namespace reclothes::firmware
