// Scenario files: the step vocabulary, YAML -> JSON with line numbers, and the checks.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <regex>
#include <set>
#include <sstream>

#include "reclothes/simulator/scenario.h"
#include "scenario_spec.h"

namespace reclothes::simulator {

namespace scenario_detail {

namespace {

using T = FieldType;

// A box's life: power and the network cable.
std::vector<StepSpec> power_steps() {
  return {
      {"start",
       "power a box on (real firmware start-up)",
       {{"box", T::kString, true},
        {"config", T::kString, true},
        {"broker", T::kString},
        {"auto_open", T::kBoolOrDuration},
        {"network_link", T::kBool},
        {"fresh", T::kBool},
        {"trust", T::kAny}},
       nullptr,
       false},
      {"stop", "shut a box down cleanly", {{"box", T::kString}}, "box", true},
      {"pull_power", "cut the power (hard stop)", {{"box", T::kString}}, "box", true},
      {"restore_power",
       "power on again (recovery from the journal)",
       {{"box", T::kString}},
       "box",
       true},
      {"pull_network", "pull the network cable", {{"box", T::kString}}, "box", true},
      {"restore_network", "plug the network cable back in", {{"box", T::kString}}, "box", true},
  };
}

// What a person does at the box: codes held to the camera, doors, sensors, the panel.
std::vector<StepSpec> person_steps() {
  return {
      {"present",
       "hold a QR code to the camera",
       {{"box", T::kString},
        {"token", T::kString, true},
        {"module_px", T::kInt},
        {"scale", T::kNumber},
        {"rotation", T::kNumber},
        {"blur", T::kNumber},
        {"noise", T::kInt},
        {"seed", T::kInt},
        {"expect_seen", T::kBool}},
       "token",
       true},
      {"open_door",
       "a person opens a door",
       {{"box", T::kString}, {"compartment", T::kInt, true}},
       "compartment",
       true},
      {"close_door",
       "a person closes a door",
       {{"box", T::kString}, {"compartment", T::kInt, true}},
       "compartment",
       true},
      {"set_fill",
       "set a fill-level sensor",
       {{"box", T::kString}, {"compartment", T::kInt, true}, {"percent", T::kInt, true}},
       nullptr,
       true},
      {"set_environment",
       "set temperature and humidity",
       {{"box", T::kString}, {"temperature_c", T::kNumber, true}, {"humidity_percent", T::kNumber}},
       nullptr,
       true},
      {"tamper",
       "open (true) or close the service panel",
       {{"box", T::kString}, {"on", T::kBool, true}},
       "on",
       true},
      {"jam",
       "make a latch stick (true) or free it",
       {{"box", T::kString}, {"compartment", T::kInt, true}, {"on", T::kBool}},
       "compartment",
       true},
      {"auto_open",
       "the customer opens doors after the lock clicks",
       {{"box", T::kString}, {"enabled", T::kBool, true}, {"delay", T::kDuration}},
       "enabled",
       true},
  };
}

// The controller's side: commands delivered through the box's mailbox.
std::vector<StepSpec> controller_steps() {
  return {
      {"command",
       "deliver a controller command through the box's mailbox",
       {{"box", T::kString},
        {"op", T::kString, true},
        {"id", T::kString},
        {"compartment", T::kInt},
        {"action", T::kString},
        {"order_ref", T::kInt},
        {"valid", T::kDuration}},
       "op",
       true},
      {"reserve",
       "the controller reserves a compartment (a reserve command)",
       {{"box", T::kString},
        {"compartment", T::kInt, true},
        {"action", T::kString},
        {"order_ref", T::kInt},
        {"valid", T::kDuration}},
       "compartment",
       true},
  };
}

// Tokens signed with a key of the scenario's own, as the controller would sign them.
std::vector<StepSpec> token_steps() {
  return {
      {"keygen",
       "make a signing key pair in the state dir; ${NAME} and ${NAME_public} are its files",
       {{"save_as", T::kString, true}, {"key_id", T::kInt}},
       "save_as",
       false},
      {"mint",
       "sign a token with a local key and save it in a variable",
       {{"box", T::kString},
        {"key", T::kString, true},
        {"key_id", T::kInt},
        {"action", T::kString},
        {"compartments", T::kCompartments, true},
        {"order_ref", T::kInt},
        {"valid", T::kDuration},
        {"not_before", T::kDuration},
        {"save_as", T::kString, true}},
       nullptr,
       true},
  };
}

// Time passing, and what the box is expected to show meanwhile.
std::vector<StepSpec> expectation_steps() {
  return {
      {"wait", "let time pass", {{"for", T::kDuration, true}}, "for", false},
      {"expect_compartment",
       "a compartment reaches a state",
       {{"box", T::kString},
        {"compartment", T::kInt, true},
        {"state", T::kString},
        {"door", T::kString},
        {"unlocked", T::kBool},
        {"within", T::kDuration}},
       nullptr,
       true},
      {"expect_event",
       "the journal records an event (after the last one expected)",
       {{"box", T::kString},
        {"kind", T::kString, true},
        {"compartment", T::kInt},
        {"reason", T::kString},
        {"action", T::kString},
        {"fields", T::kObject},
        {"within", T::kDuration},
        {"save", T::kObject}},
       "kind",
       true},
      {"expect_no_event",
       "the journal records no such event (after the last one expected)",
       {{"box", T::kString},
        {"kind", T::kString, true},
        {"compartment", T::kInt},
        {"reason", T::kString},
        {"for", T::kDuration}},
       "kind",
       true},
      {"expect_indicator",
       "the indicator shows a pattern / message",
       {{"box", T::kString},
        {"pattern", T::kString},
        {"message", T::kString},
        {"message_contains", T::kString},
        {"within", T::kDuration}},
       "pattern",
       true},
      {"expect_pulses",
       "how many times the firmware pulsed a lock",
       {{"box", T::kString}, {"compartment", T::kInt}, {"count", T::kInt, true}},
       "count",
       true},
      {"expect_connected",
       "the box's sync is connected (or not)",
       {{"box", T::kString}, {"connected", T::kBool}, {"within", T::kDuration}},
       "connected",
       true},
      {"expect_backlog",
       "the box's unacked events drop to at most max",
       {{"box", T::kString}, {"max", T::kInt}, {"within", T::kDuration}},
       "max",
       true},
  };
}

// Tools of the scenario itself: HTTP requests, variables, log lines.
std::vector<StepSpec> tool_steps() {
  return {
      {"http",
       "an HTTP request (e.g. to the controller's REST API)",
       {{"method", T::kString},
        {"url", T::kString},
        {"path", T::kString},
        {"base_url", T::kString},
        {"body", T::kAny},
        {"headers", T::kObject},
        {"expect_status", T::kStatus},
        {"expect", T::kObject},
        {"within", T::kDuration},
        {"save", T::kObject},
        {"timeout", T::kDuration}},
       nullptr,
       false},
      {"set", "set variables", {}, nullptr, false},
      {"log", "print a line", {{"message", T::kString, true}}, "message", false},
  };
}

}  // namespace

const std::vector<StepSpec>& step_specs() {
  static const std::vector<StepSpec> kSpecs = [] {
    std::vector<StepSpec> all;
    for (auto family : {power_steps, person_steps, controller_steps, token_steps, expectation_steps,
                        tool_steps}) {
      std::vector<StepSpec> steps = family();
      all.insert(all.end(), std::make_move_iterator(steps.begin()),
                 std::make_move_iterator(steps.end()));
    }
    return all;
  }();
  return kSpecs;
}

const StepSpec* find_step_spec(std::string_view kind) {
  for (const StepSpec& s : step_specs()) {
    if (kind == s.kind) return &s;
  }
  return nullptr;
}

bool holds_variable(const nlohmann::json& v) {
  return v.is_string() && v.get_ref<const std::string&>().find("${") != std::string::npos;
}

namespace {

Error bad(std::string message) {
  return make_error(ErrorCode::kInvalidArgument, std::move(message));
}

std::string shown(const nlohmann::json& v) {
  std::string text = v.dump();
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return text;
}

// Whole-string integer / number parses (no trailing garbage).
std::optional<std::int64_t> parse_int(const std::string& s) {
  if (s.empty()) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno != 0 || end != s.c_str() + s.size()) return std::nullopt;
  return static_cast<std::int64_t>(v);
}

std::optional<double> parse_double(const std::string& s) {
  if (s.empty()) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (errno != 0 || end != s.c_str() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

}  // namespace

Result<std::int64_t> as_int(const nlohmann::json& v) {
  if (v.is_number_integer()) return v.get<std::int64_t>();
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (std::floor(d) == d && std::fabs(d) < 9e15) return static_cast<std::int64_t>(d);
  }
  if (v.is_string()) {
    if (auto i = parse_int(v.get<std::string>())) return *i;
  }
  return bad("expected an integer, got " + shown(v));
}

Result<double> as_number(const nlohmann::json& v) {
  if (v.is_number()) return v.get<double>();
  if (v.is_string()) {
    if (auto d = parse_double(v.get<std::string>())) return *d;
  }
  return bad("expected a number, got " + shown(v));
}

Result<bool> as_bool(const nlohmann::json& v) {
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    if (s == "true" || s == "on" || s == "yes") return true;
    if (s == "false" || s == "off" || s == "no") return false;
  }
  return bad("expected true or false, got " + shown(v));
}

Result<std::string> as_string(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number() || v.is_boolean()) return v.dump();
  return bad("expected a string, got " + shown(v));
}

