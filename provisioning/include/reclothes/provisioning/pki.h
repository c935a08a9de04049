// The fleet PKI: one certificate authority signs every broker identity.
//
//   fleet CA (EC P-256, self-signed, CA:true, keyCertSign|cRLSign)
//     +-- box client certificates        CN = box id               EKU clientAuth
//     +-- controller client certificates CN = controller name      EKU clientAuth
//     +-- broker server certificate      SAN DNS/IP of the broker  EKU serverAuth
//     +-- CRL (revoked box and controller certificates)
//
// Mosquitto takes the client certificate's CN as the MQTT username (use_identity_as_username),
// and the ACL (broker_config.h) keys every permission on that username. That is why the names are
// constrained: a box id ([A-Za-z0-9_-]{1,32}, reclothes::is_valid_box_id) can never contain a '.',
// and a controller name must contain one, so no box can ever hold a controller's rights.
//
// Keys and certificates are made with mbedTLS 2.28 (x509write_crt, x509write_csr). mbedTLS 2.28
// cannot write CRLs, so the CRL is made with OpenSSL 3's libcrypto (docs/broker-security.md says
// why that is acceptable). Every certificate and CRL is PEM. All functions are thread-safe: they
// share no mutable state (each call seeds its own random generator from the kernel).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "reclothes/common/clock.h"
#include "reclothes/common/result.h"

namespace reclothes::provisioning {

inline constexpr std::int64_t kSecondsPerDay = 86'400;
// Lifetimes (days). A box sits in a street cabinet and is renewed by a technician, so its
// certificate lives long; revocation, not expiry, is what shuts a lost box out. Controllers and
// the broker run in our own infrastructure and are rotated yearly.
inline constexpr std::int64_t kDefaultCaValidityDays = 3650;         // 10 years
inline constexpr std::int64_t kDefaultBoxValidityDays = 1826;        // 5 years
inline constexpr std::int64_t kDefaultControllerValidityDays = 397;  // 13 months
inline constexpr std::int64_t kDefaultServerValidityDays = 397;      // 13 months
inline constexpr std::int64_t kMaxValidityDays = 36'500;
// not_before is set this far in the past: a box whose clock is a little behind (no RTC, before
// NTP has corrected it) must still accept a freshly issued certificate.
inline constexpr std::int64_t kBackdateSeconds = 3600;
// Serials: 16 bytes, 126 of their bits random (top bit cleared: positive; next bit set: always 16
// bytes wide).
inline constexpr std::size_t kSerialBytes = 16;
inline constexpr std::size_t kMaxControllerNameLength = 64;

// A controller's (or local tool's) broker identity: 1..64 characters of [A-Za-z0-9_.-] with at
// least one '.', not starting with '.' or '-' (e.g. "controller.eu-1"). The '.' guarantees that it
// is never a valid box id.
bool is_valid_controller_name(std::string_view name);

// --- Keys and CSRs (mbedTLS) ---

// A new EC P-256 private key, PEM ("EC PRIVATE KEY", SEC1), readable by mbedTLS, OpenSSL and
// therefore Paho and Mosquitto. kInternal if the random generator or mbedTLS fails.
Result<std::string> generate_private_key_pem();
// The SubjectPublicKeyInfo PEM ("PUBLIC KEY") of a private key. kInvalidArgument for a key that is
// not PEM/DER, not EC P-256, or encrypted.
Result<std::string> public_key_pem(std::string_view private_key_pem);
// A PKCS#10 request "CN=<common_name>" signed with the key (so a box can keep its key to itself and
// send only the CSR). kInvalidArgument for a bad key or an empty name.
Result<std::string> make_csr_pem(std::string_view private_key_pem, std::string_view common_name);

// --- Certificates ---

struct CertificateInfo {
  std::string subject;  // "CN=box-a, O=ReClothes" (mbedTLS's rendering)
  std::string issuer;
  std::string common_name;      // the subject's CN
  std::string serial_hex;       // lower-case hex of the serial's magnitude, no leading zeros
  std::int64_t not_before = 0;  // Unix seconds
  std::int64_t not_after = 0;
  bool is_ca = false;
  bool client_auth = false;               // extendedKeyUsage lists id-kp-clientAuth
  bool server_auth = false;               // extendedKeyUsage lists id-kp-serverAuth
  std::vector<std::string> dns_names;     // subjectAltName dNSName entries
  std::vector<std::string> ip_addresses;  // subjectAltName iPAddress entries, textual
};

// Parses one PEM certificate. kInvalidArgument (with mbedTLS's reason) if it is not one.
Result<CertificateInfo> inspect_certificate(std::string_view certificate_pem);

struct IssuedCertificate {
  std::string certificate_pem;
  CertificateInfo info;
};

// What a broker server certificate names. The TLS client (Paho with verify(true)) compares the
// host of its ssl:// URI with these.
struct ServerCertificateRequest {
  std::string common_name = "localhost";
  std::vector<std::string> dns_names = {"localhost"};
  std::vector<std::string> ip_addresses = {"127.0.0.1"};  // IPv4 or IPv6, textual
};

// The fleet CA: its certificate and private key, both PEM. Cheap to copy. Issuing parses the PEM
// again each time (a few hundred microseconds), which keeps the object a plain value.
class CertificateAuthority {
 public:
  struct Options {
    std::string common_name = "ReClothes Fleet CA";
    std::string organization = "ReClothes";
    std::int64_t validity_days = kDefaultCaValidityDays;
  };

