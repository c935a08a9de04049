#include "reclothes/common/token.h"

#include <mbedtls/ecdsa.h>
#include <mbedtls/sha256.h>

#include <algorithm>
#include <array>
#include <limits>
#include <mutex>
#include <span>
#include <utility>

#include "reclothes/common/base45.h"
#include "reclothes/common/mbedtls_util.h"

namespace reclothes {

namespace {

constexpr std::size_t kP256ScalarBytes = 32;
constexpr std::size_t kP256PointBytes = 65;  // uncompressed: 0x04 || X || Y
constexpr std::size_t kMaxVarintBytes = 10;  // ceil(64 / 7)

static_assert(kTokenSignatureBytes == 2 * kP256ScalarBytes);

using crypto::EcpGroup;
using crypto::EcpPoint;
using crypto::Mpi;
using crypto::PkContext;

Error mbedtls_error(std::string_view what, int ret) {
  return crypto::mbedtls_error(ErrorCode::kInternal, what, ret);
}

// Tokens are P-256 only: the signature size (64 bytes) and the QR sizes depend on it.
Status require_p256(const mbedtls_pk_context& pk) { return crypto::require_p256(pk, "token keys"); }

// mbedTLS caches a precomputed table for the generator inside an ecp_group on first use, so one
// group must not be shared by threads. Each thread gets its own, loaded once.
mbedtls_ecp_group* thread_p256_group() {
  struct Holder {
    Holder() : ret(mbedtls_ecp_group_load(&group.v, MBEDTLS_ECP_DP_SECP256R1)) {}
    EcpGroup group;
    int ret;
  };
  thread_local Holder holder;
  return holder.ret == 0 ? &holder.group.v : nullptr;
}

// --- Binary layout (docs/token-format.md). ---

void put_u16(Bytes& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v & 0xff));
}

void put_u32(Bytes& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    out.push_back(static_cast<std::uint8_t>((v >> shift) & 0xff));
  }
}

void put_varint(Bytes& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<std::uint8_t>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<std::uint8_t>(v));
}

// Everything the signature covers. The claims must have passed validate_claims.
Bytes encode_body(std::uint16_t key_id, const TokenClaims& c) {
  Bytes out;
  out.reserve(32 + c.box_id.size() + c.compartments.size());
  out.push_back(kTokenFormatVersion);
  put_u16(out, key_id);
  out.insert(out.end(), c.token_id.begin(), c.token_id.end());
  out.push_back(static_cast<std::uint8_t>(c.action));
  out.push_back(static_cast<std::uint8_t>(c.box_id.size()));
  out.insert(out.end(), c.box_id.begin(), c.box_id.end());
  out.push_back(static_cast<std::uint8_t>(c.compartments.size()));
  out.insert(out.end(), c.compartments.begin(), c.compartments.end());
  put_varint(out, c.order_ref);
  put_u32(out, static_cast<std::uint32_t>(c.not_before));
  put_varint(out, static_cast<std::uint64_t>(c.expires - c.not_before));
  return out;
}

TokenRejection malformed(std::string detail) {
  return TokenRejection{TokenError::kMalformed, std::move(detail)};
}

// Bounds-checked reading; every failure names the field so a log line says what was wrong.
class Reader {
 public:
  explicit Reader(std::span<const std::uint8_t> data) : data_(data) {}

  std::size_t offset() const { return pos_; }
  std::size_t remaining() const { return data_.size() - pos_; }

  Result<std::span<const std::uint8_t>, TokenRejection> take(std::size_t n,
                                                             std::string_view field) {
    if (remaining() < n) {
      return malformed("truncated: " + std::string(field) + " needs " + std::to_string(n) +
                       " byte(s) at offset " + std::to_string(pos_) + ", " +
                       std::to_string(remaining()) + " left");
    }
    auto out = data_.subspan(pos_, n);
    pos_ += n;
    return out;
  }

  Result<std::uint8_t, TokenRejection> u8(std::string_view field) {
    RC_ASSIGN_OR_RETURN(auto b, take(1, field));
    return b[0];
  }

  Result<std::uint16_t, TokenRejection> u16(std::string_view field) {
    RC_ASSIGN_OR_RETURN(auto b, take(2, field));
    return static_cast<std::uint16_t>((unsigned{b[0]} << 8) | b[1]);
  }

