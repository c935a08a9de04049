// The generated Mosquitto configuration and ACL, as text. That Mosquitto enforces them is
// broker_security_test.cpp's job.
#include "reclothes/provisioning/broker_config.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "reclothes/provisioning/files.h"
#include "reclothes/testsupport/temp_dir.h"

namespace reclothes::provisioning {
namespace {

// The shipped templates are the output for this configuration, with @BROKER_DIR@ in place of
// kBrokerDir.
constexpr char kBrokerDir[] = "/etc/mosquitto/reclothes";

BrokerConfig template_config() {
  const std::filesystem::path dir = kBrokerDir;
  BrokerConfig c;
  c.ca_file = dir / "ca.crt";
  c.cert_file = dir / "server.crt";
  c.key_file = dir / "server.key";
  c.crl_file = dir / "crl.pem";
  c.acl_file = dir / "reclothes.acl";
  c.controllers = {"controller.eu-1", "controller.eu-2"};
  return c;
}

std::string substitute(std::string text, const std::string& from, const std::string& to) {
  for (auto pos = text.find(from); pos != std::string::npos;
       pos = text.find(from, pos + to.size())) {
    text.replace(pos, from.size(), to);
  }
  return text;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line[0] != '#') lines.push_back(line);
  }
  return lines;
}

bool has_line(const std::string& text, const std::string& line) {
  for (const auto& l : lines_of(text)) {
    if (l == line) return true;
  }
  return false;
}

TEST(BrokerConfigTest, TlsListenerRequiresCertificatesAndUsesTheCnAsUsername) {
  auto conf = render_mosquitto_conf(template_config());
  ASSERT_TRUE(conf.ok()) << conf.error().to_string();
  for (const char* line :
       {"per_listener_settings false", "allow_anonymous false",
        "acl_file /etc/mosquitto/reclothes/reclothes.acl", "listener 8883 0.0.0.0",
        "cafile /etc/mosquitto/reclothes/ca.crt", "certfile /etc/mosquitto/reclothes/server.crt",
        "keyfile /etc/mosquitto/reclothes/server.key", "crlfile /etc/mosquitto/reclothes/crl.pem",
        "require_certificate true", "use_identity_as_username true",
        "use_username_as_clientid true", "tls_version tlsv1.2", "max_packet_size 1114112",
        "persistence true"}) {
    EXPECT_TRUE(has_line(*conf, line)) << line << "\nin:\n" << *conf;
  }
  // Exactly one listener by default: no plain port.
  int listeners = 0;
  for (const auto& l : lines_of(*conf)) listeners += l.rfind("listener ", 0) == 0 ? 1 : 0;
  EXPECT_EQ(listeners, 1);
  EXPECT_FALSE(has_line(*conf, "password_file"));
}

TEST(BrokerConfigTest, NotStandaloneLeavesProcessSettingsToTheHost) {
  BrokerConfig c = template_config();
  c.standalone = false;
  auto conf = render_mosquitto_conf(c);
  ASSERT_TRUE(conf.ok());
  EXPECT_EQ(conf->find("persistence"), std::string::npos);
  EXPECT_EQ(conf->find("log_dest"), std::string::npos);
  EXPECT_TRUE(has_line(*conf, "require_certificate true"));
}

TEST(BrokerConfigTest, AclGivesBoxesOnlyTheirOwnTopics) {
  auto acl = render_acl(template_config());
  ASSERT_TRUE(acl.ok()) << acl.error().to_string();
  const std::vector<std::string> expected_patterns = {
      "pattern write reclothes/v1/boxes/%u/events",
      "pattern write reclothes/v1/boxes/%u/command-results",
      "pattern write reclothes/v1/boxes/%u/state",
      "pattern write reclothes/v1/boxes/%u/status",
      "pattern read reclothes/v1/boxes/%u/acks",
      "pattern read reclothes/v1/boxes/%u/commands",
      "pattern read reclothes/v1/boxes/%u/config",
  };
  std::vector<std::string> patterns;
  for (const auto& l : lines_of(*acl)) {
    if (l.rfind("pattern ", 0) == 0) patterns.push_back(l);
  }
  EXPECT_EQ(patterns, expected_patterns);
  // No topic line outside a user block: anonymous clients get nothing.
  const auto lines = lines_of(*acl);
  ASSERT_FALSE(lines.empty());
  bool in_user = false;
  for (const auto& l : lines) {
    if (l.rfind("user ", 0) == 0) in_user = true;
    if (l.rfind("topic ", 0) == 0) {
      EXPECT_TRUE(in_user) << l;
    }
  }
}

TEST(BrokerConfigTest, AclControllersReadBoxTopicsAndWriteControllerTopics) {
  auto acl = render_acl(template_config());
  ASSERT_TRUE(acl.ok());
  const auto lines = lines_of(*acl);
  const std::vector<std::string> block = {
      "user controller.eu-2",
      "topic read reclothes/v1/boxes/+/events",
      "topic read reclothes/v1/boxes/+/command-results",
      "topic read reclothes/v1/boxes/+/state",
      "topic read reclothes/v1/boxes/+/status",
      "topic write reclothes/v1/boxes/+/acks",
      "topic write reclothes/v1/boxes/+/commands",
      "topic write reclothes/v1/boxes/+/config",
  };
  auto it = std::search(lines.begin(), lines.end(), block.begin(), block.end());
  EXPECT_NE(it, lines.end()) << *acl;
}

