// mbedTLS 2.28 plumbing written once for the token code (common) and the fleet PKI
// (provisioning): RAII holders for its contexts, error messages a person can act on, a seeded
// CTR_DRBG, and buffers that wipe the key material that passes through them.
//
// Include it only from .cpp files that use mbedTLS themselves (it brings mbedTLS's headers with
// it); the public headers of common and provisioning stay free of mbedTLS.
#pragma once

#include <mbedtls/bignum.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

#include "reclothes/common/result.h"

namespace reclothes::crypto {

// Owns one mbedTLS context: Init on construction, Free on destruction (each *_init has a matching
// *_free). The context is `v`; pass &v to mbedTLS.
template <typename T, void (*Init)(T*), void (*Free)(T*)>
struct Holder {
  Holder() { Init(&v); }
  ~Holder() { Free(&v); }
  Holder(const Holder&) = delete;
  Holder& operator=(const Holder&) = delete;
  T v;
};

using PkContext = Holder<mbedtls_pk_context, mbedtls_pk_init, mbedtls_pk_free>;
using Mpi = Holder<mbedtls_mpi, mbedtls_mpi_init, mbedtls_mpi_free>;
using EcpGroup = Holder<mbedtls_ecp_group, mbedtls_ecp_group_init, mbedtls_ecp_group_free>;
using EcpPoint = Holder<mbedtls_ecp_point, mbedtls_ecp_point_init, mbedtls_ecp_point_free>;

// mbedTLS's text for an error code and the code itself: "PK - Invalid key tag or value (-0x3d00)".
std::string mbedtls_message(int ret);
// `code` with "<what>: <mbedtls_message(ret)>".
Error mbedtls_error(ErrorCode code, std::string_view what, int ret);

// A CTR_DRBG seeded from the platform entropy source (the kernel). Not thread-safe: use one per
// call that needs randomness, or lock around random() (TokenSigner does).
class Drbg {
 public:
  Drbg();
  ~Drbg();
  Drbg(const Drbg&) = delete;
  Drbg& operator=(const Drbg&) = delete;

  // Must succeed before any random(); the personalization string tells the users apart.
  // kInternal if the entropy source fails.
  Status seed(std::string_view personalization);
  // kInternal if the generator fails (it reseeds itself; that can fail).
  Status fill(unsigned char* out, std::size_t len);
  // mbedTLS's f_rng, with context() as its p_rng.
  static int random(void* drbg, unsigned char* out, std::size_t len);
  void* context() { return this; }

 private:
  mbedtls_entropy_context entropy_;
  mbedtls_ctr_drbg_context drbg_;
};

// mbedTLS 2.x PEM parsers want a NUL-terminated buffer whose length includes the NUL. The copy is
// wiped on destruction because it may hold a private key.
class PemBuffer {
 public:
  explicit PemBuffer(std::string_view pem) : buf_(pem) {}
  ~PemBuffer() { mbedtls_platform_zeroize(buf_.data(), buf_.size()); }
  PemBuffer(const PemBuffer&) = delete;
  PemBuffer& operator=(const PemBuffer&) = delete;
  const unsigned char* data() const { return reinterpret_cast<const unsigned char*>(buf_.c_str()); }
  std::size_t size_with_nul() const { return buf_.size() + 1; }

 private:
  std::string buf_;
};

// A scratch buffer for PEM output that is wiped on destruction (private keys pass through it).
template <std::size_t N>
class SecretBuffer {
 public:
  SecretBuffer() = default;
  ~SecretBuffer() { mbedtls_platform_zeroize(buf_.data(), buf_.size()); }
  SecretBuffer(const SecretBuffer&) = delete;
  SecretBuffer& operator=(const SecretBuffer&) = delete;
  unsigned char* data() { return buf_.data(); }
  std::size_t size() const { return buf_.size(); }
  // The NUL-terminated text the PEM writers leave in the buffer.
  std::string text() const { return std::string(reinterpret_cast<const char*>(buf_.data())); }

 private:
  std::array<unsigned char, N> buf_{};
};

// Parse a PEM into an initialised, empty context; they return mbedTLS's code (0: success).
// parse_private_key_pem takes unencrypted "PRIVATE KEY" (PKCS#8) and "EC PRIVATE KEY" (SEC1);
// parse_public_key_pem takes "PUBLIC KEY" (SubjectPublicKeyInfo).
int parse_private_key_pem(mbedtls_pk_context& pk, std::string_view pem);
int parse_public_key_pem(mbedtls_pk_context& pk, std::string_view pem);

// Tokens and the fleet PKI are P-256 only. kInvalidArgument naming what the key is instead:
// "<what> must be EC secp256r1 (P-256), this key is RSA" or "..., this key is on curve secp384r1".
Status require_p256(const mbedtls_pk_context& pk, std::string_view what);

}  // namespace reclothes::crypto
