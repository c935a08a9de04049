#include "reclothes/common/json_reader.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace reclothes::json {
namespace {

constexpr std::uint64_t kU64Max = std::numeric_limits<std::uint64_t>::max();
constexpr std::int64_t kI64Max = std::numeric_limits<std::int64_t>::max();

void append_escaped(std::string& out, std::string_view key) {
  for (char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out.push_back(c);
    }
  }
}

// A first pass over the text with nlohmann's SAX parser, before any DOM is built: it checks the
// syntax, the nesting depth and duplicate keys, and stops at the first problem. nlohmann's parser
// is iterative, so depth is not a stack risk for it, but every consumer of the DOM (our readers,
// dump(), a debugger) may recurse. It keeps the path to the value being read (the current key of
// each open object, the current index of each open array) so a duplicate key is named by its
// pointer.
class StrictTextCheck final : public nlohmann::json_sax<Json> {
 public:
  explicit StrictTextCheck(int max_depth) : max_depth_(max_depth) {}

  bool null() override { return value(); }
  bool boolean(bool /*val*/) override { return value(); }
  bool number_integer(number_integer_t /*val*/) override { return value(); }
  bool number_unsigned(number_unsigned_t /*val*/) override { return value(); }
  bool number_float(number_float_t /*val*/, const string_t& /*s*/) override { return value(); }
  bool string(string_t& /*val*/) override { return value(); }
  bool binary(binary_t& /*val*/) override { return value(); }

  bool start_object(std::size_t /*elements*/) override { return enter(false); }
  bool key(string_t& val) override {
    // Different JSON libraries keep the first or the last of duplicate keys; refusing them means
    // every reader of a file or a message sees the same values.
    auto [it, fresh] = open_.back().keys.insert(val);
    if (!fresh) {
      error_ = child(path(open_.size() - 1), val) + ": duplicate key";
      return false;
    }
    open_.back().key = &*it;
    return true;
  }
  bool end_object() override { return leave(); }
  bool start_array(std::size_t /*elements*/) override { return enter(true); }
  bool end_array() override { return leave(); }
  bool parse_error(std::size_t position, const std::string& /*last_token*/,
                   const nlohmann::detail::exception& ex) override {
    error_ = "not valid JSON (byte " + std::to_string(position) + "): " + printable(ex.what());
    return false;
  }

  const std::string& error() const { return error_; }

 private:
  struct Open {
    bool array = false;
    std::size_t index = 0;                    // arrays: the element being read
    std::set<std::string, std::less<>> keys;  // objects: the keys seen so far
    const std::string* key = nullptr;         // objects: the member being read (in `keys`)
  };

  bool enter(bool array) {
    if (static_cast<int>(open_.size()) >= max_depth_) {
      error_ = "nests deeper than " + std::to_string(max_depth_) + " levels";
      return false;
    }
    open_.push_back(Open{array, 0, {}, nullptr});
    return true;
  }
  bool leave() {
    open_.pop_back();
    return value();
  }
  // A value is complete: the enclosing array moves on to its next element.
  bool value() {
    if (!open_.empty() && open_.back().array) ++open_.back().index;
    return true;
  }
  // The pointer of the container open at `depth` (0: the document).
  std::string path(std::size_t depth) const {
    std::string out;
    for (std::size_t i = 0; i < depth; ++i) {
      const Open& o = open_[i];
      out = o.array ? child(out, o.index) : child(out, o.key != nullptr ? *o.key : "");
    }
    return out;
  }

  int max_depth_;
  std::vector<Open> open_;
  std::string error_;
};

std::string uint_range(std::uint64_t min, std::uint64_t max) {
  if (max == kU64Max) {
    return min == 0 ? "an unsigned integer" : "an unsigned integer >= " + std::to_string(min);
  }
  return "an integer " + std::to_string(min) + ".." + std::to_string(max);
}

}  // namespace

// ---- pointers -----------------------------------------------------------------------------------

std::string child(std::string_view pointer, std::string_view key) {
  std::string out(pointer);
  out.push_back('/');
  append_escaped(out, key);
  return out;
}

std::string child(std::string_view pointer, std::size_t index) {
  std::string out(pointer);
  out.push_back('/');
  out += std::to_string(index);
  return out;
}

// ---- strict text --------------------------------------------------------------------------------

