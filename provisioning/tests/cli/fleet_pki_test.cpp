// The PKI directory behind `ca init`, `register`, `rotate-credentials` and `decommission`, and the
// atomic box directory.
#include "reclothes/provisioning/cli/fleet_pki.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "reclothes/provisioning/cli/commands.h"
#include "reclothes/provisioning/files.h"
#include "reclothes/testsupport/temp_dir.h"

namespace reclothes::provisioning::cli {
namespace {

namespace fs = std::filesystem;

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 0777;
}

std::string slurp(const fs::path& p) {
  auto text = read_file(p);
  EXPECT_TRUE(text.ok()) << p;
  return text.ok() ? *text : "";
}

class FleetPkiTest : public ::testing::Test {
 protected:
  FleetPki::InitOptions options() const {
    FleetPki::InitOptions o;
    o.dir = root_ / "pki";
    o.settings.controllers = {"controller.a-1", "controller.b-1"};
    o.settings.server_names = {"broker.test"};
    o.settings.server_ips = {"127.0.0.1"};
    o.settings.tls_port = 18883;
    // The test may run as root: files are then given to this user, who must exist.
    o.settings.broker_user = "root";
    return o;
  }

  const testsupport::TempDir root_ = testsupport::TempDir::create_or_throw("reclothes-fleet-pki-");
  ManualClock clock_;
};

TEST_F(FleetPkiTest, InitWritesTheWholeTreeWithPrivateKeysOnly0600) {
  FleetInitReport report;
  auto pki = FleetPki::init(options(), clock_, &report);
  ASSERT_TRUE(pki.ok()) << pki.error().to_string();
  const fs::path dir = root_ / "pki";
  EXPECT_EQ(mode_of(dir), 0700u);
  EXPECT_EQ(mode_of(dir / "ca.key"), 0600u);
  EXPECT_EQ(mode_of(dir / "ca.crt"), 0644u);
  EXPECT_EQ(mode_of(dir / "broker" / "server.key"), 0600u);
  EXPECT_EQ(mode_of(dir / "controllers" / "controller.a-1.key"), 0600u);
  for (const char* f : {"ca.crt", "server.crt", "crl.pem", "reclothes.acl", "reclothes.conf"}) {
    EXPECT_TRUE(fs::exists(dir / "broker" / f)) << f;
  }
  EXPECT_EQ(report.server.dns_names, (std::vector<std::string>{"broker.test"}));
  EXPECT_EQ(report.server.ip_addresses, (std::vector<std::string>{"127.0.0.1"}));
  EXPECT_TRUE(report.server.server_auth);
  ASSERT_EQ(report.controllers.size(), 2u);
  EXPECT_EQ(report.controllers[1].common_name, "controller.b-1");
  EXPECT_TRUE(pki->ca().verify(slurp(pki->controller_cert_file("controller.a-1")), clock_).ok());

  const std::string conf = slurp(dir / "broker" / "reclothes.conf");
  EXPECT_NE(conf.find("listener 18883 0.0.0.0"), std::string::npos);
  EXPECT_NE(conf.find("crlfile " + (dir / "broker" / "crl.pem").string()), std::string::npos);
  EXPECT_NE(conf.find("require_certificate true"), std::string::npos);
  EXPECT_NE(slurp(dir / "broker" / "reclothes.acl").find("user controller.b-1"), std::string::npos);

  auto opened = FleetPki::open(dir);
  ASSERT_TRUE(opened.ok()) << opened.error().to_string();
  EXPECT_EQ(opened->settings().tls_port, 18883);
  EXPECT_EQ(opened->settings().broker_dir, dir / "broker");
  EXPECT_EQ(opened->ca().info().serial_hex, pki->ca().info().serial_hex);
}

TEST_F(FleetPkiTest, InitRefusesToReplaceACaUnlessForced) {
  auto first = FleetPki::init(options(), clock_);
  ASSERT_TRUE(first.ok());
  auto again = FleetPki::init(options(), clock_);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, ErrorCode::kAlreadyExists);
  EXPECT_NE(again.error().message.find("--force"), std::string::npos);
  auto still = FleetPki::open(root_ / "pki");
  ASSERT_TRUE(still.ok());
  EXPECT_EQ(still->ca().info().serial_hex, first->ca().info().serial_hex) << "untouched";

