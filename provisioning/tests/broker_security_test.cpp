// The shipped broker configuration against a real Mosquitto 2.0 (tests/support), with real TLS
// clients (Paho C++): what a box certificate may and may not do, who is refused at the door, and
// what decommissioning does to a box. docs/broker-security.md lists what each test proves.
//
// Non-delivery is proved without sleeping: the broker handles one client's packets in order and
// acknowledges a QoS 1 PUBLISH only after routing it, and each subscriber's queue is FIFO. So when
// a marker published after the forbidden message (and after its PUBACK) has arrived, the forbidden
// message would have arrived before it. The broker's debug log ("Denied PUBLISH ...") says why.
#include <gtest/gtest.h>
#include <mqtt/async_client.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <signal.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "pki_test_util.h"
#include "reclothes/common/clock.h"
#include "reclothes/provisioning/broker_config.h"
#include "reclothes/provisioning/files.h"
#include "reclothes/provisioning/pki.h"
#include "reclothes/testsupport/mosquitto.h"
#include "reclothes/testsupport/process.h"

namespace reclothes::provisioning {
namespace {

using namespace std::chrono_literals;
namespace ts = reclothes::testsupport;

constexpr char kBrokerUser[] = "mosquitto";
constexpr auto kWait = 5s;
constexpr std::string_view kRoot = "reclothes/v1/boxes/";

std::string topic(std::string_view box, std::string_view leaf) {
  return std::string(kRoot) + std::string(box) + "/" + std::string(leaf);
}

using testing::system_clock;

// A client certificate and key on disk.
struct Identity {
  std::filesystem::path cert;
  std::filesystem::path key;
};

struct Received {
  std::string topic;
  std::string payload;
};

// A Paho client over TLS that records what it receives. All methods are for the test's thread;
// the callbacks only append under the mutex.
class TestClient {
 public:
  struct Options {
    std::string uri;
    std::string client_id;
    std::filesystem::path trust_store;  // CA that signed the broker's certificate
    std::optional<Identity> identity;   // none: no client certificate
    int mqtt_version = MQTTVERSION_3_1_1;
    bool verify_host = true;  // check the server certificate's name
    bool tls = true;          // false: plain TCP (the local listener)
    std::string username;     // plain TCP only
    std::string password;
  };

  // Connects all clients at once and waits for all. Paho C 1.3.12 needs about two seconds for
  // each connect made while another client of the process is connected (eclipse-paho/paho.mqtt.c
  // #1430, fixed upstream later); connects started together share that wait.
  static std::vector<Result<std::unique_ptr<TestClient>>> connect_all(
      const std::vector<Options>& all) {
    std::vector<std::unique_ptr<TestClient>> clients;
    std::vector<mqtt::token_ptr> tokens;
    std::vector<std::optional<Error>> errors(all.size());
    for (std::size_t i = 0; i < all.size(); ++i) {
      clients.emplace_back(new TestClient());
      try {
        tokens.push_back(clients.back()->begin_connect(all[i]));
      } catch (const mqtt::exception& e) {
        tokens.push_back(nullptr);
        errors[i] = make_error(ErrorCode::kUnavailable, std::string("connect failed: ") + e.what());
      }
    }
    std::vector<Result<std::unique_ptr<TestClient>>> out;
    for (std::size_t i = 0; i < all.size(); ++i) {
      if (!errors[i] && tokens[i]) {
        try {
          tokens[i]->wait();
        } catch (const mqtt::exception& e) {
          errors[i] =
              make_error(ErrorCode::kUnavailable, std::string("connect failed: ") + e.what() +
                                                      " TLS: " + clients[i]->tls_errors());
        }
      }
      if (errors[i]) {
        out.emplace_back(std::move(*errors[i]));
      } else {
        out.emplace_back(std::move(clients[i]));
      }
    }
    return out;
  }

  static Result<std::unique_ptr<TestClient>> connect(const Options& o) {
    return std::move(connect_all({o}).front());
  }

  ~TestClient() {
    try {
      if (client_ && client_->is_connected()) client_->disconnect()->wait_for(2s);
    } catch (const mqtt::exception&) {
      // The broker may already have closed the connection; nothing to clean up then.
    }
    client_.reset();  // its threads stop before the members the callbacks use go away
  }
  TestClient(const TestClient&) = delete;
  TestClient& operator=(const TestClient&) = delete;

  // The granted QoS, or the failure code (0x80 / a v5 reason code) if the broker refused.
  int subscribe(const std::string& filter, int qos = 1) {
    try {
      auto tok = client_->subscribe(filter, qos);
      tok->wait();
      const auto codes = tok->get_subscribe_response().get_reason_codes();
      return codes.empty() ? -1 : static_cast<int>(codes.front());
    } catch (const mqtt::exception& e) {
      return e.get_reason_code() != 0 ? static_cast<int>(e.get_reason_code()) : 0x80;
    }
  }

  // QoS 1 publish; returns once the broker has acknowledged (and therefore routed) it. The result
  // is the PUBACK reason code (always 0 in MQTT 3.1.1, which has no reason codes), or -1 if the
  // publish failed without one.
  int publish(const std::string& t, const std::string& payload, bool retained = false) {
    try {
      auto tok = client_->publish(t, payload.data(), payload.size(), 1, retained);
      tok->wait();
      return static_cast<int>(tok->get_reason_code());
    } catch (const mqtt::exception& e) {
      return e.get_reason_code() != 0 ? static_cast<int>(e.get_reason_code()) : -1;
    }
  }