TEST(BrokerConfigTest, DecommissionedBoxesAreDeniedEverything) {
  BrokerConfig c = template_config();
  c.decommissioned_boxes = {"box-b", "box-a", "box-b"};
  auto acl = render_acl(c);
  ASSERT_TRUE(acl.ok());
  const auto lines = lines_of(*acl);
  const std::vector<std::string> expected = {"user box-a", "topic deny #", "user box-b",
                                             "topic deny #"};
  EXPECT_NE(std::search(lines.begin(), lines.end(), expected.begin(), expected.end()), lines.end())
      << *acl;
}

TEST(BrokerConfigTest, LocalListenerIsOffByDefaultAndLoopbackWithPasswordsWhenAsked) {
  BrokerConfig c = template_config();
  c.local_listener =
      LocalListener{1884, "/etc/mosquitto/reclothes-local.passwd", {"monitor.local"}};
  auto conf = render_mosquitto_conf(c);
  ASSERT_TRUE(conf.ok()) << conf.error().to_string();
  EXPECT_TRUE(has_line(*conf, "listener 1884 127.0.0.1"));
  EXPECT_TRUE(has_line(*conf, "password_file /etc/mosquitto/reclothes-local.passwd"));
  EXPECT_TRUE(has_line(*conf, "allow_anonymous false"));
  auto acl = render_acl(c);
  ASSERT_TRUE(acl.ok());
  EXPECT_TRUE(has_line(*acl, "user monitor.local"));
  EXPECT_TRUE(has_line(*acl, "topic read reclothes/v1/boxes/#"));
  EXPECT_FALSE(has_line(*acl, "topic write reclothes/v1/boxes/#"));
}

TEST(BrokerConfigTest, BadSettingsAreRefusedWithTheFieldName) {
  struct Case {
    const char* field;
    void (*mutate)(BrokerConfig&);
  };
  const Case cases[] = {
      {"ca_file", [](BrokerConfig& c) { c.ca_file = "certs/ca.crt"; }},
      {"key_file", [](BrokerConfig& c) { c.key_file = "/etc/my keys/server.key"; }},
      {"crl_file", [](BrokerConfig& c) { c.crl_file.clear(); }},
      {"tls_port", [](BrokerConfig& c) { c.tls_port = 70000; }},
      {"tls_version", [](BrokerConfig& c) { c.tls_version = "tlsv1.1"; }},
      {"controller-1", [](BrokerConfig& c) { c.controllers = {"controller-1"}; }},
      {"listed twice",
       [](BrokerConfig& c) {
         c.controllers = {"a.b", "a.b"};
       }},
      {"box.x", [](BrokerConfig& c) { c.decommissioned_boxes = {"box.x"}; }},
      {"local_listener.port",
       [](BrokerConfig& c) {
         c.local_listener = LocalListener{8883, "/p", {}};
       }},
      {"password_file",
       [](BrokerConfig& c) {
         c.local_listener = LocalListener{1884, "", {}};
       }},
      {"monitor",
       [](BrokerConfig& c) {
         c.local_listener = LocalListener{1884, "/p", {"monitor"}};
       }},
      {"bind_address", [](BrokerConfig& c) { c.bind_address = "0.0.0.0 1883"; }},
  };
  for (const Case& k : cases) {
    BrokerConfig c = template_config();
    k.mutate(c);
    auto conf = render_mosquitto_conf(c);
    ASSERT_FALSE(conf.ok()) << k.field;
    EXPECT_EQ(conf.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(conf.error().message.find(k.field), std::string::npos)
        << k.field << ": " << conf.error().message;
    EXPECT_FALSE(render_acl(c).ok()) << k.field;
  }
}

// provisioning/mosquitto/ ships the output for the default settings. If this fails after a
// deliberate change, regenerate the templates (see provisioning/mosquitto/README.md).
TEST(BrokerConfigTest, ShippedTemplatesMatchTheGenerator) {
  const std::filesystem::path dir =
      std::filesystem::path(RECLOTHES_PROVISIONING_SOURCE_DIR) / "mosquitto";
  auto conf = render_mosquitto_conf(template_config());
  auto acl = render_acl(template_config());
  ASSERT_TRUE(conf.ok());
  ASSERT_TRUE(acl.ok());
  auto shipped_conf = read_file(dir / "reclothes-broker.conf.in");
  auto shipped_acl = read_file(dir / "reclothes.acl");
  ASSERT_TRUE(shipped_conf.ok()) << shipped_conf.error().to_string();
  ASSERT_TRUE(shipped_acl.ok()) << shipped_acl.error().to_string();
  EXPECT_NE(shipped_conf->find("cafile @BROKER_DIR@/ca.crt"), std::string::npos);
  EXPECT_EQ(substitute(*shipped_conf, "@BROKER_DIR@", kBrokerDir), *conf);
  EXPECT_EQ(*shipped_acl, *acl);
}

TEST(BrokerConfigTest, WriteBrokerConfigWritesBothFiles) {
  const auto dir = testsupport::TempDir::create_or_throw("reclothes-broker-config-");
  BrokerConfig c = template_config();
  c.acl_file = dir / "reclothes.acl";
  ASSERT_TRUE(write_broker_config(c, dir / "mosquitto.conf").ok());
  auto conf = read_file(dir / "mosquitto.conf");
  auto acl = read_file(dir / "reclothes.acl");
  ASSERT_TRUE(conf.ok());
  ASSERT_TRUE(acl.ok());
  EXPECT_TRUE(has_line(*conf, "acl_file " + c.acl_file.string()));
  EXPECT_EQ(*acl, *render_acl(c));
}

}  // namespace
}  // namespace reclothes::provisioning
