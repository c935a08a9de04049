#include "reclothes/common/base45.h"

#include <array>

namespace reclothes {

namespace {

// Character -> value, -1 for characters outside the alphabet.
constexpr std::array<std::int8_t, 256> make_decode_table() {
  std::array<std::int8_t, 256> table{};
  for (auto& v : table) v = -1;
  for (std::size_t i = 0; i < kBase45Alphabet.size(); ++i) {
    table[static_cast<unsigned char>(kBase45Alphabet[i])] = static_cast<std::int8_t>(i);
  }
  return table;
}

constexpr std::array<std::int8_t, 256> kDecodeTable = make_decode_table();

}  // namespace

std::string base45_encode(std::span<const std::uint8_t> data) {
  std::string out;
  out.reserve(base45_encoded_size(data.size()));
  std::size_t i = 0;
  for (; i + 1 < data.size(); i += 2) {
    unsigned n = (unsigned{data[i]} << 8) | data[i + 1];
    out.push_back(kBase45Alphabet[n % 45]);
    out.push_back(kBase45Alphabet[n / 45 % 45]);
    out.push_back(kBase45Alphabet[n / 2025]);
  }
  if (i < data.size()) {
    unsigned n = data[i];
    out.push_back(kBase45Alphabet[n % 45]);
    out.push_back(kBase45Alphabet[n / 45]);
  }
  return out;
}

Result<Bytes> base45_decode(std::string_view text) {
  if (text.size() % 3 == 1) {
    return make_error(ErrorCode::kInvalidArgument,
                      "base45: length " + std::to_string(text.size()) +
                          " leaves one character over (length % 3 == 1)");
  }
  Bytes out;
  out.reserve(text.size() / 3 * 2 + 1);
  for (std::size_t i = 0; i < text.size(); i += 3) {
    const std::size_t group = text.size() - i >= 3 ? 3 : 2;
    unsigned value = 0;
    unsigned weight = 1;
    for (std::size_t k = 0; k < group; ++k) {
      const std::int8_t digit = kDecodeTable[static_cast<unsigned char>(text[i + k])];
      if (digit < 0) {
        return make_error(ErrorCode::kInvalidArgument,
                          "base45: invalid character at position " + std::to_string(i + k));
      }
      value += static_cast<unsigned>(digit) * weight;
      weight *= 45;
    }
    if (group == 3) {
      if (value > 0xffff) {
        return make_error(ErrorCode::kInvalidArgument, "base45: group at position " +
                                                           std::to_string(i) + " decodes to " +
                                                           std::to_string(value) + ", above 65535");
      }
      out.push_back(static_cast<std::uint8_t>(value >> 8));
      out.push_back(static_cast<std::uint8_t>(value & 0xff));
    } else {
      if (value > 0xff) {
        return make_error(ErrorCode::kInvalidArgument, "base45: final pair at position " +
                                                           std::to_string(i) + " decodes to " +
                                                           std::to_string(value) + ", above 255");
      }
      out.push_back(static_cast<std::uint8_t>(value));
    }
  }
  return out;
}

}  // namespace reclothes
