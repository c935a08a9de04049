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

}  // namespace

CliResult<CommandOutput> run_register(const RegisterOptions& o, Environment& env) {
  Console& console = env.console;
  // ---- 1. local checks ----
  if (!is_valid_box_id(o.box_id)) {
    return cli_error(ExitCode::kUsage, ErrorCode::kInvalidArgument,
                     "--box-id \"" + o.box_id + "\" is invalid: 1..32 of [A-Za-z0-9_-]");
  }
  RC_ASSIGN_OR_RETURN(CabinetPlan plan, detail::local(load_cabinet_spec(o.compartments)));
  if (o.broker_uri.rfind("ssl://", 0) != 0 && o.broker_uri.rfind("mqtts://", 0) != 0) {
    return cli_error(ExitCode::kUsage, ErrorCode::kInvalidArgument,
                     "--broker \"" + o.broker_uri +
                         "\": a box connects with its own certificate, so the URI must be "
                         "ssl://host:port (or mqtts://)");
  }
  const Backend backend = o.backend.value_or(plan.has_pin_map() ? Backend::kLinux : Backend::kSim);
  if (backend == Backend::kLinux && !plan.has_pin_map()) {
    return cli_error(ExitCode::kUsage, ErrorCode::kInvalidArgument,
                     "--backend linux needs a pin for every compartment: give --compartments a "
                     "JSON file with \"pin\" entries (docs/provisioning.md)");
  }
  if (o.keepalive_s < 5 || o.keepalive_s > 3600) {
    return cli_error(ExitCode::kUsage, ErrorCode::kInvalidArgument, "--keepalive must be 5..3600");
  }
  std::vector<TrustedKey> arg_keys;
  for (const auto& arg : o.trusted_keys) {
    RC_ASSIGN_OR_RETURN(TrustedKey k, read_trusted_key_arg(arg));
    arg_keys.push_back(std::move(k));
  }
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
  console.detail("compartments: " + describe(plan) + ", backend " +
                 std::string(to_string(backend)));

  // ---- 2. the controller's view ----
  RC_ASSIGN_OR_RETURN(auto client, detail::login(o.controller, env));
  console.step("checking whether box " + o.box_id + " is known to the controller");
  RC_ASSIGN_OR_RETURN(ApiReply existing, client->get("/internal/v1/boxes/" + o.box_id));
  bool registered = false;
  if (existing.status == 200) {
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
    registered = true;
    console.step("box " + o.box_id + " is registered (status " + status +
                 "): re-provisioning it with new credentials");
  } else if (existing.status != 404) {
    RC_TRY(ControllerClient::expect(std::move(existing), {200, 404}, "looking up box " + o.box_id));
  }
  // Checked after the controller's answer, which says more ("already registered: --reuse") when
  // the same registration is simply run twice.
  if (out_taken && !registered) {
    return cli_error(ExitCode::kLocal, ErrorCode::kAlreadyExists,
                     "--out " + out.string() + " exists and is not empty",
                     "--force replaces it (atomically), or choose another directory");
  }
  RC_ASSIGN_OR_RETURN(std::optional<std::int64_t> location_id,
                      resolve_location(*client, o.location));

  // ---- 3. keys and credentials ----
  RC_ASSIGN_OR_RETURN(KeysFound keys, find_trusted_keys(*client, arg_keys, console));
  console.step("generating the box's key (EC P-256) and certificate (CN=" + o.box_id + ")");
  RC_ASSIGN_OR_RETURN(BoxCredentials creds,
                      detail::local(pki.issue_box(o.box_id, env.clock, o.validity_days)));

  BoxFile file;
  file.box_id = o.box_id;
  file.journal_path = o.journal_path;
  file.broker.uri = o.broker_uri;
  file.broker.keepalive_s = o.keepalive_s;
  file.trusted_keys = keys.keys;
  file.cabinet = plan;
  file.backend = backend;
  if (!o.camera) file.camera.reset();

  // ---- 4. registration ----
  Ordered controller_box;
  if (!registered) {
    nlohmann::json body;
    body["box_id"] = o.box_id;
    body["compartments"] = nlohmann::json::array();
    for (const auto& c : plan.compartments) {
      body["compartments"].push_back({{"number", c.number}, {"size", c.size}});
    }
    if (location_id) body["location_id"] = *location_id;
    console.step("registering box " + o.box_id + " with " + describe(plan));
    RC_ASSIGN_OR_RETURN(ApiReply reply, client->post("/internal/v1/boxes", body));
    if (reply.status == 409) {
      return cli_error(
          ExitCode::kConflict, ErrorCode::kAlreadyExists,
          "box " + o.box_id + " was registered by someone else meanwhile: " + reply.error_message(),
          "check with `reclothes-provision show --box-id " + o.box_id +
              "`; --reuse re-provisions it");
    }
    RC_ASSIGN_OR_RETURN(
        reply, ControllerClient::expect(std::move(reply), {201}, "registering box " + o.box_id));
    controller_box = Ordered{{"status", reply.body.value("status", "")},
                             {"compartment_count", plan.compartments.size()}};
  } else {
    controller_box = Ordered{{"status", existing.body.value("status", "")},
                             {"online", existing.body.value("online", false)}};
  }
  const std::string after_registration =
      "the box is registered at the controller; fix the problem and run the same command with "
      "--reuse";

  // ---- 5. files ----
  console.step("writing " + out.string() + " (box.json, box.key 0600, box.crt, ca.crt)");
  std::vector<DirFile> files = {
      {kBoxConfigFile, render_box_file(file), false},
      {kBoxKeyFile, creds.private_key_pem, true},
      {kBoxCertFile, creds.certificate.certificate_pem, false},
      {kBoxCaFile, pki.ca().certificate_pem(), false},
  };
  if (auto s2 = write_directory_atomic(out, files, true, o.owner); !s2.ok()) {
    return detail::local_error(std::move(s2).error(), after_registration);
  }
  RC_ASSIGN_OR_RETURN(std::optional<std::string> previous,
                      detail::local(pki.box_certificate(o.box_id), after_registration));
  RC_TRY(
      detail::local(pki.record_box_certificate(o.box_id, creds.certificate), after_registration));

  // ---- 6. the replaced board's certificate ----
  std::optional<std::string> revoked_serial;
  bool reload_needed = false;
  if (previous) {
    auto info = inspect_certificate(*previous);
    if (info.ok() && info->serial_hex != creds.certificate.info.serial_hex) {
      if (info->issuer != pki.ca().info().subject) {
        console.warn("the previously recorded certificate of " + o.box_id +
                     " was issued by another CA (" + info->issuer + "); not revoking it");
      } else if (!revoked.contains_serial(info->serial_hex)) {
        console.step("revoking the previous certificate " + info->serial_hex +
                     " (superseded) and regenerating the CRL");
        RC_TRY(detail::local(pki.revoke(*previous, RevocationReason::kSuperseded, env.clock)));
        revoked_serial = info->serial_hex;
        reload_needed = true;
      }
    }
  }
  bool reloaded = false;
  if (reload_needed && o.broker_pid) {
    RC_TRY(detail::local(signal_broker_reload(*o.broker_pid)));
    console.step("sent SIGHUP to the broker (pid " + std::to_string(*o.broker_pid) + ")");
    reloaded = true;
  }
  client->logout();

  std::vector<std::string> next = {
      "copy " + out.string() +
          " to the box (e.g. /etc/reclothes/), keep box.key 0600 and owned by "
          "the firmware's user",
      "run `reclothes-provision selftest --config " + (out / kBoxConfigFile).string() +
          "` on the box, then start reclothes-box"};
  if (reload_needed && !reloaded) {
    next.push_back("copy " + s.broker_dir.string() +
                   "/crl.pem to the broker and send it SIGHUP (kill -HUP <mosquitto pid>) so the "
                   "old certificate is refused");
  }

  CommandOutput result;
  result.json["ok"] = true;
  result.json["box_id"] = o.box_id;
  result.json["registration"] = registered ? "reused" : "created";
  result.json["controller"] = controller_box;
  result.json["out_dir"] = out.string();
  result.json["files"] = Ordered{{"config", (out / kBoxConfigFile).string()},
                                 {"key", (out / kBoxKeyFile).string()},
                                 {"certificate", (out / kBoxCertFile).string()},
                                 {"ca", (out / kBoxCaFile).string()}};
  result.json["certificate"] = detail::certificate_json(creds.certificate.info, env.clock);
  std::vector<int> key_ids;
  for (const auto& k : keys.keys) key_ids.push_back(k.key_id);
  result.json["trusted_keys"] =
      Ordered{{"source", keys.source}, {"key_ids", key_ids}, {"note", keys.note}};
  result.json["compartments"] = plan.compartments.size();
  result.json["backend"] = std::string(to_string(backend));
  result.json["revoked_previous_certificate"] =
      revoked_serial ? Ordered(*revoked_serial) : Ordered(nullptr);
  result.json["broker_reloaded"] = reloaded;
  result.json["next_steps"] = next;

  result.text = "Box " + o.box_id + (registered ? " re-provisioned" : " registered") + "\n";
  result.text +=
      "  compartments: " + describe(plan) + ", backend " + std::string(to_string(backend)) + "\n";
  result.text += "  certificate:  serial " + creds.certificate.info.serial_hex + ", valid until " +
                 detail::iso_time(creds.certificate.info.not_after) + "\n";
  result.text += "  trusted keys: " + (key_ids.empty() ? std::string("none") : [&] {
    std::vector<std::string> ids;
    for (int id : key_ids) ids.push_back(std::to_string(id));
    return detail::join(ids, ", ");
  }()) + " (from " + keys.source + ")\n";
  result.text += "  written:      " + out.string() + "\n";
  if (revoked_serial)
    result.text += "  revoked:      previous certificate " + *revoked_serial + "\n";
  result.text += "Next:\n";
  for (const auto& n : next) result.text += "  - " + n + "\n";
  return result;
}

}  // namespace reclothes::provisioning::cli
