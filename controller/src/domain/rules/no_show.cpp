// No-shows: the policy and the reminder schedule (pure; docs/orders.md, "No-shows").
#include "reclothes/controller/domain/no_show.h"

#include <algorithm>

namespace reclothes::controller::domain {

std::string_view to_string(NoShowPolicy p) {
  switch (p) {
    case NoShowPolicy::kRefund:
      return "refund";
    case NoShowPolicy::kRestock:
      return "restock";
  }
  return "unknown";
}

std::optional<NoShowPolicy> no_show_policy_from_string(std::string_view s) {
  if (s == "refund") return NoShowPolicy::kRefund;
  if (s == "restock") return NoShowPolicy::kRestock;
  return std::nullopt;
}

NoShowPolicy no_show_policy(const DomainConfig::Buying& buying) {
  return no_show_policy_from_string(buying.no_show_policy).value_or(NoShowPolicy::kRefund);
}

BuyingEvent no_show_collect_event(NoShowPolicy p) {
  return p == NoShowPolicy::kRestock ? BuyingEvent::kNoShowRestock : BuyingEvent::kNoShowRefund;
}

std::vector<std::chrono::seconds> pickup_reminder_offsets(const DomainConfig::Buying& buying) {
  std::vector<std::chrono::seconds> out;
  for (auto s : {buying.pickup_reminder, buying.pickup_last_reminder}) {
    if (s.count() > 0) out.push_back(s);
  }
  std::sort(out.begin(), out.end(), std::greater<>());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

int pickup_reminders_due(std::int64_t until_ms, std::int64_t now_ms,
                         const std::vector<std::chrono::seconds>& offsets) {
  if (now_ms >= until_ms) return 0;
  int due = 0;
  for (auto off : offsets) {
    const auto at = until_ms - std::chrono::duration_cast<std::chrono::milliseconds>(off).count();
    if (now_ms >= at) ++due;
  }
  return due;
}

}  // namespace reclothes::controller::domain
