// reclothes-provision rotate-credentials: a new key and certificate for a box, in a crash-safe
// order:
//   1. new key and certificate written under new names next to the configuration
//   2. the configuration switched to them in one atomic rename (the commit point)
//   3. the old certificate revoked (superseded), CRL and broker files regenerated
//   4. the old key and certificate deleted
// A crash before 2 leaves the old identity in use (and two unused files); after 2 the box uses
// the new one at its next start, and a rerun of 3 is harmless.
#include <nlohmann/json.hpp>

#include "commands_common.h"
#include "reclothes/provisioning/files.h"

namespace reclothes::provisioning::cli {

using detail::Ordered;

CliResult<CommandOutput> run_rotate(const RotateOptions& o, Environment& env) {
  Console& console = env.console;
  RC_ASSIGN_OR_RETURN(FleetPki pki, detail::local(FleetPki::open(o.pki)));
  RC_ASSIGN_OR_RETURN(std::string text, detail::local(read_file(o.config)));
  RC_ASSIGN_OR_RETURN(BoxFile file, detail::local(parse_box_file(text)));
  // The file is rewritten with nlohmann's order-preserving type, so everything the CLI does not
  // model (timeouts, client_id, ...) stays exactly as it was.
  Ordered doc = Ordered::parse(text);
  if (file.broker.cert.empty() || file.broker.key.empty()) {
    return cli_error(ExitCode::kLocal, ErrorCode::kFailedPrecondition,
                     o.config.string() + " has no broker.tls.cert/key: nothing to rotate");
  }
  RC_ASSIGN_OR_RETURN(RevocationList list, detail::local(pki.revocations()));
  if (list.is_decommissioned(file.box_id)) {
    return cli_error(ExitCode::kConflict, ErrorCode::kFailedPrecondition,
                     "box " + file.box_id + " was decommissioned; it gets no new credentials");
  }
  const auto old_cert_path = resolve(o.config, file.broker.cert);
  const auto old_key_path = resolve(o.config, file.broker.key);
  RC_ASSIGN_OR_RETURN(std::string old_pem, detail::local(read_file(old_cert_path)));
  RC_ASSIGN_OR_RETURN(CertificateInfo old_info,
                      detail::local(inspect_certificate(old_pem),
                                    "the configuration's certificate is not readable"));
  if (old_info.common_name != file.box_id) {
    return cli_error(ExitCode::kLocal, ErrorCode::kFailedPrecondition,
                     old_cert_path.string() + " belongs to " + old_info.common_name +
                         ", not to box " + file.box_id);
  }
  const bool ours = old_info.issuer == pki.ca().info().subject;
  if (!ours) {
    console.warn("the current certificate was issued by " + old_info.issuer +
                 ", not by this fleet CA: it cannot be revoked here");
  }

  console.step("generating a new key and certificate for box " + file.box_id);
  RC_ASSIGN_OR_RETURN(BoxCredentials creds,
                      detail::local(pki.issue_box(file.box_id, env.clock, o.validity_days)));
  const std::string stem = "box-" + creds.certificate.info.serial_hex.substr(0, 8);
  const std::filesystem::path dir = std::filesystem::absolute(o.config).parent_path();
  const std::filesystem::path new_key = dir / (stem + ".key");
  const std::filesystem::path new_cert = dir / (stem + ".crt");
  console.step("writing " + new_key.string() + " (0600) and " + new_cert.string());
  RC_TRY(detail::local(write_file_atomic(new_key, creds.private_key_pem, private_file(o.owner))));
  RC_TRY(detail::local(
      write_file_atomic(new_cert, creds.certificate.certificate_pem, public_file(o.owner))));

  doc["broker"]["tls"]["cert"] = stem + ".crt";
  doc["broker"]["tls"]["key"] = stem + ".key";
  console.step("switching " + o.config.string() + " to the new credentials");
  RC_TRY(detail::local(write_file_atomic(o.config, doc.dump(2) + "\n", public_file(o.owner))));
  RC_TRY(detail::local(pki.record_box_certificate(file.box_id, creds.certificate)));

  bool revoked = false;
  if (ours) {
    console.step("revoking the old certificate " + old_info.serial_hex +
                 " (superseded) and regenerating the CRL and broker files");
    RC_TRY(detail::local(pki.revoke(old_pem, RevocationReason::kSuperseded, env.clock)));
    revoked = true;
  }
  for (const auto& old : {old_cert_path, old_key_path}) {
    if (old != new_cert && old != new_key) {
      std::error_code ec;
      std::filesystem::remove(old, ec);
      if (ec) console.warn("could not delete " + old.string() + ": " + ec.message());
    }
  }
  bool reloaded = false;
  if (revoked && o.broker_pid) {
    RC_TRY(detail::local(signal_broker_reload(*o.broker_pid)));
    console.step("sent SIGHUP to the broker (pid " + std::to_string(*o.broker_pid) + ")");
    reloaded = true;
  }

  std::vector<std::string> next = {
      "restart reclothes-box on the box: it reads its credentials at start-up"};
  if (revoked && !reloaded) {
    next.push_back("copy " + pki.settings().broker_dir.string() +
                   "/crl.pem to the broker and send it SIGHUP (kill -HUP <mosquitto pid>): "
                   "from then on the old certificate is refused");
  }
  CommandOutput out;
  out.json["ok"] = true;
  out.json["box_id"] = file.box_id;
  out.json["certificate"] = detail::certificate_json(creds.certificate.info, env.clock);
  out.json["files"] = Ordered{{"key", new_key.string()}, {"certificate", new_cert.string()}};
  out.json["old_certificate"] = Ordered{{"serial", old_info.serial_hex}, {"revoked", revoked}};
  out.json["broker_reloaded"] = reloaded;
  out.json["next_steps"] = next;
  out.text = "New credentials for box " + file.box_id + ": serial " +
             creds.certificate.info.serial_hex + ", valid until " +
             detail::iso_time(creds.certificate.info.not_after) + "\n";
  out.text += "  old certificate " + old_info.serial_hex +
              (revoked ? " revoked (superseded)\n" : " not revoked (another CA)\n");
  out.text += "Next:\n";
  for (const auto& n : next) out.text += "  - " + n + "\n";
  return out;
}

}  // namespace reclothes::provisioning::cli