  Result<std::uint32_t, TokenRejection> u32(std::string_view field) {
    RC_ASSIGN_OR_RETURN(auto b, take(4, field));
    return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) |
           std::uint32_t{b[3]};
  }

  // Unsigned LEB128, minimal form only: one value has one encoding, so a token cannot be varied
  // without changing its signed bytes in a way every reader sees.
  Result<std::uint64_t, TokenRejection> varint(std::string_view field) {
    const std::size_t start = pos_;
    std::uint64_t value = 0;
    for (std::size_t i = 0; i < kMaxVarintBytes; ++i) {
      RC_ASSIGN_OR_RETURN(std::uint8_t b, u8(field));
      const std::uint64_t payload = b & 0x7fu;
      if (i == kMaxVarintBytes - 1 && payload > 1) {
        return malformed(std::string(field) + ": varint at offset " + std::to_string(start) +
                         " exceeds 64 bits");
      }
      value |= payload << (7 * i);
      if ((b & 0x80) == 0) {
        if (b == 0 && i > 0) {
          return malformed(std::string(field) + ": overlong varint at offset " +
                           std::to_string(start));
        }
        return value;
      }
    }
    return malformed(std::string(field) + ": varint at offset " + std::to_string(start) +
                     " longer than 10 bytes");
  }

 private:
  std::span<const std::uint8_t> data_;
  std::size_t pos_ = 0;
};

bool is_box_id_char(char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
         ch == '_' || ch == '-';
}

std::string compartment_list(const std::vector<std::uint8_t>& compartments) {
  std::string out;
  for (std::uint8_t c : compartments) {
    if (!out.empty()) out += ',';
    out += std::to_string(c);
  }
  return out;
}

struct ParsedToken {
  SignedToken token;
  Bytes binary;           // the whole decoded token
  std::size_t body_size;  // bytes covered by the signature; the signature follows
};

Result<ParsedToken, TokenRejection> parse_token(std::string_view text) {
  if (text.size() > kMaxTokenTextLength) {
    return malformed("text is " + std::to_string(text.size()) + " characters, limit is " +
                     std::to_string(kMaxTokenTextLength));
  }
  if (!text.starts_with(kTokenPrefix)) {
    return malformed("text does not start with \"" + std::string(kTokenPrefix) + "\"");
  }
  auto decoded = base45_decode(text.substr(kTokenPrefix.size()));
  if (!decoded.ok()) return malformed(decoded.error().message);

  ParsedToken parsed{SignedToken{}, std::move(decoded).value(), 0};
  Reader r(parsed.binary);
  TokenClaims& c = parsed.token.claims;

  RC_ASSIGN_OR_RETURN(std::uint8_t version, r.u8("version"));
  if (version != kTokenFormatVersion) {
    return malformed("version: " + std::to_string(version) + " is not supported (expected " +
                     std::to_string(kTokenFormatVersion) + ")");
  }
  RC_ASSIGN_OR_RETURN(parsed.token.key_id, r.u16("key_id"));
  RC_ASSIGN_OR_RETURN(auto token_id, r.take(kTokenIdBytes, "token_id"));
  std::copy(token_id.begin(), token_id.end(), c.token_id.begin());

  RC_ASSIGN_OR_RETURN(std::uint8_t action, r.u8("action"));
  if (action < static_cast<std::uint8_t>(TokenAction::kDeposit) ||
      action > static_cast<std::uint8_t>(TokenAction::kReturn)) {
    return malformed("action: " + std::to_string(action) + " is not an action (1..5)");
  }
  c.action = static_cast<TokenAction>(action);

  RC_ASSIGN_OR_RETURN(std::uint8_t box_id_len, r.u8("box_id length"));
  if (box_id_len == 0 || box_id_len > kMaxBoxIdLength) {
    return malformed("box_id: length " + std::to_string(box_id_len) + " outside 1.." +
                     std::to_string(kMaxBoxIdLength));
  }
  RC_ASSIGN_OR_RETURN(auto box_id, r.take(box_id_len, "box_id"));
  c.box_id.assign(box_id.begin(), box_id.end());
  if (!is_valid_box_id(c.box_id)) {
    return malformed("box_id: contains a character outside [A-Za-z0-9_-]");
  }

  RC_ASSIGN_OR_RETURN(std::uint8_t n_compartments, r.u8("compartment count"));
  if (n_compartments == 0 || n_compartments > kMaxTokenCompartments) {
    return malformed("compartments: count " + std::to_string(n_compartments) + " outside 1.." +
                     std::to_string(kMaxTokenCompartments));
  }
  RC_ASSIGN_OR_RETURN(auto compartments, r.take(n_compartments, "compartments"));
  c.compartments.assign(compartments.begin(), compartments.end());
  for (std::size_t i = 0; i < c.compartments.size(); ++i) {
    if (c.compartments[i] == 0) return malformed("compartments: compartment 0 does not exist");
    if (i > 0 && c.compartments[i] <= c.compartments[i - 1]) {
      return malformed("compartments: not strictly increasing at index " + std::to_string(i));
    }
  }

  RC_ASSIGN_OR_RETURN(c.order_ref, r.varint("order_ref"));
  RC_ASSIGN_OR_RETURN(std::uint32_t not_before, r.u32("not_before"));
  c.not_before = not_before;
  RC_ASSIGN_OR_RETURN(std::uint64_t delta, r.varint("expires_delta"));
  if (delta == 0 || delta > static_cast<std::uint64_t>(kMaxTokenValiditySeconds)) {
    return malformed("expires_delta: " + std::to_string(delta) + " s outside 1.." +
                     std::to_string(kMaxTokenValiditySeconds));
  }
  c.expires = c.not_before + static_cast<std::int64_t>(delta);

  parsed.body_size = r.offset();
  RC_TRY(r.take(kTokenSignatureBytes, "signature"));
  if (r.remaining() != 0) {
    return malformed(std::to_string(r.remaining()) + " trailing byte(s) after the signature");
  }
  return parsed;
}

