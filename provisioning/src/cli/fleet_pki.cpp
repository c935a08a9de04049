#include "reclothes/provisioning/cli/fleet_pki.h"

#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "reclothes/common/json_reader.h"
#include "reclothes/common/token.h"
#include "reclothes/provisioning/files.h"

namespace reclothes::provisioning::cli {
namespace {

using json::child;
using json::field_error;
using json::Json;

constexpr char kSettingsFile[] = "fleet.json";

Status make_dir(const std::filesystem::path& dir, std::filesystem::perms perms) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return make_error(ErrorCode::kIo,
                      "cannot create directory " + dir.string() + ": " + ec.message());
  }
  std::filesystem::permissions(dir, perms, ec);
  if (ec) {
    return make_error(ErrorCode::kIo,
                      "cannot set the permissions of " + dir.string() + ": " + ec.message());
  }
  return ok_status();
}

constexpr auto kPrivateDir = std::filesystem::perms::owner_all;
constexpr auto kPublicDir = std::filesystem::perms::owner_all | std::filesystem::perms::group_read |
                            std::filesystem::perms::group_exec |
                            std::filesystem::perms::others_read |
                            std::filesystem::perms::others_exec;

Status check_settings(const FleetSettings& s) {
  if (s.tls_port < 1 || s.tls_port > 65535) {
    return make_error(ErrorCode::kInvalidArgument, "the broker's TLS port must be 1..65535");
  }
  if (s.server_names.empty() && s.server_ips.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "the broker certificate needs at least one --server-name or --server-ip "
                      "(the host boxes put in their ssl:// URI)");
  }
  for (const auto& name : s.controllers) {
    if (!is_valid_controller_name(name)) {
      return make_error(ErrorCode::kInvalidArgument,
                        "controller name \"" + name +
                            "\" is invalid: 1..64 of [A-Za-z0-9_.-] with at least one '.', "
                            "e.g. controller.eu-1 (a name without '.' could be a box id)");
    }
  }
  if (s.box_validity_days < 1 || s.box_validity_days > kMaxValidityDays) {
    return make_error(ErrorCode::kInvalidArgument, "box certificate validity must be 1.." +
                                                       std::to_string(kMaxValidityDays) + " days");
  }
  return ok_status();
}

Result<std::vector<std::string>> read_strings(const Json& v, std::string_view p) {
  if (!v.is_array()) return json::expected_error(p, "an array of strings", v);
  std::vector<std::string> out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    RC_ASSIGN_OR_RETURN(std::string s, json::read_string(v[i], child(p, i)));
    out.push_back(std::move(s));
  }
  return out;
}

Status read_broker_settings(const Json& b, std::string_view p, FleetSettings& s) {
  RC_TRY(json::check_object(b, p,
                            {"dir", "bind_address", "tls_port", "tls_version", "user", "standalone",
                             "persistence_dir", "server_names", "server_ips"}));
  RC_ASSIGN_OR_RETURN(const std::string dir, json::read_field(b, p, "dir", json::read_string));
  s.broker_dir = dir;
  if (!s.broker_dir.is_absolute()) return field_error(child(p, "dir"), "must be absolute");
  RC_ASSIGN_OR_RETURN(s.bind_address, json::read_field(b, p, "bind_address", json::read_string));
  RC_ASSIGN_OR_RETURN(s.tls_port,
                      json::read_field(b, p, "tls_port", json::integer_in<int>(1, 65535)));
  RC_ASSIGN_OR_RETURN(s.tls_version, json::read_field(b, p, "tls_version", json::read_string));
  RC_ASSIGN_OR_RETURN(s.broker_user, json::read_field(b, p, "user", json::read_string));
  RC_TRY(json::read_optional(b, p, "standalone", s.standalone, json::read_bool));
  std::optional<std::string> persistence;
  RC_TRY(json::read_optional(b, p, "persistence_dir", persistence, json::read_string));
  if (persistence) s.persistence_dir = *persistence;
  RC_TRY(json::read_optional(b, p, "server_names", s.server_names, read_strings));
  RC_TRY(json::read_optional(b, p, "server_ips", s.server_ips, read_strings));
  return ok_status();
}

}  // namespace

std::string render_fleet_settings(const FleetSettings& s) {
  nlohmann::ordered_json j;
  j["version"] = 1;
  j["broker"] = nlohmann::ordered_json{{"dir", s.broker_dir.string()},
                                       {"bind_address", s.bind_address},
                                       {"tls_port", s.tls_port},
                                       {"tls_version", s.tls_version},
                                       {"user", s.broker_user},
                                       {"standalone", s.standalone},
                                       {"persistence_dir", s.persistence_dir.string()},
                                       {"server_names", s.server_names},
                                       {"server_ips", s.server_ips}};
  j["controllers"] = s.controllers;
  j["box_validity_days"] = s.box_validity_days;
  return j.dump(2) + "\n";
}

