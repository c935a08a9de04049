#include "reclothes/common/token.h"

#include <gtest/gtest.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>

#include <array>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "reclothes/common/base45.h"
#include "test_keys.h"

namespace reclothes {
namespace {

constexpr std::int64_t kT0 = 1'767'225'600;  // 2026-01-01T00:00:00Z
constexpr std::int64_t kLeeway = 60;

// An RSA-1024 public key (openssl genpkey -algorithm RSA): a real key, the wrong kind.
constexpr std::string_view kRsaPublicKey = R"(-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDF7t5WZxppf5Wx5jeFPHSAE2i+
qhi+O4YyGruwpTrD++c2/M7CO/IJjET2uNwniJR8+iYVKyi+8/3HfYuWY2xgd2HM
xOgea7dgeDtU39WcySZk9UiQD6jxxmLvEivqmdxIGXgoqzacUc5i+lSUp8yb7ZLH
HfCvA06TEFM+C8tB3QIDAQAB
-----END PUBLIC KEY-----
)";

TokenClaims deposit_claims() {
  TokenClaims c;
  c.token_id = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
  c.action = TokenAction::kDeposit;
  c.box_id = "box-0001";
  c.compartments = {3};
  c.order_ref = 123456;
  c.not_before = kT0;
  c.expires = kT0 + 15 * 60;
  return c;
}

TokenClaims courier_claims(std::size_t n) {
  TokenClaims c = deposit_claims();
  c.action = TokenAction::kCourierCollect;
  c.compartments.clear();
  for (std::size_t i = 1; i <= n; ++i) c.compartments.push_back(static_cast<std::uint8_t>(i));
  c.expires = kT0 + 4 * 3600;
  return c;
}

TokenSigner make_signer(std::uint16_t key_id) {
  auto signer = TokenSigner::generate(key_id);
  EXPECT_TRUE(signer.ok()) << signer.error().to_string();
  return std::move(signer).value();
}

std::string sign(const TokenSigner& signer, const TokenClaims& claims) {
  auto text = signer.sign(claims);
  EXPECT_TRUE(text.ok()) << text.error().to_string();
  return text.ok() ? *text : std::string();
}

TrustedKeys trust(std::initializer_list<const TokenSigner*> signers) {
  TrustedKeys keys;
  for (const TokenSigner* s : signers) {
    auto pem = s->public_pem();
    EXPECT_TRUE(pem.ok());
    Status added = keys.add(s->key_id(), *pem);
    EXPECT_TRUE(added.ok()) << added.error().to_string();
  }
  return keys;
}

VerifyRequest request_at(std::int64_t now, std::optional<std::uint8_t> compartment = 3) {
  return VerifyRequest{"box-0001", compartment, now, kLeeway};
}

// The binary form of a token text (prefix stripped, Base45 decoded).
Bytes binary_of(const std::string& text) {
  auto bytes = base45_decode(std::string_view(text).substr(kTokenPrefix.size()));
  EXPECT_TRUE(bytes.ok());
  return bytes.ok() ? *bytes : Bytes();
}

std::string text_of(const Bytes& binary) {
  return std::string(kTokenPrefix) + base45_encode(binary);
}

Bytes varint(std::uint64_t v) {
  Bytes out;
  while (v >= 0x80) {
    out.push_back(static_cast<std::uint8_t>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<std::uint8_t>(v));
  return out;
}

// An independent writer of the documented layout (docs/token-format.md), with every field free,
// so tests can build tokens the signer would refuse to make. The signature is 64 zero bytes:
// parsing comes before the signature check.
struct RawToken {
  std::uint8_t version = 1;
  std::uint16_t key_id = 1;
  std::array<std::uint8_t, 8> token_id{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
  std::uint8_t action = 1;
  std::string box_id = "box-0001";
  std::optional<std::uint8_t> box_id_len;  // defaults to box_id.size()
  Bytes compartments{3};
  std::optional<std::uint8_t> n_compartments;  // defaults to compartments.size()
  Bytes order_ref = varint(123456);
  std::uint32_t not_before = static_cast<std::uint32_t>(kT0);
  Bytes expires_delta = varint(900);
  std::size_t signature_size = 64;

  Bytes body() const {
    Bytes out;
    out.reserve(256);  // also keeps GCC 12's -Warray-bounds false positive on insert() quiet
    out.push_back(version);
    out.push_back(static_cast<std::uint8_t>(key_id >> 8));
    out.push_back(static_cast<std::uint8_t>(key_id & 0xff));
    out.insert(out.end(), token_id.begin(), token_id.end());
    out.push_back(action);
    out.push_back(box_id_len.value_or(static_cast<std::uint8_t>(box_id.size())));
    out.insert(out.end(), box_id.begin(), box_id.end());
    out.push_back(n_compartments.value_or(static_cast<std::uint8_t>(compartments.size())));
    out.insert(out.end(), compartments.begin(), compartments.end());
    out.insert(out.end(), order_ref.begin(), order_ref.end());
    for (int shift = 24; shift >= 0; shift -= 8) {
      out.push_back(static_cast<std::uint8_t>((not_before >> shift) & 0xff));
    }
    out.insert(out.end(), expires_delta.begin(), expires_delta.end());
    return out;
  }
  std::string text() const {
    Bytes out = body();
    out.resize(out.size() + signature_size, 0);
    return text_of(out);
  }
};

// Asserts that text is refused as malformed by the parser and by a verifier, and that the
// detail mentions `field`.
void expect_malformed(const std::string& text, std::string_view field) {
  auto parsed = parse_token_unverified(text);
  ASSERT_FALSE(parsed.ok()) << "parsed: " << text;
  EXPECT_EQ(parsed.error().reason, TokenError::kMalformed);
  EXPECT_NE(parsed.error().detail.find(field), std::string::npos)
      << "detail \"" << parsed.error().detail << "\" does not name " << field;

  static const TokenSigner signer = make_signer(1);
  static const TrustedKeys keys = trust({&signer});
  auto verified = TokenVerifier(keys).verify(text, request_at(kT0));
  ASSERT_FALSE(verified.ok());
  EXPECT_EQ(verified.error().reason, TokenError::kMalformed);
}

// --- Round trips ---

TEST(Token, SignVerifyRoundTripKeepsEveryClaim) {
  TokenSigner signer = make_signer(7);
  TrustedKeys keys = trust({&signer});
  TokenClaims claims = deposit_claims();
  claims.action = TokenAction::kPickup;
  claims.order_ref = std::numeric_limits<std::uint64_t>::max();  // the 10-byte varint
  std::string text = sign(signer, claims);
  ASSERT_TRUE(text.starts_with("RC1:"));
  EXPECT_EQ(text.find_first_not_of(kBase45Alphabet), std::string::npos) << text;

  auto verified = TokenVerifier(keys).verify(text, request_at(kT0 + 10));
  ASSERT_TRUE(verified.ok()) << verified.error().detail;
  EXPECT_EQ(verified->key_id, 7);
  EXPECT_EQ(verified->claims.token_id, claims.token_id);
  EXPECT_EQ(verified->claims.action, claims.action);
  EXPECT_EQ(verified->claims.box_id, claims.box_id);
  EXPECT_EQ(verified->claims.compartments, claims.compartments);
  EXPECT_EQ(verified->claims.order_ref, claims.order_ref);
  EXPECT_EQ(verified->claims.not_before, claims.not_before);
  EXPECT_EQ(verified->claims.expires, claims.expires);
  EXPECT_EQ(verified->claims, claims);
  EXPECT_EQ(verified->claims.token_id_hex(), "0123456789abcdef");

  auto unverified = parse_token_unverified(text);
  ASSERT_TRUE(unverified.ok());
  EXPECT_EQ(unverified->claims, claims);
  EXPECT_EQ(unverified->key_id, 7);
}

TEST(Token, EdgeValuesRoundTrip) {
  TokenSigner signer = make_signer(0xffff);
  TrustedKeys keys = trust({&signer});
  TokenClaims c = deposit_claims();
  c.action = TokenAction::kReturn;
  c.box_id = std::string(kMaxBoxIdLength, 'Z');
  c.compartments = {255};
  c.order_ref = 0;
  c.not_before = std::numeric_limits<std::uint32_t>::max();
  c.expires = c.not_before + kMaxTokenValiditySeconds;
  std::string text = sign(signer, c);
  auto verified = TokenVerifier(keys).verify(text, VerifyRequest{c.box_id, 255, c.not_before, 0});
  ASSERT_TRUE(verified.ok()) << verified.error().detail;
  EXPECT_EQ(verified->claims, c);
  EXPECT_EQ(verified->key_id, 0xffff);
}

TEST(Token, CourierTokenCoversManyCompartments) {
  TokenSigner signer = make_signer(1);
  TrustedKeys keys = trust({&signer});
  TokenClaims c = courier_claims(kMaxTokenCompartments);
  std::string text = sign(signer, c);
  TokenVerifier verifier(keys);
  for (int n = 1; n <= 48; ++n) {
    auto r = verifier.verify(text, request_at(kT0, static_cast<std::uint8_t>(n)));
    ASSERT_TRUE(r.ok()) << "compartment " << n << ": " << r.error().detail;
    EXPECT_EQ(r->claims.compartments.size(), 48u);
  }
  auto beyond = verifier.verify(text, request_at(kT0, 49));
  ASSERT_FALSE(beyond.ok());
  EXPECT_EQ(beyond.error().reason, TokenError::kWrongCompartment);
  // Compartment numbers need not be contiguous.
  c.compartments = {2, 9, 17, 200};
  auto sparse = verifier.verify(sign(signer, c), request_at(kT0, 17));
  ASSERT_TRUE(sparse.ok());
  EXPECT_TRUE(sparse->claims.covers(200));
  EXPECT_FALSE(sparse->claims.covers(3));
}

// The writer above follows docs/token-format.md byte for byte; the signed body must match it.
TEST(Token, BinaryLayoutMatchesTheDocumentedTable) {
  TokenSigner signer = make_signer(1);
  Bytes binary = binary_of(sign(signer, deposit_claims()));
  RawToken raw;
  Bytes expected_body = raw.body();
  ASSERT_EQ(binary.size(), expected_body.size() + kTokenSignatureBytes);
  EXPECT_EQ(Bytes(binary.begin(), binary.end() - 64), expected_body);
  EXPECT_EQ(binary.size(), 96u);
}

TEST(Token, SigningIsDeterministic) {
  TokenSigner signer = make_signer(1);
  EXPECT_EQ(sign(signer, deposit_claims()), sign(signer, deposit_claims()));
  TokenClaims other = deposit_claims();
  other.token_id[7] ^= 1;
  EXPECT_NE(sign(signer, deposit_claims()), sign(signer, other));
}

// --- Claims validation (signing side) ---

TEST(Token, SignRefusesClaimsThatCannotBeEncoded) {
  TokenSigner signer = make_signer(1);
  auto refused = [&](TokenClaims c, std::string_view field) {
    Status st = validate_claims(c);
    ASSERT_FALSE(st.ok()) << field;
    EXPECT_EQ(st.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(st.error().message.find(field), std::string::npos) << st.error().message;
    auto signed_text = signer.sign(c);
    ASSERT_FALSE(signed_text.ok()) << field;
    EXPECT_EQ(signed_text.error().code, ErrorCode::kInvalidArgument);
  };
  TokenClaims c = deposit_claims();
  c.action = static_cast<TokenAction>(0);
  refused(c, "action");
  c = deposit_claims();
  c.action = static_cast<TokenAction>(6);
  refused(c, "action");
  for (std::string bad : {std::string(), std::string(33, 'a'), std::string("box 1"),
                          std::string("box/1"), std::string("b\xc3\xa4x")}) {
    c = deposit_claims();
    c.box_id = bad;
    refused(c, "box_id");
  }
  c = deposit_claims();
  c.compartments = {};
  refused(c, "compartments");
  c = courier_claims(49);
  refused(c, "compartments");
  c.compartments = {0, 1};
  refused(c, "compartments");
  c.compartments = {4, 2};
  refused(c, "compartments");
  c.compartments = {2, 2};
  refused(c, "compartments");
  c = deposit_claims();
  c.not_before = -1;
  refused(c, "not_before");
  c.not_before = std::int64_t{std::numeric_limits<std::uint32_t>::max()} + 1;
  c.expires = c.not_before + 60;
  refused(c, "not_before");
  c = deposit_claims();
  c.expires = c.not_before;
  refused(c, "expires");
  c.expires = std::numeric_limits<std::int64_t>::min();
  refused(c, "expires");
  c.expires = c.not_before + kMaxTokenValiditySeconds + 1;
  refused(c, "validity window");
  c.expires = std::numeric_limits<std::int64_t>::max();
  refused(c, "validity window");
  c.expires = c.not_before + kMaxTokenValiditySeconds;
  EXPECT_TRUE(validate_claims(c).ok());
}

// --- Each rejection reason ---

TEST(TokenMalformed, WrongPrefix) {
  TokenSigner signer = make_signer(1);
  std::string good = sign(signer, deposit_claims());
  std::string body = good.substr(4);
  expect_malformed("rc1:" + body, "RC1:");
  expect_malformed("RC2:" + body, "RC1:");
  expect_malformed(body, "RC1:");
  expect_malformed("", "RC1:");
  expect_malformed("RC1", "RC1:");
  expect_malformed(" " + good, "RC1:");
}

TEST(TokenMalformed, BadBase45) {
  TokenSigner signer = make_signer(1);
  std::string good = sign(signer, deposit_claims());
  std::string lower = good;
  lower[10] = 'a';
  expect_malformed(lower, "base45");
  expect_malformed(good + "A", "base45");                                   // length % 3 == 1
  expect_malformed(good.substr(0, 7) + ":::" + good.substr(10), "base45");  // > 65535
  expect_malformed(good + "\n", "base45");
  expect_malformed("RC1:", "version");  // empty payload: nothing to read
}

TEST(TokenMalformed, TruncatedAtEveryLength) {
  TokenSigner signer = make_signer(1);
  Bytes binary = binary_of(sign(signer, deposit_claims()));
  for (std::size_t n = 0; n < binary.size(); ++n) {
    SCOPED_TRACE(n);
    expect_malformed(text_of(Bytes(binary.begin(), binary.begin() + static_cast<long>(n))),
                     "truncated");
  }
  expect_malformed(text_of(Bytes(binary.begin(), binary.end() - 1)), "signature");
}

TEST(TokenMalformed, TrailingByte) {
  TokenSigner signer = make_signer(1);
  Bytes binary = binary_of(sign(signer, deposit_claims()));
  binary.push_back(0);
  expect_malformed(text_of(binary), "trailing");
  binary.push_back(0);
  expect_malformed(text_of(binary), "2 trailing");
}

TEST(TokenMalformed, TooLong) {
  expect_malformed("RC1:" + std::string(1021, '0'), "limit");
  expect_malformed(std::string(100000, 'A'), "limit");
}

TEST(TokenMalformed, BadVersion) {
  RawToken raw;
  raw.version = 0;
  expect_malformed(raw.text(), "version");
  raw.version = 2;
  expect_malformed(raw.text(), "version");
  raw.version = 1;
  EXPECT_TRUE(parse_token_unverified(raw.text()).ok());  // the writer itself is well-formed
}

TEST(TokenMalformed, BadAction) {
  RawToken raw;
  for (int a : {0, 6, 255}) {
    raw.action = static_cast<std::uint8_t>(a);
    expect_malformed(raw.text(), "action");
  }
}

TEST(TokenMalformed, BadBoxId) {
  RawToken raw;
  raw.box_id_len = 0;
  expect_malformed(raw.text(), "box_id");
  raw.box_id = std::string(33, 'a');
  raw.box_id_len.reset();
  expect_malformed(raw.text(), "box_id");
  for (std::string bad : {std::string("box 0001"), std::string("box.0001"), std::string("box:0001"),
                          std::string("box\0"
                                      "0001",
                                      8)}) {
    raw.box_id = bad;
    expect_malformed(raw.text(), "box_id");
  }
  raw.box_id = "box-0001";
  raw.box_id_len = 200;  // longer than the rest of the token
  expect_malformed(raw.text(), "box_id");
}

TEST(TokenMalformed, ZeroCompartments) {
  RawToken raw;
  raw.compartments = {};
  expect_malformed(raw.text(), "compartments");
}

TEST(TokenMalformed, TooManyCompartments) {
  RawToken raw;
  raw.compartments.clear();
  for (int i = 1; i <= 49; ++i) raw.compartments.push_back(static_cast<std::uint8_t>(i));
  expect_malformed(raw.text(), "compartments");
}

TEST(TokenMalformed, UnsortedDuplicateOrZeroCompartments) {
  RawToken raw;
  raw.compartments = {5, 3};
  expect_malformed(raw.text(), "strictly increasing");
  raw.compartments = {3, 3};
  expect_malformed(raw.text(), "strictly increasing");
  raw.compartments = {0, 3};
  expect_malformed(raw.text(), "compartment 0");
}

TEST(TokenMalformed, OverlongOrOversizedVarint) {
  RawToken raw;
  raw.order_ref = {0x80, 0x00};  // 0 in two bytes
  expect_malformed(raw.text(), "order_ref: overlong");
  raw.order_ref = {0xc0, 0xc4, 0x87, 0x00};  // 123456 with a redundant zero byte
  expect_malformed(raw.text(), "order_ref: overlong");
  raw.order_ref = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02};  // 2^64 and up
  expect_malformed(raw.text(), "order_ref: varint");
  raw.order_ref = Bytes(11, 0x80);
  raw.order_ref.push_back(0x01);
  expect_malformed(raw.text(), "order_ref: varint");
  raw.order_ref = varint(std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(raw.order_ref.size(), 10u);
  EXPECT_TRUE(parse_token_unverified(raw.text()).ok());

  raw = RawToken{};
  raw.expires_delta = {0x84, 0x00};
  expect_malformed(raw.text(), "expires_delta: overlong");
}

TEST(TokenMalformed, ValidityWindowOutOfRange) {
  RawToken raw;
  raw.expires_delta = varint(0);
  expect_malformed(raw.text(), "expires_delta");
  raw.expires_delta = varint(static_cast<std::uint64_t>(kMaxTokenValiditySeconds) + 1);
  expect_malformed(raw.text(), "expires_delta");
  raw.expires_delta = varint(static_cast<std::uint64_t>(kMaxTokenValiditySeconds));
  EXPECT_TRUE(parse_token_unverified(raw.text()).ok());
}

TEST(TokenVerify, UnknownKey) {
  TokenSigner signer1 = make_signer(1);
  TokenSigner signer2 = make_signer(2);
  TrustedKeys keys = trust({&signer1});
  auto r = TokenVerifier(keys).verify(sign(signer2, deposit_claims()), request_at(kT0));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().reason, TokenError::kUnknownKey);
  EXPECT_NE(r.error().detail.find("key id 2"), std::string::npos) << r.error().detail;

  TrustedKeys empty;
  auto none = TokenVerifier(empty).verify(sign(signer1, deposit_claims()), request_at(kT0));
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().reason, TokenError::kUnknownKey);
}

TEST(TokenVerify, RetiredKeyIsRefusedWhileTheNewKeyPasses) {
  TokenSigner old_key = make_signer(1);
  TokenSigner new_key = make_signer(2);
  TrustedKeys keys = trust({&old_key, &new_key});
  TokenVerifier verifier(keys);
  std::string old_token = sign(old_key, deposit_claims());
  std::string new_token = sign(new_key, deposit_claims());

  // During rotation both keys are trusted.
  EXPECT_TRUE(verifier.verify(old_token, request_at(kT0)).ok());
  EXPECT_TRUE(verifier.verify(new_token, request_at(kT0)).ok());

  keys.retire(1);
  EXPECT_TRUE(keys.contains(1));
  auto r = verifier.verify(old_token, request_at(kT0));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().reason, TokenError::kKeyRetired);
  EXPECT_NE(r.error().detail.find("key id 1"), std::string::npos);
  EXPECT_TRUE(verifier.verify(new_token, request_at(kT0)).ok());

  // A key can also arrive already retired (configuration pushed by the controller).
  TrustedKeys pushed;
  ASSERT_TRUE(pushed.add(1, *old_key.public_pem(), /*retired=*/true).ok());
  auto r2 = TokenVerifier(pushed).verify(old_token, request_at(kT0));
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.error().reason, TokenError::kKeyRetired);

