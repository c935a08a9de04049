#include "reclothes/common/result.h"

#include <gtest/gtest.h>

#include <memory>

namespace reclothes {
namespace {

Result<int> half(int x) {
  if (x % 2 != 0) return make_error(ErrorCode::kInvalidArgument, std::to_string(x) + " is odd");
  return x / 2;
}

Result<int> quarter(int x) {
  RC_ASSIGN_OR_RETURN(int h, half(x));
  RC_ASSIGN_OR_RETURN(int q, half(h));
  return q;
}

Status check_even(int x) {
  RC_TRY(half(x));
  return ok_status();
}

TEST(Result, HoldsValueOrError) {
  Result<int> good = half(8);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 4);
  Result<int> bad = half(3);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(bad.error().message, "3 is odd");
  EXPECT_EQ(bad.value_or(-1), -1);
}

TEST(Result, TryMacrosPropagateTheFirstError) {
  EXPECT_EQ(*quarter(8), 2);
  Result<int> r = quarter(6);  // 6/2 = 3, then 3 is odd
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "3 is odd");
  EXPECT_TRUE(check_even(2).ok());
  EXPECT_FALSE(check_even(1).ok());
}

TEST(Result, MoveOnlyValues) {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(7);
  ASSERT_TRUE(r.ok());
  std::unique_ptr<int> p = std::move(r).value();
  EXPECT_EQ(*p, 7);
}

TEST(Result, CustomErrorType) {
  enum class Why { kA, kB };
  Result<int, Why> r = Why::kB;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), Why::kB);
}

TEST(Error, ContextAndString) {
  Error e = make_error(ErrorCode::kNotFound, "box 7").with_context("loading");
  EXPECT_EQ(e.message, "loading: box 7");
  EXPECT_EQ(e.to_string(), "not_found: loading: box 7");
  EXPECT_EQ(to_string(ErrorCode::kUnavailable), "unavailable");
}

}  // namespace
}  // namespace reclothes
