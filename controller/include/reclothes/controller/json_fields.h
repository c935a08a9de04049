// Strict reading of JSON objects (configuration files and request bodies): each getter checks
// presence, type and range; the first problem is kept with the JSON pointer of the field, and
// finish() also refuses fields nobody asked for, so a typo in a config key or a body field is an
// error instead of a silently ignored value.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "reclothes/common/result.h"

namespace reclothes::controller {

struct FieldError {
  std::string field;    // JSON pointer, "/mqtt/uri"
  std::string problem;  // "expected a string", "unknown field", "must be at most 64 characters"
  std::string to_string() const { return field + ": " + problem; }
};

class FieldReader {
 public:
  // `object` must outlive the reader. A non-object is recorded as an error at `pointer`.
  FieldReader(const nlohmann::json& object, std::string pointer = "");

  // Required getters return a default value once an error was recorded; the caller checks
  // finish() before using anything it read.
  std::string string(std::string_view key, std::size_t min_len = 0, std::size_t max_len = 4096);
  std::optional<std::string> optional_string(std::string_view key, std::size_t min_len = 0,
                                             std::size_t max_len = 4096);
  std::int64_t integer(std::string_view key, std::int64_t min, std::int64_t max);
  std::optional<std::int64_t> optional_integer(std::string_view key, std::int64_t min,
                                               std::int64_t max);
  double number(std::string_view key, double min, double max);
  std::optional<double> optional_number(std::string_view key, double min, double max);
  bool boolean(std::string_view key);
  std::optional<bool> optional_boolean(std::string_view key);
  std::vector<std::string> string_array(std::string_view key, std::size_t max_items,
                                        std::size_t max_len = 4096);
  std::optional<std::vector<std::string>> optional_string_array(std::string_view key,
                                                                std::size_t max_items,
                                                                std::size_t max_len = 4096);
  std::vector<std::int64_t> integer_array(std::string_view key, std::size_t max_items,
                                          std::int64_t min, std::int64_t max);
  // A nested object (or nullptr if absent and not required). The caller reads it with a child
  // FieldReader built by child().
  const nlohmann::json* object(std::string_view key, bool required);
  FieldReader child(std::string_view key, const nlohmann::json& object) const;
  // An array of min..max items (or nullptr if absent and not required); the caller reads the
  // items, e.g. with FieldReader(item, pointer(key) + "/" + index).
  const nlohmann::json* array(std::string_view key, bool required, std::size_t min_items,
                              std::size_t max_items);

  bool has(std::string_view key) const;
  // Records an error for a field the caller validated itself (an enum, a CIDR, ...).
  void fail(std::string_view key, std::string problem);
  // Adopts a child reader's first error.
  void merge(const FieldReader& child);

  const std::optional<FieldError>& error() const { return error_; }
  bool ok() const { return !error_.has_value(); }
  // Refuses unknown fields (when no other error came first) and returns the first error.
  std::optional<FieldError> finish();

  std::string pointer(std::string_view key) const;

 private:
  const nlohmann::json* find(std::string_view key, bool required);
  const nlohmann::json& object_;
  std::string pointer_;
  std::set<std::string, std::less<>> seen_;
  std::optional<FieldError> error_;
};

}  // namespace reclothes::controller
