// The domain worker (expiry, reminders, scheduled collecting, payment retries, dirty configs,
// notification delivery per channel: store/notification_store.cpp) and the log notification
// sender.
#include "reclothes/controller/domain/worker.h"

#include "alarm_store.h"
#include "noshow_store.h"
#include "notification_store.h"
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

std::vector<NotificationChannel> worker_single_channel(const DomainConfig& config,
                                                       std::shared_ptr<NotificationSender> sender) {
  if (!sender) return {};
  return {{config.notifications.sender == "webhook" ? "webhook" : "log", std::move(sender)}};
}

}  // namespace

DomainWorker::DomainWorker(const Services& services, DomainConfig config,
                           std::shared_ptr<PaymentProvider> payments,
                           std::shared_ptr<NotificationSender> sender)
    : DomainWorker(services, config, std::move(payments),
                   worker_single_channel(config, std::move(sender))) {}

DomainWorker::DomainWorker(const Services& services, DomainConfig config,
                           std::shared_ptr<PaymentProvider> payments,
                           std::vector<NotificationChannel> channels)
    : d_(std::make_unique<DomainContext>(
          DomainContext{services, std::move(config), std::move(payments), nullptr, nullptr})),
      channels_(std::move(channels)) {}

DomainWorker::~DomainWorker() { stop(); }

Result<DomainWorker::Pass> DomainWorker::run_once() {
  const auto started = std::chrono::steady_clock::now();
  auto pass = run_pass();
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - started;
  auto& registry = d_->s.metrics.registry();
  // The registry merges a family that exists: every worker of the process counts into the same
  // series.
  prometheus::BuildCounter()
      .Name("reclothes_worker_passes_total")
      .Help("Domain worker passes by outcome (ok, failed: a step's transaction failed)")
      .Register(registry)
      .Add({{"outcome", pass.ok() ? "ok" : "failed"}})
      .Increment();
  prometheus::BuildHistogram()
      .Name("reclothes_worker_pass_duration_seconds")
      .Help("How long one domain worker pass took")
      .Register(registry)
      .Add({}, prometheus::Histogram::BucketBoundaries{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                                       2.5, 5, 10, 30})
      .Observe(took.count());
  if (!pass.ok()) return pass;
  prometheus::BuildGauge()
      .Name("reclothes_worker_last_success_timestamp_seconds")
      .Help("When the last domain worker pass finished without an error (Unix seconds)")
      .Register(registry)
      .Add({})
      .Set(static_cast<double>(d_->now_ms()) / 1000.0);
  auto& items = prometheus::BuildCounter()
                    .Name("reclothes_worker_items_total")
                    .Help(
                        "What domain worker passes did, by item (expired_donations, "
                        "payments_settled, notifications_sent, ...)")
                    .Register(registry);
  const auto& p = *pass;
  for (const auto& [item, n] : std::initializer_list<std::pair<const char*, int>>{
           {"expired_donations", p.expired_donations},
           {"expired_returns", p.expired_returns},
           {"expiry_warnings", p.expiry_warnings},
           {"pickup_reminders", p.pickup_reminders},
           {"expired_pickups", p.expired_pickups},
           {"collecting_created", p.collecting_created},
           {"payments_settled", p.payments_settled},
           {"configs_published", p.configs_published},
           {"notifications_sent", p.notifications_sent},
           {"notifications_failed", p.notifications_failed},
           {"idempotency_keys_expired", p.idempotency_keys_expired},
           {"offline_faults_opened", p.offline_faults_opened},
           {"offline_faults_cleared", p.offline_faults_cleared},
           {"alarms_queued", p.alarms_queued},
           {"alarm_reminders", p.alarm_reminders},
           {"alarm_closings", p.alarm_closings}}) {
    // Every item's series exists from the first pass on (0 until something happens).
    items.Add({{"item", item}}).Increment(static_cast<double>(n));
  }
  return pass;
}

Result<DomainWorker::Pass> DomainWorker::run_pass() {
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
  std::vector<BoxRevoke> revokes;
  RC_TRY(d.s.db.with_transaction([&](pqxx::work& tx) -> Status {
    // No-shows: the pickup window ended (a retried transaction starts over).
    auto expiries = expire_pickups(d, tx, d.now_ms());
    pass.expired_pickups = expiries.expired;
    boxes.insert(boxes.end(), expiries.boxes.begin(), expiries.boxes.end());
    revokes = std::move(expiries.revokes);
    return ok_status();
  }));
  for (const auto& r : revokes) d.s.messaging.publish_command(r.box_id, r.command);
  RC_TRY(d.s.db.with_transaction([&](pqxx::work& tx) -> Status {
    pass.expiry_warnings = warn_expiring_donations(d, tx, d.now_ms());
    pass.pickup_reminders = remind_pickups(d, tx, d.now_ms());
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
  RC_TRY(d.s.db.with_transaction([&](pqxx::work& tx) -> Status {
    // Alarms (store/alarm_store.cpp): offline faults first, so that they alarm in this pass.
    sweep_offline_faults(d, tx, d.now_ms(), &pass.offline_faults_opened,
                         &pass.offline_faults_cleared);
    return ok_status();
  }));
  AlarmCounts alarms;
  RC_TRY(d.s.db.with_transaction([&](pqxx::work& tx) -> Status {
    alarms = queue_alarms(d, tx, d.now_ms());
    update_fault_gauges(d, tx);
    return ok_status();
  }));
  count_alarms(d, alarms);
  pass.alarms_queued = alarms.opened;
  pass.alarm_reminders = alarms.reminders;
  pass.alarm_closings = alarms.closed;
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

  if (!channels_.empty()) {
    // Fan-out, then each channel in a transaction of its own (a slow or failing channel holds
    // only its own rows), then the notifications' summary columns.
    std::vector<std::string> names;
    for (const auto& ch : channels_) names.push_back(ch.name);
    RC_TRY(d.s.db.with_transaction([&](pqxx::work& tx) -> Status {
      fan_out_notifications(tx, names, d.now_ms());
      return ok_status();
    }));
    std::vector<std::int64_t> touched;
    for (const auto& ch : channels_) {
      RC_TRY(d.s.db.with_transaction([&](pqxx::work& tx) -> Status {
        deliver_channel(d, tx, ch, d.now_ms(), &pass.notifications_sent, &pass.notifications_failed,
                        &touched);
        return ok_status();
      }));
    }
    std::sort(touched.begin(), touched.end());
    touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
    RC_TRY(d.s.db.with_transaction([&](pqxx::work& tx) -> Status {
      settle_notifications(tx, touched, d.now_ms());
      return ok_status();
    }));
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
