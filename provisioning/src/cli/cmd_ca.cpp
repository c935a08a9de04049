// reclothes-provision ca init
#include "commands_common.h"

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

}  // namespace reclothes::provisioning::cli
