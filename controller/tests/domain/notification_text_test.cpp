// Notification texts and mail messages (pure rules): every customer kind renders a title and a
// text with its payload's facts, bad payloads do not break rendering, and the mail's headers
// cannot be injected into through a name, a subject or an address. Also the SMTP sender's
// attempts, back-off and breaker against a port where nothing listens (no server, no sleeping;
// the real SMTP server is in controller_domain_notification_tests).
#include "reclothes/controller/domain/notification_text.h"

#include <gtest/gtest.h>

#include <set>

#include "reclothes/common/clock.h"
#include "reclothes/controller/domain/domain_config.h"
#include "reclothes/controller/domain/smtp.h"
#include "reclothes/controller/domain/webhook.h"

namespace reclothes::controller::domain {
namespace {

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// The headers of a built message (up to the blank line).
std::string headers_of(const std::string& mail) { return mail.substr(0, mail.find("\r\n\r\n")); }

TEST(NotificationText, EveryCustomerKindHasItsOwnTitleAndNamesItsFacts) {
  const nlohmann::json payload = {{"order_id", 41},
                                  {"donation_id", 7},
                                  {"box_id", "bx-1"},
                                  {"compartment", 3},
                                  {"until", "2026-01-04T00:00:00Z"},
                                  {"reserved_until", "2026-01-02T00:00:00Z"},
                                  {"reason", "payment declined: card_declined"},
                                  {"amount_cents", 4499},
                                  {"currency", "EUR"},
                                  {"code", "123456"},
                                  {"reward", {{"kind", "coins"}, {"coins", 12}}}};
  std::set<std::string> titles;
  for (const auto kind : customer_notification_kinds()) {
    const auto t = render_notification(kind, payload);
    EXPECT_FALSE(t.title.empty()) << kind;
    EXPECT_FALSE(t.text.empty()) << kind;
    EXPECT_FALSE(contains(t.text, "new notification")) << kind << " has no text of its own";
    titles.insert(t.title);
  }
  EXPECT_EQ(titles.size(), customer_notification_kinds().size()) << "titles are distinct";

  const auto ready = render_notification("pickup_ready", payload);
  EXPECT_EQ(ready.title, "Your order 41 is ready for pickup");
  EXPECT_TRUE(contains(ready.text, "compartment 3 of box bx-1")) << ready.text;
  EXPECT_TRUE(contains(ready.text, "until 2026-01-04T00:00:00Z")) << ready.text;
  EXPECT_TRUE(contains(render_notification("pickup_reminder", payload).text, "until 2026-01-04"));
  EXPECT_TRUE(contains(render_notification("refund_issued", payload).text, "44.99 EUR"));
  EXPECT_TRUE(contains(render_notification("order_cancelled", payload).text, "44.99 EUR"));
  EXPECT_TRUE(contains(render_notification("payment_failed", payload).text, "card_declined"));
  EXPECT_TRUE(contains(render_notification("donation_rewarded", payload).text, "12 coins"));
  EXPECT_TRUE(contains(render_notification("reservation_expiring", payload).text,
                       "until 2026-01-02T00:00:00Z"));
  EXPECT_TRUE(contains(render_notification("return_received", payload).text, "box bx-1"));
  EXPECT_TRUE(contains(render_notification("password_reset", payload).text, "Your code is 123456"));
  EXPECT_TRUE(contains(render_notification("email_change", payload).text, "Your code is 123456"));
  EXPECT_TRUE(contains(
      render_notification("password_reset", {{"code", "1234-5678"}, {"expires_at", "T1"}}).text,
      "Your code is 1234-5678 (valid until T1)."));
  const auto coupon = render_notification(
      "donation_rewarded",
      {{"donation_id", 7},
       {"reward", {{"kind", "coupon"}, {"percent_off", 10}, {"coupon_code", "CPN-1"}}}});
  EXPECT_TRUE(contains(coupon.text, "10 % off")) << coupon.text;
  EXPECT_TRUE(contains(coupon.text, "CPN-1")) << coupon.text;
}

TEST(NotificationText, BadPayloadsAndUnknownKindsStillRender) {
  for (const auto& payload :
       {nlohmann::json(), nlohmann::json::array(), nlohmann::json("text"),
        nlohmann::json{{"order_id", nlohmann::json::array()}, {"amount_cents", "lots"}}}) {
    for (const auto kind : customer_notification_kinds()) {
      const auto t = render_notification(kind, payload);
      EXPECT_FALSE(t.title.empty()) << kind;
    }
  }
  const auto t = render_notification("brand_new_kind", {});
  EXPECT_EQ(t.title, "New notification");
  EXPECT_TRUE(contains(t.text, "brand_new_kind"));
  // A newline in a payload string never reaches the title (it becomes a mail's subject).
  const auto evil =
      render_notification("pickup_ready", {{"order_id", "1\r\nBcc: victim@example.org"}});
  EXPECT_FALSE(contains(evil.title, "\n"));
  EXPECT_FALSE(contains(evil.title, "\r"));
}

TEST(NotificationText, TheInAppListNeverShowsAOneTimeCode) {
  const nlohmann::json reset = {{"code", "ABCD-EFGH"}, {"expires_at", "2026-12-07T13:00:00Z"}};
  ASSERT_NE(render_notification("password_reset", reset).text.find("ABCD-EFGH"), std::string::npos)
      << "the mail carries the code";
  const auto shown = render_in_app("password_reset", reset);
  EXPECT_FALSE(shown.payload.contains("code"));
  EXPECT_EQ(shown.payload["expires_at"], reset["expires_at"]);
  EXPECT_EQ(shown.text.text.find("ABCD-EFGH"), std::string::npos) << shown.text.text;
  EXPECT_EQ(shown.text.title, "Your password reset code");
  const auto change =
      render_in_app("email_change", {{"code", "WXYZ-2345"}, {"to_email", "new@example.org"}});
  EXPECT_EQ(change.text.text.find("WXYZ-2345"), std::string::npos) << change.text.text;
  EXPECT_NE(change.text.text.find("the new address"), std::string::npos) << change.text.text;
  // Kinds without a code are shown as rendered.
  const nlohmann::json ready = {{"order_id", 7}, {"box_id", "box-1"}, {"compartment", 2}};
  EXPECT_EQ(render_in_app("pickup_ready", ready).text.text,
            render_notification("pickup_ready", ready).text);
  EXPECT_EQ(render_in_app("pickup_ready", ready).payload, ready);
}

TEST(Mail, PlainAddressesOnly) {
  EXPECT_TRUE(is_plain_mail_address("anna@example.org"));
  EXPECT_TRUE(is_plain_mail_address("a.b+c@sub.example.org"));
  for (const char* bad : {"", "a@", "@b", "ab", "a@b@c", "a b@c.d", "a@b.c\r\nBcc: x@y.z",
                          "a@b.c\n", "<a@b.c>", "a@b.c>", "\"a\"@b.c", "a@b.c,d@e.f"}) {
    EXPECT_FALSE(is_plain_mail_address(bad)) << bad;
  }
}

TEST(Mail, HasTheHeadersAndAUtf8TextBody) {
  MailMessage m;
  m.from = "noreply@reclothes.example";
  m.from_name = "ReClothes";
  m.to = "anna@example.org";
  m.to_name = "Anna Berg";
  m.subject = "Your order 41 is ready for pickup";
  m.body = "Line one\nLine two\n.dot line";
  m.date_ms = 1'767'225'600'000;  // 2026-01-01T00:00:00Z, a Thursday
  m.message_id = "notification-41@reclothes.example";
  auto mail = build_mail(m);
  ASSERT_TRUE(mail.ok()) << mail.error().to_string();
  const auto h = headers_of(*mail);
  EXPECT_TRUE(contains(h, "From: \"ReClothes\" <noreply@reclothes.example>\r\n")) << h;
  EXPECT_TRUE(contains(h, "To: \"Anna Berg\" <anna@example.org>\r\n")) << h;
  EXPECT_TRUE(contains(h, "Subject: Your order 41 is ready for pickup\r\n")) << h;
  EXPECT_TRUE(contains(h, "Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n")) << h;
  EXPECT_TRUE(contains(h, "Message-ID: <notification-41@reclothes.example>\r\n")) << h;
  EXPECT_TRUE(contains(h, "MIME-Version: 1.0\r\n")) << h;
  EXPECT_TRUE(contains(h, "Content-Type: text/plain; charset=UTF-8")) << h;
  const auto body = mail->substr(mail->find("\r\n\r\n") + 4);
  EXPECT_EQ(body, "Line one\r\nLine two\r\n.dot line\r\n");
  // No bare LF anywhere: every line ends with CRLF.
  for (std::size_t i = 0; i < mail->size(); ++i) {
    if ((*mail)[i] == '\n') {
      ASSERT_GT(i, 0u);
      EXPECT_EQ((*mail)[i - 1], '\r') << "bare LF at " << i;
    }
  }
}

TEST(Mail, HeaderInjectionThroughANameOrSubjectIsImpossible) {
  MailMessage m;
  m.from = "noreply@reclothes.example";
  m.to = "anna@example.org";
  m.to_name = "Anna\r\nBcc: victim@example.org";
  m.subject = "Hi\nBcc: victim2@example.org\r\n\r\nInjected body";
  m.body = "text";
  m.message_id = "n-1@reclothes.example";
  auto mail = build_mail(m);
  ASSERT_TRUE(mail.ok());
  const auto h = headers_of(*mail);
  // Every header line starts with a known name (or is a folded continuation of one).
  std::size_t start = 0;
  int lines = 0;
  while (start < h.size()) {
    const auto end = std::min(h.find("\r\n", start), h.size());
    const auto line = h.substr(start, end - start);
    EXPECT_FALSE(line.rfind("Bcc:", 0) == 0) << line;
    ++lines;
    start = end + 2;
  }
  EXPECT_EQ(lines, 8) << h;
  EXPECT_TRUE(contains(h, "To: \"Anna  Bcc: victim@example.org\" <anna@example.org>")) << h;
  // A quote in a name is escaped, not closing the display name early.
  m.to_name = "A \"quoted\" name";
  EXPECT_TRUE(contains(headers_of(*build_mail(m)), "To: \"A \\\"quoted\\\" name\"")) << h;

  // Addresses with CR/LF are refused outright.
  m.to = "anna@example.org\r\nBcc: victim@example.org";
  auto refused = build_mail(m);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument);
  m.to = "anna@example.org";
  m.from = "x@y.z\nBcc: v@w.x";
  EXPECT_FALSE(build_mail(m).ok());
  m.from = "noreply@reclothes.example";
  m.message_id = "id>\r\nBcc: v@w.x";
  EXPECT_FALSE(build_mail(m).ok());
}

TEST(Mail, NonAsciiNamesAndSubjectsAreEncodedWords) {
  MailMessage m;
  m.from = "noreply@reclothes.example";
  m.to = "jorg@example.org";
  m.to_name = "Jörg Müller";
  m.subject = std::string("Bestellung abholbereit: Grüße ") + std::string(60, 'x') + " ✓";
  m.body = "Grüße\n";
  m.message_id = "n-2@reclothes.example";
  auto mail = build_mail(m);
  ASSERT_TRUE(mail.ok());
  const auto h = headers_of(*mail);
  EXPECT_TRUE(contains(h, "To: =?UTF-8?B?SsO2cmcgTcO8bGxlcg==?= <jorg@example.org>")) << h;
  EXPECT_TRUE(contains(h, "Subject: =?UTF-8?B?")) << h;
  // Long subjects are folded into encoded words of at most 75 characters.
  std::size_t start = 0;
  while (start < h.size()) {
    const auto end = std::min(h.find("\r\n", start), h.size());
    EXPECT_LE(end - start, 998u);
    const auto line = h.substr(start, end - start);
    if (line.rfind(" =?UTF-8?B?", 0) == 0) {
      EXPECT_LE(line.size() - 1, 75u) << line;
    }
    start = end + 2;
  }
  EXPECT_TRUE(contains(*mail, "\r\n\r\nGrüße\r\n"));
}

TEST(NotificationConfig, ChannelsAndSmtpAreParsedStrictly) {
  auto c = parse_domain_config({{"notifications",
                                 {{"channels", {"log", "smtp", "webhook"}},
                                  {"webhook_url", "http://127.0.0.1:9/h"},
                                  {"smtp_url", "smtp://127.0.0.1:2525"},
                                  {"smtp_from", "noreply@reclothes.example"},
                                  {"smtp_max_attempts", 2},
                                  {"smtp_breaker_failures", 4},
                                  {"smtp_breaker_cooldown_ms", 1000},
                                  {"smtp_timeout_ms", 500},
                                  {"webhook_max_attempts", 3},
                                  {"webhook_breaker_failures", 2},
                                  {"webhook_breaker_cooldown_ms", 700}}},
                                {"buying", {{"pickup_reminder_s", 3600}}}});
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  EXPECT_EQ(c->notifications.enabled_channels(),
            (std::vector<std::string>{"log", "smtp", "webhook"}));
  EXPECT_EQ(c->notifications.smtp.url, "smtp://127.0.0.1:2525");
  EXPECT_EQ(c->notifications.smtp.max_attempts, 2);
  EXPECT_EQ(c->notifications.smtp.breaker_failures, 4);
  EXPECT_EQ(c->notifications.smtp.breaker_cooldown, std::chrono::milliseconds(1000));
  EXPECT_EQ(c->notifications.smtp.timeout, std::chrono::milliseconds(500));
  EXPECT_EQ(c->buying.pickup_reminder, std::chrono::seconds(3600));
  EXPECT_EQ(c->notifications.webhook_max_attempts, 3);
  EXPECT_EQ(c->notifications.webhook_breaker_failures, 2);
  EXPECT_EQ(c->notifications.webhook_breaker_cooldown, std::chrono::milliseconds(700));
  // Defaults: the one sender, a day's reminder.
  auto d = parse_domain_config(nlohmann::json::object());
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->notifications.enabled_channels(), std::vector<std::string>{"log"});
  EXPECT_EQ(d->buying.pickup_reminder, std::chrono::seconds(86400));

