// The revocation list file and the CRL made from it (OpenSSL), read back with mbedTLS.
#include <gtest/gtest.h>
#include <mbedtls/x509_crl.h>
#include <mbedtls/x509_crt.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <filesystem>
#include <memory>

#include "pki_test_util.h"
#include "reclothes/common/clock.h"
#include "reclothes/provisioning/files.h"
#include "reclothes/provisioning/pki.h"
#include "reclothes/testsupport/temp_dir.h"

namespace reclothes::provisioning {
namespace {

using testing::ParsedCrl;
using testing::ParsedCrt;
using testing::system_clock;

class RevocationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ca_ = testing::new_test_ca(); }
  static void TearDownTestSuite() { ca_.reset(); }

  void SetUp() override { ASSERT_NE(ca_, nullptr); }

  static IssuedCertificate issue(const std::string& box_id) {
    auto key = generate_private_key_pem();
    EXPECT_TRUE(key.ok());
    auto cert = ca_->issue_box_certificate(box_id, *key, 365, system_clock());
    EXPECT_TRUE(cert.ok()) << cert.error().to_string();
    return *cert;
  }

  static inline std::unique_ptr<CertificateAuthority> ca_;
  const testsupport::TempDir dir_ = testsupport::TempDir::create_or_throw("reclothes-revocation-");
};

TEST_F(RevocationTest, CrlListsTheRevokedSerialAndMbedtlsHonoursIt) {
  const IssuedCertificate revoked = issue("box-a");
  const IssuedCertificate kept = issue("box-c");
  RevocationList list;
  ASSERT_TRUE(list.add({revoked.info.serial_hex, "box-a", system_clock().wall_seconds(),
                        RevocationReason::kCessationOfOperation})
                  .ok());
  auto crl_pem = make_crl_pem(*ca_, list, 7, system_clock());
  ASSERT_TRUE(crl_pem.ok()) << crl_pem.error().to_string();
  ASSERT_NE(crl_pem->find("-----BEGIN X509 CRL-----"), std::string::npos);

  ParsedCrl crl;
  ASSERT_EQ(crl.parse(*crl_pem), 0);
  EXPECT_EQ(crl.v.version, 2);
  EXPECT_EQ(crl.entries(), 1);
  ParsedCrt revoked_crt;
  ParsedCrt kept_crt;
  ASSERT_EQ(revoked_crt.parse(revoked.certificate_pem), 0);
  ASSERT_EQ(kept_crt.parse(kept.certificate_pem), 0);
  EXPECT_EQ(mbedtls_x509_crt_is_revoked(&revoked_crt.v, &crl.v), 1);
  EXPECT_EQ(mbedtls_x509_crt_is_revoked(&kept_crt.v, &crl.v), 0);

  // Full verification with the CRL: mbedTLS also checks the CRL's signature by the CA here.
  Status refused = ca_->verify(revoked.certificate_pem, system_clock(), *crl_pem);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kUnauthenticated);
  EXPECT_NE(refused.error().message.find("revoked"), std::string::npos) << refused.error().message;
  EXPECT_TRUE(ca_->verify(kept.certificate_pem, system_clock(), *crl_pem).ok());

  // OpenSSL sees the number, the reason, the issuer and the signature.
  BIO* bio = BIO_new_mem_buf(crl_pem->data(), static_cast<int>(crl_pem->size()));
  X509_CRL* x = PEM_read_bio_X509_CRL(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  ASSERT_NE(x, nullptr);
  auto* number =
      static_cast<ASN1_INTEGER*>(X509_CRL_get_ext_d2i(x, NID_crl_number, nullptr, nullptr));
  ASSERT_NE(number, nullptr);
  EXPECT_EQ(ASN1_INTEGER_get(number), 7);
  ASN1_INTEGER_free(number);
  EXPECT_EQ(X509_CRL_get0_nextUpdate(x), nullptr);  // default: no nextUpdate
  STACK_OF(X509_REVOKED)* entries = X509_CRL_get_REVOKED(x);
  ASSERT_EQ(sk_X509_REVOKED_num(entries), 1);
  auto* reason = static_cast<ASN1_ENUMERATED*>(X509_REVOKED_get_ext_d2i(
      sk_X509_REVOKED_value(entries, 0), NID_crl_reason, nullptr, nullptr));
  ASSERT_NE(reason, nullptr);
  EXPECT_EQ(ASN1_ENUMERATED_get(reason), 5);  // cessationOfOperation
  ASN1_ENUMERATED_free(reason);
  BIO* cbio = BIO_new_mem_buf(ca_->certificate_pem().data(),
                              static_cast<int>(ca_->certificate_pem().size()));
  X509* ca_x = PEM_read_bio_X509(cbio, nullptr, nullptr, nullptr);
  BIO_free(cbio);
  ASSERT_NE(ca_x, nullptr);
  EXPECT_EQ(X509_CRL_verify(x, X509_get0_pubkey(ca_x)), 1);
  EXPECT_EQ(X509_NAME_cmp(X509_CRL_get_issuer(x), X509_get_subject_name(ca_x)), 0);
  X509_free(ca_x);
  X509_CRL_free(x);
}

