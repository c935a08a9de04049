// The controller's internal REST API as the CLI uses it (docs/rest-api.md,
// controller/openapi.json): staff login, box registration, box detail and decommissioning, the
// fleet overview, signing keys. cpp-httplib underneath; every failure is a CliError with
// ExitCode::kController and a message that names the controller, the request and the controller's
// own error code and message.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "reclothes/provisioning/cli/cli_error.h"

namespace httplib {
class Client;
}

namespace reclothes::provisioning::cli {

struct ControllerEndpoint {
  std::string url;                          // http://host:port or https://host:port (internal)
  std::optional<std::filesystem::path> ca;  // https: CA file to verify the controller with
  std::chrono::seconds timeout{15};
};

struct ApiReply {
  int status = 0;
  nlohmann::json body;  // null if the body was not JSON
  // The controller's error code ("box_exists") and message, empty on success.
  std::string error_code() const;
  std::string error_message() const;
};

// Not thread-safe; one per command.
class ControllerClient {
 public:
  // kUsage for a URL that is not http(s)://host[:port] (no path).
  static CliResult<std::unique_ptr<ControllerClient>> create(const ControllerEndpoint& endpoint);
  ~ControllerClient();
  ControllerClient(const ControllerClient&) = delete;
  ControllerClient& operator=(const ControllerClient&) = delete;

  // POST /internal/v1/sessions; keeps the bearer token for later calls.
  CliStatus login(const std::string& email, const std::string& password);
  // DELETE /internal/v1/sessions/current; best effort (errors ignored).
  void logout();
  bool logged_in() const { return !token_.empty(); }

  // One request. Transport failures are kController errors ("controller unreachable at URL: ...");
  // any HTTP status is returned as a reply for the caller to judge.
  CliResult<ApiReply> get(const std::string& path);
  CliResult<ApiReply> post(const std::string& path, const nlohmann::json& body);

  // The reply if its status is one of the expected ones, else a kController error:
  // "<what>: the controller answered 403 forbidden: missing permission box.register".
  static CliResult<ApiReply> expect(CliResult<ApiReply> reply, std::initializer_list<int> statuses,
                                    const std::string& what);

  const std::string& url() const { return url_; }

 private:
  ControllerClient(std::string url, std::unique_ptr<httplib::Client> client);
  CliResult<ApiReply> send(const std::string& method, const std::string& path,
                           const nlohmann::json* body);

  std::string url_;
  std::unique_ptr<httplib::Client> client_;
  std::string token_;
};

}  // namespace reclothes::provisioning::cli
