// Strict JSON configuration loader. Every error names the field as a path
// ("compartments[2].pin.lock_line: ...") so a technician can find it in the file.
#include "reclothes/firmware/config.h"

#include <fstream>
#include <initializer_list>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <utility>

#include "reclothes/common/token.h"

namespace reclothes::firmware {
namespace {

using Json = nlohmann::json;

constexpr std::size_t kMaxCompartments = 64;  // the HAL backends' limit
constexpr std::size_t kMaxTrustedKeys = 32;
constexpr std::size_t kMaxConfigBytes = 1024 * 1024;

Error field_error(const std::string& path, const std::string& message) {
  return make_error(ErrorCode::kInvalidArgument, path + ": " + message);
}

std::string describe(const Json& v) {
  std::string text = v.dump();
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  switch (v.type()) {
    case Json::value_t::string:
      return "the string " + text;
    case Json::value_t::boolean:
      return "the boolean " + text;
    case Json::value_t::null:
      return "null";
    case Json::value_t::array:
      return "an array";
    case Json::value_t::object:
      return "an object";
    case Json::value_t::number_float:
      return "the number " + text;
    default:
      return text;
  }
}

std::string child(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}
std::string child(const std::string& path, std::size_t index) {
  return path + "[" + std::to_string(index) + "]";
}

// Refuses any key not in `allowed`: a typo must not silently fall back to a default.
Status check_object(const Json& j, const std::string& path,
                    std::initializer_list<std::string_view> allowed) {
  if (!j.is_object()) {
    return field_error(path.empty() ? "(top level)" : path,
                       "expected an object, got " + describe(j));
  }
  for (const auto& [key, value] : j.items()) {
    bool known = false;
    for (std::string_view a : allowed) known = known || a == key;
    if (!known) return field_error(child(path, key), "unknown field");
  }
  return ok_status();
}

const Json* find(const Json& j, std::string_view key) {
  auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}

Result<const Json*> require(const Json& j, const std::string& path, std::string_view key) {
  const Json* v = find(j, key);
  if (v == nullptr) return field_error(child(path, std::string(key)), "required field is missing");
  return v;
}

Result<std::uint64_t> read_uint(const Json& v, const std::string& path, std::uint64_t min,
                                std::uint64_t max) {
  std::optional<std::uint64_t> n;
  if (v.is_number_unsigned()) {
    n = v.get<std::uint64_t>();
  } else if (v.is_number_integer() && v.get<std::int64_t>() >= 0) {
    n = static_cast<std::uint64_t>(v.get<std::int64_t>());
  }
  const std::string range = std::to_string(min) + ".." + std::to_string(max);
  if (!n) return field_error(path, "expected an integer in " + range + ", got " + describe(v));
  if (*n < min || *n > max) {
    return field_error(path, "expected an integer in " + range + ", got " + std::to_string(*n));
  }
  return *n;
}

Result<bool> read_bool(const Json& v, const std::string& path) {
  if (!v.is_boolean()) return field_error(path, "expected a boolean, got " + describe(v));
  return v.get<bool>();
}

Result<std::string> read_string(const Json& v, const std::string& path, bool allow_empty = false) {
  if (!v.is_string()) return field_error(path, "expected a string, got " + describe(v));
  std::string s = v.get<std::string>();
  if (s.empty() && !allow_empty) return field_error(path, "must not be empty");
  return s;
}

// Optional fields: keep the default when absent.
template <typename T, typename Reader>
Status optional_field(const Json& j, const std::string& path, std::string_view key, T& out,
                      Reader reader) {
  if (const Json* v = find(j, key)) {
    RC_ASSIGN_OR_RETURN(out, reader(*v, child(path, std::string(key))));
  }
  return ok_status();
}

template <typename Rep>
Status optional_seconds(const Json& j, const std::string& path, std::string_view key,
                        std::chrono::duration<Rep>& out, std::uint64_t min, std::uint64_t max) {
  if (const Json* v = find(j, key)) {
    RC_ASSIGN_OR_RETURN(const std::uint64_t n,
                        read_uint(*v, child(path, std::string(key)), min, max));
    out = std::chrono::duration<Rep>(static_cast<Rep>(n));
  }
  return ok_status();
}

auto string_reader() {
  return [](const Json& v, const std::string& p) { return read_string(v, p); };
}
auto bool_reader() {
  return [](const Json& v, const std::string& p) { return read_bool(v, p); };
}
auto line_reader() {
  return [](const Json& v, const std::string& p) -> Result<unsigned int> {
    RC_ASSIGN_OR_RETURN(const std::uint64_t n, read_uint(v, p, 0, 1023));
    return static_cast<unsigned int>(n);
  };
}

// ---- duplicate keys -----------------------------------------------------------------------------
// nlohmann keeps the last of two equal keys silently; for a configuration file that hides a
// mistake, so a parse callback tracks the keys of every open object and remembers the first
// duplicate with its path.
class DuplicateKeyFinder {
 public:
  bool operator()(int /*depth*/, Json::parse_event_t event, Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start:
      case Json::parse_event_t::array_start:
        frames_.push_back(Frame{event == Json::parse_event_t::array_start,
                                0,
                                {},
                                {},
                                frames_.empty() ? std::string() : element_path()});
        break;
      case Json::parse_event_t::object_end:
      case Json::parse_event_t::array_end:
        frames_.pop_back();
        if (!frames_.empty() && frames_.back().array) ++frames_.back().next_index;
        break;
      case Json::parse_event_t::key: {
        Frame& f = frames_.back();
        f.key = parsed.get<std::string>();
        if (!f.keys.insert(f.key).second && !duplicate_) {
          duplicate_ = child(f.path, f.key);
        }
        break;
      }
      case Json::parse_event_t::value:
        if (!frames_.empty() && frames_.back().array) ++frames_.back().next_index;
        break;
    }
    return true;
  }
  const std::optional<std::string>& duplicate() const { return duplicate_; }

