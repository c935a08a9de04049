// The revocation list file and the revoke / publish steps. The CRL itself is made in crl.cpp.
#include <algorithm>
#include <nlohmann/json.hpp>

#include "reclothes/common/token.h"
#include "reclothes/provisioning/files.h"
#include "reclothes/provisioning/pki.h"

namespace reclothes::provisioning {
namespace {

using Json = nlohmann::json;

constexpr int kListVersion = 1;
constexpr std::size_t kMaxSerialHex = 40;  // RFC 5280: at most 20 octets

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

Result<RevocationList> RevocationList::parse(std::string_view json) {
  const Json doc = Json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return invalid("the revocation list is not a JSON object");
  }
  auto field = [&](const Json& obj, const char* name, std::string_view where) -> Result<Json> {
    auto it = obj.find(name);
    if (it == obj.end()) return invalid(std::string(where) + "/" + name + ": missing");
    return *it;
  };
  RC_ASSIGN_OR_RETURN(Json version, field(doc, "version", ""));
  if (!version.is_number_integer() || version.get<std::int64_t>() != kListVersion) {
    return invalid("/version: must be " + std::to_string(kListVersion) + ", got " + version.dump());
  }
  RC_ASSIGN_OR_RETURN(Json number, field(doc, "crl_number", ""));
  if (!number.is_number_unsigned()) {
    return invalid("/crl_number: expected an unsigned integer, got " + number.dump());
  }
  RC_ASSIGN_OR_RETURN(Json revoked, field(doc, "revoked", ""));
  if (!revoked.is_array()) return invalid("/revoked: expected an array");
  RevocationList list;
  list.crl_number_ = number.get<std::uint64_t>();
  for (std::size_t i = 0; i < revoked.size(); ++i) {
    const std::string where = "/revoked/" + std::to_string(i);
    const Json& item = revoked[i];
    if (!item.is_object()) return invalid(where + ": expected an object");
    RC_ASSIGN_OR_RETURN(Json serial, field(item, "serial", where));
    RC_ASSIGN_OR_RETURN(Json cn, field(item, "cn", where));
    RC_ASSIGN_OR_RETURN(Json at, field(item, "revoked_at", where));
    RC_ASSIGN_OR_RETURN(Json reason, field(item, "reason", where));
    if (!serial.is_string()) return invalid(where + "/serial: expected a string");
    if (!cn.is_string() || cn.get<std::string>().empty()) {
      return invalid(where + "/cn: expected a non-empty string");
    }
    if (!at.is_number_integer() || at.get<std::int64_t>() < 0) {
      return invalid(where + "/revoked_at: expected Unix seconds >= 0");
    }
    const auto parsed_reason = reason.is_string()
                                   ? revocation_reason_from_string(reason.get<std::string>())
                                   : std::nullopt;
    if (!parsed_reason) return invalid(where + "/reason: unknown reason " + reason.dump());
    Status added = list.add(RevokedCertificate{serial.get<std::string>(), cn.get<std::string>(),
                                               at.get<std::int64_t>(), *parsed_reason});
    if (!added.ok()) return invalid(where + ": " + added.error().message);
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
