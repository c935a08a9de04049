#include "reclothes/controller/config.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "reclothes/common/json_reader.h"
#include "reclothes/controller/cidr.h"
#include "reclothes/controller/json_fields.h"

namespace reclothes::controller {
namespace {

constexpr std::int64_t kMaxPort = 65535;
constexpr std::int64_t kYear = 366LL * 24 * 3600;

// Reads the object `key` of `parent` with `read(FieldReader&)` when it is there (a missing one is
// an error when `required`), refuses its unknown fields and hands its first error to `parent`.
template <typename Read>
void section(FieldReader& parent, std::string_view key, bool required, Read read) {
  const auto* obj = parent.object(key, required);
  if (!obj) return;
  FieldReader r = parent.child(key, *obj);
  read(r);
  r.finish();
  parent.merge(r);
}

// Sets `out` from an optional integer field in min..max, converted to T (an integer type or a
// std::chrono duration); leaves it alone when the field is absent.
template <typename T>
void optional_integer(FieldReader& r, std::string_view key, std::int64_t min, std::int64_t max,
                      T& out) {
  if (auto v = r.optional_integer(key, min, max)) out = static_cast<T>(*v);
}

void read_listener(FieldReader& r, ListenerConfig& out) {
  if (auto v = r.optional_string("host", 1, 255)) out.host = *v;
  out.port = static_cast<int>(r.integer("port", 0, kMaxPort));
  optional_integer(r, "threads", 1, 1024, out.threads);
}

void read_cidrs(FieldReader& r, std::string_view key, std::vector<std::string>& out) {
  auto blocks = r.optional_string_array(key, 1000, 64);
  if (!blocks) return;
  out = std::move(*blocks);
  for (std::size_t i = 0; i < out.size(); ++i) {
    auto parsed = CidrBlock::parse(out[i]);
    if (!parsed.ok()) r.fail(std::string(key) + "/" + std::to_string(i), parsed.error().message);
  }
}

void read_database(FieldReader& r, ControllerConfig::Database& d) {
  d.conninfo = r.string("conninfo", 1, 4096);
  optional_integer(r, "pool_size", 1, 256, d.pool_size);
  optional_integer(r, "acquire_timeout_ms", 1, 600000, d.acquire_timeout);
}

void read_http(FieldReader& r, ControllerConfig::Http& h) {
  optional_integer(r, "body_limit_bytes", 256, 64 * 1024 * 1024, h.body_limit_bytes);
  optional_integer(r, "read_timeout_s", 1, 3600, h.read_timeout);
  optional_integer(r, "keep_alive_timeout_s", 1, 3600, h.keep_alive_timeout);
  optional_integer(r, "max_connections", 1, 1000000, h.max_connections);
  optional_integer(r, "min_request_rate_bytes_per_s", 0, 1000000000, h.min_request_rate);
  optional_integer(r, "max_unfinished_requests_per_address", 0, 1000000,
                   h.max_unfinished_per_address);
}

void read_sessions(FieldReader& r, ControllerConfig::Sessions& s) {
  optional_integer(r, "customer_ttl_s", 1, kYear, s.customer_ttl);
  optional_integer(r, "staff_ttl_s", 1, kYear, s.staff_ttl);
  optional_integer(r, "cache_ttl_ms", 0, 3600 * 1000, s.cache_ttl);
  optional_integer(r, "cache_max_entries", 1, 10000000, s.cache_max_entries);
}

void read_passwords(FieldReader& r, ControllerConfig::Passwords& p) {
  // Bounds are libsodium's Argon2id limits (crypto_pwhash_argon2id_OPSLIMIT_MIN = 1,
  // MEMLIMIT_MIN = 8192) and a sane maximum.
  optional_integer(r, "opslimit", 1, 32, p.opslimit);
  optional_integer(r, "memlimit_bytes", 8192, 4LL * 1024 * 1024 * 1024, p.memlimit);
  optional_integer(r, "min_length", 8, 128, p.min_length);
}

void read_throttle(FieldReader& r, ControllerConfig::Throttle& t) {
  optional_integer(r, "window_s", 1, 24 * 3600, t.window);
  optional_integer(r, "max_failures_per_account", 1, 1000, t.max_failures_per_account);
  optional_integer(r, "max_failures_per_address", 1, 100000, t.max_failures_per_address);
}

void read_idempotency(FieldReader& r, ControllerConfig::Idempotency& i) {
  optional_integer(r, "ttl_s", 60, 30LL * 24 * 3600, i.ttl);
  optional_integer(r, "max_wait_ms", 0, 60000, i.max_wait);
  optional_integer(r, "in_progress_timeout_s", 1, 3600, i.in_progress_timeout);
}

void read_rate_limit(FieldReader& r, ControllerConfig::RateLimit& out) {
  if (auto v = r.optional_number("rate_per_s", 0, 1e6)) out.rate_per_s = *v;
  if (auto v = r.optional_number("burst", 1, 1e6)) out.burst = *v;
  if (out.rate_per_s > 0 && out.burst < 1) r.fail("burst", "must be at least 1 with a rate");
}

void read_rate_limit_class(FieldReader& r, ControllerConfig::RateLimitClass& c) {
  section(r, "per_address", false, [&](FieldReader& s) { read_rate_limit(s, c.per_address); });
  section(r, "per_account", false, [&](FieldReader& s) { read_rate_limit(s, c.per_account); });
}

void read_rate_limits(FieldReader& r, ControllerConfig::RateLimits& l) {
  section(r, "reads", false, [&](FieldReader& s) { read_rate_limit_class(s, l.reads); });
  section(r, "writes", false, [&](FieldReader& s) { read_rate_limit_class(s, l.writes); });
  read_cidrs(r, "exempt", l.exempt);
  optional_integer(r, "max_buckets", 100, 10000000, l.max_buckets);
}

void read_mqtt(FieldReader& r, ControllerConfig::Mqtt& m) {
  m.uri = r.string("uri", 1, 1024);
  m.client_id = r.string("client_id", 1, 23 * 4);
  if (auto v = r.optional_string("share_group", 1, 64)) m.share_group = *v;
  m.username = r.optional_string("username", 1, 256);
  m.password = r.optional_string("password", 0, 1024);
  if (auto v = r.optional_string("ca_file", 1, 4096)) m.ca_file = *v;
  if (auto v = r.optional_string("cert_file", 1, 4096)) m.cert_file = *v;
  if (auto v = r.optional_string("key_file", 1, 4096)) m.key_file = *v;
  optional_integer(r, "keepalive_s", 1, 3600, m.keepalive);
  optional_integer(r, "queue_capacity", 1, 1000000, m.queue_capacity);
  optional_integer(r, "retry_capacity", 0, 1000000, m.retry_capacity);
  optional_integer(r, "retry_bytes", 0, 1024 * 1024 * 1024, m.retry_bytes);
  if (m.cert_file.has_value() != m.key_file.has_value()) {
    r.fail("key_file", "cert_file and key_file must be given together");
  }
}

void read_tokens(FieldReader& r, ControllerConfig::Tokens& t) {
  t.key_dir = r.string("key_dir", 1, 4096);
  optional_integer(r, "courier_validity_s", 60, 7 * 24 * 3600, t.courier_validity);
  optional_integer(r, "max_validity_s", 60, 30LL * 24 * 3600, t.max_validity);
}

void read_log(FieldReader& r, ControllerConfig::Log& l) {
  if (auto v = r.optional_string("level", 1, 16)) {
    static const std::vector<std::string> kLevels = {"trace", "debug", "info",
                                                     "warn",  "error", "off"};
    if (std::find(kLevels.begin(), kLevels.end(), *v) == kLevels.end()) {
      r.fail("level", "must be one of trace, debug, info, warn, error, off");
    }
    l.level = *v;
  }
  if (auto v = r.optional_string("format", 1, 16)) {
    if (*v == "text") {
      l.format = LogFormat::kText;
    } else if (*v == "json") {
      l.format = LogFormat::kJson;
    } else {
      r.fail("format", "must be \"text\" or \"json\"");
    }
  }
}

// The domain reads its own section (domain::parse_domain_config); its error is reported under
// /domain: "domain config /payments/x: ..." becomes "/domain: /payments/x: ...".
void read_domain(FieldReader& root, domain::DomainConfig& out) {
  const auto* d = root.object("domain", false);
  if (!d) return;
  auto parsed = domain::parse_domain_config(*d);
  if (parsed.ok()) {
    out = std::move(parsed).value();
    return;
  }
  std::string problem = parsed.error().message;
  if (problem.rfind("domain config ", 0) == 0) problem.erase(0, 14);
  root.fail("domain", problem);
}

}  // namespace

Result<ControllerConfig> parse_config(std::string_view json_text) {
  auto doc = json::parse_strict(json_text);
  if (!doc.ok()) return std::move(doc).error().with_context("config");
  ControllerConfig c;
  FieldReader root(*doc);
  section(root, "database", true, [&](FieldReader& r) { read_database(r, c.database); });
  section(root, "public_listener", true,
          [&](FieldReader& r) { read_listener(r, c.public_listener); });
  section(root, "internal_listener", true,
          [&](FieldReader& r) { read_listener(r, c.internal_listener); });
  read_cidrs(root, "internal_allow", c.internal_allow);
  read_cidrs(root, "trusted_proxies", c.trusted_proxies);
  section(root, "http", false, [&](FieldReader& r) { read_http(r, c.http); });
  section(root, "sessions", false, [&](FieldReader& r) { read_sessions(r, c.sessions); });
  section(root, "passwords", false, [&](FieldReader& r) { read_passwords(r, c.passwords); });
  section(root, "throttle", false, [&](FieldReader& r) { read_throttle(r, c.throttle); });
  section(root, "idempotency", false, [&](FieldReader& r) { read_idempotency(r, c.idempotency); });
  section(root, "rate_limits", false, [&](FieldReader& r) { read_rate_limits(r, c.rate_limits); });
  section(root, "mqtt", true, [&](FieldReader& r) { read_mqtt(r, c.mqtt); });
  section(root, "tokens", true, [&](FieldReader& r) { read_tokens(r, c.tokens); });
  section(root, "log", false, [&](FieldReader& r) { read_log(r, c.log); });
  read_domain(root, c.domain);
  if (auto err = root.finish()) {
    return make_error(ErrorCode::kInvalidArgument, "config " + err->to_string());
  }
  return c;
}

Result<ControllerConfig> load_config(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) {
    return make_error(ErrorCode::kNotFound, "cannot read config file " + path.string());
  }
  std::stringstream ss;
  ss << in.rdbuf();
  auto c = parse_config(ss.str());
  if (!c.ok()) return std::move(c).error().with_context(path.string());
  return c;
}

}  // namespace reclothes::controller