Result<std::vector<int>> as_compartments(const nlohmann::json& v) {
  std::vector<int> out;
  auto one = [&out](const nlohmann::json& item) -> Status {
    RC_ASSIGN_OR_RETURN(std::int64_t c, as_int(item));
    if (c < 1 || c > 255) return bad("compartments are 1..255, got " + std::to_string(c));
    out.push_back(static_cast<int>(c));
    return ok_status();
  };
  if (v.is_array()) {
    for (const auto& item : v) RC_TRY(one(item));
  } else if (v.is_string()) {
    std::istringstream in(v.get<std::string>());
    std::string item;
    while (std::getline(in, item, ',')) RC_TRY(one(nlohmann::json(item)));
  } else {
    RC_TRY(one(v));
  }
  if (out.empty()) return bad("expected at least one compartment");
  return out;
}

Result<std::vector<int>> as_statuses(const nlohmann::json& v) {
  std::vector<int> out;
  const nlohmann::json items = v.is_array() ? v : nlohmann::json::array({v});
  for (const auto& item : items) {
    RC_ASSIGN_OR_RETURN(std::int64_t s, as_int(item));
    if (s < 100 || s > 599) return bad("an HTTP status is 100..599, got " + std::to_string(s));
    out.push_back(static_cast<int>(s));
  }
  if (out.empty()) return bad("expected at least one status");
  return out;
}

