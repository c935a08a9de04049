// The reclothes-provision binary without servers: --help everywhere, usage errors, --json, ca init,
// selftest on the sim backend, and rotate-credentials (local work only). The controller side is in
// provision_e2e_test.cpp.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "cli_runner.h"
#include "reclothes/common/clock.h"
#include "reclothes/provisioning/cli/box_file.h"
#include "reclothes/provisioning/cli/cabinet_spec.h"
#include "reclothes/provisioning/cli/commands.h"
#include "reclothes/provisioning/cli/fleet_pki.h"
#include "reclothes/provisioning/files.h"
#include "reclothes/testsupport/temp_dir.h"

namespace reclothes::provisioning::cli {
namespace {

namespace fs = std::filesystem;
using testing::run_cli;
using testing::RunResult;

class CliBinaryTest : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return (root_ / name).string(); }

  RunResult ca_init() {
    return run_cli({"ca", "init", "--dir", path("pki"), "--server-ip", "127.0.0.1", "--controller",
                    "controller.test-1", "--broker-user", "root"});
  }

  // A box directory as register writes it, made from the PKI directly (no controller needed).
  void make_box_dir(const std::string& box_id, const std::string& spec) {
    auto pki = FleetPki::open(path("pki"));
    ASSERT_TRUE(pki.ok()) << pki.error().to_string();
    auto creds = pki->issue_box(box_id, clock_);
    ASSERT_TRUE(creds.ok());
    ASSERT_TRUE(pki->record_box_certificate(box_id, creds->certificate).ok());
    BoxFile file;
    file.box_id = box_id;
    file.journal_path = "journal.db";
    file.broker.uri = "ssl://127.0.0.1:8883";
    file.cabinet = *parse_shorthand(spec);
    file.cabinet.compartments[0].fill_sensor = true;
    ASSERT_TRUE(write_directory_atomic(root_ / "box",
                                       {{kBoxConfigFile, render_box_file(file), false},
                                        {kBoxKeyFile, creds->private_key_pem, true},
                                        {kBoxCertFile, creds->certificate.certificate_pem, false},
                                        {kBoxCaFile, pki->ca().certificate_pem(), false}},
                                       true, std::nullopt)
                    .ok());
    serial_ = creds->certificate.info.serial_hex;
  }

  const testsupport::TempDir root_ = testsupport::TempDir::create_or_throw("reclothes-cli-bin-");
  SystemClock clock_;
  std::string serial_;
};