  auto o = options();
  o.force = true;
  auto forced = FleetPki::init(o, clock_);
  ASSERT_TRUE(forced.ok()) << forced.error().to_string();
  EXPECT_NE(forced->ca().info().serial_hex, first->ca().info().serial_hex);
}

TEST_F(FleetPkiTest, BadSettingsAreRefusedBeforeAnythingIsWritten) {
  auto o = options();
  o.settings.controllers = {"controller-1"};  // a valid box id: must never be a controller
  auto r = FleetPki::init(o, clock_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message.find("controller-1"), std::string::npos);
  EXPECT_FALSE(fs::exists(root_ / "pki"));

  o = options();
  o.settings.server_names.clear();
  o.settings.server_ips.clear();
  EXPECT_FALSE(FleetPki::init(o, clock_).ok());
  o = options();
  o.settings.tls_port = 70000;
  EXPECT_FALSE(FleetPki::init(o, clock_).ok());
}

TEST_F(FleetPkiTest, OpenWithoutACaSaysToRunCaInit) {
  auto r = FleetPki::open(root_ / "nothing-here");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  EXPECT_NE(r.error().message.find("ca init"), std::string::npos);
}

TEST_F(FleetPkiTest, IssuedBoxCertificatesAreRecordedAndRevocationReachesTheBrokerFiles) {
  auto pki = FleetPki::init(options(), clock_);
  ASSERT_TRUE(pki.ok());
  auto creds = pki->issue_box("box-7", clock_);
  ASSERT_TRUE(creds.ok()) << creds.error().to_string();
  EXPECT_EQ(creds->certificate.info.common_name, "box-7");
  EXPECT_TRUE(creds->certificate.info.client_auth);
  EXPECT_EQ(creds->certificate.info.not_after - creds->certificate.info.not_before,
            kDefaultBoxValidityDays * kSecondsPerDay + kBackdateSeconds);
  EXPECT_TRUE(pki->ca().verify(creds->certificate.certificate_pem, clock_).ok());
  EXPECT_FALSE(pki->issue_box("not a box id", clock_).ok());

  auto none = pki->box_certificate("box-7");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(*none);
  ASSERT_TRUE(pki->record_box_certificate("box-7", creds->certificate).ok());
  auto recorded = pki->box_certificate("box-7");
  ASSERT_TRUE(recorded.ok() && *recorded);
  EXPECT_EQ(**recorded, creds->certificate.certificate_pem);
  EXPECT_TRUE(fs::exists(root_ / "pki" / "issued" / (creds->certificate.info.serial_hex + ".crt")));

  const std::string acl_before = slurp(root_ / "pki" / "broker" / "reclothes.acl");
  EXPECT_EQ(acl_before.find("user box-7"), std::string::npos);
  ASSERT_TRUE(pki->revoke(creds->certificate.certificate_pem,
                          RevocationReason::kCessationOfOperation, clock_)
                  .ok());
  // Again: idempotent.
  ASSERT_TRUE(pki->revoke(creds->certificate.certificate_pem,
                          RevocationReason::kCessationOfOperation, clock_)
                  .ok());
  auto list = pki->revocations();
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->entries().size(), 1u);
  EXPECT_TRUE(list->is_decommissioned("box-7"));
  const std::string acl = slurp(root_ / "pki" / "broker" / "reclothes.acl");
  EXPECT_NE(acl.find("user box-7\ntopic deny #"), std::string::npos) << acl;
  EXPECT_EQ(slurp(root_ / "pki" / "broker" / "crl.pem"), slurp(root_ / "pki" / "crl.pem"));
  const std::string crl = slurp(pki->crl_file());
  EXPECT_FALSE(pki->ca().verify(creds->certificate.certificate_pem, clock_, crl).ok());
}

