// No-shows (docs/orders.md, "No-shows"): the pure parts. A parcel waits buying.pickup_window from
// the courier's load; the buyer is reminded before the end; at the end the order is
// pickup_expired and a courier collects the parcel back; the policy decides what follows.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "reclothes/controller/domain/domain_config.h"
#include "reclothes/controller/domain/state_machines.h"

namespace reclothes::controller::domain {

enum class NoShowPolicy { kRefund, kRestock };

std::string_view to_string(NoShowPolicy p);
std::optional<NoShowPolicy> no_show_policy_from_string(std::string_view s);
// The configured policy (buying.no_show_policy; parse_domain_config allows only the two names).
NoShowPolicy no_show_policy(const DomainConfig::Buying& buying);
// The buying order's event when a courier has collected the no-show back under the policy.
BuyingEvent no_show_collect_event(NoShowPolicy p);

// The pickup reminders, as times before the window's end: the non-zero ones of pickup_reminder
// and pickup_last_reminder, longest first. Reminder k (1-based) is the k-th of these.
std::vector<std::chrono::seconds> pickup_reminder_offsets(const DomainConfig::Buying& buying);

// How many of the reminders are due at now_ms for a window ending at until_ms (a reminder is due
// from until - offset on, while the window is still open). The worker sends one notification
// when this grows past what it sent: a worker that was down sends the latest reminder, not a
// burst of stale ones.
int pickup_reminders_due(std::int64_t until_ms, std::int64_t now_ms,
                         const std::vector<std::chrono::seconds>& offsets);

}  // namespace reclothes::controller::domain