  bool wait_for(const std::string& t, const std::string& payload,
                std::chrono::milliseconds timeout = kWait) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] {
      for (const auto& r : received_) {
        if (r.topic == t && r.payload == payload) return true;
      }
      return false;
    });
  }

  // Everything received on topics starting with `prefix`.
  std::vector<Received> received_under(std::string_view prefix) {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<Received> out;
    for (const auto& r : received_) {
      if (r.topic.rfind(prefix, 0) == 0) out.push_back(r);
    }
    return out;
  }

  bool lost() {
    std::lock_guard<std::mutex> lock(mu_);
    return lost_;
  }
  bool wait_lost(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return lost_; });
  }
  std::string tls_errors() {
    std::lock_guard<std::mutex> lock(mu_);
    return tls_errors_;
  }

 private:
  TestClient() = default;

  mqtt::token_ptr begin_connect(const Options& o) {
    client_ = std::make_unique<mqtt::async_client>(o.uri, o.client_id,
                                                   mqtt::create_options(o.mqtt_version));
    client_->set_message_callback([this](mqtt::const_message_ptr m) {
      std::lock_guard<std::mutex> lock(mu_);
      received_.push_back({m->get_topic(), m->to_string()});
      cv_.notify_all();
    });
    client_->set_connection_lost_handler([this](const std::string&) {
      std::lock_guard<std::mutex> lock(mu_);
      lost_ = true;
      cv_.notify_all();
    });
    if (!o.tls) {
      connect_options_.set_user_name(o.username);
      connect_options_.set_password(o.password);
      connect_options_.set_connect_timeout(5s);
      return client_->connect(connect_options_);
    }
    auto ssl = mqtt::ssl_options_builder()
                   .trust_store(o.trust_store.string())
                   .enable_server_cert_auth(true)
                   .verify(o.verify_host)
                   .error_handler([this](const std::string& text) {
                     std::lock_guard<std::mutex> lock(mu_);
                     tls_errors_ += text + "\n";
                   })
                   .finalize();
    if (o.identity) {
      ssl.set_key_store(o.identity->cert.string());
      ssl.set_private_key(o.identity->key.string());
    }
    // A named object that outlives connect() (STACK.md, Paho gotcha 1).
    connect_options_.set_mqtt_version(o.mqtt_version);
    if (o.mqtt_version == MQTTVERSION_5) {
      connect_options_.set_clean_start(true);
    } else {
      connect_options_.set_clean_session(true);
    }
    connect_options_.set_connect_timeout(5s);
    connect_options_.set_ssl(std::move(ssl));
    return client_->connect(connect_options_);
  }

  mqtt::connect_options connect_options_;
  std::unique_ptr<mqtt::async_client> client_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Received> received_;
  bool lost_ = false;
  std::string tls_errors_;
};

std::string describe(const std::vector<Received>& messages) {
  std::string out;
  for (const auto& m : messages) out += m.topic + " \"" + m.payload + "\"\n";
  return out;
}

// A fleet PKI and broker in one temporary directory the broker's user can read.
class Fleet {
 public:
  struct Settings {
    ServerCertificateRequest server;
    std::vector<std::string> controllers = {"controller.eu-1"};
    std::vector<std::string> local_readers;  // non-empty: a local listener with these users
  };

  static Result<std::unique_ptr<Fleet>> create(Settings settings) {
    std::unique_ptr<Fleet> f(new Fleet());
    RC_ASSIGN_OR_RETURN(ts::TempDir dir, ts::TempDir::create("reclothes-pki-broker-"));
    f->dir_ = std::make_unique<ts::TempDir>(std::move(dir));
    RC_TRY(ts::chown_to_user(f->path(), kBrokerUser));
    RC_ASSIGN_OR_RETURN(CertificateAuthority ca, CertificateAuthority::create({}, system_clock()));
    f->ca_ = std::make_unique<CertificateAuthority>(std::move(ca));
    RC_TRY(write_file_atomic(f->ca_file(), f->ca_->certificate_pem()));

    // The broker's key: 0600 and owned by the broker's user, as gotcha 6 of STACK.md demands.
    RC_ASSIGN_OR_RETURN(std::string server_key, generate_private_key_pem());
    RC_ASSIGN_OR_RETURN(
        IssuedCertificate server_cert,
        f->ca_->issue_server_certificate(settings.server, server_key, 30, system_clock()));
    RC_TRY(write_file_atomic(f->path() / "server.key", server_key, private_file(kBrokerUser)));
    RC_TRY(write_file_atomic(f->path() / "server.crt", server_cert.certificate_pem));
    RC_TRY(publish_crl(*f->ca_, f->list_file(), f->crl_file(), system_clock()));

    f->config_.bind_address = "127.0.0.1";
    f->config_.ca_file = f->ca_file();
    f->config_.cert_file = f->path() / "server.crt";
    f->config_.key_file = f->path() / "server.key";
    f->config_.crl_file = f->crl_file();
    f->config_.acl_file = f->path() / "reclothes.acl";
    f->config_.controllers = settings.controllers;
    f->config_.standalone = false;  // the fixture's mosquitto.conf has its own process settings
    if (!settings.local_readers.empty()) {
      f->config_.local_listener =
          LocalListener{0, f->path() / "local.passwd", settings.local_readers};
    }
    return f;
  }

