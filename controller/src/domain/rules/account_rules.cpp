// The customer account's pure rules (account_rules.h).
#include "reclothes/controller/domain/account_rules.h"

#include <algorithm>
#include <cctype>

namespace reclothes::controller::domain {
namespace {

constexpr std::string_view kCrockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

}  // namespace

std::string_view to_string(CodePurpose purpose) {
  return purpose == CodePurpose::kEmailChange ? "email_change" : "password_reset";
}

std::string account_code_from(std::span<const std::uint8_t, kAccountCodeRandomBytes> random) {
  std::uint64_t bits = 0;
  for (const auto b : random) bits = (bits << 8) | b;
  std::string out(kAccountCodeLength, '0');
  for (std::size_t i = 0; i < kAccountCodeLength; ++i) {
    out[kAccountCodeLength - 1 - i] = kCrockford[bits & 31U];
    bits >>= 5;
  }
  return out;
}

std::string display_account_code(std::string_view canonical) {
  if (canonical.size() != kAccountCodeLength) return std::string(canonical);
  return std::string(canonical.substr(0, 4)) + "-" + std::string(canonical.substr(4));
}

std::optional<std::string> normalize_account_code(std::string_view typed) {
  if (typed.size() > 32) return std::nullopt;
  std::string out;
  for (const char raw : typed) {
    if (raw == '-' || raw == ' ') continue;
    char c = static_cast<char>(std::toupper(static_cast<unsigned char>(raw)));
    if (c == 'O') c = '0';
    if (c == 'I' || c == 'L') c = '1';
    if (kCrockford.find(c) == std::string_view::npos) return std::nullopt;
    out.push_back(c);
  }
  if (out.size() != kAccountCodeLength) return std::nullopt;
  return out;
}

std::string_view to_string(CodeVerdict verdict) {
  switch (verdict) {
    case CodeVerdict::kUsable:
      return "usable";
    case CodeVerdict::kClosed:
      return "closed";
    case CodeVerdict::kExpired:
      return "expired";
    case CodeVerdict::kExhausted:
      return "exhausted";
  }
  return "closed";
}

CodeVerdict judge_code(const CodeState& code, std::int64_t now_ms, int max_attempts) {
  if (code.closed) return CodeVerdict::kClosed;
  if (code.attempts >= max_attempts) return CodeVerdict::kExhausted;
  if (now_ms >= code.expires_ms) return CodeVerdict::kExpired;
  return CodeVerdict::kUsable;
}

std::optional<std::int64_t> window_retry_after_s(const WindowCount& seen, int limit,
                                                 std::int64_t window_ms, std::int64_t now_ms) {
  if (seen.count < limit || !seen.limit_th_newest_ms) return std::nullopt;
  const auto wait_ms = *seen.limit_th_newest_ms + window_ms - now_ms;
  return std::max<std::int64_t>(1, (wait_ms + 999) / 1000);
}

}  // namespace reclothes::controller::domain
