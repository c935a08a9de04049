// Small text helpers for bounded fields (event details, indicator messages).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace reclothes::firmware {

// The longest prefix of `text` that is at most max_bytes long and does not end inside a UTF-8
// sequence.
std::string truncate_utf8(std::string_view text, std::size_t max_bytes);

// The longest prefix with at most max_chars code points (for the indicator's one-line display).
std::string truncate_chars(std::string_view text, std::size_t max_chars);

}  // namespace reclothes::firmware