  // Starts the broker with the generated configuration; retried if the TLS port was taken.
  Status start_broker() {
    Status last = ok_status();
    for (int attempt = 0; attempt < 3; ++attempt) {
      RC_ASSIGN_OR_RETURN(config_.tls_port, ts::free_tcp_port());
      if (config_.local_listener) {
        do {
          RC_ASSIGN_OR_RETURN(config_.local_listener->port, ts::free_tcp_port());
        } while (config_.local_listener->port == config_.tls_port);
      }
      RC_TRY(write_broker_config(config_, path() / "reclothes.conf", kBrokerUser));
      RC_ASSIGN_OR_RETURN(std::string conf, read_file(path() / "reclothes.conf"));
      ts::MosquittoServer::Options options;
      options.persistence = false;
      options.allow_anonymous = false;
      // The debug log shows each denied PUBLISH; the tests read it.
      options.extra_config = conf + "log_type all\n";
      auto server = ts::MosquittoServer::start(options);
      if (server.ok()) {
        server_ = std::move(server).value();
        return ts::wait_for_tcp_port(config_.tls_port, kWait);
      }
      last = std::move(server).error();
      if (last.error().message.find("Address already in use") == std::string::npos) return last;
    }
    return last;
  }

  int local_port() const { return config_.local_listener ? config_.local_listener->port : 0; }

  // A user of the local listener's password file (made with mosquitto_passwd, as an operator
  // would).
  Status add_local_user(const std::string& user, const std::string& password) {
    const auto file = path() / "local.passwd";
    std::vector<std::string> argv = {"mosquitto_passwd", "-b"};
    if (!std::filesystem::exists(file)) argv.push_back("-c");
    argv.insert(argv.end(), {file.string(), user, password});
    RC_ASSIGN_OR_RETURN(auto process, ts::Process::spawn(argv));
    RC_ASSIGN_OR_RETURN(const int status, process->wait(kWait));
    if (status != 0) {
      return make_error(ErrorCode::kInternal,
                        "mosquitto_passwd exited with " + std::to_string(status));
    }
    return ts::chown_to_user(file, kBrokerUser);
  }

  // A key and certificate for a box or controller (or anyone, with a CA of one's own).
  Result<Identity> identity(const std::string& name, const CertificateAuthority* issuer = nullptr) {
    const CertificateAuthority& ca = issuer != nullptr ? *issuer : *ca_;
    RC_ASSIGN_OR_RETURN(std::string key, generate_private_key_pem());
    Result<IssuedCertificate> cert =
        is_valid_controller_name(name)
            ? ca.issue_controller_certificate(name, key, 30, system_clock())
            : ca.issue_box_certificate(name, key, 30, system_clock());
    if (!cert.ok()) return std::move(cert).error();
    const std::string file = name + "-" + cert->info.serial_hex.substr(0, 8);
    Identity id{path() / (file + ".crt"), path() / (file + ".key")};
    RC_TRY(write_file_atomic(id.key, key, private_file()));
    RC_TRY(write_file_atomic(id.cert, cert->certificate_pem));
    return id;
  }

  TestClient::Options client_options(const std::string& client_id, std::optional<Identity> identity,
                                     int mqtt_version = MQTTVERSION_3_1_1,
                                     const std::string& host = "127.0.0.1") const {
    TestClient::Options o;
    o.uri = "ssl://" + host + ":" + std::to_string(config_.tls_port);
    o.client_id = client_id;
    o.trust_store = ca_file();
    o.identity = std::move(identity);
    o.mqtt_version = mqtt_version;
    return o;
  }

  Result<std::unique_ptr<TestClient>> connect(const std::string& client_id,
                                              std::optional<Identity> identity,
                                              int mqtt_version = MQTTVERSION_3_1_1,
                                              const std::string& host = "127.0.0.1") const {
    return TestClient::connect(client_options(client_id, std::move(identity), mqtt_version, host));
  }

  // Decommissioning as an operator does it: revoke, regenerate the ACL, SIGHUP the broker.
  Status revoke(const Identity& id, RevocationReason reason) {
    RC_ASSIGN_OR_RETURN(std::string pem, read_file(id.cert));
    RC_TRY(revoke_certificate(*ca_, pem, reason, list_file(), crl_file(), system_clock()));
    RC_ASSIGN_OR_RETURN(RevocationList list, RevocationList::load(list_file()));
    config_.decommissioned_boxes = list.decommissioned_box_ids();
    RC_TRY(write_broker_config(config_, path() / "reclothes.conf", kBrokerUser));
    return reload();
  }

  // SIGHUP, then waits for the broker to log the reload. The broker is single-threaded: once the
  // line is there, the next connection is handled with the new CRL and ACL.
  Status reload() {
    const std::size_t before = count_in_log("Reloading config.");
    if (::kill(server_->pid(), SIGHUP) != 0) {
      return make_error(ErrorCode::kIo, "cannot signal mosquitto");
    }
    return wait_for_log("Reloading config.", before + 1);
  }