 private:
  struct Frame {
    bool array = false;
    std::size_t next_index = 0;
    std::string key;
    std::set<std::string> keys;
    std::string path;
  };
  // The path of the value about to start inside the innermost open container.
  std::string element_path() const {
    const Frame& f = frames_.back();
    return f.array ? child(f.path, f.next_index) : child(f.path, f.key);
  }
  std::vector<Frame> frames_;
  std::optional<std::string> duplicate_;
};

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

Result<TlsConfig> read_tls(const Json& j, const std::string& path,
                           const std::filesystem::path& base_dir) {
  RC_TRY(check_object(j, path, {"ca", "cert", "key"}));
  TlsConfig tls;
  RC_ASSIGN_OR_RETURN(const Json* ca, require(j, path, "ca"));
  RC_ASSIGN_OR_RETURN(const std::string ca_path, read_string(*ca, child(path, "ca")));
  tls.ca = base_dir / ca_path;
  std::optional<std::string> cert;
  std::optional<std::string> key;
  RC_TRY(optional_field(j, path, "cert", cert, string_reader()));
  RC_TRY(optional_field(j, path, "key", key, string_reader()));
  if (cert.has_value() != key.has_value()) {
    return field_error(child(path, cert ? "key" : "cert"),
                       "cert and key must be given together (the box's client identity)");
  }
  if (cert) tls.cert = base_dir / *cert;
  if (key) tls.key = base_dir / *key;
  return tls;
}

Result<BrokerConfig> read_broker(const Json& j, const std::string& path, const std::string& box_id,
                                 const std::filesystem::path& base_dir) {
  RC_TRY(check_object(j, path, {"uri", "client_id", "username", "password", "tls", "keepalive_s"}));
  BrokerConfig b;
  RC_ASSIGN_OR_RETURN(const Json* uri, require(j, path, "uri"));
  RC_ASSIGN_OR_RETURN(b.uri, read_string(*uri, child(path, "uri")));
  const auto scheme_end = b.uri.find("://");
  const std::string scheme = scheme_end == std::string::npos ? "" : b.uri.substr(0, scheme_end);
  const bool secure = scheme == "ssl" || scheme == "mqtts" || scheme == "wss";
  if (!secure && scheme != "tcp" && scheme != "mqtt" && scheme != "ws") {
    return field_error(
        child(path, "uri"),
        "expected tcp://, ssl://, mqtt://, mqtts://, ws:// or wss://host:port, got \"" + b.uri +
            "\"");
  }
  b.client_id = box_id;
  RC_TRY(optional_field(j, path, "client_id", b.client_id, string_reader()));
  RC_TRY(optional_field(j, path, "username", b.username, string_reader()));
  if (const Json* pw = find(j, "password")) {
    RC_ASSIGN_OR_RETURN(b.password, read_string(*pw, child(path, "password"), true));
  }
  if (b.password && !b.username) {
    return field_error(child(path, "password"), "given without a username");
  }
  if (const Json* tls = find(j, "tls")) {
    RC_ASSIGN_OR_RETURN(b.tls, read_tls(*tls, child(path, "tls"), base_dir));
  }
  if (secure && !b.tls) {
    return field_error(child(path, "tls"), "required for a " + scheme + ":// uri");
  }
  RC_TRY(optional_seconds(j, path, "keepalive_s", b.keepalive, 5, 3600));
  return b;
}

Result<std::vector<TrustedKeyConfig>> read_keys(const Json& j, const std::string& path,
                                                const std::filesystem::path& base_dir) {
  if (!j.is_array()) return field_error(path, "expected an array, got " + describe(j));
  if (j.size() > kMaxTrustedKeys) {
    return field_error(path, "at most " + std::to_string(kMaxTrustedKeys) + " keys");
  }
  std::vector<TrustedKeyConfig> keys;
  std::map<std::uint16_t, std::size_t> seen;
  for (std::size_t i = 0; i < j.size(); ++i) {
    const std::string p = child(path, i);
    const Json& k = j[i];
    RC_TRY(check_object(k, p, {"key_id", "public_key_pem", "public_key_file", "retired"}));
    TrustedKeyConfig key;
    RC_ASSIGN_OR_RETURN(const Json* id, require(k, p, "key_id"));
    RC_ASSIGN_OR_RETURN(const std::uint64_t key_id, read_uint(*id, child(p, "key_id"), 0, 65535));
    key.key_id = static_cast<std::uint16_t>(key_id);
    if (auto [it, fresh] = seen.emplace(key.key_id, i); !fresh) {
      return field_error(child(p, "key_id"), "key id " + std::to_string(key_id) +
                                                 " is already used by " + child(path, it->second));
    }
    const Json* pem = find(k, "public_key_pem");
    const Json* file = find(k, "public_key_file");
    if ((pem == nullptr) == (file == nullptr)) {
      return field_error(p, "give exactly one of public_key_pem and public_key_file");
    }
    std::string where;
    if (pem != nullptr) {
      where = child(p, "public_key_pem");
      RC_ASSIGN_OR_RETURN(key.public_key_pem, read_string(*pem, where));
    } else {
      where = child(p, "public_key_file");
      RC_ASSIGN_OR_RETURN(const std::string name, read_string(*file, where));
      auto text = read_file(base_dir / name, where);
      if (!text.ok()) return std::move(text).error();
      key.public_key_pem = std::move(text).value();
    }
    // Load it once here so a bad key is reported with its field, not at the first scan.
    TrustedKeys probe;
    if (Status s = probe.add(key.key_id, key.public_key_pem); !s.ok()) {
      return field_error(where, s.error().message);
    }
    RC_TRY(optional_field(k, p, "retired", key.retired, bool_reader()));
    keys.push_back(std::move(key));
  }
  return keys;
}

Result<CompartmentSize> read_size(const Json& v, const std::string& path) {
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    if (s == "S") return CompartmentSize::kS;
    if (s == "M") return CompartmentSize::kM;
    if (s == "L") return CompartmentSize::kL;
    if (s == "XL") return CompartmentSize::kXL;
  }
  return field_error(path, "expected one of \"S\", \"M\", \"L\", \"XL\", got " + describe(v));
}

