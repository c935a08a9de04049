// The fleet PKI, checked from the outside: every certificate is parsed back with mbedTLS (and the
// subjectAltName also with OpenSSL, which is what Mosquitto and Paho use) and verified against
// the CA.
#include "reclothes/provisioning/pki.h"

#include <gtest/gtest.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>

#include "pki_test_util.h"
#include "reclothes/common/clock.h"
#include "reclothes/provisioning/files.h"
#include "reclothes/testsupport/temp_dir.h"

namespace reclothes::provisioning {
namespace {

using testing::ParsedCrt;
using testing::system_clock;

// mbedtls_x509_crt_verify against the CA; returns the flags (0: trusted).
std::uint32_t mbedtls_verify(const std::string& leaf_pem, const std::string& ca_pem,
                             const char* expected_cn = nullptr) {
  ParsedCrt leaf;
  ParsedCrt ca;
  EXPECT_EQ(leaf.parse(leaf_pem), 0);
  EXPECT_EQ(ca.parse(ca_pem), 0);
  std::uint32_t flags = 0;
  (void)mbedtls_x509_crt_verify(&leaf.v, &ca.v, nullptr, expected_cn, &flags, nullptr, nullptr);
  return flags;
}

bool has_eku(const mbedtls_x509_crt& crt, const char* oid, std::size_t len) {
  return (crt.ext_types & MBEDTLS_X509_EXT_EXTENDED_KEY_USAGE) != 0 &&
         mbedtls_x509_crt_check_extended_key_usage(&crt, oid, len) == 0;
}

struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
std::unique_ptr<X509, X509Deleter> openssl_parse(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  return std::unique_ptr<X509, X509Deleter>(x);
}

class PkiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ca_ = testing::new_test_ca();
    ASSERT_NE(ca_, nullptr);
    auto key = generate_private_key_pem();
    ASSERT_TRUE(key.ok()) << key.error().to_string();
    box_key_ = *key;
  }
  static void TearDownTestSuite() { ca_.reset(); }

  void SetUp() override { ASSERT_NE(ca_, nullptr); }

  static IssuedCertificate issue_box(const std::string& box_id) {
    auto pub = public_key_pem(box_key_);
    EXPECT_TRUE(pub.ok());
    auto cert = ca_->issue_box_certificate(box_id, *pub, kDefaultBoxValidityDays, system_clock());
    EXPECT_TRUE(cert.ok()) << cert.error().to_string();
    return cert.ok() ? *cert : IssuedCertificate{};
  }

  static inline std::unique_ptr<CertificateAuthority> ca_;
  static inline std::string box_key_;
};

TEST_F(PkiTest, GeneratedKeyIsP256AndItsPublicKeyParses) {
  ASSERT_NE(box_key_.find("-----BEGIN EC PRIVATE KEY-----"), std::string::npos);
  auto pub = public_key_pem(box_key_);
  ASSERT_TRUE(pub.ok()) << pub.error().to_string();
  mbedtls_pk_context pk;
  mbedtls_pk_init(&pk);
  ASSERT_EQ(mbedtls_pk_parse_public_key(&pk, reinterpret_cast<const unsigned char*>(pub->c_str()),
                                        pub->size() + 1),
            0);
  EXPECT_EQ(mbedtls_pk_get_type(&pk), MBEDTLS_PK_ECKEY);
  EXPECT_EQ(mbedtls_pk_ec(pk)->grp.id, MBEDTLS_ECP_DP_SECP256R1);
  mbedtls_pk_free(&pk);
  auto other = generate_private_key_pem();
  ASSERT_TRUE(other.ok());
  EXPECT_NE(*other, box_key_);
}

