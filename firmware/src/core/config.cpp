// Strict JSON configuration loader on the common reader (reclothes/common/json_reader.h): every
// error names the field as a JSON pointer ("/compartments/2/pin/lock_line: ...") so a technician
// can find it in the file.
#include "reclothes/firmware/config.h"

#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <utility>

#include "reclothes/common/box_config_json.h"
#include "reclothes/common/json_reader.h"
#include "reclothes/common/token.h"

namespace reclothes::firmware {
namespace {

using json::child;
using json::field_error;
using json::Json;

constexpr std::size_t kMaxCompartments = 64;  // the HAL backends' limit
constexpr std::size_t kMaxTrustedKeys = 32;
constexpr std::size_t kMaxConfigBytes = 1024 * 1024;

// ---- readers of the configuration's own value types ---------------------------------------------

auto seconds_in(std::int64_t min, std::int64_t max) {
  return json::duration_in<std::chrono::seconds>(min, max);
}

// ---- sections -----------------------------------------------------------------------------------

Result<std::string> read_file(const std::filesystem::path& path, const std::string& what) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return make_error(ErrorCode::kNotFound, what + ": " + path.string() + " does not exist");
  }
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) return make_error(ErrorCode::kIo, what + ": " + path.string() + ": " + ec.message());
  if (size > kMaxConfigBytes) {
    return make_error(ErrorCode::kInvalidArgument,
                      what + ": " + path.string() + " is larger than 1 MiB");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(ErrorCode::kIo, what + ": cannot read " + path.string());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

Result<TlsConfig> read_tls(const Json& j, std::string_view p,
                           const std::filesystem::path& base_dir) {
  RC_TRY(json::check_object(j, p, {"ca", "cert", "key"}));
  TlsConfig tls;
  RC_ASSIGN_OR_RETURN(const std::string ca,
                      json::read_field(j, p, "ca", json::read_nonempty_string));
  tls.ca = base_dir / ca;
  std::optional<std::string> cert;
  std::optional<std::string> key;
  RC_TRY(json::read_optional(j, p, "cert", cert, json::read_nonempty_string));
  RC_TRY(json::read_optional(j, p, "key", key, json::read_nonempty_string));
  if (cert.has_value() != key.has_value()) {
    return field_error(child(p, cert ? "key" : "cert"),
                       "cert and key must be given together (the box's client identity)");
  }
  if (cert) tls.cert = base_dir / *cert;
  if (key) tls.key = base_dir / *key;
  return tls;
}

Result<BrokerConfig> read_broker(const Json& j, std::string_view p, const std::string& box_id,
                                 const std::filesystem::path& base_dir) {
  RC_TRY(
      json::check_object(j, p, {"uri", "client_id", "username", "password", "tls", "keepalive_s"}));
  BrokerConfig b;
  RC_ASSIGN_OR_RETURN(b.uri, json::read_field(j, p, "uri", json::read_nonempty_string));
  const auto scheme_end = b.uri.find("://");
  const std::string scheme = scheme_end == std::string::npos ? "" : b.uri.substr(0, scheme_end);
  const bool secure = scheme == "ssl" || scheme == "mqtts" || scheme == "wss";
  if (!secure && scheme != "tcp" && scheme != "mqtt" && scheme != "ws") {
    return field_error(
        child(p, "uri"),
        "expected tcp://, ssl://, mqtt://, mqtts://, ws:// or wss://host:port, got " +
            json::quote(b.uri));
  }
  b.client_id = box_id;
  RC_TRY(json::read_optional(j, p, "client_id", b.client_id, json::read_nonempty_string));
  RC_TRY(json::read_optional(j, p, "username", b.username, json::read_nonempty_string));
  RC_TRY(json::read_optional(j, p, "password", b.password, json::read_string));
  if (b.password && !b.username) {
    return field_error(child(p, "password"), "given without a username");
  }
  RC_TRY(json::read_optional(j, p, "tls", b.tls, [&](const Json& v, std::string_view at) {
    return read_tls(v, at, base_dir);
  }));
  if (secure && !b.tls) {
    return field_error(child(p, "tls"), "required for a " + scheme + ":// uri");
  }
  RC_TRY(json::read_optional(j, p, "keepalive_s", b.keepalive, seconds_in(5, 3600)));
  return b;
}

Result<TrustedKeyConfig> read_key(const Json& k, std::string_view p,
                                  const std::filesystem::path& base_dir) {
  RC_TRY(json::check_object(k, p, {"key_id", "public_key_pem", "public_key_file", "retired"}));
  TrustedKeyConfig key;
  RC_ASSIGN_OR_RETURN(key.key_id,
                      json::read_field(k, p, "key_id", json::integer_in<std::uint16_t>(0, 65535)));
  const Json* pem = json::find(k, "public_key_pem");
  const Json* file = json::find(k, "public_key_file");
  if ((pem == nullptr) == (file == nullptr)) {
    return field_error(p, "give exactly one of public_key_pem and public_key_file");
  }
  const std::string where = child(p, pem != nullptr ? "public_key_pem" : "public_key_file");
  if (pem != nullptr) {
    RC_ASSIGN_OR_RETURN(key.public_key_pem, json::read_nonempty_string(*pem, where));
  } else {
    RC_ASSIGN_OR_RETURN(const std::string name, json::read_nonempty_string(*file, where));
    RC_ASSIGN_OR_RETURN(key.public_key_pem, read_file(base_dir / name, where));
  }
  // Load it once here so a bad key is reported with its field, not at the first scan.
  TrustedKeys probe;
  if (Status s = probe.add(key.key_id, key.public_key_pem); !s.ok()) {
    return field_error(where, s.error().message);
  }
  RC_TRY(json::read_optional(k, p, "retired", key.retired, json::read_bool));
  return key;
}

Result<std::vector<TrustedKeyConfig>> read_keys(const Json& j, std::string_view p,
                                                const std::filesystem::path& base_dir) {
  if (!j.is_array()) return json::expected_error(p, "an array", j);
  if (j.size() > kMaxTrustedKeys) {
    return field_error(p, "at most " + std::to_string(kMaxTrustedKeys) + " keys");
  }
  std::vector<TrustedKeyConfig> keys;
  std::map<std::uint16_t, std::size_t> seen;
  for (std::size_t i = 0; i < j.size(); ++i) {
    RC_ASSIGN_OR_RETURN(TrustedKeyConfig key, read_key(j[i], child(p, i), base_dir));
    if (auto [it, fresh] = seen.emplace(key.key_id, i); !fresh) {
      return field_error(
          child(child(p, i), "key_id"),
          "key id " + std::to_string(key.key_id) + " is already used by " + child(p, it->second));
    }
    keys.push_back(std::move(key));
  }
  return keys;
}

Result<CompartmentSize> read_size(const Json& v, std::string_view p) {
  if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    if (s == "S") return CompartmentSize::kS;
    if (s == "M") return CompartmentSize::kM;
    if (s == "L") return CompartmentSize::kL;
    if (s == "XL") return CompartmentSize::kXL;
  }
  return json::expected_error(p, "one of \"S\", \"M\", \"L\", \"XL\"", v);
}