TEST_F(RevocationTest, EmptyCrlParsesAndNextUpdateIsOptional) {
  RevocationList empty;
  auto crl_pem = make_crl_pem(*ca_, empty, 1, system_clock(), {.next_update_days = 30});
  ASSERT_TRUE(crl_pem.ok()) << crl_pem.error().to_string();
  ParsedCrl crl;
  ASSERT_EQ(crl.parse(*crl_pem), 0);
  EXPECT_EQ(crl.entries(), 0);
  EXPECT_NE(crl.v.next_update.year, 0);
  EXPECT_FALSE(make_crl_pem(*ca_, empty, 1, system_clock(), {.next_update_days = 0}).ok());
}

TEST_F(RevocationTest, ListRoundTripsThroughJsonAndRefusesDamage) {
  RevocationList list;
  ASSERT_TRUE(
      list.add({"4a0b", "box-a", 1767225600, RevocationReason::kCessationOfOperation}).ok());
  ASSERT_TRUE(list.add({"4a0c", "box-b", 1767225601, RevocationReason::kSuperseded}).ok());
  ASSERT_TRUE(
      list.add({"4a0d", "controller.eu-1", 1767225602, RevocationReason::kKeyCompromise}).ok());
  EXPECT_EQ(list.take_next_crl_number(), 1u);
  auto parsed = RevocationList::parse(list.to_json());
  ASSERT_TRUE(parsed.ok()) << parsed.error().to_string();
  EXPECT_EQ(parsed->entries(), list.entries());
  EXPECT_EQ(parsed->crl_number(), 1u);

  Status dup = list.add({"4a0b", "box-a", 0, RevocationReason::kUnspecified});
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, ErrorCode::kAlreadyExists);
  EXPECT_FALSE(
      list.add({"4A0B", "box-x", 0, RevocationReason::kUnspecified}).ok());  // not canonical
  EXPECT_FALSE(list.add({"00ff", "box-x", 0, RevocationReason::kUnspecified}).ok());
  EXPECT_FALSE(list.add({"abc", "box-x", 0, RevocationReason::kUnspecified}).ok());

  for (const char* bad :
       {"", "[]", "{\"version\":2,\"crl_number\":0,\"revoked\":[]}",
        "{\"version\":1,\"crl_number\":-1,\"revoked\":[]}", "{\"version\":1,\"crl_number\":0}",
        "{\"version\":1,\"crl_number\":0,\"revoked\":[{\"serial\":\"01\","
        "\"cn\":\"b\",\"revoked_at\":0,\"reason\":\"stolen\"}]}",
        "{\"version\":1,\"crl_number\":0,\"revoked\":[{\"serial\":\"01\","
        "\"cn\":\"b\",\"revoked_at\":0,\"reason\":\"superseded\"},{\"serial\":"
        "\"01\",\"cn\":\"b\",\"revoked_at\":0,\"reason\":\"superseded\"}]}"}) {
    auto r = RevocationList::parse(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument) << bad;
    }
  }
}

