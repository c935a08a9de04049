// The online open's store (POST /v1/boxes/{box_id}/open): the caller's live reservation at a box,
// and the open_access command for it, recorded in box_commands with an id derived from the
// reservation's token (rules/box_open.cpp) so that a retried request never sends a second one
// while the first is on its way or done. The route publishes the command after commit; the store
// never publishes. docs/orders.md, "Opening a box online".
#pragma once

#include <cstdint>
#include <optional>
#include <pqxx/pqxx>
#include <string>

#include "context.h"
#include "outcome.h"
#include "reclothes/common/messages.h"

namespace reclothes::controller::domain {

struct OpenBoxRequest {
  std::int64_t customer_id = 0;
  std::string box_id;
  std::optional<std::int64_t> order_id;  // chooses among several reservations at the box
};

struct OpenBoxOutcome {
  std::string box_id;
  std::int64_t order_id = 0;
  std::string purpose;  // deposit, pickup, return
  int compartment = 0;
  std::string command_id;
  // "sent": a new command, `command` is to be published after commit. "pending": the command of
  // an earlier request is still on its way; nothing new is sent.
  std::string status;
  std::optional<msg::Command> command;
};

// Refusals (DomainError):
//  - not_found "reservation at box <id>": the caller has no live reservation there (also for an
//    unknown or decommissioned box), or order_id names none of them;
//  - not_owner "box" {id: order_id}: order_id names another customer's live reservation at the
//    box (the route audits it and answers exactly as not_found);
//  - conflict reservation_ambiguous {reservations: [{order_id, purpose, compartment}]};
//  - conflict box_offline (the phone's own QR code works offline), box_maintenance;
//  - conflict already_opened {command_id}: this reservation's door was opened (single use);
//  - conflict already_used / revoked {command_id}: the box refused the reservation's token;
//  - conflict too_many_attempts.
StoreResult<OpenBoxOutcome> open_box_for_customer(DomainContext& d, pqxx::work& tx,
                                                  const OpenBoxRequest& req, std::int64_t now_ms);

}  // namespace reclothes::controller::domain