Result<FleetSettings> parse_fleet_settings(std::string_view json_text) {
  auto parsed = json::parse_strict(json_text);
  if (!parsed.ok()) return std::move(parsed).error().with_context(kSettingsFile);
  const Json& j = *parsed;
  const std::string_view top;
  RC_TRY(json::check_object(j, top, {"version", "broker", "controllers", "box_validity_days"}));
  RC_TRY(json::read_field(j, top, "version", json::integer_in<int>(1, 1)));
  FleetSettings s;
  // The file is what `ca init` wrote: a list it leaves out is empty, not the default.
  s.server_names.clear();
  s.server_ips.clear();
  s.controllers.clear();
  RC_ASSIGN_OR_RETURN(const Json* broker, json::require(j, top, "broker"));
  RC_TRY(read_broker_settings(*broker, "/broker", s));
  RC_TRY(json::read_optional(j, top, "controllers", s.controllers, read_strings));
  RC_TRY(json::read_optional(j, top, "box_validity_days", s.box_validity_days,
                             json::integer_in<std::int64_t>(1, kMaxValidityDays)));
  RC_TRY(check_settings(s));
  return s;
}

Result<FleetPki> FleetPki::init(const InitOptions& options, const Clock& clock,
                                FleetInitReport* report) {
  if (options.dir.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "the PKI directory must be given");
  }
  const std::filesystem::path dir = std::filesystem::absolute(options.dir);
  FleetSettings settings = options.settings;
  if (settings.broker_dir.empty()) settings.broker_dir = dir / "broker";
  settings.broker_dir = std::filesystem::absolute(settings.broker_dir);
  RC_TRY(check_settings(settings));

  std::error_code ec;
  if (!options.force && (std::filesystem::exists(dir / "ca.key", ec) ||
                         std::filesystem::exists(dir / "ca.crt", ec))) {
    return make_error(ErrorCode::kAlreadyExists,
                      dir.string() +
                          " already holds a fleet CA; refusing to replace it, because every box "
                          "and controller certificate it issued would stop working. --force "
                          "replaces it (only for a new fleet).");
  }
  RC_TRY(make_dir(dir, kPrivateDir));
  for (const char* sub : {"boxes", "issued", "controllers"}) {
    RC_TRY(make_dir(dir / sub, kPrivateDir));
  }
  RC_TRY(make_dir(settings.broker_dir, kPublicDir));

  RC_ASSIGN_OR_RETURN(CertificateAuthority ca, CertificateAuthority::create(options.ca, clock));
  RC_TRY(ca.save(dir / "ca.crt", dir / "ca.key"));
  RC_TRY(write_file_atomic(dir / kSettingsFile, render_fleet_settings(settings)));

  FleetPki pki(dir, settings, std::move(ca));
  const std::optional<std::string> owner = settings.broker_user;

  // The broker's identity, with the names boxes and controllers use in their ssl:// URIs.
  RC_ASSIGN_OR_RETURN(std::string server_key, generate_private_key_pem());
  ServerCertificateRequest request;
  request.common_name =
      !settings.server_names.empty() ? settings.server_names.front() : settings.server_ips.front();
  request.dns_names = settings.server_names;
  request.ip_addresses = settings.server_ips;
  RC_ASSIGN_OR_RETURN(
      IssuedCertificate server,
      pki.ca_.issue_server_certificate(request, server_key, kDefaultServerValidityDays, clock));
  RC_TRY(write_file_atomic(settings.broker_dir / "server.key", server_key, private_file(owner)));
  RC_TRY(write_file_atomic(settings.broker_dir / "server.crt", server.certificate_pem,
                           public_file(owner)));

  std::vector<CertificateInfo> controllers;
  for (const auto& name : settings.controllers) {
    RC_ASSIGN_OR_RETURN(std::string key, generate_private_key_pem());
    RC_ASSIGN_OR_RETURN(
        IssuedCertificate cert,
        pki.ca_.issue_controller_certificate(name, key, kDefaultControllerValidityDays, clock));
    RC_TRY(write_file_atomic(pki.controller_key_file(name), key, private_file()));
    RC_TRY(write_file_atomic(pki.controller_cert_file(name), cert.certificate_pem));
    RC_TRY(
        write_file_atomic(dir / "issued" / (cert.info.serial_hex + ".crt"), cert.certificate_pem));
    controllers.push_back(cert.info);
  }

  // A new CA starts with an empty revocation list (entries of a replaced CA mean nothing).
  RC_TRY(RevocationList{}.save(pki.list_file()));
  RC_TRY(publish_crl(pki.ca_, pki.list_file(), pki.crl_file(), clock));
  RC_TRY(pki.sync_broker_files());

  if (report != nullptr) {
    report->ca = pki.ca_.info();
    report->server = server.info;
    report->controllers = std::move(controllers);
    report->broker_conf = pki.broker_conf_file();
  }
  return pki;
}