Result<CompartmentConfig> read_compartment(const Json& c, std::string_view p, std::size_t index) {
  RC_TRY(json::check_object(c, p, {"id", "size", "pulse_ms", "fill_sensor", "pin"}));
  CompartmentConfig cc;
  RC_ASSIGN_OR_RETURN(cc.id, json::read_field(c, p, "id", json::integer_in<int>(1, 255)));
  if (static_cast<std::size_t>(cc.id) != index + 1) {
    return field_error(child(p, "id"), "expected " + std::to_string(index + 1) +
                                           " (ids are 1..N in file order), got " +
                                           std::to_string(cc.id));
  }
  RC_ASSIGN_OR_RETURN(cc.size, json::read_field(c, p, "size", read_size));
  RC_TRY(box_config_json::read_pulse_and_fill(c, p, cc));
  RC_TRY(
      json::read_optional(c, p, "pin", cc.pin, box_config_json::read_compartment_pins<PinConfig>));
  return cc;
}

Result<std::vector<CompartmentConfig>> read_compartments(const Json& j, std::string_view p) {
  if (!j.is_array()) return json::expected_error(p, "an array", j);
  if (j.empty() || j.size() > kMaxCompartments) {
    return field_error(p, "expected 1.." + std::to_string(kMaxCompartments) +
                              " compartments, got " + std::to_string(j.size()));
  }
  std::vector<CompartmentConfig> out;
  for (std::size_t i = 0; i < j.size(); ++i) {
    RC_ASSIGN_OR_RETURN(CompartmentConfig c, read_compartment(j[i], child(p, i), i));
    out.push_back(std::move(c));
  }
  return out;
}

