// Settings of the order domain (docs/orders.md, "Configuration"). A header of its own so that
// the controller's configuration can hold them without the domain's services.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "reclothes/common/result.h"

namespace reclothes::controller::domain {

// Settings of the domain: the "domain" section of the controller's configuration file (strict:
// unknown keys and bad values are refused with the field's JSON pointer); without it, the
// defaults below. docs/orders.md has the reference.
struct DomainConfig {
  struct Donations {
    std::chrono::seconds reservation{24 * 3600};    // how long a compartment stays reserved
    std::chrono::seconds expiry_warning{2 * 3600};  // notify the donor this long before
  } donations;
  struct Collecting {
    int compartment_threshold = 3;  // filled compartments at one box that make a collecting order
    int fill_percent = 90;          // a fill_level event at or above this makes one at once
    std::chrono::seconds max_wait{48 * 3600};  // the schedule: nothing waits longer than this
    // A courier's compartment whose fill sensor read 0 when the courier's token opened it was
    // empty: its part of the collecting order ends as `empty` (issue 18). Off by default: only
    // for boxes whose fill sensors are trusted (a missing or uncalibrated sensor reads 0 too).
    bool empty_by_fill_sensor = false;
  } collecting;
  struct Buying {
    // How long a parcel waits in its compartment, counted from the courier's load (the order
    // became ready_for_pickup); then it is a no-show (docs/orders.md, "No-shows").
    std::chrono::seconds pickup_window{72 * 3600};
    std::chrono::seconds return_window{14 * 24 * 3600};  // after pickup, returns are accepted
    std::chrono::seconds return_reservation{24 * 3600};
    // Remind the buyer this long before the pickup window ends (once); 0: no reminder.
    std::chrono::seconds pickup_reminder{24 * 3600};
    // A last reminder this long before the end (once; shorter than pickup_reminder); 0: none.
    std::chrono::seconds pickup_last_reminder{0};
    // What happens to a no-show once a courier has collected it back: "refund" (the full amount
    // goes back to the card, the order ends refunded) or "restock" (no refund, the order ends
    // restocked). Either way its products are on sale again.
    std::string no_show_policy = "refund";
    std::string currency = "EUR";
    // A return's refund: each item's price times the percentage of the grade its checking gave
    // it (return_refund_percent_by_grade {publish, recycle}, 0..100).
    struct RefundPercent {
      int publish = 100;
      int recycle = 100;
    } return_refund_percent_by_grade;
  } buying;
  struct Payments {
    // Either a provider URL or sandbox = true (an in-process sandbox provider on a free loopback
    // port). Neither: orders are refused with 503 payments_unavailable.
    std::string provider_url;
    bool sandbox = false;
    std::string api_key = "sandbox";
    std::chrono::milliseconds connect_timeout{2000};
    std::chrono::milliseconds read_timeout{5000};
    int max_attempts = 3;
    std::chrono::milliseconds backoff_initial{200};
    std::chrono::milliseconds backoff_max{2000};
    int breaker_failures = 5;
    std::chrono::milliseconds breaker_cooldown{30000};
    std::chrono::seconds retry_interval{60};  // worker retries of pending payments and refunds
  } payments;
  struct Notifications {
    std::string sender = "log";  // "log" or "webhook"
    std::string webhook_url;     // http(s)://host[:port]/path, for "webhook"
    std::chrono::milliseconds timeout{3000};
    // The webhook adapter: attempts per notification and pass (back-off 200 ms doubling to 2 s)
    // and its circuit breaker.
    int webhook_max_attempts = 1;
    int webhook_breaker_failures = 5;
    std::chrono::milliseconds webhook_breaker_cooldown{30000};
    std::chrono::seconds retry_interval{30};  // first retry; doubles up to an hour
    // Channels every notification is delivered through, each on its own (a delivery row per
    // channel): "log", "webhook", "smtp". Empty: just `sender`.
    std::vector<std::string> channels;
    struct Smtp {
      std::string url;   // smtp://host[:port] or smtps://host[:port]
      std::string from;  // plain address, the mail's From
      std::string from_name = "ReClothes";
      std::string username;  // with password: SMTP AUTH
      std::string password;
      bool starttls = false;  // smtp:// with STARTTLS required
      std::chrono::milliseconds connect_timeout{3000};
      std::chrono::milliseconds timeout{10000};  // the whole SMTP conversation of one mail
      int max_attempts = 3;
      std::chrono::milliseconds backoff_initial{200};
      std::chrono::milliseconds backoff_max{2000};
      int breaker_failures = 5;
      std::chrono::milliseconds breaker_cooldown{30000};
    } smtp;
    // The channels in use: `channels`, or `sender` alone when none are listed.
    std::vector<std::string> enabled_channels() const {
      return channels.empty() ? std::vector<std::string>{sender} : channels;
    }
  } notifications;
  // The customer's own account: one-time codes of a password reset or an email change, and the
  // limits on requesting them (docs/controller.md, "The customer's account").
  struct Accounts {
    std::chrono::seconds code_ttl{15 * 60};  // a code's life
    int code_max_attempts = 5;               // wrong codes tried before the code is dead
    std::chrono::seconds request_window{3600};
    int requests_per_email = 3;     // code requests per email in the window
    int requests_per_address = 20;  // code requests per client address in the window
  } accounts;
  // Alarms about box faults (docs/orders.md, "Alarms"): the staff on call for a box's location
  // hear of each open fault once, with reminders while nobody acknowledges it.
  struct Alarms {
    // A box not seen (no status or state report) for this long gets a fault of kind offline;
    // 0: no offline faults.
    std::chrono::seconds offline_after{3600};
    // A reminder when a fault stays open and unacknowledged this long after the last alarm;
    // at most max_reminders of them (0: none).
    std::chrono::seconds reminder{1800};
    int max_reminders = 1;
    // Tell the staff who were alarmed when the fault closes (the box cleared it, or someone else
    // resolved it).
    bool notify_closed = true;
  } alarms;
  // Period of the background worker; 0 disables it (tests drive DomainWorker::run_once()).
  std::chrono::milliseconds worker_interval{2000};
};

// Strict parse of the JSON object described in docs/orders.md.
Result<DomainConfig> parse_domain_config(const nlohmann::json& j);

}  // namespace reclothes::controller::domain
