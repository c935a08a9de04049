#include "reclothes/common/mbedtls_util.h"

#include <gtest/gtest.h>
#include <mbedtls/error.h>

#include <array>
#include <string>

namespace reclothes::crypto {
namespace {

std::string error_of(const Status& s) { return s.ok() ? "(no error)" : s.error().message; }

// A key of `curve` written as a PKCS#8/SEC1 PEM, to parse back.
std::string private_key_pem(mbedtls_ecp_group_id curve) {
  Drbg drbg;
  EXPECT_TRUE(drbg.seed("mbedtls_util_test").ok());
  PkContext pk;
  EXPECT_EQ(mbedtls_pk_setup(&pk.v, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), 0);
  EXPECT_EQ(mbedtls_ecp_gen_key(curve, mbedtls_pk_ec(pk.v), Drbg::random, drbg.context()), 0);
  SecretBuffer<1024> out;
  EXPECT_EQ(mbedtls_pk_write_key_pem(&pk.v, out.data(), out.size()), 0);
  return out.text();
}

TEST(MbedtlsUtil, ErrorsCarryTheLibrarysTextAndCode) {
  EXPECT_EQ(mbedtls_message(MBEDTLS_ERR_PK_KEY_INVALID_FORMAT),
            "PK - Invalid key tag or value (-0x3d00)");
  const Error e = mbedtls_error(ErrorCode::kInvalidArgument, "parsing the key",
                                MBEDTLS_ERR_PK_KEY_INVALID_FORMAT);
  EXPECT_EQ(e.code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(e.message, "parsing the key: PK - Invalid key tag or value (-0x3d00)");
}

TEST(MbedtlsUtil, TheGeneratorIsSeededAndDrawsFreshBytes) {
  Drbg drbg;
  ASSERT_TRUE(drbg.seed("test").ok());
  std::array<unsigned char, 32> a{};
  std::array<unsigned char, 32> b{};
  ASSERT_TRUE(drbg.fill(a.data(), a.size()).ok());
  ASSERT_EQ(Drbg::random(drbg.context(), b.data(), b.size()), 0);
  EXPECT_NE(a, b);
  EXPECT_NE(a, (std::array<unsigned char, 32>{}));
}

TEST(MbedtlsUtil, PemBuffersCountTheirTerminator) {
  const PemBuffer buf("abc");
  EXPECT_EQ(buf.size_with_nul(), 4u);
  EXPECT_EQ(buf.data()[3], '\0');
}

TEST(MbedtlsUtil, KeysParseAndOnlyP256Passes) {
  PkContext p256;
  ASSERT_EQ(parse_private_key_pem(p256.v, private_key_pem(MBEDTLS_ECP_DP_SECP256R1)), 0);
  EXPECT_TRUE(require_p256(p256.v, "the key").ok());

  PkContext p384;
  ASSERT_EQ(parse_private_key_pem(p384.v, private_key_pem(MBEDTLS_ECP_DP_SECP384R1)), 0);
  EXPECT_EQ(error_of(require_p256(p384.v, "the key")),
            "the key must be EC secp256r1 (P-256), this key is on curve secp384r1");

  PkContext rsa;
  ASSERT_EQ(mbedtls_pk_setup(&rsa.v, mbedtls_pk_info_from_type(MBEDTLS_PK_RSA)), 0);
  EXPECT_EQ(error_of(require_p256(rsa.v, "token keys")),
            "token keys must be EC secp256r1 (P-256), this key is RSA");

  PkContext garbage;
  EXPECT_NE(parse_private_key_pem(garbage.v, "not a key"), 0);
  EXPECT_NE(parse_public_key_pem(garbage.v, "-----BEGIN PUBLIC KEY-----\n"), 0);
}

TEST(MbedtlsUtil, APublicKeyPemParses) {
  PkContext pk;
  ASSERT_EQ(parse_private_key_pem(pk.v, private_key_pem(MBEDTLS_ECP_DP_SECP256R1)), 0);
  std::array<unsigned char, 512> out{};
  ASSERT_EQ(mbedtls_pk_write_pubkey_pem(&pk.v, out.data(), out.size()), 0);
  PkContext pub;
  ASSERT_EQ(parse_public_key_pem(pub.v, reinterpret_cast<const char*>(out.data())), 0);
  EXPECT_TRUE(require_p256(pub.v, "the public key").ok());
}

}  // namespace
}  // namespace reclothes::crypto
