// The CRL, made with OpenSSL 3 libcrypto: mbedTLS 2.28 can parse CRLs but has no CRL writer
// (docs/broker-security.md explains the choice). Only this file includes OpenSSL headers.
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <array>
#include <memory>

#include "reclothes/provisioning/pki.h"

namespace reclothes::provisioning {
namespace {

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
template <typename T, void (*Free)(T*)>
using Owned = std::unique_ptr<T, Deleter<T, Free>>;

using BioPtr = Owned<BIO, BIO_free_all>;
using X509Ptr = Owned<X509, X509_free>;
using PkeyPtr = Owned<EVP_PKEY, EVP_PKEY_free>;
using CrlPtr = Owned<X509_CRL, X509_CRL_free>;
using RevokedPtr = Owned<X509_REVOKED, X509_REVOKED_free>;
using TimePtr = Owned<ASN1_TIME, ASN1_TIME_free>;
using IntegerPtr = Owned<ASN1_INTEGER, ASN1_INTEGER_free>;
using EnumeratedPtr = Owned<ASN1_ENUMERATED, ASN1_ENUMERATED_free>;
using BignumPtr = Owned<BIGNUM, BN_free>;
using ExtensionPtr = Owned<X509_EXTENSION, X509_EXTENSION_free>;

// "<what>: <OpenSSL's queued errors>", and the queue is emptied for the next caller.
Error openssl_error(ErrorCode code, std::string_view what) {
  std::string message(what);
  std::array<char, 256> buf{};
  bool first = true;
  while (unsigned long e = ERR_get_error()) {
    ERR_error_string_n(e, buf.data(), buf.size());
    message += first ? ": " : "; ";
    message += buf.data();
    first = false;
  }
  if (first) message += ": OpenSSL gave no reason";
  return make_error(code, std::move(message));
}

BioPtr memory_bio(std::string_view data) {
  return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

Result<std::string> drain(BIO* bio) {
  std::string out;
  std::array<char, 4096> buf{};
  for (;;) {
    const int n = BIO_read(bio, buf.data(), static_cast<int>(buf.size()));
    if (n <= 0) break;
    out.append(buf.data(), static_cast<std::size_t>(n));
  }
  return out;
}

Result<TimePtr> asn1_time(std::int64_t unix_seconds) {
  TimePtr t(ASN1_TIME_set(nullptr, static_cast<time_t>(unix_seconds)));
  if (!t) return openssl_error(ErrorCode::kInternal, "encoding a time");
  return t;
}

Result<RevokedPtr> revoked_entry(const RevokedCertificate& entry) {
  RevokedPtr revoked(X509_REVOKED_new());
  if (!revoked) return openssl_error(ErrorCode::kInternal, "allocating a CRL entry");
  BIGNUM* raw_bn = nullptr;
  if (BN_hex2bn(&raw_bn, entry.serial_hex.c_str()) == 0) {
    return openssl_error(ErrorCode::kInvalidArgument,
                         "serial \"" + entry.serial_hex + "\" is not hex");
  }
  BignumPtr bn(raw_bn);
  IntegerPtr serial(BN_to_ASN1_INTEGER(bn.get(), nullptr));
  if (!serial || X509_REVOKED_set_serialNumber(revoked.get(), serial.get()) != 1) {
    return openssl_error(ErrorCode::kInternal, "setting a CRL entry's serial");
  }
  RC_ASSIGN_OR_RETURN(TimePtr when, asn1_time(entry.revoked_at));
  if (X509_REVOKED_set_revocationDate(revoked.get(), when.get()) != 1) {
    return openssl_error(ErrorCode::kInternal, "setting a CRL entry's date");
  }
  // RFC 5280 5.3.1: the reason code "unspecified" SHOULD be absent rather than written.
  if (entry.reason != RevocationReason::kUnspecified) {
    EnumeratedPtr reason(ASN1_ENUMERATED_new());
    if (!reason || ASN1_ENUMERATED_set(reason.get(), static_cast<long>(entry.reason)) != 1 ||
        X509_REVOKED_add1_ext_i2d(revoked.get(), NID_crl_reason, reason.get(), 0, 0) != 1) {
      return openssl_error(ErrorCode::kInternal, "setting a CRL entry's reason");
    }
  }
  return revoked;
}

}  // namespace

Result<std::string> make_crl_pem(const CertificateAuthority& ca, const RevocationList& list,
                                 std::uint64_t crl_number, const Clock& clock,
                                 const CrlOptions& options) {
  ERR_clear_error();
  BioPtr cert_bio = memory_bio(ca.certificate_pem());
  X509Ptr ca_cert(cert_bio ? PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr)
                           : nullptr);
  if (!ca_cert) return openssl_error(ErrorCode::kInvalidArgument, "reading the CA certificate");
  BioPtr key_bio = memory_bio(ca.private_key_pem());
  PkeyPtr ca_key(key_bio ? PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr)
                         : nullptr);
  if (!ca_key) return openssl_error(ErrorCode::kInvalidArgument, "reading the CA private key");