Result<PinConfig> read_pin(const Json& j, const std::string& path) {
  RC_TRY(check_object(j, path,
                      {"chip", "lock_line", "lock_active_low", "door_line", "door_active_low"}));
  PinConfig pin;
  RC_TRY(optional_field(j, path, "chip", pin.chip, string_reader()));
  RC_ASSIGN_OR_RETURN(const Json* lock, require(j, path, "lock_line"));
  RC_ASSIGN_OR_RETURN(pin.lock_line, line_reader()(*lock, child(path, "lock_line")));
  RC_ASSIGN_OR_RETURN(const Json* door, require(j, path, "door_line"));
  RC_ASSIGN_OR_RETURN(pin.door_line, line_reader()(*door, child(path, "door_line")));
  RC_TRY(optional_field(j, path, "lock_active_low", pin.lock_active_low, bool_reader()));
  RC_TRY(optional_field(j, path, "door_active_low", pin.door_active_low, bool_reader()));
  return pin;
}

Result<GpioPinConfig> read_gpio_pin(const Json& j, const std::string& path) {
  RC_TRY(check_object(j, path, {"chip", "line", "active_low"}));
  GpioPinConfig pin;
  RC_TRY(optional_field(j, path, "chip", pin.chip, string_reader()));
  RC_ASSIGN_OR_RETURN(const Json* line, require(j, path, "line"));
  RC_ASSIGN_OR_RETURN(pin.line, line_reader()(*line, child(path, "line")));
  RC_TRY(optional_field(j, path, "active_low", pin.active_low, bool_reader()));
  return pin;
}