Status check_value(const nlohmann::json& value, FieldType type) {
  if (type == FieldType::kAny) return ok_status();
  if (holds_variable(value)) return ok_status();
  switch (type) {
    case FieldType::kString:
      if (value.is_string() || value.is_number()) return ok_status();
      return bad("expected a string, got " + shown(value));
    case FieldType::kInt:
      return as_int(value).ok() ? ok_status() : Status(as_int(value).error());
    case FieldType::kNumber:
      return as_number(value).ok() ? ok_status() : Status(as_number(value).error());
    case FieldType::kBool:
      return as_bool(value).ok() ? ok_status() : Status(as_bool(value).error());
    case FieldType::kDuration: {
      auto d = parse_duration(value);
      return d.ok() ? ok_status() : Status(d.error());
    }
    case FieldType::kBoolOrDuration:
      if (value.is_boolean()) return ok_status();
      if (auto d = parse_duration(value); d.ok()) return ok_status();
      return bad("expected true, false or a duration like 300ms, got " + shown(value));
    case FieldType::kCompartments: {
      if (value.is_array()) {
        for (const auto& item : value) {
          if (holds_variable(item)) continue;
          auto c = as_compartments(item);
          if (!c.ok()) return c.error();
        }
        return value.empty() ? Status(bad("expected at least one compartment")) : ok_status();
      }
      auto c = as_compartments(value);
      return c.ok() ? ok_status() : Status(c.error());
    }
    case FieldType::kStatus: {
      auto s = as_statuses(value);
      return s.ok() ? ok_status() : Status(s.error());
    }
    case FieldType::kObject:
      if (value.is_object()) return ok_status();
      return bad("expected a mapping (key: value), got " + shown(value));
    case FieldType::kAny:
      return ok_status();
  }
  return ok_status();
}

}  // namespace scenario_detail

