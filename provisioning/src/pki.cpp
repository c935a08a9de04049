// Keys, CSRs and certificates with mbedTLS 2.28. The CRL half lives in crl.cpp (OpenSSL).
#include "reclothes/provisioning/pki.h"

#include <arpa/inet.h>
#include <mbedtls/asn1write.h>
#include <mbedtls/md.h>
#include <mbedtls/oid.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <span>

#include "mbedtls_util.h"
#include "reclothes/common/bytes.h"
#include "reclothes/common/token.h"
#include "reclothes/provisioning/files.h"

namespace reclothes::provisioning {
namespace {

using internal::Crt;
using internal::CrtWriter;
using internal::Csr;
using internal::CsrWriter;
using internal::Drbg;
using internal::mbedtls_error;
using internal::Mpi;
using internal::PemBuffer;
using internal::PkContext;
using internal::SecretBuffer;

constexpr std::string_view kLeafOrganization = "ReClothes";
constexpr std::size_t kPemCertificateMax = 4096;
constexpr std::size_t kDerScratch = 1024;

Error invalid(std::string message) {
  return make_error(ErrorCode::kInvalidArgument, std::move(message));
}

// Characters that are safe inside an mbedTLS subject string ("CN=..,O=..") without escaping.
bool is_safe_dn_value(std::string_view v) {
  if (v.empty() || v.size() > 64) return false;
  return std::all_of(v.begin(), v.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u < 0x7f && std::strchr(",=+\\\"<>;#", c) == nullptr;
  });
}

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.';
}

bool is_valid_dns_name(std::string_view name) {
  if (name.empty() || name.size() > 253 || name.front() == '.' || name.back() == '.') return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return is_name_char(c) && c != '_'; });
}

Status check_validity_days(std::int64_t days, std::string_view what) {
  if (days < 1 || days > kMaxValidityDays) {
    return invalid(std::string(what) + " validity must be 1.." + std::to_string(kMaxValidityDays) +
                   " days, got " + std::to_string(days));
  }
  return ok_status();
}

std::string x509_time(std::int64_t unix_seconds) {
  const auto t = static_cast<std::time_t>(unix_seconds);
  std::tm utc{};
  ::gmtime_r(&t, &utc);
  std::array<char, 32> buf{};
  std::strftime(buf.data(), buf.size(), "%Y%m%d%H%M%S", &utc);
  return buf.data();
}

std::int64_t unix_from_x509(const mbedtls_x509_time& t) {
  std::tm utc{};
  utc.tm_year = t.year - 1900;
  utc.tm_mon = t.mon - 1;
  utc.tm_mday = t.day;
  utc.tm_hour = t.hour;
  utc.tm_min = t.min;
  utc.tm_sec = t.sec;
  return static_cast<std::int64_t>(::timegm(&utc));
}

std::string dn_string(const mbedtls_x509_name& name) {
  std::array<char, 512> buf{};
  const int n = mbedtls_x509_dn_gets(buf.data(), buf.size(), &name);
  return n < 0 ? std::string() : std::string(buf.data(), static_cast<std::size_t>(n));
}

std::string common_name_of(const mbedtls_x509_name& name) {
  for (const mbedtls_x509_name* n = &name; n != nullptr; n = n->next) {
    if (n->oid.p != nullptr && MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &n->oid) == 0) {
      return std::string(reinterpret_cast<const char*>(n->val.p), n->val.len);
    }
  }
  return {};
}

std::string serial_hex_of(const mbedtls_x509_buf& serial) {
  std::span<const std::uint8_t> bytes(serial.p, serial.len);
  while (bytes.size() > 1 && bytes.front() == 0) bytes = bytes.subspan(1);
  return to_hex(bytes);
}

bool has_eku(const mbedtls_x509_crt& crt, const char* oid, std::size_t oid_len) {
  // Without the extension mbedTLS allows every usage; we report only what is written.
  if ((crt.ext_types & MBEDTLS_X509_EXT_EXTENDED_KEY_USAGE) == 0) return false;
  return mbedtls_x509_crt_check_extended_key_usage(&crt, oid, oid_len) == 0;
}