  std::size_t count_in_log(const std::string& needle) const {
    auto log = read_file(server_->log_path(), 64 * 1024 * 1024);
    if (!log.ok()) return 0;
    std::size_t n = 0;
    for (auto pos = log->find(needle); pos != std::string::npos; pos = log->find(needle, pos + 1)) {
      ++n;
    }
    return n;
  }

  Status wait_for_log(const std::string& needle, std::size_t count = 1) const {
    const auto deadline = std::chrono::steady_clock::now() + kWait;
    while (count_in_log(needle) < count) {
      if (std::chrono::steady_clock::now() > deadline) {
        auto log = read_file(server_->log_path(), 64 * 1024 * 1024);
        std::string tail = log.ok() ? *log : std::string("(unreadable)");
        if (tail.size() > 2000) tail = tail.substr(tail.size() - 2000);
        return make_error(ErrorCode::kDeadlineExceeded, "mosquitto did not log \"" + needle +
                                                            "\" " + std::to_string(count) +
                                                            " times; the log ends with:\n" + tail);
      }
      std::this_thread::sleep_for(10ms);
    }
    return ok_status();
  }

  const std::filesystem::path& path() const { return dir_->path(); }
  std::filesystem::path ca_file() const { return path() / "ca.crt"; }
  std::filesystem::path crl_file() const { return path() / "crl.pem"; }
  std::filesystem::path list_file() const { return path() / "revocations.json"; }
  ts::MosquittoServer& server() { return *server_; }
  const CertificateAuthority& ca() const { return *ca_; }

  ~Fleet() {
    server_.reset();  // the broker goes before its files
  }

 private:
  Fleet() = default;
  std::unique_ptr<ts::TempDir> dir_;
  std::unique_ptr<CertificateAuthority> ca_;
  BrokerConfig config_;
  std::unique_ptr<ts::MosquittoServer> server_;
};

// What the broker logs when the TLS handshake refuses a client certificate (any reason), and when
// a client sends none. OpenSSL gives the broker no finer reason in the log, so the tests below
// also ask OpenSSL directly why it refuses, verifying the way mosquitto's listener does: the
// fleet CA as trust anchor, the CRL checked for the leaf, TLS-client purpose.
constexpr char kVerifyFailed[] = "SSL routines::certificate verify failed";
constexpr char kNoCertificate[] = "SSL routines::peer did not return a certificate";

int openssl_verify_as_tls_client(const std::filesystem::path& ca, const std::filesystem::path& cert,
                                 const std::optional<std::filesystem::path>& crl = std::nullopt) {
  X509_STORE* store = X509_STORE_new();
  X509_STORE_load_file(store, ca.c_str());
  if (crl) {
    X509_STORE_load_file(store, crl->c_str());
    X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
  }
  X509* leaf = nullptr;
  if (FILE* f = std::fopen(cert.c_str(), "r")) {
    leaf = PEM_read_X509(f, nullptr, nullptr, nullptr);
    std::fclose(f);
  }
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, leaf, nullptr);
  X509_STORE_CTX_set_default(ctx, "ssl_client");  // what an OpenSSL server uses for clients
  const int ok = X509_verify_cert(ctx);
  const int err = ok == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
  X509_STORE_CTX_free(ctx);
  X509_free(leaf);
  X509_STORE_free(store);
  return err;
}

std::string shared(std::string_view leaf) {
  return "$share/controllers/" + std::string(kRoot) + "+/" + std::string(leaf);
}

// One broker for the ACL and authentication tests, with a controller and boxes A and B connected
// for the whole suite (subscribed as in production). Each test uses its own payloads. Tests that
// need a connection of their own use other box ids: a second connection with box A's certificate
// would take the suite's box A session over (use_username_as_clientid).
class BrokerAclTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto fleet = Fleet::create({});
    ASSERT_TRUE(fleet.ok()) << fleet.error().to_string();
    fleet_ = std::move(fleet).value();
    Status started = fleet_->start_broker();
    ASSERT_TRUE(started.ok()) << started.error().to_string();
    for (const char* name : {"box-a", "box-b", "box-v5", "box-x", "box-san", "controller.eu-1"}) {
      auto id = fleet_->identity(name);
      ASSERT_TRUE(id.ok()) << id.error().to_string();
      ids_.emplace(name, *id);
    }
    auto clients = TestClient::connect_all(
        {fleet_->client_options("controller.eu-1", ids_.at("controller.eu-1")),
         fleet_->client_options("box-a", ids_.at("box-a")),
         fleet_->client_options("box-b", ids_.at("box-b"))});
    for (auto& c : clients) ASSERT_TRUE(c.ok()) << c.error().to_string();
    controller_ = std::move(clients[0]).value();
    box_a_ = std::move(clients[1]).value();
    box_b_ = std::move(clients[2]).value();
    for (const char* leaf : {"events", "command-results", "state", "status"}) {
      // The controller's way in: a shared subscription, granted at QoS 1.
      ASSERT_EQ(controller_->subscribe(shared(leaf)), 1) << shared(leaf);
    }
    for (const char* leaf : {"acks", "commands", "config"}) {
      ASSERT_EQ(box_a_->subscribe(topic("box-a", leaf)), 1);
      ASSERT_EQ(box_b_->subscribe(topic("box-b", leaf)), 1);
    }
  }
  static void TearDownTestSuite() {
    controller_.reset();
    box_a_.reset();
    box_b_.reset();
    ids_.clear();
    fleet_.reset();
  }
  void SetUp() override {
    ASSERT_NE(fleet_, nullptr) << "no broker (see SetUpTestSuite)";
    ASSERT_TRUE(controller_ && box_a_ && box_b_) << "clients did not connect (SetUpTestSuite)";
  }

  static inline std::unique_ptr<Fleet> fleet_;
  static inline std::map<std::string, Identity> ids_;
  static inline std::unique_ptr<TestClient> controller_;
  static inline std::unique_ptr<TestClient> box_a_;
  static inline std::unique_ptr<TestClient> box_b_;
};

