#include "reclothes/controller/domain/box_open.h"

#include <algorithm>

namespace reclothes::controller::domain {

AccessChoice choose_access(std::span<const LiveAccess> live, std::optional<std::int64_t> order_id) {
  AccessChoice c;
  if (order_id) {
    const auto it = std::find_if(live.begin(), live.end(),
                                 [&](const LiveAccess& a) { return a.order_id == *order_id; });
    if (it == live.end()) {
      c.problem = live.empty() ? AccessChoiceProblem::kNothing : AccessChoiceProblem::kNotAmongThem;
      return c;
    }
    c.problem = AccessChoiceProblem::kNone;
    c.chosen = *it;
    return c;
  }
  if (live.empty()) return c;
  if (live.size() > 1) {
    c.problem = AccessChoiceProblem::kAmbiguous;
    return c;
  }
  c.problem = AccessChoiceProblem::kNone;
  c.chosen = live.front();
  return c;
}

std::string access_command_id(std::string_view token_id, int attempt) {
  return "access-" + std::string(token_id) + "-" + std::to_string(attempt);
}

OpenDecision decide_open(std::span<const PriorOpen> prior, std::string_view token_id,
                         std::int64_t now_ms, std::int64_t pending_ms) {
  OpenDecision d;
  for (const PriorOpen& p : prior) {
    if (p.ok == true) return {OpenStep::kAlreadyOpened, p.command_id, p.code};
  }
  for (const PriorOpen& p : prior) {
    if (!p.ok && now_ms - p.created_ms < pending_ms) return {OpenStep::kPending, p.command_id, ""};
  }
  // A token used or revoked at the box stays so: every later attempt would be refused the same.
  for (const PriorOpen& p : prior) {
    if (p.ok == false && (p.code == "already_used" || p.code == "revoked")) {
      return {OpenStep::kRefused, p.command_id, p.code};
    }
  }
  if (static_cast<int>(prior.size()) >= kMaxOpenAttempts) {
    return {OpenStep::kRefused, "", "too_many_attempts"};
  }
  d.step = OpenStep::kSend;
  d.command_id = access_command_id(token_id, static_cast<int>(prior.size()) + 1);
  return d;
}

}  // namespace reclothes::controller::domain
