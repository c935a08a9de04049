#include "reclothes/hal/indicator.h"

#include <cstdint>
#include <optional>
#include <string>

namespace reclothes::hal {
namespace {

// Counts UTF-8 code points, or returns nullopt for malformed UTF-8 (bad lead byte, missing or
// stray continuation byte, overlong form, surrogate, or beyond U+10FFFF) and for control
// characters, which a one-line display cannot show.
std::optional<std::size_t> displayable_length(std::string_view text) {
  std::size_t count = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    auto lead = static_cast<std::uint8_t>(text[i]);
    std::size_t extra = 0;
    std::uint32_t code = 0;
    if (lead < 0x80) {
      code = lead;
    } else if ((lead & 0xE0u) == 0xC0u) {
      extra = 1;
      code = lead & 0x1Fu;
    } else if ((lead & 0xF0u) == 0xE0u) {
      extra = 2;
      code = lead & 0x0Fu;
    } else if ((lead & 0xF8u) == 0xF0u) {
      extra = 3;
      code = lead & 0x07u;
    } else {
      return std::nullopt;
    }
    if (text.size() - i <= extra) return std::nullopt;  // the sequence is cut off
    for (std::size_t k = 1; k <= extra; ++k) {
      auto next = static_cast<std::uint8_t>(text[i + k]);
      if ((next & 0xC0u) != 0x80u) return std::nullopt;
      code = (code << 6) | (next & 0x3Fu);
    }
    static constexpr std::uint32_t kMinForLength[] = {0, 0x80, 0x800, 0x10000};
    if (code < kMinForLength[extra] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) {
      return std::nullopt;
    }
    // C0 controls, DEL and C1 controls.
    if (code < 0x20 || (code >= 0x7F && code < 0xA0)) return std::nullopt;
    ++count;
    i += extra + 1;
  }
  return count;
}

}  // namespace

std::string_view to_string(IndicatorPattern pattern) {
  switch (pattern) {
    case IndicatorPattern::kIdle:
      return "idle";
    case IndicatorPattern::kWorking:
      return "working";
    case IndicatorPattern::kAccepted:
      return "accepted";
    case IndicatorPattern::kRejected:
      return "rejected";
    case IndicatorPattern::kFault:
      return "fault";
    case IndicatorPattern::kMaintenance:
      return "maintenance";
  }
  return "unknown";
}

Status Indicator::show(IndicatorPattern pattern, std::string_view message) {
  if (to_string(pattern) == "unknown") {
    return make_error(ErrorCode::kInvalidArgument, "indicator pattern " +
                                                       std::to_string(static_cast<int>(pattern)) +
                                                       " is not a known pattern");
  }
  std::optional<std::size_t> length = displayable_length(message);
  if (!length) {
    return make_error(ErrorCode::kInvalidArgument,
                      "indicator message is not displayable: it must be valid UTF-8 without "
                      "control characters");
  }
  if (*length > kMaxMessageLength) {
    return make_error(ErrorCode::kInvalidArgument,
                      "indicator message of " + std::to_string(*length) +
                          " characters is too long for the display (at most " +
                          std::to_string(kMaxMessageLength) + ")");
  }
  return do_show(pattern, message);
}

}  // namespace reclothes::hal