  // Retiring an id that is not there changes nothing.
  keys.retire(99);
  EXPECT_FALSE(keys.contains(99));
  EXPECT_EQ(keys.size(), 2u);
}

TEST(TokenVerify, BadSignatureFromAnotherKeyWithTheSameId) {
  TokenSigner real = make_signer(1);
  TokenSigner impostor = make_signer(1);
  TrustedKeys keys = trust({&real});
  auto r = TokenVerifier(keys).verify(sign(impostor, deposit_claims()), request_at(kT0));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().reason, TokenError::kBadSignature);
  EXPECT_NE(r.error().detail.find("key id 1"), std::string::npos) << r.error().detail;
}

TEST(TokenVerify, BadSignatureWhenSignatureIsZeroOrAllOnes) {
  TokenSigner signer = make_signer(1);
  TrustedKeys keys = trust({&signer});
  Bytes binary = binary_of(sign(signer, deposit_claims()));
  for (int fill : {0x00, 0xff}) {
    std::fill(binary.end() - 64, binary.end(), static_cast<std::uint8_t>(fill));
    auto r = TokenVerifier(keys).verify(text_of(binary), request_at(kT0));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().reason, TokenError::kBadSignature);
  }
}

TEST(TokenVerify, NotYetValid) {
  TokenSigner signer = make_signer(1);
  TrustedKeys keys = trust({&signer});
  auto r =
      TokenVerifier(keys).verify(sign(signer, deposit_claims()), request_at(kT0 - kLeeway - 3600));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().reason, TokenError::kNotYetValid);
  EXPECT_NE(r.error().detail.find(std::to_string(kT0)), std::string::npos) << r.error().detail;
}