Result<Timeouts> read_timeouts(const Json& j, std::string_view p) {
  RC_TRY(json::check_object(j, p,
                            {"door_open_after_unlock_s", "door_ajar_s", "reservation_grace_s",
                             "token_leeway_s", "scan_repeat_s"}));
  Timeouts t;
  RC_TRY(json::read_optional(j, p, "door_open_after_unlock_s", t.door_open_after_unlock,
                             seconds_in(1, 600)));
  RC_TRY(json::read_optional(j, p, "door_ajar_s", t.door_ajar, seconds_in(10, 86400)));
  RC_TRY(
      json::read_optional(j, p, "reservation_grace_s", t.reservation_grace, seconds_in(0, 86400)));
  RC_TRY(json::read_optional(j, p, "token_leeway_s", t.token_leeway, seconds_in(0, 3600)));
  RC_TRY(json::read_optional(j, p, "scan_repeat_s", t.scan_repeat, seconds_in(0, 60)));
  return t;
}

Result<HalBackend> read_backend(const Json& v, std::string_view p) {
  if (v == "sim") return HalBackend::kSim;
  if (v == "linux") return HalBackend::kLinux;
  return json::expected_error(p, "\"sim\" or \"linux\"", v);
}

// "log": {"format": "text" | "json"} (log_format.h).
Result<LogFormat> read_log(const Json& j, std::string_view p) {
  RC_TRY(json::check_object(j, p, {"format"}));
  LogFormat format = LogFormat::kText;
  RC_TRY(json::read_optional(j, p, "format", format,
                             [](const Json& v, std::string_view at) -> Result<LogFormat> {
                               if (v.is_string()) {
                                 if (auto f = parse_log_format(v.get<std::string>())) return *f;
                               }
                               return json::expected_error(at, "\"text\" or \"json\"", v);
                             }));
  return format;
}

Result<HalConfig> read_hal(const Json& j, std::string_view p) {
  RC_TRY(json::check_object(j, p, {"backend", "tamper", "led_green", "led_red"}));
  HalConfig h;
  RC_ASSIGN_OR_RETURN(h.backend, json::read_field(j, p, "backend", read_backend));
  RC_TRY(box_config_json::read_cabinet_pins(j, p, h));
  return h;
}

