// libFuzzer target for the QR token parser, the verifier and Base45.
//
// Build (the lead's fuzz/CMakeLists.txt does the same with RECLOTHES_FUZZ=ON):
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined \
//     -I common/include -I common/tests fuzz/fuzz_token.cpp common/src/token.cpp \
//     common/src/base45.cpp common/src/bytes.cpp common/src/result.cpp \
//     /usr/lib/x86_64-linux-gnu/libmbedcrypto.so -o fuzz_token
//
// The trusted key is fixed (not generated per run) so that a seed corpus of tokens signed with it
// gets past the signature check and the fuzzer also explores the time, box and compartment
// checks. Any broken invariant aborts, which libFuzzer reports as a crash.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "reclothes/common/base45.h"
#include "reclothes/common/token.h"
#include "test_keys.h"  // common/tests: the P-256 key the token tests use too

namespace {

using namespace reclothes;

constexpr std::uint16_t kKeyId = 1;
constexpr std::int64_t kNow = 1'767'225'600;  // 2026-01-01T00:00:00Z
constexpr std::string_view kBoxId = "box-0001";
constexpr std::uint8_t kCompartment = 3;

void check(bool ok) {
  if (!ok) std::abort();
}

struct Fixture {
  Fixture() : signer(load_signer()) {
    auto pem = signer.public_pem();
    check(pem.ok());
    check(keys.add(kKeyId, *pem).ok());
  }
  static TokenSigner load_signer() {
    auto s = TokenSigner::from_private_pem(kKeyId, test_keys::kP256Pkcs8);
    check(s.ok());
    return std::move(s).value();
  }
  TokenSigner signer;
  TrustedKeys keys;
};

const Fixture& fixture() {
  static const Fixture f;
  return f;
}

Bytes token_binary(std::string_view text) {
  auto b = base45_decode(text.substr(kTokenPrefix.size()));
  check(b.ok());
  return std::move(b).value();
}

// A parsed token re-encodes to the same bytes: the format has one encoding per claim set, so no
// two different texts carry the same claims under one signature.
void check_parsed(std::string_view text, const SignedToken& token) {
  const Fixture& f = fixture();
  const TokenClaims& c = token.claims;
  check(validate_claims(c).ok());
  for (std::uint8_t n : c.compartments) check(c.covers(n));

  auto resigned = f.signer.sign(c);
  check(resigned.ok());
  auto reparsed = parse_token_unverified(*resigned);
  check(reparsed.ok() && reparsed->claims == c && reparsed->key_id == kKeyId);

  const Bytes original = token_binary(text);
  const Bytes again = token_binary(*resigned);
  check(original.size() == again.size() && original.size() > kTokenSignatureBytes + 3);
  const std::size_t body = original.size() - kTokenSignatureBytes;
  check(original[0] == again[0]);
  for (std::size_t i = 3; i < body; ++i) check(original[i] == again[i]);  // 1..2 is the key id
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const Fixture& f = fixture();
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  // Base45 alone: a successful decode re-encodes to exactly the input.
  if (auto decoded = base45_decode(text); decoded.ok()) {
    check(base45_encode(*decoded) == text);
  }

  auto parsed = parse_token_unverified(text);
  if (parsed.ok()) {
    check_parsed(text, *parsed);
  } else {
    check(parsed.error().reason == TokenError::kMalformed && !parsed.error().detail.empty());
  }

  const TokenVerifier verifier(f.keys);
  auto verified = verifier.verify(text, VerifyRequest{kBoxId, kCompartment, kNow, 60});
  if (verified.ok()) {
    // Everything the verifier promises, checked again from the outside.
    check(parsed.ok() && verified->claims == parsed->claims);
    check(verified->key_id == kKeyId);
    check(verified->claims.box_id == kBoxId && verified->claims.covers(kCompartment));
    check(kNow >= verified->claims.not_before - 60 && kNow < verified->claims.expires + 60);
  } else {
    check(parsed.ok() || verified.error().reason == TokenError::kMalformed);
  }
  return 0;
}
