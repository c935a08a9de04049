#include "reclothes/common/bytes.h"

#include <gtest/gtest.h>

#include <set>

namespace reclothes {
namespace {

TEST(Hex, RoundTrip) {
  Bytes b{0x00, 0x7f, 0x80, 0xff, 0x1a};
  EXPECT_EQ(to_hex(b), "007f80ff1a");
  auto back = from_hex("007F80ff1A");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, b);
}

TEST(Hex, RejectsOddLengthAndBadDigits) {
  EXPECT_EQ(from_hex("abc").error().code, ErrorCode::kInvalidArgument);
  auto bad = from_hex("0g");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("position 1"), std::string::npos);
}

TEST(Random, IdsAreUniqueAndHex) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string id = random_id();
    ASSERT_EQ(id.size(), 32u);
    ASSERT_TRUE(from_hex(id).ok());
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

}  // namespace
}  // namespace reclothes