TEST_F(FleetPkiTest, ControllerReplicaNamesAreOrdinalsAndMustBeControllerNames) {
  auto names = controller_replica_names("controller.k8s", 3);
  ASSERT_TRUE(names.ok()) << names.error().to_string();
  EXPECT_EQ(*names,
            (std::vector<std::string>{"controller.k8s-0", "controller.k8s-1", "controller.k8s-2"}));
  for (const auto& [base, replicas] : std::vector<std::pair<std::string, int>>{
           {"controller", 2},               // no '.': could be a box id
           {"controller.k8s", 0},           // no replica
           {"controller.k8s", 65},          // beyond kMaxControllerReplicas
           {"-controller.k8s", 1},          // starts with '-'
           {std::string(63, 'a') + ".", 1}  // "...-0" is longer than 64
       }) {
    auto bad = controller_replica_names(base, replicas);
    ASSERT_FALSE(bad.ok()) << base << " x" << replicas;
    EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  }
}

TEST_F(FleetPkiTest, ControllerReplicasGetStableIdentitiesListedInTheAcl) {
  auto pki = FleetPki::init(options(), clock_);
  ASSERT_TRUE(pki.ok()) << pki.error().to_string();
  const fs::path acl_file = root_ / "pki" / "broker" / "reclothes.acl";
  EXPECT_EQ(slurp(acl_file).find("user controller.k8s-0"), std::string::npos);

  auto first = pki->ensure_controllers({"controller.k8s-0", "controller.k8s-1"}, clock_);
  ASSERT_TRUE(first.ok()) << first.error().to_string();
  ASSERT_EQ(first->size(), 2u);
  for (const auto& id : *first) {
    EXPECT_TRUE(id.issued) << id.name;
    EXPECT_EQ(id.certificate.common_name, id.name);
    EXPECT_TRUE(id.certificate.client_auth);
    EXPECT_EQ(mode_of(pki->controller_key_file(id.name)), 0600u);
    EXPECT_TRUE(pki->ca().verify(slurp(pki->controller_cert_file(id.name)), clock_).ok());
    EXPECT_TRUE(fs::exists(root_ / "pki" / "issued" / (id.certificate.serial_hex + ".crt")));
  }
  const std::string acl = slurp(acl_file);
  EXPECT_NE(acl.find("user controller.k8s-0\ntopic read reclothes/v1/boxes/+/events"),
            std::string::npos)
      << acl;
  EXPECT_NE(acl.find("user controller.k8s-1\n"), std::string::npos) << acl;
  EXPECT_NE(acl.find("user controller.a-1\n"), std::string::npos) << "ca init's stay";

  // Scaling to three: the first two are kept as they are, the third is new; fleet.json lists all.
  const std::string key0 = slurp(pki->controller_key_file("controller.k8s-0"));
  auto grown =
      pki->ensure_controllers({"controller.k8s-0", "controller.k8s-1", "controller.k8s-2"}, clock_);
  ASSERT_TRUE(grown.ok()) << grown.error().to_string();
  EXPECT_FALSE((*grown)[0].issued);
  EXPECT_FALSE((*grown)[1].issued);
  EXPECT_TRUE((*grown)[2].issued);
  EXPECT_EQ((*grown)[0].certificate.serial_hex, (*first)[0].certificate.serial_hex);
  EXPECT_EQ(slurp(pki->controller_key_file("controller.k8s-0")), key0);
  auto reopened = FleetPki::open(root_ / "pki");
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ(reopened->settings().controllers,
            (std::vector<std::string>{"controller.a-1", "controller.b-1", "controller.k8s-0",
                                      "controller.k8s-1", "controller.k8s-2"}));
  EXPECT_NE(slurp(acl_file).find("user controller.k8s-2\n"), std::string::npos);

  // Renewing replaces the key and certificate and revokes the old certificate.
  const std::string old_cert = slurp(pki->controller_cert_file("controller.k8s-0"));
  auto renewed = pki->ensure_controllers({"controller.k8s-0"}, clock_, 30, true);
  ASSERT_TRUE(renewed.ok()) << renewed.error().to_string();
  EXPECT_TRUE((*renewed)[0].issued);
  EXPECT_NE((*renewed)[0].certificate.serial_hex, (*first)[0].certificate.serial_hex);
  EXPECT_EQ((*renewed)[0].certificate.not_after - (*renewed)[0].certificate.not_before,
            30 * kSecondsPerDay + kBackdateSeconds);
  EXPECT_NE(slurp(pki->controller_key_file("controller.k8s-0")), key0);
  const std::string crl = slurp(pki->crl_file());
  EXPECT_FALSE(pki->ca().verify(old_cert, clock_, crl).ok()) << "the old certificate is revoked";
  EXPECT_TRUE(
      pki->ca().verify(slurp(pki->controller_cert_file("controller.k8s-0")), clock_, crl).ok());
  EXPECT_EQ(slurp(root_ / "pki" / "broker" / "crl.pem"), crl) << "the broker gets the new CRL";

  auto bad = pki->ensure_controllers({"controller"}, clock_);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
}

