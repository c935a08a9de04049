// The shipped TLS front (controller/deploy/nginx/) in front of a real controller, PostgreSQL and
// Mosquitto: nginx runs unprivileged from a temporary prefix on free ports with the site file and
// snippets as shipped (only the ports, the upstream addresses and the certificate paths are
// replaced, each of which must be found). Clients connect from 127.0.0.2 and 127.0.0.3 while nginx
// reaches the controller from 127.0.0.1, the only trusted proxy, so the address the controller
// sees tells whether X-Forwarded-For was set and believed.
//
// nginx: /usr/sbin/nginx (RECLOTHES_NGINX overrides; scripts/install-deps installs it);
// certificates are made with the openssl command. A missing program fails the suite, naming it.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "fixture.h"
#include "reclothes/testsupport/files.h"

namespace reclothes::controller::testing {
namespace {

namespace fs = std::filesystem;

using testsupport::read_file;

const fs::path kDeployDir = RECLOTHES_NGINX_DEPLOY_DIR;

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

// Replaces every `from` in `text`; the shipped file must contain it (else its shape changed and
// this test no longer says what it claims).
void replace_all(std::string& text, const std::string& from, const std::string& to) {
  ASSERT_NE(text.find(from), std::string::npos) << "the shipped site file has no '" << from << "'";
  for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
}

// A string at a JSON pointer of the reply's body, "" when there is none.
std::string field(const Reply& r, const std::string& pointer) {
  const nlohmann::json::json_pointer p(pointer);
  if (!r.body.is_object() || !r.body.contains(p) || !r.body.at(p).is_string()) return "";
  return r.body.at(p).get<std::string>();
}

// Runs a program to its end; its output goes to `log`.
void run(const std::vector<std::string>& argv, const fs::path& log) {
  testsupport::SpawnOptions options;
  options.log_path = log;
  auto p = testsupport::Process::spawn(argv, options);
  ASSERT_TRUE(p.ok()) << argv[0] << ": " << p.error().to_string()
                      << " (scripts/install-deps installs it)";
  auto status = (*p)->wait(std::chrono::seconds(30));
  ASSERT_TRUE(status.ok()) << argv[0] << ": " << status.error().to_string();
  ASSERT_EQ(*status, 0) << argv[0] << " failed: " << read_file(log);
}

class NginxTest : public ControllerTest {
 protected:
  void SetUp() override {
    ControllerTest::SetUp();
    if (HasFatalFailure()) return;
    auto dir = testsupport::TempDir::create("reclothes-nginx-");
    ASSERT_TRUE(dir.ok()) << dir.error().to_string();
    dir_ = std::make_unique<testsupport::TempDir>(std::move(dir).value());
    // As root, nginx runs as nobody (it is started as that user, so it never needs root); its
    // prefix must be theirs.
    if (::geteuid() == 0) run_as_ = "nobody";

    config_.trusted_proxies = {"127.0.0.1/32"};
    config_.internal_allow = {"127.0.0.2/32"};  // not nginx's own 127.0.0.1
    config_.throttle.max_failures_per_account = 1000;
    config_.throttle.max_failures_per_address = 1000;
    start_controller();

    ASSERT_NO_FATAL_FAILURE(make_certificates());
    ASSERT_NO_FATAL_FAILURE(start_nginx());
  }

  void TearDown() override {
    nginx_.reset();
    ControllerTest::TearDown();
  }

  fs::path path(const std::string& name) const { return dir_->path() / name; }

  void own(const fs::path& p) {
    if (run_as_) {
      ASSERT_TRUE(testsupport::chown_to_user(p, *run_as_).ok()) << p;
    }
  }

  // A CA and a certificate for 127.0.0.1 / localhost signed by it (the demo does the same).
  void make_certificates() {
    const auto log = path("openssl.log");
    ASSERT_NO_FATAL_FAILURE(
        run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-days", "1", "-subj", "/CN=nginx test CA", "-keyout", path("ca.key"),
             "-out", path("ca.crt")},
            log));
    ASSERT_NO_FATAL_FAILURE(run({"openssl",
                                 "req",
                                 "-x509",
                                 "-newkey",
                                 "ec",
                                 "-pkeyopt",
                                 "ec_paramgen_curve:P-256",
                                 "-nodes",
                                 "-days",
                                 "1",
                                 "-subj",
                                 "/CN=localhost",
                                 "-addext",
                                 "subjectAltName=IP:127.0.0.1,DNS:localhost",
                                 "-CA",
                                 path("ca.crt"),
                                 "-CAkey",
                                 path("ca.key"),
                                 "-keyout",
                                 path("front.key"),
                                 "-out",
                                 path("front.crt")},
                                log));
  }