TEST_F(BrokerAclTest, BoxPublishesItsOwnTopicsToTheControllersSharedSubscription) {
  for (const char* leaf : {"events", "command-results", "state", "status"}) {
    EXPECT_EQ(box_a_->publish(topic("box-a", leaf), std::string("own ") + leaf), 0) << leaf;
  }
  for (const char* leaf : {"events", "command-results", "state", "status"}) {
    EXPECT_TRUE(controller_->wait_for(topic("box-a", leaf), std::string("own ") + leaf)) << leaf;
  }
}

TEST_F(BrokerAclTest, BoxReceivesWhatTheControllerPublishesToItsOwnTopics) {
  for (const char* leaf : {"acks", "commands", "config"}) {
    EXPECT_EQ(controller_->publish(topic("box-a", leaf), std::string("to a ") + leaf), 0) << leaf;
  }
  for (const char* leaf : {"acks", "commands", "config"}) {
    EXPECT_TRUE(box_a_->wait_for(topic("box-a", leaf), std::string("to a ") + leaf)) << leaf;
  }
}

TEST_F(BrokerAclTest, BoxCannotPublishOnAnotherBoxsTopicsOrForgeItsOwnCommands) {
  // MQTT 3.1.1 has no way to say "refused" in a PUBACK: mosquitto acknowledges and drops.
  const std::vector<std::string> forbidden = {
      topic("box-b", "events"),   topic("box-b", "command-results"),
      topic("box-b", "state"),    topic("box-b", "status"),
      topic("box-b", "acks"),     topic("box-b", "commands"),
      topic("box-b", "config"),   topic("box-a", "acks"),
      topic("box-a", "commands"), topic("box-a", "config"),
      "reclothes/v1/other",       "$SYS/broker/uptime"};
  for (const auto& t : forbidden) EXPECT_EQ(box_a_->publish(t, "forged"), 0) << t;
  // Markers, routed after every forbidden message.
  ASSERT_EQ(box_a_->publish(topic("box-a", "events"), "forge marker"), 0);
  ASSERT_EQ(controller_->publish(topic("box-b", "commands"), "forge marker"), 0);
  ASSERT_EQ(controller_->publish(topic("box-a", "commands"), "forge marker"), 0);
  ASSERT_TRUE(controller_->wait_for(topic("box-a", "events"), "forge marker"));
  ASSERT_TRUE(box_b_->wait_for(topic("box-b", "commands"), "forge marker"));
  ASSERT_TRUE(box_a_->wait_for(topic("box-a", "commands"), "forge marker"));

  for (auto* client : {controller_.get(), box_b_.get(), box_a_.get()}) {
    for (const auto& m : client->received_under("")) {
      EXPECT_NE(m.payload, "forged") << "delivered: " << m.topic;
    }
  }
  // The broker says why (debug log): "Denied PUBLISH from box-a (d0, q1, r0, m7, '<topic>', ...".
  EXPECT_GE(fleet_->count_in_log("Denied PUBLISH from box-a (d0, q1, r0, m"), forbidden.size());
  for (const auto& t : forbidden) {
    EXPECT_GE(fleet_->count_in_log("'" + t + "', ... (6 bytes)"), 1u) << "no log line for " << t;
  }
}

TEST_F(BrokerAclTest, Mqtt5PublishOnAnotherBoxsTopicGetsNotAuthorized) {
  auto box = fleet_->connect("box-v5", ids_.at("box-v5"), MQTTVERSION_5);
  ASSERT_TRUE(box.ok()) << box.error().to_string();
  EXPECT_EQ((*box)->publish(topic("box-b", "events"), "forged v5"),
            static_cast<int>(mqtt::ReasonCode::NOT_AUTHORIZED));
  EXPECT_EQ((*box)->publish(topic("box-v5", "events"), "own v5"), 0);
  EXPECT_TRUE(controller_->wait_for(topic("box-v5", "events"), "own v5"));
  EXPECT_TRUE(controller_->received_under(topic("box-b", "events")).empty());
}

