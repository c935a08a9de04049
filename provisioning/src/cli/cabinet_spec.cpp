#include "reclothes/provisioning/cli/cabinet_spec.h"

#include <cctype>
#include <charconv>
#include <filesystem>
#include <map>
#include <set>
#include <utility>

#include "reclothes/common/box_config_json.h"
#include "reclothes/common/json_reader.h"
#include "reclothes/provisioning/files.h"

namespace reclothes::provisioning::cli {
namespace {

using json::child;
using json::field_error;
using json::Json;

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

Error spec_error(std::string_view item, std::string_view problem) {
  return make_error(ErrorCode::kInvalidArgument,
                    "compartments \"" + std::string(item) + "\": " + std::string(problem));
}

Result<CompartmentPlan> read_compartment(const Json& j, std::size_t i, std::string_view p) {
  RC_TRY(json::check_object(j, p, {"number", "size", "pulse_ms", "fill_sensor", "pin"}));
  CompartmentPlan c;
  c.number = static_cast<int>(i + 1);
  std::optional<int> number;
  RC_TRY(json::read_optional(j, p, "number", number,
                             json::integer_in<int>(1, static_cast<int>(kMaxCompartments))));
  if (number && *number != c.number) {
    return field_error(child(p, "number"),
                       "compartments are numbered 1..N in file order; expected " +
                           std::to_string(c.number) + ", got " + std::to_string(*number));
  }
  RC_ASSIGN_OR_RETURN(const std::string size, json::read_field(j, p, "size", json::read_string));
  auto normal = normalise_size(size);
  if (!normal) {
    return field_error(child(p, "size"), "must be S, M, L or XL, got " + json::quote(size));
  }
  c.size = *normal;
  RC_TRY(box_config_json::read_pulse_and_fill(j, p, c));
  RC_TRY(json::read_optional(j, p, "pin", c.pins,
                             box_config_json::read_compartment_pins<CompartmentPins>));
  return c;
}

// Every (chip, line) may be used once, as the HAL's validate_pin_map demands; checked here so the
// technician hears about it at registration rather than when the box starts. The fields are named
// by pointer; the compartments are the array at list_pointer.
Status check_unique_lines(const CabinetPlan& plan, std::string_view list_pointer) {
  std::map<std::pair<std::string, unsigned int>, std::string> used;
  auto claim = [&](const std::string& chip, unsigned int line, const std::string& who) -> Status {
    auto [it, inserted] = used.emplace(std::make_pair(chip, line), who);
    if (!inserted) {
      return make_error(
          ErrorCode::kInvalidArgument,
          chip + " line " + std::to_string(line) + " is used by " + it->second + " and " + who);
    }
    return ok_status();
  };
  for (std::size_t i = 0; i < plan.compartments.size(); ++i) {
    const auto& c = plan.compartments[i];
    if (!c.pins) continue;
    const std::string pin = child(child(list_pointer, i), "pin");
    RC_TRY(claim(c.pins->chip, c.pins->lock_line, child(pin, "lock_line")));
    RC_TRY(claim(c.pins->chip, c.pins->door_line, child(pin, "door_line")));
  }
  if (plan.tamper) RC_TRY(claim(plan.tamper->chip, plan.tamper->line, "/tamper/line"));
  if (plan.led_green) RC_TRY(claim(plan.led_green->chip, plan.led_green->line, "/led_green/line"));
  if (plan.led_red) RC_TRY(claim(plan.led_red->chip, plan.led_red->line, "/led_red/line"));
  return ok_status();
}

}  // namespace

bool CabinetPlan::has_pin_map() const {
  if (compartments.empty()) return false;
  for (const auto& c : compartments) {
    if (!c.pins) return false;
  }
  return true;
}

std::optional<std::string> normalise_size(std::string_view size) {
  std::string upper;
  for (char ch : size)
    upper.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(ch))));
  if (upper == "S" || upper == "M" || upper == "L" || upper == "XL") return upper;
  return std::nullopt;
}

