// The domain worker (expiry, scheduled collecting, payment retries, dirty configs, notification
// delivery) and the log notification sender.
#include "reclothes/controller/domain/worker.h"

#include "reclothes/controller/idempotency.h"
#include "shared.h"

namespace reclothes::controller::domain {

Status LogNotificationSender::send(const Notification& n) {
  log_.info("notification", {{"id", n.id},
                             {"kind", n.kind},
                             {"recipient", n.recipient_kind + ":" + std::to_string(n.recipient_id)},
                             {"payload", n.payload.dump()}});
  return ok_status();
}

namespace {

// Delivers due notifications. Rows are claimed with SKIP LOCKED, so two replicas never send the
// same row at the same time; a crash between sending and commit sends it again (at least once).
Result<std::pair<int, int>> deliver_notifications(DomainContext& d, NotificationSender& sender) {
  return d.s.db.with_transaction([&](pqxx::work& tx) -> Result<std::pair<int, int>> {
    const auto now = d.now_ms();
    const auto rows = tx.exec_params(
        "SELECT id, recipient_kind, recipient_id, kind, payload::text, " + ms_of("created_at") +
            ", attempts FROM notifications WHERE sent_at IS NULL AND next_attempt_at <= "
            "$1::timestamptz ORDER BY id LIMIT 20 FOR UPDATE SKIP LOCKED",
        ts(now));
    int sent = 0;
    int failed = 0;
    for (const auto& r : rows) {
      Notification n;
      n.id = r[0].as<std::int64_t>();
      n.recipient_kind = r[1].as<std::string>();
      n.recipient_id = r[2].as<std::int64_t>();
      n.kind = r[3].as<std::string>();
      n.payload = nlohmann::json::parse(r[4].c_str(), nullptr, false);
      n.created_ms = r[5].as<std::int64_t>();
      const auto attempts = r[6].as<int>() + 1;
      const auto st = sender.send(n);
      if (st.ok()) {
        ++sent;
        tx.exec_params(
            "UPDATE notifications SET sent_at = $2::timestamptz, attempts = $3, last_error = "
            "NULL WHERE id = $1",
            n.id, ts(now), attempts);
      } else {
        ++failed;
        const auto wait = std::min<std::int64_t>(3600, d.config.notifications.retry_interval.count()
                                                           << std::min(attempts - 1, 7));
        tx.exec_params(
            "UPDATE notifications SET attempts = $2, last_error = $3, next_attempt_at = "
            "$4::timestamptz + $5::bigint * interval '1 second' WHERE id = $1",
            n.id, attempts, st.error().message, ts(now), wait);
      }
    }
    return std::make_pair(sent, failed);
  });
}

}  // namespace

DomainWorker::DomainWorker(const Services& services, DomainConfig config,
                           std::shared_ptr<PaymentProvider> payments,
                           std::shared_ptr<NotificationSender> sender)
    : d_(std::make_unique<DomainContext>(
          DomainContext{services, std::move(config), std::move(payments), nullptr, nullptr})),
      sender_(std::move(sender)) {}

DomainWorker::~DomainWorker() { stop(); }

Result<DomainWorker::Pass> DomainWorker::run_once() {
  auto& d = *d_;
  Pass pass;
  std::vector<std::string> boxes;
  // Each step in a transaction of its own, so row locks are held briefly and one step's
  // failure does not undo another's work.
  RC_TRY(d.s.db.with_transaction([&](pqxx::work& tx) -> Status {
    const auto now = d.now_ms();
    auto a = expire_donations(d, tx, now, &pass.expired_donations);
    auto b = expire_returns(d, tx, now, &pass.expired_returns);
    boxes.insert(boxes.end(), a.begin(), a.end());
    boxes.insert(boxes.end(), b.begin(), b.end());
    return ok_status();
  }));
  RC_TRY(d.s.db.with_transaction([&](pqxx::work& tx) -> Status {
    pass.expiry_warnings = warn_expiring_donations(d, tx, d.now_ms());
    return ok_status();
  }));
  RC_TRY(d.s.db.with_transaction([&](pqxx::work& tx) -> Status {
    // The schedule: filled compartments wait at most max_wait for a collecting order.
    const auto now = d.now_ms();
    const auto max_wait_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(d.config.collecting.max_wait).count();
    for (const auto& r : tx.exec_params(
             "SELECT DISTINCT box_id FROM compartment_holds WHERE phase = 'filled' AND purpose IN "
             "('donation', 'return') AND collecting_order_id IS NULL AND filled_at <= "
             "$1::timestamptz",
             ts(now - max_wait_ms))) {
      if (maybe_create_collecting(tx, d.config, r[0].as<std::string>(), "schedule", true, now)) {
        ++pass.collecting_created;
      }
    }
    return ok_status();
  }));
  RC_TRY(d.s.db.with_transaction([&](pqxx::work& tx) -> Status {
    for (const auto& r : tx.exec("DELETE FROM domain_config_dirty RETURNING box_id")) {
      boxes.push_back(r[0].as<std::string>());
    }
    return ok_status();
  }));
  RC_TRY(d.s.db.with_transaction([&](pqxx::work& tx) -> Status {
    // Idempotency keys past idempotency.ttl_s (docs/controller.md "Safe retries").
    const IdempotencyStore keys(d.s.clock, d.s.config.idempotency);
    pass.idempotency_keys_expired = static_cast<int>(keys.delete_expired(tx));
    return ok_status();
  }));
  std::sort(boxes.begin(), boxes.end());
  boxes.erase(std::unique(boxes.begin(), boxes.end()), boxes.end());
  for (const auto& b : boxes) d.s.messaging.publish_config(b);
  pass.configs_published = static_cast<int>(boxes.size());

  if (d.payments) {
    std::vector<std::int64_t> due;
    RC_TRY(d.s.db.with_transaction([&](pqxx::work& tx) -> Status {
      for (const auto& r : tx.exec_params(
               "SELECT id FROM payments WHERE state = 'pending' AND (next_attempt_at IS NULL OR "
               "next_attempt_at <= $1::timestamptz) ORDER BY id LIMIT 20",
               ts(d.now_ms()))) {
        due.push_back(r[0].as<std::int64_t>());
      }
      return ok_status();
    }));
    for (auto id : due) {
      auto final = attempt_payment(d, id, false);
      if (!final.ok()) {
        d.s.log.error("payment retry failed", {{"payment", id}, {"error", final.error().message}});
      } else if (*final) {
        ++pass.payments_settled;
      }
    }
  }

  if (sender_) {
    RC_ASSIGN_OR_RETURN(auto delivered, deliver_notifications(d, *sender_));
    pass.notifications_sent = delivered.first;
    pass.notifications_failed = delivered.second;
  }
  return pass;
}

void DomainWorker::start(std::chrono::milliseconds interval) {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this, interval] {
    std::unique_lock l(mu_);
    while (!stopping_) {
      l.unlock();
      auto pass = run_once();
      if (!pass.ok()) {
        d_->s.log.warn("domain worker pass failed", {{"error", pass.error().message}});
      }
      l.lock();
      cv_.wait_for(l, interval, [this] { return stopping_; });
    }
  });
}

void DomainWorker::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace reclothes::controller::domain
