// The notifications' store: the customer's list and channels, and the worker's delivery passes.
#include "notification_store.h"

#include <prometheus/counter.h>

#include <algorithm>

#include "reclothes/controller/domain/alarms.h"
#include "reclothes/controller/domain/notification_text.h"
#include "shared.h"

namespace reclothes::controller::domain {
namespace {

// Staff get mail only for alarms (rules/alarms.h, alarm_notification_kinds): task notifications
// stay on the log and webhook channels.
std::string staff_mail_sql() {
  std::string kinds;
  for (const auto k : alarm_notification_kinds()) {
    kinds += (kinds.empty() ? "'" : ", '") + std::string(k) + "'";
  }
  return "(n.recipient_kind = 'staff' AND n.kind IN (" + kinds + "))";
}

// A code the customer asked for (password reset, email change; or any payload naming the
// address to mail): it goes by mail whatever the customer's email switch says.
constexpr const char* kAskedForByMail =
    "(n.payload ? 'to_email' OR n.kind IN ('password_reset', 'email_change'))";

const std::string kNotificationColumns =
    "id, kind, payload::text, " + ms_of("created_at") + ", " + ms_of("read_at");

nlohmann::json notification_item(const pqxx::row& r) {
  auto payload = nlohmann::json::parse(r[2].c_str(), nullptr, false);
  if (payload.is_discarded()) payload = nlohmann::json::object();
  const auto kind = r[1].as<std::string>();
  auto shown = render_in_app(kind, std::move(payload));
  return {{"id", r[0].as<std::int64_t>()},
          {"kind", kind},
          {"created_at", ts(r[3].as<std::int64_t>())},
          {"read_at", nullable_ts(r[4])},
          {"title", std::move(shown.text.title)},
          {"text", std::move(shown.text.text)},
          {"payload", std::move(shown.payload)}};
}

// The customer's own notification, or why not.
StoreStatus check_notification_owner(pqxx::work& tx, std::int64_t customer_id, std::int64_t id) {
  const auto rows =
      tx.exec_params("SELECT recipient_kind, recipient_id FROM notifications WHERE id = $1", id);
  if (rows.empty()) return DomainError::not_found("notification");
  if (rows[0][0].as<std::string>() != "customer" || rows[0][1].as<std::int64_t>() != customer_id) {
    return DomainError::not_owner("notification", id);
  }
  return store_ok();
}

}  // namespace

// ---- the customer's list
// --------------------------------------------------------------------------

StoreResult<nlohmann::json> list_notifications(pqxx::work& tx, const NotificationQuery& q) {
  return guarded([&]() -> StoreResult<nlohmann::json> {
    // $2: NULL all, true read only, false unread only.
    const std::string where =
        " FROM notifications WHERE recipient_kind = 'customer' AND recipient_id = $1 AND ($2::bool "
        "IS NULL OR (read_at IS NOT NULL) = $2::bool)";
    nlohmann::json items = nlohmann::json::array();
    for (const auto& r : tx.exec_params(
             "SELECT " + kNotificationColumns + where + " ORDER BY id DESC LIMIT $3 OFFSET $4",
             q.customer_id, q.read, q.limit, q.offset)) {
      items.push_back(notification_item(r));
    }
    const auto total =
        tx.exec_params1("SELECT count(*)" + where, q.customer_id, q.read)[0].as<std::int64_t>();
    const auto unread =
        tx.exec_params1(
              "SELECT count(*) FROM notifications WHERE recipient_kind = 'customer' AND "
              "recipient_id = $1 AND read_at IS NULL",
              q.customer_id)[0]
            .as<std::int64_t>();
    return nlohmann::json{{"items", std::move(items)},
                          {"total", total},
                          {"unread", unread},
                          {"limit", q.limit},
                          {"offset", q.offset}};
  });
}

StoreResult<nlohmann::json> mark_notification_read(pqxx::work& tx, std::int64_t customer_id,
                                                   std::int64_t id, std::int64_t now_ms) {
  return guarded([&]() -> StoreResult<nlohmann::json> {
    RC_STORE_TRY(check_notification_owner(tx, customer_id, id));
    tx.exec_params(
        "UPDATE notifications SET read_at = $2::timestamptz WHERE id = $1 AND read_at IS NULL", id,
        ts(now_ms));
    return notification_item(tx.exec_params1(
        "SELECT " + kNotificationColumns + " FROM notifications WHERE id = $1", id));
  });
}

StoreResult<nlohmann::json> mark_all_notifications_read(pqxx::work& tx, std::int64_t customer_id,
                                                        std::int64_t now_ms) {
  return guarded([&]() -> StoreResult<nlohmann::json> {
    const auto r = tx.exec_params(
        "UPDATE notifications SET read_at = $2::timestamptz WHERE recipient_kind = 'customer' AND "
        "recipient_id = $1 AND read_at IS NULL",
        customer_id, ts(now_ms));
    return nlohmann::json{{"marked", r.affected_rows()}};
  });
}

// ---- the customer's channels
// ------------------------------------------------------------------------

StoreResult<NotificationPreferences> get_notification_preferences(pqxx::work& tx,
                                                                  std::int64_t customer_id) {
  return guarded([&]() -> StoreResult<NotificationPreferences> {
    NotificationPreferences p;
    const auto rows = tx.exec_params(
        "SELECT email, webhook FROM notification_preferences WHERE customer_id = $1", customer_id);
    if (!rows.empty()) {
      p.email = rows[0][0].as<bool>();
      p.webhook = rows[0][1].as<bool>();
    }
    return p;
  });
}

StoreResult<NotificationPreferences> set_notification_preferences(pqxx::work& tx,
                                                                  std::int64_t customer_id,
                                                                  const NotificationPreferences& p,
                                                                  std::int64_t now_ms) {
  return guarded([&]() -> StoreResult<NotificationPreferences> {
    tx.exec_params(
        "INSERT INTO notification_preferences (customer_id, email, webhook, updated_at) VALUES "
        "($1, $2, $3, $4::timestamptz) ON CONFLICT (customer_id) DO UPDATE SET email = $2, "
        "webhook = $3, updated_at = $4::timestamptz",
        customer_id, p.email, p.webhook, ts(now_ms));
    return p;
  });
}

// ---- the worker's passes
// ----------------------------------------------------------------------------

int fan_out_notifications(pqxx::work& tx, const std::vector<std::string>& channels,
                          std::int64_t now_ms) {
  const auto rows = tx.exec_params(
      "SELECT n.id, n.recipient_kind, " + std::string(kAskedForByMail) +
          ", c.erased_at IS NOT NULL, "
          "COALESCE(p.email, true), COALESCE(p.webhook, true), " +
          staff_mail_sql() +
          " FROM notifications n "
          "LEFT JOIN customers c ON n.recipient_kind = 'customer' AND c.id = n.recipient_id "
          "LEFT JOIN notification_preferences p ON n.recipient_kind = 'customer' AND "
          "p.customer_id = n.recipient_id "
          "WHERE n.fanned_out_at IS NULL AND n.next_attempt_at <= $1::timestamptz "
          "ORDER BY n.id LIMIT 100 FOR UPDATE OF n SKIP LOCKED",
      ts(now_ms));
  for (const auto& r : rows) {
    const auto id = r[0].as<std::int64_t>();
    const bool customer = r[1].as<std::string>() == "customer";
    const bool asked_for = r[2].as<bool>();
    const bool erased = !r[3].is_null() && r[3].as<bool>();
    const bool email_on = r[4].as<bool>();
    const bool webhook_on = r[5].as<bool>();
    const bool staff_mail = r[6].as<bool>();
    std::vector<std::string> take;
    if (!erased) {
      for (const auto& ch : channels) {
        if (ch == "smtp" && (customer ? !email_on && !asked_for : !staff_mail)) continue;
        if (ch == "webhook" && customer && !webhook_on) continue;
        take.push_back(ch);
      }
    }
    for (const auto& ch : take) {
      tx.exec_params(
          "INSERT INTO notification_deliveries (notification_id, channel, next_attempt_at) VALUES "
          "($1, $2, $3::timestamptz) ON CONFLICT DO NOTHING",
          id, ch, ts(now_ms));
    }
    tx.exec_params(
        "UPDATE notifications SET fanned_out_at = $2::timestamptz, sent_at = CASE WHEN $3 THEN "
        "$2::timestamptz END WHERE id = $1",
        id, ts(now_ms), take.empty());
  }
  return static_cast<int>(rows.size());
}

void deliver_channel(DomainContext& d, pqxx::work& tx, const NotificationChannel& channel,
                     std::int64_t now_ms, int* sent, int* failed,
                     std::vector<std::int64_t>* touched) {
  const auto rows = tx.exec_params(
      "SELECT n.id, n.recipient_kind, n.recipient_id, n.kind, n.payload::text, " +
          ms_of("n.created_at") +
          ", dl.attempts, COALESCE(c.email, st.email), COALESCE(c.display_name, "
          "st.display_name), c.erased_at IS NOT NULL, "
          "(dl.channel = 'smtp' AND NOT COALESCE(p.email, true) AND NOT " +
          std::string(kAskedForByMail) +
          ") "
          "OR (dl.channel = 'webhook' AND NOT COALESCE(p.webhook, true)) "
          "FROM notification_deliveries dl JOIN notifications n ON n.id = dl.notification_id "
          "LEFT JOIN customers c ON n.recipient_kind = 'customer' AND c.id = n.recipient_id "
          "LEFT JOIN staff st ON n.recipient_kind = 'staff' AND st.id = n.recipient_id "
          "LEFT JOIN notification_preferences p ON n.recipient_kind = 'customer' AND "
          "p.customer_id = n.recipient_id "
          "WHERE dl.channel = $1 AND dl.sent_at IS NULL AND dl.next_attempt_at <= $2::timestamptz "
          "ORDER BY dl.next_attempt_at, dl.notification_id LIMIT 20 FOR UPDATE OF dl SKIP LOCKED",
      channel.name, ts(now_ms));
  // reclothes_notification_deliveries_total{channel, outcome}: the registry merges the family when
  // it exists, so every worker of the process counts into the same series.
  auto& deliveries = prometheus::BuildCounter()
                         .Name("reclothes_notification_deliveries_total")
                         .Help("Notification deliveries by channel and outcome (sent, failed)")
                         .Register(d.s.metrics.registry());
  for (const auto& r : rows) {
    Notification n;
    n.id = r[0].as<std::int64_t>();
    n.recipient_kind = r[1].as<std::string>();
    n.recipient_id = r[2].as<std::int64_t>();
    n.kind = r[3].as<std::string>();
    n.payload = nlohmann::json::parse(r[4].c_str(), nullptr, false);
    n.created_ms = r[5].as<std::int64_t>();
    const auto attempts = r[6].as<int>() + 1;
    touched->push_back(n.id);
    if (!r[7].is_null()) n.recipient_email = r[7].as<std::string>();
    if (!r[8].is_null()) n.recipient_name = r[8].as<std::string>();
    const bool erased = !r[9].is_null() && r[9].as<bool>();
    if (erased || r[10].as<bool>()) {
      // Erased, or the channel switched off, after the fan-out: the row is closed unsent.
      tx.exec_params(
          "UPDATE notification_deliveries SET sent_at = $3::timestamptz, last_error = $4 WHERE "
          "notification_id = $1 AND channel = $2",
          n.id, channel.name, ts(now_ms),
          erased ? "not sent: the recipient was erased"
                 : "not sent: the recipient switched this channel off");
      continue;
    }
    const auto st = channel.sender->send(n);
    deliveries.Add({{"channel", channel.name}, {"outcome", st.ok() ? "sent" : "failed"}})
        .Increment();
    if (st.ok()) {
      ++*sent;
      tx.exec_params(
          "UPDATE notification_deliveries SET sent_at = $3::timestamptz, attempts = $4, "
          "last_error = NULL WHERE notification_id = $1 AND channel = $2",
          n.id, channel.name, ts(now_ms), attempts);
    } else {
      ++*failed;
      const auto wait = std::min<std::int64_t>(3600, d.config.notifications.retry_interval.count()
                                                         << std::min(attempts - 1, 7));
      tx.exec_params(
          "UPDATE notification_deliveries SET attempts = $3, last_error = $4, next_attempt_at = "
          "$5::timestamptz + $6::bigint * interval '1 second' WHERE notification_id = $1 AND "
          "channel = $2",
          n.id, channel.name, attempts, st.error().message, ts(now_ms), wait);
      d.s.log.warn("notification delivery failed", {{"id", n.id},
                                                    {"channel", channel.name},
                                                    {"attempts", attempts},
                                                    {"error", st.error().message}});
    }
  }
}

void settle_notifications(pqxx::work& tx, const std::vector<std::int64_t>& ids,
                          std::int64_t now_ms) {
  if (ids.empty()) return;
  std::string array = "{";
  for (std::size_t i = 0; i < ids.size(); ++i) {
    array += (i == 0 ? "" : ",") + std::to_string(ids[i]);
  }
  array += "}";
  // SKIP LOCKED: a replica settling (or fanning out) the same rows is left alone, never waited
  // for, so two replicas cannot deadlock here.
  tx.exec_params(
      "UPDATE notifications n SET attempts = s.attempts, last_error = s.last_error, sent_at = "
      "CASE WHEN s.unsent = 0 THEN $1::timestamptz END FROM (SELECT dl.notification_id, "
      "max(dl.attempts) AS attempts, count(*) FILTER (WHERE dl.sent_at IS NULL) AS unsent, "
      "(array_agg(dl.channel || ': ' || dl.last_error ORDER BY dl.channel) FILTER (WHERE "
      "dl.sent_at IS NULL AND dl.last_error IS NOT NULL))[1] AS last_error FROM "
      "notification_deliveries dl WHERE dl.notification_id IN (SELECT id FROM notifications WHERE "
      "id = ANY($2::bigint[]) AND sent_at IS NULL ORDER BY id FOR UPDATE SKIP LOCKED) GROUP BY "
      "dl.notification_id) s WHERE n.id = s.notification_id",
      ts(now_ms), array);
}

}  // namespace reclothes::controller::domain
