// The step vocabulary of scenario files, shared by the parser (which checks files against it) and
// the runner (which reads the arguments with the same conversions). Private to the simulator.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "reclothes/common/result.h"

namespace reclothes::simulator::scenario_detail {

enum class FieldType {
  kString,
  kInt,
  kNumber,
  kBool,
  kDuration,        // "2s", "500ms", or seconds as a number
  kBoolOrDuration,  // auto_open: false | 300ms
  kCompartments,    // 3 | [1, 2] | "1,2"
  kStatus,          // 200 | [200, 201]
  kObject,          // a mapping (save:, headers:, fields:)
  kAny,             // http body: anything JSON
};

struct FieldSpec {
  const char* name;
  FieldType type;
  bool required = false;
};

struct StepSpec {
  const char* kind;
  const char* summary;  // for error messages and --help of the format
  std::vector<FieldSpec> fields;
  const char* shorthand = nullptr;  // a scalar value means this field
  bool needs_box = false;           // has a `box` field that defaults to the only box
};

const std::vector<StepSpec>& step_specs();
const StepSpec* find_step_spec(std::string_view kind);

// Checks a literal value against a type; a string holding "${" passes (checked when it runs).
// Returns the reason on failure ("expected an integer, got \"x\"").
Status check_value(const nlohmann::json& value, FieldType type);

// Conversions used by the runner after variables are substituted: numbers may arrive as strings.
Result<std::int64_t> as_int(const nlohmann::json& v);
Result<double> as_number(const nlohmann::json& v);
Result<bool> as_bool(const nlohmann::json& v);
Result<std::string> as_string(const nlohmann::json& v);
Result<std::vector<int>> as_compartments(const nlohmann::json& v);
Result<std::vector<int>> as_statuses(const nlohmann::json& v);

bool holds_variable(const nlohmann::json& v);

}  // namespace reclothes::simulator::scenario_detail
