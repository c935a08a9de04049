#include "fixture.h"

#include <fstream>
#include <iostream>

namespace reclothes::controller::testing {

std::unique_ptr<testsupport::PostgresServer> ControllerTest::pg_;
std::unique_ptr<testsupport::MosquittoServer> ControllerTest::broker_;
std::string ControllerTest::template_db_;

namespace {
std::atomic<int> g_db_counter{0};
}

void ControllerTest::SetUpTestSuite() {
  auto pg = testsupport::PostgresServer::start();
  ASSERT_TRUE(pg.ok()) << pg.error().to_string();
  pg_ = std::move(pg).value();
  testsupport::MosquittoServer::Options broker_options;
  if (std::getenv("RECLOTHES_TEST_BROKER_LOG")) broker_options.extra_config = "log_type all\n";
  auto broker = testsupport::MosquittoServer::start(broker_options);
  ASSERT_TRUE(broker.ok()) << broker.error().to_string();
  broker_ = std::move(broker).value();
  // Migrate once into a template; each test clones it.
  template_db_ = "ctl_template";
  auto conninfo = pg_->create_database(template_db_);
  ASSERT_TRUE(conninfo.ok()) << conninfo.error().to_string();
  auto db = Database::open({*conninfo, 1, std::chrono::seconds(5)});
  ASSERT_TRUE(db.ok()) << db.error().to_string();
  auto report = migrate(**db);
  ASSERT_TRUE(report.ok()) << report.error().to_string();
}

void ControllerTest::TearDownTestSuite() {
  // RECLOTHES_TEST_BROKER_LOG=1 prints the broker's log (debugging MQTT timing).
  if (broker_ && std::getenv("RECLOTHES_TEST_BROKER_LOG")) {
    std::ifstream in(broker_->log_path());
    std::cerr << in.rdbuf();
  }
  broker_.reset();
  pg_.reset();
}

void ControllerTest::SetUp() {
  ASSERT_TRUE(pg_ && broker_) << "suite set-up failed";
  db_name_ = "t" + std::to_string(::getpid()) + "_" + std::to_string(g_db_counter++);
  {
    pqxx::connection admin(pg_->connection_string());
    pqxx::nontransaction tx(admin);
    tx.exec("CREATE DATABASE " + db_name_ + " TEMPLATE " + template_db_);
  }
  conninfo_ = pg_->connection_string(db_name_);
  auto dir = testsupport::TempDir::create("reclothes-ctl-keys-");
  ASSERT_TRUE(dir.ok());
  key_dir_ = std::make_unique<testsupport::TempDir>(std::move(dir).value());
  config_ = base_config();
}

void ControllerTest::TearDown() { controller_.reset(); }

ControllerConfig ControllerTest::base_config() const {
  ControllerConfig c;
  c.database.conninfo = conninfo_;
  c.database.pool_size = 4;
  c.public_listener = {"127.0.0.1", 0, 4};
  c.internal_listener = {"127.0.0.1", 0, 4};
  c.internal_allow = {"127.0.0.0/8", "::1/128"};
  c.http.body_limit_bytes = 4096;
  // The cheapest Argon2id libsodium allows: these tests are about behaviour, not hash cost.
  c.passwords.opslimit = 1;
  c.passwords.memlimit = 8192;
  c.mqtt.uri = broker_->uri();
  c.mqtt.client_id = "ctl-" + db_name_;
  c.mqtt.share_group = "g" + db_name_;
  c.mqtt.keepalive = std::chrono::seconds(5);
  c.tokens.key_dir = key_dir_->path();
  c.log.level = "off";
  return c;
}

void ControllerTest::start_controller(const ControllerConfig& config) {
  controller_.reset();
  // RECLOTHES_TEST_LOG=debug (or info, ...) shows the controller's log while debugging a test.
  const char* level = std::getenv("RECLOTHES_TEST_LOG");
  auto c = make_controller(config, clock_,
                           level ? Log::to_stderr({level, LogFormat::kText}) : Log::null());
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  controller_ = std::move(c).value();
  auto s = controller_->start();
  ASSERT_TRUE(s.ok()) << s.error().to_string();
}

Reply ControllerTest::call(Listener listener, const std::string& method, const std::string& path,
                           const std::optional<nlohmann::json>& body, const std::string& token,
                           const httplib::Headers& extra,
                           const std::optional<std::string>& raw_body) {
  const int port =
      listener == Listener::kPublic ? controller_->public_port() : controller_->internal_port();
  httplib::Client cli("127.0.0.1", port);
  cli.set_read_timeout(std::chrono::seconds(10));
  httplib::Headers headers = extra;
  if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
  std::string payload = raw_body ? *raw_body : (body ? body->dump() : "");
  httplib::Result res{nullptr, httplib::Error::Unknown};
  const std::string type = "application/json";
  if (method == "GET") {
    res = cli.Get(path.c_str(), headers);
  } else if (method == "POST") {
    res = cli.Post(path.c_str(), headers, payload, type.c_str());
  } else if (method == "PUT") {
    res = cli.Put(path.c_str(), headers, payload, type.c_str());
  } else if (method == "PATCH") {
    res = cli.Patch(path.c_str(), headers, payload, type.c_str());
  } else if (method == "DELETE") {
    res = cli.Delete(path.c_str(), headers, payload, type.c_str());
  }
  Reply r;
  if (!res) {
    ADD_FAILURE() << method << " " << path << ": HTTP error " << httplib::to_string(res.error());
    return r;
  }
  r.status = res->status;
  r.raw = res->body;
  r.headers = res->headers;
  r.body = nlohmann::json::parse(res->body, nullptr, false);
  return r;
}

std::int64_t ControllerTest::count(const std::string& sql) {
  pqxx::connection conn(conninfo_);
  pqxx::work tx(conn);
  return tx.exec1(sql)[0].as<std::int64_t>();
}

pqxx::result ControllerTest::query(const std::string& sql) {
  pqxx::connection conn(conninfo_);
  pqxx::work tx(conn);
  auto r = tx.exec(sql);
  tx.commit();
  return r;
}

void ControllerTest::exec(const std::string& sql) {
  pqxx::connection conn(conninfo_);
  pqxx::work tx(conn);
  tx.exec(sql);
  tx.commit();
}

std::int64_t ControllerTest::add_staff(const std::string& email, const std::vector<Role>& roles,
                                       const std::string& password) {
  auto hasher = PasswordHasher::create(config_.passwords);
  EXPECT_TRUE(hasher.ok());
  pqxx::connection conn(conninfo_);
  pqxx::work tx(conn);
  auto s = create_staff(tx, *hasher, clock_, email, password, "Test", roles);
  EXPECT_TRUE(s.ok()) << s.error().to_string();
  tx.commit();
  return s.ok() ? s->id : 0;
}

std::string ControllerTest::staff_login(const std::string& email, const std::string& password) {
  auto r = internal("POST", "/internal/v1/sessions",
                    nlohmann::json{{"email", email}, {"password", password}});
  EXPECT_EQ(r.status, 201) << describe(r);
  return r.status == 201 ? r.body["token"].get<std::string>() : "";
}

std::string ControllerTest::staff_token(const std::vector<Role>& roles, std::int64_t* id) {
  const auto email = "staff" + std::to_string(++staff_counter_) + "@example.org";
  const auto staff_id = add_staff(email, roles);
  if (id) *id = staff_id;
  return staff_login(email);
}

std::int64_t ControllerTest::register_customer(const std::string& email,
                                               const std::string& password) {
  auto r = pub("POST", "/v1/customers", nlohmann::json{{"email", email}, {"password", password}});
  EXPECT_EQ(r.status, 201) << describe(r);
  return r.status == 201 ? r.body["id"].get<std::int64_t>() : 0;
}

std::string ControllerTest::customer_login(const std::string& email, const std::string& password) {
  auto r = pub("POST", "/v1/sessions", nlohmann::json{{"email", email}, {"password", password}});
  EXPECT_EQ(r.status, 201) << describe(r);
  return r.status == 201 ? r.body["token"].get<std::string>() : "";
}

}  // namespace reclothes::controller::testing