using namespace scenario_detail;

// ---- public helpers -----------------------------------------------------------------------------

Result<std::chrono::milliseconds> parse_duration(const nlohmann::json& value) {
  auto fail = [&value] {
    return make_error(ErrorCode::kInvalidArgument,
                      "expected a duration like 2s, 500ms, 1.5s, 2m or 1h, got " + value.dump());
  };
  double amount = 0;
  double unit_ms = 1000;
  if (value.is_number()) {
    amount = value.get<double>();
  } else if (value.is_string()) {
    static const std::regex kDuration(R"(^\s*(-?[0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|min|h)?\s*$)");
    std::smatch m;
    const std::string text = value.get<std::string>();
    if (!std::regex_match(text, m, kDuration)) return fail();
    amount = std::stod(m[1].str());
    const std::string unit = m[2].str();
    if (unit == "ms") unit_ms = 1;
    if (unit == "m" || unit == "min") unit_ms = 60'000;
    if (unit == "h") unit_ms = 3'600'000;
  } else {
    return fail();
  }
  const double ms = amount * unit_ms;
  if (!std::isfinite(ms) || std::fabs(ms) > 1e12) return fail();
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(ms)));
}

Result<nlohmann::json> extract_path(const nlohmann::json& doc, std::string_view path) {
  std::string pointer;
  if (!path.empty() && path.front() == '/') {
    pointer = std::string(path);
  } else if (!path.empty() && path.front() == '$') {
    // $.a.b[0]["c d"] -> /a/b/0/c d (escaping ~ and / as JSON pointer wants).
    std::size_t i = 1;
    while (i < path.size()) {
      std::string key;
      if (path[i] == '.') {
        ++i;
        while (i < path.size() && path[i] != '.' && path[i] != '[') key += path[i++];
      } else if (path[i] == '[') {
        const std::size_t close = path.find(']', i);
        if (close == std::string_view::npos) {
          return make_error(ErrorCode::kInvalidArgument,
                            "path " + std::string(path) + ": missing ]");
        }
        key = std::string(path.substr(i + 1, close - i - 1));
        if (key.size() >= 2 && (key.front() == '"' || key.front() == '\'')) {
          key = key.substr(1, key.size() - 2);
        }
        i = close + 1;
      } else {
        return make_error(
            ErrorCode::kInvalidArgument,
            "path " + std::string(path) + ": expected . or [ at position " + std::to_string(i));
      }
      std::string escaped;
      for (char c : key) {
        if (c == '~')
          escaped += "~0";
        else if (c == '/')
          escaped += "~1";
        else
          escaped += c;
      }
      pointer += "/" + escaped;
    }
  } else {
    return make_error(ErrorCode::kInvalidArgument,
                      "path " + std::string(path) + ": expected $.field... or /field...");
  }
  try {
    const nlohmann::json::json_pointer ptr(pointer);
    if (!doc.contains(ptr)) {
      return make_error(ErrorCode::kNotFound, "the response has nothing at " + std::string(path));
    }
    return doc.at(ptr);
  } catch (const nlohmann::json::exception& e) {
    return make_error(ErrorCode::kInvalidArgument,
                      "path " + std::string(path) + ": " + std::string(e.what()));
  }
}

