// reclothes-provision against the real thing: a PostgreSQL 15 and a Mosquitto 2.0 started by the
// test (tests/support), the broker running the configuration `ca init` wrote (TLS, client
// certificates, CRL, ACL), an in-process controller connected to it over TLS with its own
// certificate, and the reclothes-box binary started with the configuration `register` wrote.
//
// Proves the issue's "done when": a box provisioned by the CLI connects (TLS, its own
// certificate), reports state, and opens for a courier token the controller issued; and that
// decommissioning shuts it out at the controller and at the broker.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <mqtt/async_client.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cli_runner.h"
#include "reclothes/common/clock.h"
#include "reclothes/controller/accounts.h"
#include "reclothes/controller/auth.h"
#include "reclothes/controller/compose.h"
#include "reclothes/controller/config.h"
#include "reclothes/controller/controller.h"
#include "reclothes/controller/db.h"
#include "reclothes/controller/migrations.h"
#include "reclothes/firmware/config.h"
#include "reclothes/firmware/scanner.h"
#include "reclothes/provisioning/cli/fleet_pki.h"
#include "reclothes/provisioning/files.h"
#include "reclothes/provisioning/pki.h"
#include "reclothes/testsupport/mosquitto.h"
#include "reclothes/testsupport/postgres.h"
#include "reclothes/testsupport/process.h"

#ifndef RECLOTHES_BOX_BINARY
#error "RECLOTHES_BOX_BINARY must name the reclothes-box executable"
#endif

