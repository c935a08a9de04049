// RAII holders and error helpers for the mbedTLS 2.28 contexts the PKI uses. Internal.
#pragma once

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/x509_crl.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/x509_csr.h>

#include <array>
#include <cstdio>
#include <string>
#include <string_view>

#include "reclothes/common/result.h"

namespace reclothes::provisioning::internal {

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
using Crt = Holder<mbedtls_x509_crt, mbedtls_x509_crt_init, mbedtls_x509_crt_free>;
using Crl = Holder<mbedtls_x509_crl, mbedtls_x509_crl_init, mbedtls_x509_crl_free>;
using Csr = Holder<mbedtls_x509_csr, mbedtls_x509_csr_init, mbedtls_x509_csr_free>;
using CrtWriter =
    Holder<mbedtls_x509write_cert, mbedtls_x509write_crt_init, mbedtls_x509write_crt_free>;
using CsrWriter =
    Holder<mbedtls_x509write_csr, mbedtls_x509write_csr_init, mbedtls_x509write_csr_free>;

inline std::string mbedtls_message(int ret) {
  std::array<char, 160> buf{};
  mbedtls_strerror(ret, buf.data(), buf.size());
  std::array<char, 16> code{};
  std::snprintf(code.data(), code.size(), " (-0x%04x)", static_cast<unsigned>(-ret));
  return std::string(buf.data()) + code.data();
}

inline Error mbedtls_error(ErrorCode code, std::string_view what, int ret) {
  return make_error(code, std::string(what) + ": " + mbedtls_message(ret));
}

// A CTR_DRBG seeded from the platform entropy source (the kernel). One per call that needs
// randomness, so nothing random is shared between threads.
class Drbg {
 public:
  Drbg() {
    mbedtls_entropy_init(&entropy_);
    mbedtls_ctr_drbg_init(&drbg_);
  }
  ~Drbg() {
    mbedtls_ctr_drbg_free(&drbg_);
    mbedtls_entropy_free(&entropy_);
  }
  Drbg(const Drbg&) = delete;
  Drbg& operator=(const Drbg&) = delete;

  Status seed() {
    static constexpr std::string_view kPersonalization = "reclothes-provisioning-pki";
    const int ret = mbedtls_ctr_drbg_seed(
        &drbg_, mbedtls_entropy_func, &entropy_,
        reinterpret_cast<const unsigned char*>(kPersonalization.data()), kPersonalization.size());
    if (ret != 0) return mbedtls_error(ErrorCode::kInternal, "seeding the random generator", ret);
    return ok_status();
  }
  Status fill(unsigned char* out, std::size_t len) {
    const int ret = mbedtls_ctr_drbg_random(&drbg_, out, len);
    if (ret != 0) return mbedtls_error(ErrorCode::kInternal, "drawing random bytes", ret);
    return ok_status();
  }
  static int random(void* self, unsigned char* out, std::size_t len) {
    return mbedtls_ctr_drbg_random(&static_cast<Drbg*>(self)->drbg_, out, len);
  }
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

}  // namespace reclothes::provisioning::internal