  void start_nginx() {
    const char* bin = std::getenv("RECLOTHES_NGINX");
    const std::string nginx = bin ? bin : "/usr/sbin/nginx";
    ASSERT_TRUE(fs::exists(nginx)) << nginx << " not found: install nginx (scripts/install-deps)";

    auto pub = testsupport::free_tcp_port();
    auto internal = testsupport::free_tcp_port();
    ASSERT_TRUE(pub.ok() && internal.ok());
    front_public_ = *pub;
    front_internal_ = *internal;

    std::string site = read_file(kDeployDir / "reclothes.conf");
    replace_all(site, "127.0.0.1:8080", "127.0.0.1:" + std::to_string(controller_->public_port()));
    replace_all(site, "127.0.0.1:8081",
                "127.0.0.1:" + std::to_string(controller_->internal_port()));
    replace_all(site, "listen 443 ssl http2;",
                "listen 127.0.0.1:" + std::to_string(front_public_) + " ssl http2;");
    replace_all(site, "listen 8443 ssl http2;",
                "listen 127.0.0.1:" + std::to_string(front_internal_) + " ssl http2;");
    replace_all(site, "listen [::]:443 ssl http2;", "");
    replace_all(site, "listen [::]:8443 ssl http2;", "");
    replace_all(site, "/etc/reclothes/tls/", dir_->path().string() + "/");
    if (HasFatalFailure()) return;
    fs::create_directories(path("snippets"));
    for (const char* s : {"reclothes-server.conf", "reclothes-proxy.conf"}) {
      fs::copy_file(kDeployDir / "snippets" / s, path("snippets") / s);
    }
    write_file(path("reclothes.conf"), site);
    // The rest of an nginx.conf, as Debian's would hold it, with everything in the prefix.
    write_file(path("nginx.conf"),
               "daemon off;\n"
               "worker_processes 1;\n"
               "pid " +
                   path("nginx.pid").string() +
                   ";\n"
                   "error_log " +
                   path("error.log").string() +
                   " info;\n"
                   "events { worker_connections 64; }\n"
                   "http {\n"
                   "  access_log " +
                   path("access.log").string() +
                   ";\n"
                   "  client_body_temp_path " +
                   path("body").string() +
                   ";\n"
                   "  proxy_temp_path " +
                   path("proxy").string() +
                   ";\n"
                   "  fastcgi_temp_path " +
                   path("fastcgi").string() +
                   ";\n"
                   "  uwsgi_temp_path " +
                   path("uwsgi").string() +
                   ";\n"
                   "  scgi_temp_path " +
                   path("scgi").string() +
                   ";\n"
                   "  include reclothes.conf;\n"
                   "}\n");
    own(dir_->path());
    for (const auto& entry : fs::recursive_directory_iterator(dir_->path())) own(entry.path());

    testsupport::SpawnOptions options;
    options.log_path = path("nginx.out");
    options.run_as_user = run_as_;
    auto p =
        testsupport::Process::spawn({nginx, "-p", dir_->path().string(), "-c",
                                     path("nginx.conf").string(), "-e", path("error.log").string()},
                                    options);
    ASSERT_TRUE(p.ok()) << p.error().to_string();
    nginx_ = std::move(p).value();
    for (int port : {front_public_, front_internal_}) {
      auto s = testsupport::wait_until_listening(*nginx_, port, std::chrono::seconds(10));
      ASSERT_TRUE(s.ok()) << s.error().to_string() << "\n"
                          << read_file(path("nginx.out")) << read_file(path("error.log"));
    }
  }

  // One HTTPS request through the front, from `source` (a loopback address), the CA checked.
  Reply https(int port, const std::string& source, const std::string& method,
              const std::string& path_and_query, const std::optional<nlohmann::json>& body = {},
              const httplib::Headers& headers = {}) {
    httplib::SSLClient cli("127.0.0.1", port);
    cli.set_ca_cert_path(path("ca.crt").c_str());
    cli.enable_server_certificate_verification(true);
    cli.set_interface(source);
    cli.set_read_timeout(std::chrono::seconds(10));
    httplib::Result res{nullptr, httplib::Error::Unknown};
    if (method == "GET") {
      res = cli.Get(path_and_query.c_str(), headers);
    } else {
      res = cli.Post(path_and_query.c_str(), headers, body ? body->dump() : "", "application/json");
    }
    Reply r;
    if (!res) {
      ADD_FAILURE() << method << " https://127.0.0.1:" << port << path_and_query << " from "
                    << source << ": " << httplib::to_string(res.error());
      return r;
    }
    r.status = res->status;
    r.raw = res->body;
    r.headers = res->headers;
    r.body = nlohmann::json::parse(res->body, nullptr, false);
    return r;
  }

  Reply sign_in(const std::string& source, const std::string& email) {
    return https(front_public_, source, "POST", "/v1/sessions",
                 nlohmann::json{{"email", email}, {"password", "wrong password here"}});
  }

  std::unique_ptr<testsupport::TempDir> dir_;
  std::optional<std::string> run_as_;
  std::unique_ptr<testsupport::Process> nginx_;
  int front_public_ = 0;
  int front_internal_ = 0;
};

