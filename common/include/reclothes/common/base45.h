// Base45 (RFC 9285): binary data as text in the QR alphanumeric alphabet.
//
// Every 2 bytes become 3 characters (a final odd byte becomes 2), and every character is one of
// the 45 that a QR code stores in alphanumeric mode at 5.5 bits each. That is why QR tokens use it
// rather than Base64: Base64 would force byte mode (8 bits per character) and a larger QR.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "reclothes/common/bytes.h"
#include "reclothes/common/result.h"

namespace reclothes {

// "0-9A-Z $%*+-./:" in value order.
inline constexpr std::string_view kBase45Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

// Length of the text for n bytes: 3 characters per 2 bytes, 2 for a final odd byte.
constexpr std::size_t base45_encoded_size(std::size_t n) { return n / 2 * 3 + (n % 2) * 2; }

std::string base45_encode(std::span<const std::uint8_t> data);

// Strict decoding. kInvalidArgument, naming the position, for: a character outside the alphabet
// (lower case included), a length that leaves one character over (len % 3 == 1), a 3-character
// group above 65535, or a final 2-character group above 255. Every byte string has exactly one
// encoding, so a successful decode re-encodes to the same text.
Result<Bytes> base45_decode(std::string_view text);

}  // namespace reclothes