std::string describe(const Scenario& scenario, const ScenarioStep& step) {
  return "step " + std::to_string(step.index) + " (" + step.kind + ", " +
         (step.source.empty() ? scenario.file.filename().string() : step.source) + ":" +
         std::to_string(step.line) + ")";
}

// ---- parsing ------------------------------------------------------------------------------------

namespace {

struct Located {
  std::string file;
  Error at(int line, const std::string& message) const {
    return make_error(ErrorCode::kInvalidArgument,
                      file + ":" + std::to_string(line) + ": " + message);
  }
};

int line_of(const YAML::Node& node) { return node.Mark().line + 1; }

// YAML 1.2 core schema for plain scalars; quoted scalars stay strings.
nlohmann::json scalar(const YAML::Node& node) {
  const std::string& text = node.Scalar();
  if (node.Tag() == "!") return text;
  if (text == "null" || text == "Null" || text == "NULL" || text == "~" || text.empty()) {
    return nullptr;
  }
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  static const std::regex kInt(R"(^[-+]?[0-9]+$)");
  static const std::regex kFloat(R"(^[-+]?([0-9]*\.[0-9]+|[0-9]+\.[0-9]*)([eE][-+]?[0-9]+)?$)");
  if (std::regex_match(text, kInt)) {
    errno = 0;
    const long long v = std::strtoll(text.c_str(), nullptr, 10);
    if (errno == 0) return static_cast<std::int64_t>(v);
  }
  if (std::regex_match(text, kFloat)) return std::strtod(text.c_str(), nullptr);
  return text;
}

Result<nlohmann::json> to_json(const YAML::Node& node, const Located& where) {
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      return nlohmann::json(nullptr);
    case YAML::NodeType::Scalar:
      return scalar(node);
    case YAML::NodeType::Sequence: {
      nlohmann::json out = nlohmann::json::array();
      for (const YAML::Node& item : node) {
        RC_ASSIGN_OR_RETURN(nlohmann::json v, to_json(item, where));
        out.push_back(std::move(v));
      }
      return out;
    }
    case YAML::NodeType::Map: {
      nlohmann::json out = nlohmann::json::object();
      for (const auto& kv : node) {
        if (!kv.first.IsScalar()) return where.at(line_of(kv.first), "a key must be a plain word");
        const std::string key = kv.first.Scalar();
        if (out.contains(key)) return where.at(line_of(kv.first), "duplicate key \"" + key + "\"");
        RC_ASSIGN_OR_RETURN(nlohmann::json v, to_json(kv.second, where));
        out[key] = std::move(v);
      }
      return out;
    }
  }
  return nlohmann::json(nullptr);
}

std::string field_names(const StepSpec& spec) {
  std::string out;
  for (const FieldSpec& f : spec.fields) out += (out.empty() ? "" : ", ") + std::string(f.name);
  return out.empty() ? "none" : out;
}

std::string step_kinds() {
  std::string out;
  for (const StepSpec& s : step_specs()) out += (out.empty() ? "" : ", ") + std::string(s.kind);
  return out;
}

}  // namespace

