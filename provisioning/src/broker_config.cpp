#include "reclothes/provisioning/broker_config.h"

#include <algorithm>
#include <set>
#include <sstream>

#include "reclothes/common/token.h"
#include "reclothes/provisioning/pki.h"

namespace reclothes::provisioning {
namespace {

constexpr std::string_view kTopicRoot = "reclothes/v1/boxes/";
// docs/mqtt-contract.md: what a box publishes and what it receives.
constexpr std::string_view kBoxWrites[] = {"events", "command-results", "state", "status"};
constexpr std::string_view kBoxReads[] = {"acks", "commands", "config"};

Error invalid(std::string message) {
  return make_error(ErrorCode::kInvalidArgument, "broker config: " + std::move(message));
}

Status check_path(const std::filesystem::path& path, std::string_view field) {
  const std::string s = path.string();
  if (s.empty()) return invalid(std::string(field) + " is not set");
  if (!path.is_absolute()) {
    return invalid(std::string(field) + " \"" + s + "\" must be an absolute path");
  }
  const bool bad = std::any_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u <= 0x20 || u == 0x7f;
  });
  if (bad) {
    return invalid(std::string(field) + " \"" + s +
                   "\" contains whitespace or control characters, which mosquitto.conf cannot "
                   "quote");
  }
  return ok_status();
}

Status check_port(int port, std::string_view field) {
  if (port < 1 || port > 65535) {
    return invalid(std::string(field) + " must be 1..65535, got " + std::to_string(port));
  }
  return ok_status();
}

Status validate(const BrokerConfig& c) {
  if (c.bind_address.empty() ||
      std::any_of(c.bind_address.begin(), c.bind_address.end(),
                  [](char ch) { return static_cast<unsigned char>(ch) <= 0x20; })) {
    return invalid("bind_address must be a host name or address without whitespace");
  }
  RC_TRY(check_port(c.tls_port, "tls_port"));
  if (c.tls_version != "tlsv1.2" && c.tls_version != "tlsv1.3") {
    return invalid("tls_version must be \"tlsv1.2\" or \"tlsv1.3\", got \"" + c.tls_version + "\"");
  }
  RC_TRY(check_path(c.ca_file, "ca_file"));
  RC_TRY(check_path(c.cert_file, "cert_file"));
  RC_TRY(check_path(c.key_file, "key_file"));
  RC_TRY(check_path(c.crl_file, "crl_file"));
  RC_TRY(check_path(c.acl_file, "acl_file"));
  if (c.max_packet_size < 1024) return invalid("max_packet_size must be at least 1024");
  std::set<std::string> names;
  for (const auto& name : c.controllers) {
    if (!is_valid_controller_name(name)) {
      return invalid("controller \"" + name +
                     "\" is not a valid controller name (needs a '.', e.g. controller.eu-1)");
    }
    if (!names.insert(name).second) return invalid("controller \"" + name + "\" is listed twice");
  }
  for (const auto& box : c.decommissioned_boxes) {
    if (!is_valid_box_id(box)) return invalid("decommissioned box \"" + box + "\" is not a box id");
  }
  if (c.local_listener) {
    const LocalListener& local = *c.local_listener;
    RC_TRY(check_port(local.port, "local_listener.port"));
    if (local.port == c.tls_port) {
      return invalid("local_listener.port and tls_port are both " + std::to_string(c.tls_port));
    }
    RC_TRY(check_path(local.password_file, "local_listener.password_file"));
    for (const auto& reader : local.readers) {
      if (!is_valid_controller_name(reader)) {
        return invalid("local reader \"" + reader +
                       "\" must be a name with a '.', like a controller (e.g. monitor.local)");
      }
      if (!names.insert(reader).second) {
        return invalid("local reader \"" + reader + "\" is also a controller or listed twice");
      }
    }
  }
  if (c.standalone) RC_TRY(check_path(c.persistence_dir, "persistence_dir"));
  return ok_status();
}

}  // namespace