std::int64_t saturating_add(std::int64_t a, std::int64_t b) {
  if (b > 0 && a > std::numeric_limits<std::int64_t>::max() - b) {
    return std::numeric_limits<std::int64_t>::max();
  }
  return a + b;
}

}  // namespace

// --- Claims ---

std::string_view to_string(TokenAction action) {
  switch (action) {
    case TokenAction::kDeposit:
      return "deposit";
    case TokenAction::kPickup:
      return "pickup";
    case TokenAction::kCourierCollect:
      return "courier_collect";
    case TokenAction::kCourierLoad:
      return "courier_load";
    case TokenAction::kReturn:
      return "return";
  }
  return "unknown";
}

std::optional<TokenAction> token_action_from_string(std::string_view s) {
  for (TokenAction a : {TokenAction::kDeposit, TokenAction::kPickup, TokenAction::kCourierCollect,
                        TokenAction::kCourierLoad, TokenAction::kReturn}) {
    if (to_string(a) == s) return a;
  }
  return std::nullopt;
}

std::string_view to_string(TokenError e) {
  switch (e) {
    case TokenError::kMalformed:
      return "malformed";
    case TokenError::kUnknownKey:
      return "unknown_key";
    case TokenError::kKeyRetired:
      return "key_retired";
    case TokenError::kBadSignature:
      return "bad_signature";
    case TokenError::kNotYetValid:
      return "not_yet_valid";
    case TokenError::kExpired:
      return "expired";
    case TokenError::kWrongBox:
      return "wrong_box";
    case TokenError::kWrongCompartment:
      return "wrong_compartment";
  }
  return "unknown";
}

bool is_valid_box_id(std::string_view box_id) {
  return !box_id.empty() && box_id.size() <= kMaxBoxIdLength &&
         std::all_of(box_id.begin(), box_id.end(), is_box_id_char);
}

std::string TokenClaims::token_id_hex() const { return to_hex(token_id); }

bool TokenClaims::covers(std::uint8_t compartment) const {
  return std::find(compartments.begin(), compartments.end(), compartment) != compartments.end();
}