TEST(TokenVerify, Expired) {
  TokenSigner signer = make_signer(1);
  TrustedKeys keys = trust({&signer});
  auto r = TokenVerifier(keys).verify(sign(signer, deposit_claims()),
                                      request_at(kT0 + 900 + kLeeway + 3600));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().reason, TokenError::kExpired);
  EXPECT_NE(r.error().detail.find(std::to_string(kT0 + 900)), std::string::npos);
}

TEST(TokenVerify, LeewayBoundariesAreExact) {
  TokenSigner signer = make_signer(1);
  TrustedKeys keys = trust({&signer});
  TokenVerifier verifier(keys);
  std::string text = sign(signer, deposit_claims());
  const std::int64_t nb = kT0;
  const std::int64_t exp = kT0 + 900;
  auto reason_at = [&](std::int64_t now, std::int64_t leeway) -> std::optional<TokenError> {
    auto r = verifier.verify(text, VerifyRequest{"box-0001", 3, now, leeway});
    if (r.ok()) return std::nullopt;
    return r.error().reason;
  };
  EXPECT_EQ(reason_at(nb - kLeeway - 1, kLeeway), TokenError::kNotYetValid);
  EXPECT_EQ(reason_at(nb - kLeeway, kLeeway), std::nullopt);
  EXPECT_EQ(reason_at(exp + kLeeway - 1, kLeeway), std::nullopt);
  EXPECT_EQ(reason_at(exp + kLeeway, kLeeway), TokenError::kExpired);
  // Without leeway the window is [not_before, expires).
  EXPECT_EQ(reason_at(nb - 1, 0), TokenError::kNotYetValid);
  EXPECT_EQ(reason_at(nb, 0), std::nullopt);
  EXPECT_EQ(reason_at(exp - 1, 0), std::nullopt);
  EXPECT_EQ(reason_at(exp, 0), TokenError::kExpired);
  // A negative leeway counts as none; a huge one does not overflow.
  EXPECT_EQ(reason_at(exp, -1000), TokenError::kExpired);
  EXPECT_EQ(reason_at(nb, -1000), std::nullopt);
  constexpr auto kMax = std::numeric_limits<std::int64_t>::max();
  EXPECT_EQ(reason_at(exp + 1'000'000, kMax), std::nullopt);
  EXPECT_EQ(reason_at(std::numeric_limits<std::int64_t>::min(), 0), TokenError::kNotYetValid);
  EXPECT_EQ(reason_at(kMax, 0), TokenError::kExpired);
}