namespace reclothes::provisioning::cli {
namespace {

namespace fs = std::filesystem;
namespace ts = reclothes::testsupport;
namespace ctl = reclothes::controller;
using namespace std::chrono_literals;
using testing::run_cli;
using testing::RunResult;

constexpr char kPassword[] = "correct horse battery";
constexpr char kManager[] = "manager@example.org";
constexpr char kSuperAdmin[] = "root@example.org";
constexpr char kChecker[] = "checker@example.org";
constexpr char kController[] = "controller.test-1";

// Polls cond every 50 ms (other processes are involved: broker, box, controller threads).
bool eventually(const std::function<bool()>& cond, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return cond();
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::size_t count_of(const std::string& haystack, const std::string& needle) {
  std::size_t n = 0;
  for (auto pos = haystack.find(needle); pos != std::string::npos;
       pos = haystack.find(needle, pos + 1)) {
    ++n;
  }
  return n;
}

struct Reply {
  int status = 0;
  nlohmann::json body;
};

// A running reclothes-box with its sim-control FIFO.
struct RunningBox {
  std::unique_ptr<ts::Process> process;
  fs::path fifo;
  fs::path log;

  // One line for the sim (a person at the cabinet). The daemon holds the FIFO open for reading.
  bool send(const std::string& line) const {
    const int fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return false;
    const std::string text = line + "\n";
    const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    ::close(fd);
    return ok;
  }
};

class ProvisionE2eTest : public ::testing::Test {
 public:
  static void SetUpTestSuite() {
    auto root = ts::TempDir::create("reclothes-prov-e2e-");
    ASSERT_TRUE(root.ok()) << root.error().to_string();
    root_ = std::make_unique<ts::TempDir>(std::move(root).value());
    // The broker runs as `mosquitto` (we are root in CI): its directory must be its own. The PKI
    // directory next to it stays 0700, as on a technician's workstation.
    broker_dir_ = root_->path() / "broker";
    fs::create_directories(broker_dir_);
    ASSERT_TRUE(ts::chown_to_user(root_->path(), "mosquitto").ok());
    ASSERT_TRUE(ts::chown_to_user(broker_dir_, "mosquitto").ok());

    auto port = ts::free_tcp_port();
    ASSERT_TRUE(port.ok());
    tls_port_ = *port;
    const RunResult init = run_cli(
        {"ca", "init", "--dir", pki_dir().string(), "--broker-dir", broker_dir_.string(),
         "--server-name", "localhost", "--server-ip", "127.0.0.1", "--controller", kController,
         "--tls-port", std::to_string(tls_port_), "--bind", "127.0.0.1", "--include-only"});
    ASSERT_EQ(init.exit_code, 0) << init.describe();

    ts::MosquittoServer::Options broker;
    broker.persistence = false;
    broker.allow_anonymous = false;
    broker.extra_config = slurp(broker_dir_ / "reclothes.conf");
    auto server = ts::MosquittoServer::start(broker);
    ASSERT_TRUE(server.ok()) << server.error().to_string();
    broker_ = std::move(server).value();
    ASSERT_TRUE(ts::wait_for_tcp_port(tls_port_, 5s).ok());

    auto pg = ts::PostgresServer::start();
    ASSERT_TRUE(pg.ok()) << pg.error().to_string();
    pg_ = std::move(pg).value();
    auto conninfo = pg_->create_database("provisioning");
    ASSERT_TRUE(conninfo.ok()) << conninfo.error().to_string();
    {
      auto db = ctl::Database::open({*conninfo, 1, 5s});
      ASSERT_TRUE(db.ok()) << db.error().to_string();
      auto migrated = ctl::migrate(**db);
      ASSERT_TRUE(migrated.ok()) << migrated.error().to_string();
    }

    auto keys = ts::TempDir::create("reclothes-prov-e2e-keys-");
    ASSERT_TRUE(keys.ok());
    key_dir_ = std::make_unique<ts::TempDir>(std::move(keys).value());
    ctl::ControllerConfig c;
    c.database.conninfo = *conninfo;
    c.database.pool_size = 4;
    c.public_listener = {"127.0.0.1", 0, 4};
    c.internal_listener = {"127.0.0.1", 0, 4};
    c.passwords.opslimit = 1;
    c.passwords.memlimit = 8192;
    c.mqtt.uri = "ssl://127.0.0.1:" + std::to_string(tls_port_);
    c.mqtt.client_id = kController;
    c.mqtt.ca_file = pki_dir() / "ca.crt";
    c.mqtt.cert_file = pki_dir() / "controllers" / (std::string(kController) + ".crt");
    c.mqtt.key_file = pki_dir() / "controllers" / (std::string(kController) + ".key");
    c.mqtt.keepalive = 5s;
    c.tokens.key_dir = key_dir_->path();
    c.log.level = "off";
    config_ = c;

    auto hasher = ctl::PasswordHasher::create(c.passwords);
    ASSERT_TRUE(hasher.ok());
    {
      pqxx::connection conn(*conninfo);
      pqxx::work tx(conn);
      for (const auto& [email, role] :
           std::vector<std::pair<std::string, ctl::Role>>{{kManager, ctl::Role::kManager},
                                                          {kSuperAdmin, ctl::Role::kSuperAdmin},
                                                          {kChecker, ctl::Role::kChecker}}) {
        auto s = ctl::create_staff(tx, *hasher, clock_, email, kPassword, "Test", {role});
        ASSERT_TRUE(s.ok()) << s.error().to_string();
      }
      tx.commit();
    }

    const char* level = std::getenv("RECLOTHES_TEST_LOG");
    auto controller = ctl::make_controller(
        *config_, clock_,
        level ? ctl::Log::to_stderr({level, ctl::LogFormat::kText}) : ctl::Log::null());
    ASSERT_TRUE(controller.ok()) << controller.error().to_string();
    controller_ = std::move(controller).value();
    auto started = controller_->start();
    ASSERT_TRUE(started.ok()) << started.error().to_string();
    // Ready = database up and the broker connection (over TLS, with the controller's certificate
    // from `ca init`) subscribed.
    ASSERT_TRUE(eventually([] { return call("GET", "/readyz").status == 200; }, 20s))
        << "controller not ready: " << call("GET", "/readyz").body.dump() << "\nbroker log:\n"
        << slurp(broker_->log_path());
  }

  static void TearDownTestSuite() {
    if (std::getenv("RECLOTHES_TEST_BROKER_LOG") && broker_) {
      std::cerr << slurp(broker_->log_path());
    }
    controller_.reset();
    broker_.reset();
    pg_.reset();
    key_dir_.reset();
    root_.reset();
  }

 protected:
  void TearDown() override {
    for (auto& [id, box] : boxes_) {
      if (box.process && box.process->running()) (void)box.process->stop(5s);
    }
    boxes_.clear();
  }

  static fs::path pki_dir() { return root_->path() / "pki"; }
  static fs::path out_dir(const std::string& box_id) { return root_->path() / box_id; }
  static std::string internal_url() {
    return "http://127.0.0.1:" + std::to_string(controller_->internal_port());
  }

  static Reply call(const std::string& method, const std::string& path,
                    const std::optional<nlohmann::json>& body = std::nullopt,
                    const std::string& token = "") {
    httplib::Client cli("127.0.0.1", controller_->internal_port());
    cli.set_read_timeout(10s);
    httplib::Headers headers;
    if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
    httplib::Result res{nullptr, httplib::Error::Unknown};
    if (method == "GET") {
      res = cli.Get(path.c_str(), headers);
    } else {
      res = cli.Post(path.c_str(), headers, body ? body->dump() : "", "application/json");
    }
    Reply r;
    if (!res) return r;
    r.status = res->status;
    r.body = nlohmann::json::parse(res->body, nullptr, false);
    return r;
  }

  static std::string login(const std::string& email) {
    const Reply r = call("POST", "/internal/v1/sessions",
                         nlohmann::json{{"email", email}, {"password", kPassword}});
    EXPECT_EQ(r.status, 201) << r.body.dump();
    return r.status == 201 ? r.body["token"].get<std::string>() : "";
  }

  Reply box_view(const std::string& box_id) {
    if (manager_token_.empty()) manager_token_ = login(kManager);
    return call("GET", "/internal/v1/boxes/" + box_id, std::nullopt, manager_token_);
  }

  static RunResult cli(const std::vector<std::string>& args) {
    return run_cli(args, {{"RECLOTHES_STAFF_PASSWORD", kPassword}});
  }

  RunResult register_box(const std::string& box_id, const std::string& spec,
                         const std::string& email = kManager, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {
        "--json",        "register",   "--controller",   internal_url(),
        "--staff-email", email,        "--pki",          pki_dir().string(),
        "--box-id",      box_id,       "--compartments", spec,
        "--broker",      broker_uri(), "--out",          out_dir(box_id).string(),
        "--journal",     "journal.db", "--keepalive",    "5"};
    args.insert(args.end(), extra.begin(), extra.end());
    return cli(args);
  }

  static std::string broker_uri() { return "ssl://127.0.0.1:" + std::to_string(tls_port_); }

  RunningBox& start_box(const std::string& box_id) {
    RunningBox box;
    box.fifo = out_dir(box_id) / "sim.fifo";
    box.log = out_dir(box_id) / ("box-" + std::to_string(++box_starts_) + ".log");
    ts::SpawnOptions options;
    options.log_path = box.log;
    auto process =
        ts::Process::spawn({RECLOTHES_BOX_BINARY, "--log-level", "info", "run", "--config",
                            (out_dir(box_id) / "box.json").string(), "--sim-control",
                            box.fifo.string(), "--sim-auto-open-ms", "300"},
                           options);
    EXPECT_TRUE(process.ok()) << process.error().to_string();
    if (process.ok()) box.process = std::move(process).value();
    boxes_[box_id] = std::move(box);
    return boxes_[box_id];
  }

  void stop_box(const std::string& box_id) {
    auto it = boxes_.find(box_id);
    if (it != boxes_.end() && it->second.process) (void)it->second.process->stop(10s);
  }

  bool wait_box(const std::string& box_id, const std::function<bool(const nlohmann::json&)>& pred,
                std::chrono::milliseconds timeout = 30s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    auto it = boxes_.find(box_id);
    for (;;) {
      const Reply r = box_view(box_id);
      if (r.status == 200 && pred(r.body)) return true;
      // A box process that exited will not change anything any more.
      if (it != boxes_.end() && it->second.process && !it->second.process->running() &&
          it->second.process->exit_status().value_or(0) != 0) {
        return false;
      }
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(50ms);
    }
  }

  std::string describe_box(const std::string& box_id) {
    std::string s = "controller: " + box_view(box_id).body.dump(2);
    auto it = boxes_.find(box_id);
    if (it != boxes_.end()) s += "\nbox log:\n" + slurp(it->second.log);
    return s;
  }

  // A TLS connection to the broker with a certificate, as any MQTT client would make it.
  static Status try_connect(const fs::path& cert, const fs::path& key, const std::string& id) {
    try {
      mqtt::async_client client(broker_uri(), id);
      auto ssl = mqtt::ssl_options_builder()
                     .trust_store((pki_dir() / "ca.crt").string())
                     .key_store(cert.string())
                     .private_key(key.string())
                     .enable_server_cert_auth(true)
                     .verify(true)
                     .finalize();
      mqtt::connect_options options;
      options.set_ssl(std::move(ssl));
      options.set_connect_timeout(5s);
      options.set_clean_session(true);
      client.connect(options)->wait();
      client.disconnect()->wait_for(2s);
      return ok_status();
    } catch (const mqtt::exception& e) {
      return make_error(ErrorCode::kUnavailable, e.what());
    }
  }

  // Why the broker refused a certificate: it logged a failed verification, and the certificate
  // verifies against the fleet CA on its own but not with the CRL the CLI wrote (so the CRL, not
  // a wrong CA or an expiry, is the reason).
  static std::size_t verify_failures() {
    return count_of(slurp(broker_->log_path()), "certificate verify failed");
  }
  static bool refused_for_revocation(const fs::path& cert, std::size_t failures_before) {
    const bool logged = eventually([&] { return verify_failures() > failures_before; }, 5s);
    EXPECT_TRUE(logged) << "no failed verification in the broker log";
    auto pki = FleetPki::open(pki_dir());
    EXPECT_TRUE(pki.ok());
    if (!pki.ok()) return false;
    const std::string pem = slurp(cert);
    const std::string crl = slurp(broker_dir_ / "crl.pem");
    const Status without_crl = pki->ca().verify(pem, clock_);
    const Status with_crl = pki->ca().verify(pem, clock_, crl);
    EXPECT_TRUE(without_crl.ok()) << without_crl.error().to_string();
    EXPECT_FALSE(with_crl.ok());
    return logged && without_crl.ok() && !with_crl.ok() &&
           with_crl.error().message.find("revoked") != std::string::npos;
  }

  static std::size_t reloads() { return count_of(slurp(broker_->log_path()), "Reloading config"); }
  static bool wait_reloaded(std::size_t before) {
    return eventually([&] { return reloads() > before; }, 5s);
  }

  static inline std::unique_ptr<ts::TempDir> root_;
  static inline fs::path broker_dir_;
  static inline int tls_port_ = 0;
  static inline std::unique_ptr<ts::MosquittoServer> broker_;
  static inline std::unique_ptr<ts::PostgresServer> pg_;
  static inline std::unique_ptr<ts::TempDir> key_dir_;
  static inline std::optional<ctl::ControllerConfig> config_;
  static inline SystemClock clock_;
  static inline std::unique_ptr<ctl::Controller> controller_;

  std::string manager_token_;
  std::map<std::string, RunningBox> boxes_;
  int box_starts_ = 0;
};

TEST_F(ProvisionE2eTest, RegisterCreatesTheBoxAndWritesAConfigTheFirmwareLoads) {
  const RunResult r = register_box("box-reg-1", "S:2,M:1,XL:1");
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  const auto j = r.json();
  ASSERT_FALSE(j.is_discarded()) << r.describe();
  EXPECT_EQ(j["registration"], "created");
  EXPECT_EQ(j["compartments"], 4);
  EXPECT_EQ(j["backend"], "sim");
  // A manager may register boxes but not list signing keys: the CLI says so and carries on.
  EXPECT_EQ(j["trusted_keys"]["source"], "none");
  EXPECT_NE(j["trusted_keys"]["note"].get<std::string>().find("keys.rotate"), std::string::npos);
  for (const char* step :
       {"==> logging in", "==> checking whether box box-reg-1", "==> generating the box's key",
        "==> registering box box-reg-1", "==> writing"}) {
    EXPECT_NE(r.err.find(step), std::string::npos) << step << "\n" << r.describe();
  }

  const Reply view = box_view("box-reg-1");
  ASSERT_EQ(view.status, 200);
  EXPECT_EQ(view.body["status"], "registered");
  ASSERT_EQ(view.body["compartments"].size(), 4u);
  EXPECT_EQ(view.body["compartments"][0]["size_class"], "S");
  EXPECT_EQ(view.body["compartments"][3]["size_class"], "XL");

  // The firmware's own parser accepts the file as written.
  const fs::path dir = out_dir("box-reg-1");
  auto config = firmware::load_config(dir / "box.json");
  ASSERT_TRUE(config.ok()) << config.error().to_string();
  EXPECT_EQ(config->box_id, "box-reg-1");
  EXPECT_EQ(config->journal_path, dir / "journal.db");
  EXPECT_EQ(config->broker.uri, broker_uri());
  ASSERT_TRUE(config->broker.tls);
  EXPECT_EQ(config->broker.tls->cert, dir / "box.crt");
  EXPECT_EQ(config->broker.tls->key, dir / "box.key");
  EXPECT_EQ(config->broker.tls->ca, dir / "ca.crt");
  ASSERT_EQ(config->compartments.size(), 4u);
  EXPECT_EQ(config->compartments[3].size, firmware::CompartmentSize::kXL);
  EXPECT_EQ(config->hal.backend, firmware::HalBackend::kSim);

  struct stat st {};
  ASSERT_EQ(::stat((dir / "box.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((dir / "box.crt").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  auto info = inspect_certificate(slurp(dir / "box.crt"));
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->common_name, "box-reg-1");
  EXPECT_TRUE(info->client_auth);
  EXPECT_EQ(info->serial_hex, j["certificate"]["serial"]);
  EXPECT_EQ(slurp(dir / "box.crt"), slurp(pki_dir() / "boxes" / "box-reg-1.crt"))
      << "the PKI records the certificate the box holds";

  // The box's printed code, read back the way a camera reads it.
  EXPECT_EQ(j["box_code"], "reclothes:box:box-reg-1");
  EXPECT_EQ(j["files"]["box_code_png"], (dir / "box-code.png").string());
  auto codes = firmware::scan_image_file(dir / "box-code.png");
  ASSERT_TRUE(codes.ok()) << codes.error().to_string();
  EXPECT_EQ(*codes, std::vector<std::string>{"reclothes:box:box-reg-1"});
  EXPECT_NE(r.out.find("box-code.png"), std::string::npos) << "the next steps say to print it";

  // The technician's next step works on what register wrote.
  const RunResult selftest = cli({"selftest", "--config", (dir / "box.json").string()});
  EXPECT_EQ(selftest.exit_code, 0) << selftest.describe();
  EXPECT_NE(selftest.out.find("PASSED"), std::string::npos) << selftest.describe();
}

TEST_F(ProvisionE2eTest, SuperAdminRegistrationCarriesTheControllersSigningKeys) {
  const RunResult r = register_box("box-keys-1", "M:2", kSuperAdmin);
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  const auto j = r.json();
  EXPECT_EQ(j["trusted_keys"]["source"], "controller");
  ASSERT_EQ(j["trusted_keys"]["key_ids"].size(), 1u);

  const Reply keys = call("GET", "/internal/v1/keys", std::nullopt, login(kSuperAdmin));
  ASSERT_EQ(keys.status, 200);
  auto config = firmware::load_config(out_dir("box-keys-1") / "box.json");
  ASSERT_TRUE(config.ok()) << config.error().to_string();
  ASSERT_EQ(config->trusted_keys.size(), keys.body["items"].size());
  EXPECT_EQ(config->trusted_keys[0].key_id, keys.body["items"][0]["key_id"].get<int>());
  EXPECT_EQ(config->trusted_keys[0].public_key_pem, keys.body["items"][0]["public_pem"]);
}

TEST_F(ProvisionE2eTest, StaffWithoutBoxRegisterAndWrongPasswordsExitThree) {
  RunResult r = register_box("box-denied", "S:1", kChecker);
  EXPECT_EQ(r.exit_code, 3) << r.describe();
  EXPECT_NE(r.err.find("403"), std::string::npos) << r.describe();
  EXPECT_FALSE(fs::exists(out_dir("box-denied")));
  EXPECT_EQ(box_view("box-denied").status, 404);

  r = run_cli({"register", "--controller", internal_url(), "--staff-email", kManager, "--pki",
               pki_dir().string(), "--box-id", "box-denied", "--compartments", "S:1", "--broker",
               broker_uri(), "--out", out_dir("box-denied").string()},
              {}, "not the password\n");
  EXPECT_EQ(r.exit_code, 3) << r.describe();
  EXPECT_NE(r.err.find("401"), std::string::npos) << r.describe();
  EXPECT_EQ(box_view("box-denied").status, 404);
}

TEST_F(ProvisionE2eTest, AnExistingBoxIsRefusedUnlessReusedWhichRevokesTheOldCertificate) {
  RunResult r = register_box("box-again", "S:2");
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  const std::string first_serial = r.json()["certificate"]["serial"];

  r = register_box("box-again", "S:2");
  EXPECT_EQ(r.exit_code, 5) << r.describe();
  EXPECT_NE(r.err.find("already registered"), std::string::npos) << r.describe();
  EXPECT_NE(r.err.find("--reuse"), std::string::npos) << r.describe();

  r = register_box("box-again", "S:3", kManager, {"--reuse"});
  EXPECT_EQ(r.exit_code, 2) << r.describe();
  EXPECT_NE(r.err.find("compartments S,S"), std::string::npos) << r.describe();

  const std::size_t before = reloads();
  r = register_box("box-again", "S:2", kManager,
                   {"--reuse", "--broker-pid", std::to_string(broker_->pid())});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  const auto j = r.json();
  EXPECT_EQ(j["registration"], "reused");
  EXPECT_EQ(j["revoked_previous_certificate"], first_serial);
  EXPECT_EQ(j["broker_reloaded"], true);
  EXPECT_NE(j["certificate"]["serial"], first_serial);
  ASSERT_TRUE(wait_reloaded(before));
  auto list = RevocationList::load(pki_dir() / "revocations.json");
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->contains_serial(first_serial));
  EXPECT_FALSE(list->is_decommissioned("box-again"));
}

TEST_F(ProvisionE2eTest, ProvisionedBoxConnectsReportsStateAndOpensForACourierToken) {
  const RunResult r = register_box("box-e2e-1", "S:2,M:2");
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  RunningBox& box = start_box("box-e2e-1");
  ASSERT_TRUE(box.process);

  // Connected over TLS with its own certificate, and reporting: the controller marks it online
  // and active and stores its state, which carries the config revision it applied (the config
  // brings the controller's signing keys, which the manager could not put in the file).
  ASSERT_TRUE(wait_box("box-e2e-1", [](const nlohmann::json& b) {
    return b["online"] == true && b["status"] == "active" && b["last_state"].is_object() &&
           b["last_state"].value("config_revision", 0) >= 1;
  })) << describe_box("box-e2e-1");
  const Reply online = box_view("box-e2e-1");
  EXPECT_EQ(online.body["firmware_version"], "0.1.0");
  EXPECT_EQ(online.body["last_state"]["compartments"].size(), 4u);
  EXPECT_EQ(online.body["backlog"], 0) << "nothing waiting: the boot event was applied";

  // A courier token from the controller, shown to the box's camera.
  const std::string token = manager_token_;
  const Reply issued = call("POST", "/internal/v1/tokens/courier",
                            nlohmann::json{{"box_id", "box-e2e-1"},
                                           {"compartments", nlohmann::json::array({3})},
                                           {"action", "courier_load"}},
                            token);
  ASSERT_EQ(issued.status, 201) << issued.body.dump();
  const std::string text = issued.body["token"];
  ASSERT_TRUE(eventually([&] { return box.send("present " + text); }, 5s));
  ASSERT_TRUE(wait_box("box-e2e-1", [](const nlohmann::json& b) {
    return b["compartments"][2]["door_open"] == true;
  })) << describe_box("box-e2e-1");
  ASSERT_TRUE(box.send("close 3"));
  ASSERT_TRUE(wait_box("box-e2e-1", [](const nlohmann::json& b) {
    return b["compartments"][2]["door_open"] == false &&
           b["compartments"][2]["state"] == "occupied";
  })) << describe_box("box-e2e-1");
  const Reply after = box_view("box-e2e-1");
  EXPECT_EQ(after.body["compartments"][0]["door_open"], false) << "only compartment 3 opened";
  EXPECT_TRUE(after.body["faults"].empty()) << after.body["faults"].dump();

  // The control path the other way: a remote open through the controller.
  const Reply open = call("POST", "/internal/v1/boxes/box-e2e-1/compartments/1/open",
                          nlohmann::json::object(), token);
  ASSERT_EQ(open.status, 202) << open.body.dump();
  ASSERT_TRUE(wait_box("box-e2e-1", [](const nlohmann::json& b) {
    return b["compartments"][0]["door_open"] == true;
  })) << describe_box("box-e2e-1");

  // show: the box directory and the controller's view in one report.
  const RunResult shown =
      cli({"--json", "show", "--config", (out_dir("box-e2e-1") / "box.json").string(),
           "--controller", internal_url(), "--staff-email", kManager, "--pki", pki_dir().string()});
  ASSERT_EQ(shown.exit_code, 0) << shown.describe();
  const auto sj = shown.json();
  EXPECT_EQ(sj["controller"]["online"], true);
  EXPECT_EQ(sj["controller"]["status"], "active");
  EXPECT_EQ(sj["local"]["key_mode"], "0600");
  EXPECT_TRUE(sj["problems"].empty()) << sj.dump(2);
}

TEST_F(ProvisionE2eTest, DecommissionShutsTheBoxOutAtTheControllerAndTheBroker) {
  ASSERT_EQ(register_box("box-dec-1", "S:2").exit_code, 0);
  ASSERT_EQ(register_box("box-dec-peer", "S:1").exit_code, 0);
  start_box("box-dec-1");
  ASSERT_TRUE(wait_box("box-dec-1", [](const nlohmann::json& b) { return b["online"] == true; }))
      << describe_box("box-dec-1");
  const fs::path dir = out_dir("box-dec-1");
  ASSERT_TRUE(try_connect(out_dir("box-dec-peer") / "box.crt", out_dir("box-dec-peer") / "box.key",
                          "box-dec-peer")
                  .ok());

  const std::size_t before = reloads();
  const RunResult r = cli({"--json", "decommission", "--controller", internal_url(),
                           "--staff-email", kManager, "--box-id", "box-dec-1", "--pki",
                           pki_dir().string(), "--broker-pid", std::to_string(broker_->pid())});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  const auto j = r.json();
  EXPECT_EQ(j["controller"], "decommissioned");
  EXPECT_EQ(j["broker_reloaded"], true);
  ASSERT_TRUE(wait_reloaded(before)) << slurp(broker_->log_path());

  // The controller refuses the box.
  const Reply view = box_view("box-dec-1");
  EXPECT_EQ(view.body["status"], "decommissioned");
  const Reply open = call("POST", "/internal/v1/boxes/box-dec-1/compartments/1/open",
                          nlohmann::json::object(), manager_token_);
  EXPECT_EQ(open.status, 409);
  EXPECT_EQ(open.body["error"]["code"], "box_decommissioned");
  const RunResult again = register_box("box-dec-1", "S:2", kManager, {"--reuse"});
  EXPECT_EQ(again.exit_code, 5) << again.describe();
  EXPECT_NE(again.err.find("decommissioned"), std::string::npos);

  // The broker refuses its certificate (CRL) and denies its id (ACL); others are unaffected.
  stop_box("box-dec-1");
  const std::size_t failures = verify_failures();
  const Status refused = try_connect(dir / "box.crt", dir / "box.key", "box-dec-1");
  ASSERT_FALSE(refused.ok()) << "a revoked certificate connected";
  EXPECT_TRUE(refused_for_revocation(dir / "box.crt", failures));
  EXPECT_TRUE(try_connect(out_dir("box-dec-peer") / "box.crt", out_dir("box-dec-peer") / "box.key",
                          "box-dec-peer")
                  .ok());
  EXPECT_NE(slurp(broker_dir_ / "reclothes.acl").find("user box-dec-1\ntopic deny #"),
            std::string::npos);

  // Running it again finishes nothing twice and still succeeds.
  const RunResult repeat =
      cli({"--json", "decommission", "--controller", internal_url(), "--staff-email", kManager,
           "--box-id", "box-dec-1", "--pki", pki_dir().string()});
  EXPECT_EQ(repeat.exit_code, 0) << repeat.describe();
  EXPECT_EQ(repeat.json()["controller"], "already_decommissioned");
}

TEST_F(ProvisionE2eTest, RotatedCredentialsConnectAndTheOldCertificateIsRefused) {
  ASSERT_EQ(register_box("box-rot-1", "M:1").exit_code, 0);
  const fs::path dir = out_dir("box-rot-1");
  // Keep a copy of the old identity to try it afterwards.
  fs::copy_file(dir / "box.crt", root_->path() / "old-rot.crt");
  fs::copy_file(dir / "box.key", root_->path() / "old-rot.key");
  start_box("box-rot-1");
  ASSERT_TRUE(wait_box("box-rot-1", [](const nlohmann::json& b) { return b["online"] == true; }))
      << describe_box("box-rot-1");
  stop_box("box-rot-1");
  ASSERT_TRUE(wait_box("box-rot-1", [](const nlohmann::json& b) { return b["online"] == false; }));

  const std::size_t before = reloads();
  const RunResult r =
      cli({"--json", "rotate-credentials", "--config", (dir / "box.json").string(), "--pki",
           pki_dir().string(), "--broker-pid", std::to_string(broker_->pid())});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  ASSERT_TRUE(wait_reloaded(before));
  const std::size_t failures = verify_failures();
  const Status old_identity =
      try_connect(root_->path() / "old-rot.crt", root_->path() / "old-rot.key", "box-rot-1");
  ASSERT_FALSE(old_identity.ok()) << "a superseded certificate connected";
  EXPECT_TRUE(refused_for_revocation(root_->path() / "old-rot.crt", failures));

  // The box restarts with the configuration rotate-credentials switched, and is back.
  auto config = firmware::load_config(dir / "box.json");
  ASSERT_TRUE(config.ok()) << config.error().to_string();
  start_box("box-rot-1");
  ASSERT_TRUE(wait_box("box-rot-1", [](const nlohmann::json& b) { return b["online"] == true; }))
      << describe_box("box-rot-1");
}

TEST_F(ProvisionE2eTest, ShowAllReportsEveryBoxWithAProgressLine) {
  ASSERT_EQ(register_box("box-all-1", "S:1").exit_code, 0);
  ASSERT_EQ(register_box("box-all-2", "L:1").exit_code, 0);
  const RunResult r = cli({"--json", "show", "--all", "--controller", internal_url(),
                           "--staff-email", kManager, "--pki", pki_dir().string()});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  const auto j = r.json();
  ASSERT_FALSE(j.is_discarded()) << r.describe();
  const std::size_t n = j["count"];
  EXPECT_GE(n, 2u);
  EXPECT_EQ(j["boxes"].size(), n);
  EXPECT_NE(r.err.find("/" + std::to_string(n) + "] box-all-1: registered, offline"),
            std::string::npos)
      << r.describe();
  EXPECT_NE(r.err.find("[" + std::to_string(n) + "/" + std::to_string(n) + "]"), std::string::npos);
  bool found = false;
  for (const auto& b : j["boxes"]) {
    if (b["id"] == "box-all-2") {
      found = true;
      EXPECT_EQ(b["status"], "registered");
      EXPECT_GT(b["certificate"]["days_left"].get<int>(), 1000);
    }
  }
  EXPECT_TRUE(found);
  const RunResult text =
      cli({"show", "--all", "--controller", internal_url(), "--staff-email", kManager});
  ASSERT_EQ(text.exit_code, 0) << text.describe();
  EXPECT_NE(text.out.find("box-all-2"), std::string::npos);
  EXPECT_NE(text.out.find("needing attention"), std::string::npos);
}

}  // namespace
}  // namespace reclothes::provisioning::cli