namespace {

Result<std::string> read_scenario_text(const std::filesystem::path& file) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) {
    return make_error(ErrorCode::kNotFound, file.string() + ": no such scenario file");
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    return make_error(ErrorCode::kIo, file.string() + ": cannot read: " + std::strerror(errno));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

constexpr int kMaxIncludeDepth = 8;

Result<Scenario> parse_scenario_at(std::string_view text, const std::filesystem::path& file,
                                   int depth);

// A document's nodes, aliases counted at every use: far more than any scenario has, and few
// enough that converting the steps to JSON stays instant (an alias of an alias of ... a list
// would otherwise expand to billions of nodes).
constexpr std::size_t kMaxScenarioNodes = 100'000;

// Every text of the document (keys, values, names, vars) is UTF-8, as the JSON the steps become
// needs: nlohmann throws when it prints anything else, in a message of this parser or in the
// runner. yaml-cpp takes stray bytes, and its escapes can make a surrogate ("\ud800"). Counts the
// nodes into `budget`.
Status check_scenario_texts(const YAML::Node& node, const Located& where, std::size_t& budget) {
  if (++budget > kMaxScenarioNodes) {
    return where.at(line_of(node), "the scenario has more than " +
                                       std::to_string(kMaxScenarioNodes) +
                                       " values (aliases counted at every use)");
  }
  if (node.IsScalar()) {
    try {
      (void)nlohmann::json(node.Scalar()).dump();
    } catch (const nlohmann::json::type_error&) {
      return where.at(line_of(node), "text that is not valid UTF-8");
    }
  } else if (node.IsSequence()) {
    for (const auto& item : node) RC_TRY(check_scenario_texts(item, where, budget));
  } else if (node.IsMap()) {
    for (const auto& kv : node) {
      RC_TRY(check_scenario_texts(kv.first, where, budget));
      RC_TRY(check_scenario_texts(kv.second, where, budget));
    }
  }
  return ok_status();
}

// The YAML document of a scenario file: a mapping.
Result<YAML::Node> load_root(std::string_view text, const Located& where) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::ParserException& e) {
    return make_error(ErrorCode::kInvalidArgument,
                      where.file + ":" + std::to_string(e.mark.line + 1) + ":" +
                          std::to_string(e.mark.column + 1) + ": not valid YAML: " + e.msg);
  } catch (const YAML::Exception& e) {
    return make_error(ErrorCode::kInvalidArgument, where.file + ": not valid YAML: " + e.what());
  }
  std::size_t nodes = 0;
  RC_TRY(check_scenario_texts(root, where, nodes));
  if (!root.IsMap()) {
    return where.at(root.IsDefined() ? line_of(root) : 1,
                    "a scenario is a mapping with name, vars and steps");
  }
  return root;
}

// name, description and vars into `scenario`; the steps, a non-empty list.
Result<YAML::Node> read_head(const YAML::Node& root, const Located& where, Scenario& scenario) {
  YAML::Node steps;
  bool have_steps = false;
  for (const auto& kv : root) {
    const std::string key = kv.first.Scalar();
    const int line = line_of(kv.first);
    if (key == "name" || key == "description") {
      if (!kv.second.IsScalar()) return where.at(line, key + " must be text");
      (key == "name" ? scenario.name : scenario.description) = kv.second.Scalar();
    } else if (key == "vars") {
      if (kv.second.IsNull()) continue;
      if (!kv.second.IsMap()) return where.at(line, "vars must be a mapping of name: value");
      for (const auto& var : kv.second) {
        if (!var.second.IsScalar()) {
          return where.at(line_of(var.first), "var " + var.first.Scalar() + " must be a scalar");
        }
        scenario.vars[var.first.Scalar()] = var.second.Scalar();
      }
    } else if (key == "steps") {
      steps = kv.second;
      have_steps = true;
    } else {
      return where.at(line,
                      "unknown key \"" + key + "\" (expected name, description, vars, steps)");
    }
  }
  if (!have_steps || !steps.IsSequence() || steps.size() == 0) {
    return where.at(have_steps ? std::max(line_of(steps), 1) : 1, "steps must be a non-empty list");
  }
  return steps;
}

