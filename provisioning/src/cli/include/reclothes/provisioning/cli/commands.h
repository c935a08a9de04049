// The subcommands of reclothes-provision, as functions of plain option structs (main.cpp maps the
// command line onto them; tests may call them directly). Each returns what to print: a JSON
// document (--json) and the same as text, plus the exit code (a self-test with faults succeeds as
// a command but exits 1). Progress lines go to the Console's error stream as the work happens, so
// --json output on stdout stays one parseable document.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "reclothes/common/clock.h"
#include "reclothes/provisioning/cli/box_file.h"
#include "reclothes/provisioning/cli/cli_error.h"
#include "reclothes/provisioning/cli/controller_client.h"
#include "reclothes/provisioning/cli/fleet_pki.h"

namespace reclothes::provisioning::cli {

class Console {
 public:
  Console(std::ostream& err, bool verbose) : err_(err), verbose_(verbose) {}
  // A step of the operation ("==> logging in to http://... as tech@example.org").
  void step(const std::string& line);
  // Details only shown with --verbose.
  void detail(const std::string& line);
  void warn(const std::string& line);

 private:
  std::ostream& err_;
  bool verbose_;
};

struct CommandOutput {
  nlohmann::ordered_json json = nlohmann::ordered_json::object();
  std::string text;
  ExitCode exit = ExitCode::kOk;
};

// Reads the staff password when (and only when) a command needs to log in.
using PasswordSource = std::function<CliResult<std::string>()>;

struct Environment {
  Console& console;
  const Clock& clock;
  PasswordSource password;
};

struct ControllerLogin {
  ControllerEndpoint endpoint;
  std::string staff_email;
};

// ---- ca init ----
struct CaInitOptions {
  std::filesystem::path dir;
  FleetSettings settings;
  std::string ca_name = "ReClothes Fleet CA";
  std::int64_t ca_validity_days = kDefaultCaValidityDays;
  bool force = false;
};
CliResult<CommandOutput> run_ca_init(const CaInitOptions& options, Environment& env);

// ---- ca controller ----
// The broker identities of a controller's replicas ("<name>-<ordinal>"), minted from the fleet CA
// and granted the controller role in the broker ACL; optionally copied into a directory that
// becomes the Kubernetes Secret the StatefulSet mounts (docs/deploy.md).
struct CaControllerOptions {
  std::filesystem::path pki;
  std::string name = "controller.k8s";
  int replicas = 1;
  std::optional<std::int64_t> validity_days;
  bool renew = false;  // new certificates for existing replicas too (the old ones revoked)
  std::optional<std::filesystem::path> out;  // ca.crt + <replica>.crt/.key of every replica
  bool force = false;                        // replace an existing --out directory
  std::optional<std::string> owner;          // chown the --out files (when root)
  std::optional<pid_t> broker_pid;           // SIGHUP afterwards (the ACL changed)
};
CliResult<CommandOutput> run_ca_controller(const CaControllerOptions& options, Environment& env);

// ---- register ----
struct RegisterOptions {
  ControllerLogin controller;
  std::filesystem::path pki;
  std::string box_id;
  std::optional<std::string> location;  // a location id or an existing location's exact name
  std::string compartments;             // shorthand or JSON file
  std::string broker_uri;               // ssl://host:port
  std::filesystem::path out;
  std::string journal_path = kDefaultJournalPath;
  std::optional<Backend> backend;  // default: linux with a pin map, else sim
  bool camera = true;
  int keepalive_s = 30;
  std::optional<std::int64_t> validity_days;
  std::vector<std::string> trusted_keys;  // "ID:FILE" fallbacks when the controller offers none
  bool reuse = false;  // re-provision a registered box (replaced board): new credentials
  bool force = false;  // replace an existing --out directory
  std::optional<std::string> owner;  // chown the written files (when root)
  std::optional<pid_t> broker_pid;   // with --reuse: SIGHUP after revoking the old certificate
};
CliResult<CommandOutput> run_register(const RegisterOptions& options, Environment& env);

// ---- show ----
struct ShowOptions {
  std::optional<std::filesystem::path> config;
  std::optional<ControllerLogin> controller;
  std::optional<std::string> box_id;
  std::optional<std::filesystem::path> pki;
  bool all = false;  // the whole fleet (needs controller), a progress line per box
  int expiry_warning_days = 30;
};
CliResult<CommandOutput> run_show(const ShowOptions& options, Environment& env);

// ---- rotate-credentials ----
struct RotateOptions {
  std::filesystem::path config;
  std::filesystem::path pki;
  std::optional<std::int64_t> validity_days;
  std::optional<std::string> owner;
  std::optional<pid_t> broker_pid;
};
CliResult<CommandOutput> run_rotate(const RotateOptions& options, Environment& env);

// ---- decommission ----
struct DecommissionOptions {
  ControllerLogin controller;
  std::string box_id;
  std::filesystem::path pki;
  std::optional<std::filesystem::path> cert;  // if the PKI has no record of the box's certificate
  std::optional<pid_t> broker_pid;
};
CliResult<CommandOutput> run_decommission(const DecommissionOptions& options, Environment& env);

// ---- selftest ----
struct SelfTestCommandOptions {
  std::filesystem::path config;
  std::optional<Backend> backend;  // default: the configuration's hal.backend
  std::vector<std::string> sim_faults;
  std::chrono::milliseconds sim_auto_open{300};
  std::chrono::milliseconds door_open_timeout{10'000};
  std::chrono::milliseconds door_close_timeout{60'000};
};
CliResult<CommandOutput> run_selftest(const SelfTestCommandOptions& options, Environment& env);

// Writes the files of a box directory atomically: into a fresh temporary sibling directory, then
// renamed into place (or, with replace, swapped with the existing directory, which is then
// removed). A crash leaves the old directory or the new one, never a mix. Exposed for tests.
struct DirFile {
  std::string name;
  std::string contents;
  bool private_key = false;
};
Status write_directory_atomic(const std::filesystem::path& dir, const std::vector<DirFile>& files,
                              bool replace, const std::optional<std::string>& owner);

}  // namespace reclothes::provisioning::cli