CertificateInfo info_of(const mbedtls_x509_crt& crt) {
  CertificateInfo info;
  info.subject = dn_string(crt.subject);
  info.issuer = dn_string(crt.issuer);
  info.common_name = common_name_of(crt.subject);
  info.serial_hex = serial_hex_of(crt.serial);
  info.not_before = unix_from_x509(crt.valid_from);
  info.not_after = unix_from_x509(crt.valid_to);
  info.is_ca = crt.ca_istrue != 0;
  info.client_auth =
      has_eku(crt, MBEDTLS_OID_CLIENT_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH));
  info.server_auth =
      has_eku(crt, MBEDTLS_OID_SERVER_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH));
  for (const mbedtls_x509_sequence* s = &crt.subject_alt_names; s != nullptr; s = s->next) {
    if (s->buf.p == nullptr) continue;
    const int tag = s->buf.tag;
    if (tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2)) {
      info.dns_names.emplace_back(reinterpret_cast<const char*>(s->buf.p), s->buf.len);
    } else if (tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7) &&
               (s->buf.len == 4 || s->buf.len == 16)) {
      std::array<char, INET6_ADDRSTRLEN> text{};
      const int family = s->buf.len == 4 ? AF_INET : AF_INET6;
      if (::inet_ntop(family, s->buf.p, text.data(), text.size()) != nullptr) {
        info.ip_addresses.emplace_back(text.data());
      }
    }
  }
  return info;
}

Status parse_certificate(std::string_view pem, mbedtls_x509_crt& crt, std::string_view what) {
  if (pem.find("-----BEGIN CERTIFICATE-----") == std::string_view::npos) {
    return invalid(std::string(what) + " is not a PEM certificate (no BEGIN CERTIFICATE line)");
  }
  PemBuffer buf(pem);
  const int ret = mbedtls_x509_crt_parse(&crt, buf.data(), buf.size_with_nul());
  if (ret != 0) {
    return mbedtls_error(ErrorCode::kInvalidArgument, std::string("parsing ") + std::string(what),
                         ret);
  }
  return ok_status();
}

Status parse_private_key(std::string_view pem, mbedtls_pk_context& pk, std::string_view what) {
  const int ret = crypto::parse_private_key_pem(pk, pem);
  if (ret != 0) {
    return mbedtls_error(
        ErrorCode::kInvalidArgument,
        std::string("parsing ") + std::string(what) + " (expected an unencrypted PEM private key)",
        ret);
  }
  return crypto::require_p256(pk, what);
}

// Accepts a public key PEM, or a private key PEM of which only the public half matters.
Status parse_any_public_key(std::string_view pem, mbedtls_pk_context& pk) {
  if (pem.find("PRIVATE KEY-----") != std::string_view::npos) {
    return parse_private_key(pem, pk, "the subject key");
  }
  const int ret = crypto::parse_public_key_pem(pk, pem);
  if (ret != 0) {
    return mbedtls_error(ErrorCode::kInvalidArgument,
                         "parsing the subject public key (expected a PEM PUBLIC KEY)", ret);
  }
  return crypto::require_p256(pk, "the subject key");
}

// DER writers (mbedtls_asn1_write_* write backwards from the end of the buffer).
class DerWriter {
 public:
  DerWriter() : p_(buf_.data() + buf_.size()) {}
  Status raw(const unsigned char* data, std::size_t len) {
    return check(mbedtls_asn1_write_raw_buffer(&p_, buf_.data(), data, len));
  }
  Status oid(const char* oid, std::size_t len) {
    return check(mbedtls_asn1_write_oid(&p_, buf_.data(), oid, len));
  }
  // Prefixes everything written since `mark` with length and tag.
  Status wrap(std::size_t mark, unsigned char tag) {
    const std::size_t len = mark - written();
    RC_TRY(check(mbedtls_asn1_write_len(&p_, buf_.data(), len)));
    return check(mbedtls_asn1_write_tag(&p_, buf_.data(), tag));
  }
  // A position to wrap from: bytes still free in front of the written data.
  std::size_t mark() const { return written(); }
  const unsigned char* data() const { return p_; }
  std::size_t size() const { return static_cast<std::size_t>(buf_.data() + buf_.size() - p_); }