// One file's parse: where it is, how deep in includes, and what it has gathered so far.
struct FileParse {
  const Located& where;
  const std::filesystem::path& file;
  int depth = 0;
  Scenario& scenario;
  std::vector<std::string> started;  // literal box ids started so far, for the default box
  std::size_t index = 0;             // of the last step
};

// A `start` step's literal box id, remembered for the steps without `box:`.
void note_start(const std::string& kind, const nlohmann::json& args,
                std::vector<std::string>& started) {
  if (kind != "start" || !args.contains("box") || !args["box"].is_string() ||
      holds_variable(args["box"])) {
    return;
  }
  const std::string box = args["box"].get<std::string>();
  if (std::find(started.begin(), started.end(), box) == started.end()) started.push_back(box);
}

// `- include: setup.yaml`: that file's steps run here; its vars are defaults that this file's
// vars (and --var) override. The path is relative to this file.
Status add_include(FileParse& p, const ScenarioStep& step, const YAML::Node& arguments,
                   const std::string& at_step) {
  if (!arguments.IsScalar()) {
    return p.where.at(step.line, at_step + " (include): expected a file name");
  }
  if (p.depth >= kMaxIncludeDepth) {
    return p.where.at(step.line, at_step + " (include): includes nest deeper than " +
                                     std::to_string(kMaxIncludeDepth) + " (a cycle?)");
  }
  const std::filesystem::path included = p.file.parent_path() / arguments.Scalar();
  auto included_text = read_scenario_text(included);
  if (!included_text.ok())
    return p.where.at(step.line, at_step + " (include): " + included_text.error().message);
  RC_ASSIGN_OR_RETURN(Scenario inner, parse_scenario_at(*included_text, included, p.depth + 1));
  for (auto& [name, value] : inner.vars) p.scenario.vars.emplace(name, value);
  --p.index;
  for (ScenarioStep& s : inner.steps) {
    s.index = ++p.index;
    if (s.source.empty()) s.source = included.filename().string();
    note_start(s.kind, s.args, p.started);
    p.scenario.steps.push_back(std::move(s));
  }
  return ok_status();
}

// `- set: {name: value}`: scalars only.
Status check_set(const nlohmann::json& args, const Located& where, int line,
                 const std::string& label) {
  if (!args.is_object() || args.empty()) {
    return where.at(line, label + ": expected a mapping of variable: value");
  }
  for (auto& [name, value] : args.items()) {
    if (!value.is_primitive() || value.is_null()) {
      return where.at(line, label + ": variable " + name + " must be a scalar");
    }
  }
  return ok_status();
}

// A step's arguments as a mapping of its fields (a scalar means its shorthand field), each of the
// right type, the required ones present.
Result<nlohmann::json> step_fields(const StepSpec& spec, nlohmann::json args, const Located& where,
                                   int line, const std::string& label) {
  if (!args.is_object()) {
    if (spec.shorthand == nullptr || args.is_null() || args.is_array()) {
      if (args.is_null() && spec.fields.size() == 1 && !spec.fields[0].required) {
        args = nlohmann::json::object();  // e.g. `- pull_network:` with the default box
      } else {
        return where.at(line, label + ": expected a mapping of " + field_names(spec));
      }
    } else {
      args = nlohmann::json{{spec.shorthand, std::move(args)}};
    }
  }
  for (auto& [name, value] : args.items()) {
    const FieldSpec* field = nullptr;
    for (const FieldSpec& f : spec.fields) {
      if (name == f.name) field = &f;
    }
    if (field == nullptr) {
      return where.at(
          line, label + ": unknown field \"" + name + "\" (known: " + field_names(spec) + ")");
    }
    if (Status s = check_value(value, field->type); !s.ok()) {
      return where.at(line, label + ": " + name + ": " + s.error().message);
    }
  }
  for (const FieldSpec& f : spec.fields) {
    if (f.required && !args.contains(f.name)) {
      return where.at(line, label + ": missing field \"" + std::string(f.name) + "\"");
    }
  }
  return args;
}

