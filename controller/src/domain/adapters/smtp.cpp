// The SMTP notification channel (libcurl's SMTP client) and the composition of the configured
// channels. An adapter: outside the domain target.
#include "reclothes/controller/domain/smtp.h"

#include <curl/curl.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <regex>
#include <thread>

#include "reclothes/common/backoff.h"
#include "reclothes/controller/domain/notification_text.h"
#include "reclothes/controller/domain/webhook.h"

namespace reclothes::controller::domain {
namespace {

// curl_global_init is not thread-safe in older libcurl releases: once per process, before the
// first handle.
void smtp_curl_global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct SmtpUpload {
  const std::string* data = nullptr;
  std::size_t pos = 0;
};

std::size_t smtp_read(char* buffer, std::size_t size, std::size_t items, void* userdata) {
  auto* up = static_cast<SmtpUpload*>(userdata);
  const std::size_t room = size * items;
  const std::size_t n = std::min(room, up->data->size() - up->pos);
  std::memcpy(buffer, up->data->data() + up->pos, n);
  up->pos += n;
  return n;
}

// The domain of a plain address ("example.org" of "a@example.org").
std::string smtp_domain_of(const std::string& address) {
  const auto at = address.find('@');
  return at == std::string::npos ? "localhost" : address.substr(at + 1);
}

}  // namespace

Result<std::unique_ptr<SmtpNotificationSender>> SmtpNotificationSender::create(Options options,
                                                                               const Clock& clock,
                                                                               Sleeper sleeper) {
  static const std::regex kUrl(R"(^smtps?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?$)");
  if (!std::regex_match(options.url, kUrl)) {
    return make_error(ErrorCode::kInvalidArgument,
                      "SMTP URL must be smtp(s)://host[:port], got \"" + options.url + "\"");
  }
  if (!is_plain_mail_address(options.from)) {
    return make_error(ErrorCode::kInvalidArgument, "SMTP From must be a plain address");
  }
  if (options.max_attempts < 1 || options.max_attempts > 10) {
    return make_error(ErrorCode::kInvalidArgument, "SMTP max_attempts must be 1..10");
  }
  smtp_curl_global_init();
  if (!sleeper) sleeper = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
  return std::unique_ptr<SmtpNotificationSender>(
      new SmtpNotificationSender(std::move(options), clock, std::move(sleeper)));
}

SmtpNotificationSender::SmtpNotificationSender(Options options, const Clock& clock, Sleeper sleeper)
    : options_(std::move(options)),
      clock_(clock),
      breaker_(clock, {options_.breaker_failures, options_.breaker_cooldown}),
      sleeper_(std::move(sleeper)) {}

Status SmtpNotificationSender::send_once(const std::string& to, const std::string& message,
                                         bool* permanent) {
  *permanent = false;
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), &curl_easy_cleanup);
  if (!curl) return make_error(ErrorCode::kInternal, "smtp: curl_easy_init failed");
  const std::string from = "<" + options_.from + ">";
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> rcpt(
      curl_slist_append(nullptr, ("<" + to + ">").c_str()), &curl_slist_free_all);
  SmtpUpload up{&message, 0};
  char errbuf[CURL_ERROR_SIZE] = {0};
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, options_.url.c_str());
  curl_easy_setopt(c, CURLOPT_MAIL_FROM, from.c_str());
  curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt.get());
  curl_easy_setopt(c, CURLOPT_READFUNCTION, &smtp_read);
  curl_easy_setopt(c, CURLOPT_READDATA, &up);
  curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(options_.connect_timeout.count()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.timeout.count()));
  if (options_.starttls) curl_easy_setopt(c, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_ALL));
  if (!options_.username.empty()) {
    curl_easy_setopt(c, CURLOPT_USERNAME, options_.username.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, options_.password.c_str());
  }
  const CURLcode rc = curl_easy_perform(c);
  if (rc == CURLE_OK) return ok_status();
  long code = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  const std::string why = errbuf[0] != '\0' ? std::string(errbuf) : curl_easy_strerror(rc);
  *permanent = code >= 500 && code < 600;
  return make_error(
      *permanent ? ErrorCode::kInvalidArgument : ErrorCode::kUnavailable,
      "smtp: " + why +
          (code != 0 ? " (server answered " + std::to_string(code) + ")" : std::string()));
}

Status SmtpNotificationSender::send(const Notification& n) {
  std::string to = n.recipient_email;
  if (n.payload.is_object() && n.payload.contains("to_email") &&
      n.payload["to_email"].is_string()) {
    to = n.payload["to_email"].get<std::string>();
  }
  if (to.empty()) {
    return make_error(ErrorCode::kFailedPrecondition, "smtp: the recipient has no email address");
  }
  const auto text = render_notification(n.kind, n.payload);
  MailMessage m;
  m.from = options_.from;
  m.from_name = options_.from_name;
  m.to = to;
  m.to_name = n.recipient_name;
  m.subject = text.title;
  m.body = text.text + "\n";
  m.date_ms = clock_.wall_ms();
  // Stable per notification: a redelivery (at least once) carries the same Message-ID.
  m.message_id = "notification-" + std::to_string(n.id) + "@" + smtp_domain_of(options_.from);
  RC_ASSIGN_OR_RETURN(auto message, build_mail(m));

  Status last = make_error(ErrorCode::kUnavailable, "smtp: not attempted");
  for (int attempt = 1; attempt <= options_.max_attempts; ++attempt) {
    if (!breaker_.allow()) {
      if (attempt > 1) {  // this call's own failures opened it: say what they were
        return make_error(ErrorCode::kUnavailable,
                          last.error().message + "; the breaker is open now");
      }
      return make_error(ErrorCode::kUnavailable,
                        "smtp: breaker open (the mail server failed repeatedly; not calling it "
                        "for a while)");
    }
    bool permanent = false;
    last = send_once(to, message, &permanent);
    if (last.ok() || permanent) {
      breaker_.record_success();  // an answer: the server works
      return last;
    }
    breaker_.record_failure();
    // No wait for an attempt the just-opened breaker would refuse anyway.
    if (attempt < options_.max_attempts && breaker_.state() != CircuitBreaker::State::kOpen) {
      sleeper_(reclothes::backoff_delay(attempt, options_.backoff_initial, options_.backoff_max));
    }
  }
  return last;
}

Result<std::vector<NotificationChannel>> make_notification_channels(
    const DomainConfig::Notifications& config, const Log& log, const Clock& clock) {
  std::vector<NotificationChannel> channels;
  for (const auto& name : config.enabled_channels()) {
    if (name == "webhook") {
      WebhookNotificationSender::Retry retry;
      retry.max_attempts = config.webhook_max_attempts;
      retry.breaker = {config.webhook_breaker_failures, config.webhook_breaker_cooldown};
      RC_ASSIGN_OR_RETURN(auto w, WebhookNotificationSender::create(config.webhook_url,
                                                                    config.timeout, clock, retry));
      channels.push_back({name, std::move(w)});
    } else if (name == "smtp") {
      RC_ASSIGN_OR_RETURN(auto s, SmtpNotificationSender::create(config.smtp, clock));
      channels.push_back({name, std::move(s)});
    } else if (name == "log") {
      channels.push_back({name, std::make_shared<LogNotificationSender>(log)});
    } else {
      return make_error(ErrorCode::kInvalidArgument, "unknown notification channel " + name);
    }
  }
  return channels;
}

}  // namespace reclothes::controller::domain