Status validate_claims(const TokenClaims& c) {
  auto invalid = [](std::string message) {
    return make_error(ErrorCode::kInvalidArgument, "token claims: " + std::move(message));
  };
  const auto action = static_cast<std::uint8_t>(c.action);
  if (action < static_cast<std::uint8_t>(TokenAction::kDeposit) ||
      action > static_cast<std::uint8_t>(TokenAction::kReturn)) {
    return invalid("action " + std::to_string(action) + " is not an action (1..5)");
  }
  if (!is_valid_box_id(c.box_id)) {
    return invalid("box_id \"" + c.box_id + "\" is not 1..32 characters of [A-Za-z0-9_-]");
  }
  if (c.compartments.empty() || c.compartments.size() > kMaxTokenCompartments) {
    return invalid("compartments: " + std::to_string(c.compartments.size()) +
                   " given, a token covers 1.." + std::to_string(kMaxTokenCompartments));
  }
  for (std::size_t i = 0; i < c.compartments.size(); ++i) {
    if (c.compartments[i] == 0) return invalid("compartments: 0 is not a compartment (1-based)");
    if (i > 0 && c.compartments[i] <= c.compartments[i - 1]) {
      return invalid("compartments must be strictly increasing, without duplicates: " +
                     compartment_list(c.compartments));
    }
  }
  if (c.not_before < 0 || c.not_before > std::int64_t{std::numeric_limits<std::uint32_t>::max()}) {
    return invalid("not_before " + std::to_string(c.not_before) +
                   " is outside 0..4294967295 (unsigned 32-bit Unix seconds)");
  }
  // not_before is known to be small here, so the subtraction cannot overflow for any expires.
  if (c.expires <= c.not_before) {
    return invalid("expires " + std::to_string(c.expires) + " is not after not_before " +
                   std::to_string(c.not_before));
  }
  if (c.expires - c.not_before > kMaxTokenValiditySeconds) {
    return invalid("validity window of " + std::to_string(c.expires - c.not_before) +
                   " s is longer than the limit of " + std::to_string(kMaxTokenValiditySeconds) +
                   " s");
  }
  return ok_status();
}

Result<SignedToken, TokenRejection> parse_token_unverified(std::string_view text) {
  RC_ASSIGN_OR_RETURN(ParsedToken parsed, parse_token(text));
  return std::move(parsed.token);
}

// --- Signer ---

struct TokenSigner::Impl {
  Status seed() { return drbg.seed("reclothes-token-signer"); }

  // The DRBG is the only mutable state sign() touches, so it alone is locked: signatures from
  // several threads run in parallel and only the few random draws for blinding are serialised.
  static int random(void* self, unsigned char* out, std::size_t len) {
    auto* impl = static_cast<Impl*>(self);
    std::lock_guard<std::mutex> lock(impl->drbg_mu);
    return crypto::Drbg::random(impl->drbg.context(), out, len);
  }

  std::uint16_t key_id = 0;
  // mutable: the mbedTLS 2.x writers take a non-const context although they only read it.
  mutable PkContext pk;
  crypto::Drbg drbg;
  std::mutex drbg_mu;
};

TokenSigner::TokenSigner(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TokenSigner::~TokenSigner() = default;
TokenSigner::TokenSigner(TokenSigner&&) noexcept = default;
TokenSigner& TokenSigner::operator=(TokenSigner&&) noexcept = default;

Result<TokenSigner> TokenSigner::generate(std::uint16_t key_id) {
  auto impl = std::make_unique<Impl>();
  impl->key_id = key_id;
  RC_TRY(impl->seed());
  int ret = mbedtls_pk_setup(&impl->pk.v, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
  if (ret != 0) return mbedtls_error("setting up the key", ret);
  ret = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(impl->pk.v), &Impl::random,
                            impl.get());
  if (ret != 0) return mbedtls_error("generating a P-256 key", ret);
  return TokenSigner(std::move(impl));
}

Result<TokenSigner> TokenSigner::from_private_pem(std::uint16_t key_id, std::string_view pem) {
  auto impl = std::make_unique<Impl>();
  impl->key_id = key_id;
  RC_TRY(impl->seed());
  const int ret = crypto::parse_private_key_pem(impl->pk.v, pem);
  if (ret != 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "not a usable private key PEM (EC PRIVATE KEY or PRIVATE KEY expected): " +
                          crypto::mbedtls_message(ret));
  }
  RC_TRY(require_p256(impl->pk.v));
  return TokenSigner(std::move(impl));
}

