#include "reclothes/common/box_code.h"

#include <gtest/gtest.h>

#include <string>

namespace reclothes {
namespace {

TEST(BoxCode, NamesTheBoxAndParsesBack) {
  Result<std::string> code = box_code("box-0001");
  ASSERT_TRUE(code.ok()) << code.error().to_string();
  EXPECT_EQ(*code, "reclothes:box:box-0001");
  Result<std::string> id = parse_box_code(*code);
  ASSERT_TRUE(id.ok()) << id.error().to_string();
  EXPECT_EQ(*id, "box-0001");
}

TEST(BoxCode, RefusesAnInvalidBoxId) {
  EXPECT_FALSE(box_code("").ok());
  EXPECT_FALSE(box_code("box/1").ok());
  EXPECT_FALSE(box_code(std::string(33, 'b')).ok());
}

TEST(BoxCode, PrefixIsMatchedInAnyCase) {
  Result<std::string> id = parse_box_code("RECLOTHES:BOX:Box_7");
  ASSERT_TRUE(id.ok()) << id.error().to_string();
  EXPECT_EQ(*id, "Box_7");  // the id keeps its case: box ids are case-sensitive
}

TEST(BoxCode, RefusesOtherTextsWithAReason) {
  for (const char* text : {"", "reclothes:box:", "reclothes:box:a b", "reclothes:box:x/../y",
                           "RC1:ABC", "https://example.org/b/box-1", "reclothes:bo"}) {
    SCOPED_TRACE(text);
    Result<std::string> id = parse_box_code(text);
    ASSERT_FALSE(id.ok());
    EXPECT_EQ(id.error().code, ErrorCode::kInvalidArgument);
    EXPECT_FALSE(id.error().message.empty());
  }
}

TEST(BoxCode, TokensNeverLookLikeABoxCode) {
  // Token texts start with "RC1:" (docs/token-format.md): the two can never be confused.
  EXPECT_FALSE(looks_like_box_code("RC1:NCFOXN*TDC"));
  EXPECT_TRUE(looks_like_box_code("reclothes:box:box-1"));
  EXPECT_TRUE(looks_like_box_code("reclothes:box:not a valid id"));
}

}  // namespace
}  // namespace reclothes
