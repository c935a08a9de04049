#include "reclothes/controller/http.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace reclothes::controller {

std::string_view to_string(Listener l) {
  switch (l) {
    case Listener::kPublic:
      return "public";
    case Listener::kInternal:
      return "internal";
    case Listener::kBoth:
      return "both";
  }
  return "unknown";
}

std::string_view to_string(HttpMethod m) {
  switch (m) {
    case HttpMethod::kGet:
      return "GET";
    case HttpMethod::kPost:
      return "POST";
    case HttpMethod::kPut:
      return "PUT";
    case HttpMethod::kPatch:
      return "PATCH";
    case HttpMethod::kDelete:
      return "DELETE";
  }
  return "UNKNOWN";
}

std::optional<HttpMethod> method_from_string(std::string_view s) {
  for (auto m : {HttpMethod::kGet, HttpMethod::kPost, HttpMethod::kPut, HttpMethod::kPatch,
                 HttpMethod::kDelete}) {
    if (to_string(m) == s) return m;
  }
  if (s == "HEAD") return HttpMethod::kGet;
  return std::nullopt;
}

ApiError ApiError::bad_request(std::string code, std::string message, nlohmann::json details) {
  return ApiError{400, std::move(code), std::move(message), std::move(details), std::nullopt};
}

ApiError ApiError::invalid_field(const FieldError& e) {
  const bool unknown = e.problem == "unknown field";
  return ApiError{400,
                  unknown ? "unknown_field" : "invalid_field",
                  e.to_string(),
                  {{"field", e.field}, {"problem", e.problem}},
                  std::nullopt};
}

ApiError ApiError::not_found(std::string what) {
  return ApiError{404, "not_found", std::move(what) + " not found", nlohmann::json::object(),
                  std::nullopt};
}

ApiError ApiError::conflict(std::string code, std::string message) {
  return ApiError{409, std::move(code), std::move(message), nlohmann::json::object(), std::nullopt};
}

ApiError ApiError::forbidden(std::string code, std::string message) {
  return ApiError{403, std::move(code), std::move(message), nlohmann::json::object(), std::nullopt};
}

ApiError ApiError::unauthenticated(std::string message) {
  return ApiError{401, "unauthenticated", std::move(message), nlohmann::json::object(),
                  std::nullopt};
}

ApiError ApiError::from(const Error& e) {
  switch (e.code) {
    case ErrorCode::kInvalidArgument:
      return bad_request("invalid_argument", e.message);
    case ErrorCode::kNotFound:
      return ApiError{404, "not_found", e.message, nlohmann::json::object(), std::nullopt};
    case ErrorCode::kAlreadyExists:
      return conflict("already_exists", e.message);
    case ErrorCode::kFailedPrecondition:
      return conflict("failed_precondition", e.message);
    case ErrorCode::kPermissionDenied:
      return forbidden("forbidden", e.message);
    case ErrorCode::kUnauthenticated:
      return unauthenticated(e.message);
    case ErrorCode::kResourceExhausted:
      return ApiError{429, "rate_limited", e.message, nlohmann::json::object(), std::nullopt};
    case ErrorCode::kUnavailable:
      return ApiError{503, "unavailable", "a dependency is unavailable; retry later",
                      nlohmann::json::object(), 1};
    default:
      return ApiError{500, "internal", "internal error; the request id identifies it in the logs",
                      nlohmann::json::object(), std::nullopt};
  }
}

RequestContext::RequestContext(Database& db, std::string request_id, Listener listener,
                               std::string address, HttpMethod method, std::string path)
    : db_(db),
      request_id_(std::move(request_id)),
      listener_(listener),
      address_(std::move(address)),
      method_(method),
      path_(std::move(path)) {}

RequestContext::~RequestContext() {
  // An uncommitted transaction is rolled back by its destructor, before the lease goes back.
  tx_.reset();
  read_tx_.reset();
}

const std::string& RequestContext::param(std::string_view name) const {
  static const std::string kEmpty;
  const auto it = params_.find(name);
  return it == params_.end() ? kEmpty : it->second;
}

std::optional<std::string> RequestContext::query(std::string_view name) const {
  const auto it = query_.find(name);
  if (it == query_.end()) return std::nullopt;
  return it->second;
}

std::optional<std::string> RequestContext::header(std::string_view name) const {
  std::string lower(name);
  for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  const auto it = headers_.find(lower);
  if (it == headers_.end()) return std::nullopt;
  return it->second;
}

Database::Lease& RequestContext::lease() {
  if (!lease_) {
    auto lease = db_.acquire();
    if (!lease.ok()) throw pqxx::broken_connection(lease.error().message);
    lease_.emplace(std::move(lease).value());
  }
  return *lease_;
}

pqxx::work& RequestContext::tx() {
  if (!tx_) {
    read_tx_.reset();  // libpqxx allows one transaction object per connection at a time
    tx_ = std::make_unique<pqxx::work>(lease().conn());
  }
  return *tx_;
}

pqxx::transaction_base& RequestContext::read() {
  if (tx_) return *tx_;
  if (!read_tx_) read_tx_ = std::make_unique<pqxx::nontransaction>(lease().conn());
  return *read_tx_;
}

namespace {
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_lower_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f'); }
bool is_role_char(char c) { return is_digit(c) || (c >= 'a' && c <= 'z') || c == '_'; }
bool is_id_char(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '-';
}
}  // namespace

bool PathParamRule::matches(std::string_view value) const {
  return value.size() >= min && value.size() <= max &&
         std::all_of(value.begin(), value.end(), allowed);
}