 private:
  std::size_t written() const { return static_cast<std::size_t>(p_ - buf_.data()); }
  static Status check(int ret) {
    if (ret < 0) return mbedtls_error(ErrorCode::kInternal, "encoding an extension", ret);
    return ok_status();
  }
  std::array<unsigned char, kDerScratch> buf_{};
  unsigned char* p_;
};

// ExtKeyUsageSyntax ::= SEQUENCE SIZE (1..MAX) OF KeyPurposeId
Status set_extended_key_usage(mbedtls_x509write_cert& crt, const char* oid, std::size_t len) {
  DerWriter der;
  const std::size_t end = der.mark();
  RC_TRY(der.oid(oid, len));
  RC_TRY(der.wrap(end, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
  const int ret = mbedtls_x509write_crt_set_extension(
      &crt, MBEDTLS_OID_EXTENDED_KEY_USAGE, MBEDTLS_OID_SIZE(MBEDTLS_OID_EXTENDED_KEY_USAGE), 0,
      der.data(), der.size());
  if (ret != 0) return mbedtls_error(ErrorCode::kInternal, "adding extendedKeyUsage", ret);
  return ok_status();
}

// SubjectAltName ::= GeneralNames ::= SEQUENCE SIZE (1..MAX) OF GeneralName, where
//   dNSName   [2] IMPLICIT IA5String   (primitive, tag 0x82)
//   iPAddress [7] IMPLICIT OCTET STRING (primitive, tag 0x87; 4 or 16 bytes, network order)
// mbedTLS 2.28 has no writer for it. Entries are written last to first because the writer works
// backwards, so they come out in the caller's order.
Status set_subject_alt_name(mbedtls_x509write_cert& crt, const std::vector<std::string>& dns,
                            const std::vector<std::string>& ips) {
  DerWriter der;
  const std::size_t end = der.mark();
  for (auto it = ips.rbegin(); it != ips.rend(); ++it) {
    std::array<unsigned char, 16> addr{};
    std::size_t len = 0;
    if (::inet_pton(AF_INET, it->c_str(), addr.data()) == 1) {
      len = 4;
    } else if (::inet_pton(AF_INET6, it->c_str(), addr.data()) == 1) {
      len = 16;
    } else {
      return invalid("\"" + *it + "\" is not an IPv4 or IPv6 address");
    }
    const std::size_t entry_end = der.mark();
    RC_TRY(der.raw(addr.data(), len));
    RC_TRY(der.wrap(entry_end, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7));
  }
  for (auto it = dns.rbegin(); it != dns.rend(); ++it) {
    if (!is_valid_dns_name(*it)) {
      return invalid("\"" + *it + "\" is not a DNS name (letters, digits, '-' and '.')");
    }
    const std::size_t entry_end = der.mark();
    RC_TRY(der.raw(reinterpret_cast<const unsigned char*>(it->data()), it->size()));
    RC_TRY(der.wrap(entry_end, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2));
  }
  RC_TRY(der.wrap(end, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
  const int ret = mbedtls_x509write_crt_set_extension(
      &crt, MBEDTLS_OID_SUBJECT_ALT_NAME, MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0,
      der.data(), der.size());
  if (ret != 0) return mbedtls_error(ErrorCode::kInternal, "adding subjectAltName", ret);
  return ok_status();
}

enum class Profile { kCa, kClient, kServer };

struct CertificateSpec {
  Profile profile = Profile::kClient;
  std::string subject;  // mbedTLS subject string, values already checked by is_safe_dn_value
  std::string issuer;
  std::int64_t not_before = 0;
  std::int64_t not_after = 0;
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;
};

// Random positive serial of kSerialBytes (RFC 5280: positive, at most 20 octets, unpredictable).
Status set_random_serial(mbedtls_x509write_cert& crt, Drbg& drbg) {
  std::array<unsigned char, kSerialBytes> bytes{};
  RC_TRY(drbg.fill(bytes.data(), bytes.size()));
  bytes[0] &= 0x7f;  // DER INTEGER: keep it positive without a padding byte
  bytes[0] |= 0x40;  // and exactly 16 bytes long, so every serial has the same width
  Mpi serial;
  int ret = mbedtls_mpi_read_binary(&serial.v, bytes.data(), bytes.size());
  if (ret == 0) ret = mbedtls_x509write_crt_set_serial(&crt, &serial.v);
  if (ret != 0) return mbedtls_error(ErrorCode::kInternal, "setting the serial number", ret);
  return ok_status();
}

// Writes and signs a certificate for `subject_key` with `issuer_key`.
Result<std::string> write_certificate(const CertificateSpec& spec, mbedtls_pk_context& subject_key,
                                      mbedtls_pk_context& issuer_key, Drbg& drbg) {
  CrtWriter crt;
  mbedtls_x509write_crt_set_version(&crt.v, MBEDTLS_X509_CRT_VERSION_3);
  mbedtls_x509write_crt_set_md_alg(&crt.v, MBEDTLS_MD_SHA256);
  mbedtls_x509write_crt_set_subject_key(&crt.v, &subject_key);
  mbedtls_x509write_crt_set_issuer_key(&crt.v, &issuer_key);
  auto step = [](int ret, std::string_view what) -> Status {
    if (ret != 0) return mbedtls_error(ErrorCode::kInternal, what, ret);
    return ok_status();
  };
  RC_TRY(step(mbedtls_x509write_crt_set_subject_name(&crt.v, spec.subject.c_str()),
              "setting the subject \"" + spec.subject + "\""));
  RC_TRY(step(mbedtls_x509write_crt_set_issuer_name(&crt.v, spec.issuer.c_str()),
              "setting the issuer \"" + spec.issuer + "\""));
  RC_TRY(set_random_serial(crt.v, drbg));
  const std::string from = x509_time(spec.not_before);
  const std::string to = x509_time(spec.not_after);
  RC_TRY(step(mbedtls_x509write_crt_set_validity(&crt.v, from.c_str(), to.c_str()),
              "setting the validity"));
  const bool ca = spec.profile == Profile::kCa;
  // pathLenConstraint 0: the fleet CA signs end-entity certificates only, never another CA.
  RC_TRY(step(mbedtls_x509write_crt_set_basic_constraints(&crt.v, ca ? 1 : 0, ca ? 0 : -1),
              "adding basicConstraints"));
  RC_TRY(step(mbedtls_x509write_crt_set_subject_key_identifier(&crt.v),
              "adding subjectKeyIdentifier"));
  RC_TRY(step(mbedtls_x509write_crt_set_authority_key_identifier(&crt.v),
              "adding authorityKeyIdentifier"));
  // ECDHE-ECDSA needs only digitalSignature from an end-entity key.
  const unsigned int key_usage = ca ? (MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN)
                                    : MBEDTLS_X509_KU_DIGITAL_SIGNATURE;
  RC_TRY(step(mbedtls_x509write_crt_set_key_usage(&crt.v, key_usage), "adding keyUsage"));
  if (spec.profile == Profile::kClient) {
    RC_TRY(set_extended_key_usage(crt.v, MBEDTLS_OID_CLIENT_AUTH,
                                  MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)));
  } else if (spec.profile == Profile::kServer) {
    RC_TRY(set_extended_key_usage(crt.v, MBEDTLS_OID_SERVER_AUTH,
                                  MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)));
    RC_TRY(set_subject_alt_name(crt.v, spec.dns_names, spec.ip_addresses));
  }
  std::array<unsigned char, kPemCertificateMax> out{};
  RC_TRY(
      step(mbedtls_x509write_crt_pem(&crt.v, out.data(), out.size(), Drbg::random, drbg.context()),
           "signing the certificate"));
  return std::string(reinterpret_cast<const char*>(out.data()));
}

Status check_time_window(const CertificateInfo& info, std::int64_t now, std::string_view what) {
  if (now < info.not_before) {
    return make_error(
        ErrorCode::kUnauthenticated,
        std::string(what) + " is not valid yet (not before " + x509_time(info.not_before) + "Z)");
  }
  if (now > info.not_after) {
    return make_error(ErrorCode::kUnauthenticated, std::string(what) + " has expired (not after " +
                                                       x509_time(info.not_after) + "Z)");
  }
  return ok_status();
}

}  // namespace

bool is_valid_controller_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxControllerNameLength) return false;
  if (name.front() == '.' || name.front() == '-') return false;
  if (name.find('.') == std::string_view::npos) return false;
  return std::all_of(name.begin(), name.end(), is_name_char);
}

