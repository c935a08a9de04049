// libFuzzer target for the common strict JSON reader (reclothes/common/json_reader.h), which every
// configuration file, MQTT message and request body goes through.
//
// Besides "never crash, never hang", it checks what the strict pass promises: it accepts exactly
// the texts nlohmann accepts that have no duplicate key and no nesting beyond the limit, a
// duplicate is named by a pointer to an object that exists, and what it accepts prints back to
// text it accepts again. The readers are then run over whatever object came out.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "reclothes/common/json_reader.h"

namespace {

using reclothes::json::Json;
namespace json = reclothes::json;

constexpr int kDepth = 8;

void check(bool ok) {
  if (!ok) std::abort();
}

void read_fields(const Json& doc) {
  json::FieldReader r(doc, "/doc");
  r.optional_string("a", 1, 8);
  r.optional_integer("b", -5, 5);
  r.optional_number("c", -1.5, 1.5);
  r.optional_boolean("d");
  r.optional_string_array("e", 4, 4);
  if (const Json* f = r.object("f", false)) {
    json::FieldReader child = r.child("f", *f);
    child.optional_string("a");
    child.finish();
    r.merge(child);
  }
  const auto error = r.finish();
  if (error) check(error->field.rfind("/doc", 0) == 0);

  for (const auto& [key, value] : doc.items()) {
    const std::string pointer = json::child("", key);
    check(doc.at(Json::json_pointer(pointer)) == value);  // the escaping names the member
    (void)json::read_uint(value, pointer, 1, 100);
    (void)json::read_int(value, pointer, -100, 100);
    (void)json::read_number(value, pointer, -1e9, 1e9);
    (void)json::read_text(value, pointer, 16, false);
    (void)json::read_array(value, pointer, 1, 3);
    (void)json::check_object(value, pointer, {"a", "b"});
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const reclothes::Result<Json> strict = json::parse_strict(text, kDepth);
  const Json loose = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (strict.ok()) {
    check(!loose.is_discarded() && loose == *strict);
    // What is accepted prints back to text that is accepted again, as the same value.
    const reclothes::Result<Json> again = json::parse_strict(strict->dump(), kDepth);
    check(again.ok() && *again == *strict);
    if (strict->is_object()) read_fields(*strict);
    return 0;
  }
  const std::string& message = strict.error().message;
  check(message.size() < 400);
  const std::string_view duplicate = ": duplicate key";
  if (message.size() > duplicate.size() &&
      message.compare(message.size() - duplicate.size(), duplicate.size(), duplicate) == 0) {
    // The pointer names the duplicate member; its parent is an object of the document (when the
    // rest of the text parses: the strict pass stops at the duplicate).
    if (loose.is_discarded()) return 0;
    const Json::json_pointer pointer(message.substr(0, message.size() - duplicate.size()));
    check(loose.contains(pointer.parent_pointer()) &&
          loose.at(pointer.parent_pointer()).is_object());
  }
  return 0;
}