TEST_F(PkiTest, CaCertificateIsASelfSignedV3Ca) {
  ParsedCrt ca;
  ASSERT_EQ(ca.parse(ca_->certificate_pem()), 0);
  EXPECT_EQ(ca.v.version, 3);
  EXPECT_EQ(ca.v.ca_istrue, 1);
  EXPECT_EQ(ca.v.max_pathlen, 1);  // mbedTLS stores pathLenConstraint + 1: 0 = no sub-CAs
  EXPECT_NE(ca.v.ext_types & MBEDTLS_X509_EXT_KEY_USAGE, 0);
  EXPECT_EQ(ca.v.key_usage, MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN);
  EXPECT_EQ(mbedtls_verify(ca_->certificate_pem(), ca_->certificate_pem()), 0u);
  EXPECT_TRUE(ca_->info().is_ca);
  EXPECT_EQ(ca_->info().common_name, "ReClothes Fleet CA");
  EXPECT_EQ(ca_->info().subject, ca_->info().issuer);
  // 10 years, backdated by an hour.
  EXPECT_EQ(ca_->info().not_after - ca_->info().not_before,
            kDefaultCaValidityDays * kSecondsPerDay + kBackdateSeconds);
  // Key ids, read with OpenSSL (mbedTLS 2.28 does not expose them).
  auto x = openssl_parse(ca_->certificate_pem());
  ASSERT_NE(x, nullptr);
  EXPECT_NE(X509_get0_subject_key_id(x.get()), nullptr);
  EXPECT_NE(X509_get0_authority_key_id(x.get()), nullptr);
  EXPECT_EQ(
      ASN1_OCTET_STRING_cmp(X509_get0_subject_key_id(x.get()), X509_get0_authority_key_id(x.get())),
      0);
  EXPECT_EQ(X509_check_ca(x.get()), 1);
}

TEST_F(PkiTest, BoxCertificateHasTheBoxIdClientAuthAndVerifiesAgainstTheCa) {
  const IssuedCertificate cert = issue_box("box-a");
  ParsedCrt crt;
  ASSERT_EQ(crt.parse(cert.certificate_pem), 0);
  EXPECT_EQ(crt.v.version, 3);
  EXPECT_EQ(crt.v.ca_istrue, 0);
  EXPECT_EQ(cert.info.common_name, "box-a");
  EXPECT_EQ(cert.info.subject, "CN=box-a, O=ReClothes");
  EXPECT_EQ(cert.info.issuer, ca_->info().subject);
  EXPECT_TRUE(has_eku(crt.v, MBEDTLS_OID_CLIENT_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)));
  EXPECT_FALSE(has_eku(crt.v, MBEDTLS_OID_SERVER_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)));
  EXPECT_TRUE(cert.info.client_auth);
  EXPECT_FALSE(cert.info.server_auth);
  EXPECT_FALSE(cert.info.is_ca);
  EXPECT_EQ(crt.v.key_usage, MBEDTLS_X509_KU_DIGITAL_SIGNATURE);
  EXPECT_EQ(mbedtls_verify(cert.certificate_pem, ca_->certificate_pem()), 0u);
  EXPECT_TRUE(ca_->verify(cert.certificate_pem, system_clock()).ok());
  // The certificate is for the key we generated.
  mbedtls_pk_context key;
  mbedtls_pk_init(&key);
  ASSERT_EQ(mbedtls_pk_parse_key(&key, reinterpret_cast<const unsigned char*>(box_key_.c_str()),
                                 box_key_.size() + 1, nullptr, 0),
            0);
  EXPECT_EQ(mbedtls_pk_check_pair(&crt.v.pk, &key), 0);
  mbedtls_pk_free(&key);
  // OpenSSL (what the broker uses) accepts it as a TLS client certificate, not as a server one.
  auto x = openssl_parse(cert.certificate_pem);
  ASSERT_NE(x, nullptr);
  EXPECT_EQ(X509_check_purpose(x.get(), X509_PURPOSE_SSL_CLIENT, 0), 1);
  EXPECT_EQ(X509_check_purpose(x.get(), X509_PURPOSE_SSL_SERVER, 0), 0);
}

TEST_F(PkiTest, SerialsAreRandomSixteenBytes) {
  std::set<std::string> serials;
  for (int i = 0; i < 5; ++i) {
    const IssuedCertificate cert = issue_box("box-a");
    EXPECT_EQ(cert.info.serial_hex.size(), 2 * kSerialBytes) << cert.info.serial_hex;
    serials.insert(cert.info.serial_hex);
  }
  EXPECT_EQ(serials.size(), 5u);
}