Result<std::string> generate_private_key_pem() {
  Drbg drbg;
  RC_TRY(drbg.seed(internal::kDrbgPersonalization));
  PkContext pk;
  int ret = mbedtls_pk_setup(&pk.v, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
  if (ret != 0) return mbedtls_error(ErrorCode::kInternal, "setting up an EC key", ret);
  ret = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(pk.v), Drbg::random,
                            drbg.context());
  if (ret != 0) return mbedtls_error(ErrorCode::kInternal, "generating a P-256 key", ret);
  SecretBuffer<1024> out;
  ret = mbedtls_pk_write_key_pem(&pk.v, out.data(), out.size());
  if (ret != 0) return mbedtls_error(ErrorCode::kInternal, "writing the private key PEM", ret);
  return out.text();
}

Result<std::string> public_key_pem(std::string_view private_key_pem) {
  PkContext pk;
  RC_TRY(parse_private_key(private_key_pem, pk.v, "the private key"));
  std::array<unsigned char, 512> out{};
  const int ret = mbedtls_pk_write_pubkey_pem(&pk.v, out.data(), out.size());
  if (ret != 0) return mbedtls_error(ErrorCode::kInternal, "writing the public key PEM", ret);
  return std::string(reinterpret_cast<const char*>(out.data()));
}