TEST_F(BrokerAclTest, BoxSubscribedToAnotherBoxsTopicsReceivesNothing) {
  // A retained config for box B is there before box A subscribes.
  ASSERT_EQ(controller_->publish(topic("box-b", "config"), "b's retained config", true), 0);
  ASSERT_EQ(controller_->publish(topic("box-a", "config"), "a's retained config", true), 0);
  // Mosquitto 2.0's acl_file checks "read" when it delivers, not at SUBSCRIBE: the SUBACK grants
  // the subscription (3.1.1 could say 0x80) and nothing arrives. Either answer is safe; what
  // matters is below.
  const std::vector<std::string> filters = {topic("box-b", "commands"),
                                            topic("box-b", "acks"),
                                            topic("box-b", "config"),
                                            std::string(kRoot) + "+/commands",
                                            std::string(kRoot) + "#",
                                            "#",
                                            "$share/evil/" + std::string(kRoot) + "+/events"};
  for (const std::string& filter : filters) {
    const int granted = box_a_->subscribe(filter);
    EXPECT_TRUE(granted == 1 || granted == 0x80) << filter << " -> " << granted;
  }
  // Own retained config again (a re-subscription resends it): it arrives after any retained
  // message of box B would have.
  ASSERT_EQ(box_a_->subscribe(topic("box-a", "config")), 1);
  ASSERT_TRUE(box_a_->wait_for(topic("box-a", "config"), "a's retained config"));
  for (const char* leaf : {"commands", "acks", "config"}) {
    ASSERT_EQ(controller_->publish(topic("box-b", leaf), "for b only"), 0);
  }
  ASSERT_EQ(box_b_->publish(topic("box-b", "events"), "b's event"), 0);
  ASSERT_EQ(controller_->publish(topic("box-a", "commands"), "subscribe marker"), 0);
  ASSERT_TRUE(box_a_->wait_for(topic("box-a", "commands"), "subscribe marker"));
  EXPECT_TRUE(box_b_->wait_for(topic("box-b", "commands"), "for b only"));
  const auto leaked = box_a_->received_under(topic("box-b", ""));
  EXPECT_TRUE(leaked.empty()) << describe(leaked);
  // Clean up the retained messages for the other tests.
  EXPECT_EQ(controller_->publish(topic("box-b", "config"), "", true), 0);
  EXPECT_EQ(controller_->publish(topic("box-a", "config"), "", true), 0);
}

TEST_F(BrokerAclTest, ABoxCannotTakeOverAnotherBoxsSessionByClientId) {
  // Box X says it is "box-b"; use_username_as_clientid makes it "box-x".
  auto impostor = fleet_->connect("box-b", ids_.at("box-x"));
  ASSERT_TRUE(impostor.ok()) << impostor.error().to_string();
  // Box B's connection survived: a QoS 1 round trip works and its event arrives.
  EXPECT_EQ(box_b_->publish(topic("box-b", "events"), "still here"), 0);
  EXPECT_TRUE(controller_->wait_for(topic("box-b", "events"), "still here"));
  EXPECT_FALSE(box_b_->lost());
  EXPECT_GE(fleet_->count_in_log("as box-x ("), 1u);
}

TEST_F(BrokerAclTest, ClientWithoutACertificateIsRefused) {
  const std::size_t refusals = fleet_->count_in_log(kNoCertificate);
  auto anonymous = fleet_->connect("nobody", std::nullopt);
  ASSERT_FALSE(anonymous.ok());
  EXPECT_EQ(anonymous.error().code, ErrorCode::kUnavailable);
  EXPECT_TRUE(fleet_->wait_for_log(kNoCertificate, refusals + 1).ok());
}