// The linux backend needs every line once; saying which two fields collide beats the backend's
// EBUSY at start-up.
Status check_pins(const BoxConfig& config) {
  if (config.hal.backend != HalBackend::kLinux) return ok_status();
  std::map<std::pair<std::string, unsigned int>, std::string> used;
  auto claim = [&](const std::string& chip, unsigned int line, const std::string& p) -> Status {
    auto [it, fresh] = used.emplace(std::pair{chip, line}, p);
    if (!fresh) {
      return field_error(
          p, chip + " line " + std::to_string(line) + " is already used by " + it->second);
    }
    return ok_status();
  };
  for (std::size_t i = 0; i < config.compartments.size(); ++i) {
    const CompartmentConfig& c = config.compartments[i];
    const std::string pin = child(child("/compartments", i), "pin");
    if (!c.pin) return field_error(pin, "required with the linux backend");
    RC_TRY(claim(c.pin->chip, c.pin->lock_line, child(pin, "lock_line")));
    RC_TRY(claim(c.pin->chip, c.pin->door_line, child(pin, "door_line")));
  }
  for (auto [key, pin] :
       {std::pair{"tamper", &config.hal.tamper}, std::pair{"led_green", &config.hal.led_green},
        std::pair{"led_red", &config.hal.led_red}}) {
    if (*pin) RC_TRY(claim((*pin)->chip, (*pin)->line, child(child("/hal", key), "line")));
  }
  return ok_status();
}

}  // namespace

std::string_view to_string(CompartmentSize size) {
  switch (size) {
    case CompartmentSize::kS:
      return "S";
    case CompartmentSize::kM:
      return "M";
    case CompartmentSize::kL:
      return "L";
    case CompartmentSize::kXL:
      return "XL";
  }
  return "M";
}

std::string_view to_string(HalBackend backend) {
  return backend == HalBackend::kLinux ? "linux" : "sim";
}

Result<BoxConfig> parse_config(std::string_view json_text, const std::filesystem::path& base_dir) {
  if (json_text.size() > kMaxConfigBytes) {
    return make_error(ErrorCode::kInvalidArgument, "configuration is larger than 1 MiB");
  }
  RC_ASSIGN_OR_RETURN(const Json root, json::parse_strict(json_text));
  const std::string_view top;
  RC_TRY(json::check_object(root, top,
                            {"box_id", "journal_path", "broker", "trusted_keys", "compartments",
                             "timeouts", "hal", "camera", "state_report_interval_s", "log"}));
  BoxConfig config;
  RC_ASSIGN_OR_RETURN(config.box_id,
                      json::read_field(root, top, "box_id", json::read_nonempty_string));
  if (!is_valid_box_id(config.box_id)) {
    return field_error(
        "/box_id", "expected 1..32 characters of [A-Za-z0-9_-], got " + json::quote(config.box_id));
  }
  RC_ASSIGN_OR_RETURN(const std::string journal,
                      json::read_field(root, top, "journal_path", json::read_nonempty_string));
  config.journal_path = base_dir / journal;
  RC_ASSIGN_OR_RETURN(config.broker,
                      json::read_field(root, top, "broker", [&](const Json& v, std::string_view p) {
                        return read_broker(v, p, config.box_id, base_dir);
                      }));
  RC_TRY(json::read_optional(
      root, top, "trusted_keys", config.trusted_keys,
      [&](const Json& v, std::string_view p) { return read_keys(v, p, base_dir); }));
  RC_ASSIGN_OR_RETURN(config.compartments,
                      json::read_field(root, top, "compartments", read_compartments));
  RC_TRY(json::read_optional(root, top, "timeouts", config.timeouts, read_timeouts));
  RC_ASSIGN_OR_RETURN(config.hal, json::read_field(root, top, "hal", read_hal));
  RC_TRY(json::read_optional(root, top, "camera", config.camera,
                             box_config_json::read_camera<CameraConfig>));
  RC_TRY(json::read_optional(root, top, "state_report_interval_s", config.state_report_interval,
                             seconds_in(5, 86400)));
  RC_TRY(json::read_optional(root, top, "log", config.log_format, read_log));
  RC_TRY(check_pins(config));
  return config;
}

Result<BoxConfig> load_config(const std::filesystem::path& path) {
  RC_ASSIGN_OR_RETURN(const std::string text, read_file(path, "configuration"));
  auto config = parse_config(text, path.parent_path());
  if (!config.ok()) return std::move(config).error().with_context(path.string());
  return config;
}

}  // namespace reclothes::firmware