Result<std::string> make_csr_pem(std::string_view private_key_pem, std::string_view common_name) {
  if (common_name.empty() || common_name.size() > kMaxControllerNameLength ||
      !std::all_of(common_name.begin(), common_name.end(), is_name_char)) {
    return invalid("a CSR common name must be 1.." + std::to_string(kMaxControllerNameLength) +
                   " characters of [A-Za-z0-9_.-], got \"" + std::string(common_name) + "\"");
  }
  PkContext key;
  RC_TRY(parse_private_key(private_key_pem, key.v, "the private key"));
  Drbg drbg;
  RC_TRY(drbg.seed(internal::kDrbgPersonalization));
  CsrWriter csr;
  mbedtls_x509write_csr_set_key(&csr.v, &key.v);
  mbedtls_x509write_csr_set_md_alg(&csr.v, MBEDTLS_MD_SHA256);
  const std::string subject = "CN=" + std::string(common_name);
  int ret = mbedtls_x509write_csr_set_subject_name(&csr.v, subject.c_str());
  if (ret != 0) return mbedtls_error(ErrorCode::kInternal, "setting the CSR subject", ret);
  std::array<unsigned char, kPemCertificateMax> out{};
  ret = mbedtls_x509write_csr_pem(&csr.v, out.data(), out.size(), Drbg::random, drbg.context());
  if (ret != 0) return mbedtls_error(ErrorCode::kInternal, "signing the CSR", ret);
  return std::string(reinterpret_cast<const char*>(out.data()));
}

Result<CertificateInfo> inspect_certificate(std::string_view certificate_pem) {
  Crt crt;
  RC_TRY(parse_certificate(certificate_pem, crt.v, "the certificate"));
  return info_of(crt.v);
}

// --- CertificateAuthority ---