  const auto refused = [](const nlohmann::json& notifications, const std::string& field) {
    auto r = parse_domain_config({{"notifications", notifications}});
    if (r.ok()) return ::testing::AssertionFailure() << notifications.dump() << " was accepted";
    if (!contains(r.error().message, field)) {
      return ::testing::AssertionFailure() << r.error().message << " does not name " << field;
    }
    return ::testing::AssertionSuccess();
  };
  EXPECT_TRUE(refused({{"channels", {"sms"}}}, "/notifications/channels"));
  EXPECT_TRUE(refused({{"channels", {"log", "log"}}}, "/notifications/channels"));
  EXPECT_TRUE(refused({{"channels", nlohmann::json::array()}}, "/notifications/channels"));
  EXPECT_TRUE(refused({{"channels", {"smtp"}}, {"smtp_from", "a@b.c"}}, "smtp_url"));
  EXPECT_TRUE(refused({{"channels", {"smtp"}}, {"smtp_url", "smtp://h"}}, "smtp_from"));
  EXPECT_TRUE(refused({{"smtp_url", "http://h"}}, "smtp_url"));
  EXPECT_TRUE(refused({{"smtp_from", "a@b.c\r\nBcc: x@y.z"}}, "smtp_from"));
  EXPECT_TRUE(refused({{"smtp_from_name", "A\nB"}}, "smtp_from_name"));
  EXPECT_TRUE(refused({{"smtp_username", "u"}}, "smtp_password"));
  EXPECT_TRUE(refused({{"smtp_max_attempts", 0}}, "smtp_max_attempts"));
  EXPECT_TRUE(refused({{"channels", {"webhook"}}}, "webhook_url"));
  EXPECT_TRUE(refused({{"smtp_typo", 1}}, "smtp_typo"));
  EXPECT_TRUE(refused({{"webhook_max_attempts", 11}}, "webhook_max_attempts"));
}

