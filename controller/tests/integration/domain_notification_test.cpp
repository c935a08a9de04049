// Notifications customers can rely on, against real PostgreSQL and Mosquitto, a real SMTP server
// (Debian's python3-aiosmtpd, tests/integration/smtp_sink.py, started on a free port) and a
// webhook receiver: the pickup-ready mail with its To and Subject, a mail server that is down
// (retries, the breaker opens, the webhook is not resent, the mail arrives once the server is
// back), the customer's list (paged, read/unread, another customer's id 404), the choice of
// channels, erased customers, and the kinds each customer-visible transition queues.
#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "domain_fixture.h"
#include "reclothes/controller/domain/smtp.h"
#include "reclothes/testsupport/process.h"
#include "reclothes/testsupport/temp_dir.h"
#include "smtp_sink.h"

namespace reclothes::controller::testing {
namespace {

using namespace std::chrono_literals;
using Sandbox = domain::SandboxPaymentProvider;

// A webhook receiver that accepts every delivery and keeps the bodies.
class HookReceiver {
 public:
  HookReceiver() {
    server_.Post("/hook", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu_);
      bodies_.push_back(nlohmann::json::parse(req.body, nullptr, false));
      res.status = 204;
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(2ms);
  }
  ~HookReceiver() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hook"; }
  std::vector<nlohmann::json> bodies() {
    std::lock_guard lock(mu_);
    return bodies_;
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::vector<nlohmann::json> bodies_;
};

class NotificationTest : public DomainTest {
 protected:
  // The controller and this test's worker use the smtp and webhook channels; the SMTP server's
  // port is chosen here and the server started by the tests that want it up.
  void SetUp() override {
    sink_ = std::make_unique<SmtpSink>();
    hook_ = std::make_unique<HookReceiver>();
    domain_overrides_ = {{"notifications",
                          {{"channels", {"webhook", "smtp"}},
                           {"webhook_url", hook_->url()},
                           {"smtp_url", sink_->url()},
                           {"smtp_from", "noreply@reclothes.example"},
                           {"smtp_connect_timeout_ms", 500},
                           {"smtp_timeout_ms", 3000},
                           {"smtp_max_attempts", 2},
                           {"smtp_breaker_failures", 3},
                           {"smtp_breaker_cooldown_ms", 20000}}}};
    DomainTest::SetUp();
    add_fleet({"M", "M", "M", "L"});
    use_channels();
  }
  void TearDown() override {
    DomainTest::TearDown();
    sink_.reset();
    hook_.reset();
  }

  // The worker with the configured channels; its SMTP sender does not sleep between attempts
  // and is kept to look at its breaker.
  void use_channels() {
    auto config = domain::parse_domain_config(domain_json());
    ASSERT_TRUE(config.ok());
    auto smtp = domain::SmtpNotificationSender::create(config->notifications.smtp, clock_,
                                                       [](std::chrono::milliseconds) {});
    ASSERT_TRUE(smtp.ok()) << smtp.error().to_string();
    smtp_ = std::move(smtp).value();
    domain::WebhookNotificationSender::Retry retry;
    retry.max_attempts = config->notifications.webhook_max_attempts;
    retry.breaker = {config->notifications.webhook_breaker_failures,
                     config->notifications.webhook_breaker_cooldown};
    auto hook_sender = domain::WebhookNotificationSender::create(
        config->notifications.webhook_url, config->notifications.timeout, clock_, retry,
        [](std::chrono::milliseconds) {});
    ASSERT_TRUE(hook_sender.ok());
    std::vector<domain::NotificationChannel> channels = {
        {"webhook", std::move(hook_sender).value()}, {"smtp", smtp_}};
    worker_ = std::make_unique<domain::DomainWorker>(controller_->services(), *config,
                                                     worker_payments_, std::move(channels));
  }

  // An order that failed its payment (a payment_failed notification for the buyer): its id.
  std::int64_t failed_order(const std::string& token) {
    const auto product = listed_product("Scarf " + std::to_string(++products_), 900);
    auto r = buy(token, {product}, Sandbox::kCardDeclined);
    EXPECT_EQ(r.status, 201) << describe(r);
    EXPECT_EQ(r.body["state"], "payment_failed");
    return r.body.value("id", std::int64_t{0});
  }