Result<std::vector<CompartmentConfig>> read_compartments(const Json& j, const std::string& path) {
  if (!j.is_array()) return field_error(path, "expected an array, got " + describe(j));
  if (j.empty() || j.size() > kMaxCompartments) {
    return field_error(path, "expected 1.." + std::to_string(kMaxCompartments) +
                                 " compartments, got " + std::to_string(j.size()));
  }
  std::vector<CompartmentConfig> out;
  for (std::size_t i = 0; i < j.size(); ++i) {
    const std::string p = child(path, i);
    const Json& c = j[i];
    RC_TRY(check_object(c, p, {"id", "size", "pulse_ms", "fill_sensor", "pin"}));
    CompartmentConfig cc;
    RC_ASSIGN_OR_RETURN(const Json* id, require(c, p, "id"));
    RC_ASSIGN_OR_RETURN(const std::uint64_t n, read_uint(*id, child(p, "id"), 1, 255));
    if (n != i + 1) {
      return field_error(child(p, "id"), "expected " + std::to_string(i + 1) +
                                             " (ids are 1..N in file order), got " +
                                             std::to_string(n));
    }
    cc.id = static_cast<int>(n);
    RC_ASSIGN_OR_RETURN(const Json* size, require(c, p, "size"));
    RC_ASSIGN_OR_RETURN(cc.size, read_size(*size, child(p, "size")));
    if (const Json* pulse = find(c, "pulse_ms")) {
      RC_ASSIGN_OR_RETURN(const std::uint64_t ms,
                          read_uint(*pulse, child(p, "pulse_ms"), 50, 2000));
      cc.pulse = std::chrono::milliseconds(static_cast<std::int64_t>(ms));
    }
    RC_TRY(optional_field(c, p, "fill_sensor", cc.fill_sensor, bool_reader()));
    if (const Json* pin = find(c, "pin")) {
      RC_ASSIGN_OR_RETURN(cc.pin, read_pin(*pin, child(p, "pin")));
    }
    out.push_back(std::move(cc));
  }
  return out;
}

Result<Timeouts> read_timeouts(const Json& j, const std::string& path) {
  RC_TRY(check_object(j, path,
                      {"door_open_after_unlock_s", "door_ajar_s", "reservation_grace_s",
                       "token_leeway_s", "scan_repeat_s"}));
  Timeouts t;
  RC_TRY(optional_seconds(j, path, "door_open_after_unlock_s", t.door_open_after_unlock, 1, 600));
  RC_TRY(optional_seconds(j, path, "door_ajar_s", t.door_ajar, 10, 86400));
  RC_TRY(optional_seconds(j, path, "reservation_grace_s", t.reservation_grace, 0, 86400));
  RC_TRY(optional_seconds(j, path, "token_leeway_s", t.token_leeway, 0, 3600));
  RC_TRY(optional_seconds(j, path, "scan_repeat_s", t.scan_repeat, 0, 60));
  return t;
}

Result<HalConfig> read_hal(const Json& j, const std::string& path) {
  RC_TRY(check_object(j, path, {"backend", "tamper", "led_green", "led_red"}));
  HalConfig h;
  RC_ASSIGN_OR_RETURN(const Json* backend, require(j, path, "backend"));
  if (*backend == "sim") {
    h.backend = HalBackend::kSim;
  } else if (*backend == "linux") {
    h.backend = HalBackend::kLinux;
  } else {
    return field_error(child(path, "backend"),
                       "expected \"sim\" or \"linux\", got " + describe(*backend));
  }
  for (auto [key, slot] : {std::pair{"tamper", &h.tamper}, std::pair{"led_green", &h.led_green},
                           std::pair{"led_red", &h.led_red}}) {
    if (const Json* v = find(j, key)) {
      RC_ASSIGN_OR_RETURN(*slot, read_gpio_pin(*v, child(path, key)));
    }
  }
  return h;
}

