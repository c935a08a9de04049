#include "reclothes/controller/config.h"

#include <algorithm>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "reclothes/controller/cidr.h"
#include "reclothes/controller/json_fields.h"

namespace reclothes::controller {
namespace {

constexpr std::int64_t kMaxPort = 65535;

void read_listener(FieldReader& parent, std::string_view key, ListenerConfig& out, bool required) {
  const auto* obj = parent.object(key, required);
  if (!obj) return;
  auto r = parent.child(key, *obj);
  if (auto v = r.optional_string("host", 1, 255)) out.host = *v;
  out.port = static_cast<int>(r.integer("port", 0, kMaxPort));
  if (auto v = r.optional_integer("threads", 1, 1024)) out.threads = static_cast<int>(*v);
  r.finish();
  parent.merge(r);
}

void check_cidrs(FieldReader& r, std::string_view key, const std::vector<std::string>& blocks) {
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    auto parsed = CidrBlock::parse(blocks[i]);
    if (!parsed.ok()) r.fail(std::string(key) + "/" + std::to_string(i), parsed.error().message);
  }
}

}  // namespace

Result<ControllerConfig> parse_config(std::string_view json_text) {
  const auto doc = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    return make_error(ErrorCode::kInvalidArgument, "config is not valid JSON");
  }
  ControllerConfig c;
  FieldReader root(doc);

  if (const auto* db = root.object("database", true)) {
    auto r = root.child("database", *db);
    c.database.conninfo = r.string("conninfo", 1, 4096);
    if (auto v = r.optional_integer("pool_size", 1, 256))
      c.database.pool_size = static_cast<int>(*v);
    if (auto v = r.optional_integer("acquire_timeout_ms", 1, 600000)) {
      c.database.acquire_timeout = std::chrono::milliseconds(*v);
    }
    r.finish();
    root.merge(r);
  }

  read_listener(root, "public_listener", c.public_listener, true);
  read_listener(root, "internal_listener", c.internal_listener, true);
  if (auto v = root.optional_string_array("internal_allow", 1000, 64)) {
    c.internal_allow = *v;
    check_cidrs(root, "internal_allow", c.internal_allow);
  }
  if (auto v = root.optional_string_array("trusted_proxies", 1000, 64)) {
    c.trusted_proxies = *v;
    check_cidrs(root, "trusted_proxies", c.trusted_proxies);
  }

  if (const auto* http = root.object("http", false)) {
    auto r = root.child("http", *http);
    if (auto v = r.optional_integer("body_limit_bytes", 256, 64 * 1024 * 1024)) {
      c.http.body_limit_bytes = static_cast<std::size_t>(*v);
    }
    if (auto v = r.optional_integer("read_timeout_s", 1, 3600))
      c.http.read_timeout = std::chrono::seconds(*v);
    if (auto v = r.optional_integer("keep_alive_timeout_s", 1, 3600))
      c.http.keep_alive_timeout = std::chrono::seconds(*v);
    if (auto v = r.optional_integer("max_connections", 1, 1000000))
      c.http.max_connections = static_cast<std::size_t>(*v);
    r.finish();
    root.merge(r);
  }

  if (const auto* s = root.object("sessions", false)) {
    auto r = root.child("sessions", *s);
    constexpr std::int64_t kYear = 366LL * 24 * 3600;
    if (auto v = r.optional_integer("customer_ttl_s", 1, kYear))
      c.sessions.customer_ttl = std::chrono::seconds(*v);
    if (auto v = r.optional_integer("staff_ttl_s", 1, kYear))
      c.sessions.staff_ttl = std::chrono::seconds(*v);
    if (auto v = r.optional_integer("cache_ttl_ms", 0, 3600 * 1000))
      c.sessions.cache_ttl = std::chrono::milliseconds(*v);
    if (auto v = r.optional_integer("cache_max_entries", 1, 10000000))
      c.sessions.cache_max_entries = static_cast<std::size_t>(*v);
    r.finish();
    root.merge(r);
  }

  if (const auto* p = root.object("passwords", false)) {
    auto r = root.child("passwords", *p);
    // Bounds are libsodium's Argon2id limits (crypto_pwhash_argon2id_OPSLIMIT_MIN = 1,
    // MEMLIMIT_MIN = 8192) and a sane maximum.
    if (auto v = r.optional_integer("opslimit", 1, 32))
      c.passwords.opslimit = static_cast<std::uint64_t>(*v);
    if (auto v = r.optional_integer("memlimit_bytes", 8192, 4LL * 1024 * 1024 * 1024)) {
      c.passwords.memlimit = static_cast<std::size_t>(*v);
    }
    if (auto v = r.optional_integer("min_length", 8, 128))
      c.passwords.min_length = static_cast<std::size_t>(*v);
    r.finish();
    root.merge(r);
  }

  if (const auto* t = root.object("throttle", false)) {
    auto r = root.child("throttle", *t);
    if (auto v = r.optional_integer("window_s", 1, 24 * 3600))
      c.throttle.window = std::chrono::seconds(*v);
    if (auto v = r.optional_integer("max_failures_per_account", 1, 1000)) {
      c.throttle.max_failures_per_account = static_cast<int>(*v);
    }
    if (auto v = r.optional_integer("max_failures_per_address", 1, 100000)) {
      c.throttle.max_failures_per_address = static_cast<int>(*v);
    }
    r.finish();
    root.merge(r);
  }

  if (const auto* m = root.object("mqtt", true)) {
    auto r = root.child("mqtt", *m);
    c.mqtt.uri = r.string("uri", 1, 1024);
    c.mqtt.client_id = r.string("client_id", 1, 23 * 4);
    if (auto v = r.optional_string("share_group", 1, 64)) c.mqtt.share_group = *v;
    c.mqtt.username = r.optional_string("username", 1, 256);
    c.mqtt.password = r.optional_string("password", 0, 1024);
    if (auto v = r.optional_string("ca_file", 1, 4096)) c.mqtt.ca_file = *v;
    if (auto v = r.optional_string("cert_file", 1, 4096)) c.mqtt.cert_file = *v;
    if (auto v = r.optional_string("key_file", 1, 4096)) c.mqtt.key_file = *v;
    if (auto v = r.optional_integer("keepalive_s", 1, 3600))
      c.mqtt.keepalive = std::chrono::seconds(*v);
    if (auto v = r.optional_integer("queue_capacity", 1, 1000000)) {
      c.mqtt.queue_capacity = static_cast<std::size_t>(*v);
    }
    if (c.mqtt.cert_file.has_value() != c.mqtt.key_file.has_value()) {
      r.fail("key_file", "cert_file and key_file must be given together");
    }
    r.finish();
    root.merge(r);
  }

  if (const auto* t = root.object("tokens", true)) {
    auto r = root.child("tokens", *t);
    c.tokens.key_dir = r.string("key_dir", 1, 4096);
    if (auto v = r.optional_integer("courier_validity_s", 60, 7 * 24 * 3600)) {
      c.tokens.courier_validity = std::chrono::seconds(*v);
    }
    if (auto v = r.optional_integer("max_validity_s", 60, 30LL * 24 * 3600)) {
      c.tokens.max_validity = std::chrono::seconds(*v);
    }
    r.finish();
    root.merge(r);
  }

  if (const auto* l = root.object("log", false)) {
    auto r = root.child("log", *l);
    if (auto v = r.optional_string("level", 1, 16)) {
      static const std::vector<std::string> kLevels = {"trace", "debug", "info",
                                                       "warn",  "error", "off"};
      if (std::find(kLevels.begin(), kLevels.end(), *v) == kLevels.end()) {
        r.fail("level", "must be one of trace, debug, info, warn, error, off");
      }
      c.log.level = *v;
    }
    if (auto v = r.optional_string("format", 1, 16)) {
      if (*v == "text") {
        c.log.format = LogFormat::kText;
      } else if (*v == "json") {
        c.log.format = LogFormat::kJson;
      } else {
        r.fail("format", "must be \"text\" or \"json\"");
      }
    }
    r.finish();
    root.merge(r);
  }

  if (const auto* d = root.object("domain", false)) {
    auto parsed = domain::parse_domain_config(*d);
    if (parsed.ok()) {
      c.domain = std::move(parsed).value();
    } else {
      // "domain config /payments/x: ..." -> "/domain: /payments/x: ..."
      std::string problem = parsed.error().message;
      if (problem.rfind("domain config ", 0) == 0) problem.erase(0, 14);
      root.fail("domain", problem);
    }
  }

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