TEST(SmtpSender, RetriesWithBackOffThenTheBreakerStopsCalling) {
  ManualClock clock;
  std::vector<std::chrono::milliseconds> sleeps;
  DomainConfig::Notifications::Smtp o;
  o.url = "smtp://127.0.0.1:1";  // nothing listens on port 1: connection refused at once
  o.from = "noreply@reclothes.example";
  o.connect_timeout = std::chrono::milliseconds(500);
  o.max_attempts = 3;
  o.backoff_initial = std::chrono::milliseconds(100);
  o.backoff_max = std::chrono::milliseconds(150);
  o.breaker_failures = 5;
  o.breaker_cooldown = std::chrono::milliseconds(10000);
  auto sender = SmtpNotificationSender::create(
      o, clock, [&](std::chrono::milliseconds d) { sleeps.push_back(d); });
  ASSERT_TRUE(sender.ok()) << sender.error().to_string();
  Notification n;
  n.id = 1;
  n.recipient_kind = "customer";
  n.recipient_email = "anna@example.org";
  n.kind = "pickup_ready";

  auto st = (*sender)->send(n);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(sleeps.size(), 2u) << "three attempts, two waits";
  for (auto d : sleeps) EXPECT_LE(d, std::chrono::milliseconds(150));
  EXPECT_EQ((*sender)->breaker().state(), CircuitBreaker::State::kClosed);
  // Two more failures reach the threshold; the third attempt is not made.
  st = (*sender)->send(n);
  EXPECT_EQ((*sender)->breaker().state(), CircuitBreaker::State::kOpen);
  EXPECT_NE(st.error().message.find("the breaker is open now"), std::string::npos)
      << st.error().message;
  EXPECT_EQ(sleeps.size(), 3u) << "one more wait between this call's two attempts";
  sleeps.clear();
  st = (*sender)->send(n);
  EXPECT_NE(st.error().message.find("breaker open"), std::string::npos);
  EXPECT_TRUE(sleeps.empty()) << "an open breaker fails at once";
  // After the cool-down one trial goes out (and fails again: open again).
  clock.advance(std::chrono::milliseconds(10001));
  st = (*sender)->send(n);
  EXPECT_NE(st.error().message.find("Couldn't connect"), std::string::npos) << st.error().message;
  EXPECT_EQ((*sender)->breaker().state(), CircuitBreaker::State::kOpen);

  // Without an address nothing is tried; bad settings are refused at creation.
  Notification staff = n;
  staff.recipient_email.clear();
  EXPECT_EQ((*sender)->send(staff).error().code, ErrorCode::kFailedPrecondition);
  auto bad = o;
  bad.url = "http://127.0.0.1:25";
  EXPECT_FALSE(SmtpNotificationSender::create(bad, clock).ok());
  bad = o;
  bad.from = "a@b.c\r\nBcc: x@y.z";
  EXPECT_FALSE(SmtpNotificationSender::create(bad, clock).ok());
}