TEST_F(BrokerAclTest, ClientWithACertificateFromAnotherCaIsRefused) {
  auto other = CertificateAuthority::create({"Impostor CA", "ReClothes", 30}, system_clock());
  ASSERT_TRUE(other.ok());
  auto forged = fleet_->identity("box-a", &*other);
  ASSERT_TRUE(forged.ok()) << forged.error().to_string();
  const std::size_t failures = fleet_->count_in_log(kVerifyFailed);
  EXPECT_FALSE(fleet_->connect("box-a", *forged).ok());
  EXPECT_TRUE(fleet_->wait_for_log(kVerifyFailed, failures + 1).ok());
  EXPECT_EQ(openssl_verify_as_tls_client(fleet_->ca_file(), forged->cert),
            X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
  EXPECT_FALSE(box_a_->lost());  // and the real box A was not disturbed
}

TEST_F(BrokerAclTest, ServerCertificateIsNotAcceptedAsAClientCertificate) {
  // Signed by the fleet CA but without clientAuth: OpenSSL's TLS-client purpose check refuses it.
  Identity server_as_client{fleet_->path() / "server.crt", fleet_->path() / "server.key"};
  // Every attempt is refused. Under load the client side sometimes ends the handshake before the
  // broker has read its certificate (the broker then logs "unexpected eof while reading"), so the
  // broker's own verdict is looked for over up to three attempts.
  Status logged = make_error(ErrorCode::kInternal, "not tried");
  for (int attempt = 0; attempt < 3 && !logged.ok(); ++attempt) {
    const std::size_t failures = fleet_->count_in_log(kVerifyFailed);
    EXPECT_FALSE(fleet_->connect("localhost", server_as_client).ok());
    logged = fleet_->wait_for_log(kVerifyFailed, failures + 1);
  }
  EXPECT_TRUE(logged.ok()) << logged.error().to_string();
  EXPECT_EQ(fleet_->count_in_log("as localhost ("), 0u) << "the broker accepted the client";
  EXPECT_EQ(openssl_verify_as_tls_client(fleet_->ca_file(), server_as_client.cert),
            X509_V_ERR_INVALID_PURPOSE);
}

TEST_F(BrokerAclTest, ClientsVerifyTheBrokerByItsSubjectAltName) {
  // The broker's certificate names DNS localhost and IP 127.0.0.1; Paho's verify(true) checks
  // the URI's host against them (BrokerServerNameTest shows that it really does).
  auto clients = TestClient::connect_all(
      {fleet_->client_options("box-san", ids_.at("box-san"), MQTTVERSION_3_1_1, "127.0.0.1"),
       fleet_->client_options("box-x", ids_.at("box-x"), MQTTVERSION_3_1_1, "localhost")});
  EXPECT_TRUE(clients[0].ok()) << "127.0.0.1: " << clients[0].error().to_string();
  EXPECT_TRUE(clients[1].ok()) << "localhost: " << clients[1].error().to_string();
}

// A broker whose certificate names only "broker.invalid": a client that checks names must refuse
// it, which is what makes the SAN test above meaningful.
TEST(BrokerServerNameTest, ClientRefusesABrokerWhoseCertificateNamesAnotherHost) {
  Fleet::Settings settings;
  settings.server.common_name = "broker.invalid";
  settings.server.dns_names = {"broker.invalid"};
  settings.server.ip_addresses = {};
  auto fleet = Fleet::create(settings);
  ASSERT_TRUE(fleet.ok()) << fleet.error().to_string();
  Status started = (*fleet)->start_broker();
  ASSERT_TRUE(started.ok()) << started.error().to_string();
  auto id = (*fleet)->identity("box-a");
  ASSERT_TRUE(id.ok());
  auto refused = (*fleet)->connect("box-a", *id);
  EXPECT_FALSE(refused.ok());
  // Control: the same client without the name check (the chain is still checked) gets in, so the
  // name was the reason.
  auto options = (*fleet)->client_options("box-a", *id);
  options.verify_host = false;
  auto unchecked = TestClient::connect(options);
  EXPECT_TRUE(unchecked.ok()) << unchecked.error().to_string();
}

// The optional local listener: loopback, no TLS, password file users with read-only access.
TEST(BrokerLocalListenerTest, LocalToolsNeedAPasswordAndMayOnlyRead) {
  Fleet::Settings settings;
  settings.local_readers = {"monitor.local"};
  auto created = Fleet::create(settings);
  ASSERT_TRUE(created.ok()) << created.error().to_string();
  Fleet& fleet = **created;
  Status user = fleet.add_local_user("monitor.local", "s3cret");
  ASSERT_TRUE(user.ok()) << user.error().to_string();
  Status started = fleet.start_broker();
  ASSERT_TRUE(started.ok()) << started.error().to_string();
  auto box_id = fleet.identity("box-a");
  ASSERT_TRUE(box_id.ok());

  auto local = [&](const std::string& id, const std::string& name, const std::string& password) {
    TestClient::Options o;
    o.uri = "tcp://127.0.0.1:" + std::to_string(fleet.local_port());
    o.client_id = id;
    o.tls = false;
    o.username = name;
    o.password = password;
    return o;
  };
  auto clients = TestClient::connect_all(
      {local("anon", "", ""), local("guess", "monitor.local", "wrong"),
       local("monitor", "monitor.local", "s3cret"), fleet.client_options("box-a", *box_id)});
  EXPECT_FALSE(clients[0].ok()) << "anonymous client got in";
  EXPECT_FALSE(clients[1].ok()) << "wrong password got in";
  ASSERT_TRUE(clients[2].ok()) << clients[2].error().to_string();
  ASSERT_TRUE(clients[3].ok()) << clients[3].error().to_string();
  auto& monitor = *clients[2];
  auto& box = *clients[3];
  ASSERT_EQ(monitor->subscribe(std::string(kRoot) + "#"), 1);
  ASSERT_EQ(box->subscribe(topic("box-a", "commands")), 1);
  // Reads every box's topics ...
  ASSERT_EQ(box->publish(topic("box-a", "state"), "state for the monitor"), 0);
  EXPECT_TRUE(monitor->wait_for(topic("box-a", "state"), "state for the monitor"));
  // ... and cannot write any.
  EXPECT_EQ(monitor->publish(topic("box-a", "commands"), "forged by a tool"), 0);
  EXPECT_TRUE(fleet.wait_for_log("Denied PUBLISH from monitor").ok());
  EXPECT_TRUE(box->received_under(topic("box-a", "commands")).empty());
}

// Decommissioning, with a broker per test because it changes the CRL and the ACL.
class DecommissionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto fleet = Fleet::create({});
    ASSERT_TRUE(fleet.ok()) << fleet.error().to_string();
    fleet_ = std::move(fleet).value();
    Status started = fleet_->start_broker();
    ASSERT_TRUE(started.ok()) << started.error().to_string();
    for (const char* name : {"box-a", "box-c", "controller.eu-1"}) {
      auto id = fleet_->identity(name);
      ASSERT_TRUE(id.ok()) << id.error().to_string();
      ids_.emplace(name, *id);
    }
  }

  std::vector<std::unique_ptr<TestClient>> connect_all(const std::vector<std::string>& names) {
    std::vector<TestClient::Options> options;
    for (const auto& name : names) options.push_back(fleet_->client_options(name, ids_.at(name)));
    std::vector<std::unique_ptr<TestClient>> out;
    for (auto& c : TestClient::connect_all(options)) {
      EXPECT_TRUE(c.ok()) << c.error().to_string();
      out.push_back(c.ok() ? std::move(c).value() : nullptr);
    }
    return out;
  }

  std::unique_ptr<Fleet> fleet_;
  std::map<std::string, Identity> ids_;
};

