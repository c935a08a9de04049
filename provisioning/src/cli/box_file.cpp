#include "reclothes/provisioning/cli/box_file.h"

#include <nlohmann/json.hpp>

#include "json_reader.h"
#include "reclothes/provisioning/files.h"

namespace reclothes::provisioning::cli {
namespace {

namespace jr = json_reader;
using Json = nlohmann::json;
using Ordered = nlohmann::ordered_json;

Ordered gpio_json(const GpioPin& pin) {
  return Ordered{{"chip", pin.chip}, {"line", pin.line}, {"active_low", pin.active_low}};
}

Result<std::optional<GpioPin>> read_gpio(const Json& parent, std::string_view key,
                                         std::string_view parent_path) {
  const auto it = parent.find(std::string(key));
  if (it == parent.end()) return std::optional<GpioPin>();
  const std::string path = jr::child(parent_path, key);
  RC_TRY(jr::require_object(*it, path));
  GpioPin pin;
  RC_ASSIGN_OR_RETURN(auto chip, jr::optional_string(*it, "chip", path));
  if (chip) pin.chip = *chip;
  RC_ASSIGN_OR_RETURN(auto line, jr::required_int(*it, "line", path, 0, kMaxGpioLine));
  RC_ASSIGN_OR_RETURN(auto low, jr::optional_bool(*it, "active_low", path));
  pin.line = static_cast<unsigned int>(line);
  pin.active_low = low.value_or(false);
  return std::optional<GpioPin>(pin);
}

Result<CompartmentPlan> read_compartment(const Json& j, std::size_t i, const std::string& path) {
  RC_TRY(jr::require_object(j, path));
  CompartmentPlan c;
  RC_ASSIGN_OR_RETURN(auto id, jr::required_int(j, "id", path, 1, kMaxCompartments));
  if (id != static_cast<std::int64_t>(i + 1)) {
    return jr::field_error(jr::child(path, "id"),
                           "expected " + std::to_string(i + 1) + " (ids are 1..N in file order)");
  }
  c.number = static_cast<int>(id);
  RC_ASSIGN_OR_RETURN(auto size, jr::required_string(j, "size", path));
  auto normal = normalise_size(size);
  if (!normal || *normal != size) {
    return jr::field_error(jr::child(path, "size"), "must be S, M, L or XL");
  }
  c.size = size;
  RC_ASSIGN_OR_RETURN(auto pulse,
                      jr::optional_int(j, "pulse_ms", path, kMinPulse.count(), kMaxPulse.count()));
  if (pulse) c.pulse = std::chrono::milliseconds(*pulse);
  RC_ASSIGN_OR_RETURN(auto fill, jr::optional_bool(j, "fill_sensor", path));
  c.fill_sensor = fill.value_or(false);
  if (const auto it = j.find("pin"); it != j.end()) {
    const std::string pin_path = jr::child(path, "pin");
    RC_TRY(jr::require_object(*it, pin_path));
    CompartmentPins pins;
    RC_ASSIGN_OR_RETURN(auto chip, jr::optional_string(*it, "chip", pin_path));
    if (chip) pins.chip = *chip;
    RC_ASSIGN_OR_RETURN(auto lock, jr::required_int(*it, "lock_line", pin_path, 0, kMaxGpioLine));
    RC_ASSIGN_OR_RETURN(auto door, jr::required_int(*it, "door_line", pin_path, 0, kMaxGpioLine));
    RC_ASSIGN_OR_RETURN(auto lock_low, jr::optional_bool(*it, "lock_active_low", pin_path));
    RC_ASSIGN_OR_RETURN(auto door_low, jr::optional_bool(*it, "door_active_low", pin_path));
    pins.lock_line = static_cast<unsigned int>(lock);
    pins.door_line = static_cast<unsigned int>(door);
    pins.lock_active_low = lock_low.value_or(false);
    pins.door_active_low = door_low.value_or(false);
    c.pins = pins;
  }
  return c;
}

}  // namespace

std::string_view to_string(Backend backend) { return backend == Backend::kLinux ? "linux" : "sim"; }

std::optional<Backend> backend_from_string(std::string_view s) {
  if (s == "sim") return Backend::kSim;
  if (s == "linux") return Backend::kLinux;
  return std::nullopt;
}

std::string render_box_file(const BoxFile& file) {
  Ordered j;
  j["box_id"] = file.box_id;
  j["journal_path"] = file.journal_path;
  Ordered broker;
  broker["uri"] = file.broker.uri;
  broker["tls"] =
      Ordered{{"ca", file.broker.ca}, {"cert", file.broker.cert}, {"key", file.broker.key}};
  broker["keepalive_s"] = file.broker.keepalive_s;
  j["broker"] = broker;
  Ordered keys = Ordered::array();
  for (const auto& k : file.trusted_keys) {
    keys.push_back(Ordered{
        {"key_id", k.key_id}, {"public_key_pem", k.public_key_pem}, {"retired", k.retired}});
  }
  j["trusted_keys"] = keys;
  Ordered compartments = Ordered::array();
  for (const auto& c : file.cabinet.compartments) {
    Ordered entry{{"id", c.number},
                  {"size", c.size},
                  {"pulse_ms", c.pulse.count()},
                  {"fill_sensor", c.fill_sensor}};
    if (c.pins) {
      entry["pin"] = Ordered{{"chip", c.pins->chip},
                             {"lock_line", c.pins->lock_line},
                             {"lock_active_low", c.pins->lock_active_low},
                             {"door_line", c.pins->door_line},
                             {"door_active_low", c.pins->door_active_low}};
    }
    compartments.push_back(std::move(entry));
  }
  j["compartments"] = compartments;
  Ordered hal{{"backend", std::string(to_string(file.backend))}};
  if (file.cabinet.tamper) hal["tamper"] = gpio_json(*file.cabinet.tamper);
  if (file.cabinet.led_green) hal["led_green"] = gpio_json(*file.cabinet.led_green);
  if (file.cabinet.led_red) hal["led_red"] = gpio_json(*file.cabinet.led_red);
  j["hal"] = hal;
  if (file.camera) {
    j["camera"] = Ordered{{"device", file.camera->device},
                          {"width", file.camera->width},
                          {"height", file.camera->height},
                          {"fps", file.camera->fps}};
  }
  j["state_report_interval_s"] = file.state_report_interval_s;
  return j.dump(2) + "\n";
}

Result<BoxFile> parse_box_file(std::string_view json_text) {
  RC_ASSIGN_OR_RETURN(Json j, jr::parse(json_text, "box configuration"));
  RC_TRY(jr::require_object(j, ""));
  BoxFile f;
  RC_ASSIGN_OR_RETURN(f.box_id, jr::required_string(j, "box_id", ""));
  RC_ASSIGN_OR_RETURN(f.journal_path, jr::required_string(j, "journal_path", ""));

  const auto broker = j.find("broker");
  if (broker == j.end()) return jr::field_error("broker", "missing");
  RC_TRY(jr::require_object(*broker, "broker"));
  RC_ASSIGN_OR_RETURN(f.broker.uri, jr::required_string(*broker, "uri", "broker"));
  RC_ASSIGN_OR_RETURN(auto keepalive, jr::optional_int(*broker, "keepalive_s", "broker", 5, 3600));
  f.broker.keepalive_s = static_cast<int>(keepalive.value_or(30));
  f.broker.ca.clear();
  f.broker.cert.clear();
  f.broker.key.clear();
  if (const auto tls = broker->find("tls"); tls != broker->end()) {
    RC_TRY(jr::require_object(*tls, "broker.tls"));
    RC_ASSIGN_OR_RETURN(f.broker.ca, jr::required_string(*tls, "ca", "broker.tls"));
    RC_ASSIGN_OR_RETURN(auto cert, jr::optional_string(*tls, "cert", "broker.tls"));
    RC_ASSIGN_OR_RETURN(auto key, jr::optional_string(*tls, "key", "broker.tls"));
    f.broker.cert = cert.value_or("");
    f.broker.key = key.value_or("");
  }

  if (const auto keys = j.find("trusted_keys"); keys != j.end()) {
    if (!keys->is_array()) return jr::field_error("trusted_keys", "expected an array");
    for (std::size_t i = 0; i < keys->size(); ++i) {
      const std::string path = jr::index("trusted_keys", i);
      const Json& k = (*keys)[i];
      RC_TRY(jr::require_object(k, path));
      TrustedKey key;
      RC_ASSIGN_OR_RETURN(auto id, jr::required_int(k, "key_id", path, 0, 65535));
      key.key_id = static_cast<std::uint16_t>(id);
      RC_ASSIGN_OR_RETURN(auto pem, jr::optional_string(k, "public_key_pem", path));
      RC_ASSIGN_OR_RETURN(auto file, jr::optional_string(k, "public_key_file", path));
      if (!pem && !file) return jr::field_error(path, "needs public_key_pem or public_key_file");
      key.public_key_pem = pem.value_or("");
      RC_ASSIGN_OR_RETURN(auto retired, jr::optional_bool(k, "retired", path));
      key.retired = retired.value_or(false);
      f.trusted_keys.push_back(std::move(key));
    }
  }

  const auto compartments = j.find("compartments");
  if (compartments == j.end()) return jr::field_error("compartments", "missing");
  if (!compartments->is_array() || compartments->empty() ||
      compartments->size() > kMaxCompartments) {
    return jr::field_error("compartments", "expected an array of 1.." +
                                               std::to_string(kMaxCompartments) + " compartments");
  }
  for (std::size_t i = 0; i < compartments->size(); ++i) {
    RC_ASSIGN_OR_RETURN(CompartmentPlan c,
                        read_compartment((*compartments)[i], i, jr::index("compartments", i)));
    f.cabinet.compartments.push_back(std::move(c));
  }

  const auto hal = j.find("hal");
  if (hal == j.end()) return jr::field_error("hal", "missing");
  RC_TRY(jr::require_object(*hal, "hal"));
  RC_ASSIGN_OR_RETURN(auto backend_name, jr::required_string(*hal, "backend", "hal"));
  const auto backend = backend_from_string(backend_name);
  if (!backend) return jr::field_error("hal.backend", "must be \"sim\" or \"linux\"");
  f.backend = *backend;
  RC_ASSIGN_OR_RETURN(f.cabinet.tamper, read_gpio(*hal, "tamper", "hal"));
  RC_ASSIGN_OR_RETURN(f.cabinet.led_green, read_gpio(*hal, "led_green", "hal"));
  RC_ASSIGN_OR_RETURN(f.cabinet.led_red, read_gpio(*hal, "led_red", "hal"));

  f.camera.reset();
  if (const auto camera = j.find("camera"); camera != j.end()) {
    RC_TRY(jr::require_object(*camera, "camera"));
    CameraSettings c;
    RC_ASSIGN_OR_RETURN(auto device, jr::optional_string(*camera, "device", "camera"));
    RC_ASSIGN_OR_RETURN(auto width, jr::optional_int(*camera, "width", "camera", 16, 8192));
    RC_ASSIGN_OR_RETURN(auto height, jr::optional_int(*camera, "height", "camera", 16, 8192));
    RC_ASSIGN_OR_RETURN(auto fps, jr::optional_int(*camera, "fps", "camera", 1, 60));
    if (device) c.device = *device;
    if (width) c.width = static_cast<std::uint32_t>(*width);
    if (height) c.height = static_cast<std::uint32_t>(*height);
    if (fps) c.fps = static_cast<std::uint32_t>(*fps);
    f.camera = c;
  }
  RC_ASSIGN_OR_RETURN(auto interval, jr::optional_int(j, "state_report_interval_s", "", 5, 86400));
  f.state_report_interval_s = static_cast<int>(interval.value_or(60));
  return f;
}

Result<BoxFile> load_box_file(const std::filesystem::path& path) {
  RC_ASSIGN_OR_RETURN(std::string text, read_file(path, 4 * 1024 * 1024));
  auto file = parse_box_file(text);
  if (!file.ok()) return std::move(file).error().with_context(path.string());
  return file;
}

std::filesystem::path resolve(const std::filesystem::path& config_file, std::string_view name) {
  const std::filesystem::path p{std::string(name)};
  if (p.is_absolute()) return p;
  return config_file.parent_path() / p;
}

}  // namespace reclothes::provisioning::cli
