// Every (state, event) pair of every order machine, against tables written out by hand here:
// what is not in a table must be refused with a clear message.
#include "reclothes/controller/domain/state_machines.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <utility>

namespace reclothes::controller::domain {
namespace {

using Table = std::map<std::pair<std::string, std::string>, std::string>;

template <typename S, typename E, typename Next>
void check_machine(const std::string& kind, std::span<const S> states, std::span<const E> events,
                   const Table& allowed, Next next_fn) {
  int legal = 0;
  for (auto s : states) {
    for (auto e : events) {
      const auto key = std::make_pair(std::string(to_string(s)), std::string(to_string(e)));
      const auto result = next_fn(s, e);
      const auto it = allowed.find(key);
      if (it == allowed.end()) {
        ASSERT_FALSE(result.ok()) << kind << ": " << key.first << " + " << key.second
                                  << " should be refused, got " << to_string(result.value());
        EXPECT_EQ(result.error().from, key.first);
        EXPECT_EQ(result.error().event, key.second);
        EXPECT_EQ(result.error().order_kind, kind);
        EXPECT_EQ(result.error().message(),
                  "cannot " + key.second + " a " + kind + " order that is " + key.first);
      } else {
        ++legal;
        ASSERT_TRUE(result.ok()) << kind << ": " << key.first << " + " << key.second << ": "
                                 << result.error().message();
        EXPECT_EQ(to_string(result.value()), it->second)
            << kind << ": " << key.first << " + " << key.second;
      }
    }
  }
  // Every row of the table names a real state and event.
  EXPECT_EQ(legal, static_cast<int>(allowed.size())) << kind;
}

TEST(DonationMachine, EveryStateAndEvent) {
  const Table allowed = {
      {{"reserved", "deposit"}, "deposited"},
      {{"reserved", "cancel"}, "cancelled"},
      {{"reserved", "expire"}, "expired"},
      {{"deposited", "collect"}, "collected"},
      {{"collected", "complete"}, "completed"},
      // A late deposit: the box accepted the token before it learned of the cancel or expiry.
      {{"cancelled", "deposit"}, "deposited"},
      {{"expired", "deposit"}, "deposited"},
  };
  check_machine<DonationState, DonationEvent>(
      "donating", all_donation_states(), all_donation_events(), allowed,
      [](DonationState s, DonationEvent e) { return next(s, e); });
}

TEST(BuyingMachine, EveryStateAndEvent) {
  const Table allowed = {
      {{"payment_pending", "payment_succeeded"}, "paid"},
      {{"payment_pending", "payment_declined"}, "payment_failed"},
      {{"paid", "pack"}, "packed"},
      {{"packed", "dispatch"}, "shipping"},
      {{"shipping", "load"}, "ready_for_pickup"},
      {{"ready_for_pickup", "pickup"}, "completed"},
      {{"paid", "cancel"}, "cancelled"},
      {{"packed", "cancel"}, "cancelled"},
      {{"completed", "request_return"}, "return_requested"},
      {{"return_requested", "return_expire"}, "completed"},
      {{"return_requested", "return_deposit"}, "returned"},
      {{"returned", "return_collect"}, "return_collected"},
      {{"return_collected", "refund"}, "refunded"},
      // No-shows (issue 18): the window ends, a courier collects the parcel back, the policy
      // decides; a pickup the box journaled before the end but reported late still completes.
      {{"ready_for_pickup", "pickup_expire"}, "pickup_expired"},
      {{"pickup_expired", "pickup"}, "completed"},
      {{"pickup_expired", "no_show_refund"}, "refunded"},
      {{"pickup_expired", "no_show_restock"}, "restocked"},
      // Customer service: money back once something was charged; the order stays where it is.
      {{"paid", "staff_refund"}, "paid"},
      {{"packed", "staff_refund"}, "packed"},
      {{"shipping", "staff_refund"}, "shipping"},
      {{"ready_for_pickup", "staff_refund"}, "ready_for_pickup"},
      {{"completed", "staff_refund"}, "completed"},
      {{"cancelled", "staff_refund"}, "cancelled"},
      {{"return_requested", "staff_refund"}, "return_requested"},
      {{"returned", "staff_refund"}, "returned"},
      {{"return_collected", "staff_refund"}, "return_collected"},
      {{"refunded", "staff_refund"}, "refunded"},
      {{"pickup_expired", "staff_refund"}, "pickup_expired"},
      {{"restocked", "staff_refund"}, "restocked"},
      {{"ready_for_pickup", "resend_pickup_code"}, "ready_for_pickup"},
  };
  check_machine<BuyingState, BuyingEvent>("buying", all_buying_states(), all_buying_events(),
                                          allowed,
                                          [](BuyingState s, BuyingEvent e) { return next(s, e); });
}

TEST(TaskMachines, CheckingEveryStateAndEvent) {
  const Table allowed = {
      {{"open", "assign"}, "assigned"},
      {{"assigned", "assign"}, "assigned"},
      {{"in_progress", "assign"}, "in_progress"},
      {{"assigned", "progress"}, "in_progress"},
      {{"in_progress", "progress"}, "in_progress"},
      {{"assigned", "complete"}, "done"},
      {{"in_progress", "complete"}, "done"},
      {{"open", "cancel"}, "cancelled"},
      {{"assigned", "cancel"}, "cancelled"},
      // A manager's decisions about stuck work (issue 18).
      {{"assigned", "reassign"}, "assigned"},
      {{"in_progress", "reassign"}, "in_progress"},
      {{"open", "manager_cancel"}, "cancelled"},
      {{"assigned", "manager_cancel"}, "cancelled"},
      {{"in_progress", "manager_cancel"}, "cancelled"},
      {{"assigned", "force_complete"}, "done"},
      {{"in_progress", "force_complete"}, "done"},
  };
  check_machine<TaskState, TaskEvent>(
      "checking", all_task_states(), all_task_events(), allowed,
      [](TaskState s, TaskEvent e) { return next(TaskKind::kChecking, s, e); });
}

TEST(TaskMachines, CollectingEveryStateAndEvent) {
  const Table allowed = {
      {{"open", "assign"}, "assigned"},
      {{"assigned", "assign"}, "assigned"},
      // No plain assignment once compartments are emptied (that courier holds the clothes); a
      // manager may reassign the rest (below).
      {{"assigned", "progress"}, "in_progress"},
      {{"in_progress", "progress"}, "in_progress"},
      {{"assigned", "complete"}, "done"},
      {{"in_progress", "complete"}, "done"},
      {{"open", "cancel"}, "cancelled"},
      {{"assigned", "cancel"}, "cancelled"},
      // A manager's decisions about stuck work (issue 18).
      {{"assigned", "reassign"}, "assigned"},
      {{"in_progress", "reassign"}, "in_progress"},
      {{"open", "manager_cancel"}, "cancelled"},
      {{"assigned", "manager_cancel"}, "cancelled"},
      {{"in_progress", "manager_cancel"}, "cancelled"},
      {{"assigned", "force_complete"}, "done"},
      {{"in_progress", "force_complete"}, "done"},
  };
  check_machine<TaskState, TaskEvent>(
      "collecting", all_task_states(), all_task_events(), allowed,
      [](TaskState s, TaskEvent e) { return next(TaskKind::kCollecting, s, e); });
}

TEST(TaskMachines, PackingEveryStateAndEvent) {
  const Table allowed = {
      {{"open", "assign"}, "assigned"},
      {{"assigned", "assign"}, "assigned"},
      {{"assigned", "complete"}, "done"},
      {{"open", "cancel"}, "cancelled"},
      {{"assigned", "cancel"}, "cancelled"},
      // A manager's decisions about stuck work (issue 18).
      {{"assigned", "reassign"}, "assigned"},
      {{"open", "manager_cancel"}, "cancelled"},
      {{"assigned", "manager_cancel"}, "cancelled"},
      {{"assigned", "force_complete"}, "done"},
  };
  check_machine<TaskState, TaskEvent>(
      "packing", all_task_states(), all_task_events(), allowed,
      [](TaskState s, TaskEvent e) { return next(TaskKind::kPacking, s, e); });
}

TEST(TaskMachines, ShippingEveryStateAndEvent) {
  const Table allowed = {
      {{"open", "assign"}, "assigned"},
      {{"assigned", "assign"}, "assigned"},
      {{"assigned", "complete"}, "done"},
      // Once a courier has the parcel it is delivered, not cancelled.
      {{"open", "cancel"}, "cancelled"},
      // A manager's decisions about stuck work (issue 18).
      {{"assigned", "reassign"}, "assigned"},
      {{"open", "manager_cancel"}, "cancelled"},
      {{"assigned", "manager_cancel"}, "cancelled"},
      {{"assigned", "force_complete"}, "done"},
  };
  check_machine<TaskState, TaskEvent>(
      "shipping", all_task_states(), all_task_events(), allowed,
      [](TaskState s, TaskEvent e) { return next(TaskKind::kShipping, s, e); });
}

TEST(StateNames, RoundTrip) {
  for (auto s : all_donation_states()) EXPECT_EQ(donation_state_from_string(to_string(s)), s);
  for (auto s : all_buying_states()) EXPECT_EQ(buying_state_from_string(to_string(s)), s);
  for (auto s : all_task_states()) EXPECT_EQ(task_state_from_string(to_string(s)), s);
  for (auto k : all_task_kinds()) EXPECT_EQ(task_kind_from_string(to_string(k)), k);
  EXPECT_FALSE(donation_state_from_string("Reserved").has_value());
  EXPECT_FALSE(buying_state_from_string("").has_value());
  EXPECT_FALSE(task_kind_from_string("returns").has_value());
}

TEST(DonorReturnMachine, EveryStateAndEvent) {
  // Staff decide once; an approved request is delivered by its buying order (kind donor_return).
  const Table allowed = {
      {{"requested", "approve"}, "approved"},
      {{"requested", "refuse"}, "refused"},
  };
  check_machine<DonorReturnState, DonorReturnEvent>(
      "donor_return", all_donor_return_states(), all_donor_return_events(), allowed,
      [](DonorReturnState s, DonorReturnEvent e) { return next(s, e); });
  for (auto s : all_donor_return_states()) {
    EXPECT_EQ(donor_return_state_from_string(to_string(s)), s);
  }
  EXPECT_FALSE(donor_return_state_from_string("Approved").has_value());
  EXPECT_EQ(next(DonorReturnState::kApproved, DonorReturnEvent::kRefuse).error().message(),
            "cannot refuse a donor_return order that is approved");
}

}  // namespace
}  // namespace reclothes::controller::domain
