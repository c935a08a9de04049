// The size rule, the reward rules, masking and the card-number check.
#include "reclothes/controller/domain/rules.h"

#include <gtest/gtest.h>

#include <vector>

namespace reclothes::controller::domain {
namespace {

std::string size_of(std::vector<ItemCount> items) {
  auto r = required_size(items);
  return r.ok() ? *r : "error: " + r.error().to_string();
}

TEST(SizeRule, SmallestSizeThatHoldsTheUnits) {
  // S holds 6 units, M 12, L 24, XL 48; tops are 2 units, outerwear 6, accessories 1.
  EXPECT_EQ(size_of({{"accessories", 1}}), "S");
  EXPECT_EQ(size_of({{"tops", 3}}), "S");                      // 6
  EXPECT_EQ(size_of({{"tops", 3}, {"accessories", 1}}), "M");  // 7
  EXPECT_EQ(size_of({{"outerwear", 2}}), "M");                 // 12
  EXPECT_EQ(size_of({{"outerwear", 2}, {"tops", 1}}), "L");    // 14
  EXPECT_EQ(size_of({{"shoes", 6}}), "L");                     // 24
  EXPECT_EQ(size_of({{"outerwear", 8}}), "XL");                // 48
}

TEST(SizeRule, RefusesWhatNoCompartmentHoldsAndBadInput) {
  auto too_big = required_size(std::vector<ItemCount>{{"outerwear", 8}, {"accessories", 1}});
  ASSERT_FALSE(too_big.ok());
  EXPECT_EQ(too_big.error().code, ErrorCode::kResourceExhausted);
  EXPECT_NE(too_big.error().message.find("split"), std::string::npos);
  EXPECT_EQ(required_size(std::vector<ItemCount>{}).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(required_size(std::vector<ItemCount>{{"hats", 1}}).error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(required_size(std::vector<ItemCount>{{"tops", 0}}).error().code,
            ErrorCode::kInvalidArgument);
}

TEST(SizeRule, FittingSizesAreTheRequiredOneAndLarger) {
  EXPECT_EQ(fitting_sizes("S"), (std::vector<std::string>{"S", "M", "L", "XL"}));
  EXPECT_EQ(fitting_sizes("L"), (std::vector<std::string>{"L", "XL"}));
  EXPECT_EQ(fitting_sizes("XL"), (std::vector<std::string>{"XL"}));
  for (const auto& c : all_categories()) EXPECT_GT(c.units, 0) << c.name;
}

TEST(RewardRule, CoinsWhenSomethingIsPublished) {
  auto r = donation_reward(3, 2);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, Reward::Kind::kCoins);
  EXPECT_EQ(r->coins, 3 * 10 + 2 * 2);
  auto only_published = donation_reward(1, 0);
  EXPECT_EQ(only_published->coins, 10);
}

TEST(RewardRule, CouponWhenEverythingIsRecycled) {
  auto r = donation_reward(0, 4);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, Reward::Kind::kCoupon);
  EXPECT_EQ(r->percent_off, 10);
  EXPECT_EQ(r->coins, 0);
  EXPECT_FALSE(donation_reward(0, 0).ok());
  EXPECT_FALSE(donation_reward(-1, 3).ok());
}

TEST(RewardRule, PurchaseCoinsAreWholeCurrencyUnitsAtLeastOne) {
  EXPECT_EQ(purchase_coins(2399), 23);
  EXPECT_EQ(purchase_coins(100), 1);
  EXPECT_EQ(purchase_coins(50), 1);
}

TEST(Masking, HidesAllButAHint) {
  EXPECT_EQ(mask_email("alice@example.org"), "a***@example.org");
  EXPECT_EQ(mask_email("nonsense"), "***");
  EXPECT_EQ(mask_phone("+49 170 1234567"), "***4567");
  EXPECT_EQ(mask_phone("123"), "***");
  EXPECT_EQ(mask_name("Alice"), "A***");
  EXPECT_EQ(mask_name(""), "");
}

TEST(CardNumbers, LuhnAndLength) {
  EXPECT_TRUE(is_plausible_card_number("4242424242424242"));
  EXPECT_TRUE(is_plausible_card_number("4000000000000002"));
  EXPECT_FALSE(is_plausible_card_number("4242424242424241"));
  EXPECT_FALSE(is_plausible_card_number("42424242"));
  EXPECT_FALSE(is_plausible_card_number("4242-4242-4242-4242"));
}

}  // namespace
}  // namespace reclothes::controller::domain