  CrlPtr crl(X509_CRL_new());
  if (!crl) return openssl_error(ErrorCode::kInternal, "allocating a CRL");
  // Version 2 (value 1) is required for extensions (cRLNumber, reason codes).
  if (X509_CRL_set_version(crl.get(), 1) != 1 ||
      X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(ca_cert.get())) != 1) {
    return openssl_error(ErrorCode::kInternal, "setting the CRL's version and issuer");
  }
  const std::int64_t now = clock.wall_seconds();
  RC_ASSIGN_OR_RETURN(TimePtr this_update, asn1_time(now));
  if (X509_CRL_set1_lastUpdate(crl.get(), this_update.get()) != 1) {
    return openssl_error(ErrorCode::kInternal, "setting the CRL's thisUpdate");
  }
  if (options.next_update_days) {
    if (*options.next_update_days < 1 || *options.next_update_days > kMaxValidityDays) {
      return make_error(ErrorCode::kInvalidArgument,
                        "next_update_days must be 1.." + std::to_string(kMaxValidityDays));
    }
    RC_ASSIGN_OR_RETURN(TimePtr next_update,
                        asn1_time(now + *options.next_update_days * kSecondsPerDay));
    if (X509_CRL_set1_nextUpdate(crl.get(), next_update.get()) != 1) {
      return openssl_error(ErrorCode::kInternal, "setting the CRL's nextUpdate");
    }
  }
  for (const RevokedCertificate& entry : list.entries()) {
    RC_ASSIGN_OR_RETURN(RevokedPtr revoked, revoked_entry(entry));
    if (X509_CRL_add0_revoked(crl.get(), revoked.get()) != 1) {
      return openssl_error(ErrorCode::kInternal, "adding a CRL entry");
    }
    (void)revoked.release();  // add0: the CRL owns it now
  }
  IntegerPtr number(ASN1_INTEGER_new());
  if (!number || ASN1_INTEGER_set_uint64(number.get(), crl_number) != 1 ||
      X509_CRL_add1_ext_i2d(crl.get(), NID_crl_number, number.get(), 0, 0) != 1) {
    return openssl_error(ErrorCode::kInternal, "adding the cRLNumber");
  }
  // The authority key id lets a verifier pick the right CA key when the CA is rotated.
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, ca_cert.get(), nullptr, nullptr, crl.get(), 0);
  ExtensionPtr akid(X509V3_EXT_conf_nid(nullptr, &ctx, NID_authority_key_identifier, "keyid"));
  if (!akid || X509_CRL_add_ext(crl.get(), akid.get(), -1) != 1) {
    return openssl_error(ErrorCode::kInternal, "adding the CRL's authorityKeyIdentifier");
  }
  if (X509_CRL_sort(crl.get()) != 1 || X509_CRL_sign(crl.get(), ca_key.get(), EVP_sha256()) <= 0) {
    return openssl_error(ErrorCode::kInternal, "signing the CRL");
  }
  BioPtr out(BIO_new(BIO_s_mem()));
  if (!out || PEM_write_bio_X509_CRL(out.get(), crl.get()) != 1) {
    return openssl_error(ErrorCode::kInternal, "writing the CRL PEM");
  }
  return drain(out.get());
}

}  // namespace reclothes::provisioning