  // From paid to ready for pickup: packing, shipping, the courier's load visit at the box.
  int deliver(std::int64_t order) {
    const auto shipping = pack(order);
    EXPECT_NE(shipping, 0);
    EXPECT_EQ(assign(shipping, delivery_id_).status, 200);
    auto task = get_task(shipping, delivery_);
    if (task.status != 200 || task.body["token"].is_null()) {
      ADD_FAILURE() << "no courier token: " << describe(task);
      return 0;
    }
    const int compartment = task.body["compartments"][0].get<int>();
    visit(compartment, TokenAction::kCourierLoad, task.body["token"]["token_id"].get<std::string>(),
          shipping);
    return compartment;
  }

  std::int64_t notifications_of(std::int64_t customer, const std::string& kind) {
    return count(
        "SELECT count(*) FROM notifications WHERE recipient_kind = 'customer' AND "
        "recipient_id = " +
        std::to_string(customer) + " AND kind = '" + kind + "'");
  }

  std::unique_ptr<SmtpSink> sink_;
  std::unique_ptr<HookReceiver> hook_;
  std::shared_ptr<domain::SmtpNotificationSender> smtp_;
  int products_ = 0;
};

TEST_F(NotificationTest, PickupReadyMailArrivesAtTheCustomersAddress) {
  auto& sink = *sink_;
  ASSERT_TRUE(sink.start());
  auto& hook = *hook_;
  std::int64_t buyer_id = 0;
  const auto buyer = customer("mailbuyer", &buyer_id);
  exec("UPDATE customers SET display_name = 'Anna\r\nBcc: victim@example.org' WHERE id = " +
       std::to_string(buyer_id));
  const auto email =
      query("SELECT email FROM customers WHERE id = " + std::to_string(buyer_id))[0][0]
          .as<std::string>();
  auto r = buy(buyer, {listed_product("Linen shirt", 1999)});
  ASSERT_EQ(r.status, 201) << describe(r);
  const auto order = r.body["id"].get<std::int64_t>();
  const int compartment = deliver(order);
  ASSERT_NE(compartment, 0);
  ASSERT_EQ(notifications_of(buyer_id, "pickup_ready"), 1);

  const auto pass = run_worker();
  EXPECT_EQ(pass.notifications_failed, 0);
  const auto mails = sink.mails();
  ASSERT_EQ(mails.size(), 1u);
  const auto& m = mails[0];
  EXPECT_EQ(m.rcpt_tos, std::vector<std::string>{email});
  EXPECT_EQ(m.mail_from, "noreply@reclothes.example");
  EXPECT_EQ(m.header("Subject"), "Your order " + std::to_string(order) + " is ready for pickup");
  EXPECT_EQ(m.header("To"), "\"Anna  Bcc: victim@example.org\" <" + email + ">")
      << "the name's CR/LF cannot start a header";
  EXPECT_EQ(m.header("Bcc"), "");
  EXPECT_EQ(m.header("From"), "\"ReClothes\" <noreply@reclothes.example>");
  EXPECT_NE(m.header("Date"), "");
  EXPECT_NE(m.header("Message-ID").find("notification-"), std::string::npos);
  EXPECT_NE(m.body().find("compartment " + std::to_string(compartment) + " of box " + box_),
            std::string::npos)
      << m.body();
  // The webhook has it too (and the staff's task notifications, which never go by mail).
  std::vector<nlohmann::json> ready_hooks;
  for (const auto& b : hook.bodies()) {
    if (b["kind"] == "pickup_ready") ready_hooks.push_back(b);
    EXPECT_EQ(b.dump().find(email), std::string::npos) << "no email in the webhook";
  }
  ASSERT_EQ(ready_hooks.size(), 1u);
  EXPECT_EQ(ready_hooks[0]["recipient"]["id"], buyer_id);
  EXPECT_EQ(pass.notifications_sent, static_cast<int>(hook.bodies().size()) + 1);
  EXPECT_EQ(count("SELECT count(*) FROM notifications WHERE sent_at IS NULL"), 0);

  // The reminder before the pickup window ends (a day before, by default), once.
  clock_.advance(std::chrono::hours(72) - std::chrono::hours(23));
  EXPECT_EQ(run_worker().pickup_reminders, 1);
  EXPECT_EQ(run_worker().pickup_reminders, 0);
  EXPECT_EQ(notifications_of(buyer_id, "pickup_reminder"), 1);
  ASSERT_EQ(sink.mails().size(), 2u);
  EXPECT_EQ(sink.mails()[1].header("Subject"),
            "Reminder: your order " + std::to_string(order) + " is waiting");
  sink.stop();
}

TEST_F(NotificationTest, MailServerDownRetriesOpensTheBreakerAndDeliversWhenBack) {
  auto& sink = *sink_;  // not started: nothing listens on its port
  auto& hook = *hook_;
  std::int64_t buyer_id = 0;
  const auto buyer = customer("downbuyer", &buyer_id);
  const auto first = failed_order(buyer);
  const auto second = failed_order(buyer);
  ASSERT_NE(first, 0);
  ASSERT_NE(second, 0);
  ASSERT_EQ(notifications_of(buyer_id, "payment_failed"), 2);

  // Two attempts for the first mail, one for the second: three failures open the breaker, and
  // its second attempt is not made.
  auto pass = run_worker();
  EXPECT_EQ(pass.notifications_sent, 2) << "the webhook is unaffected";
  EXPECT_EQ(pass.notifications_failed, 2);
  EXPECT_EQ(smtp_->breaker().state(), domain::CircuitBreaker::State::kOpen);
  EXPECT_EQ(hook.bodies().size(), 2u);
  EXPECT_EQ(count("SELECT count(*) FROM notification_deliveries WHERE channel = 'smtp' AND "
                  "sent_at IS NULL AND attempts = 1 AND last_error LIKE 'smtp: %'"),
            2);
  EXPECT_EQ(count("SELECT count(*) FROM notifications WHERE sent_at IS NULL AND last_error LIKE "
                  "'smtp: %'"),
            2);
  // Before the back-off nothing is tried.
  pass = run_worker();
  EXPECT_EQ(pass.notifications_sent + pass.notifications_failed, 0);

  // The server returns; after the back-off (30 s) and the breaker's cool-down (20 s) the trial
  // mail closes the breaker and both arrive. The webhook is not called again.
  ASSERT_TRUE(sink.start());
  clock_.advance(31s);
  pass = run_worker();
  EXPECT_EQ(pass.notifications_sent, 2);
  EXPECT_EQ(pass.notifications_failed, 0);
  EXPECT_EQ(smtp_->breaker().state(), domain::CircuitBreaker::State::kClosed);
  const auto mails = sink.mails();
  ASSERT_EQ(mails.size(), 2u);
  std::set<std::string> subjects;
  for (const auto& m : mails) subjects.insert(m.header("Subject"));
  EXPECT_TRUE(subjects.contains("Payment for your order " + std::to_string(first) + " failed"));
  EXPECT_TRUE(subjects.contains("Payment for your order " + std::to_string(second) + " failed"));
  EXPECT_EQ(hook.bodies().size(), 2u) << "the webhook channel is not resent";
  const auto metrics = controller_->metrics().scrape();
  EXPECT_NE(metrics.find(
                "reclothes_notification_deliveries_total{channel=\"smtp\",outcome=\"failed\"} 2"),
            std::string::npos)
      << metrics;
  EXPECT_NE(
      metrics.find("reclothes_notification_deliveries_total{channel=\"smtp\",outcome=\"sent\"} 2"),
      std::string::npos);
  EXPECT_EQ(count("SELECT count(*) FROM notifications WHERE sent_at IS NOT NULL"), 2);
  sink.stop();
}

TEST_F(NotificationTest, TheCustomersListPagesFiltersAndIsTheirsOnly) {
  std::int64_t anna_id = 0;
  const auto anna = customer("anna", &anna_id);
  const auto ben = customer("ben");
  const auto o1 = failed_order(anna);
  const auto o2 = failed_order(anna);
  const auto o3 = failed_order(anna);
  failed_order(ben);

  auto list = pub("GET", "/v1/notifications?limit=2", std::nullopt, anna);
  ASSERT_EQ(list.status, 200) << describe(list);
  EXPECT_EQ(list.body["total"], 3);
  EXPECT_EQ(list.body["unread"], 3);
  EXPECT_EQ(list.body["limit"], 2);
  ASSERT_EQ(list.body["items"].size(), 2u);
  const auto& newest = list.body["items"][0];
  EXPECT_EQ(newest["kind"], "payment_failed");
  EXPECT_EQ(newest["payload"]["order_id"], o3) << "newest first";
  EXPECT_EQ(newest["title"], "Payment for your order " + std::to_string(o3) + " failed");
  EXPECT_NE(newest["text"].get<std::string>().find("Nothing was charged"), std::string::npos);
  EXPECT_TRUE(newest["read_at"].is_null());
  EXPECT_TRUE(newest["created_at"].is_string());
  auto page2 = pub("GET", "/v1/notifications?limit=2&offset=2", std::nullopt, anna);
  ASSERT_EQ(page2.body["items"].size(), 1u);
  EXPECT_EQ(page2.body["items"][0]["payload"]["order_id"], o1);
  const auto oldest_id = page2.body["items"][0]["id"].get<std::int64_t>();

  // Read one; the filters split the list.
  auto read =
      pub("POST", "/v1/notifications/" + std::to_string(oldest_id) + "/read", std::nullopt, anna);
  ASSERT_EQ(read.status, 200) << describe(read);
  EXPECT_TRUE(read.body["read_at"].is_string());
  const auto read_at = read.body["read_at"];
  clock_.advance(5s);
  EXPECT_EQ(
      pub("POST", "/v1/notifications/" + std::to_string(oldest_id) + "/read", std::nullopt, anna)
          .body["read_at"],
      read_at)
      << "reading again keeps the first time";
  auto unread = pub("GET", "/v1/notifications?read=false", std::nullopt, anna);
  EXPECT_EQ(unread.body["total"], 2);
  EXPECT_EQ(unread.body["unread"], 2);
  auto was_read = pub("GET", "/v1/notifications?read=true", std::nullopt, anna);
  ASSERT_EQ(was_read.body["total"], 1);
  EXPECT_EQ(was_read.body["items"][0]["id"], oldest_id);
  (void)o2;

  // Another customer's notification is not found, and the attempt is audited.
  auto foreign =
      pub("POST", "/v1/notifications/" + std::to_string(oldest_id) + "/read", std::nullopt, ben);
  EXPECT_EQ(foreign.status, 404);
  EXPECT_EQ(foreign.code(), "not_found");
  EXPECT_EQ(pub("POST", "/v1/notifications/999999/read", std::nullopt, ben).status, 404);
  EXPECT_EQ(pub("GET", "/v1/notifications", std::nullopt, ben).body["total"], 1);
  EXPECT_EQ(count("SELECT count(*) FROM audit_log WHERE outcome = 'denied' AND target_id = '" +
                  std::to_string(oldest_id) + "'"),
            1);

  // Bad queries name the parameter.
  auto bad = pub("GET", "/v1/notifications?read=maybe", std::nullopt, anna);
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.code(), "invalid_query");
  EXPECT_EQ(pub("GET", "/v1/notifications?limit=0", std::nullopt, anna).status, 400);