TEST_F(NginxTest, HttpsReachesTheControllerWithTheClientAddressAndLimitsSignIn) {
  // HTTPS works, with the certificate checked against the site's CA, and HSTS is sent.
  const auto health = https(front_public_, "127.0.0.2", "GET", "/healthz");
  EXPECT_EQ(health.status, 200) << describe(health);
  EXPECT_EQ(health.header("Strict-Transport-Security"), "max-age=63072000");

  // The internal allowlist sees the client, not nginx: 127.0.0.2 is let in (401: no session) ...
  const auto allowed = https(front_internal_, "127.0.0.2", "GET", "/internal/v1/staff/me");
  EXPECT_EQ(allowed.status, 401) << describe(allowed);
  // ... 127.0.0.3 is refused with its own address, and a forged X-Forwarded-For naming the
  // allowed address does not help: nginx replaces the header.
  const auto refused = https(front_internal_, "127.0.0.3", "GET", "/internal/v1/staff/me");
  EXPECT_EQ(refused.status, 403) << describe(refused);
  EXPECT_EQ(refused.code(), "network_not_allowed") << describe(refused);
  EXPECT_EQ(field(refused, "/error/details/address"), "127.0.0.3") << describe(refused);
  const auto forged = https(front_internal_, "127.0.0.3", "GET", "/internal/v1/staff/me", {},
                            {{"X-Forwarded-For", "127.0.0.2"}});
  EXPECT_EQ(forged.status, 403) << describe(forged);
  EXPECT_EQ(field(forged, "/error/details/address"), "127.0.0.3") << describe(forged);
  // The request id nginx passed on is the one the controller answered and audited with.
  const auto request_id = forged.header("X-Request-Id");
  EXPECT_FALSE(request_id.empty());
  EXPECT_EQ(count("SELECT count(*) FROM audit_log WHERE reason = 'network_not_allowed' AND "
                  "address = '127.0.0.3' AND request_id = '" +
                  request_id + "'"),
            1);

  // The login throttle records failed sign-ins under the client's address, a forged header
  // included.
  const auto failed = https(front_public_, "127.0.0.3", "POST", "/v1/sessions",
                            nlohmann::json{{"email", "x@example.org"}, {"password", "wrong one"}},
                            {{"X-Forwarded-For", "198.51.100.7"}});
  EXPECT_EQ(failed.status, 401) << describe(failed);
  EXPECT_EQ(count("SELECT count(*) FROM login_failures WHERE address = '127.0.0.3'"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM login_failures WHERE address <> '127.0.0.3'"), 0);

  // Sign-in is rate-limited by nginx per client address: a burst of 10 beyond the first attempt
  // passes (each a 401 from the controller), then nginx answers 429 in the API's error format,
  // and those attempts never reach the controller (no login_failures row).
  int passed = 0;
  int limited = 0;
  for (int i = 0; i < 25 && limited < 3; ++i) {
    const auto r = sign_in("127.0.0.2", "spray" + std::to_string(i) + "@example.org");
    if (r.status == 401) {
      ++passed;
      EXPECT_EQ(limited, 0) << "a sign-in passed after nginx had refused one: " << describe(r);
    } else {
      ASSERT_EQ(r.status, 429) << describe(r);
      EXPECT_EQ(r.code(), "rate_limited") << describe(r);
      EXPECT_EQ(field(r, "/error/details/scope"), "proxy") << describe(r);
      EXPECT_EQ(r.header("Retry-After"), "10");
      EXPECT_EQ(field(r, "/request_id"), r.header("X-Request-Id")) << describe(r);
      ++limited;
    }
  }
  EXPECT_GE(passed, 11);  // burst=10 nodelay: the first 11 attempts always pass
  EXPECT_EQ(limited, 3) << passed << " attempts passed and none was refused";
  EXPECT_EQ(count("SELECT count(*) FROM login_failures WHERE address = '127.0.0.2'"), passed);
  // The limit is per address: another client still gets through (another 401 recorded).
  const auto other = sign_in("127.0.0.4", "other@example.org");
  EXPECT_EQ(other.status, 401) << describe(other);
  EXPECT_EQ(count("SELECT count(*) FROM login_failures WHERE address = '127.0.0.4'"), 1);
  // Other routes are not limited by it.
  const auto products = https(front_public_, "127.0.0.2", "GET", "/v1/products");
  EXPECT_EQ(products.status, 200) << describe(products);
}

TEST_F(NginxTest, AControllerThatIsDownIsAJson503) {
  stop_controller();
  const auto r = https(front_public_, "127.0.0.2", "GET", "/healthz");
  EXPECT_EQ(r.status, 503) << describe(r);
  EXPECT_EQ(r.code(), "unavailable") << describe(r);
  EXPECT_FALSE(r.header("X-Request-Id").empty());
}

}  // namespace
}  // namespace reclothes::controller::testing
