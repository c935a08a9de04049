// The Mosquitto 2.0 configuration shipped for a fleet: a TLS listener that requires a client
// certificate from the fleet CA, checks the CRL and takes the certificate's CN as the username,
// and an ACL file that lets a box touch only its own topics (docs/mqtt-contract.md, "Broker
// identity and ACL"; docs/broker-security.md for the reasoning and what the tests prove).
//
// provisioning/mosquitto/ holds a copy of the output for the default settings with @BROKER_DIR@ in
// place of the paths; a unit test keeps that copy equal to what these functions produce.
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "reclothes/common/result.h"
#include "reclothes/provisioning/files.h"

namespace reclothes::provisioning {

inline constexpr int kDefaultTlsPort = 8883;
// The largest message is a `config` of 1 MiB (docs/mqtt-contract.md, size limits), plus the MQTT
// header and topic: 1 MiB + 64 KiB leaves room without letting a client send arbitrary sizes.
inline constexpr std::size_t kDefaultMaxPacketSize = 1'114'112;
inline constexpr std::size_t kDefaultMaxQueuedMessages = 10'000;

// An optional plain listener on 127.0.0.1 for tools on the broker host (monitoring, debugging).
// There is no certificate there, so its users log in with a username and password from
// `password_file` (made with mosquitto_passwd). Each name in `readers` gets read-only access to
// every box topic and $SYS. Reader names follow is_valid_controller_name (they contain a '.'), so
// a password-file user can never be taken for a box; keep box ids out of the password file too.
struct LocalListener {
  int port = 1883;
  std::filesystem::path password_file;
  std::vector<std::string> readers;
};

struct BrokerConfig {
  // The TLS listener.
  std::string bind_address = "0.0.0.0";
  int tls_port = kDefaultTlsPort;
  std::string tls_version = "tlsv1.2";  // minimum: "tlsv1.2" or "tlsv1.3"
  // Absolute paths (mosquitto runs as its own user and does not resolve relative paths the way a
  // caller expects); no whitespace. The key must be readable by the broker's user.
  std::filesystem::path ca_file;
  std::filesystem::path cert_file;
  std::filesystem::path key_file;
  std::filesystem::path crl_file;
  std::filesystem::path acl_file;
  // use_username_as_clientid: the MQTT client id becomes the certificate's CN, so box A cannot
  // take over box B's session by connecting with client id "box-b". Consequence: one connection
  // per certificate (a second one with the same certificate takes the first one's session over).
  bool client_id_is_username = true;

  // Controller names (is_valid_controller_name), one ACL block each.
  std::vector<std::string> controllers;
  // Box ids refused everything by the ACL (RevocationList::decommissioned_box_ids()). The CRL
  // keeps a revoked certificate from connecting again; this also cuts off a connection that is
  // still open when the broker reloads (SIGHUP).
  std::vector<std::string> decommissioned_boxes;

  std::optional<LocalListener> local_listener;  // default: none

  // true: a complete mosquitto.conf (persistence, logging, queue limit). false: only the security
  // and listener lines, for a file in /etc/mosquitto/conf.d/ or for appending to another config.
  bool standalone = true;
  std::filesystem::path persistence_dir = "/var/lib/mosquitto";  // standalone only
  std::size_t max_queued_messages = kDefaultMaxQueuedMessages;   // standalone only
  std::size_t max_packet_size = kDefaultMaxPacketSize;
};

// The mosquitto.conf text. kInvalidArgument naming the field for: a relative path or one with
// whitespace, a port outside 1..65535 or used twice, an unknown tls_version, an invalid or
// duplicate controller / reader name, a decommissioned entry that is not a box id, a local
// listener without a password file.
Result<std::string> render_mosquitto_conf(const BrokerConfig& config);

// The ACL file text (same validation as render_mosquitto_conf).
Result<std::string> render_acl(const BrokerConfig& config);

// Writes the ACL to config.acl_file and the configuration to conf_file, each atomically with mode
// 0644 (and `owner` if given). The ACL goes first, so the configuration never names an ACL file
// that does not exist yet. A running broker picks both up on SIGHUP (see docs/broker-security.md).
Status write_broker_config(const BrokerConfig& config, const std::filesystem::path& conf_file,
                           std::optional<std::string> owner = std::nullopt);

}  // namespace reclothes::provisioning