TEST_F(FleetPkiTest, SettingsRoundTripAndStrictParsing) {
  FleetSettings s;
  s.broker_dir = "/etc/mosquitto/reclothes";
  s.controllers = {"controller.x-1"};
  s.server_names = {"mqtt.example"};
  s.server_ips = {};
  s.standalone = false;
  s.tls_port = 8884;
  auto back = parse_fleet_settings(render_fleet_settings(s));
  ASSERT_TRUE(back.ok()) << back.error().to_string();
  EXPECT_EQ(back->broker_dir, s.broker_dir);
  EXPECT_EQ(back->controllers, s.controllers);
  EXPECT_EQ(back->server_names, s.server_names);
  EXPECT_FALSE(back->standalone);
  EXPECT_EQ(back->tls_port, 8884);
  auto bad = parse_fleet_settings(R"({"version": 1, "broker": {"dir": "relative"}})");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("/broker/dir"), std::string::npos);
  EXPECT_FALSE(parse_fleet_settings(R"({"version": 2})").ok());
}

TEST_F(FleetPkiTest, SignalBrokerReloadRefusesNonsensePids) {
  EXPECT_EQ(signal_broker_reload(0).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(signal_broker_reload(1).error().code, ErrorCode::kInvalidArgument);
  // A pid far above pid_max cannot exist.
  EXPECT_EQ(signal_broker_reload(0x3fffffff).error().code, ErrorCode::kNotFound);
}

TEST_F(FleetPkiTest, BoxDirectoryAppearsWholeAndReplacesAtomically) {
  const fs::path out = root_ / "box";
  std::vector<DirFile> files = {{"box.json", "{}\n", false}, {"box.key", "secret", true}};
  ASSERT_TRUE(write_directory_atomic(out, files, false, std::nullopt).ok());
  EXPECT_EQ(mode_of(out / "box.key"), 0600u);
  EXPECT_EQ(mode_of(out / "box.json"), 0644u);
  EXPECT_EQ(mode_of(out), 0755u);

  auto again = write_directory_atomic(out, files, false, std::nullopt);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, ErrorCode::kAlreadyExists);

  std::ofstream(out / "stale.txt") << "from the old board";
  std::vector<DirFile> replacement = {{"box.json", "{\"new\": true}\n", false}};
  ASSERT_TRUE(write_directory_atomic(out, replacement, true, std::nullopt).ok());
  EXPECT_EQ(slurp(out / "box.json"), "{\"new\": true}\n");
  EXPECT_FALSE(fs::exists(out / "stale.txt")) << "the old directory is gone as a whole";
  EXPECT_FALSE(fs::exists(out / "box.key"));
  for (const auto& entry : fs::directory_iterator(root_.path())) {
    EXPECT_EQ(entry.path().filename().string().find(".box.tmp-"), std::string::npos)
        << "temporary directory left behind: " << entry.path();
  }
  auto no_parent = write_directory_atomic(root_ / "missing" / "box", files, false, std::nullopt);
  ASSERT_FALSE(no_parent.ok());
  EXPECT_EQ(no_parent.error().code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace reclothes::provisioning::cli
