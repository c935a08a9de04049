// reclothes-provision: the technician's CLI (docs/provisioning.md).
//
//   reclothes-provision [--json] [--verbose] <command> [options]
//     ca init              the fleet CA, broker certificate and configuration (once per fleet)
//     ca controller        broker identities of a controller's replicas (Kubernetes ordinals)
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

std::optional<Backend> backend_of(const std::string& s) {
  return s.empty() ? std::nullopt : backend_from_string(s);
}

// A bad command line found after parsing, reported as the parser's own errors are.
CliError usage_error(const std::string& message) {
  return cli_error(ExitCode::kUsage, ErrorCode::kInvalidArgument, message);
}

// ---- the commands: each one's options as the command line gives them, added to the parser, and
// turned into the options of commands.h once parsed -----------------------------------------------

struct CaInitCommand {
  CLI::App* cmd = nullptr;
  CaInitOptions ca;
  std::string broker_dir;
  bool include_only = false;
};

void add_ca_init(CLI::App* ca_cmd, CaInitCommand& c) {
  CaInitOptions& ca = c.ca;
  CLI::App* ca_init = ca_cmd->add_subcommand(
      "init",
      "create the fleet CA, the broker's certificate and configuration, controller "
      "certificates (once per fleet; refuses to replace a CA without --force)");
  c.cmd = ca_init;
  ca_init->footer(kExitCodesHelp);
  ca_init->add_option("--dir", ca.dir, "the PKI directory to create (keep it offline)")->required();
  ca_init->add_option("--broker-dir", c.broker_dir,
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
  ca_init->add_flag("--include-only", c.include_only,
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
}

CliResult<CommandOutput> ca_init(CaInitCommand& c, Environment& env) {
  CaInitOptions& ca = c.ca;
  ca.settings.broker_dir = c.broker_dir;
  ca.settings.standalone = !c.include_only;
  if (ca.settings.server_names.empty() && ca.settings.server_ips.empty()) {
    ca.settings.server_names = {"localhost"};
    ca.settings.server_ips = {"127.0.0.1"};
  }
  if (ca.settings.controllers.empty()) ca.settings.controllers = {"controller.eu-1"};
  return run_ca_init(ca, env);
}

struct CaControllerCommand {
  CLI::App* cmd = nullptr;
  CaControllerOptions opts;
  std::string out;
  std::string owner;
  std::int64_t validity = 0;
  int broker_pid = 0;
};

void add_ca_controller(CLI::App* ca_cmd, CaControllerCommand& c) {
  CLI::App* cmd = ca_cmd->add_subcommand(
      "controller",
      "issue the broker identities (key, certificate, MQTT client id) of a controller's replicas "
      "NAME-0 .. NAME-(N-1) and grant them the controller role in the broker ACL; existing ones "
      "are kept (stable per replica) unless --renew");
  c.cmd = cmd;
  cmd->footer(kExitCodesHelp);
  cmd->add_option("--pki", c.opts.pki, "the fleet's PKI directory (ca init)")->required();
  cmd->add_option("--name", c.opts.name,
                  "the replicas' base name, with a '.'; replica i is NAME-i (the StatefulSet "
                  "ordinal)")
      ->capture_default_str();
  cmd->add_option("--replicas", c.opts.replicas,
                  "how many replicas (at least the HorizontalPodAutoscaler's maxReplicas)")
      ->required();
  cmd->add_option("--validity-days", c.validity, "certificate lifetime (default 397)");
  cmd->add_flag("--renew", c.opts.renew,
                "new keys and certificates for existing replicas too; the old ones are revoked");
  cmd->add_option("--out", c.out,
                  "also write ca.crt and every replica's NAME-i.crt/.key here, for "
                  "`kubectl create secret generic --from-file`");
  cmd->add_flag("--force", c.opts.force, "replace an existing --out directory");
  cmd->add_option("--owner", c.owner, "give the --out files to this user (when root)");
  cmd->add_option("--broker-pid", c.broker_pid, "send SIGHUP to this mosquitto afterwards");
}

CliResult<CommandOutput> ca_controller(CaControllerCommand& c, Environment& env) {
  if (!c.out.empty()) c.opts.out = c.out;
  if (!c.owner.empty()) c.opts.owner = c.owner;
  if (c.validity != 0) c.opts.validity_days = c.validity;
  if (c.broker_pid != 0) c.opts.broker_pid = c.broker_pid;
  return run_ca_controller(c.opts, env);
}

struct RegisterCommand {
  CLI::App* cmd = nullptr;
  RegisterOptions reg;
  std::string ca;
  std::string backend;
  bool no_camera = false;
  int broker_pid = 0;
  std::string location;
  std::string owner;
  std::int64_t validity = 0;
};

void add_register(CLI::App& app, RegisterCommand& c) {
  RegisterOptions& reg = c.reg;
  CLI::App* reg_cmd = app.add_subcommand(
      "register",
      "register a box at the controller, issue its key and certificate, and write its "
      "configuration directory (box.json, box.key, box.crt, ca.crt) atomically");
  c.cmd = reg_cmd;
  reg_cmd->footer(kExitCodesHelp);
  add_controller_options(reg_cmd, reg.controller, c.ca, true);
  reg_cmd->add_option("--pki", reg.pki, "the fleet's PKI directory (ca init)")->required();
  reg_cmd->add_option("--box-id", reg.box_id, "the box id, 1..32 of [A-Za-z0-9_-]")->required();
  reg_cmd->add_option("--location", c.location, "a location id or an existing location's name");
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
  reg_cmd->add_option("--backend", c.backend,
                      "sim or linux (default: linux with a pin map, else sim)");
  reg_cmd->add_flag("--no-camera", c.no_camera, "the box has no camera (remote opens only)");
  reg_cmd->add_option("--keepalive", reg.keepalive_s, "MQTT keep-alive of the box, seconds")
      ->capture_default_str();
  reg_cmd->add_option("--validity-days", c.validity, "certificate lifetime (default: fleet's)");
  reg_cmd->add_option("--trusted-key", reg.trusted_keys,
                      "KEY_ID:FILE token signing public key, used when the controller does not "
                      "list its keys to this account (repeatable)");
  reg_cmd->add_flag("--reuse", reg.reuse,
                    "re-provision an already registered box (replaced board): new credentials, "
                    "the old certificate revoked");
  reg_cmd->add_flag("--force", reg.force, "replace an existing --out directory");
  reg_cmd->add_option("--owner", c.owner, "give the written files to this user (when root)");
  reg_cmd->add_option("--broker-pid", c.broker_pid,
                      "with --reuse: send SIGHUP to this mosquitto after revoking");
}

CliResult<CommandOutput> register_box(RegisterCommand& c, Environment& env,
                                      std::string& prompt_email) {
  RegisterOptions& reg = c.reg;
  if (!c.backend.empty() && !backend_of(c.backend)) return usage_error("--backend: sim or linux");
  reg.backend = backend_of(c.backend);
  reg.controller.endpoint.ca = optional_path(c.ca);
  reg.camera = !c.no_camera;
  if (!c.location.empty()) reg.location = c.location;
  if (!c.owner.empty()) reg.owner = c.owner;
  if (c.validity != 0) reg.validity_days = c.validity;
  if (c.broker_pid != 0) reg.broker_pid = c.broker_pid;
  prompt_email = reg.controller.staff_email;
  return run_register(reg, env);
}

struct ShowCommand {
  CLI::App* cmd = nullptr;
  ShowOptions show;
  ControllerLogin login;
  std::string ca;
  std::string config;
  std::string box;
  std::string pki;
};

void add_show(CLI::App& app, ShowCommand& c) {
  CLI::App* show_cmd = app.add_subcommand(
      "show", "a box's configuration, certificate and controller view; or the fleet (--all)");
  c.cmd = show_cmd;
  show_cmd->footer(kExitCodesHelp);
  show_cmd->add_option("--config", c.config, "the box configuration (box.json)");
  show_cmd->add_option("--box-id", c.box, "a box id (with --controller)");
  show_cmd->add_option("--pki", c.pki, "the PKI directory: recorded certificate, revocation");
  show_cmd->add_flag("--all", c.show.all, "every box of the fleet, with a progress line per box");
  show_cmd
      ->add_option("--expiry-warning-days", c.show.expiry_warning_days,
                   "--all: flag certificates expiring within this many days")
      ->capture_default_str();
  add_controller_options(show_cmd, c.login, c.ca, false);
}

CliResult<CommandOutput> show(ShowCommand& c, Environment& env, std::string& prompt_email) {
  if (!c.config.empty()) c.show.config = c.config;
  if (!c.box.empty()) c.show.box_id = c.box;
  if (!c.pki.empty()) c.show.pki = c.pki;
  if (!c.login.endpoint.url.empty()) {
    c.login.endpoint.ca = optional_path(c.ca);
    c.show.controller = c.login;
    prompt_email = c.login.staff_email;
  } else if (!c.login.staff_email.empty()) {
    return usage_error("--staff-email needs --controller");
  }
  return run_show(c.show, env);
}

struct RotateCommand {
  CLI::App* cmd = nullptr;
  RotateOptions rot;
  std::string owner;
  int broker_pid = 0;
  std::int64_t validity = 0;
};

void add_rotate(CLI::App& app, RotateCommand& c) {
  CLI::App* rot_cmd = app.add_subcommand(
      "rotate-credentials",
      "a new key and certificate for a box; the old certificate is revoked (superseded) after "
      "the new one is written, and the CRL regenerated");
  c.cmd = rot_cmd;
  rot_cmd->footer(kExitCodesHelp);
  rot_cmd->add_option("--config", c.rot.config, "the box configuration (box.json)")->required();
  rot_cmd->add_option("--pki", c.rot.pki, "the fleet's PKI directory")->required();
  rot_cmd->add_option("--validity-days", c.validity, "certificate lifetime (default: fleet's)");
  rot_cmd->add_option("--owner", c.owner, "give the written files to this user (when root)");
  rot_cmd->add_option("--broker-pid", c.broker_pid, "send SIGHUP to this mosquitto afterwards");
}

CliResult<CommandOutput> rotate(RotateCommand& c, Environment& env) {
  if (!c.owner.empty()) c.rot.owner = c.owner;
  if (c.validity != 0) c.rot.validity_days = c.validity;
  if (c.broker_pid != 0) c.rot.broker_pid = c.broker_pid;
  return run_rotate(c.rot, env);
}

struct DecommissionCommand {
  CLI::App* cmd = nullptr;
  DecommissionOptions dec;
  std::string ca;
  std::string cert;
  int broker_pid = 0;
};

void add_decommission(CLI::App& app, DecommissionCommand& c) {
  CLI::App* dec_cmd =
      app.add_subcommand("decommission",
                         "retire a box: the controller refuses it, its certificate is revoked, the "
                         "broker ACL denies its id");
  c.cmd = dec_cmd;
  dec_cmd->footer(kExitCodesHelp);
  add_controller_options(dec_cmd, c.dec.controller, c.ca, true);
  dec_cmd->add_option("--box-id", c.dec.box_id, "the box id")->required();
  dec_cmd->add_option("--pki", c.dec.pki, "the fleet's PKI directory")->required();
  dec_cmd->add_option("--cert", c.cert, "the box's certificate, if the PKI has no record of it");
  dec_cmd->add_option("--broker-pid", c.broker_pid, "send SIGHUP to this mosquitto afterwards");
}

CliResult<CommandOutput> decommission(DecommissionCommand& c, Environment& env,
                                      std::string& prompt_email) {
  c.dec.controller.endpoint.ca = optional_path(c.ca);
  c.dec.cert = optional_path(c.cert);
  if (c.broker_pid != 0) c.dec.broker_pid = c.broker_pid;
  prompt_email = c.dec.controller.staff_email;
  return run_decommission(c.dec, env);
}

struct SelfTestCommand {
  CLI::App* cmd = nullptr;
  SelfTestCommandOptions st;
  std::string backend;
  int auto_open_ms = 300;
  int door_timeout_s = 10;
  int close_timeout_s = 60;
};

void add_selftest(CLI::App& app, SelfTestCommand& c) {
  CLI::App* st_cmd = app.add_subcommand(
      "selftest",
      "through the HAL: pulse each lock and watch its door, read each sensor; print "
      "a table; exit 1 on any fault");
  c.cmd = st_cmd;
  st_cmd->footer(kExitCodesHelp);
  st_cmd->add_option("--config", c.st.config, "the box configuration (box.json)")->required();
  st_cmd->add_option("--backend", c.backend, "sim or linux (default: the configuration's)");
  st_cmd->add_option("--sim-fault", c.st.sim_faults,
                     "sim: inject jam:N, lock:N, door:N, fill:N, camera, environment, tamper or "
                     "indicator (repeatable)");
  st_cmd
      ->add_option("--sim-auto-open-ms", c.auto_open_ms,
                   "sim: a pulsed door springs open after this long")
      ->capture_default_str();
  st_cmd
      ->add_option("--door-timeout", c.door_timeout_s,
                   "seconds a door may take to open after its pulse (then: jammed)")
      ->capture_default_str();
  st_cmd
      ->add_option("--close-timeout", c.close_timeout_s,
                   "seconds to wait for an opened door to be closed again")
      ->capture_default_str();
}

CliResult<CommandOutput> selftest(SelfTestCommand& c, Environment& env) {
  if (!c.backend.empty() && !backend_of(c.backend)) return usage_error("--backend: sim or linux");
  c.st.backend = backend_of(c.backend);
  if (c.auto_open_ms < 1 || c.auto_open_ms > 60'000) {
    return usage_error("--sim-auto-open-ms must be 1..60000");
  }
  c.st.sim_auto_open = std::chrono::milliseconds(c.auto_open_ms);
  c.st.door_open_timeout = std::chrono::seconds(c.door_timeout_s);
  c.st.door_close_timeout = std::chrono::seconds(c.close_timeout_s);
  return run_selftest(c.st, env);
}

struct Commands {
  CaInitCommand ca;
  CaControllerCommand ca_controller;
  RegisterCommand reg;
  ShowCommand show;
  RotateCommand rot;
  DecommissionCommand dec;
  SelfTestCommand st;
};

// In the order --help lists them.
void add_commands(CLI::App& app, Commands& c) {
  CLI::App* ca_cmd = app.add_subcommand("ca", "the fleet certificate authority");
  ca_cmd->footer(kExitCodesHelp);
  ca_cmd->require_subcommand(1);
  add_ca_init(ca_cmd, c.ca);
  add_ca_controller(ca_cmd, c.ca_controller);
  add_register(app, c.reg);
  add_show(app, c.show);
  add_rotate(app, c.rot);
  add_decommission(app, c.dec);
  add_selftest(app, c.st);
}

// The command the parser found, run. `prompt_email` is set to the account a password prompt
// names.
CliResult<CommandOutput> run_parsed(Commands& c, Environment& env, std::string& prompt_email) {
  if (c.ca.cmd->parsed()) return ca_init(c.ca, env);
  if (c.ca_controller.cmd->parsed()) return ca_controller(c.ca_controller, env);
  if (c.reg.cmd->parsed()) return register_box(c.reg, env, prompt_email);
  if (c.show.cmd->parsed()) return show(c.show, env, prompt_email);
  if (c.rot.cmd->parsed()) return rotate(c.rot, env);
  if (c.dec.cmd->parsed()) return decommission(c.dec, env, prompt_email);
  if (c.st.cmd->parsed()) return selftest(c.st, env);
  return usage_error("no command given; see --help");
}

// CLI11 reports an unknown command as "A subcommand is required"; name it instead. The global
// options take no values, so the first word without a dash is the command. The message, if the
// command is unknown.
std::optional<std::string> unknown_command(const CLI::App& app, int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string word = argv[i];
    if (word.empty() || word[0] == '-') continue;
    std::string list;
    bool known = false;
    for (const CLI::App* sub : app.get_subcommands({})) {
      list += (list.empty() ? "" : ", ") + sub->get_name();
      known = known || sub->get_name() == word;
    }
    if (known) return std::nullopt;
    return "unknown command \"" + word + "\" (commands: " + list + "; see --help)";
  }
  return std::nullopt;
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
  Commands commands;
  add_commands(app, commands);

  bool wants_json = false;
  for (int i = 1; i < argc; ++i) wants_json = wants_json || std::string(argv[i]) == "--json";
  if (const auto unknown = unknown_command(app, argc, argv)) {
    std::cerr << "error: " << *unknown << std::endl;
    return usage_exit(*unknown, wants_json);
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
  return finish(run_parsed(commands, env, email_for_prompt), json);
}

}  // namespace
}  // namespace reclothes::provisioning::cli

int main(int argc, char** argv) { return reclothes::provisioning::cli::run(argc, argv); }