TEST_F(CliBinaryTest, HelpWorksForEveryCommandAndListsTheExitCodes) {
  const std::vector<std::vector<std::string>> commands = {
      {},           {"ca"},   {"ca", "init"},         {"ca", "controller"},
      {"register"}, {"show"}, {"rotate-credentials"}, {"decommission"},
      {"selftest"}};
  for (auto args : commands) {
    args.push_back("--help");
    const RunResult r = run_cli(args);
    EXPECT_EQ(r.exit_code, 0) << ::testing::PrintToString(args) << r.describe();
    EXPECT_NE(r.out.find("Usage:"), std::string::npos) << r.describe();
    EXPECT_NE(r.out.find("Exit codes:"), std::string::npos) << r.describe();
    EXPECT_NE(r.out.find("3  controller unreachable"), std::string::npos) << r.describe();
  }
  const RunResult version = run_cli({"--version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_NE(version.out.find("0.1.0"), std::string::npos);
}

TEST_F(CliBinaryTest, UsageErrorsExitTwoWithAReason) {
  struct Case {
    std::vector<std::string> args;
    std::string expected;  // in stderr
  };
  const std::vector<Case> cases = {
      {{}, "A subcommand is required"},
      {{"frobnicate"}, "unknown command \"frobnicate\" (commands: ca, register"},
      {{"register", "--box-id", "box-1"}, "--controller is required"},
      {{"selftest"}, "--config is required"},
      {{"selftest", "--config", "x.json", "--backend", "gpio"}, "--backend: sim or linux"},
      {{"selftest", "--config", "x.json", "--door-timeout", "soon"}, "door-timeout"},
      {{"ca", "init"}, "--dir is required"},
      {{"ca", "controller", "--pki", "pki"}, "--replicas is required"},
      {{"show", "--staff-email", "a@b.c"}, "--staff-email needs --controller"},
      {{"show"}, "show needs --config"},
  };
  for (const Case& c : cases) {
    const RunResult r = run_cli(c.args);
    EXPECT_EQ(r.exit_code, 2) << ::testing::PrintToString(c.args) << r.describe();
    EXPECT_NE(r.err.find(c.expected), std::string::npos)
        << ::testing::PrintToString(c.args) << r.describe();
    // With --json, scripts get a JSON document for usage errors too.
    std::vector<std::string> with_json = {"--json"};
    with_json.insert(with_json.end(), c.args.begin(), c.args.end());
    const RunResult j = run_cli(with_json);
    EXPECT_EQ(j.exit_code, 2) << j.describe();
    const auto doc = j.json();
    ASSERT_FALSE(doc.is_discarded()) << j.describe();
    EXPECT_EQ(doc["ok"], false);
    EXPECT_EQ(doc["exit_code"], 2);
    EXPECT_EQ(doc["error"]["kind"], "usage");
  }
}

TEST_F(CliBinaryTest, CaInitWritesTheFleetAndRefusesToReplaceIt) {
  const RunResult first =
      run_cli({"--json", "ca", "init", "--dir", path("pki"), "--server-name", "localhost",
               "--server-ip", "127.0.0.1", "--controller", "controller.test-1", "--tls-port",
               "18883", "--broker-user", "root"});
  ASSERT_EQ(first.exit_code, 0) << first.describe();
  const auto j = first.json();
  ASSERT_FALSE(j.is_discarded()) << first.describe();
  EXPECT_EQ(j["ok"], true);
  EXPECT_EQ(j["broker"]["tls_port"], 18883);
  EXPECT_EQ(j["controllers"][0]["name"], "controller.test-1");
  EXPECT_TRUE(fs::exists(j["broker"]["conf"].get<std::string>()));
  EXPECT_NE(first.err.find("==> creating the fleet CA"), std::string::npos) << "progress on stderr";

  const RunResult again = ca_init();
  EXPECT_EQ(again.exit_code, 5) << again.describe();
  EXPECT_NE(again.err.find("already holds a fleet CA"), std::string::npos) << again.describe();

  const RunResult bad = run_cli({"ca", "init", "--dir", path("pki2"), "--controller", "ctl-1"});
  EXPECT_EQ(bad.exit_code, 2) << bad.describe();
  EXPECT_NE(bad.err.find("controller name \"ctl-1\" is invalid"), std::string::npos);
}

TEST_F(CliBinaryTest, CaControllerMintsOneIdentityPerReplicaAndASecretDirectory) {
  ASSERT_EQ(ca_init().exit_code, 0);
  const RunResult r = run_cli({"--json", "ca", "controller", "--pki", path("pki"), "--name",
                               "controller.k8s", "--replicas", "3", "--out", path("secret")});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  const auto j = r.json();
  ASSERT_FALSE(j.is_discarded()) << r.describe();
  ASSERT_EQ(j["controllers"].size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    const std::string name = "controller.k8s-" + std::to_string(i);
    const auto& c = j["controllers"][i];
    EXPECT_EQ(c["ordinal"], i);
    EXPECT_EQ(c["client_id"], name);
    EXPECT_EQ(c["issued"], true);
    EXPECT_NE(c["certificate_info"]["subject"].get<std::string>().find("CN=" + name),
              std::string::npos);
    EXPECT_TRUE(fs::exists(root_ / "secret" / (name + ".crt"))) << name;
    struct stat st {};
    ASSERT_EQ(::stat((root_ / "secret" / (name + ".key")).c_str(), &st), 0) << name;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << name;
  }
  EXPECT_TRUE(fs::exists(root_ / "secret" / "ca.crt"));
  EXPECT_EQ(j["broker_reloaded"], false);
  auto acl = read_file(j["acl"].get<std::string>());
  ASSERT_TRUE(acl.ok());
  EXPECT_NE(acl->find("user controller.k8s-2\n"), std::string::npos) << *acl;

  // Run again with the same count: every identity is kept; the existing --out is refused (5)
  // unless --force.
  const RunResult again = run_cli({"ca", "controller", "--pki", path("pki"), "--name",
                                   "controller.k8s", "--replicas", "3", "--out", path("secret")});
  EXPECT_EQ(again.exit_code, 5) << again.describe();
  EXPECT_NE(again.err.find("already exists"), std::string::npos) << again.describe();
  const RunResult kept = run_cli(
      {"ca", "controller", "--pki", path("pki"), "--name", "controller.k8s", "--replicas", "3"});
  ASSERT_EQ(kept.exit_code, 0) << kept.describe();
  EXPECT_NE(kept.out.find("kept, serial"), std::string::npos) << kept.describe();
  EXPECT_EQ(kept.out.find("issued, serial"), std::string::npos) << kept.describe();

  // A base name that would make box-like ids, and a PKI directory without a CA.
  const RunResult bad = run_cli(
      {"ca", "controller", "--pki", path("pki"), "--name", "controller", "--replicas", "2"});
  EXPECT_EQ(bad.exit_code, 2) << bad.describe();
  EXPECT_NE(bad.err.find("controller name \"controller-0\" is invalid"), std::string::npos)
      << bad.describe();
  const RunResult no_ca =
      run_cli({"ca", "controller", "--pki", path("nothing"), "--replicas", "1"});
  EXPECT_NE(no_ca.exit_code, 0);
  EXPECT_NE(no_ca.err.find("ca init"), std::string::npos) << no_ca.describe();
}

TEST_F(CliBinaryTest, SelftestPassesOnTheSimAndNamesAnInjectedJam) {
  ASSERT_EQ(ca_init().exit_code, 0);
  make_box_dir("box-st", "S:2,M:2");
  const std::string config = path("box/box.json");

  const RunResult pass = run_cli({"selftest", "--config", config});
  EXPECT_EQ(pass.exit_code, 0) << pass.describe();
  EXPECT_NE(pass.out.find("compartment  size  lock"), std::string::npos) << pass.describe();
  EXPECT_NE(pass.out.find("PASSED"), std::string::npos) << pass.describe();

  const RunResult jam = run_cli({"selftest", "--config", config, "--sim-fault", "jam:3"});
  EXPECT_EQ(jam.exit_code, 1) << jam.describe();
  EXPECT_NE(jam.out.find("FAILED: 1 fault"), std::string::npos) << jam.describe();
  EXPECT_NE(jam.out.find("compartment 3: jammed"), std::string::npos) << jam.describe();

  const RunResult json = run_cli(
      {"--json", "selftest", "--config", config, "--sim-fault", "jam:3", "--sim-fault", "fill:1"});
  EXPECT_EQ(json.exit_code, 1);
  const auto j = json.json();
  ASSERT_FALSE(j.is_discarded()) << json.describe();
  EXPECT_EQ(j["ok"], false);
  ASSERT_EQ(j["compartments"].size(), 4u);
  EXPECT_EQ(j["compartments"][2]["door"], "fault");
  EXPECT_EQ(j["compartments"][2]["ok"], false);
  EXPECT_EQ(j["compartments"][0]["fill"], "fault");
  EXPECT_EQ(j["compartments"][1]["opened_after_ms"], 300);
  ASSERT_EQ(j["faults"].size(), 2u);

  const RunResult outside = run_cli({"selftest", "--config", config, "--sim-fault", "jam:9"});
  EXPECT_EQ(outside.exit_code, 2) << outside.describe();
  const RunResult missing = run_cli({"selftest", "--config", path("nope.json")});
  EXPECT_EQ(missing.exit_code, 4) << missing.describe();
  EXPECT_NE(missing.err.find("nope.json"), std::string::npos);
}

TEST_F(CliBinaryTest, SelftestOnTheBoardBackendNamesTheMissingChip) {
  if (fs::exists("/dev/gpiochip0")) GTEST_SKIP() << "this machine has a GPIO chip";
  BoxFile file;
  file.box_id = "box-board";
  file.broker.uri = "ssl://127.0.0.1:8883";
  auto plan = parse_cabinet_json(
      R"([{"size": "S", "pin": {"lock_line": 17, "door_line": 27}},
          {"size": "M", "pin": {"lock_line": 22, "door_line": 23}}])");
  ASSERT_TRUE(plan.ok());
  file.cabinet = *plan;
  file.backend = Backend::kLinux;
  ASSERT_TRUE(write_file_atomic(root_ / "board.json", render_box_file(file)).ok());
  const RunResult r = run_cli({"selftest", "--config", path("board.json")});
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  EXPECT_NE(r.err.find("gpiochip0"), std::string::npos) << r.describe();
  EXPECT_NE(r.err.find("hint: stop reclothes-box first"), std::string::npos) << r.describe();
  // The same configuration on the sim backend passes.
  const RunResult sim = run_cli({"selftest", "--config", path("board.json"), "--backend", "sim"});
  EXPECT_EQ(sim.exit_code, 0) << sim.describe();
}

TEST_F(CliBinaryTest, RegisterRefusesBadInputBeforeTouchingTheController) {
  ASSERT_EQ(ca_init().exit_code, 0);
  const std::vector<std::string> base = {
      "register",         "--controller", "http://127.0.0.1:1", "--staff-email",
      "tech@example.org", "--pki",        path("pki"),          "--out",
      path("out")};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    return run_cli(args, {{"RECLOTHES_STAFF_PASSWORD", "x"}});
  };
  const std::vector<std::string> good = {"--box-id", "box-1",    "--compartments",
                                         "S:2",      "--broker", "ssl://127.0.0.1:8883"};
  RunResult r = with({"--box-id", "bad id", "--compartments", "S:2", "--broker", "ssl://h:1"});
  EXPECT_EQ(r.exit_code, 2) << r.describe();
  r = with({"--box-id", "box-1", "--compartments", "Q:2", "--broker", "ssl://h:1"});
  EXPECT_EQ(r.exit_code, 2) << r.describe();
  EXPECT_NE(r.err.find("\"Q:2\": size must be S, M, L or XL"), std::string::npos);
  r = with({"--box-id", "box-1", "--compartments", "S:2", "--broker", "tcp://h:1883"});
  EXPECT_EQ(r.exit_code, 2) << r.describe();
  EXPECT_NE(r.err.find("ssl://"), std::string::npos);
  r = with({"--box-id", "box-1", "--compartments", "S:2", "--broker", "ssl://h:1", "--backend",
            "linux"});
  EXPECT_EQ(r.exit_code, 2) << r.describe();
  EXPECT_NE(r.err.find("pin"), std::string::npos);

  // The controller is unreachable (port 1): exit 3, named.
  std::vector<std::string> args = good;
  r = with(args);
  EXPECT_EQ(r.exit_code, 3) << r.describe();
  EXPECT_NE(r.err.find("controller unreachable at http://127.0.0.1:1"), std::string::npos);
  EXPECT_FALSE(fs::exists(path("out"))) << "nothing written";

  // No password anywhere: a usage error, not a hang.
  r = run_cli({"register", "--controller", "http://127.0.0.1:1", "--staff-email", "t@e.org",
               "--pki", path("pki"), "--out", path("out"), "--box-id", "box-1", "--compartments",
               "S:2", "--broker", "ssl://127.0.0.1:8883"});
  EXPECT_EQ(r.exit_code, 2) << r.describe();
  EXPECT_NE(r.err.find("RECLOTHES_STAFF_PASSWORD"), std::string::npos);

  // A decommissioned id is refused from the PKI alone.
  make_box_dir("box-gone", "S:1");
  auto pki = FleetPki::open(path("pki"));
  ASSERT_TRUE(pki.ok());
  auto pem = pki->box_certificate("box-gone");
  ASSERT_TRUE(pem.ok() && *pem);
  ASSERT_TRUE(pki->revoke(**pem, RevocationReason::kCessationOfOperation, clock_).ok());
  r = with({"--json", "--box-id", "box-gone", "--compartments", "S:1", "--broker",
            "ssl://127.0.0.1:8883"});
  EXPECT_EQ(r.exit_code, 5) << r.describe();
  const auto j = r.json();
  ASSERT_FALSE(j.is_discarded()) << r.describe();
  EXPECT_EQ(j["ok"], false);
  EXPECT_EQ(j["exit_code"], 5);
  EXPECT_NE(j["error"]["message"].get<std::string>().find("decommissioned"), std::string::npos);
}