TEST_F(PkiTest, ValidityIsTheRequestedDaysBackdatedAndCutToTheCa) {
  ManualClock clock;  // 2026-01-01
  auto ca = CertificateAuthority::create({"ReClothes Test CA", "ReClothes", 30}, clock);
  ASSERT_TRUE(ca.ok()) << ca.error().to_string();
  auto pub = public_key_pem(box_key_);
  ASSERT_TRUE(pub.ok());
  auto short_cert = ca->issue_box_certificate("box-a", *pub, 7, clock);
  ASSERT_TRUE(short_cert.ok()) << short_cert.error().to_string();
  EXPECT_EQ(short_cert->info.not_before, clock.wall_seconds() - kBackdateSeconds);
  EXPECT_EQ(short_cert->info.not_after, clock.wall_seconds() + 7 * kSecondsPerDay);
  auto long_cert = ca->issue_box_certificate("box-a", *pub, 365, clock);
  ASSERT_TRUE(long_cert.ok());
  EXPECT_EQ(long_cert->info.not_after, ca->info().not_after);
  // The injected clock decides validity in verify().
  EXPECT_TRUE(ca->verify(short_cert->certificate_pem, clock).ok());
  clock.advance(std::chrono::hours(24 * 8));
  Status expired = ca->verify(short_cert->certificate_pem, clock);
  ASSERT_FALSE(expired.ok());
  EXPECT_EQ(expired.error().code, ErrorCode::kUnauthenticated);
  EXPECT_NE(expired.error().message.find("expired"), std::string::npos);
  EXPECT_EQ(ca->issue_box_certificate("box-a", *pub, 0, clock).error().code,
            ErrorCode::kInvalidArgument);
}

TEST_F(PkiTest, InvalidBoxIdsAreRefused) {
  auto pub = public_key_pem(box_key_);
  ASSERT_TRUE(pub.ok());
  const std::vector<std::string> bad_ids = {
      "", "box/a", "box+a", "box#", "box a", "box.a", std::string(33, 'x'), "CN=x,O=y"};
  for (const std::string& bad : bad_ids) {
    auto cert = ca_->issue_box_certificate(bad, *pub, 30, system_clock());
    ASSERT_FALSE(cert.ok()) << bad;
    EXPECT_EQ(cert.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(cert.error().message.find("box id"), std::string::npos) << cert.error().message;
  }
}

TEST_F(PkiTest, BadSubjectKeysAreRefused) {
  auto cert = ca_->issue_box_certificate("box-a", "not a key", 30, system_clock());
  ASSERT_FALSE(cert.ok());
  EXPECT_EQ(cert.error().code, ErrorCode::kInvalidArgument);
  // A private key PEM is accepted; only its public half goes into the certificate.
  EXPECT_TRUE(ca_->issue_box_certificate("box-a", box_key_, 30, system_clock()).ok());
}

TEST_F(PkiTest, CertificateFromAnotherCaDoesNotVerify) {
  auto other = CertificateAuthority::create({"Impostor CA", "ReClothes", 30}, system_clock());
  ASSERT_TRUE(other.ok());
  auto pub = public_key_pem(box_key_);
  auto foreign = other->issue_box_certificate("box-a", *pub, 30, system_clock());
  ASSERT_TRUE(foreign.ok());
  EXPECT_NE(mbedtls_verify(foreign->certificate_pem, ca_->certificate_pem()) &
                MBEDTLS_X509_BADCERT_NOT_TRUSTED,
            0u);
  Status verified = ca_->verify(foreign->certificate_pem, system_clock());
  ASSERT_FALSE(verified.ok());
  EXPECT_EQ(verified.error().code, ErrorCode::kUnauthenticated);
}

TEST_F(PkiTest, CsrFlowChecksSignatureAndName) {
  auto csr = make_csr_pem(box_key_, "box-c");
  ASSERT_TRUE(csr.ok()) << csr.error().to_string();
  auto cert = ca_->issue_box_certificate_for_csr(*csr, "box-c", 30, system_clock());
  ASSERT_TRUE(cert.ok()) << cert.error().to_string();
  EXPECT_EQ(cert->info.common_name, "box-c");
  EXPECT_TRUE(cert->info.client_auth);

  auto wrong_box = ca_->issue_box_certificate_for_csr(*csr, "box-d", 30, system_clock());
  ASSERT_FALSE(wrong_box.ok());
  EXPECT_NE(wrong_box.error().message.find("box-c"), std::string::npos);

  // Flip one bit of the DER (inside the base64 body): either the parse or the signature fails.
  std::string tampered = *csr;
  const auto body = tampered.find('\n') + 40;
  tampered[body] = tampered[body] == 'A' ? 'B' : 'A';
  auto forged = ca_->issue_box_certificate_for_csr(tampered, "box-c", 30, system_clock());
  ASSERT_FALSE(forged.ok());
  EXPECT_EQ(forged.error().code, ErrorCode::kInvalidArgument);

  EXPECT_FALSE(make_csr_pem(box_key_, "bad name").ok());
}

TEST_F(PkiTest, ControllerNamesNeedADotSoTheyAreNeverBoxIds) {
  EXPECT_TRUE(is_valid_controller_name("controller.eu-1"));
  EXPECT_TRUE(is_valid_controller_name("monitor.local"));
  EXPECT_FALSE(is_valid_controller_name("controller-1"));  // a valid box id
  EXPECT_FALSE(is_valid_controller_name(".hidden"));
  EXPECT_FALSE(is_valid_controller_name("ctl.eu/1"));
  EXPECT_FALSE(is_valid_controller_name("ctl.eu+1"));
  EXPECT_FALSE(is_valid_controller_name(std::string(60, 'c') + ".eu-1"));
  auto pub = public_key_pem(box_key_);
  auto refused = ca_->issue_controller_certificate("controller-1", *pub, 30, system_clock());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument);
  auto cert = ca_->issue_controller_certificate("controller.eu-1", *pub, 30, system_clock());
  ASSERT_TRUE(cert.ok()) << cert.error().to_string();
  EXPECT_EQ(cert->info.common_name, "controller.eu-1");
  EXPECT_TRUE(cert->info.client_auth);
  EXPECT_EQ(mbedtls_verify(cert->certificate_pem, ca_->certificate_pem()), 0u);
}