  // A new CA: P-256 key and self-signed v3 certificate (basicConstraints CA:true critical,
  // keyUsage keyCertSign|cRLSign, subject key id), valid from now - kBackdateSeconds for
  // validity_days. kInvalidArgument for an empty name or a validity outside 1..kMaxValidityDays.
  static Result<CertificateAuthority> create(const Options& options, const Clock& clock);
  // From PEM text: checks that the certificate is a CA certificate and that the key matches it.
  static Result<CertificateAuthority> from_pem(std::string certificate_pem,
                                               std::string private_key_pem);
  // From files; errors name the file and say what to do.
  static Result<CertificateAuthority> load(const std::filesystem::path& certificate_file,
                                           const std::filesystem::path& private_key_file);
  // Writes the certificate (0644) and the private key (0600), each atomically.
  Status save(const std::filesystem::path& certificate_file,
              const std::filesystem::path& private_key_file) const;

  const std::string& certificate_pem() const { return certificate_pem_; }
  const std::string& private_key_pem() const { return private_key_pem_; }
  const CertificateInfo& info() const { return info_; }

  // A box client certificate for `public_key_pem` (a "PUBLIC KEY" or a private key PEM; only the
  // public half is used): subject "CN=<box_id>, O=ReClothes", extendedKeyUsage clientAuth,
  // keyUsage digitalSignature, CA:false, random 16-byte serial, authority and subject key ids.
  // kInvalidArgument if box_id fails reclothes::is_valid_box_id, the key is not EC P-256, or the
  // validity is outside 1..kMaxValidityDays. The certificate never outlives the CA: not_after is
  // cut to the CA's not_after.
  Result<IssuedCertificate> issue_box_certificate(std::string_view box_id,
                                                  std::string_view public_key_pem,
                                                  std::int64_t validity_days,
                                                  const Clock& clock) const;
  // The same for a CSR: its signature is checked (proof that the requester holds the key) and
  // its CN must equal expected_box_id. kInvalidArgument otherwise; the CSR's other subject fields
  // and requested extensions are ignored (the CA decides them).
  Result<IssuedCertificate> issue_box_certificate_for_csr(std::string_view csr_pem,
                                                          std::string_view expected_box_id,
                                                          std::int64_t validity_days,
                                                          const Clock& clock) const;
  // A controller client certificate: like a box certificate, CN = controller name, which must
  // pass is_valid_controller_name. The broker ACL gives that name the controller role.
  Result<IssuedCertificate> issue_controller_certificate(std::string_view controller_name,
                                                         std::string_view public_key_pem,
                                                         std::int64_t validity_days,
                                                         const Clock& clock) const;
  // A broker server certificate: extendedKeyUsage serverAuth, keyUsage digitalSignature, and a
  // subjectAltName with the request's DNS names and IP addresses (at least one of them).
  Result<IssuedCertificate> issue_server_certificate(const ServerCertificateRequest& request,
                                                     std::string_view public_key_pem,
                                                     std::int64_t validity_days,
                                                     const Clock& clock) const;

  // Whether this CA signed `certificate_pem` and it is valid at the clock's time and not listed in
  // `crl_pem` (optional). kUnauthenticated with mbedTLS's reasons ("The certificate has been
  // revoked (is on a CRL)", "expired", "not correctly signed by the trusted CA") otherwise.
  Status verify(std::string_view certificate_pem, const Clock& clock,
                std::optional<std::string_view> crl_pem = std::nullopt) const;

 private:
  CertificateAuthority(std::string certificate_pem, std::string private_key_pem,
                       CertificateInfo info)
      : certificate_pem_(std::move(certificate_pem)),
        private_key_pem_(std::move(private_key_pem)),
        info_(std::move(info)) {}

