// QR access tokens: the controller signs them, a box verifies them offline.
//
// Text form: "RC1:" followed by Base45 (RFC 9285) of the binary token, so that the whole string
// uses only the QR alphanumeric alphabet and fits a small QR version. docs/token-format.md has the
// byte layout, sizes and the QR version each size needs.
//
// Signing is ECDSA P-256 over SHA-256 (deterministic, RFC 6979) via mbedTLS; the signature is the
// raw 64-byte r||s. A key id in the token tells the box which of its trusted public keys to use,
// so keys can rotate without invalidating tokens already issued.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "reclothes/common/bytes.h"
#include "reclothes/common/result.h"

namespace reclothes {

enum class TokenAction : std::uint8_t {
  kDeposit = 1,         // a donor puts clothes into a reserved compartment
  kPickup = 2,          // a buyer takes a purchase out
  kCourierCollect = 3,  // delivery staff empty compartments holding donations or returns
  kCourierLoad = 4,     // delivery staff put purchases into compartments
  kReturn = 5,          // a buyer returns a purchase into a compartment
};

std::string_view to_string(TokenAction action);
std::optional<TokenAction> token_action_from_string(std::string_view s);

inline constexpr std::size_t kTokenIdBytes = 8;
inline constexpr std::size_t kMaxBoxIdLength = 32;        // [A-Za-z0-9_-]{1,32}
inline constexpr std::size_t kMaxTokenCompartments = 48;  // a courier token may cover a whole box
inline constexpr std::string_view kTokenPrefix = "RC1:";
inline constexpr std::uint8_t kTokenFormatVersion = 1;   // the first byte of the binary form
inline constexpr std::size_t kTokenSignatureBytes = 64;  // raw r||s, 32 bytes each
inline constexpr std::int64_t kMaxTokenValiditySeconds = 31 * 24 * 3600;  // expires - not_before
inline constexpr std::size_t kMaxTokenTextLength = 1024;  // longer text is malformed unread

// True for a box id of 1..32 characters from [A-Za-z0-9_-]: safe in MQTT topics, file names and
// certificate common names.
bool is_valid_box_id(std::string_view box_id);

struct TokenClaims {
  std::array<std::uint8_t, kTokenIdBytes> token_id{};  // random, unique; a box uses each once
  TokenAction action = TokenAction::kDeposit;
  std::string box_id;
  std::vector<std::uint8_t> compartments;  // 1-based compartment numbers, 1..255, at least one
  std::uint64_t order_ref = 0;             // the controller's order id
  std::int64_t not_before = 0;             // Unix seconds
  std::int64_t expires = 0;                // Unix seconds, > not_before

  std::string token_id_hex() const;
  bool covers(std::uint8_t compartment) const;
  bool operator==(const TokenClaims&) const = default;
};

struct SignedToken {
  std::uint16_t key_id = 0;
  TokenClaims claims;
};

// Why a token was refused. Stable strings (to_string) go into journals and MQTT events.
enum class TokenError {
  kMalformed,         // not our prefix, bad Base45, truncated, trailing bytes, bad field value
  kUnknownKey,        // the key id is not among the trusted keys
  kKeyRetired,        // the key id is known but was retired: tokens it signed are refused
  kBadSignature,      // the signature does not match the content
  kNotYetValid,       // now < not_before - leeway
  kExpired,           // now >= expires + leeway
  kWrongBox,          // the token is for another box
  kWrongCompartment,  // the token does not cover the compartment asked about
};

std::string_view to_string(TokenError e);

struct TokenRejection {
  TokenError reason;
  std::string detail;  // for logs: which field, which key id, times
};

// Checks that claims can be encoded. Fails with kInvalidArgument, naming the field, for claims
// that cannot be encoded: an action outside the enum, a bad box id, no or more than 48
// compartments, compartment 0, compartments not strictly increasing (sort them; duplicates are
// refused rather than silently merged), not_before outside 0..2^32-1, expires <= not_before, or a
// window longer than kMaxTokenValiditySeconds.
Status validate_claims(const TokenClaims& claims);

// Parses the text form without checking the signature: kMalformed or the parsed token.
// Never crashes on any input; inputs longer than 1024 characters are malformed.
Result<SignedToken, TokenRejection> parse_token_unverified(std::string_view text);

// A P-256 private key that signs tokens (controller side).
class TokenSigner {
 public:
  ~TokenSigner();
  TokenSigner(TokenSigner&&) noexcept;
  TokenSigner& operator=(TokenSigner&&) noexcept;

  // A new random key.
  static Result<TokenSigner> generate(std::uint16_t key_id);
  // A key from PEM (SEC1 "EC PRIVATE KEY" or PKCS#8 "PRIVATE KEY", unencrypted).
  // kInvalidArgument for anything that is not a P-256 private key, naming the curve or key type.
  static Result<TokenSigner> from_private_pem(std::uint16_t key_id, std::string_view pem);

  std::uint16_t key_id() const;
  // SEC1 "EC PRIVATE KEY" PEM, for storing the key.
  Result<std::string> private_pem() const;
  // The public key as PEM (SubjectPublicKeyInfo); what boxes get in their configuration.
  Result<std::string> public_pem() const;

  // Signs the claims and returns the text form ("RC1:..."). Fails with validate_claims' error
  // (kInvalidArgument) or kInternal if mbedTLS fails. Thread-safe: the controller may call it
  // from several request threads at once (only the blinding random generator is locked).
  Result<std::string> sign(const TokenClaims& claims) const;

 private:
  struct Impl;
  explicit TokenSigner(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The public keys a box trusts, by key id (box side). Not thread-safe for writes; verify() is
// const and may be called from several threads once the ring is built.
class TrustedKeys {
 public:
  TrustedKeys();
  ~TrustedKeys();
  TrustedKeys(TrustedKeys&&) noexcept;
  TrustedKeys& operator=(TrustedKeys&&) noexcept;

  // Adds or replaces a key. kInvalidArgument if the PEM is not a P-256 public key
  // (SubjectPublicKeyInfo, "BEGIN PUBLIC KEY"); the ring is then unchanged.
  Status add(std::uint16_t key_id, std::string_view public_pem, bool retired = false);
  // Tokens signed by a retired key are refused with kKeyRetired. No effect on an unknown id.
  void retire(std::uint16_t key_id);
  bool contains(std::uint16_t key_id) const;
  std::size_t size() const;

 private:
  friend class TokenVerifier;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct VerifyRequest {
  std::string_view box_id;                  // this box
  std::optional<std::uint8_t> compartment;  // the compartment asked about, if any
  std::int64_t now = 0;                     // Unix seconds
  // Tolerated clock difference between box and controller; a negative value counts as 0.
  std::int64_t leeway_seconds = 60;
};

// Checks, in this order: format (kMalformed), key id (kUnknownKey, kKeyRetired), signature
// (kBadSignature), validity window (kNotYetValid if now < not_before - leeway, kExpired if
// now >= expires + leeway), box (kWrongBox), compartment if the request names one
// (kWrongCompartment). The first failing check is the reason returned. It does not know which
// token ids were used or revoked: the box's journal checks that after a successful verify.
// verify() is const and thread-safe; the TrustedKeys must outlive the verifier and must not be
// changed while another thread verifies.
class TokenVerifier {
 public:
  explicit TokenVerifier(const TrustedKeys& keys) : keys_(keys) {}

  Result<SignedToken, TokenRejection> verify(std::string_view text,
                                             const VerifyRequest& request) const;

 private:
  const TrustedKeys& keys_;
};

}  // namespace reclothes
