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
  kMalformed,          // not our prefix, bad Base45, truncated, trailing bytes, bad field value
  kUnknownKey,         // the key id is not among the trusted keys
  kKeyRetired,         // the key id is known but was retired: tokens it signed are refused
  kBadSignature,       // the signature does not match the content
  kNotYetValid,        // now < not_before - leeway
  kExpired,            // now >= expires + leeway
  kWrongBox,           // the token is for another box
  kWrongCompartment,   // the token does not cover the compartment asked about
};

std::string_view to_string(TokenError e);

struct TokenRejection {
  TokenError reason;
  std::string detail;  // for logs: which field, which key id, times
};

// Checks that claims can be encoded. Fails with kInvalidArgument for claims that cannot be encoded (bad box id, no compartments,
// expires <= not_before, times out of range).
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
  // A key from PEM (SEC1 "EC PRIVATE KEY" or PKCS#8 "PRIVATE KEY").
  static Result<TokenSigner> from_private_pem(std::uint16_t key_id, std::string_view pem);

  std::uint16_t key_id() const;
  Result<std::string> private_pem() const;
  // The public key as PEM (SubjectPublicKeyInfo); what boxes get in their configuration.
  Result<std::string> public_pem() const;

  // Signs the claims and returns the text form ("RC1:...").
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

  // Adds or replaces a key. kInvalidArgument if the PEM is not a P-256 public key.
  Status add(std::uint16_t key_id, std::string_view public_pem, bool retired = false);
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
  std::int64_t leeway_seconds = 60;         // tolerated clock difference between box and controller
};

// Checks, in this order: format, key id, signature, validity window, box, compartment. The first
// failing check is the reason returned.
class TokenVerifier {
 public:
  explicit TokenVerifier(const TrustedKeys& keys) : keys_(keys) {}

  Result<SignedToken, TokenRejection> verify(std::string_view text,
                                             const VerifyRequest& request) const;

 private:
  const TrustedKeys& keys_;
};

}  // namespace reclothes
