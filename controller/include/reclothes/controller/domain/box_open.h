// The online open (POST /v1/boxes/{box_id}/open, docs/orders.md "Opening a box online"): which
// of the caller's reservations at a box it opens, and whether a new open_access command may go
// out for it. Pure functions over plain values; the store reads the rows and asks these.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "reclothes/common/token.h"

namespace reclothes::controller::domain {

// One live reservation of the caller at the box, with the token the box would accept for it.
struct LiveAccess {
  std::int64_t order_id = 0;
  std::string purpose;  // "deposit" (a donation), "pickup" or "return" (a buying order)
  TokenAction action = TokenAction::kDeposit;
  int compartment = 0;
  std::string token_id;            // 16 hex
  std::int64_t token_expires = 0;  // Unix seconds
  bool operator==(const LiveAccess&) const = default;
};

enum class AccessChoiceProblem {
  kNone,          // `chosen` is set
  kNothing,       // the caller has no live reservation at the box
  kNotAmongThem,  // order_id was given and is not one of the caller's live reservations there
  kAmbiguous,     // several and no order_id: the caller must choose
};

struct AccessChoice {
  AccessChoiceProblem problem = AccessChoiceProblem::kNothing;
  std::optional<LiveAccess> chosen;
};

// One live reservation: that one (an order_id must name it). Several: the one order_id names,
// else kAmbiguous. None: kNothing.
AccessChoice choose_access(std::span<const LiveAccess> live, std::optional<std::int64_t> order_id);

// An open_access command already sent for the same token (box_commands).
struct PriorOpen {
  std::string command_id;
  std::int64_t created_ms = 0;
  std::optional<bool> ok;  // the box's result; nullopt while none has arrived
  std::string code;        // the result's code ("ok", "expired", "already_used", "not_delivered")
};

enum class OpenStep {
  kSend,           // send a new command with `command_id`
  kPending,        // `command_id` is on its way and young: answer with it, send nothing
  kAlreadyOpened,  // a command for this token opened the door: single use, nothing more
  kRefused,        // the box refused for good (`code`: already_used, revoked); or too many tries
};

struct OpenDecision {
  OpenStep step = OpenStep::kSend;
  std::string command_id;
  std::string code;
};

// At most this many open_access commands per token: a customer tapping "open" again and again at
// a box that keeps refusing (door open, compartment busy) gets a clear answer after that.
inline constexpr int kMaxOpenAttempts = 10;

// How long a command without a result counts as on its way: the box's default command age limit
// (firmware sync.command_max_age), after which the box refuses the command as expired anyway.
inline constexpr std::int64_t kOpenPendingMs = 120'000;

// The command id of attempt n (1-based) for a token: "access-<token id>-<n>". Derived from the
// token id the order row stores, so every command of a reservation is found by its token, and the
// primary key of box_commands makes attempt n exist once even if two requests race.
std::string access_command_id(std::string_view token_id, int attempt);

// What to do now, given every prior command for the token (any order):
//  1. one of them succeeded                         -> kAlreadyOpened (its id)
//  2. one of them has no result and is younger than pending_ms -> kPending (its id)
//  3. one was refused with already_used or revoked (the token is used up or cancelled at the
//     box, which stays so)                          -> kRefused (its code)
//  4. kMaxOpenAttempts made                         -> kRefused "too_many_attempts"
//  5. otherwise (none yet, or the others expired, were not delivered, found the door open ...)
//                                                   -> kSend attempt prior.size() + 1
// A command without a result that is older than pending_ms is taken as lost: the box refuses it
// as expired if it ever arrives (its command age limit), and even if both ran, the token is
// single use at the box, so the door opens at most once.
OpenDecision decide_open(std::span<const PriorOpen> prior, std::string_view token_id,
                         std::int64_t now_ms, std::int64_t pending_ms);

}  // namespace reclothes::controller::domain