TEST(TokenVerify, WrongBox) {
  TokenSigner signer = make_signer(1);
  TrustedKeys keys = trust({&signer});
  auto r = TokenVerifier(keys).verify(sign(signer, deposit_claims()),
                                      VerifyRequest{"box-0002", 3, kT0, kLeeway});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().reason, TokenError::kWrongBox);
  EXPECT_NE(r.error().detail.find("box-0001"), std::string::npos);
  EXPECT_NE(r.error().detail.find("box-0002"), std::string::npos);
  // Box ids are compared exactly (case matters).
  auto upper = TokenVerifier(keys).verify(sign(signer, deposit_claims()),
                                          VerifyRequest{"BOX-0001", 3, kT0, kLeeway});
  ASSERT_FALSE(upper.ok());
  EXPECT_EQ(upper.error().reason, TokenError::kWrongBox);
}

TEST(TokenVerify, WrongCompartment) {
  TokenSigner signer = make_signer(1);
  TrustedKeys keys = trust({&signer});
  TokenVerifier verifier(keys);
  std::string text = sign(signer, deposit_claims());
  auto r = verifier.verify(text, request_at(kT0, 4));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().reason, TokenError::kWrongCompartment);
  EXPECT_NE(r.error().detail.find("not 4"), std::string::npos) << r.error().detail;
  // Without a compartment in the request the box decides from the token's list.
  auto any = verifier.verify(text, request_at(kT0, std::nullopt));
  ASSERT_TRUE(any.ok());
  EXPECT_EQ(any->claims.compartments, std::vector<std::uint8_t>{3});
}

