#include "reclothes/provisioning/cli/controller_client.h"

#include <httplib.h>

#include <regex>

namespace reclothes::provisioning::cli {

std::string ApiReply::error_code() const {
  if (body.is_object() && body.contains("error") && body["error"].is_object()) {
    return body["error"].value("code", "");
  }
  return "";
}

std::string ApiReply::error_message() const {
  if (body.is_object() && body.contains("error") && body["error"].is_object()) {
    std::string m = body["error"].value("message", "");
    const auto& details = body["error"].value("details", nlohmann::json::object());
    if (details.is_object() && !details.empty()) m += " " + details.dump();
    return m;
  }
  return "";
}

ControllerClient::ControllerClient(std::string url, std::unique_ptr<httplib::Client> client)
    : url_(std::move(url)), client_(std::move(client)) {}

ControllerClient::~ControllerClient() = default;

CliResult<std::unique_ptr<ControllerClient>> ControllerClient::create(
    const ControllerEndpoint& endpoint) {
  static const std::regex kUrl(
      R"(^(http|https)://([A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?/?$)");
  if (!std::regex_match(endpoint.url, kUrl)) {
    return cli_error(ExitCode::kUsage, ErrorCode::kInvalidArgument,
                     "--controller \"" + endpoint.url +
                         "\" is not a controller URL; expected http(s)://host:port of the "
                         "internal listener, e.g. http://127.0.0.1:8081");
  }
  std::string url = endpoint.url;
  if (url.back() == '/') url.pop_back();
  auto client = std::make_unique<httplib::Client>(url);
  client->set_connection_timeout(std::chrono::seconds(5));
  client->set_read_timeout(endpoint.timeout);
  client->set_write_timeout(endpoint.timeout);
  if (url.rfind("https://", 0) == 0) {
    if (endpoint.ca) client->set_ca_cert_path(endpoint.ca->c_str());
    client->enable_server_certificate_verification(true);
  } else if (endpoint.ca) {
    return cli_error(ExitCode::kUsage, ErrorCode::kInvalidArgument,
                     "--controller-ca is only for an https:// controller URL");
  }
  return std::unique_ptr<ControllerClient>(new ControllerClient(url, std::move(client)));
}

CliResult<ApiReply> ControllerClient::send(const std::string& method, const std::string& path,
                                           const nlohmann::json* body) {
  httplib::Headers headers;
  if (!token_.empty()) headers.emplace("Authorization", "Bearer " + token_);
  const std::string payload = body != nullptr ? body->dump() : std::string();
  httplib::Result res{nullptr, httplib::Error::Unknown};
  if (method == "GET") {
    res = client_->Get(path.c_str(), headers);
  } else if (method == "POST") {
    res = client_->Post(path.c_str(), headers, payload, "application/json");
  } else {
    res = client_->Delete(path.c_str(), headers);
  }
  if (!res) {
    std::string why = httplib::to_string(res.error());
    if (res.error() == httplib::Error::SSLServerVerification) {
      why += " (the controller's certificate is not trusted; pass its CA with --controller-ca)";
    }
    return cli_error(ExitCode::kController, ErrorCode::kUnavailable,
                     "controller unreachable at " + url_ + " (" + method + " " + path + "): " + why,
                     "check --controller (the internal listener's address) and that this "
                     "machine is on an allowed network");
  }
  ApiReply reply;
  reply.status = res->status;
  reply.body = nlohmann::json::parse(res->body, nullptr, false);
  if (reply.body.is_discarded()) reply.body = nullptr;
  return reply;
}

CliResult<ApiReply> ControllerClient::get(const std::string& path) {
  return send("GET", path, nullptr);
}

CliResult<ApiReply> ControllerClient::post(const std::string& path, const nlohmann::json& body) {
  return send("POST", path, &body);
}

CliResult<ApiReply> ControllerClient::expect(CliResult<ApiReply> reply,
                                             std::initializer_list<int> statuses,
                                             const std::string& what) {
  if (!reply.ok()) return reply;
  for (int s : statuses) {
    if (reply->status == s) return reply;
  }
  std::string message = what + ": the controller answered " + std::to_string(reply->status);
  if (!reply->error_code().empty()) message += " " + reply->error_code();
  if (!reply->error_message().empty()) message += ": " + reply->error_message();
  ErrorCode code = ErrorCode::kFailedPrecondition;
  std::string hint;
  switch (reply->status) {
    case 401:
      code = ErrorCode::kUnauthenticated;
      hint = "check the staff email and password (RECLOTHES_STAFF_PASSWORD or stdin)";
      break;
    case 403:
      code = ErrorCode::kPermissionDenied;
      hint = reply->error_code() == "network_not_allowed"
                 ? "this machine's address is not in the controller's internal_allow list"
                 : "the staff account lacks the permission named above (a manager has it)";
      break;
    case 404:
      code = ErrorCode::kNotFound;
      break;
    case 409:
      code = ErrorCode::kAlreadyExists;
      break;
    case 429:
      code = ErrorCode::kResourceExhausted;
      hint = "too many failed logins; wait and try again";
      break;
    default:
      if (reply->status >= 500) code = ErrorCode::kUnavailable;
      break;
  }
  return cli_error(ExitCode::kController, code, message, hint);
}

CliStatus ControllerClient::login(const std::string& email, const std::string& password) {
  RC_ASSIGN_OR_RETURN(ApiReply reply, expect(post("/internal/v1/sessions",
                                                  {{"email", email}, {"password", password}}),
                                             {200, 201}, "staff login as " + email));
  if (!reply.body.is_object() || !reply.body.contains("token") ||
      !reply.body["token"].is_string()) {
    return cli_error(ExitCode::kController, ErrorCode::kInternal,
                     "staff login: the controller's answer has no token");
  }
  token_ = reply.body["token"].get<std::string>();
  return {};
}

void ControllerClient::logout() {
  if (token_.empty()) return;
  (void)send("DELETE", "/internal/v1/sessions/current", nullptr);
  token_.clear();
}

}  // namespace reclothes::provisioning::cli