Result<CertificateAuthority> CertificateAuthority::create(const Options& options,
                                                          const Clock& clock) {
  if (!is_safe_dn_value(options.common_name) || !is_safe_dn_value(options.organization)) {
    return invalid(
        "the CA common name and organization must be 1..64 printable ASCII characters without "
        ", = + \\ \" < > ; #");
  }
  RC_TRY(check_validity_days(options.validity_days, "the CA"));
  RC_ASSIGN_OR_RETURN(std::string key_pem, generate_private_key_pem());
  PkContext key;
  RC_TRY(parse_private_key(key_pem, key.v, "the new CA key"));
  Drbg drbg;
  RC_TRY(drbg.seed(internal::kDrbgPersonalization));
  CertificateSpec spec;
  spec.profile = Profile::kCa;
  spec.subject = "CN=" + options.common_name + ",O=" + options.organization;
  spec.issuer = spec.subject;
  const std::int64_t now = clock.wall_seconds();
  spec.not_before = now - kBackdateSeconds;
  spec.not_after = now + options.validity_days * kSecondsPerDay;
  RC_ASSIGN_OR_RETURN(std::string cert_pem, write_certificate(spec, key.v, key.v, drbg));
  return from_pem(std::move(cert_pem), std::move(key_pem));
}

Result<CertificateAuthority> CertificateAuthority::from_pem(std::string certificate_pem,
                                                            std::string private_key_pem) {
  Crt crt;
  RC_TRY(parse_certificate(certificate_pem, crt.v, "the CA certificate"));
  if (crt.v.ca_istrue == 0) {
    return invalid("the CA certificate (" + dn_string(crt.v.subject) +
                   ") is not a CA certificate (basicConstraints CA:false); use the fleet CA's "
                   "certificate");
  }
  PkContext key;
  RC_TRY(parse_private_key(private_key_pem, key.v, "the CA private key"));
  const int ret = mbedtls_pk_check_pair(&crt.v.pk, &key.v);
  if (ret != 0) {
    return mbedtls_error(ErrorCode::kInvalidArgument,
                         "the CA private key does not belong to the CA certificate; pass the key "
                         "that was created with it",
                         ret);
  }
  CertificateInfo info = info_of(crt.v);
  return CertificateAuthority(std::move(certificate_pem), std::move(private_key_pem),
                              std::move(info));
}

Result<CertificateAuthority> CertificateAuthority::load(
    const std::filesystem::path& certificate_file, const std::filesystem::path& private_key_file) {
  RC_ASSIGN_OR_RETURN(std::string cert, read_file(certificate_file));
  RC_ASSIGN_OR_RETURN(std::string key, read_file(private_key_file));
  auto ca = from_pem(std::move(cert), std::move(key));
  if (!ca.ok()) {
    return std::move(ca).error().with_context("loading the CA from " + certificate_file.string() +
                                              " and " + private_key_file.string());
  }
  return ca;
}

Status CertificateAuthority::save(const std::filesystem::path& certificate_file,
                                  const std::filesystem::path& private_key_file) const {
  // Key first: a certificate on disk without its key would be a CA nobody can use.
  RC_TRY(write_file_atomic(private_key_file, private_key_pem_, private_file()));
  return write_file_atomic(certificate_file, certificate_pem_, public_file());
}