TEST_F(DecommissionTest, DecommissionedBoxCannotConnectWhileOthersCan) {
  auto clients = connect_all({"controller.eu-1", "box-a", "box-c"});
  auto& controller = clients[0];
  auto& box_a = clients[1];
  auto& box_c = clients[2];
  ASSERT_TRUE(controller && box_a && box_c);
  ASSERT_EQ(controller->subscribe(shared("events")), 1);
  ASSERT_EQ(box_a->subscribe(topic("box-a", "commands")), 1);
  ASSERT_EQ(box_c->subscribe(topic("box-c", "commands")), 1);

  Status revoked = fleet_->revoke(ids_.at("box-a"), RevocationReason::kCessationOfOperation);
  ASSERT_TRUE(revoked.ok()) << revoked.error().to_string();

  // New connections: box A is refused by the CRL, box C is not (its new connection takes its
  // session over; same username).
  auto attempts = TestClient::connect_all({fleet_->client_options("box-a", ids_.at("box-a")),
                                           fleet_->client_options("box-c", ids_.at("box-c"))});
  EXPECT_FALSE(attempts[0].ok());
  EXPECT_TRUE(fleet_->wait_for_log(kVerifyFailed).ok());
  EXPECT_EQ(
      openssl_verify_as_tls_client(fleet_->ca_file(), ids_.at("box-a").cert, fleet_->crl_file()),
      X509_V_ERR_CERT_REVOKED);
  EXPECT_EQ(
      openssl_verify_as_tls_client(fleet_->ca_file(), ids_.at("box-c").cert, fleet_->crl_file()),
      X509_V_OK);
  ASSERT_TRUE(attempts[1].ok()) << attempts[1].error().to_string();
  box_c = std::move(attempts[1]).value();
  ASSERT_EQ(box_c->subscribe(topic("box-c", "commands")), 1);

  // Box A's connection from before the reload is still open (mosquitto does not re-check
  // certificates on SIGHUP), but the ACL now denies it everything.
  ASSERT_FALSE(box_a->lost());
  EXPECT_EQ(box_a->publish(topic("box-a", "events"), "from a retired box"), 0);
  EXPECT_EQ(box_c->publish(topic("box-c", "events"), "marker"), 0);
  ASSERT_TRUE(controller->wait_for(topic("box-c", "events"), "marker"));
  EXPECT_TRUE(controller->received_under(topic("box-a", "")).empty());
  EXPECT_TRUE(fleet_->wait_for_log("Denied PUBLISH from box-a").ok());

  ASSERT_EQ(controller->publish(topic("box-a", "commands"), "open 1"), 0);
  ASSERT_EQ(controller->publish(topic("box-c", "commands"), "marker"), 0);
  ASSERT_TRUE(box_c->wait_for(topic("box-c", "commands"), "marker"));
  // The broker logs every message it sends; box C's marker was sent after anything for box A.
  ASSERT_TRUE(fleet_->wait_for_log("Sending PUBLISH to box-c (").ok());
  EXPECT_EQ(fleet_->count_in_log("Sending PUBLISH to box-a ("), 0u);
  EXPECT_TRUE(box_a->received_under(topic("box-a", "commands")).empty());

  // A restart closes the old connection too; box A stays out, box C comes back.
  ASSERT_TRUE(fleet_->server().stop().ok());
  ASSERT_TRUE(fleet_->server().restart().ok());
  EXPECT_TRUE(box_a->wait_lost(kWait));
  auto after = TestClient::connect_all({fleet_->client_options("box-a", ids_.at("box-a")),
                                        fleet_->client_options("box-c", ids_.at("box-c"))});
  EXPECT_FALSE(after[0].ok());
  EXPECT_TRUE(after[1].ok()) << after[1].error().to_string();
}

TEST_F(DecommissionTest, ReprovisionedBoxKeepsItsIdWithANewCertificate) {
  // Superseded, not decommissioned: the old certificate is refused, the id is not retired.
  auto fresh = fleet_->identity("box-c");
  ASSERT_TRUE(fresh.ok());
  ASSERT_TRUE(fleet_->revoke(ids_.at("box-c"), RevocationReason::kSuperseded).ok());
  auto clients = TestClient::connect_all(
      {fleet_->client_options("box-c", ids_.at("box-c")),
       fleet_->client_options("controller.eu-1", ids_.at("controller.eu-1")),
       fleet_->client_options("box-c", *fresh)});
  EXPECT_FALSE(clients[0].ok());
  ASSERT_TRUE(clients[1].ok()) << clients[1].error().to_string();
  ASSERT_TRUE(clients[2].ok()) << clients[2].error().to_string();
  auto& controller = *clients[1];
  auto& box_c = *clients[2];
  ASSERT_EQ(controller->subscribe(shared("events")), 1);
  EXPECT_EQ(box_c->publish(topic("box-c", "events"), "back"), 0);
  EXPECT_TRUE(controller->wait_for(topic("box-c", "events"), "back"));
}

}  // namespace
}  // namespace reclothes::provisioning