Result<Json> parse_strict(std::string_view text, int max_depth) {
  try {
    StrictTextCheck check(max_depth);
    if (!Json::sax_parse(text.begin(), text.end(), &check)) {
      return make_error(ErrorCode::kInvalidArgument,
                        check.error().empty() ? "not valid JSON" : check.error());
    }
    Json doc = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded()) return make_error(ErrorCode::kInvalidArgument, "not valid JSON");
    return doc;
  } catch (const Json::exception& e) {
    // Not expected (both passes report errors as values), but a library surprise must not take
    // a box or the controller down.
    return make_error(ErrorCode::kInvalidArgument, "not valid JSON: " + printable(e.what()));
  }
}

// ---- problems -----------------------------------------------------------------------------------

std::string quote(std::string_view s) {
  constexpr std::size_t kMaxQuoted = 48;
  std::string quoted =
      Json(std::string(s)).dump(-1, ' ', /*ensure_ascii=*/true, Json::error_handler_t::replace);
  if (quoted.size() > kMaxQuoted) quoted = quoted.substr(0, kMaxQuoted) + "...\"";
  return quoted;
}

std::string printable(std::string_view s, std::size_t max_length) {
  std::string out;
  out.reserve(std::min(s.size(), max_length) + 3);
  for (char c : s.substr(0, max_length)) out.push_back(c >= 0x20 && c <= 0x7e ? c : '?');
  if (s.size() > max_length) out += "...";
  return out;
}

std::string describe(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::boolean:
      return v.get<bool>() ? "the boolean true" : "the boolean false";
    case Json::value_t::string:
      return "the string " + quote(v.get_ref<const std::string&>());
    case Json::value_t::object:
      return "an object";
    case Json::value_t::array:
      return "an array";
    case Json::value_t::number_float:
      return "the number " + v.dump();
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
      return v.dump();
    case Json::value_t::binary:
    case Json::value_t::discarded:
      break;
  }
  return "an unexpected value";
}

Error field_error(std::string_view pointer, std::string_view problem) {
  std::string message(pointer.empty() ? std::string_view("(top level)") : pointer);
  message += ": ";
  message += problem;
  return make_error(ErrorCode::kInvalidArgument, std::move(message));
}

Error expected_error(std::string_view pointer, std::string_view what, const Json& got) {
  return field_error(pointer, "expected " + std::string(what) + ", got " + describe(got));
}

// ---- Result-style reads: one value
// ---------------------------------------------------------------

Result<std::uint64_t> read_uint(const Json& v, std::string_view pointer, std::uint64_t min,
                                std::uint64_t max) {
  std::uint64_t value = 0;
  if (v.is_number_unsigned()) {
    value = v.get<std::uint64_t>();
  } else if (v.is_number_integer() && v.get<std::int64_t>() >= 0) {
    value = static_cast<std::uint64_t>(v.get<std::int64_t>());  // "-0"
  } else {
    return expected_error(pointer, uint_range(min, max), v);
  }
  if (value < min || value > max) return expected_error(pointer, uint_range(min, max), v);
  return value;
}

Result<std::int64_t> read_int(const Json& v, std::string_view pointer, std::int64_t min,
                              std::int64_t max) {
  const std::string what = max == kI64Max && min == 0
                               ? std::string("a non-negative integer")
                               : "an integer " + std::to_string(min) + ".." + std::to_string(max);
  if (!v.is_number_integer()) return expected_error(pointer, what, v);
  if (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(kI64Max)) {
    return expected_error(pointer, what, v);
  }
  const auto value = v.get<std::int64_t>();
  if (value < min || value > max) return expected_error(pointer, what, v);
  return value;
}

Result<double> read_number(const Json& v, std::string_view pointer, double min, double max) {
  // The parser refuses 1e400, but a struct handed to a serializer may hold infinity or NaN,
  // which JSON cannot carry.
  if (!v.is_number()) return expected_error(pointer, "a number", v);
  const auto value = v.get<double>();
  if (!std::isfinite(value) || value < min || value > max) {
    return field_error(pointer, "expected a number in " + Json(min).dump() + ".." +
                                    Json(max).dump() + ", got " + v.dump());
  }
  return value;
}

Result<bool> read_bool(const Json& v, std::string_view pointer) {
  if (!v.is_boolean()) return expected_error(pointer, "a boolean", v);
  return v.get<bool>();
}

Result<std::string> read_string(const Json& v, std::string_view pointer) {
  if (!v.is_string()) return expected_error(pointer, "a string", v);
  return v.get<std::string>();
}

Result<std::string> read_nonempty_string(const Json& v, std::string_view pointer) {
  RC_ASSIGN_OR_RETURN(std::string s, read_string(v, pointer));
  if (s.empty()) return field_error(pointer, "must not be empty");
  return s;
}

