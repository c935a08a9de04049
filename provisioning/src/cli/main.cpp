// reclothes-provision: the technician's CLI (docs/provisioning.md).
//
//   reclothes-provision [--json] [--verbose] <command> [options]
//     ca init              the fleet CA, broker certificate and configuration (once per fleet)
//     register             a box at the controller + its identity + its configuration directory
//     show                 one box (config, certificate, controller view) or the fleet (--all)
//     rotate-credentials   a new key and certificate for a box; the old one revoked
//     decommission         the controller refuses the box; its certificate is revoked
//     selftest             pulse each lock, watch each door, read each sensor, through the HAL
//
// This file only maps the command line onto the option structs of commands.h and prints what the
// commands return; the HAL backend is chosen in selftest_backend.cpp.
#include <termios.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>
#include <string>

#include "reclothes/common/clock.h"
#include "reclothes/provisioning/cli/commands.h"

namespace reclothes::provisioning::cli {
namespace {

constexpr char kVersion[] = "0.1.0";
constexpr char kPasswordEnv[] = "RECLOTHES_STAFF_PASSWORD";

// The staff password: from the environment, else the first line of stdin (with echo off on a
// terminal). Never from the command line, where `ps` and the shell history would show it.
CliResult<std::string> read_password(const std::string& email) {
  if (const char* env = std::getenv(kPasswordEnv); env != nullptr && env[0] != '\0') {
    return std::string(env);
  }
  const bool tty = ::isatty(STDIN_FILENO) == 1;
  termios saved{};
  if (tty) {
    std::cerr << "Password for " << email << ": " << std::flush;
    ::tcgetattr(STDIN_FILENO, &saved);
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  }
  std::string line;
  std::getline(std::cin, line);
  if (tty) {
    ::tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    std::cerr << "\n";
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) {
    return cli_error(ExitCode::kUsage, ErrorCode::kInvalidArgument,
                     std::string("no staff password: set ") + kPasswordEnv +
                         " or give it on the first line of stdin");
  }
  return line;
}

void add_controller_options(CLI::App* cmd, ControllerLogin& login, std::string& ca, bool required) {
  auto* url = cmd->add_option("--controller", login.endpoint.url,
                              "the controller's internal listener, e.g. http://10.0.0.5:8081");
  auto* email = cmd->add_option(
      "--staff-email", login.staff_email,
      "staff account to log in with (password from " + std::string(kPasswordEnv) + " or stdin)");
  cmd->add_option("--controller-ca", ca, "CA file to verify an https:// controller");
  if (required) {
    url->required();
    email->required();
  }
}

// A usage error found by the command-line parser, as a JSON document when --json was asked for
// (the human message has gone to stderr already).
int usage_exit(const std::string& message, bool json) {
  if (json) {
    nlohmann::ordered_json j;
    j["ok"] = false;
    j["exit_code"] = to_int(ExitCode::kUsage);
    j["error"] = nlohmann::ordered_json{
        {"kind", "usage"}, {"code", "invalid_argument"}, {"message", message}, {"hint", ""}};
    std::cout << j.dump(2) << std::endl;
  }
  return to_int(ExitCode::kUsage);
}

int finish(const CliResult<CommandOutput>& result, bool json) {
  if (result.ok()) {
    if (json) {
      std::cout << result->json.dump(2) << std::endl;
    } else {
      std::cout << result->text << std::flush;
    }
    return to_int(result->exit);
  }
  const CliError& e = result.error();
  std::cerr << "error: " << e.error.message << std::endl;
  if (!e.hint.empty()) std::cerr << "hint: " << e.hint << std::endl;
  if (json) {
    nlohmann::ordered_json j;
    j["ok"] = false;
    j["exit_code"] = to_int(e.exit);
    j["error"] = nlohmann::ordered_json{{"kind", std::string(to_string(e.exit))},
                                        {"code", std::string(reclothes::to_string(e.error.code))},
                                        {"message", e.error.message},
                                        {"hint", e.hint}};
    std::cout << j.dump(2) << std::endl;
  }
  return to_int(e.exit);
}

std::optional<std::filesystem::path> optional_path(const std::string& s) {
  if (s.empty()) return std::nullopt;
  return std::filesystem::path(s);
}

int run(int argc, char** argv) {
  CLI::App app{
      "reclothes-provision: register ReClothes boxes, give them their broker identity, test their "
      "hardware and decommission them."};
  app.footer(kExitCodesHelp);
  app.set_version_flag("--version", kVersion);
  app.require_subcommand(1);
  bool json = false;
  bool verbose = false;
  app.add_flag("--json", json, "print one machine-readable JSON document on stdout");
  app.add_flag("-v,--verbose", verbose, "more progress detail on stderr");
  app.fallthrough();

  // ---- ca init ----
  CaInitOptions ca;
  std::string broker_dir;
  bool include_only = false;
  CLI::App* ca_cmd = app.add_subcommand("ca", "the fleet certificate authority");
  ca_cmd->footer(kExitCodesHelp);
  ca_cmd->require_subcommand(1);
  CLI::App* ca_init = ca_cmd->add_subcommand(
      "init",
      "create the fleet CA, the broker's certificate and configuration, controller "
      "certificates (once per fleet; refuses to replace a CA without --force)");
  ca_init->footer(kExitCodesHelp);
  ca_init->add_option("--dir", ca.dir, "the PKI directory to create (keep it offline)")->required();
  ca_init->add_option("--broker-dir", broker_dir,
                      "where the broker's files go (default DIR/broker); the configuration names "
                      "files by their path there");
  ca.settings.server_names.clear();
  ca.settings.server_ips.clear();
  ca.settings.controllers.clear();
  ca_init->add_option("--server-name", ca.settings.server_names,
                      "DNS name of the broker in the boxes' ssl:// URI (repeatable)");
  ca_init->add_option("--server-ip", ca.settings.server_ips,
                      "IP address of the broker in the URI (repeatable)");
  ca_init->add_option("--controller", ca.settings.controllers,
                      "controller identity to issue, with a '.', e.g. controller.eu-1 "
                      "(repeatable; default controller.eu-1)");
  ca_init->add_option("--tls-port", ca.settings.tls_port, "the broker's TLS port")
      ->capture_default_str();
  ca_init->add_option("--bind", ca.settings.bind_address, "the TLS listener's address")
      ->capture_default_str();
  ca_init
      ->add_option("--broker-user", ca.settings.broker_user,
                   "the user mosquitto runs as (owns its files when run as root)")
      ->capture_default_str();
  ca_init->add_flag("--include-only", include_only,
                    "write only the listener and security lines (for /etc/mosquitto/conf.d/)");
  ca_init->add_option("--persistence-dir", ca.settings.persistence_dir,
                      "mosquitto persistence directory (standalone configuration)");
  ca_init
      ->add_option("--box-validity-days", ca.settings.box_validity_days,
                   "lifetime of box certificates")
      ->capture_default_str();
  ca_init->add_option("--ca-name", ca.ca_name, "the CA's common name")->capture_default_str();
  ca_init->add_option("--ca-validity-days", ca.ca_validity_days, "the CA's lifetime")
      ->capture_default_str();
  ca_init->add_flag("--force", ca.force, "replace an existing CA (a new fleet)");

  // ---- register ----
  RegisterOptions reg;
  std::string reg_ca;
  std::string reg_backend;
  bool reg_no_camera = false;
  int reg_broker_pid = 0;
  std::string reg_location;
  std::string reg_owner;
  std::int64_t reg_validity = 0;
  CLI::App* reg_cmd = app.add_subcommand(
      "register",
      "register a box at the controller, issue its key and certificate, and write its "
      "configuration directory (box.json, box.key, box.crt, ca.crt) atomically");
  reg_cmd->footer(kExitCodesHelp);
  add_controller_options(reg_cmd, reg.controller, reg_ca, true);
  reg_cmd->add_option("--pki", reg.pki, "the fleet's PKI directory (ca init)")->required();
  reg_cmd->add_option("--box-id", reg.box_id, "the box id, 1..32 of [A-Za-z0-9_-]")->required();
  reg_cmd->add_option("--location", reg_location, "a location id or an existing location's name");
  reg_cmd
      ->add_option("--compartments", reg.compartments,
                   "\"S:8,M:8,L:4,XL:4\", or a JSON file with per-compartment pins "
                   "(docs/provisioning.md)")
      ->required();
  reg_cmd->add_option("--broker", reg.broker_uri, "the broker URI for the box, ssl://host:8883")
      ->required();
  reg_cmd->add_option("--out", reg.out, "the box directory to write")->required();
  reg_cmd->add_option("--journal", reg.journal_path, "the box's journal path")
      ->capture_default_str();
  reg_cmd->add_option("--backend", reg_backend,
                      "sim or linux (default: linux with a pin map, else sim)");
  reg_cmd->add_flag("--no-camera", reg_no_camera, "the box has no camera (remote opens only)");
  reg_cmd->add_option("--keepalive", reg.keepalive_s, "MQTT keep-alive of the box, seconds")
      ->capture_default_str();
  reg_cmd->add_option("--validity-days", reg_validity, "certificate lifetime (default: fleet's)");
  reg_cmd->add_option("--trusted-key", reg.trusted_keys,
                      "KEY_ID:FILE token signing public key, used when the controller does not "
                      "list its keys to this account (repeatable)");
  reg_cmd->add_flag("--reuse", reg.reuse,
                    "re-provision an already registered box (replaced board): new credentials, "
                    "the old certificate revoked");
  reg_cmd->add_flag("--force", reg.force, "replace an existing --out directory");
  reg_cmd->add_option("--owner", reg_owner, "give the written files to this user (when root)");
  reg_cmd->add_option("--broker-pid", reg_broker_pid,
                      "with --reuse: send SIGHUP to this mosquitto after revoking");

  // ---- show ----
  ShowOptions show;
  ControllerLogin show_login;
  std::string show_ca;
  std::string show_config;
  std::string show_box;
  std::string show_pki;
  CLI::App* show_cmd = app.add_subcommand(
      "show", "a box's configuration, certificate and controller view; or the fleet (--all)");
  show_cmd->footer(kExitCodesHelp);
  show_cmd->add_option("--config", show_config, "the box configuration (box.json)");
  show_cmd->add_option("--box-id", show_box, "a box id (with --controller)");
  show_cmd->add_option("--pki", show_pki, "the PKI directory: recorded certificate, revocation");
  show_cmd->add_flag("--all", show.all, "every box of the fleet, with a progress line per box");
  show_cmd
      ->add_option("--expiry-warning-days", show.expiry_warning_days,
                   "--all: flag certificates expiring within this many days")
      ->capture_default_str();
  add_controller_options(show_cmd, show_login, show_ca, false);

  // ---- rotate-credentials ----
  RotateOptions rot;
  std::string rot_owner;
  int rot_broker_pid = 0;
  std::int64_t rot_validity = 0;
  CLI::App* rot_cmd = app.add_subcommand(
      "rotate-credentials",
      "a new key and certificate for a box; the old certificate is revoked (superseded) after "
      "the new one is written, and the CRL regenerated");
  rot_cmd->footer(kExitCodesHelp);
  rot_cmd->add_option("--config", rot.config, "the box configuration (box.json)")->required();
  rot_cmd->add_option("--pki", rot.pki, "the fleet's PKI directory")->required();
  rot_cmd->add_option("--validity-days", rot_validity, "certificate lifetime (default: fleet's)");
  rot_cmd->add_option("--owner", rot_owner, "give the written files to this user (when root)");
  rot_cmd->add_option("--broker-pid", rot_broker_pid, "send SIGHUP to this mosquitto afterwards");

  // ---- decommission ----
  DecommissionOptions dec;
  std::string dec_ca;
  std::string dec_cert;
  int dec_broker_pid = 0;
  CLI::App* dec_cmd =
      app.add_subcommand("decommission",
                         "retire a box: the controller refuses it, its certificate is revoked, the "
                         "broker ACL denies its id");
  dec_cmd->footer(kExitCodesHelp);
  add_controller_options(dec_cmd, dec.controller, dec_ca, true);
  dec_cmd->add_option("--box-id", dec.box_id, "the box id")->required();
  dec_cmd->add_option("--pki", dec.pki, "the fleet's PKI directory")->required();
  dec_cmd->add_option("--cert", dec_cert, "the box's certificate, if the PKI has no record of it");
  dec_cmd->add_option("--broker-pid", dec_broker_pid, "send SIGHUP to this mosquitto afterwards");

  // ---- selftest ----
  SelfTestCommandOptions st;
  std::string st_backend;
  int st_auto_open_ms = 300;
  int st_door_timeout_s = 10;
  int st_close_timeout_s = 60;
  CLI::App* st_cmd = app.add_subcommand(
      "selftest",
      "through the HAL: pulse each lock and watch its door, read each sensor; print "
      "a table; exit 1 on any fault");
  st_cmd->footer(kExitCodesHelp);
  st_cmd->add_option("--config", st.config, "the box configuration (box.json)")->required();
  st_cmd->add_option("--backend", st_backend, "sim or linux (default: the configuration's)");
  st_cmd->add_option("--sim-fault", st.sim_faults,
                     "sim: inject jam:N, lock:N, door:N, fill:N, camera, environment, tamper or "
                     "indicator (repeatable)");
  st_cmd
      ->add_option("--sim-auto-open-ms", st_auto_open_ms,
                   "sim: a pulsed door springs open after this long")
      ->capture_default_str();
  st_cmd
      ->add_option("--door-timeout", st_door_timeout_s,
                   "seconds a door may take to open after its pulse (then: jammed)")
      ->capture_default_str();
  st_cmd
      ->add_option("--close-timeout", st_close_timeout_s,
                   "seconds to wait for an opened door to be closed again")
      ->capture_default_str();

  // CLI11 reports an unknown command as "A subcommand is required"; name it instead. The global
  // options take no values, so the first word without a dash is the command.
  bool wants_json = false;
  for (int i = 1; i < argc; ++i) wants_json = wants_json || std::string(argv[i]) == "--json";
  for (int i = 1; i < argc; ++i) {
    const std::string word = argv[i];
    if (word.empty() || word[0] == '-') continue;
    std::vector<std::string> names;
    bool known = false;
    for (const CLI::App* sub : app.get_subcommands({})) {
      names.push_back(sub->get_name());
      known = known || sub->get_name() == word;
    }
    if (!known) {
      std::string list;
      for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
      const std::string message =
          "unknown command \"" + word + "\" (commands: " + list + "; see --help)";
      std::cerr << "error: " << message << std::endl;
      return usage_exit(message, wants_json);
    }
    break;
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : usage_exit(e.what(), wants_json);
  }

  Console console(std::cerr, verbose);
  SystemClock clock;
  std::string email_for_prompt;
  Environment env{console, clock, [&email_for_prompt] { return read_password(email_for_prompt); }};
  auto usage = [&](const std::string& message) {
    return finish(CliError{ExitCode::kUsage, make_error(ErrorCode::kInvalidArgument, message), {}},
                  json);
  };
  auto backend_of = [](const std::string& s) -> std::optional<Backend> {
    return s.empty() ? std::nullopt : backend_from_string(s);
  };

  if (ca_init->parsed()) {
    ca.settings.broker_dir = broker_dir;
    ca.settings.standalone = !include_only;
    if (ca.settings.server_names.empty() && ca.settings.server_ips.empty()) {
      ca.settings.server_names = {"localhost"};
      ca.settings.server_ips = {"127.0.0.1"};
    }
    if (ca.settings.controllers.empty()) ca.settings.controllers = {"controller.eu-1"};
    return finish(run_ca_init(ca, env), json);
  }
  if (reg_cmd->parsed()) {
    if (!reg_backend.empty() && !backend_of(reg_backend)) return usage("--backend: sim or linux");
    reg.backend = backend_of(reg_backend);
    reg.controller.endpoint.ca = optional_path(reg_ca);
    reg.camera = !reg_no_camera;
    if (!reg_location.empty()) reg.location = reg_location;
    if (!reg_owner.empty()) reg.owner = reg_owner;
    if (reg_validity != 0) reg.validity_days = reg_validity;
    if (reg_broker_pid != 0) reg.broker_pid = reg_broker_pid;
    email_for_prompt = reg.controller.staff_email;
    return finish(run_register(reg, env), json);
  }
  if (show_cmd->parsed()) {
    if (!show_config.empty()) show.config = show_config;
    if (!show_box.empty()) show.box_id = show_box;
    if (!show_pki.empty()) show.pki = show_pki;
    if (!show_login.endpoint.url.empty()) {
      show_login.endpoint.ca = optional_path(show_ca);
      show.controller = show_login;
      email_for_prompt = show_login.staff_email;
    } else if (!show_login.staff_email.empty()) {
      return usage("--staff-email needs --controller");
    }
    return finish(run_show(show, env), json);
  }
  if (rot_cmd->parsed()) {
    if (!rot_owner.empty()) rot.owner = rot_owner;
    if (rot_validity != 0) rot.validity_days = rot_validity;
    if (rot_broker_pid != 0) rot.broker_pid = rot_broker_pid;
    return finish(run_rotate(rot, env), json);
  }
  if (dec_cmd->parsed()) {
    dec.controller.endpoint.ca = optional_path(dec_ca);
    dec.cert = optional_path(dec_cert);
    if (dec_broker_pid != 0) dec.broker_pid = dec_broker_pid;
    email_for_prompt = dec.controller.staff_email;
    return finish(run_decommission(dec, env), json);
  }
  if (st_cmd->parsed()) {
    if (!st_backend.empty() && !backend_of(st_backend)) return usage("--backend: sim or linux");
    st.backend = backend_of(st_backend);
    if (st_auto_open_ms < 1 || st_auto_open_ms > 60'000) {
      return usage("--sim-auto-open-ms must be 1..60000");
    }
    st.sim_auto_open = std::chrono::milliseconds(st_auto_open_ms);
    st.door_open_timeout = std::chrono::seconds(st_door_timeout_s);
    st.door_close_timeout = std::chrono::seconds(st_close_timeout_s);
    return finish(run_selftest(st, env), json);
  }
  return usage("no command given; see --help");
}

}  // namespace
}  // namespace reclothes::provisioning::cli

int main(int argc, char** argv) { return reclothes::provisioning::cli::run(argc, argv); }
