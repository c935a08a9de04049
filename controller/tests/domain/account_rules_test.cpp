// The account code rules (format, lenient reading, when a code may be used), the request limit's
// window, and the domain configuration's "accounts" section.
#include "reclothes/controller/domain/account_rules.h"

#include <gtest/gtest.h>

#include <array>
#include <set>

#include "reclothes/controller/domain/domain_config.h"

namespace reclothes::controller::domain {
namespace {

std::string code_of(std::array<std::uint8_t, kAccountCodeRandomBytes> bytes) {
  return account_code_from(bytes);
}

TEST(AccountCode, EightCrockfordCharactersFromFortyBits) {
  EXPECT_EQ(code_of({0, 0, 0, 0, 0}), "00000000");
  EXPECT_EQ(code_of({0xff, 0xff, 0xff, 0xff, 0xff}), "ZZZZZZZZ");
  // 0x0842108421 is 00001 repeated eight times in 5-bit groups.
  EXPECT_EQ(code_of({0x08, 0x42, 0x10, 0x84, 0x21}), "11111111");
  EXPECT_EQ(code_of({0x00, 0x00, 0x00, 0x00, 0x1f}), "0000000Z");
  // Every byte pattern gives a code the reader reads back as itself.
  std::set<std::string> seen;
  for (int i = 0; i < 256; ++i) {
    const auto b = static_cast<std::uint8_t>(i);
    const auto c = code_of({b, static_cast<std::uint8_t>(b * 7), 0x55, b, 0xaa});
    EXPECT_EQ(c.size(), kAccountCodeLength);
    EXPECT_EQ(normalize_account_code(c), c);
    EXPECT_EQ(normalize_account_code(display_account_code(c)), c);
    seen.insert(c);
  }
  EXPECT_EQ(seen.size(), 256U);
}

TEST(AccountCode, ShownInTwoGroupsOfFour) {
  EXPECT_EQ(display_account_code("7KQ2M9XD"), "7KQ2-M9XD");
}

TEST(AccountCode, TypedCodesAreReadLeniently) {
  EXPECT_EQ(normalize_account_code("7kq2-m9xd"), "7KQ2M9XD");
  EXPECT_EQ(normalize_account_code(" 7KQ2 M9XD "), "7KQ2M9XD");
  // The letters people mistake for digits are read as the digits.
  EXPECT_EQ(normalize_account_code("OIL2-M9XD"), "0112M9XD");
  EXPECT_EQ(normalize_account_code("o1l2m9xd"), "0112M9XD");
}

TEST(AccountCode, AnythingElseIsUnreadable) {
  EXPECT_EQ(normalize_account_code(""), std::nullopt);
  EXPECT_EQ(normalize_account_code("7KQ2M9X"), std::nullopt);    // 7 characters
  EXPECT_EQ(normalize_account_code("7KQ2M9XDA"), std::nullopt);  // 9
  EXPECT_EQ(normalize_account_code("7KQ2M9XU"), std::nullopt);   // U is not Crockford base32
  EXPECT_EQ(normalize_account_code("7KQ2_M9XD"), std::nullopt);
  EXPECT_EQ(normalize_account_code(std::string(100, '-') + "7KQ2M9XD"), std::nullopt);
}

TEST(AccountCode, UsableOnlyOpenBeforeExpiryAndUnderTheAttemptLimit) {
  const CodeState open{1000, 0, false};
  EXPECT_EQ(judge_code(open, 999, 5), CodeVerdict::kUsable);
  EXPECT_EQ(judge_code(open, 1000, 5), CodeVerdict::kExpired);  // not at the instant it expires
  EXPECT_EQ(judge_code({1000, 4, false}, 0, 5), CodeVerdict::kUsable);
  EXPECT_EQ(judge_code({1000, 5, false}, 0, 5), CodeVerdict::kExhausted);
  EXPECT_EQ(judge_code({1000, 0, true}, 0, 5), CodeVerdict::kClosed);
  // A closed code stays closed, whatever else holds; a dead one stays dead after expiry too.
  EXPECT_EQ(judge_code({1000, 9, true}, 5000, 5), CodeVerdict::kClosed);
  EXPECT_EQ(judge_code({1000, 5, false}, 5000, 5), CodeVerdict::kExhausted);
  EXPECT_EQ(to_string(CodeVerdict::kExhausted), "exhausted");
  EXPECT_EQ(to_string(CodePurpose::kEmailChange), "email_change");
  EXPECT_EQ(to_string(CodePurpose::kPasswordReset), "password_reset");
}

TEST(RequestWindow, RefusedAtTheLimitUntilTheLimitThNewestLeaves) {
  const std::int64_t window = 3'600'000;
  EXPECT_EQ(window_retry_after_s({2, 0}, 3, window, 10'000), std::nullopt);
  // Three in the window, the third newest at t=1000 s: free again at 1000 + 3600 s.
  EXPECT_EQ(window_retry_after_s({3, 1'000'000}, 3, window, 1'000'000), 3600);
  EXPECT_EQ(window_retry_after_s({3, 1'000'000}, 3, window, 4'599'500), 1);  // rounded up
  EXPECT_EQ(window_retry_after_s({5, 1'000'000}, 3, window, 4'600'500), 1);  // at least 1 s
}

TEST(AccountsConfig, DefaultsAndStrictReading) {
  auto defaults = parse_domain_config(nlohmann::json::object());
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->accounts.code_ttl, std::chrono::seconds(900));
  EXPECT_EQ(defaults->accounts.code_max_attempts, 5);
  EXPECT_EQ(defaults->accounts.request_window, std::chrono::seconds(3600));
  EXPECT_EQ(defaults->accounts.requests_per_email, 3);
  EXPECT_EQ(defaults->accounts.requests_per_address, 20);

  auto set = parse_domain_config({{"accounts",
                                   {{"code_ttl_s", 600},
                                    {"code_max_attempts", 3},
                                    {"request_window_s", 120},
                                    {"requests_per_email", 2},
                                    {"requests_per_address", 9}}}});
  ASSERT_TRUE(set.ok()) << set.error().to_string();
  EXPECT_EQ(set->accounts.code_ttl, std::chrono::seconds(600));
  EXPECT_EQ(set->accounts.code_max_attempts, 3);
  EXPECT_EQ(set->accounts.request_window, std::chrono::seconds(120));
  EXPECT_EQ(set->accounts.requests_per_email, 2);
  EXPECT_EQ(set->accounts.requests_per_address, 9);

  const auto refused = [](const nlohmann::json& accounts) {
    auto c = parse_domain_config({{"accounts", accounts}});
    return c.ok() ? std::string("accepted") : c.error().message;
  };
  EXPECT_NE(refused({{"code_ttl_s", 10}}).find("/accounts/code_ttl_s"), std::string::npos);
  EXPECT_NE(refused({{"code_max_attempts", 0}}).find("/accounts/code_max_attempts"),
            std::string::npos);
  EXPECT_NE(refused({{"requests_per_email", "3"}}).find("/accounts/requests_per_email"),
            std::string::npos);
  EXPECT_NE(refused({{"code_ttl", 600}}).find("/accounts/code_ttl"), std::string::npos);
}

}  // namespace
}  // namespace reclothes::controller::domain