  auto all = pub("POST", "/v1/notifications/read-all", std::nullopt, anna);
  ASSERT_EQ(all.status, 200);
  EXPECT_EQ(all.body["marked"], 2);
  EXPECT_EQ(pub("GET", "/v1/notifications", std::nullopt, anna).body["unread"], 0);
  EXPECT_EQ(pub("GET", "/v1/notifications", std::nullopt, ben).body["unread"], 1);
}

TEST_F(NotificationTest, ChannelsTheCustomerSwitchedOffAreNotUsedButTheListRecords) {
  auto& sink = *sink_;
  ASSERT_TRUE(sink.start());
  auto& hook = *hook_;
  std::int64_t quiet_id = 0;
  const auto quiet = customer("quiet", &quiet_id);
  auto prefs = pub("GET", "/v1/me/notification-preferences", std::nullopt, quiet);
  ASSERT_EQ(prefs.status, 200);
  EXPECT_EQ(prefs.body, (nlohmann::json{{"email", true}, {"webhook", true}, {"in_app", true}}));
  // Strict body: wrong types and unknown fields are refused with the field named.
  auto typed = pub("PUT", "/v1/me/notification-preferences",
                   nlohmann::json{{"email", "no"}, {"webhook", true}}, quiet);
  EXPECT_EQ(typed.status, 400);
  EXPECT_NE(typed.raw.find("/email"), std::string::npos) << typed.raw;
  auto unknown = pub("PUT", "/v1/me/notification-preferences",
                     nlohmann::json{{"email", false}, {"webhook", true}, {"sms", true}}, quiet);
  EXPECT_EQ(unknown.status, 400);
  EXPECT_NE(unknown.raw.find("/sms"), std::string::npos) << unknown.raw;
  auto put = pub("PUT", "/v1/me/notification-preferences",
                 nlohmann::json{{"email", false}, {"webhook", true}}, quiet);
  ASSERT_EQ(put.status, 200) << describe(put);
  EXPECT_EQ(put.body["email"], false);
  EXPECT_EQ(pub("GET", "/v1/me/notification-preferences", std::nullopt, quiet).body["email"],
            false);

  const auto order = failed_order(quiet);
  const auto pass = run_worker();
  EXPECT_EQ(pass.notifications_sent, 1) << "the webhook only";
  EXPECT_TRUE(sink.mails().empty()) << "email is off: no mail";
  EXPECT_EQ(hook.bodies().size(), 1u);
  auto list = pub("GET", "/v1/notifications", std::nullopt, quiet);
  ASSERT_EQ(list.body["total"], 1) << "the list always records";
  EXPECT_EQ(list.body["items"][0]["payload"]["order_id"], order);

  // Switched off after the fan-out (the mail server was down meanwhile): not sent either.
  sink.stop();
  ASSERT_EQ(pub("PUT", "/v1/me/notification-preferences",
                nlohmann::json{{"email", true}, {"webhook", true}}, quiet)
                .status,
            200);
  failed_order(quiet);
  run_worker();  // webhook sent, the mail failed (server down)
  ASSERT_EQ(count("SELECT count(*) FROM notification_deliveries WHERE channel = 'smtp' AND "
                  "sent_at IS NULL"),
            1);
  ASSERT_EQ(pub("PUT", "/v1/me/notification-preferences",
                nlohmann::json{{"email", false}, {"webhook", true}}, quiet)
                .status,
            200);
  ASSERT_TRUE(sink.start());
  clock_.advance(31s);
  run_worker();
  EXPECT_TRUE(sink.mails().empty());
  EXPECT_EQ(count("SELECT count(*) FROM notification_deliveries WHERE channel = 'smtp' AND "
                  "last_error = 'not sent: the recipient switched this channel off'"),
            1);

  // A code the customer asked for goes by mail whatever the choice: a password reset to the
  // account's address, an email change to the payload's new address (the shapes the account
  // part queues).
  const auto now = "to_timestamp(" + std::to_string(clock_.wall_ms() / 1000) + ")";
  const auto quiet_email =
      query("SELECT email FROM customers WHERE id = " + std::to_string(quiet_id))[0][0]
          .as<std::string>();
  for (const char* row :
       {"'password_reset', '{\"code\": \"4829-1033\", \"expires_at\": \"T\"}'",
        "'email_change', '{\"code\": \"5555-0000\", \"to_email\": \"new@example.org\"}'"}) {
    exec(
        "INSERT INTO notifications (recipient_kind, recipient_id, kind, payload, created_at, "
        "next_attempt_at) VALUES ('customer', " +
        std::to_string(quiet_id) + ", " + row + ", " + now + ", " + now + ")");
  }
  run_worker();
  const auto mails = sink.mails();
  ASSERT_EQ(mails.size(), 2u);
  std::map<std::string, Mail> by_subject;
  for (const auto& m : mails) by_subject[m.header("Subject")] = m;
  ASSERT_TRUE(by_subject.contains("Your password reset code"));
  EXPECT_EQ(by_subject["Your password reset code"].rcpt_tos, std::vector<std::string>{quiet_email});
  EXPECT_NE(by_subject["Your password reset code"].body().find("Your code is 4829-1033"),
            std::string::npos);
  ASSERT_TRUE(by_subject.contains("Confirm your new email address"));
  EXPECT_EQ(by_subject["Confirm your new email address"].rcpt_tos,
            std::vector<std::string>{"new@example.org"});

  // An erased customer gets nothing on any channel (the list row stays, its payload cleared).
  const auto gone_token = customer("gone");
  const auto gone_id = query("SELECT max(id) FROM customers")[0][0].as<std::int64_t>();
  failed_order(gone_token);
  const auto admin = staff_token({Role::kSuperAdmin});
  ASSERT_EQ(internal("POST", "/internal/v1/customers/" + std::to_string(gone_id) + "/erase",
                     std::nullopt, admin)
                .status,
            200);
  const auto hooks_before = hook.bodies().size();
  run_worker();
  EXPECT_EQ(hook.bodies().size(), hooks_before);
  EXPECT_EQ(sink.mails().size(), 2u);
  EXPECT_EQ(count("SELECT count(*) FROM notification_deliveries dl JOIN notifications n ON n.id = "
                  "dl.notification_id WHERE n.recipient_id = " +
                  std::to_string(gone_id)),
            0);
  sink.stop();
}

TEST_F(NotificationTest, EveryCustomerVisibleTransitionQueuesOneNotification) {
  std::int64_t buyer_id = 0;
  const auto buyer = customer("kinds", &buyer_id);
  // Cancelled after payment: order_cancelled, then the refund: refund_issued.
  auto paid = buy(buyer, {listed_product("Coat", 5000, "outerwear")});
  ASSERT_EQ(paid.status, 201);
  const auto cancelled = paid.body["id"].get<std::int64_t>();
  auto cancel =
      pub("POST", "/v1/orders/" + std::to_string(cancelled) + "/cancel", std::nullopt, buyer);
  ASSERT_EQ(cancel.status, 200) << describe(cancel);
  run_worker();
  EXPECT_EQ(notifications_of(buyer_id, "order_cancelled"), 1);
  EXPECT_EQ(notifications_of(buyer_id, "refund_issued"), 1);
  auto list = pub("GET", "/v1/notifications", std::nullopt, buyer);
  ASSERT_EQ(list.body["total"], 2);
  EXPECT_EQ(list.body["items"][0]["kind"], "refund_issued");
  EXPECT_EQ(list.body["items"][0]["payload"]["amount_cents"], 5000);
  EXPECT_NE(list.body["items"][0]["text"].get<std::string>().find("50.00 EUR"), std::string::npos);

  // Picked up, then returned through the box: return_received.
  auto r = buy(buyer, {listed_product("Dress", 3000, "dresses")});
  ASSERT_EQ(r.status, 201);
  const auto order = r.body["id"].get<std::int64_t>();
  const int compartment = deliver(order);
  ASSERT_NE(compartment, 0);
  auto ready = pub("GET", "/v1/orders/" + std::to_string(order), std::nullopt, buyer);
  visit(compartment, TokenAction::kPickup,
        ready.body["pickup"]["token"]["token_id"].get<std::string>(), order);
  auto ret = pub("POST", "/v1/orders/" + std::to_string(order) + "/return",
                 nlohmann::json{{"location_id", location_}}, buyer);
  ASSERT_EQ(ret.status, 200) << describe(ret);
  visit(ret.body["return"]["compartment"].get<int>(), TokenAction::kReturn,
        ret.body["return"]["token"]["token_id"].get<std::string>(), order);
  EXPECT_EQ(notifications_of(buyer_id, "return_received"), 1);
  EXPECT_EQ(notifications_of(buyer_id, "pickup_ready"), 1);
  // Every customer notification the domain queued renders a text of its own.
  const auto all = pub("GET", "/v1/notifications?limit=100", std::nullopt, buyer);
  EXPECT_GE(all.body["items"].size(), 4u);
  for (const auto& item : all.body["items"]) {
    EXPECT_NE(item["title"], "New notification") << item.dump();
  }
}

}  // namespace
}  // namespace reclothes::controller::testing
