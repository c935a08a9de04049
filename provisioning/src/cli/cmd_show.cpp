// reclothes-provision show: one box (its configuration file, its certificate, the controller's
// view) or the whole fleet (--all, a progress line per box).
#include <sys/stat.h>

#include "commands_common.h"
#include "reclothes/common/token.h"
#include "reclothes/provisioning/files.h"

namespace reclothes::provisioning::cli {
namespace {

using detail::Ordered;

std::string text_of(const nlohmann::json& v) {
  if (v.is_null()) return "-";
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

// The local half: what is on disk for the box.
CliResult<Ordered> local_view(const std::filesystem::path& config_path, const Clock& clock,
                              std::string* text, std::vector<std::string>* problems) {
  RC_ASSIGN_OR_RETURN(BoxFile file, detail::local(load_box_file(config_path)));
  Ordered j;
  j["config"] = std::filesystem::absolute(config_path).string();
  j["box_id"] = file.box_id;
  j["broker"] = file.broker.uri;
  j["backend"] = std::string(to_string(file.backend));
  j["journal_path"] = file.journal_path;
  j["compartments"] = describe(file.cabinet);
  std::vector<int> key_ids;
  for (const auto& k : file.trusted_keys) key_ids.push_back(k.key_id);
  j["trusted_key_ids"] = key_ids;
  *text += "Box " + file.box_id + " (" + j["config"].get<std::string>() + ")\n";
  *text += "  broker:       " + file.broker.uri + "\n";
  *text += "  compartments: " + describe(file.cabinet) + ", backend " +
           std::string(to_string(file.backend)) + "\n";
  *text += "  trusted keys: " + std::to_string(key_ids.size()) + "\n";

  if (file.broker.cert.empty()) {
    problems->push_back("the configuration has no client certificate (broker.tls.cert)");
    j["certificate"] = nullptr;
    return j;
  }
  const auto cert_path = resolve(config_path, file.broker.cert);
  const auto key_path = resolve(config_path, file.broker.key);
  auto pem = read_file(cert_path);
  if (!pem.ok()) {
    problems->push_back("certificate: " + pem.error().to_string());
    j["certificate"] = nullptr;
  } else {
    auto info = inspect_certificate(*pem);
    if (!info.ok()) {
      problems->push_back("certificate " + cert_path.string() + ": " + info.error().to_string());
      j["certificate"] = nullptr;
    } else {
      j["certificate"] = detail::certificate_json(*info, clock);
      j["certificate"]["file"] = cert_path.string();
      *text += "  certificate:  " + info->subject + ", serial " + info->serial_hex + ", expires " +
               detail::iso_time(info->not_after) + " (" +
               std::to_string(detail::days_left(*info, clock)) + " days)\n";
      if (info->common_name != file.box_id) {
        problems->push_back("the certificate's CN " + info->common_name + " is not the box id " +
                            file.box_id);
      }
      if (info->not_after < clock.wall_seconds()) problems->push_back("the certificate expired");
    }
  }
  struct stat st {};
  if (::stat(key_path.c_str(), &st) != 0) {
    problems->push_back("private key " + key_path.string() + " is missing");
    j["key_mode"] = nullptr;
  } else {
    const unsigned mode = st.st_mode & 0777;
    char octal[8];
    std::snprintf(octal, sizeof(octal), "%04o", mode);
    j["key_mode"] = octal;
    if ((mode & 0077) != 0) {
      problems->push_back("private key " + key_path.string() + " is readable by others (mode " +
                          octal + "); chmod 600 it");
    }
  }
  return j;
}

Ordered controller_summary(const nlohmann::json& box) {
  Ordered j;
  for (const char* key : {"status", "online", "last_seen", "firmware_version", "backlog",
                          "open_faults", "last_applied_seq", "config_revision", "maintenance"}) {
    if (box.contains(key)) j[key] = box[key];
  }
  return j;
}

std::string controller_text(const nlohmann::json& box) {
  std::string t = "  controller:   " + text_of(box.value("status", nlohmann::json())) + ", " +
                  (box.value("online", false) ? "online" : "offline") + ", last seen " +
                  text_of(box.value("last_seen", nlohmann::json())) + ", backlog " +
                  text_of(box.value("backlog", nlohmann::json())) + ", open faults " +
                  text_of(box.value("open_faults", nlohmann::json())) + "\n";
  if (box.contains("compartments") && box["compartments"].is_array()) {
    detail::Table table({"#", "size", "state", "door", "fill"});
    for (const auto& c : box["compartments"]) {
      table.add({text_of(c.value("number", nlohmann::json())),
                 text_of(c.value("size_class", nlohmann::json())),
                 text_of(c.value("state", nlohmann::json())),
                 c.value("door_open", false) ? "open" : "closed",
                 c.value("fill_percent", nlohmann::json()).is_null()
                     ? "-"
                     : text_of(c["fill_percent"]) + " %"});
    }
    t += table.render("    ");
  }
  return t;
}

CliResult<CommandOutput> show_all(const ShowOptions& o, Environment& env) {
  if (!o.controller) {
    return cli_error(ExitCode::kUsage, ErrorCode::kInvalidArgument,
                     "show --all needs --controller and --staff-email");
  }
  std::optional<FleetPki> pki;
  if (o.pki) {
    RC_ASSIGN_OR_RETURN(FleetPki p, detail::local(FleetPki::open(*o.pki)));
    pki.emplace(std::move(p));
  }
  RC_ASSIGN_OR_RETURN(auto client, detail::login(*o.controller, env));
  env.console.step("listing the fleet");
  RC_ASSIGN_OR_RETURN(ApiReply list, ControllerClient::expect(client->get("/internal/v1/boxes"),
                                                              {200}, "listing boxes"));
  const auto& items = list.body["items"];
  const std::size_t n = items.is_array() ? items.size() : 0;
  Ordered boxes = Ordered::array();
  detail::Table table(
      {"box", "status", "online", "last seen", "backlog", "faults", "cert expires"});
  std::size_t attention = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::string id = items[i].value("id", "");
    // The fleet overview has the essentials; the detail adds faults and compartments, one
    // request per box, which is why this prints progress.
    RC_ASSIGN_OR_RETURN(ApiReply detail_reply,
                        ControllerClient::expect(client->get("/internal/v1/boxes/" + id), {200},
                                                 "reading box " + id));
    Ordered entry = controller_summary(detail_reply.body);
    entry["id"] = id;
    std::vector<std::string> faults;
    for (const auto& f : detail_reply.body.value("faults", nlohmann::json::array())) {
      std::string kind = f.value("kind", "");
      if (f.contains("compartment") && !f["compartment"].is_null()) {
        kind += " #" + text_of(f["compartment"]);
      }
      faults.push_back(kind);
    }
    entry["faults"] = faults;
    std::string expires = "-";
    bool expiring = false;
    if (pki) {
      auto pem = pki->box_certificate(id);
      if (pem.ok() && *pem) {
        auto info = inspect_certificate(**pem);
        if (info.ok()) {
          const auto days = detail::days_left(*info, env.clock);
          entry["certificate"] = detail::certificate_json(*info, env.clock);
          expires =
              detail::iso_time(info->not_after).substr(0, 10) + " (" + std::to_string(days) + " d)";
          expiring = days < o.expiry_warning_days;
        }
      }
    }
    const bool online = detail_reply.body.value("online", false);
    const std::string status = detail_reply.body.value("status", "");
    if ((!online && status != "decommissioned") || !faults.empty() || expiring) ++attention;
    env.console.step("[" + std::to_string(i + 1) + "/" + std::to_string(n) + "] " + id + ": " +
                     status + ", " + (online ? "online" : "offline") + ", " +
                     std::to_string(faults.size()) + " open faults" +
                     (expiring ? ", certificate expires soon" : ""));
    table.add({id, status, online ? "yes" : "no",
               text_of(detail_reply.body.value("last_seen", nlohmann::json())),
               text_of(detail_reply.body.value("backlog", nlohmann::json())),
               faults.empty() ? "0" : detail::join(faults, " "), expires});
    boxes.push_back(std::move(entry));
  }
  client->logout();
  CommandOutput out;
  out.json["ok"] = true;
  out.json["count"] = n;
  out.json["online"] = list.body.value("online", 0);
  out.json["needing_attention"] = attention;
  out.json["boxes"] = boxes;
  out.text = table.render();
  out.text += std::to_string(n) + " boxes, " + std::to_string(list.body.value("online", 0)) +
              " online, " + std::to_string(attention) +
              " needing attention (offline, open faults or certificate expiring within " +
              std::to_string(o.expiry_warning_days) + " days)\n";
  return out;
}

}  // namespace

CliResult<CommandOutput> run_show(const ShowOptions& o, Environment& env) {
  if (o.all) return show_all(o, env);
  if (!o.config && !o.box_id) {
    return cli_error(ExitCode::kUsage, ErrorCode::kInvalidArgument,
                     "show needs --config BOX.json, or --box-id ID with --controller, or --all");
  }
  CommandOutput out;
  out.json["ok"] = true;
  std::vector<std::string> problems;
  std::string box_id = o.box_id.value_or("");
  if (o.config) {
    RC_ASSIGN_OR_RETURN(Ordered local, local_view(*o.config, env.clock, &out.text, &problems));
    if (!box_id.empty() && box_id != local["box_id"].get<std::string>()) {
      return cli_error(ExitCode::kUsage, ErrorCode::kInvalidArgument,
                       "--box-id " + box_id + " differs from the configuration's box id " +
                           local["box_id"].get<std::string>());
    }
    box_id = local["box_id"].get<std::string>();
    out.json["local"] = local;
  } else {
    out.text += "Box " + box_id + "\n";
  }
  if (!is_valid_box_id(box_id)) {
    return cli_error(ExitCode::kUsage, ErrorCode::kInvalidArgument,
                     "box id \"" + box_id + "\" is invalid");
  }
  out.json["box_id"] = box_id;
  if (o.pki) {
    RC_ASSIGN_OR_RETURN(FleetPki pki, detail::local(FleetPki::open(*o.pki)));
    RC_ASSIGN_OR_RETURN(std::optional<std::string> pem, detail::local(pki.box_certificate(box_id)));
    RC_ASSIGN_OR_RETURN(RevocationList list, detail::local(pki.revocations()));
    Ordered p;
    p["decommissioned"] = list.is_decommissioned(box_id);
    if (pem) {
      auto info = inspect_certificate(*pem);
      if (info.ok()) {
        p["recorded_certificate"] = detail::certificate_json(*info, env.clock);
        p["revoked"] = list.contains_serial(info->serial_hex);
        if (out.json.contains("local") && out.json["local"]["certificate"].is_object() &&
            out.json["local"]["certificate"]["serial"] != info->serial_hex) {
          problems.push_back("the box's certificate is not the one the PKI recorded last (" +
                             info->serial_hex + "): an old configuration?");
        }
        out.text += "  PKI:          recorded certificate " + info->serial_hex +
                    (list.contains_serial(info->serial_hex) ? " (revoked)" : "") + "\n";
      }
    } else {
      p["recorded_certificate"] = nullptr;
      out.text += "  PKI:          no certificate recorded for this box\n";
    }
    if (list.is_decommissioned(box_id)) out.text += "  PKI:          decommissioned\n";
    out.json["pki"] = p;
  }
  if (o.controller) {
    RC_ASSIGN_OR_RETURN(auto client, detail::login(*o.controller, env));
    env.console.step("reading box " + box_id + " at the controller");
    RC_ASSIGN_OR_RETURN(ApiReply reply,
                        ControllerClient::expect(client->get("/internal/v1/boxes/" + box_id), {200},
                                                 "reading box " + box_id));
    client->logout();
    Ordered c = controller_summary(reply.body);
    c["compartments"] = reply.body.value("compartments", nlohmann::json::array());
    c["faults"] = reply.body.value("faults", nlohmann::json::array());
    out.json["controller"] = c;
    out.text += controller_text(reply.body);
  }
  out.json["problems"] = problems;
  for (const auto& p : problems) out.text += "  problem:      " + p + "\n";
  return out;
}

}  // namespace reclothes::provisioning::cli
