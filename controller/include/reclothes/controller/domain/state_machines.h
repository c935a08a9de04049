// The order state machines: pure functions (state, event) -> next state, or a TransitionError
// that says which event was refused in which state. No I/O; the store code locks the order row,
// asks the machine and writes the answer. docs/orders.md draws each machine.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "reclothes/common/result.h"

namespace reclothes::controller::domain {

// A refused transition: rendered as HTTP 409 "illegal_transition" with details {from, event}.
struct TransitionError {
  std::string order_kind;  // "donating", "buying", "checking", ...
  std::string from;
  std::string event;
  // "cannot cancel a donating order that is deposited"
  std::string message() const;
};

template <typename S>
using Transition = Result<S, TransitionError>;

// ---- donating orders -----------------------------------------------------------------------

enum class DonationState { kReserved, kDeposited, kCollected, kCompleted, kCancelled, kExpired };
enum class DonationEvent {
  kDeposit,   // the box's access_completed (deposit)
  kCancel,    // the customer cancels before depositing
  kExpire,    // the reservation ran out unused
  kCollect,   // a courier emptied the compartment (courier_collect)
  kComplete,  // the checking order graded every item; the donor is rewarded
};

std::string_view to_string(DonationState s);
std::string_view to_string(DonationEvent e);
std::optional<DonationState> donation_state_from_string(std::string_view s);
std::span<const DonationState> all_donation_states();
std::span<const DonationEvent> all_donation_events();
Transition<DonationState> next(DonationState from, DonationEvent event);

// ---- buying orders -------------------------------------------------------------------------

enum class BuyingState {
  kPaymentPending,
  kPaymentFailed,
  kPaid,
  kPacked,
  kShipping,
  kReadyForPickup,
  kCompleted,
  kCancelled,
  kReturnRequested,
  kReturned,
  kReturnCollected,
  kRefunded,
  kPickupExpired,  // the pickup window ended unused: the token is revoked, a courier collects
  kRestocked,      // a no-show collected back under the restock policy: no refund
};
enum class BuyingEvent {
  kPaymentSucceeded,
  kPaymentDeclined,
  kPack,           // the packing order is done
  kDispatch,       // the shipping order was assigned to a courier
  kLoad,           // the box's access_completed (courier_load)
  kPickup,         // the box's access_completed (pickup)
  kCancel,         // the customer cancels before shipping (refund)
  kRequestReturn,  // the customer asks to return through a box
  kReturnExpire,   // the return reservation ran out unused
  kReturnDeposit,  // the box's access_completed (return)
  kReturnCollect,  // a courier collected the returned items
  kRefund,         // the return's checking order is done; the refund is issued
  kPickupExpire,   // the worker: the pickup window ended (docs/orders.md, "No-shows")
  kNoShowRefund,   // a courier collected the no-show back; policy refund: full refund
  kNoShowRestock,  // a courier collected the no-show back; policy restock: no refund
  // Customer service on the customer's behalf (docs/orders.md); neither moves the order.
  kStaffRefund,       // money back, all or part, with a reason: once something was charged
  kResendPickupCode,  // the pickup code is sent again: only while it is ready for pickup
};

std::string_view to_string(BuyingState s);
std::string_view to_string(BuyingEvent e);
std::optional<BuyingState> buying_state_from_string(std::string_view s);
std::span<const BuyingState> all_buying_states();
std::span<const BuyingEvent> all_buying_events();
Transition<BuyingState> next(BuyingState from, BuyingEvent event);

// ---- internal orders (checking, packing, collecting, shipping) -----------------------------

enum class TaskKind { kChecking, kPacking, kCollecting, kShipping };
enum class TaskState { kOpen, kAssigned, kInProgress, kDone, kCancelled };
enum class TaskEvent {
  kAssign,    // a manager assigns (or reassigns) the order to a staff member
  kProgress,  // part of the work is done (an item graded, a compartment collected)
  kComplete,  // all of the work is done
  kCancel,    // the order is no longer needed (its buying order was cancelled)
  // A manager's decisions about a stuck order (issue 18; docs/orders.md, "Stuck internal
  // orders"), each with a reason in the audit log:
  kReassign,       // another staff member takes over assigned or half-done work
  kManagerCancel,  // the order is withdrawn; its unfinished work goes back to be done again
  kForceComplete,  // the order is finished with what was done (per kind: docs/orders.md)
};

std::string_view to_string(TaskKind k);
std::string_view to_string(TaskState s);
std::string_view to_string(TaskEvent e);
std::optional<TaskKind> task_kind_from_string(std::string_view s);
std::optional<TaskState> task_state_from_string(std::string_view s);
std::span<const TaskKind> all_task_kinds();
std::span<const TaskState> all_task_states();
std::span<const TaskEvent> all_task_events();
Transition<TaskState> next(TaskKind kind, TaskState from, TaskEvent event);

// ---- donor returns (a donor asks for a donated item back; docs/orders.md) -------------------

enum class DonorReturnState { kRequested, kApproved, kRefused };
enum class DonorReturnEvent {
  kApprove,  // staff approve: a buying order of kind donor_return delivers the item
  kRefuse,   // staff refuse, with a reason
};

std::string_view to_string(DonorReturnState s);
std::string_view to_string(DonorReturnEvent e);
std::optional<DonorReturnState> donor_return_state_from_string(std::string_view s);
std::span<const DonorReturnState> all_donor_return_states();
std::span<const DonorReturnEvent> all_donor_return_events();
Transition<DonorReturnState> next(DonorReturnState from, DonorReturnEvent event);

}  // namespace reclothes::controller::domain