Result<FleetPki> FleetPki::open(const std::filesystem::path& dir_in) {
  const std::filesystem::path dir = std::filesystem::absolute(dir_in);
  std::error_code ec;
  if (!std::filesystem::exists(dir / "ca.crt", ec)) {
    return make_error(ErrorCode::kNotFound,
                      dir.string() +
                          " holds no fleet CA (no ca.crt); run `reclothes-provision ca "
                          "init --dir " +
                          dir.string() +
                          "` once per fleet, or point --pki at the fleet's PKI "
                          "directory");
  }
  RC_ASSIGN_OR_RETURN(std::string settings_text, read_file(dir / kSettingsFile));
  auto settings = parse_fleet_settings(settings_text);
  if (!settings.ok())
    return std::move(settings).error().with_context((dir / kSettingsFile).string());
  RC_ASSIGN_OR_RETURN(CertificateAuthority ca,
                      CertificateAuthority::load(dir / "ca.crt", dir / "ca.key"));
  return FleetPki(dir, std::move(settings).value(), std::move(ca));
}

std::filesystem::path FleetPki::box_certificate_file(const std::string& box_id) const {
  return dir_ / "boxes" / (box_id + ".crt");
}
std::filesystem::path FleetPki::controller_cert_file(const std::string& name) const {
  return dir_ / "controllers" / (name + ".crt");
}
std::filesystem::path FleetPki::controller_key_file(const std::string& name) const {
  return dir_ / "controllers" / (name + ".key");
}

Result<BoxCredentials> FleetPki::issue_box(const std::string& box_id, const Clock& clock,
                                           std::optional<std::int64_t> validity_days) const {
  if (!is_valid_box_id(box_id)) {
    return make_error(ErrorCode::kInvalidArgument,
                      "box id \"" + box_id + "\" is invalid: 1..32 of [A-Za-z0-9_-]");
  }
  BoxCredentials out;
  RC_ASSIGN_OR_RETURN(out.private_key_pem, generate_private_key_pem());
  RC_ASSIGN_OR_RETURN(
      out.certificate,
      ca_.issue_box_certificate(box_id, out.private_key_pem,
                                validity_days.value_or(settings_.box_validity_days), clock));
  return out;
}

Status FleetPki::record_box_certificate(const std::string& box_id,
                                        const IssuedCertificate& cert) const {
  RC_TRY(
      write_file_atomic(dir_ / "issued" / (cert.info.serial_hex + ".crt"), cert.certificate_pem));
  return write_file_atomic(box_certificate_file(box_id), cert.certificate_pem);
}

Result<std::optional<std::string>> FleetPki::box_certificate(const std::string& box_id) const {
  if (!is_valid_box_id(box_id)) {
    return make_error(ErrorCode::kInvalidArgument, "box id \"" + box_id + "\" is invalid");
  }
  auto text = read_file(box_certificate_file(box_id));
  if (!text.ok()) {
    if (text.error().code == ErrorCode::kNotFound) return std::optional<std::string>();
    return std::move(text).error();
  }
  return std::optional<std::string>(std::move(text).value());
}

Result<std::vector<std::string>> controller_replica_names(const std::string& base, int replicas) {
  if (replicas < 1 || replicas > kMaxControllerReplicas) {
    return make_error(ErrorCode::kInvalidArgument, "the number of replicas must be 1.." +
                                                       std::to_string(kMaxControllerReplicas));
  }
  std::vector<std::string> names;
  for (int i = 0; i < replicas; ++i) {
    std::string name = base + "-" + std::to_string(i);
    if (!is_valid_controller_name(name)) {
      return make_error(ErrorCode::kInvalidArgument,
                        "controller name \"" + name +
                            "\" is invalid: the base name must be 1..60 of [A-Za-z0-9_.-] with at "
                            "least one '.', e.g. controller.k8s (a name without '.' could be a "
                            "box id)");
    }
    names.push_back(std::move(name));
  }
  return names;
}