std::uint16_t TokenSigner::key_id() const { return impl_->key_id; }

Result<std::string> TokenSigner::private_pem() const {
  crypto::SecretBuffer<1024> buf;
  const int ret = mbedtls_pk_write_key_pem(&impl_->pk.v, buf.data(), buf.size());
  if (ret != 0) return mbedtls_error("writing the private key PEM", ret);
  return buf.text();
}

Result<std::string> TokenSigner::public_pem() const {
  std::array<unsigned char, 512> buf{};
  int ret = mbedtls_pk_write_pubkey_pem(&impl_->pk.v, buf.data(), buf.size());
  if (ret != 0) return mbedtls_error("writing the public key PEM", ret);
  return std::string(reinterpret_cast<const char*>(buf.data()));
}

Result<std::string> TokenSigner::sign(const TokenClaims& claims) const {
  RC_TRY(validate_claims(claims));
  Bytes binary = encode_body(impl_->key_id, claims);

  std::array<unsigned char, 32> hash{};
  int ret = mbedtls_sha256_ret(binary.data(), binary.size(), hash.data(), 0);
  if (ret != 0) return mbedtls_error("hashing the token", ret);

  mbedtls_ecp_group* group = thread_p256_group();
  if (group == nullptr) return make_error(ErrorCode::kInternal, "cannot load the P-256 group");
  Mpi r;
  Mpi s;
  // Deterministic (RFC 6979): no nonce from a random source that could repeat or leak the key;
  // the random blinding only hides timing.
  ret = mbedtls_ecdsa_sign_det_ext(group, &r.v, &s.v, &mbedtls_pk_ec(impl_->pk.v)->d, hash.data(),
                                   hash.size(), MBEDTLS_MD_SHA256, &Impl::random, impl_.get());
  if (ret != 0) return mbedtls_error("signing the token", ret);

  const std::size_t body_size = binary.size();
  binary.resize(body_size + kTokenSignatureBytes);
  ret = mbedtls_mpi_write_binary(&r.v, binary.data() + body_size, kP256ScalarBytes);
  if (ret == 0) {
    ret = mbedtls_mpi_write_binary(&s.v, binary.data() + body_size + kP256ScalarBytes,
                                   kP256ScalarBytes);
  }
  if (ret != 0) return mbedtls_error("writing the signature", ret);

  std::string text(kTokenPrefix);
  text += base45_encode(binary);
  return text;
}

// --- Trusted keys ---

struct TrustedKeys::Impl {
  struct Key {
    std::array<std::uint8_t, kP256PointBytes> point{};  // uncompressed public point
    bool retired = false;
  };
  std::map<std::uint16_t, Key> keys;
};

TrustedKeys::TrustedKeys() : impl_(std::make_unique<Impl>()) {}
TrustedKeys::~TrustedKeys() = default;
TrustedKeys::TrustedKeys(TrustedKeys&&) noexcept = default;
TrustedKeys& TrustedKeys::operator=(TrustedKeys&&) noexcept = default;

Status TrustedKeys::add(std::uint16_t key_id, std::string_view public_pem, bool retired) {
  PkContext pk;
  int ret = crypto::parse_public_key_pem(pk.v, public_pem);
  if (ret != 0) {
    return make_error(
        ErrorCode::kInvalidArgument,
        "key id " + std::to_string(key_id) +
            ": not a public key PEM (BEGIN PUBLIC KEY expected): " + crypto::mbedtls_message(ret));
  }
  if (Status p256 = require_p256(pk.v); !p256.ok()) {
    return std::move(p256).error().with_context("key id " + std::to_string(key_id));
  }
  Impl::Key key;
  key.retired = retired;
  std::size_t written = 0;
  const mbedtls_ecp_keypair* kp = mbedtls_pk_ec(pk.v);
  ret = mbedtls_ecp_point_write_binary(&kp->grp, &kp->Q, MBEDTLS_ECP_PF_UNCOMPRESSED, &written,
                                       key.point.data(), key.point.size());
  if (ret != 0 || written != key.point.size()) return mbedtls_error("exporting the key", ret);
  if (!impl_) impl_ = std::make_unique<Impl>();
  impl_->keys[key_id] = key;
  return ok_status();
}

