#include "reclothes/firmware/mailbox.h"

#include <utility>

namespace reclothes::firmware {

bool Mailbox::push_inbound(Inbound item) {
  std::lock_guard lock(mu_);
  if (inbound_.size() >= kMaxInbound) return false;
  inbound_.push_back(std::move(item));
  return true;
}

std::optional<Inbound> Mailbox::pop_inbound() {
  std::lock_guard lock(mu_);
  if (inbound_.empty()) return std::nullopt;
  Inbound item = std::move(inbound_.front());
  inbound_.pop_front();
  return item;
}

bool Mailbox::push_result(msg::CommandResult result) {
  {
    std::lock_guard lock(mu_);
    if (results_.size() >= kMaxResults) return false;
    results_.push_back(std::move(result));
  }
  results_cv_.notify_all();
  return true;
}

std::optional<msg::CommandResult> Mailbox::pop_result() {
  std::lock_guard lock(mu_);
  if (results_.empty()) return std::nullopt;
  msg::CommandResult result = std::move(results_.front());
  results_.pop_front();
  return result;
}

bool Mailbox::wait_for_result(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return results_cv_.wait_for(lock, timeout, [&] { return !results_.empty(); });
}

void Mailbox::set_state(msg::State state) {
  std::lock_guard lock(mu_);
  state_ = std::move(state);
}

std::optional<msg::State> Mailbox::state() const {
  std::lock_guard lock(mu_);
  return state_;
}

}  // namespace reclothes::firmware
