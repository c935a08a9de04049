// reclothes-provision register: the controller learns the box, the box gets its identity and its
// configuration.
//
// Order of work, chosen so that a failure leaves nothing half-done that matters:
//   1. everything that can be checked locally (arguments, compartments, CA, retired ids, --out)
//   2. log in; ask the controller whether the box exists (refuse decommissioned / registered ids)
//   3. fetch trusted keys; make the key and certificate (nothing written yet)
//   4. POST the registration: the one step the controller keeps
//   5. write --out atomically (temp dir + rename); record the certificate in the PKI
//   6. with --reuse: revoke the board's previous certificate (superseded) and regenerate the CRL
// A failure after 4 says to run again with --reuse, which re-issues credentials for the
// registered box.
#include <mbedtls/pk.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>

#include "commands_common.h"
#include "reclothes/common/box_code.h"
#include "reclothes/common/qr_png.h"
#include "reclothes/common/token.h"
#include "reclothes/provisioning/cli/cabinet_spec.h"
#include "reclothes/provisioning/files.h"

namespace reclothes::provisioning::cli {
namespace {

using detail::Ordered;

bool is_p256_public_key(const std::string& pem) {
  mbedtls_pk_context pk;
  mbedtls_pk_init(&pk);
  const int rc = mbedtls_pk_parse_public_key(
      &pk, reinterpret_cast<const unsigned char*>(pem.c_str()), pem.size() + 1);
  bool ok = rc == 0 && mbedtls_pk_get_type(&pk) == MBEDTLS_PK_ECKEY &&
            mbedtls_pk_ec(pk)->grp.id == MBEDTLS_ECP_DP_SECP256R1;
  mbedtls_pk_free(&pk);
  return ok;
}

CliResult<TrustedKey> read_trusted_key_arg(const std::string& arg) {
  const std::size_t colon = arg.find(':');
  int id = -1;
  if (colon != std::string::npos) {
    const auto [end, ec] = std::from_chars(arg.data(), arg.data() + colon, id);
    if (ec != std::errc() || end != arg.data() + colon) id = -1;
  }
  if (id < 0 || id > 65535 || colon + 1 >= arg.size()) {
    return cli_error(
        ExitCode::kUsage, ErrorCode::kInvalidArgument,
        "--trusted-key \"" + arg + "\": expected KEY_ID:FILE, e.g. 1:signing-key-1.pub");
  }
  const std::filesystem::path file = arg.substr(colon + 1);
  RC_ASSIGN_OR_RETURN(std::string pem, detail::local(read_file(file, 64 * 1024)));
  if (!is_p256_public_key(pem)) {
    return cli_error(ExitCode::kUsage, ErrorCode::kInvalidArgument,
                     "--trusted-key " + file.string() + ": not a P-256 public key PEM");
  }
  return TrustedKey{static_cast<std::uint16_t>(id), pem, false};
}

struct KeysFound {
  std::vector<TrustedKey> keys;
  std::string source;  // "controller", "arguments", "none"
  std::string note;
};

CliResult<KeysFound> find_trusted_keys(ControllerClient& client,
                                       const std::vector<TrustedKey>& from_args, Console& console) {
  console.step("fetching the token signing keys from the controller");
  RC_ASSIGN_OR_RETURN(ApiReply reply, client.get("/internal/v1/keys"));
  KeysFound found;
  if (reply.status == 200 && reply.body.is_object() && reply.body.contains("items") &&
      reply.body["items"].is_array()) {
    for (const auto& item : reply.body["items"]) {
      if (!item.is_object() || !item.contains("key_id") || !item["key_id"].is_number_integer() ||
          !item.contains("public_pem") || !item["public_pem"].is_string()) {
        return cli_error(ExitCode::kController, ErrorCode::kInternal,
                         "GET /internal/v1/keys: an item without key_id or public_pem");
      }
      const auto id = item["key_id"].get<std::int64_t>();
      const std::string pem = item["public_pem"].get<std::string>();
      if (id < 0 || id > 65535 || !is_p256_public_key(pem)) {
        return cli_error(
            ExitCode::kController, ErrorCode::kInternal,
            "GET /internal/v1/keys: key " + std::to_string(id) + " is not a P-256 public key");
      }
      found.keys.push_back(
          TrustedKey{static_cast<std::uint16_t>(id), pem, item.value("status", "") == "retired"});
    }
    found.source = "controller";
    if (!from_args.empty()) console.warn("--trusted-key ignored: the controller's keys are used");
    return found;
  }
  if (reply.status == 403) {
    found.note =
        "the controller lists its signing keys only for staff with keys.rotate (super admin)";
  } else {
    found.note = "GET /internal/v1/keys answered " + std::to_string(reply.status);
  }
  if (!from_args.empty()) {
    found.keys = from_args;
    found.source = "arguments";
    found.note += "; using the --trusted-key files";
  } else {
    found.source = "none";
    found.note +=
        "; the configuration has no trusted keys: the box takes the controller's keys from its "
        "retained config at its first connection and cannot verify tokens before that "
        "(give --trusted-key ID:FILE, or register as a super admin, to include them)";
  }
  console.warn(found.note);
  return found;
}

std::string uri_host(const std::string& uri) {
  const std::size_t scheme = uri.find("://");
  if (scheme == std::string::npos) return "";
  std::string rest = uri.substr(scheme + 3);
  if (!rest.empty() && rest.front() == '[') {
    const std::size_t close = rest.find(']');
    return close == std::string::npos ? rest : rest.substr(1, close - 1);
  }
  return rest.substr(0, rest.find_first_of(":/"));
}

CliResult<std::optional<std::int64_t>> resolve_location(ControllerClient& client,
                                                        const std::optional<std::string>& loc) {
  if (!loc) return std::optional<std::int64_t>();
  std::int64_t id = 0;
  const auto [end, ec] = std::from_chars(loc->data(), loc->data() + loc->size(), id);
  if (ec == std::errc() && end == loc->data() + loc->size() && id > 0) {
    return std::optional<std::int64_t>(id);
  }
  RC_ASSIGN_OR_RETURN(ApiReply reply, ControllerClient::expect(client.get("/internal/v1/locations"),
                                                               {200}, "listing locations"));
  std::vector<std::string> names;
  if (reply.body.is_object() && reply.body["items"].is_array()) {
    for (const auto& item : reply.body["items"]) {
      const std::string name = item.value("name", "");
      if (name == *loc) return std::optional<std::int64_t>(item.value("id", std::int64_t{0}));
      names.push_back("\"" + name + "\"");
    }
  }
  return cli_error(ExitCode::kUsage, ErrorCode::kNotFound,
                   "--location \"" + *loc + "\": no such location at the controller" +
                       (names.empty() ? std::string(" (it has none)")
                                      : " (it has " + detail::join(names, ", ") + ")"),
                   "a manager creates locations (POST /internal/v1/locations); give its id or "
                   "its exact name");
}

std::string sizes_of(const nlohmann::json& compartments) {
  std::vector<std::string> sizes;
  for (const auto& c : compartments) sizes.push_back(c.value("size_class", "?"));
  return detail::join(sizes, ",");
}

// ---- 1. local checks ----------------------------------------------------------------------------

// What the command line asks for, checked without the PKI or the controller.
struct Request {
  CabinetPlan plan;
  Backend backend = Backend::kSim;
  std::vector<TrustedKey> arg_keys;  // from --trusted-key
};

CliResult<Request> check_arguments(const RegisterOptions& o) {
  if (!is_valid_box_id(o.box_id)) {
    return cli_error(ExitCode::kUsage, ErrorCode::kInvalidArgument,
                     "--box-id \"" + o.box_id + "\" is invalid: 1..32 of [A-Za-z0-9_-]");
  }
  Request r;
  RC_ASSIGN_OR_RETURN(r.plan, detail::local(load_cabinet_spec(o.compartments)));
  if (o.broker_uri.rfind("ssl://", 0) != 0 && o.broker_uri.rfind("mqtts://", 0) != 0) {
    return cli_error(ExitCode::kUsage, ErrorCode::kInvalidArgument,
                     "--broker \"" + o.broker_uri +
                         "\": a box connects with its own certificate, so the URI must be "
                         "ssl://host:port (or mqtts://)");
  }
  r.backend = o.backend.value_or(r.plan.has_pin_map() ? Backend::kLinux : Backend::kSim);
  if (r.backend == Backend::kLinux && !r.plan.has_pin_map()) {
    return cli_error(ExitCode::kUsage, ErrorCode::kInvalidArgument,
                     "--backend linux needs a pin for every compartment: give --compartments a "
                     "JSON file with \"pin\" entries (docs/provisioning.md)");
  }
  if (o.keepalive_s < 5 || o.keepalive_s > 3600) {
    return cli_error(ExitCode::kUsage, ErrorCode::kInvalidArgument, "--keepalive must be 5..3600");
  }
  for (const auto& arg : o.trusted_keys) {
    RC_ASSIGN_OR_RETURN(TrustedKey k, read_trusted_key_arg(arg));
    r.arg_keys.push_back(std::move(k));
  }
  return r;
}

// The fleet's PKI and the box directory to write.
struct Local {
  FleetPki pki;
  RevocationList revoked;
  std::filesystem::path out;  // absolute
  bool out_taken = false;     // exists, is not empty, and --force was not given
};

CliResult<Local> check_pki_and_out(const RegisterOptions& o, Console& console) {
  RC_ASSIGN_OR_RETURN(FleetPki pki, detail::local(FleetPki::open(o.pki)));
  RC_ASSIGN_OR_RETURN(RevocationList revoked, detail::local(pki.revocations()));
  if (revoked.is_decommissioned(o.box_id)) {
    return cli_error(ExitCode::kConflict, ErrorCode::kFailedPrecondition,
                     "box " + o.box_id +
                         " was decommissioned: its id is retired (its certificate is revoked and "
                         "the broker ACL denies it)",
                     "register the new box under a new id");
  }
  const std::string host = uri_host(o.broker_uri);
  const auto& s = pki.settings();
  if (std::find(s.server_names.begin(), s.server_names.end(), host) == s.server_names.end() &&
      std::find(s.server_ips.begin(), s.server_ips.end(), host) == s.server_ips.end()) {
    console.warn("the broker certificate names " + detail::join(s.server_names, ", ") + " " +
                 detail::join(s.server_ips, ", ") + " but --broker uses \"" + host +
                 "\": the box will refuse the broker");
  }
  const std::filesystem::path out = std::filesystem::absolute(o.out).lexically_normal();
  std::error_code ec;
  const bool out_taken =
      std::filesystem::exists(out, ec) && !std::filesystem::is_empty(out, ec) && !o.force;
  const std::filesystem::path out_parent =
      out.has_filename() ? out.parent_path() : out.parent_path().parent_path();
  if (!std::filesystem::is_directory(out_parent, ec) || ::access(out_parent.c_str(), W_OK) != 0) {
    return cli_error(ExitCode::kLocal, ErrorCode::kPermissionDenied,
                     "cannot write into " + out_parent.string() +
                         " (the parent of --out must exist and be writable)");
  }
  return Local{std::move(pki), std::move(revoked), out, out_taken};
}

// ---- 2. the controller's view -------------------------------------------------------------------

// --reuse of a registered box: the controller's compartments must be the ones asked for.
CliStatus check_reuse(const RegisterOptions& o, const ApiReply& existing, const CabinetPlan& plan) {
  const std::string status = existing.body.value("status", "");
  if (status == "decommissioned") {
    return cli_error(ExitCode::kConflict, ErrorCode::kFailedPrecondition,
                     "box " + o.box_id +
                         " is decommissioned at the controller; its id cannot "
                         "be registered again",
                     "register the new box under a new id");
  }
  if (!o.reuse) {
    return cli_error(
        ExitCode::kConflict, ErrorCode::kAlreadyExists,
        "box " + o.box_id + " is already registered (status " + status + ", " +
            (existing.body.value("online", false) ? "online" : "offline") + ")",
        "to re-provision a replaced board with new credentials, run again with --reuse");
  }
  const auto& have = existing.body["compartments"];
  bool same = have.is_array() && have.size() == plan.compartments.size();
  for (std::size_t i = 0; same && i < plan.compartments.size(); ++i) {
    same = have[i].value("number", 0) == plan.compartments[i].number &&
           have[i].value("size_class", "") == plan.compartments[i].size;
  }
  if (!same) {
    std::vector<std::string> want;
    for (const auto& c : plan.compartments) want.push_back(c.size);
    return cli_error(ExitCode::kUsage, ErrorCode::kInvalidArgument,
                     "--reuse: the controller has box " + o.box_id + " with compartments " +
                         sizes_of(have) + ", but --compartments says " + detail::join(want, ","),
                     "give the registered compartments (a different cabinet needs a new id)");
  }
  return {};
}

// Whether the box is registered already (then only with --reuse), and the controller's answer.
CliResult<std::pair<bool, ApiReply>> look_up_box(ControllerClient& client, const RegisterOptions& o,
                                                 const CabinetPlan& plan, const Local& local,
                                                 Console& console) {
  console.step("checking whether box " + o.box_id + " is known to the controller");
  RC_ASSIGN_OR_RETURN(ApiReply existing, client.get("/internal/v1/boxes/" + o.box_id));
  bool registered = false;
  if (existing.status == 200) {
    RC_TRY(check_reuse(o, existing, plan));
    registered = true;
    console.step("box " + o.box_id + " is registered (status " + existing.body.value("status", "") +
                 "): re-provisioning it with new credentials");
  } else if (existing.status != 404) {
    RC_TRY(ControllerClient::expect(std::move(existing), {200, 404}, "looking up box " + o.box_id));
  }
  // Checked after the controller's answer, which says more ("already registered: --reuse") when
  // the same registration is simply run twice.
  if (local.out_taken && !registered) {
    return cli_error(ExitCode::kLocal, ErrorCode::kAlreadyExists,
                     "--out " + local.out.string() + " exists and is not empty",
                     "--force replaces it (atomically), or choose another directory");
  }
  return std::make_pair(registered, std::move(existing));
}

// ---- 3. and 4. keys, credentials and the registration ------------------------------------------

BoxFile make_box_file(const RegisterOptions& o, const Request& r, const KeysFound& keys) {
  BoxFile file;
  file.box_id = o.box_id;
  file.journal_path = o.journal_path;
  file.broker.uri = o.broker_uri;
  file.broker.keepalive_s = o.keepalive_s;
  file.trusted_keys = keys.keys;
  file.cabinet = r.plan;
  file.backend = r.backend;
  if (!o.camera) file.camera.reset();
  return file;
}

// POST the registration: the one step the controller keeps. The controller's view of the box.
CliResult<Ordered> register_at_controller(ControllerClient& client, const RegisterOptions& o,
                                          const CabinetPlan& plan,
                                          std::optional<std::int64_t> location_id,
                                          Console& console) {
  nlohmann::json body;
  body["box_id"] = o.box_id;
  body["compartments"] = nlohmann::json::array();
  for (const auto& c : plan.compartments) {
    body["compartments"].push_back({{"number", c.number}, {"size", c.size}});
  }
  if (location_id) body["location_id"] = *location_id;
  console.step("registering box " + o.box_id + " with " + describe(plan));
  RC_ASSIGN_OR_RETURN(ApiReply reply, client.post("/internal/v1/boxes", body));
  if (reply.status == 409) {
    return cli_error(
        ExitCode::kConflict, ErrorCode::kAlreadyExists,
        "box " + o.box_id + " was registered by someone else meanwhile: " + reply.error_message(),
        "check with `reclothes-provision show --box-id " + o.box_id +
            "`; --reuse re-provisions it");
  }
  RC_ASSIGN_OR_RETURN(
      reply, ControllerClient::expect(std::move(reply), {201}, "registering box " + o.box_id));
  return Ordered{{"status", reply.body.value("status", "")},
                 {"compartment_count", plan.compartments.size()}};
}

// ---- 5. and 6. files and the replaced board's certificate --------------------------------------

constexpr char kAfterRegistration[] =
    "the box is registered at the controller; fix the problem and run the same command with "
    "--reuse";

// Writes the box directory atomically and records the certificate in the PKI; the certificate
// recorded for the box before, if any.
CliResult<std::optional<std::string>> write_box_directory(const RegisterOptions& o,
                                                          const Local& local, const BoxFile& file,
                                                          const BoxCredentials& creds,
                                                          Console& console) {
  console.step("writing " + local.out.string() +
               " (box.json, box.key 0600, box.crt, ca.crt, box-code.png)");
  // The box's printed code: the id was checked (check_arguments), so this cannot fail but for a
  // bug, which is reported like any local failure.
  auto code = box_code(o.box_id);
  if (!code.ok()) return detail::local_error(std::move(code).error(), kAfterRegistration);
  auto png = render_qr_png(*code, kBoxCodeModulePx);
  if (!png.ok()) return detail::local_error(std::move(png).error(), kAfterRegistration);
  std::vector<DirFile> files = {
      {kBoxConfigFile, render_box_file(file), false},
      {kBoxKeyFile, creds.private_key_pem, true},
      {kBoxCertFile, creds.certificate.certificate_pem, false},
      {kBoxCaFile, local.pki.ca().certificate_pem(), false},
      {kBoxCodeFile, std::move(png).value(), false},
  };
  if (auto s = write_directory_atomic(local.out, files, true, o.owner); !s.ok()) {
    return detail::local_error(std::move(s).error(), kAfterRegistration);
  }
  RC_ASSIGN_OR_RETURN(std::optional<std::string> previous,
                      detail::local(local.pki.box_certificate(o.box_id), kAfterRegistration));
  RC_TRY(detail::local(local.pki.record_box_certificate(o.box_id, creds.certificate),
                       kAfterRegistration));
  return previous;
}

struct Revocation {
  std::optional<std::string> serial;  // of the previous certificate, revoked now
  bool reload_needed = false;         // the broker must read the new CRL
  bool reloaded = false;              // it was sent SIGHUP
};

// With a previous certificate of this CA that is not revoked yet: revoke it (superseded),
// regenerate the CRL and, with --broker-pid, have the broker reload it.
CliResult<Revocation> revoke_previous(const RegisterOptions& o, const Local& local,
                                      const std::optional<std::string>& previous,
                                      const BoxCredentials& creds, Environment& env) {
  Revocation r;
  if (!previous) return r;
  auto info = inspect_certificate(*previous);
  if (info.ok() && info->serial_hex != creds.certificate.info.serial_hex) {
    if (info->issuer != local.pki.ca().info().subject) {
      env.console.warn("the previously recorded certificate of " + o.box_id +
                       " was issued by another CA (" + info->issuer + "); not revoking it");
    } else if (!local.revoked.contains_serial(info->serial_hex)) {
      env.console.step("revoking the previous certificate " + info->serial_hex +
                       " (superseded) and regenerating the CRL");
      RC_TRY(detail::local(local.pki.revoke(*previous, RevocationReason::kSuperseded, env.clock)));
      r.serial = info->serial_hex;
      r.reload_needed = true;
    }
  }
  if (r.reload_needed && o.broker_pid) {
    RC_TRY(detail::local(signal_broker_reload(*o.broker_pid)));
    env.console.step("sent SIGHUP to the broker (pid " + std::to_string(*o.broker_pid) + ")");
    r.reloaded = true;
  }
  return r;
}

// ---- the report ---------------------------------------------------------------------------------

// Everything the report names.
struct Registered {
  const RegisterOptions& o;
  const Request& request;
  const Local& local;
  bool reused = false;
  Ordered controller_box;
  KeysFound keys;
  BoxCredentials creds;
  Revocation revocation;
};

std::vector<std::string> next_steps(const Registered& r) {
  std::vector<std::string> next = {
      "copy " + r.local.out.string() +
          " to the box (e.g. /etc/reclothes/), keep box.key 0600 and owned by "
          "the firmware's user",
      "print " + (r.local.out / kBoxCodeFile).string() +
          " and stick it on the cabinet next to the camera (the app scans it to open the box "
          "online)",
      "run `reclothes-provision selftest --config " + (r.local.out / kBoxConfigFile).string() +
          "` on the box, then start reclothes-box"};
  if (r.revocation.reload_needed && !r.revocation.reloaded) {
    next.push_back("copy " + r.local.pki.settings().broker_dir.string() +
                   "/crl.pem to the broker and send it SIGHUP (kill -HUP <mosquitto pid>) so the "
                   "old certificate is refused");
  }
  return next;
}

Ordered output_json(const Registered& r, const std::vector<std::string>& next, const Clock& clock) {
  const std::filesystem::path& out = r.local.out;
  Ordered j;
  j["ok"] = true;
  j["box_id"] = r.o.box_id;
  j["registration"] = r.reused ? "reused" : "created";
  j["controller"] = r.controller_box;
  j["out_dir"] = out.string();
  j["files"] = Ordered{{"config", (out / kBoxConfigFile).string()},
                       {"key", (out / kBoxKeyFile).string()},
                       {"certificate", (out / kBoxCertFile).string()},
                       {"ca", (out / kBoxCaFile).string()},
                       {"box_code_png", (out / kBoxCodeFile).string()}};
  j["box_code"] = std::string(kBoxCodePrefix) + r.o.box_id;
  j["certificate"] = detail::certificate_json(r.creds.certificate.info, clock);
  std::vector<int> key_ids;
  for (const auto& k : r.keys.keys) key_ids.push_back(k.key_id);
  j["trusted_keys"] =
      Ordered{{"source", r.keys.source}, {"key_ids", key_ids}, {"note", r.keys.note}};
  j["compartments"] = r.request.plan.compartments.size();
  j["backend"] = std::string(to_string(r.request.backend));
  j["revoked_previous_certificate"] =
      r.revocation.serial ? Ordered(*r.revocation.serial) : Ordered(nullptr);
  j["broker_reloaded"] = r.revocation.reloaded;
  j["next_steps"] = next;
  return j;
}

std::string output_text(const Registered& r, const std::vector<std::string>& next) {
  std::vector<std::string> ids;
  for (const auto& k : r.keys.keys) ids.push_back(std::to_string(k.key_id));
  std::string text = "Box " + r.o.box_id + (r.reused ? " re-provisioned" : " registered") + "\n";
  text += "  compartments: " + describe(r.request.plan) + ", backend " +
          std::string(to_string(r.request.backend)) + "\n";
  text += "  certificate:  serial " + r.creds.certificate.info.serial_hex + ", valid until " +
          detail::iso_time(r.creds.certificate.info.not_after) + "\n";
  text += "  trusted keys: " + (ids.empty() ? std::string("none") : detail::join(ids, ", ")) +
          " (from " + r.keys.source + ")\n";
  text += "  written:      " + r.local.out.string() + "\n";
  if (r.revocation.serial) {
    text += "  revoked:      previous certificate " + *r.revocation.serial + "\n";
  }
  text += "Next:\n";
  for (const auto& n : next) text += "  - " + n + "\n";
  return text;
}

}  // namespace

CliResult<CommandOutput> run_register(const RegisterOptions& o, Environment& env) {
  Console& console = env.console;
  RC_ASSIGN_OR_RETURN(const Request request, check_arguments(o));
  RC_ASSIGN_OR_RETURN(const Local local, check_pki_and_out(o, console));
  console.detail("compartments: " + describe(request.plan) + ", backend " +
                 std::string(to_string(request.backend)));

  RC_ASSIGN_OR_RETURN(auto client, detail::login(o.controller, env));
  RC_ASSIGN_OR_RETURN(auto looked_up, look_up_box(*client, o, request.plan, local, console));
  const auto& [reused, existing] = looked_up;
  RC_ASSIGN_OR_RETURN(std::optional<std::int64_t> location_id,
                      resolve_location(*client, o.location));

  Registered r{o, request, local, reused, {}, {}, {}, {}};
  RC_ASSIGN_OR_RETURN(r.keys, find_trusted_keys(*client, request.arg_keys, console));
  console.step("generating the box's key (EC P-256) and certificate (CN=" + o.box_id + ")");
  RC_ASSIGN_OR_RETURN(r.creds,
                      detail::local(local.pki.issue_box(o.box_id, env.clock, o.validity_days)));
  const BoxFile file = make_box_file(o, request, r.keys);
  if (!reused) {
    RC_ASSIGN_OR_RETURN(r.controller_box,
                        register_at_controller(*client, o, request.plan, location_id, console));
  } else {
    r.controller_box = Ordered{{"status", existing.body.value("status", "")},
                               {"online", existing.body.value("online", false)}};
  }
  RC_ASSIGN_OR_RETURN(std::optional<std::string> previous,
                      write_box_directory(o, local, file, r.creds, console));
  RC_ASSIGN_OR_RETURN(r.revocation, revoke_previous(o, local, previous, r.creds, env));
  client->logout();

  const std::vector<std::string> next = next_steps(r);
  CommandOutput result;
  result.json = output_json(r, next, env.clock);
  result.text = output_text(r, next);
  return result;
}

}  // namespace reclothes::provisioning::cli
