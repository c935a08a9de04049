// reclothes-provision decommission: the controller refuses the box from now on, its certificate
// is revoked, the broker ACL denies its id, and (with --broker-pid) the broker reloads. Every step
// is safe to repeat, so a run that failed half-way is finished by running it again.
#include "commands_common.h"
#include "reclothes/common/token.h"
#include "reclothes/provisioning/files.h"

namespace reclothes::provisioning::cli {

using detail::Ordered;

CliResult<CommandOutput> run_decommission(const DecommissionOptions& o, Environment& env) {
  Console& console = env.console;
  if (!is_valid_box_id(o.box_id)) {
    return cli_error(ExitCode::kUsage, ErrorCode::kInvalidArgument,
                     "--box-id \"" + o.box_id + "\" is invalid: 1..32 of [A-Za-z0-9_-]");
  }
  // Local prerequisites first: without the certificate the broker could not be told.
  RC_ASSIGN_OR_RETURN(FleetPki pki, detail::local(FleetPki::open(o.pki)));
  std::string pem;
  if (o.cert) {
    RC_ASSIGN_OR_RETURN(pem, detail::local(read_file(*o.cert)));
  } else {
    RC_ASSIGN_OR_RETURN(std::optional<std::string> recorded,
                        detail::local(pki.box_certificate(o.box_id)));
    if (!recorded) {
      return cli_error(ExitCode::kLocal, ErrorCode::kNotFound,
                       "the PKI has no certificate recorded for box " + o.box_id + " (" +
                           pki.box_certificate_file(o.box_id).string() + ")",
                       "give the box's certificate with --cert FILE");
    }
    pem = std::move(*recorded);
  }
  RC_ASSIGN_OR_RETURN(CertificateInfo info, detail::local(inspect_certificate(pem)));
  if (info.common_name != o.box_id) {
    return cli_error(ExitCode::kUsage, ErrorCode::kInvalidArgument,
                     "the certificate belongs to " + info.common_name + ", not to box " + o.box_id);
  }

  RC_ASSIGN_OR_RETURN(auto client, detail::login(o.controller, env));
  console.step("decommissioning box " + o.box_id + " at the controller");
  RC_ASSIGN_OR_RETURN(
      ApiReply reply,
      client->post("/internal/v1/boxes/" + o.box_id + "/decommission", nlohmann::json::object()));
  bool already = false;
  if (reply.status == 409 && reply.error_code() == "box_decommissioned") {
    already = true;
    console.step("the controller had already decommissioned box " + o.box_id);
  } else {
    RC_TRY(ControllerClient::expect(std::move(reply), {200}, "decommissioning box " + o.box_id));
  }
  client->logout();

  console.step("revoking certificate " + info.serial_hex +
               " (cessation of operation), regenerating the CRL and the broker ACL");
  RC_TRY(detail::local(pki.revoke(pem, RevocationReason::kCessationOfOperation, env.clock)));
  bool reloaded = false;
  if (o.broker_pid) {
    RC_TRY(detail::local(signal_broker_reload(*o.broker_pid)));
    console.step("sent SIGHUP to the broker (pid " + std::to_string(*o.broker_pid) + ")");
    reloaded = true;
  }

  std::vector<std::string> next;
  if (!reloaded) {
    next.push_back("copy " + pki.settings().broker_dir.string() +
                   "/{crl.pem,reclothes.acl} to the broker and send it SIGHUP (kill -HUP "
                   "<mosquitto pid>): from then on the box's certificate is refused and its id "
                   "denied");
  }
  next.push_back("the box id " + o.box_id + " is retired: a replacement box needs a new id");
  CommandOutput out;
  out.json["ok"] = true;
  out.json["box_id"] = o.box_id;
  out.json["controller"] = already ? "already_decommissioned" : "decommissioned";
  out.json["revoked_certificate"] = info.serial_hex;
  out.json["crl"] = pki.crl_file().string();
  out.json["acl"] = (pki.settings().broker_dir / "reclothes.acl").string();
  out.json["broker_reloaded"] = reloaded;
  out.json["next_steps"] = next;
  out.text = "Box " + o.box_id + " decommissioned; certificate " + info.serial_hex +
             " revoked; the broker ACL denies " + o.box_id + "\n";
  out.text += "Next:\n";
  for (const auto& n : next) out.text += "  - " + n + "\n";
  return out;
}

}  // namespace reclothes::provisioning::cli
