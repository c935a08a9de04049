// The provisioning workstation's PKI directory: the fleet CA, the revocation list and CRL, a copy
// of every certificate issued to a box, the controllers' identities, and the broker's files.
//
//   PKI_DIR/                      (0700)
//     fleet.json                  broker and fleet settings chosen at `ca init`
//     ca.crt, ca.key (0600)       the fleet CA; the key never leaves this directory
//     revocations.json, crl.pem   RevocationList and the CRL made from it
//     boxes/<box id>.crt          the certificate each box holds now
//     issued/<serial>.crt         every certificate ever issued (audit trail)
//     controllers/<name>.crt/.key controller identities (clientAuth, CN with a '.')
//   BROKER_DIR/ (default PKI_DIR/broker; --broker-dir puts it where the broker reads it)
//     ca.crt, server.crt, server.key (0600, owner = broker user), crl.pem,
//     reclothes.acl, reclothes.conf
//
// Every file is written with write_file_atomic. docs/provisioning.md describes the directory and
// docs/broker-security.md the certificates.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "reclothes/common/clock.h"
#include "reclothes/common/result.h"
#include "reclothes/provisioning/broker_config.h"
#include "reclothes/provisioning/pki.h"

namespace reclothes::provisioning::cli {

struct FleetSettings {
  std::filesystem::path broker_dir;  // absolute
  std::string bind_address = "0.0.0.0";
  int tls_port = kDefaultTlsPort;
  std::string tls_version = "tlsv1.2";
  std::string broker_user = "mosquitto";  // owner of the broker's files when run as root
  bool standalone = true;                 // false: only listener + security lines (conf.d)
  std::filesystem::path persistence_dir = "/var/lib/mosquitto";
  std::vector<std::string> server_names = {"localhost"};
  std::vector<std::string> server_ips = {"127.0.0.1"};
  std::vector<std::string> controllers = {"controller.eu-1"};
  std::int64_t box_validity_days = kDefaultBoxValidityDays;
};

// What `ca init` produced, for the report.
struct FleetInitReport {
  CertificateInfo ca;
  CertificateInfo server;
  std::vector<CertificateInfo> controllers;
  std::filesystem::path broker_conf;
};

// A controller replica's broker identity (`ca controller`). The name is the certificate's CN, so
// the MQTT username the ACL knows, and also the replica's MQTT client id (unique per replica: two
// replicas with one id would take each other's connection over).
struct ControllerIdentity {
  std::string name;
  CertificateInfo certificate;
  bool issued = false;  // false: it existed and was kept
};

// The identities of `replicas` replicas of a controller set: "<base>-0" .. "<base>-<replicas-1>",
// the suffix being the Kubernetes StatefulSet ordinal. kInvalidArgument (naming the rule) for a
// base that would make an invalid controller name, or a count outside 1..kMaxControllerReplicas.
inline constexpr int kMaxControllerReplicas = 64;
Result<std::vector<std::string>> controller_replica_names(const std::string& base, int replicas);

// A new box identity: key, certificate, and where it was recorded.
struct BoxCredentials {
  std::string private_key_pem;
  IssuedCertificate certificate;
};

class FleetPki {
 public:
  struct InitOptions {
    std::filesystem::path dir;
    FleetSettings settings;  // broker_dir empty: dir/broker
    CertificateAuthority::Options ca;
    bool force = false;  // replace an existing CA (every issued certificate becomes useless)
  };

  // Creates the directory tree, the CA, the broker's server certificate (SANs from the settings),
  // one certificate per controller, an empty revocation list and CRL, and the broker files.
  // Refuses (kAlreadyExists) when dir already holds a CA, unless force. kInvalidArgument for bad
  // settings (controller names without '.', a port outside 1..65535, no server name or address).
  static Result<FleetPki> init(const InitOptions& options, const Clock& clock,
                               FleetInitReport* report = nullptr);
  // Opens an existing directory: settings and CA. kNotFound (telling to run `ca init`) if there is
  // no CA; the CA's own errors otherwise.
  static Result<FleetPki> open(const std::filesystem::path& dir);

  const std::filesystem::path& dir() const { return dir_; }
  const FleetSettings& settings() const { return settings_; }
  const CertificateAuthority& ca() const { return ca_; }
  std::filesystem::path ca_file() const { return dir_ / "ca.crt"; }
  std::filesystem::path list_file() const { return dir_ / "revocations.json"; }
  std::filesystem::path crl_file() const { return dir_ / "crl.pem"; }
  std::filesystem::path box_certificate_file(const std::string& box_id) const;
  std::filesystem::path controller_cert_file(const std::string& name) const;
  std::filesystem::path controller_key_file(const std::string& name) const;
  std::filesystem::path broker_conf_file() const { return settings_.broker_dir / "reclothes.conf"; }

  // A new P-256 key and a box certificate for it (validity: the settings' box_validity_days
  // unless given). Nothing is written.
  Result<BoxCredentials> issue_box(const std::string& box_id, const Clock& clock,
                                   std::optional<std::int64_t> validity_days = std::nullopt) const;
  // Records a certificate the box now holds: boxes/<id>.crt (replaced) and issued/<serial>.crt.
  Status record_box_certificate(const std::string& box_id, const IssuedCertificate& cert) const;
  // The recorded certificate of a box, or nullopt if none was recorded.
  Result<std::optional<std::string>> box_certificate(const std::string& box_id) const;

  // Gives each named controller an identity: a new key and certificate in controllers/ (and a copy
  // in issued/) unless it already has one, which is kept unless `renew` (then the old certificate
  // is revoked as superseded once the new one is written). Names not yet in fleet.json are added,
  // and the broker files rewritten so that the ACL grants them the controller role; the broker
  // must then reload (SIGHUP). kInvalidArgument for an invalid name.
  Result<std::vector<ControllerIdentity>> ensure_controllers(
      const std::vector<std::string>& names, const Clock& clock,
      std::optional<std::int64_t> validity_days = std::nullopt, bool renew = false);

  Result<RevocationList> revocations() const;
  // revoke_certificate (list + CRL), then sync_broker_files. Idempotent: a certificate already on
  // the list is not added again, and the broker files are rewritten.
  Status revoke(const std::string& certificate_pem, RevocationReason reason,
                const Clock& clock) const;
  // Writes the broker directory from the current state: CA certificate, CRL and the
  // configuration + ACL (decommissioned boxes denied). The server key and certificate are left
  // alone. The broker must then reload (SIGHUP).
  Status sync_broker_files() const;

 private:
  FleetPki(std::filesystem::path dir, FleetSettings settings, CertificateAuthority ca)
      : dir_(std::move(dir)), settings_(std::move(settings)), ca_(std::move(ca)) {}
  BrokerConfig broker_config(std::vector<std::string> decommissioned) const;

  std::filesystem::path dir_;
  FleetSettings settings_;
  CertificateAuthority ca_;
};

// The fleet.json text and its parser (strict; kInvalidArgument names the field).
std::string render_fleet_settings(const FleetSettings& settings);
Result<FleetSettings> parse_fleet_settings(std::string_view json_text);

// Sends SIGHUP to a running broker so it re-reads the CRL and ACL. kInvalidArgument for a pid
// <= 1, kNotFound if no such process, kPermissionDenied if not ours to signal.
Status signal_broker_reload(pid_t pid);

}  // namespace reclothes::provisioning::cli