namespace {

struct LeafRequest {
  Profile profile = Profile::kClient;
  std::string common_name;
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;
  std::int64_t validity_days = 0;
};

// A client certificate (a box, a controller).
LeafRequest client_leaf(std::string common_name, std::int64_t validity_days) {
  LeafRequest request;
  request.common_name = std::move(common_name);
  request.validity_days = validity_days;
  return request;
}

Result<IssuedCertificate> issue_leaf(const CertificateAuthority& ca, const LeafRequest& request,
                                     mbedtls_pk_context& subject_key, const Clock& clock) {
  RC_TRY(check_validity_days(request.validity_days, "a certificate's"));
  PkContext ca_key;
  RC_TRY(parse_private_key(ca.private_key_pem(), ca_key.v, "the CA private key"));
  Drbg drbg;
  RC_TRY(drbg.seed(internal::kDrbgPersonalization));
  const std::int64_t now = clock.wall_seconds();
  if (now > ca.info().not_after) {
    return make_error(ErrorCode::kFailedPrecondition,
                      "the fleet CA expired at " + x509_time(ca.info().not_after) +
                          "Z; create a new CA and re-provision the fleet");
  }
  CertificateSpec spec;
  spec.profile = request.profile;
  spec.subject = "CN=" + request.common_name + ",O=" + std::string(kLeafOrganization);
  spec.issuer = ca.info().subject;
  spec.not_before = now - kBackdateSeconds;
  spec.not_after = std::min(now + request.validity_days * kSecondsPerDay, ca.info().not_after);
  spec.dns_names = request.dns_names;
  spec.ip_addresses = request.ip_addresses;
  RC_ASSIGN_OR_RETURN(std::string pem, write_certificate(spec, subject_key, ca_key.v, drbg));
  // Never hand out a certificate that does not chain to the CA (an issuer name that mbedTLS
  // re-encoded differently would be caught here, not by a box in the field).
  Status chained = ca.verify(pem, clock);
  if (!chained.ok()) {
    return std::move(chained).error().with_context("self-check of the new certificate failed");
  }
  RC_ASSIGN_OR_RETURN(CertificateInfo info, inspect_certificate(pem));
  return IssuedCertificate{std::move(pem), std::move(info)};
}

// As issue_leaf, for a subject key given as a PEM (a public key, or a private key of which only
// the public half is used).
Result<IssuedCertificate> issue_leaf_for(const CertificateAuthority& ca, const LeafRequest& request,
                                         std::string_view public_key_pem, const Clock& clock) {
  PkContext key;
  RC_TRY(parse_any_public_key(public_key_pem, key.v));
  return issue_leaf(ca, request, key.v, clock);
}

}  // namespace

Result<IssuedCertificate> CertificateAuthority::issue_box_certificate(
    std::string_view box_id, std::string_view public_key_pem, std::int64_t validity_days,
    const Clock& clock) const {
  if (!is_valid_box_id(box_id)) {
    return invalid("\"" + std::string(box_id) +
                   "\" is not a valid box id (1..32 characters of [A-Za-z0-9_-])");
  }
  return issue_leaf_for(*this, client_leaf(std::string(box_id), validity_days), public_key_pem,
                        clock);
}

Result<IssuedCertificate> CertificateAuthority::issue_box_certificate_for_csr(
    std::string_view csr_pem, std::string_view expected_box_id, std::int64_t validity_days,
    const Clock& clock) const {
  if (!is_valid_box_id(expected_box_id)) {
    return invalid("\"" + std::string(expected_box_id) +
                   "\" is not a valid box id (1..32 characters of [A-Za-z0-9_-])");
  }
  Csr csr;
  {
    PemBuffer buf(csr_pem);
    const int ret = mbedtls_x509_csr_parse(&csr.v, buf.data(), buf.size_with_nul());
    if (ret != 0) return mbedtls_error(ErrorCode::kInvalidArgument, "parsing the CSR", ret);
  }
  // mbedTLS 2.28 parses a CSR without checking its signature; the signature is the requester's
  // proof that it holds the private key, so check it here.
  const mbedtls_md_info_t* md = mbedtls_md_info_from_type(csr.v.sig_md);
  if (md == nullptr) return invalid("the CSR uses an unsupported signature hash");
  std::array<unsigned char, MBEDTLS_MD_MAX_SIZE> hash{};
  int ret = mbedtls_md(md, csr.v.cri.p, csr.v.cri.len, hash.data());
  if (ret != 0) return mbedtls_error(ErrorCode::kInternal, "hashing the CSR", ret);
  ret = mbedtls_pk_verify_ext(csr.v.sig_pk, csr.v.sig_opts, &csr.v.pk, csr.v.sig_md, hash.data(),
                              mbedtls_md_get_size(md), csr.v.sig.p, csr.v.sig.len);
  if (ret != 0) {
    return mbedtls_error(ErrorCode::kInvalidArgument,
                         "the CSR's signature does not match its key (corrupted or forged CSR)",
                         ret);
  }
  RC_TRY(crypto::require_p256(csr.v.pk, "the CSR's key"));
  const std::string cn = common_name_of(csr.v.subject);
  if (cn != expected_box_id) {
    return invalid("the CSR is for \"" + cn + "\" but box \"" + std::string(expected_box_id) +
                   "\" is being registered; make the CSR on that box");
  }
  return issue_leaf(*this, client_leaf(cn, validity_days), csr.v.pk, clock);
}

