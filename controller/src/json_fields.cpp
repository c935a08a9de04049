#include "reclothes/controller/json_fields.h"

#include <cmath>

namespace reclothes::controller {

FieldReader::FieldReader(const nlohmann::json& object, std::string pointer)
    : object_(object), pointer_(std::move(pointer)) {
  if (!object_.is_object()) {
    error_ = FieldError{pointer_.empty() ? "/" : pointer_, "expected a JSON object"};
  }
}

std::string FieldReader::pointer(std::string_view key) const {
  return pointer_ + "/" + std::string(key);
}

void FieldReader::fail(std::string_view key, std::string problem) {
  if (!error_) error_ = FieldError{pointer(key), std::move(problem)};
}

void FieldReader::merge(const FieldReader& child) {
  if (!error_ && child.error_) error_ = child.error_;
}

bool FieldReader::has(std::string_view key) const {
  if (!object_.is_object()) return false;
  const auto it = object_.find(std::string(key));
  return it != object_.end() && !it->is_null();
}

const nlohmann::json* FieldReader::find(std::string_view key, bool required) {
  seen_.emplace(key);
  if (error_) return nullptr;
  const auto it = object_.find(std::string(key));
  // An explicit null counts as absent: optional fields may be sent as null.
  if (it == object_.end() || it->is_null()) {
    if (required) fail(key, "is required");
    return nullptr;
  }
  return &*it;
}

std::string FieldReader::string(std::string_view key, std::size_t min_len, std::size_t max_len) {
  auto v = optional_string(key, min_len, max_len);
  if (!v && ok()) fail(key, "is required");
  return v.value_or("");
}

std::optional<std::string> FieldReader::optional_string(std::string_view key, std::size_t min_len,
                                                        std::size_t max_len) {
  const auto* j = find(key, false);
  if (!j) return std::nullopt;
  if (!j->is_string()) {
    fail(key, "expected a string");
    return std::nullopt;
  }
  auto s = j->get<std::string>();
  if (s.size() < min_len) {
    fail(key, min_len == 1 ? "must not be empty"
                           : "must be at least " + std::to_string(min_len) + " characters");
    return std::nullopt;
  }
  if (s.size() > max_len) {
    fail(key, "must be at most " + std::to_string(max_len) + " characters");
    return std::nullopt;
  }
  return s;
}

std::int64_t FieldReader::integer(std::string_view key, std::int64_t min, std::int64_t max) {
  auto v = optional_integer(key, min, max);
  if (!v && ok()) fail(key, "is required");
  return v.value_or(min);
}

std::optional<std::int64_t> FieldReader::optional_integer(std::string_view key, std::int64_t min,
                                                          std::int64_t max) {
  const auto* j = find(key, false);
  if (!j) return std::nullopt;
  std::int64_t v = 0;
  if (j->is_number_integer()) {
    if (j->is_number_unsigned() && j->get<std::uint64_t>() > static_cast<std::uint64_t>(max)) {
      fail(key, "must be at most " + std::to_string(max));
      return std::nullopt;
    }
    v = j->get<std::int64_t>();
  } else {
    fail(key, "expected an integer");
    return std::nullopt;
  }
  if (v < min || v > max) {
    fail(key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
    return std::nullopt;
  }
  return v;
}

double FieldReader::number(std::string_view key, double min, double max) {
  auto v = optional_number(key, min, max);
  if (!v && ok()) fail(key, "is required");
  return v.value_or(min);
}

std::optional<double> FieldReader::optional_number(std::string_view key, double min, double max) {
  const auto* j = find(key, false);
  if (!j) return std::nullopt;
  if (!j->is_number()) {
    fail(key, "expected a number");
    return std::nullopt;
  }
  const auto v = j->get<double>();
  if (!std::isfinite(v) || v < min || v > max) {
    fail(key, "must be a number between " + std::to_string(min) + " and " + std::to_string(max));
    return std::nullopt;
  }
  return v;
}

bool FieldReader::boolean(std::string_view key) {
  auto v = optional_boolean(key);
  if (!v && ok()) fail(key, "is required");
  return v.value_or(false);
}

std::optional<bool> FieldReader::optional_boolean(std::string_view key) {
  const auto* j = find(key, false);
  if (!j) return std::nullopt;
  if (!j->is_boolean()) {
    fail(key, "expected true or false");
    return std::nullopt;
  }
  return j->get<bool>();
}

std::vector<std::string> FieldReader::string_array(std::string_view key, std::size_t max_items,
                                                   std::size_t max_len) {
  auto v = optional_string_array(key, max_items, max_len);
  if (!v && ok()) fail(key, "is required");
  return v.value_or(std::vector<std::string>{});
}

std::optional<std::vector<std::string>> FieldReader::optional_string_array(std::string_view key,
                                                                           std::size_t max_items,
                                                                           std::size_t max_len) {
  const auto* j = find(key, false);
  if (!j) return std::nullopt;
  if (!j->is_array()) {
    fail(key, "expected an array of strings");
    return std::nullopt;
  }
  if (j->size() > max_items) {
    fail(key, "must have at most " + std::to_string(max_items) + " items");
    return std::nullopt;
  }
  std::vector<std::string> out;
  for (std::size_t i = 0; i < j->size(); ++i) {
    const auto& item = (*j)[i];
    if (!item.is_string() || item.get_ref<const std::string&>().size() > max_len) {
      fail(std::string(key) + "/" + std::to_string(i),
           "expected a string of at most " + std::to_string(max_len) + " characters");
      return std::nullopt;
    }
    out.push_back(item.get<std::string>());
  }
  return out;
}

std::vector<std::int64_t> FieldReader::integer_array(std::string_view key, std::size_t max_items,
                                                     std::int64_t min, std::int64_t max) {
  const auto* j = find(key, true);
  if (!j) return {};
  if (!j->is_array()) {
    fail(key, "expected an array of integers");
    return {};
  }
  if (j->size() > max_items) {
    fail(key, "must have at most " + std::to_string(max_items) + " items");
    return {};
  }
  std::vector<std::int64_t> out;
  for (std::size_t i = 0; i < j->size(); ++i) {
    const auto& item = (*j)[i];
    if (!item.is_number_integer() ||
        (item.is_number_unsigned() &&
         item.get<std::uint64_t>() > static_cast<std::uint64_t>(max)) ||
        item.get<std::int64_t>() < min || item.get<std::int64_t>() > max) {
      fail(std::string(key) + "/" + std::to_string(i),
           "expected an integer between " + std::to_string(min) + " and " + std::to_string(max));
      return {};
    }
    out.push_back(item.get<std::int64_t>());
  }
  return out;
}

const nlohmann::json* FieldReader::object(std::string_view key, bool required) {
  const auto* j = find(key, required);
  if (!j) return nullptr;
  if (!j->is_object()) {
    fail(key, "expected a JSON object");
    return nullptr;
  }
  return j;
}

const nlohmann::json* FieldReader::array(std::string_view key, bool required, std::size_t min_items,
                                         std::size_t max_items) {
  const auto* j = find(key, required);
  if (!j) return nullptr;
  if (!j->is_array()) {
    fail(key, "expected an array");
    return nullptr;
  }
  if (j->size() < min_items || j->size() > max_items) {
    fail(key,
         "must have " + std::to_string(min_items) + ".." + std::to_string(max_items) + " items");
    return nullptr;
  }
  return j;
}

FieldReader FieldReader::child(std::string_view key, const nlohmann::json& object) const {
  return FieldReader(object, pointer(key));
}

std::optional<FieldError> FieldReader::finish() {
  if (!error_ && object_.is_object()) {
    for (const auto& [key, value] : object_.items()) {
      if (!seen_.contains(key)) {
        error_ = FieldError{pointer(key), "unknown field"};
        break;
      }
    }
  }
  return error_;
}

}  // namespace reclothes::controller