TEST_F(CliBinaryTest, ShowSummarisesTheBoxDirectoryAndFlagsAReadableKey) {
  ASSERT_EQ(ca_init().exit_code, 0);
  make_box_dir("box-show", "S:1,L:1");
  RunResult r = run_cli({"--json", "show", "--config", path("box/box.json"), "--pki", path("pki")});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  auto j = r.json();
  ASSERT_FALSE(j.is_discarded()) << r.describe();
  EXPECT_EQ(j["box_id"], "box-show");
  EXPECT_EQ(j["local"]["key_mode"], "0600");
  EXPECT_EQ(j["local"]["certificate"]["serial"], serial_);
  EXPECT_EQ(j["pki"]["recorded_certificate"]["serial"], serial_);
  EXPECT_EQ(j["pki"]["revoked"], false);
  EXPECT_TRUE(j["problems"].empty()) << j.dump(2);

  ASSERT_EQ(::chmod(path("box/box.key").c_str(), 0644), 0);
  r = run_cli({"show", "--config", path("box/box.json")});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_NE(r.out.find("is readable by others (mode 0644)"), std::string::npos) << r.describe();
}

TEST_F(CliBinaryTest, RotateCredentialsSwitchesTheConfigAndRevokesTheOldCertificate) {
  ASSERT_EQ(ca_init().exit_code, 0);
  make_box_dir("box-rot", "M:2");
  const std::string old_serial = serial_;
  const RunResult r = run_cli(
      {"--json", "rotate-credentials", "--config", path("box/box.json"), "--pki", path("pki")});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  const auto j = r.json();
  ASSERT_FALSE(j.is_discarded()) << r.describe();
  EXPECT_EQ(j["old_certificate"]["serial"], old_serial);
  EXPECT_EQ(j["old_certificate"]["revoked"], true);
  const std::string new_serial = j["certificate"]["serial"];
  EXPECT_NE(new_serial, old_serial);

  auto config = load_box_file(path("box/box.json"));
  ASSERT_TRUE(config.ok()) << config.error().to_string();
  EXPECT_EQ(config->broker.cert, "box-" + new_serial.substr(0, 8) + ".crt");
  EXPECT_EQ(config->cabinet.compartments.size(), 2u) << "the rest of the file is unchanged";
  EXPECT_FALSE(fs::exists(path("box/box.crt")));
  EXPECT_FALSE(fs::exists(path("box/box.key")));
  struct stat st {};
  ASSERT_EQ(::stat(path("box/box-" + new_serial.substr(0, 8) + ".key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  auto pki = FleetPki::open(path("pki"));
  ASSERT_TRUE(pki.ok());
  auto list = pki->revocations();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->entries().size(), 1u);
  EXPECT_EQ(list->entries()[0].serial_hex, old_serial);
  EXPECT_EQ(list->entries()[0].reason, RevocationReason::kSuperseded);
  EXPECT_FALSE(list->is_decommissioned("box-rot")) << "superseded does not retire the id";
  auto recorded = pki->box_certificate("box-rot");
  ASSERT_TRUE(recorded.ok() && *recorded);
  EXPECT_EQ(inspect_certificate(**recorded)->serial_hex, new_serial);
  EXPECT_NE(r.err.find("revoking the old certificate"), std::string::npos);
}

}  // namespace
}  // namespace reclothes::provisioning::cli
