#include "reclothes/common/json_reader.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>

namespace reclothes::json {
namespace {

std::string error_of(const Status& s) { return s.ok() ? "(no error)" : s.error().message; }
template <typename T>
std::string error_of(const Result<T>& r) {
  return r.ok() ? "(no error)" : r.error().message;
}

// ---- pointers -----------------------------------------------------------------------------------

TEST(JsonPointer, ChildrenAreJoinedWithSlashesAndKeysAreEscaped) {
  EXPECT_EQ(child("", "broker"), "/broker");
  EXPECT_EQ(child(child("", "compartments"), 2), "/compartments/2");
  EXPECT_EQ(child("/a", "b/c"), "/a/b~1c");
  EXPECT_EQ(child("/a", "x~y"), "/a/x~0y");
  // Escaped pointers find what they name.
  const Json doc = Json::parse(R"({"a": {"b/c": 1, "x~y": 2}})");
  EXPECT_EQ(doc.at(Json::json_pointer(child("/a", "b/c"))), 1);
  EXPECT_EQ(doc.at(Json::json_pointer(child("/a", "x~y"))), 2);
}

// ---- parse_strict -------------------------------------------------------------------------------

TEST(JsonParseStrict, AcceptsWhatIsValidAndReturnsTheDocument) {
  auto doc = parse_strict(R"({"a": [1, {"b": true}], "c": null})");
  ASSERT_TRUE(doc.ok()) << doc.error().message;
  EXPECT_EQ((*doc)["a"][1]["b"], true);
}

TEST(JsonParseStrict, DuplicateKeysAreRefusedByPointer) {
  EXPECT_EQ(error_of(parse_strict(R"({"a": 1, "a": 2})")), "/a: duplicate key");
  // Inside arrays the index is counted over scalars and containers alike.
  EXPECT_EQ(error_of(parse_strict(R"({"list": [1, [2], {"x": 1}, {"x": 1, "y": {}, "x": 2}]})")),
            "/list/3/x: duplicate key");
  EXPECT_EQ(error_of(parse_strict(R"([{}, {"k/1": {"z": 1, "z": 1}}])")),
            "/1/k~11/z: duplicate key");
  // The same key in sibling objects is no duplicate.
  EXPECT_TRUE(parse_strict(R"([{"x": 1}, {"x": 2}])").ok());
}

TEST(JsonParseStrict, MalformedTextNamesTheByte) {
  const auto bad = parse_strict(R"({"a": )");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(bad.error().message.rfind("not valid JSON (byte ", 0), 0u) << bad.error().message;
  EXPECT_FALSE(parse_strict("").ok());
  EXPECT_FALSE(parse_strict("{} x").ok());
  EXPECT_FALSE(parse_strict("\"\xff\"").ok());  // not UTF-8
}

TEST(JsonParseStrict, NestingIsLimited) {
  std::string deep;
  for (int i = 0; i < 5; ++i) deep += "[";
  for (int i = 0; i < 5; ++i) deep += "]";
  EXPECT_TRUE(parse_strict(deep, 5).ok());
  EXPECT_EQ(error_of(parse_strict(deep, 4)), "nests deeper than 4 levels");
}

// ---- Result-style reads -------------------------------------------------------------------------

TEST(JsonRead, ValuesAreCheckedForTypeAndRangeNamingWhatWasFound) {
  EXPECT_EQ(*read_uint(Json(7), "/n", 1, 9), 7u);
  EXPECT_EQ(error_of(read_uint(Json(10), "/n", 1, 9)), "/n: expected an integer 1..9, got 10");
  EXPECT_EQ(error_of(read_uint(Json(-1), "/n", 0, 9)), "/n: expected an integer 0..9, got -1");
  EXPECT_EQ(error_of(read_uint(Json("17"), "/n", 0, 1023)),
            "/n: expected an integer 0..1023, got the string \"17\"");
  EXPECT_EQ(error_of(read_uint(Json(0), "/seq", 1)),
            "/seq: expected an unsigned integer >= 1, got 0");
  EXPECT_EQ(error_of(read_int(Json(1.5), "/t", 0, std::numeric_limits<std::int64_t>::max())),
            "/t: expected a non-negative integer, got the number 1.5");
  EXPECT_EQ(error_of(read_int(Json(std::numeric_limits<std::uint64_t>::max()), "/t", -1, 1)),
            "/t: expected an integer -1..1, got 18446744073709551615");
  EXPECT_EQ(error_of(read_bool(Json(1), "/b")), "/b: expected a boolean, got 1");
  EXPECT_EQ(error_of(read_string(Json(nullptr), "/s")), "/s: expected a string, got null");
  EXPECT_EQ(error_of(read_string(Json(false), "/s")),
            "/s: expected a string, got the boolean false");
  EXPECT_EQ(error_of(read_text(Json("abc"), "/s", 2)),
            "/s: expected a string of 0..2 bytes, got 3 bytes");
  EXPECT_EQ(error_of(read_number(Json(300), "/c", -100, 200)),
            "/c: expected a number in -100.0..200.0, got 300");
  EXPECT_EQ(error_of(read_array(Json::object(), "/l", 1, 2)),
            "/l: expected an array of 1..2 items, got an object");
  EXPECT_EQ(error_of(read_array(Json::array(), "/l", 1, 2)),
            "/l: expected an array of 1..2 items, got 0 items");
  EXPECT_EQ(error_of(read_object(Json::array(), "")),
            "(top level): expected an object, got an array");
}

TEST(JsonRead, LongOrStrangeStringsAreQuotedSafely) {
  const std::string got = describe(Json(std::string(100, 'x') + "\xc3\xa9"));
  EXPECT_LT(got.size(), 70u);
  EXPECT_EQ(describe(Json("\xc3\xa9\n")), "the string \"\\u00e9\\n\"");
}

TEST(JsonRead, FieldsAreRequiredOptionalOrUnknown) {
  const Json obj = Json::parse(R"({"a": 5, "b": "x", "n": null})");
  EXPECT_EQ(error_of(require(obj, "/o", "z")), "/o/z: missing required field");
  EXPECT_EQ(*read_field(obj, "/o", "a", integer_in<int>(1, 9)), 5);
  EXPECT_EQ(error_of(read_field(obj, "/o", "a", integer_in<std::uint16_t>(6, 9))),
            "/o/a: expected an integer 6..9, got 5");
  std::optional<std::string> b;
  std::string kept = "default";
  EXPECT_TRUE(read_optional(obj, "/o", "b", b, read_string).ok());
  EXPECT_EQ(b, "x");
  EXPECT_TRUE(read_optional(obj, "/o", "missing", kept, read_string).ok());
  EXPECT_EQ(kept, "default");
  EXPECT_EQ(error_of(read_optional(obj, "/o", "n", kept, read_string)),
            "/o/n: expected a string, got null");
  EXPECT_TRUE(check_object(obj, "/o", {"a", "b", "n"}).ok());
  EXPECT_EQ(error_of(check_object(obj, "/o", {"a", "n"})), "/o/b: unknown field");
  EXPECT_EQ(error_of(check_object(Json(3), "/o", {})), "/o: expected an object, got 3");
}

// ---- FieldReader --------------------------------------------------------------------------------

TEST(JsonFieldReader, KeepsTheFirstProblemWithItsPointer) {
  const Json body = Json::parse(R"({"name": "", "port": 70000, "on": "yes"})");
  FieldReader r(body, "/listener");
  EXPECT_EQ(r.string("name", 1), "");
  EXPECT_EQ(r.integer("port", 0, 65535), 0);  // the default once an error is recorded
  r.boolean("on");
  ASSERT_TRUE(r.finish().has_value());
  EXPECT_EQ(r.finish()->to_string(), "/listener/name: must not be empty");
}

TEST(JsonFieldReader, ProblemsSayWhatIsWrongWithoutRepeatingTheValue) {
  const auto first_error = [](const Json& body, auto&& read) {
    FieldReader r(body);
    read(r);
    auto e = r.finish();
    return e ? e->to_string() : std::string("(no error)");
  };
  EXPECT_EQ(first_error(Json::parse(R"({"keepalive_s": 0})"),
                        [](FieldReader& r) { r.integer("keepalive_s", 1, 3600); }),
            "/keepalive_s: must be between 1 and 3600");
  EXPECT_EQ(first_error(Json::parse(R"({"keepalive_s": 7200})"),
                        [](FieldReader& r) { r.integer("keepalive_s", 1, 3600); }),
            "/keepalive_s: must be at most 3600");
  EXPECT_EQ(
      first_error(Json::parse(R"({"password": 12})"), [](FieldReader& r) { r.string("password"); }),
      "/password: expected a string");
  EXPECT_EQ(first_error(Json::object(), [](FieldReader& r) { r.boolean("on"); }),
            "/on: is required");
  EXPECT_EQ(
      first_error(Json::parse(R"({"on": null})"), [](FieldReader& r) { r.optional_boolean("on"); }),
      "(no error)");
  EXPECT_EQ(first_error(Json::parse(R"({"ids": [1, "2"]})"),
                        [](FieldReader& r) { r.integer_array("ids", 5, 0, 9); }),
            "/ids/1: expected an integer between 0 and 9");
  EXPECT_EQ(first_error(Json::parse(R"({"a": 1, "b/c": 2})"),
                        [](FieldReader& r) { r.integer("a", 0, 9); }),
            "/b~1c: unknown field");
  EXPECT_EQ(first_error(Json::array(), [](FieldReader&) {}), "/: expected a JSON object");
}

TEST(JsonFieldReader, ChildReadersNestTheirPointers) {
  const Json doc = Json::parse(R"({"mqtt": {"uri": "tcp://x", "extra": 1}})");
  FieldReader root(doc);
  const Json* mqtt = root.object("mqtt", true);
  ASSERT_NE(mqtt, nullptr);
  FieldReader r = root.child("mqtt", *mqtt);
  EXPECT_EQ(r.string("uri"), "tcp://x");
  r.finish();
  root.merge(r);
  ASSERT_TRUE(root.finish().has_value());
  EXPECT_EQ(root.finish()->to_string(), "/mqtt/extra: unknown field");
}

}  // namespace
}  // namespace reclothes::json