TEST_F(RevocationTest, OnlyCessationRetiresABoxId) {
  RevocationList list;
  ASSERT_TRUE(list.add({"01", "box-b", 0, RevocationReason::kCessationOfOperation}).ok());
  ASSERT_TRUE(list.add({"02", "box-a", 0, RevocationReason::kCessationOfOperation}).ok());
  ASSERT_TRUE(list.add({"03", "box-a", 0, RevocationReason::kCessationOfOperation}).ok());
  ASSERT_TRUE(list.add({"04", "box-r", 0, RevocationReason::kSuperseded}).ok());
  ASSERT_TRUE(list.add({"05", "ctl.eu", 0, RevocationReason::kCessationOfOperation}).ok());
  EXPECT_EQ(list.decommissioned_box_ids(), (std::vector<std::string>{"box-a", "box-b"}));
  EXPECT_TRUE(list.is_decommissioned("box-a"));
  EXPECT_FALSE(list.is_decommissioned("box-r"));
}

TEST_F(RevocationTest, RevokeWritesListAndCrlAndIsSafeToRepeat) {
  const IssuedCertificate cert = issue("box-a");
  const auto list_file = dir_ / "revocations.json";
  const auto crl_file = dir_ / "crl.pem";
  ASSERT_TRUE(publish_crl(*ca_, list_file, crl_file, system_clock()).ok());
  auto first = read_file(crl_file);
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(ca_->verify(cert.certificate_pem, system_clock(), *first).ok());

  ASSERT_TRUE(revoke_certificate(*ca_, cert.certificate_pem,
                                 RevocationReason::kCessationOfOperation, list_file, crl_file,
                                 system_clock())
                  .ok());
  auto list = RevocationList::load(list_file);
  ASSERT_TRUE(list.ok()) << list.error().to_string();
  ASSERT_EQ(list->entries().size(), 1u);
  EXPECT_EQ(list->entries()[0].serial_hex, cert.info.serial_hex);
  EXPECT_EQ(list->entries()[0].common_name, "box-a");
  EXPECT_EQ(list->crl_number(), 2u);
  auto crl = read_file(crl_file);
  ASSERT_TRUE(crl.ok());
  EXPECT_FALSE(ca_->verify(cert.certificate_pem, system_clock(), *crl).ok());

  // Again (a retry after a crash): no duplicate entry, a newer CRL.
  ASSERT_TRUE(revoke_certificate(*ca_, cert.certificate_pem,
                                 RevocationReason::kCessationOfOperation, list_file, crl_file,
                                 system_clock())
                  .ok());
  list = RevocationList::load(list_file);
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->entries().size(), 1u);
  EXPECT_EQ(list->crl_number(), 3u);

  // A certificate from another CA is not ours to revoke.
  auto other = CertificateAuthority::create({"Other CA", "ReClothes", 30}, system_clock());
  ASSERT_TRUE(other.ok());
  auto key = generate_private_key_pem();
  auto foreign = other->issue_box_certificate("box-a", *key, 30, system_clock());
  ASSERT_TRUE(foreign.ok());
  Status refused =
      revoke_certificate(*ca_, foreign->certificate_pem, RevocationReason::kUnspecified, list_file,
                         crl_file, system_clock());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument);
}

TEST_F(RevocationTest, DamagedListFileIsReportedWithItsPath) {
  const auto list_file = dir_ / "revocations.json";
  ASSERT_TRUE(write_file_atomic(list_file, "{not json").ok());
  auto list = RevocationList::load(list_file);
  ASSERT_FALSE(list.ok());
  EXPECT_EQ(list.error().code, ErrorCode::kDataLoss);
  EXPECT_NE(list.error().message.find(list_file.string()), std::string::npos);
  auto missing = RevocationList::load(dir_ / "none.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  auto empty = RevocationList::load_or_empty(dir_ / "none.json");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->entries().empty());
}

}  // namespace
}  // namespace reclothes::provisioning
