// reclothes-provision ca init, ca controller
#include "commands_common.h"
#include "reclothes/provisioning/files.h"

namespace reclothes::provisioning::cli {

using detail::Ordered;

CliResult<CommandOutput> run_ca_init(const CaInitOptions& options, Environment& env) {
  FleetPki::InitOptions init;
  init.dir = options.dir;
  init.settings = options.settings;
  init.ca.common_name = options.ca_name;
  init.ca.validity_days = options.ca_validity_days;
  init.force = options.force;
  env.console.step("creating the fleet CA, the broker's certificate and configuration in " +
                   std::filesystem::absolute(options.dir).string());
  FleetInitReport report;
  RC_ASSIGN_OR_RETURN(FleetPki pki, detail::local(FleetPki::init(init, env.clock, &report)));
  const FleetSettings& s = pki.settings();

  CommandOutput out;
  out.json["ok"] = true;
  out.json["pki_dir"] = pki.dir().string();
  out.json["ca"] = detail::certificate_json(report.ca, env.clock);
  out.json["ca"]["certificate"] = pki.ca_file().string();
  Ordered broker{{"dir", s.broker_dir.string()},
                 {"conf", report.broker_conf.string()},
                 {"tls_port", s.tls_port},
                 {"bind_address", s.bind_address},
                 {"server_names", s.server_names},
                 {"server_ips", s.server_ips},
                 {"standalone", s.standalone},
                 {"server_certificate", detail::certificate_json(report.server, env.clock)}};
  out.json["broker"] = broker;
  Ordered controllers = Ordered::array();
  for (const auto& info : report.controllers) {
    controllers.push_back(
        Ordered{{"name", info.common_name},
                {"certificate", pki.controller_cert_file(info.common_name).string()},
                {"key", pki.controller_key_file(info.common_name).string()},
                {"not_after", detail::iso_time(info.not_after)}});
  }
  out.json["controllers"] = controllers;
  const std::vector<std::string> next = {
      "keep " + pki.dir().string() +
          " (it holds the CA key) on this workstation and back it up "
          "offline; never copy ca.key to the broker or a box",
      "install " + s.broker_dir.string() +
          " on the broker host (the files must be readable by "
          "user " +
          s.broker_user + ") and start mosquitto with " + report.broker_conf.string(),
      "give each controller replica its controllers/<name>.crt and .key and set mqtt.ca_file, "
      "mqtt.cert_file, mqtt.key_file in its configuration",
      "register boxes: reclothes-provision register --pki " + pki.dir().string() + " ..."};
  out.json["next_steps"] = next;

  out.text = "Fleet PKI ready in " + pki.dir().string() + "\n";
  out.text += "  CA:          " + report.ca.subject + ", serial " + report.ca.serial_hex +
              ", valid until " + detail::iso_time(report.ca.not_after) + "\n";
  out.text += "  broker:      " + report.broker_conf.string() + " (TLS port " +
              std::to_string(s.tls_port) + ", names " + detail::join(s.server_names, ", ") +
              (s.server_names.empty() ? "" : ", ") + detail::join(s.server_ips, ", ") + ")\n";
  for (const auto& info : report.controllers) {
    out.text += "  controller:  " + info.common_name + " -> " +
                pki.controller_cert_file(info.common_name).string() + "\n";
  }
  out.text += "Next:\n";
  for (const auto& n : next) out.text += "  - " + n + "\n";
  return out;
}

// ---- ca controller ----

CliResult<CommandOutput> run_ca_controller(const CaControllerOptions& options, Environment& env) {
  RC_ASSIGN_OR_RETURN(const std::vector<std::string> names,
                      detail::local(controller_replica_names(options.name, options.replicas)));
  RC_ASSIGN_OR_RETURN(FleetPki pki, detail::local(FleetPki::open(options.pki)));
  env.console.step("controller identities " + names.front() + " .. " + names.back() + " in " +
                   pki.dir().string());
  RC_ASSIGN_OR_RETURN(const std::vector<ControllerIdentity> ids,
                      detail::local(pki.ensure_controllers(names, env.clock, options.validity_days,
                                                           options.renew)));

  if (options.out) {
    std::vector<DirFile> files{{"ca.crt", pki.ca().certificate_pem(), false}};
    for (const auto& id : ids) {
      RC_ASSIGN_OR_RETURN(std::string cert,
                          detail::local(read_file(pki.controller_cert_file(id.name))));
      RC_ASSIGN_OR_RETURN(std::string key,
                          detail::local(read_file(pki.controller_key_file(id.name))));
      files.push_back({id.name + ".crt", std::move(cert), false});
      files.push_back({id.name + ".key", std::move(key), true});
    }
    std::error_code ec;
    if (!options.force && std::filesystem::exists(*options.out, ec)) {
      return cli_error(ExitCode::kConflict, ErrorCode::kAlreadyExists,
                       options.out->string() + " already exists",
                       "--force replaces it (it is rewritten whole, with every replica)");
    }
    RC_TRY(detail::local(write_directory_atomic(*options.out, files, true, options.owner)));
    env.console.step("wrote " + std::to_string(files.size()) + " files to " +
                     options.out->string());
  }
  bool reloaded = false;
  if (options.broker_pid) {
    RC_TRY(detail::local(signal_broker_reload(*options.broker_pid)));
    env.console.step("sent SIGHUP to the broker (pid " + std::to_string(*options.broker_pid) + ")");
    reloaded = true;
  }

  CommandOutput out;
  out.json["ok"] = true;
  out.json["pki_dir"] = pki.dir().string();
  Ordered list = Ordered::array();
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const auto& id = ids[i];
    Ordered entry{{"ordinal", i},
                  {"name", id.name},
                  {"client_id", id.name},
                  {"issued", id.issued},
                  {"certificate", pki.controller_cert_file(id.name).string()},
                  {"key", pki.controller_key_file(id.name).string()}};
    entry["certificate_info"] = detail::certificate_json(id.certificate, env.clock);
    list.push_back(std::move(entry));
  }
  out.json["controllers"] = list;
  out.json["acl"] = (pki.settings().broker_dir / "reclothes.acl").string();
  if (options.out) out.json["out"] = std::filesystem::absolute(*options.out).string();
  out.json["broker_reloaded"] = reloaded;
  std::vector<std::string> next;
  if (!reloaded) {
    next.push_back("install " + pki.settings().broker_dir.string() +
                   " on the broker host again and reload it (SIGHUP): its ACL now grants the "
                   "controller role to these names");
  }
  if (options.out) {
    next.push_back("kubectl create secret generic reclothes-controller-mqtt --from-file=" +
                   options.out->string() +
                   " --dry-run=client -o yaml | kubectl apply -f - (docs/deploy.md)");
  }
  next.push_back(
      "each replica sets mqtt.client_id to its name and mqtt.cert_file/key_file to "
      "<name>.crt/.key; the StatefulSet of deploy/k8s does this from its ordinal");
  out.json["next_steps"] = next;

  detail::Table table({"ordinal", "client id", "certificate", "valid until"});
  for (std::size_t i = 0; i < ids.size(); ++i) {
    table.add({std::to_string(i), ids[i].name,
               ids[i].issued ? "issued, serial " + ids[i].certificate.serial_hex
                             : "kept, serial " + ids[i].certificate.serial_hex,
               detail::iso_time(ids[i].certificate.not_after)});
  }
  out.text = "Controller identities in " + pki.dir().string() + "/controllers\n" +
             table.render("  ") + "Next:\n";
  for (const auto& n : next) out.text += "  - " + n + "\n";
  return out;
}

}  // namespace reclothes::provisioning::cli