TEST(WebhookSender, WithRetryOptionsItRetriesAndHasABreaker) {
  ManualClock clock;
  std::vector<std::chrono::milliseconds> sleeps;
  WebhookNotificationSender::Retry retry;
  retry.max_attempts = 2;
  retry.breaker = {3, std::chrono::milliseconds(5000)};
  auto sender = WebhookNotificationSender::create(
      "http://127.0.0.1:1/hook", std::chrono::milliseconds(500), clock, retry,
      [&](std::chrono::milliseconds d) { sleeps.push_back(d); });
  ASSERT_TRUE(sender.ok()) << sender.error().to_string();
  Notification n;
  n.id = 7;
  n.kind = "pickup_ready";
  EXPECT_FALSE((*sender)->send(n).ok());
  EXPECT_EQ(sleeps.size(), 1u) << "two attempts, one wait";
  auto st = (*sender)->send(n);  // third failure opens it; the fourth attempt is not made
  EXPECT_EQ((*sender)->breaker()->state(), CircuitBreaker::State::kOpen);
  EXPECT_NE(st.error().message.find("the breaker is open now"), std::string::npos)
      << st.error().message;
  EXPECT_NE((*sender)->send(n).error().message.find("breaker open"), std::string::npos);
  EXPECT_EQ(sleeps.size(), 1u);
  // Without retry options: one attempt, no breaker (the behaviour tests and old callers rely on).
  auto plain =
      WebhookNotificationSender::create("http://127.0.0.1:1/hook", std::chrono::milliseconds(500));
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ((*plain)->breaker(), nullptr);
  retry.max_attempts = 0;
  EXPECT_FALSE(WebhookNotificationSender::create("http://127.0.0.1:1/hook",
                                                 std::chrono::milliseconds(500), clock, retry)
                   .ok());
}

}  // namespace
}  // namespace reclothes::controller::domain