TEST(TokenVerify, ChecksRunInTheDocumentedOrder) {
  TokenSigner signer = make_signer(1);
  TokenSigner impostor = make_signer(1);
  TrustedKeys keys = trust({&signer});
  TokenVerifier verifier(keys);
  // Expired, for another box and compartment, and badly signed: the signature is reported.
  VerifyRequest everything_wrong{"box-9", 9, kT0 + 100'000, 0};
  EXPECT_EQ(verifier.verify(sign(impostor, deposit_claims()), everything_wrong).error().reason,
            TokenError::kBadSignature);
  // Validly signed: the time comes before box and compartment.
  std::string good = sign(signer, deposit_claims());
  EXPECT_EQ(verifier.verify(good, everything_wrong).error().reason, TokenError::kExpired);
  everything_wrong.now = kT0 - 100'000;
  EXPECT_EQ(verifier.verify(good, everything_wrong).error().reason, TokenError::kNotYetValid);
  everything_wrong.now = kT0;
  EXPECT_EQ(verifier.verify(good, everything_wrong).error().reason, TokenError::kWrongBox);
  // A retired key is reported before its (bad) signature is looked at.
  keys.retire(1);
  EXPECT_EQ(verifier.verify(sign(impostor, deposit_claims()), everything_wrong).error().reason,
            TokenError::kKeyRetired);
}

TEST(TokenVerify, FlippingAnySingleByteIsRefused) {
  TokenSigner signer = make_signer(1);
  TrustedKeys keys = trust({&signer});
  TokenVerifier verifier(keys);
  const Bytes binary = binary_of(sign(signer, courier_claims(3)));
  VerifyRequest req = request_at(kT0, std::nullopt);
  ASSERT_TRUE(verifier.verify(text_of(binary), req).ok());
  int checked = 0;
  for (std::size_t i = 0; i < binary.size(); ++i) {
    for (int mask : {0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0x5a, 0xff}) {
      Bytes mutated = binary;
      mutated[i] = static_cast<std::uint8_t>(mutated[i] ^ mask);
      auto r = verifier.verify(text_of(mutated), req);
      ASSERT_FALSE(r.ok()) << "byte " << i << " mask " << mask << " was accepted";
      ++checked;
    }
  }
  EXPECT_EQ(checked, static_cast<int>(binary.size()) * 10);
}

TEST(TokenVerify, ChangingAnyCharacterOfTheTextIsRefused) {
  TokenSigner signer = make_signer(1);
  TrustedKeys keys = trust({&signer});
  TokenVerifier verifier(keys);
  const std::string text = sign(signer, deposit_claims());
  for (std::size_t i = 0; i < text.size(); ++i) {
    std::string mutated = text;
    mutated[i] = text[i] == '0' ? '1' : '0';
    ASSERT_FALSE(verifier.verify(mutated, request_at(kT0)).ok()) << "position " << i;
  }
}

// --- Keys ---

TEST(TokenKeys, PemRoundTrip) {
  TokenSigner original = make_signer(5);
  auto private_pem = original.private_pem();
  auto public_pem = original.public_pem();
  ASSERT_TRUE(private_pem.ok());
  ASSERT_TRUE(public_pem.ok());
  EXPECT_TRUE(private_pem->starts_with("-----BEGIN EC PRIVATE KEY-----\n")) << *private_pem;
  EXPECT_TRUE(public_pem->starts_with("-----BEGIN PUBLIC KEY-----\n")) << *public_pem;

  auto reloaded = TokenSigner::from_private_pem(5, *private_pem);
  ASSERT_TRUE(reloaded.ok()) << reloaded.error().to_string();
  EXPECT_EQ(reloaded->key_id(), 5);
  EXPECT_EQ(*reloaded->private_pem(), *private_pem);
  EXPECT_EQ(*reloaded->public_pem(), *public_pem);
  // Same key, deterministic signatures: the same token byte for byte.
  EXPECT_EQ(sign(*reloaded, deposit_claims()), sign(original, deposit_claims()));

  TrustedKeys keys;
  ASSERT_TRUE(keys.add(5, *public_pem).ok());
  EXPECT_TRUE(TokenVerifier(keys).verify(sign(*reloaded, deposit_claims()), request_at(kT0)).ok());
}

TEST(TokenKeys, AcceptsOpensslPkcs8AndSpki) {
  auto signer = TokenSigner::from_private_pem(3, test_keys::kP256Pkcs8);
  ASSERT_TRUE(signer.ok()) << signer.error().to_string();
  EXPECT_EQ(*signer->public_pem(), test_keys::kP256Public);
  TrustedKeys keys;
  ASSERT_TRUE(keys.add(3, test_keys::kP256Public).ok());
  EXPECT_TRUE(TokenVerifier(keys).verify(sign(*signer, deposit_claims()), request_at(kT0)).ok());
}

TEST(TokenKeys, RefusesKeysThatAreNotP256) {
  // A secp384r1 key made with mbedTLS.
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
  mbedtls_pk_context pk;
  mbedtls_entropy_init(&entropy);
  mbedtls_ctr_drbg_init(&drbg);
  mbedtls_pk_init(&pk);
  ASSERT_EQ(mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, nullptr, 0), 0);
  ASSERT_EQ(mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), 0);
  ASSERT_EQ(mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP384R1, mbedtls_pk_ec(pk),
                                mbedtls_ctr_drbg_random, &drbg),
            0);
  std::array<unsigned char, 1024> buf{};
  ASSERT_EQ(mbedtls_pk_write_key_pem(&pk, buf.data(), buf.size()), 0);
  std::string private_pem(reinterpret_cast<const char*>(buf.data()));
  ASSERT_EQ(mbedtls_pk_write_pubkey_pem(&pk, buf.data(), buf.size()), 0);
  std::string public_pem(reinterpret_cast<const char*>(buf.data()));
  mbedtls_pk_free(&pk);
  mbedtls_ctr_drbg_free(&drbg);
  mbedtls_entropy_free(&entropy);

  auto signer = TokenSigner::from_private_pem(1, private_pem);
  ASSERT_FALSE(signer.ok());
  EXPECT_EQ(signer.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(signer.error().message.find("secp384r1"), std::string::npos) << signer.error().message;

  TrustedKeys keys;
  Status added = keys.add(1, public_pem);
  ASSERT_FALSE(added.ok());
  EXPECT_EQ(added.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(added.error().message.find("secp384r1"), std::string::npos) << added.error().message;
  EXPECT_FALSE(keys.contains(1));

  Status rsa = keys.add(2, kRsaPublicKey);
  ASSERT_FALSE(rsa.ok());
  EXPECT_EQ(rsa.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(rsa.error().message.find("RSA"), std::string::npos) << rsa.error().message;
  EXPECT_EQ(keys.size(), 0u);
}

TEST(TokenKeys, RefusesGarbageAndTheWrongKind) {
  TrustedKeys keys;
  for (std::string_view bad : {std::string_view(""), std::string_view("hello"),
                               std::string_view("-----BEGIN PUBLIC KEY-----\nAAAA\n"
                                                "-----END PUBLIC KEY-----\n"),
                               test_keys::kP256Pkcs8}) {
    Status st = keys.add(1, bad);
    ASSERT_FALSE(st.ok()) << bad;
    EXPECT_EQ(st.error().code, ErrorCode::kInvalidArgument);
  }
  EXPECT_EQ(keys.size(), 0u);
  for (std::string_view bad :
       {std::string_view(""), std::string_view("garbage"), test_keys::kP256Public, kRsaPublicKey}) {
    auto signer = TokenSigner::from_private_pem(1, bad);
    ASSERT_FALSE(signer.ok()) << bad;
    EXPECT_EQ(signer.error().code, ErrorCode::kInvalidArgument);
  }
}

TEST(TokenKeys, AddReplacesTheKeyOfAnId) {
  TokenSigner first = make_signer(1);
  TokenSigner second = make_signer(1);
  TrustedKeys keys = trust({&first});
  ASSERT_TRUE(keys.add(1, *second.public_pem()).ok());
  EXPECT_EQ(keys.size(), 1u);
  TokenVerifier verifier(keys);
  EXPECT_TRUE(verifier.verify(sign(second, deposit_claims()), request_at(kT0)).ok());
  EXPECT_EQ(verifier.verify(sign(first, deposit_claims()), request_at(kT0)).error().reason,
            TokenError::kBadSignature);
}

// --- Robustness and concurrency ---

TEST(TokenRobustness, RandomGarbageNeverCrashesOrVerifies) {
  TokenSigner signer = make_signer(1);
  TrustedKeys keys = trust({&signer});
  TokenVerifier verifier(keys);
  std::mt19937 rng(20260101);
  const Bytes valid = binary_of(sign(signer, deposit_claims()));
  for (int i = 0; i < 3000; ++i) {
    std::string text;
    switch (i % 3) {
      case 0: {  // arbitrary bytes, any length up to beyond the limit
        text.resize(rng() % 1200);
        for (char& ch : text) ch = static_cast<char>(rng());
        break;
      }
      case 1: {  // the right prefix and alphabet, random content
        text = "RC1:";
        std::size_t n = rng() % 300;
        for (std::size_t k = 0; k < n; ++k) text += kBase45Alphabet[rng() % 45];
        break;
      }
      default: {  // a valid token with several random bytes changed, removed or added
        Bytes b = valid;
        for (int k = 0; k < 1 + static_cast<int>(rng() % 4); ++k) {
          std::size_t pos = rng() % b.size();
          switch (rng() % 3) {
            case 0:
              b[pos] = static_cast<std::uint8_t>(rng());
              break;
            case 1:
              b.erase(b.begin() + static_cast<long>(pos));
              break;
            default:
              b.insert(b.begin() + static_cast<long>(pos), static_cast<std::uint8_t>(rng()));
          }
        }
        if (b == valid) continue;
        text = text_of(b);
      }
    }
    auto parsed = parse_token_unverified(text);
    if (parsed.ok()) {
      EXPECT_TRUE(validate_claims(parsed->claims).ok());
    } else {
      EXPECT_EQ(parsed.error().reason, TokenError::kMalformed);
    }
    ASSERT_FALSE(verifier.verify(text, request_at(kT0, std::nullopt)).ok()) << text;
  }
}

TEST(TokenConcurrency, SignAndVerifyFromSeveralThreads) {
  TokenSigner signer = make_signer(1);
  TrustedKeys keys = trust({&signer});
  const TokenVerifier verifier(keys);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 25;
  auto claims_for = [](int t, int i) {
    TokenClaims c = deposit_claims();
    c.order_ref = static_cast<std::uint64_t>(t * 1000 + i);
    return c;
  };
  std::vector<std::vector<std::string>> tokens(kThreads);
  std::vector<int> verified(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto text = signer.sign(claims_for(t, i));
        if (!text.ok()) return;
        tokens[static_cast<std::size_t>(t)].push_back(*text);
        auto r = verifier.verify(*text, request_at(kT0));
        if (r.ok() && r->claims == claims_for(t, i)) ++verified[static_cast<std::size_t>(t)];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(verified[static_cast<std::size_t>(t)], kPerThread);
    ASSERT_EQ(tokens[static_cast<std::size_t>(t)].size(), static_cast<std::size_t>(kPerThread));
    // Deterministic signing: what the threads made equals what one thread makes.
    for (int i = 0; i < kPerThread; ++i) {
      EXPECT_EQ(tokens[static_cast<std::size_t>(t)][static_cast<std::size_t>(i)],
                sign(signer, claims_for(t, i)));
    }
  }
}

// --- Names and sizes ---

TEST(TokenNames, StableStrings) {
  EXPECT_EQ(to_string(TokenError::kMalformed), "malformed");
  EXPECT_EQ(to_string(TokenError::kUnknownKey), "unknown_key");
  EXPECT_EQ(to_string(TokenError::kKeyRetired), "key_retired");
  EXPECT_EQ(to_string(TokenError::kBadSignature), "bad_signature");
  EXPECT_EQ(to_string(TokenError::kNotYetValid), "not_yet_valid");
  EXPECT_EQ(to_string(TokenError::kExpired), "expired");
  EXPECT_EQ(to_string(TokenError::kWrongBox), "wrong_box");
  EXPECT_EQ(to_string(TokenError::kWrongCompartment), "wrong_compartment");
  for (TokenAction a : {TokenAction::kDeposit, TokenAction::kPickup, TokenAction::kCourierCollect,
                        TokenAction::kCourierLoad, TokenAction::kReturn}) {
    EXPECT_EQ(token_action_from_string(to_string(a)), a);
  }
  EXPECT_EQ(to_string(TokenAction::kCourierCollect), "courier_collect");
  EXPECT_EQ(token_action_from_string("Deposit"), std::nullopt);
  EXPECT_EQ(token_action_from_string(""), std::nullopt);
}

TEST(TokenNames, BoxIds) {
  EXPECT_TRUE(is_valid_box_id("box-0001"));
  EXPECT_TRUE(is_valid_box_id("A_z-09"));
  EXPECT_TRUE(is_valid_box_id(std::string(32, 'x')));
  EXPECT_FALSE(is_valid_box_id(std::string(33, 'x')));
  EXPECT_FALSE(is_valid_box_id(""));
  EXPECT_FALSE(is_valid_box_id("box/1"));
  EXPECT_FALSE(is_valid_box_id("box+1"));
  EXPECT_FALSE(is_valid_box_id("b\xc3\xa4x"));
}

// Alphanumeric capacity of QR versions at error-correction level M (ISO/IEC 18004, table 7).
// docs/token-format.md has the versions measured with qrencode.
constexpr std::array<std::size_t, 11> kAlnumCapacityM = {0,   20,  38,  61,  90, 122,
                                                         154, 178, 221, 262, 311};

TEST(TokenSize, DepositAndCourierTokensFitTheirDocumentedQrVersion) {
  TokenSigner signer = make_signer(1);
  // Deposit: box "box-0001", one compartment, order 123456, 15-minute window.
  std::string deposit = sign(signer, deposit_claims());
  EXPECT_EQ(binary_of(deposit).size(), 96u);
  EXPECT_EQ(deposit.size(), 148u);  // "RC1:" + 144 Base45 characters
  EXPECT_LE(deposit.size(), kAlnumCapacityM[6]);
  EXPECT_GT(deposit.size(), kAlnumCapacityM[5]);  // so version 6-M, not smaller

  // Courier: the same with 24 compartments.
  std::string courier = sign(signer, courier_claims(24));
  EXPECT_EQ(binary_of(courier).size(), 119u);
  EXPECT_EQ(courier.size(), 183u);  // "RC1:" + 179
  EXPECT_LE(courier.size(), kAlnumCapacityM[8]);
  EXPECT_GT(courier.size(), kAlnumCapacityM[7]);  // version 8-M

  // The largest token: 32-character box id, 48 compartments, 10-byte order_ref, 31-day window.
  TokenClaims largest = courier_claims(48);
  largest.box_id = std::string(32, 'b');
  largest.order_ref = std::numeric_limits<std::uint64_t>::max();
  largest.expires = largest.not_before + kMaxTokenValiditySeconds;
  std::string big = sign(signer, largest);
  EXPECT_EQ(binary_of(big).size(), 1u + 2 + 8 + 1 + 33 + 49 + 10 + 4 + 4 + 64);
  EXPECT_LE(big.size(), kAlnumCapacityM[10]);
}

}  // namespace
}  // namespace reclothes