Result<std::string> read_text(const Json& v, std::string_view pointer, std::size_t max_bytes,
                              bool allow_empty) {
  RC_ASSIGN_OR_RETURN(std::string s, read_string(v, pointer));
  if (s.size() > max_bytes || (!allow_empty && s.empty())) {
    return field_error(pointer, "expected a string of " + std::string(allow_empty ? "0" : "1") +
                                    ".." + std::to_string(max_bytes) + " bytes, got " +
                                    std::to_string(s.size()) + " bytes");
  }
  return s;
}

Result<const Json*> read_object(const Json& v, std::string_view pointer) {
  if (!v.is_object()) return expected_error(pointer, "an object", v);
  return &v;
}

Result<const Json*> read_array(const Json& v, std::string_view pointer, std::size_t min,
                               std::size_t max) {
  const std::string what =
      "an array of " + std::to_string(min) + ".." + std::to_string(max) + " items";
  if (!v.is_array()) return expected_error(pointer, what, v);
  if (v.size() < min || v.size() > max) {
    return field_error(pointer,
                       "expected " + what + ", got " + std::to_string(v.size()) + " items");
  }
  return &v;
}

// ---- Result-style reads: fields of an object
// -----------------------------------------------------

const Json* find(const Json& object, std::string_view key) {
  if (!object.is_object()) return nullptr;
  const auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

Result<const Json*> require(const Json& object, std::string_view pointer, std::string_view key) {
  const Json* value = find(object, key);
  if (value == nullptr) return field_error(child(pointer, key), "missing required field");
  return value;
}

Status check_object(const Json& v, std::string_view pointer,
                    std::initializer_list<std::string_view> known) {
  RC_TRY(read_object(v, pointer));
  for (const auto& [key, value] : v.items()) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      return field_error(child(pointer, key), "unknown field");
    }
  }
  return ok_status();
}

// ---- FieldReader --------------------------------------------------------------------------------

FieldReader::FieldReader(const Json& object, std::string pointer)
    : object_(object), pointer_(std::move(pointer)) {
  if (!object_.is_object()) {
    error_ = FieldError{pointer_.empty() ? "/" : pointer_, "expected a JSON object"};
  }
}

// Not escaped: callers pass member names they wrote themselves, or a path below the object
// ("items/3"). Keys that come from the input (finish()) go through child().
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
  const Json* v = json::find(object_, key);
  return v != nullptr && !v->is_null();
}

const Json* FieldReader::find(std::string_view key, bool required) {
  seen_.emplace(key);
  if (error_) return nullptr;
  const Json* v = json::find(object_, key);
  // An explicit null counts as absent: optional fields may be sent as null.
  if (v == nullptr || v->is_null()) {
    if (required) fail(key, "is required");
    return nullptr;
  }
  return v;
}

std::string FieldReader::string(std::string_view key, std::size_t min_len, std::size_t max_len) {
  auto v = optional_string(key, min_len, max_len);
  if (!v && ok()) fail(key, "is required");
  return v.value_or("");
}

std::optional<std::string> FieldReader::optional_string(std::string_view key, std::size_t min_len,
                                                        std::size_t max_len) {
  const Json* j = find(key, false);
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
  const Json* j = find(key, false);
  if (!j) return std::nullopt;
  if (!j->is_number_integer()) {
    fail(key, "expected an integer");
    return std::nullopt;
  }
  if (j->is_number_unsigned() && j->get<std::uint64_t>() > static_cast<std::uint64_t>(max)) {
    fail(key, "must be at most " + std::to_string(max));
    return std::nullopt;
  }
  const auto v = j->get<std::int64_t>();
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
  const Json* j = find(key, false);
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
  const Json* j = find(key, false);
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
  const Json* j = find(key, false);
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
  const Json* j = find(key, true);
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

const Json* FieldReader::object(std::string_view key, bool required) {
  const Json* j = find(key, required);
  if (!j) return nullptr;
  if (!j->is_object()) {
    fail(key, "expected a JSON object");
    return nullptr;
  }
  return j;
}

const Json* FieldReader::array(std::string_view key, bool required, std::size_t min_items,
                               std::size_t max_items) {
  const Json* j = find(key, required);
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

FieldReader FieldReader::child(std::string_view key, const Json& object) const {
  return FieldReader(object, pointer(key));
}

std::optional<FieldError> FieldReader::finish() {
  if (!error_ && object_.is_object()) {
    for (const auto& [key, value] : object_.items()) {
      if (!seen_.contains(key)) {
        error_ = FieldError{json::child(pointer_, key), "unknown field"};
        break;
      }
    }
  }
  return error_;
}

}  // namespace reclothes::json