  std::string certificate_pem_;
  std::string private_key_pem_;
  CertificateInfo info_;
};

// --- Revocation ---

// CRL reason codes (RFC 5280 5.3.1) that we use.
enum class RevocationReason {
  kUnspecified = 0,
  kKeyCompromise = 1,         // a stolen or cloned box
  kSuperseded = 4,            // re-provisioned: the box id lives on with a new certificate
  kCessationOfOperation = 5,  // decommissioned: the box id is retired and refused by the ACL too
};
std::string_view to_string(RevocationReason reason);  // "unspecified", "key_compromise", ...
std::optional<RevocationReason> revocation_reason_from_string(std::string_view s);

struct RevokedCertificate {
  std::string serial_hex;       // as CertificateInfo::serial_hex
  std::string common_name;      // box id or controller name, for people and for the ACL
  std::int64_t revoked_at = 0;  // Unix seconds
  RevocationReason reason = RevocationReason::kUnspecified;
  bool operator==(const RevokedCertificate&) const = default;
};

// The revocation list file: the source of truth the CRL is generated from. JSON:
//   {"version":1,"crl_number":3,"revoked":[{"serial":"9f..","cn":"box-a","revoked_at":1767225600,
//    "reason":"cessation_of_operation"}]}
class RevocationList {
 public:
  RevocationList() = default;
  // kInvalidArgument (naming the field) for malformed JSON, an unknown version or reason, a bad
  // serial, or a serial listed twice.
  static Result<RevocationList> parse(std::string_view json);
  // kNotFound if the file does not exist (the caller decides whether that means "empty").
  static Result<RevocationList> load(const std::filesystem::path& file);
  // An empty list if the file does not exist; any other error as load().
  static Result<RevocationList> load_or_empty(const std::filesystem::path& file);
  std::string to_json() const;
  Status save(const std::filesystem::path& file) const;  // atomic, 0644

  // Adds an entry. kAlreadyExists if its serial is listed; kInvalidArgument for a bad serial.
  Status add(RevokedCertificate entry);
  bool contains_serial(std::string_view serial_hex) const;
  // Box ids retired by decommissioning (entries with kCessationOfOperation whose CN is a box id),
  // sorted, unique. The broker ACL denies these usernames everything.
  std::vector<std::string> decommissioned_box_ids() const;
  bool is_decommissioned(std::string_view box_id) const;
  const std::vector<RevokedCertificate>& entries() const { return entries_; }

  // The number of the last CRL made from this list (0 before the first). Each CRL takes the next
  // number (RFC 5280 cRLNumber), so a broker can tell a newer CRL from an older one.
  std::uint64_t crl_number() const { return crl_number_; }
  std::uint64_t take_next_crl_number() { return ++crl_number_; }

 private:
  std::vector<RevokedCertificate> entries_;
  std::uint64_t crl_number_ = 0;
};

struct CrlOptions {
  // nextUpdate = thisUpdate + this many days. Unset (the default): no nextUpdate. Our only relying
  // party is our own broker reading a local file, and OpenSSL treats a CRL past its nextUpdate as
  // expired and then refuses *every* client: one forgotten cron job would take the whole fleet
  // offline. docs/broker-security.md discusses this.
  std::optional<std::int64_t> next_update_days;
};

// A v2 CRL signed by `ca` (ECDSA SHA-256) listing every entry of `list` with its revocation date
// and reason code, with cRLNumber `crl_number` and the CA's authority key id. Made with OpenSSL 3
// libcrypto. kInvalidArgument for an unusable CA key; kInternal if OpenSSL fails (its error queue
// is in the message).
Result<std::string> make_crl_pem(const CertificateAuthority& ca, const RevocationList& list,
                                 std::uint64_t crl_number, const Clock& clock,
                                 const CrlOptions& options = {});

// The PKI half of revoking a certificate, in a crash-safe order: loads the list (empty if the
// file is missing), adds the certificate unless it is listed already (so a retry after a failure
// just finishes the job), saves the list, then writes a fresh CRL with the next number. The broker
// must still be told to reload (SIGHUP); see docs/broker-security.md. The certificate must have
// been issued by `ca` (kInvalidArgument otherwise).
Status revoke_certificate(const CertificateAuthority& ca, std::string_view certificate_pem,
                          RevocationReason reason, const std::filesystem::path& list_file,
                          const std::filesystem::path& crl_file, const Clock& clock,
                          const CrlOptions& options = {});
// Writes a fresh CRL from the list file (empty list if missing) with the next number: for a new
// fleet, or to renew a CRL that has a nextUpdate.
Status publish_crl(const CertificateAuthority& ca, const std::filesystem::path& list_file,
                   const std::filesystem::path& crl_file, const Clock& clock,
                   const CrlOptions& options = {});

}  // namespace reclothes::provisioning