// Without `box:` a step means the only box the scenario has started so far. None started
// literally (a ${var} box id): the runner picks the only running box.
Status default_box(nlohmann::json& args, const std::vector<std::string>& started,
                   const Located& where, int line, const std::string& label) {
  if (args.contains("box") || started.empty()) return ok_status();
  if (started.size() == 1) {
    args["box"] = started.front();
    return ok_status();
  }
  std::string names;
  for (const std::string& b : started) names += (names.empty() ? "" : ", ") + b;
  return where.at(line, label + ": which box? several are started (" + names + "): add box:");
}

// A step other than include: its kind known, its arguments checked.
Status add_step(FileParse& p, ScenarioStep step, const YAML::Node& arguments,
                const std::string& at_step) {
  const StepSpec* spec = find_step_spec(step.kind);
  if (spec == nullptr) {
    return p.where.at(
        step.line, at_step + ": unknown step \"" + step.kind + "\" (known: " + step_kinds() + ")");
  }
  const std::string label = at_step + " (" + step.kind + ")";
  RC_ASSIGN_OR_RETURN(nlohmann::json args, to_json(arguments, p.where));
  if (step.kind == "set") {
    RC_TRY(check_set(args, p.where, step.line, label));
  } else {
    RC_ASSIGN_OR_RETURN(args, step_fields(*spec, std::move(args), p.where, step.line, label));
    if (step.kind == "http" && args.contains("url") == args.contains("path")) {
      return p.where.at(step.line,
                        label + ": give either url or path (path is joined to base_url)");
    }
    note_start(step.kind, args, p.started);
    if (spec->needs_box) RC_TRY(default_box(args, p.started, p.where, step.line, label));
  }
  step.args = std::move(args);
  p.scenario.steps.push_back(std::move(step));
  return ok_status();
}

// One entry of the steps list: a bare word (`- pull_power`) or one `kind: arguments` pair.
Status parse_step(FileParse& p, const YAML::Node& node) {
  ScenarioStep step;
  step.index = ++p.index;
  step.line = line_of(node);
  const std::string at_step = "step " + std::to_string(step.index);
  YAML::Node arguments;
  if (node.IsScalar()) {
    step.kind = node.Scalar();
  } else if (node.IsMap() && node.size() == 1) {
    const auto kv = *node.begin();
    step.kind = kv.first.Scalar();
    arguments = kv.second;
  } else {
    return p.where.at(step.line, at_step +
                                     ": a step is one `kind: arguments` pair, e.g. "
                                     "`- open_door: 3`");
  }
  if (step.kind == "include") return add_include(p, step, arguments, at_step);
  return add_step(p, std::move(step), arguments, at_step);
}

Result<Scenario> parse_scenario_at(std::string_view text, const std::filesystem::path& file,
                                   int depth) {
  const Located where{file.filename().string()};
  RC_ASSIGN_OR_RETURN(const YAML::Node root, load_root(text, where));
  Scenario scenario;
  scenario.file = file;
  RC_ASSIGN_OR_RETURN(const YAML::Node steps, read_head(root, where, scenario));
  FileParse p{where, file, depth, scenario, {}, 0};
  for (const YAML::Node& node : steps) RC_TRY(parse_step(p, node));
  return scenario;
}

}  // namespace

Result<Scenario> parse_scenario(std::string_view text, const std::filesystem::path& file) {
  return parse_scenario_at(text, file, 0);
}

Result<Scenario> load_scenario(const std::filesystem::path& file) {
  RC_ASSIGN_OR_RETURN(std::string text, read_scenario_text(file));
  return parse_scenario(text, file);
}

}  // namespace reclothes::simulator