TEST_F(PkiTest, ServerCertificateHasSubjectAltNamesThatTlsVerifiersMatch) {
  auto pub = public_key_pem(box_key_);
  ServerCertificateRequest request;
  request.common_name = "broker";
  request.dns_names = {"localhost", "mqtt.reclothes.example"};
  request.ip_addresses = {"127.0.0.1", "::1"};
  auto cert = ca_->issue_server_certificate(request, *pub, 30, system_clock());
  ASSERT_TRUE(cert.ok()) << cert.error().to_string();
  EXPECT_TRUE(cert->info.server_auth);
  EXPECT_FALSE(cert->info.client_auth);
  EXPECT_EQ(cert->info.dns_names,
            (std::vector<std::string>{"localhost", "mqtt.reclothes.example"}));
  EXPECT_EQ(cert->info.ip_addresses, (std::vector<std::string>{"127.0.0.1", "::1"}));
  // mbedTLS checks the expected host against the dNSName entries.
  EXPECT_EQ(mbedtls_verify(cert->certificate_pem, ca_->certificate_pem(), "localhost"), 0u);
  EXPECT_EQ(mbedtls_verify(cert->certificate_pem, ca_->certificate_pem(), "mqtt.reclothes.example"),
            0u);
  EXPECT_NE(mbedtls_verify(cert->certificate_pem, ca_->certificate_pem(), "evil.example") &
                MBEDTLS_X509_BADCERT_CN_MISMATCH,
            0u);
  // OpenSSL parses the extension and matches names and addresses the way Paho's verify() does.
  auto x = openssl_parse(cert->certificate_pem);
  ASSERT_NE(x, nullptr);
  EXPECT_EQ(X509_check_host(x.get(), "localhost", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_host(x.get(), "broker", 0, 0, nullptr), 0);  // CN is not used with SANs
  EXPECT_EQ(X509_check_ip_asc(x.get(), "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(x.get(), "::1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(x.get(), "127.0.0.2", 0), 0);
  EXPECT_EQ(X509_check_purpose(x.get(), X509_PURPOSE_SSL_SERVER, 0), 1);
  EXPECT_EQ(X509_check_purpose(x.get(), X509_PURPOSE_SSL_CLIENT, 0), 0);
}

TEST_F(PkiTest, ServerCertificateRequestsAreValidated) {
  auto pub = public_key_pem(box_key_);
  ServerCertificateRequest no_names;
  no_names.dns_names.clear();
  no_names.ip_addresses.clear();
  EXPECT_FALSE(ca_->issue_server_certificate(no_names, *pub, 30, system_clock()).ok());
  ServerCertificateRequest bad_ip;
  bad_ip.ip_addresses = {"127.0.0.256"};
  auto refused = ca_->issue_server_certificate(bad_ip, *pub, 30, system_clock());
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("127.0.0.256"), std::string::npos);
  ServerCertificateRequest bad_dns;
  bad_dns.dns_names = {"under_score.example"};
  EXPECT_FALSE(ca_->issue_server_certificate(bad_dns, *pub, 30, system_clock()).ok());
}

TEST_F(PkiTest, CaRoundTripsThroughFilesWithAPrivateKeyMode) {
  const auto dir = testsupport::TempDir::create_or_throw("reclothes-pki-test-");
  ASSERT_TRUE(ca_->save(dir / "ca.crt", dir / "ca.key").ok());
  struct stat key_info {};
  struct stat cert_info {};
  ASSERT_EQ(::stat((dir / "ca.key").c_str(), &key_info), 0);
  ASSERT_EQ(::stat((dir / "ca.crt").c_str(), &cert_info), 0);
  EXPECT_EQ(key_info.st_mode & 0777, 0600u);
  EXPECT_EQ(cert_info.st_mode & 0777, 0644u);
  auto loaded = CertificateAuthority::load(dir / "ca.crt", dir / "ca.key");
  ASSERT_TRUE(loaded.ok()) << loaded.error().to_string();
  EXPECT_EQ(loaded->certificate_pem(), ca_->certificate_pem());
  // A certificate issued by the loaded CA verifies against the original.
  auto pub = public_key_pem(box_key_);
  auto cert = loaded->issue_box_certificate("box-z", *pub, 30, system_clock());
  ASSERT_TRUE(cert.ok()) << cert.error().to_string();
  EXPECT_TRUE(ca_->verify(cert->certificate_pem, system_clock()).ok());

  // A missing file is named in the error.
  auto missing = CertificateAuthority::load(dir / "nope.crt", dir / "ca.key");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_NE(missing.error().message.find("nope.crt"), std::string::npos);
  // A key that belongs to another CA is refused.
  auto other_key = generate_private_key_pem();
  ASSERT_TRUE(write_file_atomic(dir / "other.key", *other_key, private_file()).ok());
  auto mismatched = CertificateAuthority::load(dir / "ca.crt", dir / "other.key");
  ASSERT_FALSE(mismatched.ok());
  EXPECT_NE(mismatched.error().message.find("does not belong"), std::string::npos);
  // A leaf certificate is not a CA.
  auto leaf = CertificateAuthority::from_pem(cert->certificate_pem, box_key_);
  ASSERT_FALSE(leaf.ok());
  EXPECT_NE(leaf.error().message.find("not a CA"), std::string::npos);
}

TEST(FilesTest, AtomicWriteReplacesContentsAndLeavesNoTemporaryFiles) {
  const auto dir = testsupport::TempDir::create_or_throw("reclothes-files-test-");
  const auto path = dir / "f.txt";
  ASSERT_TRUE(write_file_atomic(path, "one").ok());
  ASSERT_TRUE(write_file_atomic(path, "two", private_file()).ok());
  auto read = read_file(path);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(*read, "two");
  struct stat info {};
  ASSERT_EQ(::stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  int entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++entries;
  EXPECT_EQ(entries, 1);
  Status no_dir = write_file_atomic(dir / "missing" / "f.txt", "x");
  ASSERT_FALSE(no_dir.ok());
  EXPECT_EQ(no_dir.error().code, ErrorCode::kNotFound);
  EXPECT_NE(no_dir.error().message.find("missing"), std::string::npos);
  Status bad_owner = write_file_atomic(path, "x", public_file("no-such-user-reclothes"));
  if (::geteuid() == 0) {
    ASSERT_FALSE(bad_owner.ok());
    EXPECT_EQ(bad_owner.error().code, ErrorCode::kNotFound);
  }
}

}  // namespace
}  // namespace reclothes::provisioning