Result<CabinetPlan> parse_shorthand(std::string_view spec) {
  CabinetPlan plan;
  if (trim(spec).empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "compartments: empty; expected sizes and counts like \"S:8,M:8,L:4,XL:4\"");
  }
  std::size_t start = 0;
  while (start <= spec.size()) {
    const std::size_t comma = spec.find(',', start);
    const std::string_view raw = spec.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    const std::string_view item = trim(raw);
    if (item.empty()) return spec_error(spec, "empty item (two commas, or a comma at an end)");
    const std::size_t colon = item.find(':');
    if (colon == std::string_view::npos) {
      return spec_error(item, "expected SIZE:COUNT, e.g. \"S:8\"");
    }
    const auto size = normalise_size(trim(item.substr(0, colon)));
    if (!size) return spec_error(item, "size must be S, M, L or XL");
    const std::string_view count_text = trim(item.substr(colon + 1));
    int count = 0;
    const auto [end, ec] =
        std::from_chars(count_text.data(), count_text.data() + count_text.size(), count);
    if (ec != std::errc() || end != count_text.data() + count_text.size() || count < 1 ||
        count > static_cast<int>(kMaxCompartments)) {
      return spec_error(item,
                        "count must be a whole number in 1.." + std::to_string(kMaxCompartments));
    }
    for (int k = 0; k < count; ++k) {
      if (plan.compartments.size() == kMaxCompartments) {
        return spec_error(spec, "more than " + std::to_string(kMaxCompartments) +
                                    " compartments (the firmware's limit)");
      }
      CompartmentPlan c;
      c.number = static_cast<int>(plan.compartments.size() + 1);
      c.size = *size;
      plan.compartments.push_back(std::move(c));
    }
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return plan;
}

Result<CabinetPlan> parse_cabinet_json(std::string_view json_text) {
  auto parsed = json::parse_strict(json_text);
  if (!parsed.ok()) return std::move(parsed).error().with_context("compartments file");
  const Json& j = *parsed;
  CabinetPlan plan;
  const Json* list = &j;
  std::string list_pointer;  // a bare array is the document itself
  if (j.is_object()) {
    RC_TRY(json::check_object(j, "", {"compartments", "tamper", "led_green", "led_red"}));
    list_pointer = "/compartments";
    RC_ASSIGN_OR_RETURN(list, json::require(j, "", "compartments"));
    RC_TRY(box_config_json::read_cabinet_pins(j, "", plan));
  }
  if (!list->is_array())
    return json::expected_error(list_pointer, "an array of compartments", *list);
  if (list->empty() || list->size() > kMaxCompartments) {
    return field_error(list_pointer,
                       "a box has 1.." + std::to_string(kMaxCompartments) + " compartments");
  }
  for (std::size_t i = 0; i < list->size(); ++i) {
    RC_ASSIGN_OR_RETURN(CompartmentPlan c, read_compartment((*list)[i], i, child(list_pointer, i)));
    plan.compartments.push_back(std::move(c));
  }
  RC_TRY(check_unique_lines(plan, list_pointer));
  return plan;
}

Result<CabinetPlan> load_cabinet_spec(std::string_view argument) {
  std::string_view path_text = argument;
  bool is_file = false;
  if (!argument.empty() && argument.front() == '@') {
    path_text.remove_prefix(1);
    is_file = true;
  } else if (argument.size() > 5 && argument.substr(argument.size() - 5) == ".json") {
    is_file = true;
  } else {
    std::error_code ec;
    is_file = argument.find('/') != std::string_view::npos &&
              std::filesystem::is_regular_file(std::filesystem::path(argument), ec);
  }
  if (!is_file) return parse_shorthand(argument);
  const std::filesystem::path path{std::string(path_text)};
  RC_ASSIGN_OR_RETURN(std::string text, read_file(path, 1024 * 1024));
  auto plan = parse_cabinet_json(text);
  if (!plan.ok()) return std::move(plan).error().with_context(path.string());
  return plan;
}

std::string describe(const CabinetPlan& plan) {
  std::vector<std::pair<std::string, int>> counts;
  for (const auto& c : plan.compartments) {
    if (counts.empty() || counts.back().first != c.size) {
      counts.emplace_back(c.size, 0);
    }
    ++counts.back().second;
  }
  std::string out;
  for (const auto& [size, n] : counts) {
    if (!out.empty()) out += ", ";
    out += std::to_string(n) + " x " + size;
  }
  out += " (" + std::to_string(plan.compartments.size()) + " compartments" +
         (plan.has_pin_map() ? ", with pin map)" : ", no pin map)");
  return out;
}

}  // namespace reclothes::provisioning::cli
