// The HTTP pipeline: bad input gets a clear 4xx in the one error format and writes nothing;
// request ids; operations endpoints; the OpenAPI document matches the registered routes.
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "fixture.h"
#include "reclothes/common/token.h"
#include "reclothes/controller/embedded.h"

namespace reclothes::controller::testing {
namespace {

class HttpTest : public ControllerTest {
 protected:
  void SetUp() override {
    ControllerTest::SetUp();
    start_controller();
    admin_ = staff_token({Role::kSuperAdmin});
    ASSERT_EQ(internal("POST", "/internal/v1/boxes",
                       nlohmann::json{{"box_id", "box-1"},
                                      {"compartments", {{{"number", 1}, {"size", "M"}}}}},
                       admin_)
                  .status,
              201);
  }

  // Row counts of every table a request could write to.
  std::map<std::string, std::int64_t> snapshot() {
    std::map<std::string, std::int64_t> out;
    for (const char* t :
         {"customers", "staff", "staff_roles", "sessions", "locations", "boxes", "compartments",
          "box_commands", "signing_keys", "issued_tokens", "audit_log", "login_failures"}) {
      out[t] = count(std::string("SELECT count(*) FROM ") + t);
    }
    out["maintenance"] = count("SELECT count(*) FROM boxes WHERE maintenance");
    return out;
  }

  static void expect_error_format(const Reply& r, int status, const std::string& code) {
    EXPECT_EQ(r.status, status) << describe(r);
    ASSERT_TRUE(r.body.is_object()) << r.raw;
    EXPECT_EQ(r.code(), code) << describe(r);
    EXPECT_TRUE(r.body["error"]["message"].is_string());
    EXPECT_FALSE(r.body["error"]["message"].get<std::string>().empty());
    EXPECT_TRUE(r.body["error"]["details"].is_object());
    EXPECT_EQ(r.body["request_id"], r.header("X-Request-Id"));
    EXPECT_EQ(r.header("Content-Type"), "application/json");
  }

  std::string admin_;
};

TEST_F(HttpTest, BadInputGetsClear4xxAndWritesNothing) {
  const auto before = snapshot();
  struct Case {
    std::string name;
    Listener listener;
    std::string method, path;
    std::string raw_body;
    int status;
    std::string code;
  };
  const std::string big(8000, 'x');
  const std::vector<Case> cases = {
      {"malformed json", Listener::kPublic, "POST", "/v1/customers", "{\"email\": ", 400,
       "malformed_json"},
      {"not an object", Listener::kPublic, "POST", "/v1/customers", "[1,2]", 400, "malformed_json"},
      {"empty body", Listener::kPublic, "POST", "/v1/customers", "", 400, "malformed_json"},
      {"wrong type", Listener::kPublic, "POST", "/v1/customers",
       R"({"email": 42, "password": "long enough pw"})", 400, "invalid_field"},
      {"unknown field", Listener::kPublic, "POST", "/v1/customers",
       R"({"email": "a@b.org", "password": "long enough pw", "admin": true})", 400,
       "unknown_field"},
      {"oversize", Listener::kPublic, "POST", "/v1/customers",
       R"({"email": "a@b.org", "password": ")" + big + "\"}", 413, "payload_too_large"},
      {"oversize internal", Listener::kInternal, "POST", "/internal/v1/locations",
       R"({"name": ")" + big + "\"}", 413, "payload_too_large"},
      {"wrong type internal", Listener::kInternal, "POST", "/internal/v1/boxes/box-1/maintenance",
       R"({"on": "yes"})", 400, "invalid_field"},
      {"bad size class", Listener::kInternal, "POST", "/internal/v1/boxes",
       R"({"box_id": "b2", "compartments": [{"number": 1, "size": "XXL"}]})", 400, "invalid_field"},
      {"bad nested type", Listener::kInternal, "POST", "/internal/v1/boxes",
       R"({"box_id": "b2", "compartments": [{"number": "1", "size": "M"}]})", 400, "invalid_field"},
      {"unknown box", Listener::kInternal, "POST", "/internal/v1/boxes/nope/maintenance",
       R"({"on": true})", 404, "not_found"},
      {"unknown compartment", Listener::kInternal, "POST",
       "/internal/v1/boxes/box-1/compartments/9/open", "", 404, "not_found"},
      {"unknown staff", Listener::kInternal, "POST", "/internal/v1/staff/424242/deactivate", "",
       404, "not_found"},
      {"unknown location in box", Listener::kInternal, "POST", "/internal/v1/boxes",
       R"({"box_id": "b3", "location_id": 999, "compartments": [{"number": 1, "size": "M"}]})", 404,
       "not_found"},
      {"unknown key", Listener::kInternal, "POST", "/internal/v1/keys/77/retire", "", 404,
       "not_found"},
      {"unknown route", Listener::kPublic, "GET", "/v1/nothing", "", 404, "not_found"},
      {"bad id syntax", Listener::kInternal, "GET", "/internal/v1/boxes/bad%20id", "", 404,
       "not_found"},
      {"wrong method", Listener::kPublic, "PUT", "/v1/customers", "{}", 405, "method_not_allowed"},
      {"courier for unknown box", Listener::kInternal, "POST", "/internal/v1/tokens/courier",
       R"({"box_id": "nope", "compartments": [1], "action": "courier_load"})", 404, "not_found"},
      {"courier bad action", Listener::kInternal, "POST", "/internal/v1/tokens/courier",
       R"({"box_id": "box-1", "compartments": [1], "action": "deposit"})", 400, "invalid_field"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto r = call(c.listener, c.method, c.path, std::nullopt,
                  c.listener == Listener::kInternal ? admin_ : "", {}, c.raw_body);
    expect_error_format(r, c.status, c.code);
  }
  EXPECT_EQ(snapshot(), before);
}

TEST_F(HttpTest, FieldErrorsNameTheField) {
  auto r = internal(
      "POST", "/internal/v1/boxes",
      nlohmann::json{
          {"box_id", "b2"},
          {"compartments", {{{"number", 1}, {"size", "M"}}, {{"number", 300}, {"size", "M"}}}}},
      admin_);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body["error"]["details"]["field"], "/compartments/1/number");
}

