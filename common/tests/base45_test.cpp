#include "reclothes/common/base45.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <string_view>

namespace reclothes {
namespace {

Bytes bytes_of(std::string_view s) { return Bytes(s.begin(), s.end()); }

std::string decode_to_string(std::string_view text) {
  auto decoded = base45_decode(text);
  EXPECT_TRUE(decoded.ok()) << text << ": " << decoded.error().to_string();
  if (!decoded.ok()) return {};
  return std::string(decoded->begin(), decoded->end());
}

// The examples of RFC 9285 section 4 (and the empty input): the bytes and their encoding.
struct Vector {
  std::string_view bytes;
  std::string_view encoded;
};
constexpr Vector kRfc9285Vectors[] = {{"AB", "BB8"},
                                      {"Hello!!", "%69 VD92EX0"},
                                      {"base-45", "UJCLQE7W581"},
                                      {"ietf!", "QED8WEX0"},
                                      {"", ""}};

TEST(Base45, EncodesRfc9285Vectors) {
  for (const Vector& v : kRfc9285Vectors) EXPECT_EQ(base45_encode(bytes_of(v.bytes)), v.encoded);
}

TEST(Base45, DecodesRfc9285Vectors) {
  for (const Vector& v : kRfc9285Vectors) EXPECT_EQ(decode_to_string(v.encoded), v.bytes);
}

// RFC 9285 section 4.4: "GGW" is 65536 and ":::" is 91124, both above 65535.
TEST(Base45, RejectsTripletsAbove65535) {
  for (std::string_view text : {"GGW", ":::", "BB8GGW"}) {
    auto r = base45_decode(text);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message.find("above 65535"), std::string::npos) << r.error().message;
  }
  // The largest legal triplet is 65535 = "FGW".
  auto max = base45_decode("FGW");
  ASSERT_TRUE(max.ok());
  EXPECT_EQ(*max, (Bytes{0xff, 0xff}));
}

TEST(Base45, RejectsFinalPairAbove255) {
  auto r = base45_decode("BB8::");  // 44 + 44 * 45 = 2024
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("above 255"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("position 3"), std::string::npos) << r.error().message;
  auto max = base45_decode("U5");  // 30 + 5 * 45 = 255
  ASSERT_TRUE(max.ok());
  EXPECT_EQ(*max, Bytes{0xff});
  EXPECT_FALSE(base45_decode("V5").ok());  // 256
}

TEST(Base45, RejectsLengthOneMoreThanMultipleOfThree) {
  for (std::string_view text : {"A", "BB8A", "%69 VD92EX"}) {
    auto r = base45_decode(text);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_NE(r.error().message.find("length"), std::string::npos) << r.error().message;
  }
}

TEST(Base45, RejectsCharactersOutsideTheAlphabet) {
  // Lower case, '#', NUL, a UTF-8 byte and '_' are not in the QR alphanumeric set.
  for (std::string_view text : {std::string_view("bb8"), std::string_view("BB#"),
                                std::string_view("B\0"
                                                 "8",
                                                 3),
                                std::string_view("BB\xc3"), std::string_view("B_8")}) {
    auto r = base45_decode(text);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_NE(r.error().message.find("invalid character"), std::string::npos) << r.error().message;
  }
  auto r = base45_decode("BB8QEx");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("position 5"), std::string::npos) << r.error().message;
}

TEST(Base45, EncodedTextUsesOnlyTheAlphabetAndPredictedLength) {
  std::mt19937 rng(45);
  for (std::size_t n = 0; n < 200; ++n) {
    Bytes data(n);
    for (auto& b : data) b = static_cast<std::uint8_t>(rng());
    std::string text = base45_encode(data);
    EXPECT_EQ(text.size(), base45_encoded_size(n));
    EXPECT_EQ(text.find_first_not_of(kBase45Alphabet), std::string::npos) << text;
    auto back = base45_decode(text);
    ASSERT_TRUE(back.ok()) << back.error().to_string();
    EXPECT_EQ(*back, data);
  }
}

// Every 2-byte value round-trips, and every legal 3-character group is the encoding of exactly
// one value (decode then encode gives the same text back).
TEST(Base45, EveryPairOfBytesRoundTripsAndEncodingIsCanonical) {
  for (unsigned v = 0; v <= 0xffff; ++v) {
    Bytes data{static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v & 0xff)};
    std::string text = base45_encode(data);
    ASSERT_EQ(text.size(), 3u);
    auto back = base45_decode(text);
    ASSERT_TRUE(back.ok());
    ASSERT_EQ(*back, data);
  }
  std::size_t legal = 0;
  for (char a : kBase45Alphabet) {
    for (char b : kBase45Alphabet) {
      for (char c : kBase45Alphabet) {
        std::string text{a, b, c};
        auto decoded = base45_decode(text);
        if (!decoded.ok()) continue;
        ++legal;
        ASSERT_EQ(base45_encode(*decoded), text);
      }
    }
  }
  EXPECT_EQ(legal, 65536u);
}

}  // namespace
}  // namespace reclothes
