// What a notification says, and the mail that carries it: pure functions of the order domain's
// rules target (no I/O). The worker's channels and the customer's notification list render a
// notification with render_notification(); the SMTP adapter wraps the text with build_mail().
// docs/orders.md, "Notifications", has the table of kinds and their payloads.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "reclothes/common/result.h"

namespace reclothes::controller::domain {

struct NotificationText {
  std::string title;  // one line, no CR/LF (a mail's subject)
  std::string text;   // plain text, lines separated by "\n"
};

// The kinds the domain queues for customers, in the order docs/orders.md lists them.
const std::vector<std::string_view>& customer_notification_kinds();

// Renders a notification's kind and payload as English text. Never fails: a payload field that
// is missing or of another type is left out of the sentence, an unknown kind gets a generic
// text. CR and LF inside payload strings become spaces in the title.
NotificationText render_notification(std::string_view kind, const nlohmann::json& payload);

// A notification as the customer's in-app list shows it. A one-time code (password_reset,
// email_change: any payload with "code") is proof of the mailbox and is left out of the payload
// and the text: whoever holds a stolen session could otherwise ask for a reset, read the code in
// the app and take the account over. Everything else is render_notification's.
struct InAppNotification {
  NotificationText text;
  nlohmann::json payload;
};
InAppNotification render_in_app(std::string_view kind, nlohmann::json payload);

// ---- mail
// -----------------------------------------------------------------------------------------

// A plain address "local@domain": 3..254 characters, exactly one '@' with text on both sides, no
// whitespace, control characters, '<', '>', '"', ',' or ';'. What build_mail accepts in From and
// To (a customer's stored email always is one).
bool is_plain_mail_address(std::string_view address);

// "Mon, 07 Dec 2026 12:57:57 +0000" (RFC 5322 date, UTC) of a wall-clock time in ms.
std::string rfc5322_date(std::int64_t wall_ms);

struct MailMessage {
  std::string from;       // plain address (is_plain_mail_address)
  std::string from_name;  // display name, may be empty
  std::string to;         // plain address
  std::string to_name;    // display name (the customer's name), may be empty
  std::string subject;
  std::string body;  // UTF-8 text; "\n" or "\r\n" line ends
  std::int64_t date_ms = 0;
  std::string message_id;  // "local@domain" without angle brackets, plain-address rules
};

// The whole RFC 5322 message (headers, blank line, body), CRLF line ends, UTF-8 text/plain body
// in 8bit. Header injection is impossible: CR, LF and other control characters in display names
// and the subject become spaces, and non-ASCII display names and subjects are RFC 2047 encoded
// words. kInvalidArgument when from, to or message_id is not a plain address.
Result<std::string> build_mail(const MailMessage& m);

}  // namespace reclothes::controller::domain
