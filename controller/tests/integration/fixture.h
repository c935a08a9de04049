// Shared fixture of the controller's integration tests: one real PostgreSQL and one real
// Mosquitto per test suite, a fresh database per test (cloned from a migrated template, which is
// much faster than migrating each time), and an in-process Controller on free loopback ports
// with a ManualClock.
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <thread>
#include <vector>

#include "reclothes/common/clock.h"
#include "reclothes/controller/accounts.h"
#include "reclothes/controller/compose.h"
#include "reclothes/controller/config.h"
#include "reclothes/controller/controller.h"
#include "reclothes/controller/migrations.h"
#include "reclothes/testsupport/mosquitto.h"
#include "reclothes/testsupport/postgres.h"
#include "reclothes/testsupport/process.h"

namespace reclothes::controller::testing {

struct Reply {
  int status = 0;
  nlohmann::json body;
  std::string raw;
  httplib::Headers headers;
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
  std::string code() const {
    return body.is_object() && body.contains("error") ? body["error"].value("code", "") : "";
  }
};

inline std::string describe(const Reply& r) { return std::to_string(r.status) + " " + r.raw; }

// Polls cond every 20 ms until it holds or the timeout passes. For waiting on other processes
// (broker, controller threads) only; time-based logic uses the ManualClock instead.
inline bool eventually(const std::function<bool()>& cond,
                       std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return cond();
}

class ControllerTest : public ::testing::Test {
 public:
  static void SetUpTestSuite();
  static void TearDownTestSuite();

 protected:
  void SetUp() override;
  void TearDown() override;

  // A config for this test's database and the suite's broker; tests adjust it before start().
  ControllerConfig base_config() const;
  // Creates and starts a controller (replacing any running one) with `config`.
  void start_controller(const ControllerConfig& config);
  void start_controller() { start_controller(config_); }
  void stop_controller() { controller_.reset(); }

  Reply call(Listener listener, const std::string& method, const std::string& path,
             const std::optional<nlohmann::json>& body = std::nullopt,
             const std::string& token = "", const httplib::Headers& extra = {},
             const std::optional<std::string>& raw_body = std::nullopt);
  Reply pub(const std::string& method, const std::string& path,
            const std::optional<nlohmann::json>& body = std::nullopt,
            const std::string& token = "") {
    return call(Listener::kPublic, method, path, body, token);
  }
  Reply internal(const std::string& method, const std::string& path,
                 const std::optional<nlohmann::json>& body = std::nullopt,
                 const std::string& token = "") {
    return call(Listener::kInternal, method, path, body, token);
  }

  // Direct database access for set-up and for checking what was (not) written.
  std::int64_t count(const std::string& sql);
  pqxx::result query(const std::string& sql);
  void exec(const std::string& sql);

  std::int64_t add_staff(const std::string& email, const std::vector<Role>& roles,
                         const std::string& password = kPassword);
  std::string staff_login(const std::string& email, const std::string& password = kPassword);
  // Adds a staff member with the roles and logs in: returns the session token.
  std::string staff_token(const std::vector<Role>& roles, std::int64_t* id = nullptr);
  std::int64_t register_customer(const std::string& email, const std::string& password = kPassword);
  std::string customer_login(const std::string& email, const std::string& password = kPassword);

  static constexpr const char* kPassword = "correct horse battery";

  static std::unique_ptr<testsupport::PostgresServer> pg_;
  static std::unique_ptr<testsupport::MosquittoServer> broker_;
  static std::string template_db_;

  ManualClock clock_;
  std::string db_name_;
  std::string conninfo_;
  std::unique_ptr<testsupport::TempDir> key_dir_;
  ControllerConfig config_;
  std::unique_ptr<Controller> controller_;
  int staff_counter_ = 0;
};

}  // namespace reclothes::controller::testing
