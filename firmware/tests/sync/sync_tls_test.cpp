// Sync over TLS with a client certificate, against a real Mosquitto TLS listener (certificates made
// with the openssl CLI for this test). Proves the TLS options reach Paho: with the box's
// certificate it connects and syncs; without one the broker refuses it.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "reclothes/common/clock.h"
#include "reclothes/firmware/journal.h"
#include "reclothes/firmware/mailbox.h"
#include "reclothes/firmware/sync.h"
#include "reclothes/testsupport/mosquitto.h"
#include "reclothes/testsupport/process.h"
#include "sync_fixture.h"
#include "test_controller.h"

namespace reclothes::firmware {
namespace {

using namespace std::chrono_literals;
using testing::TestController;
using testsupport::MosquittoServer;

constexpr char kBox[] = "box-tls-1";

Status run(std::vector<std::string> argv, const std::filesystem::path& log) {
  testsupport::SpawnOptions options;
  options.log_path = log;
  RC_ASSIGN_OR_RETURN(auto process, testsupport::Process::spawn(argv, options));
  RC_ASSIGN_OR_RETURN(int code, process->wait(30s));
  if (code != 0) {
    return make_error(ErrorCode::kInternal, argv[0] + " " + argv[1] + " exited with " +
                                                std::to_string(code) + " (see " + log.string() +
                                                ")");
  }
  return ok_status();
}

class SyncTlsTest : public testing::SyncFixture {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(make_dir_and_journal("reclothes-sync-tls-"));
    // The broker runs as `mosquitto` when we are root: it must reach the directory and files.
    std::filesystem::permissions(dir_->path(), std::filesystem::perms::owner_all |
                                                   std::filesystem::perms::group_exec |
                                                   std::filesystem::perms::others_exec);
    ASSERT_NO_FATAL_FAILURE(make_certificates());

    auto tls_port = testsupport::free_tcp_port();
    ASSERT_TRUE(tls_port.ok());
    tls_port_ = *tls_port;
    MosquittoServer::Options options;
    options.extra_config = "listener " + std::to_string(tls_port_) + " 127.0.0.1\n" + "cafile " +
                           path("ca.crt") + "\n" + "certfile " + path("server.crt") + "\n" +
                           "keyfile " + path("server.key") + "\n" + "require_certificate true\n" +
                           "use_identity_as_username true\n";
    auto broker = MosquittoServer::start(options);
    ASSERT_TRUE(broker.ok()) << broker.error().to_string();
    broker_ = std::move(broker).value();
    ASSERT_TRUE(testsupport::wait_for_tcp_port(tls_port_, 5s).ok());
  }

  std::string path(const std::string& name) const { return (dir_->path() / name).string(); }

  void make_certificates() {
    const std::filesystem::path log = dir_->path() / "openssl.log";
    auto req = [&](const std::string& name, const std::string& cn) {
      return run({"openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                  "-nodes", "-keyout", path(name + ".key"), "-out", path(name + ".csr"), "-subj",
                  "/CN=" + cn},
                 log);
    };
    auto sign = [&](const std::string& name, const std::string& ext) {
      std::vector<std::string> argv = {"openssl",
                                       "x509",
                                       "-req",
                                       "-in",
                                       path(name + ".csr"),
                                       "-CA",
                                       path("ca.crt"),
                                       "-CAkey",
                                       path("ca.key"),
                                       "-CAcreateserial",
                                       "-days",
                                       "2",
                                       "-out",
                                       path(name + ".crt")};
      if (!ext.empty()) {
        argv.push_back("-extfile");
        argv.push_back(ext);
      }
      return run(argv, log);
    };
    Status s = run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", path("ca.key"), "-out",
                    path("ca.crt"), "-days", "2", "-subj", "/CN=reclothes-test-ca"},
                   log);
    ASSERT_TRUE(s.ok()) << s.error().to_string();
    std::ofstream(path("server.ext")) << "subjectAltName=IP:127.0.0.1\n";
    ASSERT_TRUE(req("server", "127.0.0.1").ok());
    ASSERT_TRUE(sign("server", path("server.ext")).ok());
    ASSERT_TRUE(req("client", kBox).ok());
    ASSERT_TRUE(sign("client", "").ok());
    for (const char* name : {"ca.crt", "server.crt"}) {
      std::filesystem::permissions(
          path(name), std::filesystem::perms::owner_read | std::filesystem::perms::owner_write |
                          std::filesystem::perms::group_read | std::filesystem::perms::others_read);
    }
    ASSERT_TRUE(testsupport::chown_to_user(path("server.key"), "mosquitto").ok());
  }

  SyncOptions options(bool with_client_certificate) const {
    SyncOptions o = quick_options("ssl://127.0.0.1:" + std::to_string(tls_port_), kBox);
    SyncTlsOptions tls;
    tls.trust_store = path("ca.crt");
    if (with_client_certificate) {
      tls.key_store = path("client.crt");
      tls.private_key = path("client.key");
    }
    o.tls = tls;
    return o;
  }

  void start_sync(bool with_client_certificate) {
    SyncFixture::start_sync(options(with_client_certificate));
  }

  void append(int n) {
    append_events(n, [&](int i) {
      msg::Event e;
      e.kind = msg::EventKind::kTamper;
      e.at_ms = clock_.wall_ms();
      e.detail = "tls " + std::to_string(i);
      return e;
    });
  }

  int tls_port_ = 0;
};

TEST_F(SyncTlsTest, ClientCertificateConnectsAndSyncs) {
  // The controller listens on the plain listener of the same broker.
  TestController ctl({.uri = broker_->uri(), .box_id = kBox});
  ASSERT_TRUE(ctl.connect());
  append(20);
  start_sync(true);
  ASSERT_TRUE(ctl.wait_applied(20, 20s)) << "applied " << ctl.applied_upto();
  ASSERT_TRUE(ctl.wait_until([&] { return journal_->backlog().value_or(1) == 0; }, 10s));
  EXPECT_TRUE(sync_->connected());
}

TEST_F(SyncTlsTest, WithoutAClientCertificateTheBrokerRefuses) {
  append(1);
  start_sync(false);
  std::this_thread::sleep_for(1500ms);
  EXPECT_FALSE(sync_->connected());
  EXPECT_EQ(sync_->stats().connects, 0u);
  EXPECT_EQ(journal_->backlog().value_or(0), 1u);
}

TEST_F(SyncTlsTest, MissingTlsFilesAreRefusedUpFront) {
  SyncOptions o = options(true);
  o.tls->trust_store = path("no-such-ca.crt");
  auto sync = Sync::create(o, *journal_, mailbox_, clock_);
  ASSERT_FALSE(sync.ok());
  EXPECT_EQ(sync.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(sync.error().message.find("no-such-ca.crt"), std::string::npos);
}

}  // namespace
}  // namespace reclothes::firmware