Result<std::string> render_mosquitto_conf(const BrokerConfig& c) {
  RC_TRY(validate(c));
  std::ostringstream out;
  out << "# ReClothes fleet broker (Mosquitto 2.0), written by reclothes-provision.\n"
         "# docs/broker-security.md explains every line; regenerate rather than edit.\n"
         "# Reload after a revocation or an ACL change: kill -HUP <mosquitto pid>\n"
         "# (re-reads the CRL, the ACL and the server certificate; open connections stay).\n"
         "\n";
  if (c.standalone) {
    out << "persistence true\n"
        << "persistence_location " << c.persistence_dir.string() << "/\n"
        << "# Commands for an offline box wait in its session; beyond this they are dropped.\n"
        << "max_queued_messages " << c.max_queued_messages << "\n"
        << "log_dest stderr\n"
        << "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n"
        << "connection_messages true\n"
        << "\n";
  }
  out << "# Security settings apply to every listener: one ACL, no anonymous clients.\n"
         "per_listener_settings false\n"
         "allow_anonymous false\n"
      << "acl_file " << c.acl_file.string() << "\n";
  if (c.local_listener) {
    out << "# Users of the local listener (the TLS listener ignores it: it uses certificates).\n"
        << "password_file " << c.local_listener->password_file.string() << "\n";
  }
  out << "# A config message is at most 1 MiB (docs/mqtt-contract.md).\n"
      << "max_packet_size " << c.max_packet_size << "\n"
      << "\n"
      << "# Boxes and controllers: TLS with a client certificate from the fleet CA.\n"
      << "listener " << c.tls_port << " " << c.bind_address << "\n"
      << "cafile " << c.ca_file.string() << "\n"
      << "certfile " << c.cert_file.string() << "\n"
      << "keyfile " << c.key_file.string() << "\n"
      << "crlfile " << c.crl_file.string() << "\n"
      << "tls_version " << c.tls_version << "\n"
      << "require_certificate true\n"
      << "# The username is the certificate's CN: the box id, or a controller name.\n"
      << "use_identity_as_username true\n";
  if (c.client_id_is_username) {
    out << "# The client id is the username too, so nobody can take over another's session.\n"
        << "use_username_as_clientid true\n";
  }
  if (c.local_listener) {
    out << "\n"
        << "# Local tools only: loopback, no TLS, username and password required.\n"
        << "listener " << c.local_listener->port << " 127.0.0.1\n";
  }
  return out.str();
}

Result<std::string> render_acl(const BrokerConfig& c) {
  RC_TRY(validate(c));
  std::ostringstream out;
  out << "# ReClothes broker ACL (Mosquitto 2.0), written by reclothes-provision.\n"
         "# %u is the MQTT username = the client certificate's CN = the box id.\n"
         "# Mosquitto 2.0 checks \"read\" when it delivers a message, not when a client\n"
         "# subscribes: a box may subscribe to another box's topic but receives nothing.\n"
         "\n"
         "# Every box: publish to its own box -> controller topics ...\n";
  for (std::string_view leaf : kBoxWrites) {
    out << "pattern write " << kTopicRoot << "%u/" << leaf << "\n";
  }
  out << "# ... and receive its own controller -> box topics.\n";
  for (std::string_view leaf : kBoxReads) {
    out << "pattern read " << kTopicRoot << "%u/" << leaf << "\n";
  }
  out << "\n"
         "# Controllers (names contain a '.', which no box id can): read every box's\n"
         "# box -> controller topics (through $share/controllers/...), write every box's\n"
         "# controller -> box topics.\n";
  for (const auto& controller : c.controllers) {
    out << "user " << controller << "\n";
    for (std::string_view leaf : kBoxWrites) {
      out << "topic read " << kTopicRoot << "+/" << leaf << "\n";
    }
    for (std::string_view leaf : kBoxReads) {
      out << "topic write " << kTopicRoot << "+/" << leaf << "\n";
    }
  }
  if (c.controllers.empty()) out << "# (none)\n";
  out << "\n"
         "# Decommissioned boxes: denied everything. Deny lines are checked before any\n"
         "# pattern, and take effect on open connections at the next reload.\n";
  std::vector<std::string> retired = c.decommissioned_boxes;
  std::sort(retired.begin(), retired.end());
  retired.erase(std::unique(retired.begin(), retired.end()), retired.end());
  for (const auto& box : retired) {
    out << "user " << box << "\n"
        << "topic deny #\n";
  }
  if (retired.empty()) out << "# (none)\n";
  if (c.local_listener) {
    out << "\n"
           "# Local read-only tools (local listener, password file).\n";
    for (const auto& reader : c.local_listener->readers) {
      out << "user " << reader << "\n"
          << "topic read " << kTopicRoot << "#\n"
          << "topic read $SYS/#\n";
    }
  }
  return out.str();
}

Status write_broker_config(const BrokerConfig& config, const std::filesystem::path& conf_file,
                           std::optional<std::string> owner) {
  RC_ASSIGN_OR_RETURN(std::string acl, render_acl(config));
  RC_ASSIGN_OR_RETURN(std::string conf, render_mosquitto_conf(config));
  const WriteOptions options = public_file(std::move(owner));
  RC_TRY(write_file_atomic(config.acl_file, acl, options));
  return write_file_atomic(conf_file, conf, options);
}

}  // namespace reclothes::provisioning