Result<std::vector<ControllerIdentity>> FleetPki::ensure_controllers(
    const std::vector<std::string>& names, const Clock& clock,
    std::optional<std::int64_t> validity_days, bool renew) {
  for (const auto& name : names) {
    if (!is_valid_controller_name(name)) {
      return make_error(ErrorCode::kInvalidArgument,
                        "controller name \"" + name +
                            "\" is invalid: 1..64 of [A-Za-z0-9_.-] with at least one '.'");
    }
  }
  const std::int64_t days = validity_days.value_or(kDefaultControllerValidityDays);
  std::vector<ControllerIdentity> out;
  std::vector<std::string> superseded;
  for (const auto& name : names) {
    ControllerIdentity id{name, {}, false};
    std::error_code ec;
    const bool exists = std::filesystem::exists(controller_cert_file(name), ec) &&
                        std::filesystem::exists(controller_key_file(name), ec);
    if (exists) {
      RC_ASSIGN_OR_RETURN(std::string pem, read_file(controller_cert_file(name)));
      RC_ASSIGN_OR_RETURN(id.certificate, inspect_certificate(pem));
      if (renew) superseded.push_back(std::move(pem));
    }
    if (!exists || renew) {
      RC_ASSIGN_OR_RETURN(std::string key, generate_private_key_pem());
      RC_ASSIGN_OR_RETURN(IssuedCertificate cert,
                          ca_.issue_controller_certificate(name, key, days, clock));
      RC_TRY(write_file_atomic(dir_ / "issued" / (cert.info.serial_hex + ".crt"),
                               cert.certificate_pem));
      // The key first: a certificate on disk always has its key beside it.
      RC_TRY(write_file_atomic(controller_key_file(name), key, private_file()));
      RC_TRY(write_file_atomic(controller_cert_file(name), cert.certificate_pem));
      id.certificate = cert.info;
      id.issued = true;
    }
    out.push_back(std::move(id));
  }
  bool listed_all = true;
  for (const auto& name : names) {
    if (std::find(settings_.controllers.begin(), settings_.controllers.end(), name) ==
        settings_.controllers.end()) {
      settings_.controllers.push_back(name);
      listed_all = false;
    }
  }
  if (!listed_all)
    RC_TRY(write_file_atomic(dir_ / kSettingsFile, render_fleet_settings(settings_)));
  for (const auto& pem : superseded) {
    RC_TRY(revoke_certificate(ca_, pem, RevocationReason::kSuperseded, list_file(), crl_file(),
                              clock));
  }
  RC_TRY(sync_broker_files());
  return out;
}

Result<RevocationList> FleetPki::revocations() const {
  return RevocationList::load_or_empty(list_file());
}

Status FleetPki::revoke(const std::string& certificate_pem, RevocationReason reason,
                        const Clock& clock) const {
  RC_TRY(revoke_certificate(ca_, certificate_pem, reason, list_file(), crl_file(), clock));
  return sync_broker_files();
}

BrokerConfig FleetPki::broker_config(std::vector<std::string> decommissioned) const {
  BrokerConfig c;
  c.bind_address = settings_.bind_address;
  c.tls_port = settings_.tls_port;
  c.tls_version = settings_.tls_version;
  c.ca_file = settings_.broker_dir / "ca.crt";
  c.cert_file = settings_.broker_dir / "server.crt";
  c.key_file = settings_.broker_dir / "server.key";
  c.crl_file = settings_.broker_dir / "crl.pem";
  c.acl_file = settings_.broker_dir / "reclothes.acl";
  c.controllers = settings_.controllers;
  c.decommissioned_boxes = std::move(decommissioned);
  c.standalone = settings_.standalone;
  c.persistence_dir = settings_.persistence_dir;
  return c;
}

Status FleetPki::sync_broker_files() const {
  RC_ASSIGN_OR_RETURN(RevocationList list, revocations());
  RC_ASSIGN_OR_RETURN(std::string crl, read_file(crl_file()));
  const std::optional<std::string> owner = settings_.broker_user;
  RC_TRY(write_file_atomic(settings_.broker_dir / "ca.crt", ca_.certificate_pem(),
                           public_file(owner)));
  RC_TRY(write_file_atomic(settings_.broker_dir / "crl.pem", crl, public_file(owner)));
  return write_broker_config(broker_config(list.decommissioned_box_ids()), broker_conf_file(),
                             owner);
}

Status signal_broker_reload(pid_t pid) {
  if (pid <= 1) {
    return make_error(ErrorCode::kInvalidArgument,
                      "--broker-pid " + std::to_string(pid) + " is not a broker's process id");
  }
  if (::kill(pid, SIGHUP) != 0) {
    const int err = errno;
    const ErrorCode code = err == ESRCH   ? ErrorCode::kNotFound
                           : err == EPERM ? ErrorCode::kPermissionDenied
                                          : ErrorCode::kIo;
    return make_error(code, "cannot send SIGHUP to the broker (pid " + std::to_string(pid) +
                                "): " + std::strerror(err));
  }
  return ok_status();
}

}  // namespace reclothes::provisioning::cli
