// Strict reading of JSON objects for the CLI's input files: every problem is kInvalidArgument with
// the field's path ("compartments[2].pin.lock_line: expected an integer in 0..1023, got \"17\"").
// Private to the CLI library.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "reclothes/common/result.h"

namespace reclothes::provisioning::cli::json_reader {

using Json = nlohmann::json;

std::string child(std::string_view path, std::string_view key);
std::string index(std::string_view path, std::size_t i);
// A short rendering of a value for error messages ("the string \"17\"", "null").
std::string describe(const Json& value);
Error field_error(std::string_view path, std::string_view problem);

Status require_object(const Json& value, std::string_view path);
// Refuses keys of `object` that are not in `allowed`.
Status only_keys(const Json& object, std::string_view path,
                 std::initializer_list<std::string_view> allowed);

Result<std::optional<std::int64_t>> optional_int(const Json& object, std::string_view key,
                                                 std::string_view path, std::int64_t min,
                                                 std::int64_t max);
Result<std::int64_t> required_int(const Json& object, std::string_view key, std::string_view path,
                                  std::int64_t min, std::int64_t max);
Result<std::optional<std::string>> optional_string(const Json& object, std::string_view key,
                                                   std::string_view path);
Result<std::string> required_string(const Json& object, std::string_view key,
                                    std::string_view path);
Result<std::optional<bool>> optional_bool(const Json& object, std::string_view key,
                                          std::string_view path);

// Parses text; kInvalidArgument with nlohmann's position for malformed JSON. `what` names the
// input ("--compartments file x.json").
Result<Json> parse(std::string_view text, std::string_view what);

}  // namespace reclothes::provisioning::cli::json_reader
