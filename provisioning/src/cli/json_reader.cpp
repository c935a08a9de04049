#include "json_reader.h"

namespace reclothes::provisioning::cli::json_reader {

std::string child(std::string_view path, std::string_view key) {
  if (path.empty()) return std::string(key);
  return std::string(path) + "." + std::string(key);
}

std::string index(std::string_view path, std::size_t i) {
  return std::string(path) + "[" + std::to_string(i) + "]";
}

std::string describe(const Json& value) {
  switch (value.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::string: {
      std::string s = value.get<std::string>();
      if (s.size() > 40) s = s.substr(0, 40) + "...";
      return "the string \"" + s + "\"";
    }
    case Json::value_t::boolean:
      return value.get<bool>() ? "true" : "false";
    case Json::value_t::number_float:
      return "the number " + value.dump();
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
      return value.dump();
    case Json::value_t::array:
      return "an array";
    case Json::value_t::object:
      return "an object";
    default:
      return "an unsupported value";
  }
}

Error field_error(std::string_view path, std::string_view problem) {
  return make_error(ErrorCode::kInvalidArgument, std::string(path) + ": " + std::string(problem));
}

Status require_object(const Json& value, std::string_view path) {
  if (!value.is_object()) {
    return field_error(path.empty() ? "(top level)" : path,
                       "expected an object, got " + describe(value));
  }
  return ok_status();
}

Status only_keys(const Json& object, std::string_view path,
                 std::initializer_list<std::string_view> allowed) {
  for (const auto& [key, value] : object.items()) {
    bool known = false;
    for (std::string_view a : allowed) known = known || a == key;
    if (!known) return field_error(child(path, key), "unknown field");
  }
  return ok_status();
}

Result<std::optional<std::int64_t>> optional_int(const Json& object, std::string_view key,
                                                 std::string_view path, std::int64_t min,
                                                 std::int64_t max) {
  const auto it = object.find(std::string(key));
  if (it == object.end()) return std::optional<std::int64_t>();
  const std::string where = child(path, key);
  const std::string range =
      "expected an integer in " + std::to_string(min) + ".." + std::to_string(max);
  if (!it->is_number_integer()) return field_error(where, range + ", got " + describe(*it));
  std::int64_t v = 0;
  if (it->is_number_unsigned()) {
    const auto u = it->get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(max))
      return field_error(where, range + ", got " + it->dump());
    v = static_cast<std::int64_t>(u);
  } else {
    v = it->get<std::int64_t>();
  }
  if (v < min || v > max) return field_error(where, range + ", got " + it->dump());
  return std::optional<std::int64_t>(v);
}

Result<std::int64_t> required_int(const Json& object, std::string_view key, std::string_view path,
                                  std::int64_t min, std::int64_t max) {
  RC_ASSIGN_OR_RETURN(auto v, optional_int(object, key, path, min, max));
  if (!v) return field_error(child(path, key), "missing");
  return *v;
}

Result<std::optional<std::string>> optional_string(const Json& object, std::string_view key,
                                                   std::string_view path) {
  const auto it = object.find(std::string(key));
  if (it == object.end()) return std::optional<std::string>();
  if (!it->is_string()) {
    return field_error(child(path, key), "expected a string, got " + describe(*it));
  }
  return std::optional<std::string>(it->get<std::string>());
}

Result<std::string> required_string(const Json& object, std::string_view key,
                                    std::string_view path) {
  RC_ASSIGN_OR_RETURN(auto v, optional_string(object, key, path));
  if (!v) return field_error(child(path, key), "missing");
  return *v;
}

Result<std::optional<bool>> optional_bool(const Json& object, std::string_view key,
                                          std::string_view path) {
  const auto it = object.find(std::string(key));
  if (it == object.end()) return std::optional<bool>();
  if (!it->is_boolean()) {
    return field_error(child(path, key), "expected true or false, got " + describe(*it));
  }
  return std::optional<bool>(it->get<bool>());
}

Result<Json> parse(std::string_view text, std::string_view what) {
  try {
    return Json::parse(text);
  } catch (const Json::parse_error& e) {
    return make_error(ErrorCode::kInvalidArgument,
                      std::string(what) + ": not valid JSON (" + e.what() + ")");
  }
}

}  // namespace reclothes::provisioning::cli::json_reader
