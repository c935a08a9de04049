// Business rules as pure functions: which compartment size a set of clothes needs, what a donor
// earns for a graded donation, what a buyer earns for a completed purchase, and how personal
// data is masked. docs/orders.md states the same rules for people.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "reclothes/common/result.h"

namespace reclothes::controller::domain {

// Clothing categories, each with a volume in "units" per piece (a folded T-shirt is about 2).
struct Category {
  std::string_view name;
  int units;
};
std::span<const Category> all_categories();
std::optional<Category> find_category(std::string_view name);

struct ItemCount {
  std::string category;
  int count = 1;
};

// Units per compartment size: S holds 6, M 12, L 24, XL 48.
int size_capacity_units(std::string_view size_class);
// The sizes, smallest first.
std::span<const std::string_view> all_size_classes();

// The smallest compartment size that holds the items: the sum of count x units of each item
// against the capacities above. kInvalidArgument for an unknown category, a count below 1 or no
// items; kResourceExhausted when even XL is too small ("split the donation").
Result<std::string> required_size(std::span<const ItemCount> items);
// Sizes that fit, smallest first: required_size and every larger one.
std::vector<std::string> fitting_sizes(std::string_view required);

// What a donor receives once every item of a donation is graded.
struct Reward {
  enum class Kind { kCoins, kCoupon };
  Kind kind = Kind::kCoins;
  int coins = 0;        // kCoins
  int percent_off = 0;  // kCoupon: an offline coupon for a partner shop
};
inline constexpr int kCoinsPerPublishedPiece = 10;
inline constexpr int kCoinsPerRecycledPiece = 2;
inline constexpr int kRecycleOnlyCouponPercent = 10;
// published/recycled count pieces (an item's count). At least one published piece: coins
// (10 per published piece + 2 per recycled piece). Nothing published: an offline coupon
// (10 % off at a partner shop), because recycling alone earns no resale value to share.
// Nothing graded at all (both 0): kInvalidArgument.
Result<Reward> donation_reward(int published_pieces, int recycled_pieces);

// Coins for a completed purchase: one per whole currency unit paid (EUR 23.99 -> 23), at least 1.
int purchase_coins(std::int64_t total_cents);

// Masking of personal data for staff without customers.read_full.
// "alice@example.org" -> "a***@example.org"; "+49 170 1234567" -> "***4567"; "Alice" -> "A***".
std::string mask_email(std::string_view email);
std::string mask_phone(std::string_view phone);
std::string mask_name(std::string_view name);

// A card number that passes the Luhn check and has 12..19 digits.
bool is_plausible_card_number(std::string_view digits);

}  // namespace reclothes::controller::domain
