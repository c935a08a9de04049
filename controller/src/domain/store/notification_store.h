// The notifications' store: the customer's in-app list (read, mark read), the customer's choice
// of channels, and the worker's delivery passes (fan-out into one delivery row per channel,
// delivery per channel, settling, the pickup reminder). docs/orders.md, "Notifications".
//
// The customer functions take the caller's transaction and plain values and return a
// DomainError instead of throwing (guarded(), outcome.h). The worker passes run inside the
// worker's transactions, which are their edge.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "context.h"
#include "outcome.h"
#include "reclothes/controller/domain/worker.h"

namespace reclothes::controller::domain {

// ---- the customer's list
// --------------------------------------------------------------------------

struct NotificationQuery {
  std::int64_t customer_id = 0;
  std::optional<bool> read;  // true: read only, false: unread only, nullopt: all
  std::int64_t limit = 20;
  std::int64_t offset = 0;
};

// One page of the customer's notifications, newest first: {items, total, unread, limit, offset};
// each item {id, kind, created_at, read_at, title, text, payload}.
StoreResult<nlohmann::json> list_notifications(pqxx::work& tx, const NotificationQuery& q);

// Marks one notification read (the first time only; read_at stays). Returns its item. Refusals:
// not_found "notification", not_owner (another customer's or a staff notification).
StoreResult<nlohmann::json> mark_notification_read(pqxx::work& tx, std::int64_t customer_id,
                                                   std::int64_t id, std::int64_t now_ms);
// Marks every unread notification of the customer read: {marked: n}.
StoreResult<nlohmann::json> mark_all_notifications_read(pqxx::work& tx, std::int64_t customer_id,
                                                        std::int64_t now_ms);

// ---- the customer's channels
// ------------------------------------------------------------------------

struct NotificationPreferences {
  bool email = true;
  bool webhook = true;
};
StoreResult<NotificationPreferences> get_notification_preferences(pqxx::work& tx,
                                                                  std::int64_t customer_id);
StoreResult<NotificationPreferences> set_notification_preferences(pqxx::work& tx,
                                                                  std::int64_t customer_id,
                                                                  const NotificationPreferences& p,
                                                                  std::int64_t now_ms);

// ---- the worker's passes
// ----------------------------------------------------------------------------

// Makes the delivery rows of new notifications: one per channel in `channels` that the recipient
// takes (customers: smtp unless email is off, webhook unless off, log always; staff: log and
// webhook, and smtp for the alarms of rules/alarms.h; an erased customer: none). A notification
// without any row is settled at once. Returns how many notifications were fanned out.
int fan_out_notifications(pqxx::work& tx, const std::vector<std::string>& channels,
                          std::int64_t now_ms);

// Delivers due rows of one channel (SKIP LOCKED: replicas never send one row at the same time).
// A failure waits retry_interval, doubling per attempt up to an hour. Adds to sent and failed;
// appends the ids of the notifications it touched to `touched`.
void deliver_channel(DomainContext& d, pqxx::work& tx, const NotificationChannel& channel,
                     std::int64_t now_ms, int* sent, int* failed,
                     std::vector<std::int64_t>* touched);

// Brings notifications.{attempts, last_error, sent_at} of these notifications up to their
// delivery rows: sent_at once every row is sent. Rows another replica holds are skipped.
void settle_notifications(pqxx::work& tx, const std::vector<std::int64_t>& ids,
                          std::int64_t now_ms);

// (The pickup reminders are the no-shows' pass: remind_pickups, noshow_store.h.)

}  // namespace reclothes::controller::domain
