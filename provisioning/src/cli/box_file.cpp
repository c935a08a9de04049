#include "reclothes/provisioning/cli/box_file.h"

#include <nlohmann/json.hpp>

#include "reclothes/common/box_config_json.h"
#include "reclothes/common/json_reader.h"
#include "reclothes/provisioning/files.h"

namespace reclothes::provisioning::cli {
namespace {

using json::child;
using json::field_error;
using json::Json;
using Ordered = nlohmann::ordered_json;

Ordered gpio_json(const GpioPin& pin) {
  return Ordered{{"chip", pin.chip}, {"line", pin.line}, {"active_low", pin.active_low}};
}

Status read_broker(const Json& j, std::string_view p, BoxFile::Broker& b) {
  RC_TRY(json::read_object(j, p));
  RC_ASSIGN_OR_RETURN(b.uri, json::read_field(j, p, "uri", json::read_string));
  RC_TRY(json::read_optional(j, p, "keepalive_s", b.keepalive_s, json::integer_in<int>(5, 3600)));
  b.ca.clear();
  b.cert.clear();
  b.key.clear();
  if (const Json* tls = json::find(j, "tls")) {
    const std::string tp = child(p, "tls");
    RC_TRY(json::read_object(*tls, tp));
    RC_ASSIGN_OR_RETURN(b.ca, json::read_field(*tls, tp, "ca", json::read_string));
    RC_TRY(json::read_optional(*tls, tp, "cert", b.cert, json::read_string));
    RC_TRY(json::read_optional(*tls, tp, "key", b.key, json::read_string));
  }
  return ok_status();
}

Result<TrustedKey> read_key(const Json& k, std::string_view p) {
  RC_TRY(json::read_object(k, p));
  TrustedKey key;
  RC_ASSIGN_OR_RETURN(key.key_id,
                      json::read_field(k, p, "key_id", json::integer_in<std::uint16_t>(0, 65535)));
  std::optional<std::string> file;
  RC_TRY(json::read_optional(k, p, "public_key_pem", key.public_key_pem, json::read_string));
  RC_TRY(json::read_optional(k, p, "public_key_file", file, json::read_string));
  if (!json::find(k, "public_key_pem") && !file) {
    return field_error(p, "needs public_key_pem or public_key_file");
  }
  RC_TRY(json::read_optional(k, p, "retired", key.retired, json::read_bool));
  return key;
}

Result<CompartmentPlan> read_compartment(const Json& j, std::size_t i, std::string_view p) {
  RC_TRY(json::read_object(j, p));
  CompartmentPlan c;
  RC_ASSIGN_OR_RETURN(
      c.number,
      json::read_field(j, p, "id", json::integer_in<int>(1, static_cast<int>(kMaxCompartments))));
  if (c.number != static_cast<int>(i + 1)) {
    return field_error(child(p, "id"),
                       "expected " + std::to_string(i + 1) + " (ids are 1..N in file order)");
  }
  RC_ASSIGN_OR_RETURN(c.size, json::read_field(j, p, "size", json::read_string));
  auto normal = normalise_size(c.size);
  if (!normal || *normal != c.size) return field_error(child(p, "size"), "must be S, M, L or XL");
  RC_TRY(box_config_json::read_pulse_and_fill(j, p, c));
  RC_TRY(json::read_optional(j, p, "pin", c.pins,
                             box_config_json::read_compartment_pins<CompartmentPins>));
  return c;
}

Status read_compartments(const Json& list, std::string_view p, CabinetPlan& cabinet) {
  if (!list.is_array() || list.empty() || list.size() > kMaxCompartments) {
    return field_error(
        p, "expected an array of 1.." + std::to_string(kMaxCompartments) + " compartments");
  }
  for (std::size_t i = 0; i < list.size(); ++i) {
    RC_ASSIGN_OR_RETURN(CompartmentPlan c, read_compartment(list[i], i, child(p, i)));
    cabinet.compartments.push_back(std::move(c));
  }
  return ok_status();
}

Status read_hal(const Json& j, std::string_view p, BoxFile& f) {
  RC_TRY(json::read_object(j, p));
  RC_ASSIGN_OR_RETURN(const std::string name, json::read_field(j, p, "backend", json::read_string));
  const auto backend = backend_from_string(name);
  if (!backend) return field_error(child(p, "backend"), "must be \"sim\" or \"linux\"");
  f.backend = *backend;
  return box_config_json::read_cabinet_pins(j, p, f.cabinet);
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
  auto parsed = json::parse_strict(json_text);
  if (!parsed.ok()) return std::move(parsed).error().with_context("box configuration");
  const Json& j = *parsed;
  const std::string_view top;
  RC_TRY(json::read_object(j, top));
  BoxFile f;
  RC_ASSIGN_OR_RETURN(f.box_id, json::read_field(j, top, "box_id", json::read_string));
  RC_ASSIGN_OR_RETURN(f.journal_path, json::read_field(j, top, "journal_path", json::read_string));
  RC_ASSIGN_OR_RETURN(const Json* broker, json::require(j, top, "broker"));
  RC_TRY(read_broker(*broker, "/broker", f.broker));
  if (const Json* keys = json::find(j, "trusted_keys")) {
    if (!keys->is_array()) return json::expected_error("/trusted_keys", "an array", *keys);
    for (std::size_t i = 0; i < keys->size(); ++i) {
      RC_ASSIGN_OR_RETURN(TrustedKey key, read_key((*keys)[i], child("/trusted_keys", i)));
      f.trusted_keys.push_back(std::move(key));
    }
  }
  RC_ASSIGN_OR_RETURN(const Json* compartments, json::require(j, top, "compartments"));
  RC_TRY(read_compartments(*compartments, "/compartments", f.cabinet));
  RC_ASSIGN_OR_RETURN(const Json* hal, json::require(j, top, "hal"));
  RC_TRY(read_hal(*hal, "/hal", f));
  f.camera.reset();
  RC_TRY(json::read_optional(j, top, "camera", f.camera,
                             box_config_json::read_camera<CameraSettings>));
  RC_TRY(json::read_optional(j, top, "state_report_interval_s", f.state_report_interval_s,
                             json::integer_in<int>(5, 86400)));
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
