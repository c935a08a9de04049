// Small byte helpers shared by tokens, ids and messages.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "reclothes/common/result.h"

namespace reclothes {

using Bytes = std::vector<std::uint8_t>;

// Lower-case hex.
std::string to_hex(std::span<const std::uint8_t> bytes);
// Accepts upper or lower case; an odd length or a non-hex character is kInvalidArgument.
Result<Bytes> from_hex(std::string_view hex);

// Bytes from the kernel's random source (getrandom(2)). Fails only if the kernel does.
Result<Bytes> random_bytes(std::size_t n);

// 128 random bits as 32 hex characters: message ids, request ids.
std::string random_id();

}  // namespace reclothes