TEST_F(HttpTest, RequestIdIsEchoedOrCreated) {
  auto given =
      call(Listener::kPublic, "GET", "/healthz", std::nullopt, "", {{"X-Request-Id", "abc-123"}});
  EXPECT_EQ(given.header("X-Request-Id"), "abc-123");
  auto made = call(Listener::kPublic, "GET", "/healthz", std::nullopt, "",
                   {{"X-Request-Id", "bad id with spaces"}});
  EXPECT_EQ(made.header("X-Request-Id").size(), 32u);
  auto error = pub("GET", "/nowhere");
  EXPECT_EQ(error.body["request_id"], error.header("X-Request-Id"));
}

TEST_F(HttpTest, HealthReadyAndMetrics) {
  EXPECT_EQ(pub("GET", "/healthz").body["status"], "ok");
  ASSERT_TRUE(controller_->bridge().wait_connected(std::chrono::seconds(10)));
  auto ready = internal("GET", "/readyz");
  EXPECT_EQ(ready.status, 200) << describe(ready);
  EXPECT_EQ(ready.body["checks"]["database"], "ok");
  EXPECT_EQ(ready.body["checks"]["broker"], "ok");
  // Metrics only on the internal listener.
  EXPECT_EQ(pub("GET", "/metrics").status, 404);
  auto m = call(Listener::kInternal, "GET", "/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_NE(m.header("Content-Type").find("text/plain"), std::string::npos);
  EXPECT_NE(m.raw.find("reclothes_http_requests_total{"), std::string::npos);
  EXPECT_NE(m.raw.find("route=\"/healthz\""), std::string::npos);
  EXPECT_NE(m.raw.find("reclothes_http_request_duration_seconds_bucket"), std::string::npos);
  EXPECT_NE(m.raw.find("reclothes_box_events_applied_total"), std::string::npos);
  EXPECT_NE(m.raw.find("reclothes_boxes_online 0"), std::string::npos);
  EXPECT_NE(m.raw.find("reclothes_mqtt_connected 1"), std::string::npos);
}

TEST_F(HttpTest, ReadyzReportsTheBrokerDown) {
  config_.mqtt.uri = "tcp://127.0.0.1:1";  // nothing listens there
  start_controller();
  auto r = pub("GET", "/readyz");
  EXPECT_EQ(r.status, 503) << describe(r);
  EXPECT_EQ(r.code(), "not_ready");
  EXPECT_EQ(r.body["error"]["details"]["broker"], "down");
  EXPECT_EQ(r.body["error"]["details"]["database"], "ok");
  EXPECT_EQ(pub("GET", "/healthz").status, 200);
}

// Keys the operator put into tokens.key_dir (a Kubernetes Secret, docs/deploy.md) are adopted
// when their id comes up, never replaced; a file that is not a P-256 key refuses the rotation.
TEST_F(HttpTest, RotationAdoptsASigningKeyFileAlreadyInTheKeyDirectory) {
  auto provided = TokenSigner::generate(2);
  ASSERT_TRUE(provided.ok());
  const std::string pem = *provided->private_pem();
  const auto file2 = key_dir_->path() / "signing-key-2.pem";
  std::ofstream(file2) << pem;

  auto rotated = internal("POST", "/internal/v1/keys/rotate", std::nullopt, admin_);
  ASSERT_EQ(rotated.status, 201) << describe(rotated);
  EXPECT_EQ(rotated.body["key_id"], 2);
  auto keys = internal("GET", "/internal/v1/keys", std::nullopt, admin_);
  ASSERT_EQ(keys.status, 200) << describe(keys);
  ASSERT_EQ(keys.body["items"].size(), 2u);
  EXPECT_EQ(keys.body["items"][1]["status"], "active");
  EXPECT_EQ(keys.body["items"][1]["public_pem"], *provided->public_pem()) << "the file's key";
  std::ifstream in(file2);
  std::stringstream now;
  now << in.rdbuf();
  EXPECT_EQ(now.str(), pem) << "the provided file is left as it was";

  std::ofstream(key_dir_->path() / "signing-key-3.pem") << "not a key";
  auto refused = internal("POST", "/internal/v1/keys/rotate", std::nullopt, admin_);
  EXPECT_GE(refused.status, 400) << describe(refused);
  EXPECT_NE(refused.raw.find("signing-key-3.pem"), std::string::npos) << describe(refused);
  auto after = internal("GET", "/internal/v1/keys", std::nullopt, admin_);
  ASSERT_EQ(after.body["items"].size(), 2u) << describe(after);
  EXPECT_EQ(after.body["items"][1]["status"], "active") << "key 2 still signs";
}

// The one conversion between registered routes and the document: route templates already use
// OpenAPI's {name} form, so only the method's case differs.
std::set<std::pair<std::string, std::string>> document_operations(const nlohmann::json& doc) {
  std::set<std::pair<std::string, std::string>> ops;
  for (const auto& [path, item] : doc["paths"].items()) {
    for (const auto& [method, op] : item.items()) {
      if (method == "parameters") continue;
      std::string upper = method;
      for (auto& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      ops.emplace(upper, path);
    }
  }
  return ops;
}

TEST_F(HttpTest, OpenApiDocumentListsExactlyTheRegisteredRoutes) {
  auto r = pub("GET", "/openapi.json");
  ASSERT_EQ(r.status, 200);
  ASSERT_TRUE(r.body.is_object()) << "openapi.json is not valid JSON";
  EXPECT_EQ(r.body["openapi"].get<std::string>().rfind("3.", 0), 0u);
  const auto documented = document_operations(r.body);
  std::set<std::pair<std::string, std::string>> registered;
  for (const auto& route : controller_->router().routes()) {
    registered.emplace(std::string(to_string(route->route.method)), route->route.path);
  }
  for (const auto& op : registered) {
    EXPECT_TRUE(documented.contains(op)) << op.first << " " << op.second << " is not documented";
  }
  for (const auto& op : documented) {
    EXPECT_TRUE(registered.contains(op))
        << op.first << " " << op.second << " is documented but not registered";
  }
  // Every path parameter of every documented path is declared.
  const std::regex param(R"(\{([a-z_]+)\})");
  for (const auto& [path, item] : r.body["paths"].items()) {
    for (std::sregex_iterator it(path.begin(), path.end(), param), end; it != end; ++it) {
      const auto name = (*it)[1].str();
      bool declared = false;
      for (const auto& p : item.value("parameters", nlohmann::json::array())) {
        declared = declared || (p["name"] == name && p["in"] == "path");
      }
      EXPECT_TRUE(declared) << path << ": path parameter " << name << " not declared";
    }
  }
  EXPECT_EQ(r.raw, std::string(embedded::openapi_json()));
}

}  // namespace
}  // namespace reclothes::controller::testing