std::optional<PathParamRule> path_param_rule(std::string_view name) {
  // Every path parameter in the API, with the only values it may take.
  if (name == "box_id") return PathParamRule{is_id_char, "[A-Za-z0-9_-]", 1, 32};
  if (name == "number") return PathParamRule{is_digit, "[0-9]", 1, 3};
  if (name == "key_id") return PathParamRule{is_digit, "[0-9]", 1, 5};
  if (name == "command_id") return PathParamRule{is_id_char, "[A-Za-z0-9_-]", 1, 64};
  if (name == "token_id") return PathParamRule{is_lower_hex, "[0-9a-f]", 16, 16};
  if (name == "role") return PathParamRule{is_role_char, "[a-z0-9_]", 2, 32};
  if (name == "id" || name == "customer_id" || name == "staff_id" || name == "location_id") {
    return PathParamRule{is_digit, "[0-9]", 1, 18};
  }
  return std::nullopt;
}

std::optional<std::string> path_param_pattern(std::string_view name) {
  const auto rule = path_param_rule(name);
  if (!rule) return std::nullopt;
  std::string out(rule->char_class);
  out += rule->min == rule->max
             ? "{" + std::to_string(rule->min) + "}"
             : "{" + std::to_string(rule->min) + "," + std::to_string(rule->max) + "}";
  return out;
}

Result<std::pair<std::string, std::vector<std::string>>> compile_path_template(
    std::string_view path_template) {
  std::string regex;
  std::vector<std::string> names;
  std::size_t i = 0;
  while (i < path_template.size()) {
    const char ch = path_template[i];
    if (ch == '{') {
      const auto close = path_template.find('}', i);
      if (close == std::string_view::npos) {
        return make_error(ErrorCode::kInvalidArgument,
                          "unclosed { in " + std::string(path_template));
      }
      // A parameter is a whole segment ("/boxes/{box_id}/open"): the router matches by segment.
      if (i == 0 || path_template[i - 1] != '/' ||
          (close + 1 < path_template.size() && path_template[close + 1] != '/')) {
        return make_error(
            ErrorCode::kInvalidArgument,
            "a parameter must be a whole path segment in " + std::string(path_template));
      }
      const auto name = path_template.substr(i + 1, close - i - 1);
      const auto pattern = path_param_pattern(name);
      if (!pattern) {
        return make_error(ErrorCode::kInvalidArgument,
                          "unknown path parameter {" + std::string(name) + "}");
      }
      regex += "(" + std::string(*pattern) + ")";
      names.emplace_back(name);
      i = close + 1;
      continue;
    }
    const bool plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                       (ch >= '0' && ch <= '9') || ch == '/' || ch == '_' || ch == '-';
    if (ch == '.') {
      regex += "\\.";
    } else if (plain) {
      regex += ch;
    } else {
      return make_error(ErrorCode::kInvalidArgument,
                        "unsupported character in path " + std::string(path_template));
    }
    ++i;
  }
  return std::make_pair(regex, names);
}

void Router::add(Route route) {
  auto compiled = compile_path_template(route.path);
  if (!compiled.ok()) {
    std::fprintf(stderr, "route %s: %s\n", route.path.c_str(), compiled.error().message.c_str());
    std::abort();
  }
  for (const auto& r : routes_) {
    if (r->route.path == route.path && r->route.method == route.method &&
        (static_cast<int>(r->route.listener) & static_cast<int>(route.listener)) != 0) {
      std::fprintf(stderr, "duplicate route %s %s\n", std::string(to_string(route.method)).c_str(),
                   route.path.c_str());
      std::abort();
    }
  }
  if (route.owner_param) {
    const auto& names = compiled->second;
    if (std::find(names.begin(), names.end(), *route.owner_param) == names.end()) {
      std::fprintf(stderr, "route %s: owner_param is not a path parameter\n", route.path.c_str());
      std::abort();
    }
  }
  auto cr = std::make_unique<CompiledRoute>();
  // compile_path_template accepted the template, so every "{...}" is a whole segment with a
  // known name.
  std::string_view rest(route.path);
  while (!rest.empty()) {
    const auto slash = rest.find('/', 1);
    const auto part = rest.substr(0, slash);  // "/name" or "/{param}"
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
    CompiledRoute::Segment seg;
    if (part.size() > 2 && part[1] == '{' && part.back() == '}') {
      seg.rule = path_param_rule(part.substr(2, part.size() - 3));
    } else {
      seg.literal = std::string(part);
    }
    cr->segments.push_back(std::move(seg));
  }
  cr->param_names = std::move(compiled->second);
  cr->route = std::move(route);
  routes_.push_back(std::move(cr));
}

namespace {
// Whether `path` fits the route's segments; the parameter values go to `values` in order.
bool fits(const CompiledRoute& r, std::string_view path, std::vector<std::string_view>& values) {
  values.clear();
  for (const auto& seg : r.segments) {
    if (path.empty() || path[0] != '/') return false;
    const auto slash = path.find('/', 1);
    const auto part = path.substr(0, slash);
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash);
    if (seg.rule) {
      if (!seg.rule->matches(part.substr(1))) return false;
      values.push_back(part.substr(1));
    } else if (part != seg.literal) {
      return false;
    }
  }
  return path.empty();
}
}  // namespace

RouteMatch Router::match(Listener listener, HttpMethod method, std::string_view path) const {
  RouteMatch out;
  std::vector<std::string_view> values;
  for (const auto& r : routes_) {
    if (!serves(r->route.listener, listener)) continue;
    if (!fits(*r, path, values)) continue;
    if (r->route.method != method) {
      out.allowed.push_back(r->route.method);
      continue;
    }
    out.route = r.get();
    for (std::size_t i = 0; i < r->param_names.size(); ++i) {
      out.params.emplace(r->param_names[i], std::string(values[i]));
    }
    return out;
  }
  return out;
}

}  // namespace reclothes::controller
