// Strict JSON reading, written once for every reader in the project: the box and controller
// configurations, the provisioning CLI's files, the MQTT messages and the controller's request
// bodies. Every problem names its field as a JSON pointer (RFC 6901): "/broker/keepalive_s",
// "/compartments/2/pin/lock_line", "/body/events/0/seq".
//
// Three parts:
//  - parse_strict(): text to a DOM, refusing what nlohmann would accept silently (a duplicate key,
//    of which it keeps the last) and nesting deeper than a limit.
//  - Result-style reads of one value or field (read_uint, read_string, require, check_object,
//    ...). They stop at the first problem and say what they found, because the person reading
//    the message is looking at a file or a payload:
//      "/compartments/2/pin/lock_line: expected an integer 0..1023, got the string \"17\"".
//    The box configuration, the provisioning CLI's files and the MQTT messages use them.
//  - FieldReader, which walks one object, keeps the first problem and returns defaults after it,
//    so a caller reads every field and checks once. Its problems never repeat the value (request
//    bodies carry passwords): "/mqtt/keepalive_s: must be between 1 and 3600". The controller's
//    configuration and its REST routes use it.
//
// The free functions are pure and thread-safe; a FieldReader is used by one thread. None throws.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "reclothes/common/result.h"

namespace reclothes::json {

using Json = nlohmann::json;

// ---- pointers -----------------------------------------------------------------------------------

// The pointer of a member or an element: child("/broker", "uri") == "/broker/uri",
// child("/compartments", 2) == "/compartments/2". Keys are escaped as RFC 6901 says ("a/b" is
// "a~1b"), so a pointer names exactly one place even for keys taken from the input.
std::string child(std::string_view pointer, std::string_view key);
std::string child(std::string_view pointer, std::size_t index);

// ---- strict text --------------------------------------------------------------------------------

inline constexpr int kDefaultMaxDepth = 32;

// Parses JSON text. kInvalidArgument for malformed text ("not valid JSON (byte 12): ..."), a
// duplicate key anywhere ("/compartments/1/size: duplicate key") or objects and arrays nested
// deeper than max_depth ("nests deeper than 16 levels"). The text is checked in a first pass
// before any DOM is built, so hostile input costs no memory. Size limits are the caller's: they
// differ per input and are best applied before calling this.
Result<Json> parse_strict(std::string_view text, int max_depth = kDefaultMaxDepth);

// ---- problems -----------------------------------------------------------------------------------

// A string from the input, safe to put into a log line or another JSON message: escaped to ASCII
// (so cutting it short cannot split a UTF-8 sequence), quoted, and cut after 48 characters.
std::string quote(std::string_view s);
// Printable ASCII only, at most max_length characters (for library messages that quote input).
std::string printable(std::string_view s, std::size_t max_length = 200);
// What a value is, for "got ...": null, the boolean true, 42, the number 1.5, the string "x",
// an array, an object.
std::string describe(const Json& value);

// kInvalidArgument "<pointer>: <problem>"; the empty pointer (the document itself) is shown as
// "(top level)".
Error field_error(std::string_view pointer, std::string_view problem);
// "<pointer>: expected <what>, got <describe(got)>".
Error expected_error(std::string_view pointer, std::string_view what, const Json& got);

// ---- Result-style reads: one value
// --------------------------------------------------------------- Each checks the JSON type and the
// range and returns the first problem as field_error(pointer).

// An unsigned integer in min..max: "expected an integer 5..3600, got 1" (without a maximum:
// "expected an unsigned integer >= 1, got 0").
Result<std::uint64_t> read_uint(const Json& v, std::string_view pointer, std::uint64_t min = 0,
                                std::uint64_t max = std::numeric_limits<std::uint64_t>::max());
// A signed integer in min..max: "expected an integer -5..5, got 6" (0..INT64_MAX: "expected a
// non-negative integer").
Result<std::int64_t> read_int(const Json& v, std::string_view pointer, std::int64_t min,
                              std::int64_t max);
// A finite number in min..max.
Result<double> read_number(const Json& v, std::string_view pointer, double min, double max);
Result<bool> read_bool(const Json& v, std::string_view pointer);
Result<std::string> read_string(const Json& v, std::string_view pointer);
// A string that is not empty ("must not be empty"): file names, ids, URIs.
Result<std::string> read_nonempty_string(const Json& v, std::string_view pointer);
// A string of (allow_empty ? 0 : 1)..max_bytes bytes.
Result<std::string> read_text(const Json& v, std::string_view pointer, std::size_t max_bytes,
                              bool allow_empty = true);
Result<const Json*> read_object(const Json& v, std::string_view pointer);
// An array of min..max items.
Result<const Json*> read_array(const Json& v, std::string_view pointer, std::size_t min,
                               std::size_t max);

// A reader for read_field()/read_optional() that reads an integer of type T in min..max.
template <typename T>
auto integer_in(T min, T max) {
  static_assert(std::is_integral_v<T> && !std::is_same_v<T, bool>);
  return [min, max](const Json& v, std::string_view pointer) -> Result<T> {
    if constexpr (std::is_unsigned_v<T>) {
      RC_ASSIGN_OR_RETURN(const std::uint64_t n, read_uint(v, pointer, min, max));
      return static_cast<T>(n);
    } else {
      RC_ASSIGN_OR_RETURN(const std::int64_t n, read_int(v, pointer, min, max));
      return static_cast<T>(n);
    }
  };
}

// A reader for read_field()/read_optional() that reads a whole number of Duration's units in
// min..max: duration_in<std::chrono::seconds>(5, 3600).
template <typename Duration>
auto duration_in(std::int64_t min, std::int64_t max) {
  return [min, max](const Json& v, std::string_view pointer) -> Result<Duration> {
    RC_ASSIGN_OR_RETURN(const std::int64_t n, read_int(v, pointer, min, max));
    return Duration(n);
  };
}

// ---- Result-style reads: fields of an object
// -----------------------------------------------------

// The member `key` of an object, or nullptr (also when `object` is not an object).
const Json* find(const Json& object, std::string_view key);
// The member `key`, or "<pointer>/<key>: missing required field".
Result<const Json*> require(const Json& object, std::string_view pointer, std::string_view key);
// `v` must be an object ("expected an object, got ...") with no key outside `known`
// ("<pointer>/<key>: unknown field"): a typo must not fall back to a default silently.
Status check_object(const Json& v, std::string_view pointer,
                    std::initializer_list<std::string_view> known);

// Reads the required member `key` with `read`, a callable (const Json&, std::string_view pointer)
// -> Result<T> such as read_bool or integer_in<int>(1, 9).
template <typename Read>
auto read_field(const Json& object, std::string_view pointer, std::string_view key, Read read)
    -> decltype(read(object, pointer)) {
  RC_ASSIGN_OR_RETURN(const Json* v, require(object, pointer, key));
  return read(*v, child(pointer, key));
}

// Reads the member `key` into `out` when it is there; leaves `out` as it is when it is not.
template <typename T, typename Read>
Status read_optional(const Json& object, std::string_view pointer, std::string_view key, T& out,
                     Read read) {
  if (const Json* v = find(object, key)) {
    RC_ASSIGN_OR_RETURN(out, read(*v, child(pointer, key)));
  }
  return ok_status();
}

// ---- FieldReader --------------------------------------------------------------------------------
// Reads an object field by field: each getter checks presence, type and range; the first problem
// is kept with the field's pointer, and finish() also refuses fields nobody asked for, so a typo
// in a config key or a body field is an error instead of a silently ignored value.

struct FieldError {
  std::string field;    // JSON pointer, "/mqtt/uri"
  std::string problem;  // "expected a string", "unknown field", "must be at most 64 characters"
  std::string to_string() const { return field + ": " + problem; }
};

class FieldReader {
 public:
  // `object` must outlive the reader. A non-object is recorded as an error at `pointer`.
  FieldReader(const Json& object, std::string pointer = "");

  // Required getters return a default value once an error was recorded; the caller checks
  // finish() before using anything it read. A `key` is a member name; fail() and pointer() also
  // take a path below the object ("items/3").
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
  const Json* object(std::string_view key, bool required);
  FieldReader child(std::string_view key, const Json& object) const;
  // An array of min..max items (or nullptr if absent and not required); the caller reads the
  // items, e.g. with FieldReader(item, pointer(key) + "/" + index).
  const Json* array(std::string_view key, bool required, std::size_t min_items,
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
  const Json* find(std::string_view key, bool required);
  const Json& object_;
  std::string pointer_;
  std::set<std::string, std::less<>> seen_;
  std::optional<FieldError> error_;
};

}  // namespace reclothes::json
