#include "reclothes/common/mbedtls_util.h"

#include <mbedtls/error.h>

#include <cstdio>

namespace reclothes::crypto {

std::string mbedtls_message(int ret) {
  std::array<char, 160> text{};
  mbedtls_strerror(ret, text.data(), text.size());
  std::array<char, 16> code{};
  std::snprintf(code.data(), code.size(), " (-0x%04x)", static_cast<unsigned>(-ret));
  return std::string(text.data()) + code.data();
}

Error mbedtls_error(ErrorCode code, std::string_view what, int ret) {
  return make_error(code, std::string(what) + ": " + mbedtls_message(ret));
}

Drbg::Drbg() {
  mbedtls_entropy_init(&entropy_);
  mbedtls_ctr_drbg_init(&drbg_);
}

Drbg::~Drbg() {
  mbedtls_ctr_drbg_free(&drbg_);
  mbedtls_entropy_free(&entropy_);
}

Status Drbg::seed(std::string_view personalization) {
  const int ret = mbedtls_ctr_drbg_seed(
      &drbg_, mbedtls_entropy_func, &entropy_,
      reinterpret_cast<const unsigned char*>(personalization.data()), personalization.size());
  if (ret != 0) return mbedtls_error(ErrorCode::kInternal, "seeding the random generator", ret);
  return ok_status();
}

Status Drbg::fill(unsigned char* out, std::size_t len) {
  const int ret = mbedtls_ctr_drbg_random(&drbg_, out, len);
  if (ret != 0) return mbedtls_error(ErrorCode::kInternal, "drawing random bytes", ret);
  return ok_status();
}

int Drbg::random(void* drbg, unsigned char* out, std::size_t len) {
  return mbedtls_ctr_drbg_random(&static_cast<Drbg*>(drbg)->drbg_, out, len);
}

int parse_private_key_pem(mbedtls_pk_context& pk, std::string_view pem) {
  const PemBuffer buf(pem);
  return mbedtls_pk_parse_key(&pk, buf.data(), buf.size_with_nul(), nullptr, 0);
}

int parse_public_key_pem(mbedtls_pk_context& pk, std::string_view pem) {
  const PemBuffer buf(pem);
  return mbedtls_pk_parse_public_key(&pk, buf.data(), buf.size_with_nul());
}

Status require_p256(const mbedtls_pk_context& pk, std::string_view what) {
  const std::string must = std::string(what) + " must be EC secp256r1 (P-256), this key is ";
  if (!mbedtls_pk_can_do(&pk, MBEDTLS_PK_ECKEY)) {
    return make_error(ErrorCode::kInvalidArgument, must + mbedtls_pk_get_name(&pk));
  }
  const mbedtls_ecp_keypair* keypair = mbedtls_pk_ec(pk);
  if (keypair == nullptr) {
    return make_error(ErrorCode::kInvalidArgument, must + "without an EC key pair");
  }
  if (keypair->grp.id != MBEDTLS_ECP_DP_SECP256R1) {
    const mbedtls_ecp_curve_info* info = mbedtls_ecp_curve_info_from_grp_id(keypair->grp.id);
    return make_error(ErrorCode::kInvalidArgument,
                      must + "on curve " + (info != nullptr ? info->name : "unknown"));
  }
  return ok_status();
}

}  // namespace reclothes::crypto