Result<IssuedCertificate> CertificateAuthority::issue_controller_certificate(
    std::string_view controller_name, std::string_view public_key_pem, std::int64_t validity_days,
    const Clock& clock) const {
  if (!is_valid_controller_name(controller_name)) {
    return invalid("\"" + std::string(controller_name) +
                   "\" is not a valid controller name: 1..64 characters of [A-Za-z0-9_.-] with at "
                   "least one '.', e.g. \"controller.eu-1\" (the '.' keeps it apart from box ids)");
  }
  return issue_leaf_for(*this, client_leaf(std::string(controller_name), validity_days),
                        public_key_pem, clock);
}

Result<IssuedCertificate> CertificateAuthority::issue_server_certificate(
    const ServerCertificateRequest& server, std::string_view public_key_pem,
    std::int64_t validity_days, const Clock& clock) const {
  if (!is_safe_dn_value(server.common_name)) {
    return invalid("the server common name \"" + server.common_name +
                   "\" must be 1..64 printable ASCII characters without , = + \\ \" < > ; #");
  }
  if (server.dns_names.empty() && server.ip_addresses.empty()) {
    return invalid(
        "a server certificate needs at least one DNS name or IP address: clients check the "
        "subjectAltName, not the common name");
  }
  LeafRequest request;
  request.profile = Profile::kServer;
  request.common_name = server.common_name;
  request.dns_names = server.dns_names;
  request.ip_addresses = server.ip_addresses;
  request.validity_days = validity_days;
  return issue_leaf_for(*this, request, public_key_pem, clock);
}

Status CertificateAuthority::verify(std::string_view certificate_pem, const Clock& clock,
                                    std::optional<std::string_view> crl_pem) const {
  Crt ca;
  RC_TRY(parse_certificate(certificate_pem_, ca.v, "the CA certificate"));
  Crt crt;
  RC_TRY(parse_certificate(certificate_pem, crt.v, "the certificate"));
  internal::Crl crl;
  if (crl_pem) {
    PemBuffer buf(*crl_pem);
    const int ret = mbedtls_x509_crl_parse(&crl.v, buf.data(), buf.size_with_nul());
    if (ret != 0) return mbedtls_error(ErrorCode::kInvalidArgument, "parsing the CRL", ret);
  }
  std::uint32_t flags = 0;
  const int ret = mbedtls_x509_crt_verify(&crt.v, &ca.v, crl_pem ? &crl.v : nullptr, nullptr,
                                          &flags, nullptr, nullptr);
  // mbedTLS judges time by the system clock; time is judged below by the injected clock instead.
  constexpr std::uint32_t kTimeFlags = MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_FUTURE |
                                       MBEDTLS_X509_BADCRL_EXPIRED | MBEDTLS_X509_BADCRL_FUTURE;
  flags &= ~kTimeFlags;
  if (ret != 0 && flags == 0 && ret != MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) {
    return mbedtls_error(ErrorCode::kInternal, "verifying the certificate", ret);
  }
  if (flags != 0) {
    std::array<char, 512> buf{};
    mbedtls_x509_crt_verify_info(buf.data(), buf.size(), "", flags);
    std::string reasons(buf.data());
    while (!reasons.empty() && reasons.back() == '\n') reasons.pop_back();
    std::replace(reasons.begin(), reasons.end(), '\n', ';');
    return make_error(ErrorCode::kUnauthenticated,
                      "certificate " + dn_string(crt.v.subject) + " rejected: " + reasons);
  }
  const std::int64_t now = clock.wall_seconds();
  RC_TRY(check_time_window(info_, now, "the CA certificate"));
  return check_time_window(info_of(crt.v), now, "certificate " + dn_string(crt.v.subject));
}

}  // namespace reclothes::provisioning
