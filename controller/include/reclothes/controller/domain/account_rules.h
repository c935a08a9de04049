// The customer account's pure rules: the one-time codes of a password reset and an email change
// (their format, how a typed code is read, when a code may still be used) and the sliding-window
// limit on reset requests. docs/controller.md, "The customer's account", states the same rules.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace reclothes::controller::domain {

enum class CodePurpose { kPasswordReset, kEmailChange };
// "password_reset", "email_change": the codes table's purpose and the notification's kind.
std::string_view to_string(CodePurpose purpose);

// A code carries 40 random bits: 8 characters of Crockford base32 (0-9 and A-Z without I, L, O,
// U), shown to people as two groups of four ("7KQ2-M9XD").
inline constexpr std::size_t kAccountCodeRandomBytes = 5;
inline constexpr std::size_t kAccountCodeLength = 8;

// The canonical code ("7KQ2M9XD", what is hashed and stored) of 5 random bytes.
std::string account_code_from(std::span<const std::uint8_t, kAccountCodeRandomBytes> random);
// The canonical code as a person reads it: "7KQ2-M9XD".
std::string display_account_code(std::string_view canonical);
// What a person typed, read leniently: case, spaces and dashes do not matter and the letters
// people confuse with digits are read as them (O -> 0, I and L -> 1). nullopt unless that leaves
// exactly 8 Crockford base32 characters.
std::optional<std::string> normalize_account_code(std::string_view typed);

// A stored code as its row says.
struct CodeState {
  std::int64_t expires_ms = 0;
  int attempts = 0;     // wrong codes tried against it
  bool closed = false;  // used, superseded by a newer code, or ended by a password change
};

enum class CodeVerdict {
  kUsable,
  kClosed,     // used or superseded: never again
  kExpired,    // its time is over
  kExhausted,  // max_attempts wrong codes were tried: dead
};
std::string_view to_string(CodeVerdict verdict);
// Whether a code may be tried now. A code expires at expires_ms (not usable at that instant).
CodeVerdict judge_code(const CodeState& code, std::int64_t now_ms, int max_attempts);

// A sliding-window limit: `count` events of the window (now - window_ms, now] and the time of
// the limit-th newest one (the one that has to leave the window before the next is allowed).
struct WindowCount {
  int count = 0;
  std::optional<std::int64_t> limit_th_newest_ms;
};
// nullopt: under the limit. Otherwise the whole seconds (at least 1) until one more is allowed.
std::optional<std::int64_t> window_retry_after_s(const WindowCount& seen, int limit,
                                                 std::int64_t window_ms, std::int64_t now_ms);

}  // namespace reclothes::controller::domain
