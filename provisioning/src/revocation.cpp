// The revocation list file and the revoke / publish steps. The CRL itself is made in crl.cpp.
#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>

#include "reclothes/common/json_reader.h"
#include "reclothes/common/token.h"
#include "reclothes/provisioning/files.h"
#include "reclothes/provisioning/pki.h"

namespace reclothes::provisioning {
namespace {

using Json = nlohmann::json;

constexpr int kListVersion = 1;
constexpr std::size_t kMaxSerialHex = 40;  // RFC 5280: at most 20 octets
const auto kUnsigned =
    json::integer_in<std::uint64_t>(0, std::numeric_limits<std::uint64_t>::max());
const auto kUnixSeconds =
    json::integer_in<std::int64_t>(0, std::numeric_limits<std::int64_t>::max());

Error invalid(std::string message) {
  return make_error(ErrorCode::kInvalidArgument, std::move(message));
}

bool is_lower_hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// Serials are kept as CertificateInfo::serial_hex makes them: lower case, whole bytes, no leading
// zero byte, so that string comparison is serial comparison.
Status check_serial(std::string_view serial) {
  if (serial.empty() || serial.size() > kMaxSerialHex || serial.size() % 2 != 0 ||
      !is_lower_hex(serial) || (serial.size() > 2 && serial.substr(0, 2) == "00")) {
    return invalid("serial \"" + std::string(serial) + "\" must be 2.." +
                   std::to_string(kMaxSerialHex) +
                   " lower-case hex digits, whole bytes, without a leading 00 byte");
  }
  return ok_status();
}

}  // namespace

std::string_view to_string(RevocationReason reason) {
  switch (reason) {
    case RevocationReason::kUnspecified:
      return "unspecified";
    case RevocationReason::kKeyCompromise:
      return "key_compromise";
    case RevocationReason::kSuperseded:
      return "superseded";
    case RevocationReason::kCessationOfOperation:
      return "cessation_of_operation";
  }
  return "unspecified";
}

std::optional<RevocationReason> revocation_reason_from_string(std::string_view s) {
  for (RevocationReason r :
       {RevocationReason::kUnspecified, RevocationReason::kKeyCompromise,
        RevocationReason::kSuperseded, RevocationReason::kCessationOfOperation}) {
    if (to_string(r) == s) return r;
  }
  return std::nullopt;
}

namespace {

Result<RevocationReason> read_reason(const Json& v, std::string_view p) {
  RC_ASSIGN_OR_RETURN(const std::string name, json::read_string(v, p));
  const auto reason = revocation_reason_from_string(name);
  if (!reason) return json::field_error(p, "unknown reason " + json::quote(name));
  return *reason;
}

// One entry of the list file: {"serial", "cn", "revoked_at", "reason"}.
Result<RevokedCertificate> read_entry(const Json& item, std::string_view p) {
  RC_TRY(json::read_object(item, p));
  RevokedCertificate e;
  RC_ASSIGN_OR_RETURN(e.serial_hex, json::read_field(item, p, "serial", json::read_string));
  RC_ASSIGN_OR_RETURN(e.common_name, json::read_field(item, p, "cn", json::read_nonempty_string));
  RC_ASSIGN_OR_RETURN(e.revoked_at, json::read_field(item, p, "revoked_at", kUnixSeconds));
  RC_ASSIGN_OR_RETURN(e.reason, json::read_field(item, p, "reason", read_reason));
  return e;
}

}  // namespace

Result<RevocationList> RevocationList::parse(std::string_view text) {
  RC_ASSIGN_OR_RETURN(const Json doc, json::parse_strict(text));
  const std::string_view top;
  RC_TRY(json::read_object(doc, top));
  RC_ASSIGN_OR_RETURN(const Json* version, json::require(doc, top, "version"));
  if (!version->is_number_integer() || *version != kListVersion) {
    return json::field_error("/version", "must be " + std::to_string(kListVersion) + ", got " +
                                             json::describe(*version));
  }
  RevocationList list;
  RC_ASSIGN_OR_RETURN(list.crl_number_, json::read_field(doc, top, "crl_number", kUnsigned));
  RC_ASSIGN_OR_RETURN(const Json* revoked, json::require(doc, top, "revoked"));
  if (!revoked->is_array()) return json::expected_error("/revoked", "an array", *revoked);
  for (std::size_t i = 0; i < revoked->size(); ++i) {
    const std::string p = json::child("/revoked", i);
    RC_ASSIGN_OR_RETURN(RevokedCertificate entry, read_entry((*revoked)[i], p));
    Status added = list.add(std::move(entry));
    if (!added.ok()) return invalid(p + ": " + added.error().message);
  }
  return list;
}

Result<RevocationList> RevocationList::load(const std::filesystem::path& file) {
  RC_ASSIGN_OR_RETURN(std::string text, read_file(file));
  auto list = parse(text);
  if (!list.ok()) {
    return make_error(ErrorCode::kDataLoss, "revocation list " + file.string() +
                                                " is damaged: " + list.error().message +
                                                "; restore it from a backup");
  }
  return list;
}

Result<RevocationList> RevocationList::load_or_empty(const std::filesystem::path& file) {
  auto list = load(file);
  if (!list.ok() && list.error().code == ErrorCode::kNotFound) return RevocationList{};
  return list;
}

std::string RevocationList::to_json() const {
  Json revoked = Json::array();
  for (const auto& e : entries_) {
    revoked.push_back(Json{{"serial", e.serial_hex},
                           {"cn", e.common_name},
                           {"revoked_at", e.revoked_at},
                           {"reason", std::string(to_string(e.reason))}});
  }
  Json doc{{"version", kListVersion}, {"crl_number", crl_number_}, {"revoked", revoked}};
  return doc.dump(2) + "\n";
}

Status RevocationList::save(const std::filesystem::path& file) const {
  return write_file_atomic(file, to_json(), public_file());
}

Status RevocationList::add(RevokedCertificate entry) {
  RC_TRY(check_serial(entry.serial_hex));
  if (contains_serial(entry.serial_hex)) {
    return make_error(ErrorCode::kAlreadyExists,
                      "certificate " + entry.serial_hex + " is already revoked");
  }
  entries_.push_back(std::move(entry));
  return ok_status();
}

bool RevocationList::contains_serial(std::string_view serial_hex) const {
  return std::any_of(entries_.begin(), entries_.end(),
                     [&](const RevokedCertificate& e) { return e.serial_hex == serial_hex; });
}

std::vector<std::string> RevocationList::decommissioned_box_ids() const {
  std::vector<std::string> ids;
  for (const auto& e : entries_) {
    if (e.reason == RevocationReason::kCessationOfOperation && is_valid_box_id(e.common_name)) {
      ids.push_back(e.common_name);
    }
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

bool RevocationList::is_decommissioned(std::string_view box_id) const {
  return std::any_of(entries_.begin(), entries_.end(), [&](const RevokedCertificate& e) {
    return e.reason == RevocationReason::kCessationOfOperation && e.common_name == box_id;
  });
}

namespace {

Status write_next_crl(const CertificateAuthority& ca, RevocationList& list,
                      const std::filesystem::path& list_file, const std::filesystem::path& crl_file,
                      const Clock& clock, const CrlOptions& options) {
  const std::uint64_t number = list.take_next_crl_number();
  RC_ASSIGN_OR_RETURN(std::string crl, make_crl_pem(ca, list, number, clock, options));
  // The list (with the number just taken) first: a crash before the CRL is written leaves a list
  // that says more than the CRL, and rerunning publish_crl or the revoke fixes it; never the
  // other way round.
  RC_TRY(list.save(list_file));
  return write_file_atomic(crl_file, crl, public_file());
}

}  // namespace

Status revoke_certificate(const CertificateAuthority& ca, std::string_view certificate_pem,
                          RevocationReason reason, const std::filesystem::path& list_file,
                          const std::filesystem::path& crl_file, const Clock& clock,
                          const CrlOptions& options) {
  RC_ASSIGN_OR_RETURN(CertificateInfo info, inspect_certificate(certificate_pem));
  if (info.issuer != ca.info().subject) {
    return invalid("certificate " + info.subject + " was issued by \"" + info.issuer +
                   "\", not by this fleet CA (\"" + ca.info().subject + "\")");
  }
  RC_ASSIGN_OR_RETURN(RevocationList list, RevocationList::load_or_empty(list_file));
  if (!list.contains_serial(info.serial_hex)) {
    RC_TRY(list.add(
        RevokedCertificate{info.serial_hex, info.common_name, clock.wall_seconds(), reason}));
  }
  return write_next_crl(ca, list, list_file, crl_file, clock, options);
}

Status publish_crl(const CertificateAuthority& ca, const std::filesystem::path& list_file,
                   const std::filesystem::path& crl_file, const Clock& clock,
                   const CrlOptions& options) {
  RC_ASSIGN_OR_RETURN(RevocationList list, RevocationList::load_or_empty(list_file));
  return write_next_crl(ca, list, list_file, crl_file, clock, options);
}

}  // namespace reclothes::provisioning
