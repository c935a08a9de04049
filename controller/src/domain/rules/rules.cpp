#include "reclothes/controller/domain/rules.h"

#include <algorithm>
#include <array>

namespace reclothes::controller::domain {
namespace {

constexpr std::array<Category, 8> kCategories = {{
    {"accessories", 1},
    {"tops", 2},
    {"bottoms", 3},
    {"dresses", 3},
    {"kids", 2},
    {"knitwear", 4},
    {"shoes", 4},
    {"outerwear", 6},
}};

constexpr std::array<std::string_view, 4> kSizes = {"S", "M", "L", "XL"};
constexpr std::array<int, 4> kCapacity = {6, 12, 24, 48};

}  // namespace

std::span<const Category> all_categories() { return kCategories; }

std::optional<Category> find_category(std::string_view name) {
  for (const auto& c : kCategories) {
    if (c.name == name) return c;
  }
  return std::nullopt;
}

int size_capacity_units(std::string_view size_class) {
  for (std::size_t i = 0; i < kSizes.size(); ++i) {
    if (kSizes[i] == size_class) return kCapacity[i];
  }
  return 0;
}

std::span<const std::string_view> all_size_classes() { return kSizes; }

Result<std::string> required_size(std::span<const ItemCount> items) {
  if (items.empty()) return make_error(ErrorCode::kInvalidArgument, "no items");
  long units = 0;
  for (const auto& item : items) {
    const auto c = find_category(item.category);
    if (!c) return make_error(ErrorCode::kInvalidArgument, "unknown category " + item.category);
    if (item.count < 1) return make_error(ErrorCode::kInvalidArgument, "count must be at least 1");
    units += static_cast<long>(item.count) * c->units;
  }
  for (std::size_t i = 0; i < kSizes.size(); ++i) {
    if (units <= kCapacity[i]) return std::string(kSizes[i]);
  }
  return make_error(ErrorCode::kResourceExhausted,
                    "the items need " + std::to_string(units) +
                        " units, more than the largest compartment holds (48): split them into "
                        "several donations");
}

std::vector<std::string> fitting_sizes(std::string_view required) {
  std::vector<std::string> out;
  bool on = false;
  for (auto s : kSizes) {
    on = on || s == required;
    if (on) out.emplace_back(s);
  }
  return out;
}

Result<Reward> donation_reward(int published_pieces, int recycled_pieces) {
  if (published_pieces < 0 || recycled_pieces < 0 || published_pieces + recycled_pieces == 0) {
    return make_error(ErrorCode::kInvalidArgument, "a reward needs at least one graded piece");
  }
  Reward r;
  if (published_pieces > 0) {
    r.kind = Reward::Kind::kCoins;
    r.coins = published_pieces * kCoinsPerPublishedPiece + recycled_pieces * kCoinsPerRecycledPiece;
  } else {
    r.kind = Reward::Kind::kCoupon;
    r.percent_off = kRecycleOnlyCouponPercent;
  }
  return r;
}

int purchase_coins(std::int64_t total_cents) {
  return static_cast<int>(std::max<std::int64_t>(1, total_cents / 100));
}

std::string mask_email(std::string_view email) {
  const auto at = email.find('@');
  if (at == std::string_view::npos || at == 0) return "***";
  return std::string(email.substr(0, 1)) + "***" + std::string(email.substr(at));
}

std::string mask_phone(std::string_view phone) {
  std::string digits;
  for (char c : phone) {
    if (c >= '0' && c <= '9') digits += c;
  }
  if (digits.size() <= 4) return "***";
  return "***" + digits.substr(digits.size() - 4);
}

std::string mask_name(std::string_view name) {
  if (name.empty()) return "";
  return std::string(name.substr(0, 1)) + "***";
}

bool is_plausible_card_number(std::string_view digits) {
  if (digits.size() < 12 || digits.size() > 19) return false;
  int sum = 0;
  bool dbl = false;
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
    if (*it < '0' || *it > '9') return false;
    int d = *it - '0';
    if (dbl) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    dbl = !dbl;
  }
  return sum % 10 == 0;
}

}  // namespace reclothes::controller::domain