Result<CameraConfig> read_camera(const Json& j, const std::string& path) {
  RC_TRY(check_object(j, path, {"device", "width", "height", "fps"}));
  CameraConfig c;
  RC_TRY(optional_field(j, path, "device", c.device, string_reader()));
  for (auto [key, slot] : {std::pair{"width", &c.width}, std::pair{"height", &c.height}}) {
    if (const Json* v = find(j, key)) {
      RC_ASSIGN_OR_RETURN(const std::uint64_t n, read_uint(*v, child(path, key), 16, 8192));
      *slot = static_cast<std::uint32_t>(n);
    }
  }
  if (const Json* v = find(j, "fps")) {
    RC_ASSIGN_OR_RETURN(const std::uint64_t n, read_uint(*v, child(path, "fps"), 1, 60));
    c.fps = static_cast<std::uint32_t>(n);
  }
  return c;
}

// The linux backend needs every line once; saying which two fields collide beats the backend's
// EBUSY at start-up.
Status check_pins(const BoxConfig& config) {
  if (config.hal.backend != HalBackend::kLinux) return ok_status();
  std::map<std::pair<std::string, unsigned int>, std::string> used;
  auto claim = [&](const std::string& chip, unsigned int line, const std::string& path) -> Status {
    auto [it, fresh] = used.emplace(std::pair{chip, line}, path);
    if (!fresh) {
      return field_error(
          path, chip + " line " + std::to_string(line) + " is already used by " + it->second);
    }
    return ok_status();
  };
  for (std::size_t i = 0; i < config.compartments.size(); ++i) {
    const CompartmentConfig& c = config.compartments[i];
    const std::string p = child("compartments", i);
    if (!c.pin) return field_error(child(p, "pin"), "required with the linux backend");
    RC_TRY(claim(c.pin->chip, c.pin->lock_line, child(child(p, "pin"), "lock_line")));
    RC_TRY(claim(c.pin->chip, c.pin->door_line, child(child(p, "pin"), "door_line")));
  }
  for (auto [key, pin] :
       {std::pair{"tamper", &config.hal.tamper}, std::pair{"led_green", &config.hal.led_green},
        std::pair{"led_red", &config.hal.led_red}}) {
    if (*pin) RC_TRY(claim((*pin)->chip, (*pin)->line, child(child("hal", key), "line")));
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
  DuplicateKeyFinder duplicates;
  Json root;
  try {
    root = Json::parse(json_text, std::ref(duplicates));
  } catch (const Json::exception& e) {
    return make_error(ErrorCode::kInvalidArgument, std::string("not valid JSON: ") + e.what());
  }
  if (duplicates.duplicate()) {
    return field_error(*duplicates.duplicate(), "duplicate key");
  }
  const std::string top;
  RC_TRY(check_object(root, top,
                      {"box_id", "journal_path", "broker", "trusted_keys", "compartments",
                       "timeouts", "hal", "camera", "state_report_interval_s"}));
  BoxConfig config;
  RC_ASSIGN_OR_RETURN(const Json* box_id, require(root, top, "box_id"));
  RC_ASSIGN_OR_RETURN(config.box_id, read_string(*box_id, "box_id"));
  if (!is_valid_box_id(config.box_id)) {
    return field_error("box_id",
                       "expected 1..32 characters of [A-Za-z0-9_-], got \"" + config.box_id + "\"");
  }
  RC_ASSIGN_OR_RETURN(const Json* journal, require(root, top, "journal_path"));
  RC_ASSIGN_OR_RETURN(const std::string journal_path, read_string(*journal, "journal_path"));
  config.journal_path = base_dir / journal_path;
  RC_ASSIGN_OR_RETURN(const Json* broker, require(root, top, "broker"));
  RC_ASSIGN_OR_RETURN(config.broker, read_broker(*broker, "broker", config.box_id, base_dir));
  if (const Json* keys = find(root, "trusted_keys")) {
    RC_ASSIGN_OR_RETURN(config.trusted_keys, read_keys(*keys, "trusted_keys", base_dir));
  }
  RC_ASSIGN_OR_RETURN(const Json* compartments, require(root, top, "compartments"));
  RC_ASSIGN_OR_RETURN(config.compartments, read_compartments(*compartments, "compartments"));
  if (const Json* timeouts = find(root, "timeouts")) {
    RC_ASSIGN_OR_RETURN(config.timeouts, read_timeouts(*timeouts, "timeouts"));
  }
  RC_ASSIGN_OR_RETURN(const Json* hal, require(root, top, "hal"));
  RC_ASSIGN_OR_RETURN(config.hal, read_hal(*hal, "hal"));
  if (const Json* camera = find(root, "camera")) {
    RC_ASSIGN_OR_RETURN(config.camera, read_camera(*camera, "camera"));
  }
  RC_TRY(optional_seconds(root, top, "state_report_interval_s", config.state_report_interval, 5,
                          86400));
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
