// The order domain's background worker and its notification port. HTTP-free: part of the
// domain target (reclothes_controller_domain). The worker runs reservation expiry, scheduled
// collecting, payment and refund retries, republishing configs that event hooks changed, and
// notification delivery. It is safe to run in several controller replicas at once: each pass
// claims rows with SELECT ... FOR UPDATE SKIP LOCKED.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "reclothes/common/result.h"
#include "reclothes/controller/domain/domain_config.h"
#include "reclothes/controller/domain/payments.h"
#include "reclothes/controller/services.h"

namespace reclothes::controller::domain {

// ---- notifications ----------------------------------------------------------------------------

struct Notification {
  std::int64_t id = 0;
  std::string recipient_kind;  // customer, staff
  std::int64_t recipient_id = 0;
  std::string kind;  // pickup_ready, reservation_expiring, collecting_assigned, ...
  nlohmann::json payload;
  std::int64_t created_ms = 0;
  // Filled by the worker (not part of to_json(): the webhook body stays free of personal data):
  // the recipient's email and display name (a customer's, or a staff member's for the alarms,
  // the only staff notifications that go by mail). The mail goes to payload["to_email"] instead
  // when the payload has one (password_reset, email_change).
  std::string recipient_email;
  std::string recipient_name;
  nlohmann::json to_json() const;
};

// Delivers one notification. An error leaves it in the outbox for a later attempt. Thread-safe.
class NotificationSender {
 public:
  virtual ~NotificationSender() = default;
  virtual Status send(const Notification& n) = 0;
};

// Writes each notification as a log line (the default: another system tails the log).
class LogNotificationSender final : public NotificationSender {
 public:
  explicit LogNotificationSender(const Log& log) : log_(log) {}
  Status send(const Notification& n) override;

 private:
  const Log& log_;
};

// A delivery channel of the worker: its name ("log", "webhook", "smtp"; the delivery rows'
// channel) and its sender.
struct NotificationChannel {
  std::string name;
  std::shared_ptr<NotificationSender> sender;
};

// ---- the worker -------------------------------------------------------------------------------

struct DomainContext;  // private to the domain's sources

class DomainWorker {
 public:
  struct Pass {
    int expired_donations = 0;
    int expired_returns = 0;
    int expiry_warnings = 0;
    int pickup_reminders = 0;
    int expired_pickups = 0;  // no-shows: ready_for_pickup orders whose window ended
    int collecting_created = 0;
    int payments_settled = 0;  // charges or refunds that reached a final state
    int configs_published = 0;
    int notifications_sent = 0;        // deliveries (one per notification and channel) sent
    int notifications_failed = 0;      // deliveries that failed (retried later)
    int idempotency_keys_expired = 0;  // deleted after idempotency.ttl_s
    // Alarms (docs/orders.md, "Alarms").
    int offline_faults_opened = 0;   // boxes not seen for alarms.offline_after
    int offline_faults_cleared = 0;  // boxes seen again (or decommissioned)
    int alarms_queued = 0;           // first alarms, one per fault and staff member on call
    int alarm_reminders = 0;         // reminders of open, unacknowledged faults
    int alarm_closings = 0;          // closing notices to the alarmed staff
  };

  // `payments` may be null (no provider configured: pending payments wait).
  // One sender: the one channel named by config.notifications.sender ("log" or "webhook").
  DomainWorker(const Services& services, DomainConfig config,
               std::shared_ptr<PaymentProvider> payments,
               std::shared_ptr<NotificationSender> sender);
  // Several channels: every notification gets a delivery row per channel the recipient has not
  // switched off, each delivered and retried on its own (make_notification_channels builds them
  // from the configuration).
  DomainWorker(const Services& services, DomainConfig config,
               std::shared_ptr<PaymentProvider> payments,
               std::vector<NotificationChannel> channels);
  ~DomainWorker();

  // One pass over everything that is due at the clock's current time. Thread-safe; several
  // workers (replicas) may run passes at the same time. Counted in reclothes_worker_passes_total
  // {outcome}, reclothes_worker_pass_duration_seconds, reclothes_worker_items_total{item} and
  // reclothes_worker_last_success_timestamp_seconds.
  Result<Pass> run_once();
  // Runs run_once() every interval on a thread of its own until stop(). Idempotent.
  void start(std::chrono::milliseconds interval);
  void stop();

 private:
  Result<Pass> run_pass();
  std::unique_ptr<DomainContext> d_;
  std::vector<NotificationChannel> channels_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace reclothes::controller::domain