void TrustedKeys::retire(std::uint16_t key_id) {
  if (!impl_) return;
  auto it = impl_->keys.find(key_id);
  if (it != impl_->keys.end()) it->second.retired = true;
}

bool TrustedKeys::contains(std::uint16_t key_id) const {
  return impl_ && impl_->keys.contains(key_id);
}

std::size_t TrustedKeys::size() const { return impl_ ? impl_->keys.size() : 0; }

// --- Verifier ---

Result<SignedToken, TokenRejection> TokenVerifier::verify(std::string_view text,
                                                          const VerifyRequest& request) const {
  RC_ASSIGN_OR_RETURN(ParsedToken parsed, parse_token(text));
  const SignedToken& token = parsed.token;
  const TokenClaims& c = token.claims;
  const std::string key_name = "key id " + std::to_string(token.key_id);

  const TrustedKeys::Impl::Key* key = nullptr;
  if (keys_.impl_) {
    auto it = keys_.impl_->keys.find(token.key_id);
    if (it != keys_.impl_->keys.end()) key = &it->second;
  }
  if (key == nullptr) return TokenRejection{TokenError::kUnknownKey, key_name + " is not trusted"};
  if (key->retired) return TokenRejection{TokenError::kKeyRetired, key_name + " is retired"};

  {
    std::array<unsigned char, 32> hash{};
    mbedtls_ecp_group* group = thread_p256_group();
    EcpPoint q;
    Mpi r;
    Mpi s;
    int ret = group == nullptr ? MBEDTLS_ERR_ECP_FEATURE_UNAVAILABLE : 0;
    if (ret == 0) ret = mbedtls_sha256_ret(parsed.binary.data(), parsed.body_size, hash.data(), 0);
    if (ret == 0) {
      ret = mbedtls_ecp_point_read_binary(group, &q.v, key->point.data(), key->point.size());
    }
    const std::uint8_t* sig = parsed.binary.data() + parsed.body_size;
    if (ret == 0) ret = mbedtls_mpi_read_binary(&r.v, sig, kP256ScalarBytes);
    if (ret == 0) ret = mbedtls_mpi_read_binary(&s.v, sig + kP256ScalarBytes, kP256ScalarBytes);
    if (ret != 0) {
      // Not the token's fault, but refusing is the only safe answer; the detail says why.
      return TokenRejection{TokenError::kBadSignature, key_name + ": cannot check the signature: " +
                                                           crypto::mbedtls_message(ret)};
    }
    ret = mbedtls_ecdsa_verify(group, hash.data(), hash.size(), &q.v, &r.v, &s.v);
    if (ret != 0) {
      return TokenRejection{TokenError::kBadSignature, "signature does not match " + key_name +
                                                           ": " + crypto::mbedtls_message(ret)};
    }
  }

  const std::int64_t leeway = std::max<std::int64_t>(request.leeway_seconds, 0);
  const std::string clock =
      " (now " + std::to_string(request.now) + ", leeway " + std::to_string(leeway) + " s)";
  // not_before is at most 2^32 - 1 and leeway is >= 0, so this cannot overflow.
  if (request.now < c.not_before - leeway) {
    return TokenRejection{TokenError::kNotYetValid,
                          "valid from " + std::to_string(c.not_before) + clock};
  }
  if (request.now >= saturating_add(c.expires, leeway)) {
    return TokenRejection{TokenError::kExpired, "expired at " + std::to_string(c.expires) + clock};
  }
  if (c.box_id != request.box_id) {
    return TokenRejection{TokenError::kWrongBox, "token is for box \"" + c.box_id +
                                                     "\", this is box \"" +
                                                     std::string(request.box_id) + "\""};
  }
  if (request.compartment.has_value() && !c.covers(*request.compartment)) {
    return TokenRejection{TokenError::kWrongCompartment,
                          "token covers compartment(s) " + compartment_list(c.compartments) +
                              ", not " + std::to_string(*request.compartment)};
  }
  return std::move(parsed.token);
}

}  // namespace reclothes
