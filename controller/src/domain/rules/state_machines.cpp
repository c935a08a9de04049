#include "reclothes/controller/domain/state_machines.h"

#include <array>

namespace reclothes::controller::domain {
namespace {

template <typename S, typename E>
Transition<S> refuse(std::string_view kind, S from, E event) {
  return TransitionError{std::string(kind), std::string(to_string(from)),
                         std::string(to_string(event))};
}

template <typename T, std::size_t N>
std::optional<T> parse_enum(std::string_view s, const std::array<T, N>& all) {
  for (auto v : all) {
    if (to_string(v) == s) return v;
  }
  return std::nullopt;
}

constexpr std::array kDonationStates = {DonationState::kReserved,  DonationState::kDeposited,
                                        DonationState::kCollected, DonationState::kCompleted,
                                        DonationState::kCancelled, DonationState::kExpired};
constexpr std::array kDonationEvents = {DonationEvent::kDeposit, DonationEvent::kCancel,
                                        DonationEvent::kExpire, DonationEvent::kCollect,
                                        DonationEvent::kComplete};

constexpr std::array kBuyingStates = {
    BuyingState::kPaymentPending, BuyingState::kPaymentFailed,   BuyingState::kPaid,
    BuyingState::kPacked,         BuyingState::kShipping,        BuyingState::kReadyForPickup,
    BuyingState::kCompleted,      BuyingState::kCancelled,       BuyingState::kReturnRequested,
    BuyingState::kReturned,       BuyingState::kReturnCollected, BuyingState::kRefunded,
    BuyingState::kPickupExpired,  BuyingState::kRestocked};
constexpr std::array kBuyingEvents = {BuyingEvent::kPaymentSucceeded,
                                      BuyingEvent::kPaymentDeclined,
                                      BuyingEvent::kPack,
                                      BuyingEvent::kDispatch,
                                      BuyingEvent::kLoad,
                                      BuyingEvent::kPickup,
                                      BuyingEvent::kCancel,
                                      BuyingEvent::kRequestReturn,
                                      BuyingEvent::kReturnExpire,
                                      BuyingEvent::kReturnDeposit,
                                      BuyingEvent::kReturnCollect,
                                      BuyingEvent::kRefund,
                                      BuyingEvent::kPickupExpire,
                                      BuyingEvent::kNoShowRefund,
                                      BuyingEvent::kNoShowRestock,
                                      BuyingEvent::kStaffRefund,
                                      BuyingEvent::kResendPickupCode};

constexpr std::array kTaskKinds = {TaskKind::kChecking, TaskKind::kPacking, TaskKind::kCollecting,
                                   TaskKind::kShipping};
constexpr std::array kTaskStates = {TaskState::kOpen, TaskState::kAssigned, TaskState::kInProgress,
                                    TaskState::kDone, TaskState::kCancelled};
constexpr std::array kTaskEvents = {
    TaskEvent::kAssign,   TaskEvent::kProgress,      TaskEvent::kComplete,     TaskEvent::kCancel,
    TaskEvent::kReassign, TaskEvent::kManagerCancel, TaskEvent::kForceComplete};

}  // namespace

std::string TransitionError::message() const {
  return "cannot " + event + " a " + order_kind + " order that is " + from;
}

// ---- donating ---------------------------------------------------------------------------------

std::string_view to_string(DonationState s) {
  switch (s) {
    case DonationState::kReserved:
      return "reserved";
    case DonationState::kDeposited:
      return "deposited";
    case DonationState::kCollected:
      return "collected";
    case DonationState::kCompleted:
      return "completed";
    case DonationState::kCancelled:
      return "cancelled";
    case DonationState::kExpired:
      return "expired";
  }
  return "unknown";
}

std::string_view to_string(DonationEvent e) {
  switch (e) {
    case DonationEvent::kDeposit:
      return "deposit";
    case DonationEvent::kCancel:
      return "cancel";
    case DonationEvent::kExpire:
      return "expire";
    case DonationEvent::kCollect:
      return "collect";
    case DonationEvent::kComplete:
      return "complete";
  }
  return "unknown";
}

std::optional<DonationState> donation_state_from_string(std::string_view s) {
  return parse_enum(s, kDonationStates);
}
std::span<const DonationState> all_donation_states() { return kDonationStates; }
std::span<const DonationEvent> all_donation_events() { return kDonationEvents; }

Transition<DonationState> next(DonationState from, DonationEvent event) {
  using S = DonationState;
  using E = DonationEvent;
  switch (event) {
    case E::kDeposit:
      // A box that was offline may accept a deposit token after the controller cancelled or
      // expired the donation (it learns revocations only when it reconnects). The clothes are
      // then in the compartment: reality wins and the donation goes on as deposited.
      if (from == S::kReserved || from == S::kCancelled || from == S::kExpired) {
        return S::kDeposited;
      }
      break;
    case E::kCancel:
      if (from == S::kReserved) return S::kCancelled;
      break;
    case E::kExpire:
      if (from == S::kReserved) return S::kExpired;
      break;
    case E::kCollect:
      if (from == S::kDeposited) return S::kCollected;
      break;
    case E::kComplete:
      if (from == S::kCollected) return S::kCompleted;
      break;
  }
  return refuse<S>("donating", from, event);
}

// ---- buying -----------------------------------------------------------------------------------

std::string_view to_string(BuyingState s) {
  switch (s) {
    case BuyingState::kPaymentPending:
      return "payment_pending";
    case BuyingState::kPaymentFailed:
      return "payment_failed";
    case BuyingState::kPaid:
      return "paid";
    case BuyingState::kPacked:
      return "packed";
    case BuyingState::kShipping:
      return "shipping";
    case BuyingState::kReadyForPickup:
      return "ready_for_pickup";
    case BuyingState::kCompleted:
      return "completed";
    case BuyingState::kCancelled:
      return "cancelled";
    case BuyingState::kReturnRequested:
      return "return_requested";
    case BuyingState::kReturned:
      return "returned";
    case BuyingState::kReturnCollected:
      return "return_collected";
    case BuyingState::kRefunded:
      return "refunded";
    case BuyingState::kPickupExpired:
      return "pickup_expired";
    case BuyingState::kRestocked:
      return "restocked";
  }
  return "unknown";
}

std::string_view to_string(BuyingEvent e) {
  switch (e) {
    case BuyingEvent::kPaymentSucceeded:
      return "payment_succeeded";
    case BuyingEvent::kPaymentDeclined:
      return "payment_declined";
    case BuyingEvent::kPack:
      return "pack";
    case BuyingEvent::kDispatch:
      return "dispatch";
    case BuyingEvent::kLoad:
      return "load";
    case BuyingEvent::kPickup:
      return "pickup";
    case BuyingEvent::kCancel:
      return "cancel";
    case BuyingEvent::kRequestReturn:
      return "request_return";
    case BuyingEvent::kReturnExpire:
      return "return_expire";
    case BuyingEvent::kReturnDeposit:
      return "return_deposit";
    case BuyingEvent::kReturnCollect:
      return "return_collect";
    case BuyingEvent::kRefund:
      return "refund";
    case BuyingEvent::kPickupExpire:
      return "pickup_expire";
    case BuyingEvent::kNoShowRefund:
      return "no_show_refund";
    case BuyingEvent::kNoShowRestock:
      return "no_show_restock";
    case BuyingEvent::kStaffRefund:
      return "staff_refund";
    case BuyingEvent::kResendPickupCode:
      return "resend_pickup_code";
  }
  return "unknown";
}

std::optional<BuyingState> buying_state_from_string(std::string_view s) {
  return parse_enum(s, kBuyingStates);
}
std::span<const BuyingState> all_buying_states() { return kBuyingStates; }
std::span<const BuyingEvent> all_buying_events() { return kBuyingEvents; }

Transition<BuyingState> next(BuyingState from, BuyingEvent event) {
  using S = BuyingState;
  using E = BuyingEvent;
  switch (event) {
    case E::kPaymentSucceeded:
      if (from == S::kPaymentPending) return S::kPaid;
      break;
    case E::kPaymentDeclined:
      if (from == S::kPaymentPending) return S::kPaymentFailed;
      break;
    case E::kPack:
      if (from == S::kPaid) return S::kPacked;
      break;
    case E::kDispatch:
      if (from == S::kPacked) return S::kShipping;
      break;
    case E::kLoad:
      if (from == S::kShipping) return S::kReadyForPickup;
      break;
    case E::kPickup:
      // A pickup the box journaled before the window ended but reported late (it was offline)
      // wins over the expiry: the customer has the parcel.
      if (from == S::kReadyForPickup || from == S::kPickupExpired) return S::kCompleted;
      break;
    case E::kCancel:
      // Until a courier has the parcel: afterwards the customer picks up and returns instead.
      if (from == S::kPaid || from == S::kPacked) return S::kCancelled;
      break;
    case E::kRequestReturn:
      if (from == S::kCompleted) return S::kReturnRequested;
      break;
    case E::kReturnExpire:
      if (from == S::kReturnRequested) return S::kCompleted;
      break;
    case E::kReturnDeposit:
      if (from == S::kReturnRequested) return S::kReturned;
      break;
    case E::kReturnCollect:
      if (from == S::kReturned) return S::kReturnCollected;
      break;
    case E::kRefund:
      if (from == S::kReturnCollected) return S::kRefunded;
      break;
    case E::kPickupExpire:
      if (from == S::kReadyForPickup) return S::kPickupExpired;
      break;
    case E::kNoShowRefund:
      if (from == S::kPickupExpired) return S::kRefunded;
      break;
    case E::kNoShowRestock:
      if (from == S::kPickupExpired) return S::kRestocked;
      break;
    case E::kStaffRefund:
      // Whatever happened after the charge, money may go back (the store checks how much is left
      // to refund); before the charge there is nothing to give back.
      if (from != S::kPaymentPending && from != S::kPaymentFailed) return from;
      break;
    case E::kResendPickupCode:
      if (from == S::kReadyForPickup) return from;
      break;
  }
  return refuse<S>("buying", from, event);
}

// ---- internal orders --------------------------------------------------------------------------

std::string_view to_string(TaskKind k) {
  switch (k) {
    case TaskKind::kChecking:
      return "checking";
    case TaskKind::kPacking:
      return "packing";
    case TaskKind::kCollecting:
      return "collecting";
    case TaskKind::kShipping:
      return "shipping";
  }
  return "unknown";
}

std::string_view to_string(TaskState s) {
  switch (s) {
    case TaskState::kOpen:
      return "open";
    case TaskState::kAssigned:
      return "assigned";
    case TaskState::kInProgress:
      return "in_progress";
    case TaskState::kDone:
      return "done";
    case TaskState::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

std::string_view to_string(TaskEvent e) {
  switch (e) {
    case TaskEvent::kAssign:
      return "assign";
    case TaskEvent::kProgress:
      return "progress";
    case TaskEvent::kComplete:
      return "complete";
    case TaskEvent::kCancel:
      return "cancel";
    case TaskEvent::kReassign:
      return "reassign";
    case TaskEvent::kManagerCancel:
      return "manager_cancel";
    case TaskEvent::kForceComplete:
      return "force_complete";
  }
  return "unknown";
}

std::optional<TaskKind> task_kind_from_string(std::string_view s) {
  return parse_enum(s, kTaskKinds);
}
std::optional<TaskState> task_state_from_string(std::string_view s) {
  return parse_enum(s, kTaskStates);
}
std::span<const TaskKind> all_task_kinds() { return kTaskKinds; }
std::span<const TaskState> all_task_states() { return kTaskStates; }
std::span<const TaskEvent> all_task_events() { return kTaskEvents; }

Transition<TaskState> next(TaskKind kind, TaskState from, TaskEvent event) {
  using S = TaskState;
  using E = TaskEvent;
  using K = TaskKind;
  // Checking and collecting happen piece by piece (items graded, compartments emptied), so they
  // have an in_progress state; packing and shipping are one step each.
  const bool piecewise = kind == K::kChecking || kind == K::kCollecting;
  switch (event) {
    case E::kAssign:
      if (from == S::kOpen || from == S::kAssigned) return S::kAssigned;
      // A checker may hand over half-graded work; a courier who has emptied compartments holds
      // the clothes and must finish the tour.
      if (from == S::kInProgress && kind == K::kChecking) return S::kInProgress;
      break;
    case E::kProgress:
      if (piecewise && (from == S::kAssigned || from == S::kInProgress)) return S::kInProgress;
      break;
    case E::kComplete:
      if (from == S::kAssigned) return S::kDone;
      if (piecewise && from == S::kInProgress) return S::kDone;
      break;
    case E::kCancel:
      if (from == S::kOpen) return S::kCancelled;
      // An assigned shipping order means a courier has the parcel (the buying order is
      // "shipping"): it is delivered, not cancelled.
      if (from == S::kAssigned && kind != K::kShipping) return S::kCancelled;
      break;
    case E::kReassign:
      // A manager hands work someone already holds to someone else, also half-done work of any
      // kind (the new courier gets a token for the compartments still to empty). Open orders are
      // assigned, not reassigned.
      if (from == S::kAssigned || (piecewise && from == S::kInProgress)) return from;
      break;
    case E::kManagerCancel:
      // Any order not yet finished; what it did not do goes back to be done again.
      if (from == S::kOpen || from == S::kAssigned || (piecewise && from == S::kInProgress)) {
        return S::kCancelled;
      }
      break;
    case E::kForceComplete:
      // Only work somebody holds: an open order has done nothing to finish.
      if (from == S::kAssigned || (piecewise && from == S::kInProgress)) return S::kDone;
      break;
  }
  return refuse<S>(to_string(kind), from, event);
}

// ---- donor returns ----------------------------------------------------------------------------

namespace {
constexpr std::array kDonorReturnStates = {DonorReturnState::kRequested,
                                           DonorReturnState::kApproved, DonorReturnState::kRefused};
constexpr std::array kDonorReturnEvents = {DonorReturnEvent::kApprove, DonorReturnEvent::kRefuse};
}  // namespace

std::string_view to_string(DonorReturnState s) {
  switch (s) {
    case DonorReturnState::kRequested:
      return "requested";
    case DonorReturnState::kApproved:
      return "approved";
    case DonorReturnState::kRefused:
      return "refused";
  }
  return "unknown";
}

std::string_view to_string(DonorReturnEvent e) {
  switch (e) {
    case DonorReturnEvent::kApprove:
      return "approve";
    case DonorReturnEvent::kRefuse:
      return "refuse";
  }
  return "unknown";
}

std::optional<DonorReturnState> donor_return_state_from_string(std::string_view s) {
  return parse_enum(s, kDonorReturnStates);
}
std::span<const DonorReturnState> all_donor_return_states() { return kDonorReturnStates; }
std::span<const DonorReturnEvent> all_donor_return_events() { return kDonorReturnEvents; }

Transition<DonorReturnState> next(DonorReturnState from, DonorReturnEvent event) {
  using S = DonorReturnState;
  using E = DonorReturnEvent;
  // A decision is taken once: after it, the item's delivery is the buying order's machine.
  switch (event) {
    case E::kApprove:
      if (from == S::kRequested) return S::kApproved;
      break;
    case E::kRefuse:
      if (from == S::kRequested) return S::kRefused;
      break;
  }
  return refuse<S>("donor_return", from, event);
}

}  // namespace reclothes::controller::domain
