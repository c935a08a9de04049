// Notification texts and mail messages (pure; docs/orders.md, "Notifications").
#include "reclothes/controller/domain/notification_text.h"

#include <sodium.h>

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "reclothes/controller/domain/alarms.h"

namespace reclothes::controller::domain {
namespace {

// A payload field as text ("" when missing); numbers are written without quotes.
std::string notif_field(const nlohmann::json& payload, const char* key) {
  if (!payload.is_object()) return "";
  const auto it = payload.find(key);
  if (it == payload.end()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number_integer()) return std::to_string(it->get<std::int64_t>());
  return "";
}

// "12.34 EUR" from cents and a currency; "" without an amount.
std::string notif_amount(const nlohmann::json& payload) {
  if (!payload.is_object() || !payload.contains("amount_cents") ||
      !payload["amount_cents"].is_number_integer()) {
    return "";
  }
  const auto cents = payload["amount_cents"].get<std::int64_t>();
  char buf[64];
  std::snprintf(buf, sizeof buf, "%lld.%02lld", static_cast<long long>(cents / 100),
                static_cast<long long>(std::llabs(cents % 100)));
  const auto currency = notif_field(payload, "currency");
  return currency.empty() ? std::string(buf) : std::string(buf) + " " + currency;
}

// " in compartment 3 of box bx-1" when both are known.
std::string notif_where(const nlohmann::json& payload) {
  const auto box = notif_field(payload, "box_id");
  const auto compartment = notif_field(payload, "compartment");
  if (box.empty()) return "";
  if (compartment.empty()) return " at box " + box;
  return " in compartment " + compartment + " of box " + box;
}

std::string notif_until(const nlohmann::json& payload, const char* key) {
  const auto until = notif_field(payload, key);
  return until.empty() ? "" : " until " + until;
}

// " (valid until <expires_at>)" when the payload has it.
std::string notif_valid_until(const nlohmann::json& payload) {
  const auto at = notif_field(payload, "expires_at");
  return at.empty() ? "" : " (valid until " + at + ")";
}

// Control characters (CR, LF, TAB, ...) become spaces: a title is one header-safe line.
std::string notif_one_line(std::string s) {
  for (auto& c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  return s;
}

// What happens after the pickup window, by the payload's no-show policy ("" without one).
std::string notif_after_window(const nlohmann::json& payload) {
  const auto policy = notif_field(payload, "policy");
  if (policy == "refund") return " Afterwards it goes back and you get your money back.";
  if (policy == "restock") {
    return " Afterwards it goes back on sale and the payment is not refunded.";
  }
  return "";
}

NotificationText notif_render(std::string_view kind, const nlohmann::json& p) {
  // The staff's alarms about box faults (rules/alarms.cpp).
  if (auto alarm = render_alarm(kind, p)) return std::move(*alarm);
  const auto order = notif_field(p, "order_id");
  const auto donation = notif_field(p, "donation_id");
  if (kind == "pickup_ready") {
    return {"Your order " + order + " is ready for pickup",
            "Your order " + order + " is waiting for you" + notif_where(p) +
                notif_until(p, "until") + ".\nOpen the app and show its QR code at the box."};
  }
  if (kind == "pickup_reminder") {
    // "last": the final one of two reminders.
    const bool last =
        p.is_object() && p.contains("last") && p["last"].is_boolean() && p["last"].get<bool>();
    return {
        std::string(last ? "Last reminder" : "Reminder") + ": your order " + order + " is waiting",
        "Your order " + order + " is still waiting" + notif_where(p) + notif_until(p, "until") +
            ".\nPick it up before then with the QR code in the app." + notif_after_window(p)};
  }
  if (kind == "pickup_expired") {
    const auto amount = notif_amount(p);
    const bool restock = notif_field(p, "policy") == "restock";
    return {"Your order " + order + " was not picked up",
            "Your order " + order + " waited" + notif_where(p) +
                " until its pickup time ran out; its pickup code no longer opens the box. A "
                "courier brings it back to us" +
                (restock ? std::string(", and it goes back on sale. The payment is not refunded.")
                         : ", then we refund " +
                               (amount.empty() ? std::string("the full amount") : amount) +
                               " to your card.")};
  }
  if (kind == "pickup_code_resent") {
    // Customer service sent it again; the code itself stays in the app (no second token).
    return {"Your pickup code for order " + order,
            "As asked, here is the way to your order " + order + " again: it waits" +
                notif_where(p) + notif_until(p, "until") +
                ".\nOpen the order in the app and show its QR code at the box."};
  }
  if (kind == "reservation_expiring") {
    return {"Your donation reservation ends soon",
            "The compartment for your donation " + donation + " is reserved" + notif_where(p) +
                notif_until(p, "reserved_until") + ". Drop your clothes off before then."};
  }
  if (kind == "reservation_expired") {
    return {"Your donation reservation has ended",
            "The reservation for your donation " + donation +
                " has ended and the compartment was released. You can start a new donation at "
                "any time."};
  }
  if (kind == "donation_rewarded") {
    std::string reward;
    if (p.is_object() && p.contains("reward") && p["reward"].is_object()) {
      const auto& r = p["reward"];
      if (r.value("kind", "") == "coins") {
        reward = "You earned " + notif_field(r, "coins") + " coins.";
      } else if (r.value("kind", "") == "coupon") {
        reward = "You get a coupon for " + notif_field(r, "percent_off") +
                 " % off at a partner shop: " + notif_field(r, "coupon_code") + ".";
      }
    }
    return {"Thank you: your donation " + donation + " was checked",
            "We checked every piece of your donation " + donation + ". " + reward};
  }
  if (kind == "payment_failed") {
    const auto reason = notif_field(p, "reason");
    return {"Payment for your order " + order + " failed",
            "We could not take the payment for your order " + order +
                (reason.empty() ? "" : " (" + reason + ")") +
                ". Nothing was charged and the order is closed; the products are back on sale."};
  }
  if (kind == "refund_issued") {
    const auto amount = notif_amount(p);
    return {"Refund for your order " + order,
            "We refunded " + (amount.empty() ? std::string("the amount") : amount) +
                " for your order " + order + " to your card."};
  }
  if (kind == "order_cancelled") {
    const auto amount = notif_amount(p);
    return {"Your order " + order + " is cancelled",
            "Your order " + order + " is cancelled." +
                (amount.empty() ? "" : " The refund of " + amount + " follows.")};
  }
  if (kind == "return_received") {
    return {"We received your return of order " + order,
            "Your return of order " + order + " arrived" + notif_where(p) +
                ". We check it and refund you once it is back with us."};
  }
  if (kind == "password_reset") {
    return {"Your password reset code",
            "Your code is " + notif_field(p, "code") + notif_valid_until(p) +
                ". Enter it in the app to choose a new password. If you did not ask for it, "
                "ignore this message."};
  }
  if (kind == "email_change") {
    return {"Confirm your new email address",
            "Your code is " + notif_field(p, "code") + notif_valid_until(p) +
                ". Enter it in the app to confirm this email address for your account."};
  }
  if (kind == "donor_return_approved") {
    const auto coins = notif_field(p, "coins_taken");
    return {"Your donated item is coming back",
            "We approved your request " + notif_field(p, "donor_return_id") +
                " for an item of donation " + donation + ". Order " + order +
                " brings it to the box you chose; we tell you when it is ready for pickup." +
                (coins.empty() || coins == "0"
                     ? std::string()
                     : "\nThe " + coins + " coins it earned were taken back.")};
  }
  if (kind == "donor_return_refused") {
    return {"Your donated item cannot come back",
            "We could not approve your request " + notif_field(p, "donor_return_id") +
                " for an item of donation " + donation + ": " + notif_field(p, "reason")};
  }
  if (kind == "collecting_assigned" || kind == "task_assigned") {
    const auto task_kind = notif_field(p, "kind");
    return {"New " + (task_kind.empty() ? std::string("internal") : task_kind) + " order " + order,
            "The " + task_kind + " order " + order + " was assigned to you" + notif_where(p) + "."};
  }
  return {"New notification", "You have a new notification (" + std::string(kind) + ")."};
}

// ---- mail
// -----------------------------------------------------------------------------------------

bool mail_is_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

std::string mail_base64(std::string_view s) {
  std::string out(sodium_base64_ENCODED_LEN(s.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(s.data()),
                    s.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(out.size() - 1);  // the terminating NUL
  return out;
}

// Header text: one line (control characters become spaces), ASCII as is (quoted when a display
// name), anything else as RFC 2047 encoded words of at most 45 bytes each (75 characters), split
// between UTF-8 sequences and folded onto continuation lines.
std::string mail_header_text(std::string_view raw, bool display_name) {
  const auto s = notif_one_line(std::string(raw));
  if (mail_is_ascii(s)) {
    if (!display_name) return s;
    std::string q = "\"";
    for (char c : s) {
      if (c == '"' || c == '\\') q += '\\';
      q += c;
    }
    return q + "\"";
  }
  std::string out;
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t end = std::min(s.size(), i + 45);
    // Do not split a UTF-8 sequence: back up over continuation bytes.
    while (end < s.size() && end > i && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
    if (end == i) end = std::min(s.size(), i + 45);
    if (!out.empty()) out += "\r\n ";
    out += "=?UTF-8?B?" + mail_base64(std::string_view(s).substr(i, end - i)) + "?=";
    i = end;
  }
  return out;
}

std::string mail_mailbox(std::string_view name, std::string_view address) {
  if (name.empty()) return "<" + std::string(address) + ">";
  return mail_header_text(name, true) + " <" + std::string(address) + ">";
}

// The body with CRLF line ends (lone CR or LF become CRLF).
std::string mail_crlf(std::string_view body) {
  std::string out;
  for (std::size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (c == '\r') {
      out += "\r\n";
      if (i + 1 < body.size() && body[i + 1] == '\n') ++i;
    } else if (c == '\n') {
      out += "\r\n";
    } else {
      out += c;
    }
  }
  if (out.size() < 2 || out.compare(out.size() - 2, 2, "\r\n") != 0) out += "\r\n";
  return out;
}

}  // namespace

InAppNotification render_in_app(std::string_view kind, nlohmann::json payload) {
  if (!payload.is_object() || !payload.contains("code")) {
    auto text = render_notification(kind, payload);
    return {std::move(text), std::move(payload)};
  }
  payload.erase("code");
  auto text = render_notification(kind, payload);
  const std::string where = payload.contains("to_email") ? "the new address" : "your email address";
  text.text = "We sent the code to " + where +
              ". Enter it in the app; if you did not ask for it, ignore it.";
  return {std::move(text), std::move(payload)};
}

const std::vector<std::string_view>& customer_notification_kinds() {
  static const std::vector<std::string_view> kKinds = {
      "payment_failed",     "order_cancelled",       "refund_issued",        "pickup_ready",
      "pickup_reminder",    "pickup_expired",        "reservation_expiring", "reservation_expired",
      "donation_rewarded",  "return_received",       "password_reset",       "email_change",
      "pickup_code_resent", "donor_return_approved", "donor_return_refused"};
  return kKinds;
}

NotificationText render_notification(std::string_view kind, const nlohmann::json& payload) {
  auto t = notif_render(kind, payload);
  t.title = notif_one_line(std::move(t.title));
  return t;
}

bool is_plain_mail_address(std::string_view a) {
  if (a.size() < 3 || a.size() > 254) return false;
  const auto at = a.find('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == a.size()) return false;
  if (a.find('@', at + 1) != std::string_view::npos) return false;
  return std::none_of(a.begin(), a.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u <= 0x20 || u == 0x7f || c == '<' || c == '>' || c == '"' || c == ',' || c == ';' ||
           c == '(' || c == ')' || c == '\\';
  });
}

std::string rfc5322_date(std::int64_t wall_ms) {
  const std::time_t t = static_cast<std::time_t>(wall_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d +0000", kDays[tm.tm_wday],
                tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return buf;
}

Result<std::string> build_mail(const MailMessage& m) {
  if (!is_plain_mail_address(m.from)) {
    return make_error(ErrorCode::kInvalidArgument, "mail: the From address is not a plain address");
  }
  if (!is_plain_mail_address(m.to)) {
    return make_error(ErrorCode::kInvalidArgument, "mail: the To address is not a plain address");
  }
  if (!is_plain_mail_address(m.message_id)) {
    return make_error(ErrorCode::kInvalidArgument, "mail: the Message-ID is not local@domain");
  }
  std::string out;
  out += "From: " + mail_mailbox(m.from_name, m.from) + "\r\n";
  out += "To: " + mail_mailbox(m.to_name, m.to) + "\r\n";
  out += "Subject: " + mail_header_text(m.subject, false) + "\r\n";
  out += "Date: " + rfc5322_date(m.date_ms) + "\r\n";
  out += "Message-ID: <" + m.message_id + ">\r\n";
  out += "MIME-Version: 1.0\r\n";
  out += "Content-Type: text/plain; charset=UTF-8\r\n";
  out += "Content-Transfer-Encoding: 8bit\r\n";
  out += "\r\n";
  out += mail_crlf(m.body);
  return out;
}

}  // namespace reclothes::controller::domain
