#include "reclothes/simulator/web_server.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <random>

#include "reclothes/common/box_code.h"
#include "reclothes/common/qr_png.h"
#include "reclothes/simulator/tokens.h"

namespace reclothes::simulator {

namespace {

using nlohmann::json;

constexpr std::string_view kContentSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

int http_status(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return 400;
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kAlreadyExists:
    case ErrorCode::kFailedPrecondition:
      return 409;
    case ErrorCode::kPermissionDenied:
      return 403;
    case ErrorCode::kUnauthenticated:
      return 401;
    case ErrorCode::kResourceExhausted:
      return 429;
    case ErrorCode::kDeadlineExceeded:
    case ErrorCode::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

void reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

void reply_error(httplib::Response& res, const Error& e) {
  reply(res, http_status(e.code),
        {{"error", {{"code", std::string(to_string(e.code))}, {"message", e.message}}}});
}

Result<json> parse_body(const httplib::Request& req) {
  if (req.body.empty()) return json::object();
  json body = json::parse(req.body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    return make_error(ErrorCode::kInvalidArgument, "the request body must be a JSON object");
  }
  return body;
}

// A POST whose body is a JSON object: `act` gets it parsed and returns the JSON of a 200 answer;
// an error (a body that is not an object, a missing field, a refusal) is answered instead.
using JsonAction = std::function<Result<json>(const httplib::Request& req, const json& body)>;
httplib::Server::Handler json_route(JsonAction act) {
  return [act = std::move(act)](const httplib::Request& req, httplib::Response& res) {
    auto body = parse_body(req);
    if (!body.ok()) return reply_error(res, body.error());
    auto answer = act(req, *body);
    if (!answer.ok()) return reply_error(res, answer.error());
    reply(res, 200, *answer);
  };
}

json ok_json() { return {{"ok", true}}; }

// {"ok": true} for a change that went through, else its error.
Result<json> ok_or_error(const Status& s) {
  if (!s.ok()) return s.error();
  return ok_json();
}

// Typed field access with errors naming the field.
template <typename T>
Result<T> field(const json& body, const char* name) {
  auto it = body.find(name);
  if (it == body.end()) {
    return make_error(ErrorCode::kInvalidArgument, std::string("missing field \"") + name + "\"");
  }
  try {
    return it->get<T>();
  } catch (const json::exception&) {
    return make_error(ErrorCode::kInvalidArgument,
                      std::string("field \"") + name + "\" has the wrong type");
  }
}

template <typename T>
Result<T> field_or(const json& body, const char* name, T fallback) {
  if (!body.contains(name) || body.at(name).is_null()) return fallback;
  return field<T>(body, name);
}

int compartment_of(const httplib::Request& req) {
  try {
    return std::stoi(req.matches[1].str());
  } catch (const std::exception&) {
    return 0;
  }
}

Result<PresentOptions> present_options(const json& body) {
  PresentOptions o;
  RC_ASSIGN_OR_RETURN(o.module_px, field_or<int>(body, "module_px", 4));
  RC_ASSIGN_OR_RETURN(o.degrade.scale, field_or<double>(body, "scale", 1.0));
  RC_ASSIGN_OR_RETURN(o.degrade.rotation_deg, field_or<double>(body, "rotation_deg", 0.0));
  RC_ASSIGN_OR_RETURN(o.degrade.blur_sigma, field_or<double>(body, "blur", 0.0));
  RC_ASSIGN_OR_RETURN(o.degrade.noise, field_or<int>(body, "noise", 0));
  RC_ASSIGN_OR_RETURN(o.degrade.seed, field_or<std::uint32_t>(body, "seed", 1));
  RC_TRY(validate(o));
  return o;
}

json present_json(const PresentReport& r) {
  return {{"camera_sees_code", r.camera_sees_code},
          {"decoded_text", r.decoded_text ? json(*r.decoded_text) : json(nullptr)},
          {"width", r.width},
          {"height", r.height},
          {"frames", r.frames}};
}

json token_json(const PendingToken& t) {
  json out = {{"id", t.id}, {"token", t.token}, {"label", t.label}, {"source", t.source}};
  auto summary = describe_token(t.token);
  if (summary.ok()) {
    out["summary"] = to_json(*summary);
  } else {
    out["summary"] = nullptr;
    out["problem"] = summary.error().message;
  }
  return out;
}

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<TokenAction> action_of(const json& body, const char* fallback) {
  RC_ASSIGN_OR_RETURN(const std::string name, field_or<std::string>(body, "action", fallback));
  auto action = token_action_from_string(name);
  if (!action) return make_error(ErrorCode::kInvalidArgument, "unknown action \"" + name + "\"");
  return *action;
}

// The reservation of a reserve command from the page: compartment, action (deposit), order_ref
// (1), valid_s (3600) from now.
Result<msg::Reservation> reservation_of(const json& body) {
  RC_ASSIGN_OR_RETURN(const int id, field<int>(body, "compartment"));
  RC_ASSIGN_OR_RETURN(const TokenAction action, action_of(body, "deposit"));
  RC_ASSIGN_OR_RETURN(const std::uint64_t order, field_or<std::uint64_t>(body, "order_ref", 1));
  RC_ASSIGN_OR_RETURN(const std::int64_t valid, field_or<std::int64_t>(body, "valid_s", 3600));
  return msg::Reservation{id, order, action, now_seconds() + valid};
}

// The compartments of a token to mint: "1,3-4" or a list of numbers 1..255.
Result<std::vector<std::uint8_t>> mint_compartments(const json& body) {
  if (body.contains("compartments") && body["compartments"].is_string()) {
    return parse_compartment_list(body["compartments"].get<std::string>());
  }
  RC_ASSIGN_OR_RETURN(const std::vector<int> list, field<std::vector<int>>(body, "compartments"));
  std::vector<std::uint8_t> compartments;
  for (int c : list) {
    if (c < 1 || c > 255) {
      return make_error(ErrorCode::kInvalidArgument, "compartments must be 1..255");
    }
    compartments.push_back(static_cast<std::uint8_t>(c));
  }
  return compartments;
}

// A token the page asks to mint, and whether its compartment is to be reserved for it.
struct MintAsked {
  MintRequest request;
  bool reserve = true;
};

// action (courier_load), compartments, order_ref (1), valid_s (900) from now, reserve (true).
Result<MintAsked> mint_asked(const json& body, const std::string& box_id) {
  MintAsked asked;
  MintRequest& m = asked.request;
  m.box_id = box_id;
  RC_ASSIGN_OR_RETURN(m.action, action_of(body, "courier_load"));
  RC_ASSIGN_OR_RETURN(m.compartments, mint_compartments(body));
  RC_ASSIGN_OR_RETURN(m.order_ref, field_or<std::uint64_t>(body, "order_ref", 1));
  RC_ASSIGN_OR_RETURN(const std::int64_t valid, field_or<std::int64_t>(body, "valid_s", 900));
  RC_ASSIGN_OR_RETURN(asked.reserve, field_or<bool>(body, "reserve", true));
  const std::int64_t now = now_seconds();
  m.not_before = now - 60;
  m.expires = now + valid;
  return asked;
}

std::string random_suffix() {
  static thread_local std::minstd_rand rng{std::random_device{}()};
  return std::to_string(rng() % 1'000'000);
}

}  // namespace

// ---- pending tokens -----------------------------------------------------------------------------

std::uint64_t PendingTokens::add(std::string token, std::string label, std::string source) {
  std::lock_guard lock(mu_);
  for (const PendingToken& t : tokens_) {
    if (t.token == token) return t.id;  // pasted twice: one entry
  }
  tokens_.push_back({next_id_, std::move(token), std::move(label), std::move(source)});
  if (tokens_.size() > kMax) tokens_.erase(tokens_.begin());
  return next_id_++;
}

bool PendingTokens::remove(std::uint64_t id) {
  std::lock_guard lock(mu_);
  const auto n = std::erase_if(tokens_, [id](const PendingToken& t) { return t.id == id; });
  return n > 0;
}

std::vector<PendingToken> PendingTokens::list() const {
  std::lock_guard lock(mu_);
  return tokens_;
}

namespace {

class HttpTokenSource final : public TokenSource {
 public:
  explicit HttpTokenSource(std::string url_template) : template_(std::move(url_template)) {}
  std::string name() const override { return "controller"; }

  Result<std::vector<PendingToken>> fetch(const std::string& box_id) override {
    std::string url = template_;
    if (const std::size_t at = url.find("{box_id}"); at != std::string::npos) {
      url.replace(at, 8, box_id);
    }
    const std::size_t scheme = url.find("://");
    const std::size_t path_at = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
    if (scheme == std::string::npos || path_at == std::string::npos) {
      return make_error(ErrorCode::kInvalidArgument,
                        "token source url \"" + url + "\" must be http(s)://host[:port]/path");
    }
    httplib::Client client(url.substr(0, path_at));
    client.set_connection_timeout(std::chrono::seconds(2));
    client.set_read_timeout(std::chrono::seconds(3));
    auto res = client.Get(url.substr(path_at));
    if (!res) {
      return make_error(ErrorCode::kUnavailable,
                        "token source " + url + ": " + httplib::to_string(res.error()));
    }
    if (res->status != 200) {
      return make_error(ErrorCode::kUnavailable,
                        "token source " + url + ": HTTP " + std::to_string(res->status));
    }
    json body = json::parse(res->body, nullptr, false);
    if (body.is_object() && body.contains("tokens")) body = body["tokens"];
    if (!body.is_array()) {
      return make_error(ErrorCode::kInvalidArgument,
                        "token source " + url + ": expected a JSON array of {token, label}");
    }
    std::vector<PendingToken> out;
    std::uint64_t id = 1'000'000;
    for (const json& item : body) {
      if (!item.is_object() || !item.contains("token") || !item["token"].is_string()) continue;
      PendingToken t;
      t.id = id++;
      t.token = item["token"].get<std::string>();
      t.label = item.value("label", std::string());
      t.source = name();
      out.push_back(std::move(t));
    }
    return out;
  }

 private:
  std::string template_;
};

}  // namespace

std::unique_ptr<TokenSource> make_http_token_source(std::string url_template) {
  return std::make_unique<HttpTokenSource>(std::move(url_template));
}

// ---- server -------------------------------------------------------------------------------------

BoxWebServer::BoxWebServer(SimBox& box, PendingTokens& tokens, WebServerOptions options)
    : box_(box),
      tokens_(tokens),
      options_(std::move(options)),
      server_(std::make_unique<httplib::Server>()) {}

Result<std::unique_ptr<BoxWebServer>> BoxWebServer::start(SimBox& box, PendingTokens& tokens,
                                                          WebServerOptions options) {
  std::unique_ptr<BoxWebServer> web(new BoxWebServer(box, tokens, std::move(options)));
  httplib::Server& s = *web->server_;
  // A page polls several times a second: without TCP_NODELAY every answer waits ~40 ms (STACK.md).
  s.set_tcp_nodelay(true);
  s.set_keep_alive_max_count(1000);
  s.set_payload_max_length(1024 * 1024);
  s.new_task_queue = [] { return new httplib::ThreadPool(4); };
  web->install_routes();
  const std::string& host = web->options_.host;
  if (web->options_.port == 0) {
    web->port_ = s.bind_to_any_port(host);
    if (web->port_ <= 0) {
      return make_error(ErrorCode::kUnavailable, "cannot bind the web server to " + host);
    }
  } else {
    if (!s.bind_to_port(host, web->options_.port)) {
      return make_error(ErrorCode::kUnavailable, "cannot bind the web server to " + host + ":" +
                                                     std::to_string(web->options_.port) +
                                                     " (in use? try --http " + host + ":0)");
    }
    web->port_ = web->options_.port;
  }
  web->thread_ = std::thread([raw = web.get()] { raw->server_->listen_after_bind(); });
  for (int i = 0; i < 200 && !s.is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return web;
}

BoxWebServer::~BoxWebServer() { stop(); }

void BoxWebServer::stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

std::string BoxWebServer::url() const {
  return "http://" + options_.host + ":" + std::to_string(port_) + "/";
}

json BoxWebServer::state_json() {
  json state = to_json(box_.view());
  // The box's printed code (docs/token-format.md, "The box's own code"), shown on the page.
  if (auto code = box_code(box_.box_id()); code.ok()) state["box_code"] = *code;
  json events = json::array();
  if (auto latest = box_.latest_events(options_.events_shown); latest.ok()) {
    for (const JournalEvent& e : *latest) events.push_back(to_json(e));
  }
  state["events"] = events;
  json tokens = json::array();
  for (const PendingToken& t : tokens_.list()) tokens.push_back(token_json(t));
  if (options_.token_source != nullptr) {
    std::lock_guard lock(source_mu_);
    const auto now = std::chrono::steady_clock::now();
    if (!source_fetched_at_ || now - *source_fetched_at_ >= kTokenSourceRefresh) {
      source_tokens_ = options_.token_source->fetch(box_.box_id());
      source_fetched_at_ = now;
    }
    const auto& fetched = source_tokens_;
    if (fetched.ok()) {
      for (const PendingToken& t : *fetched) tokens.push_back(token_json(t));
    } else {
      state["token_source_error"] = fetched.error().message;
    }
  }
  state["pending_tokens"] = tokens;
  state["can_mint"] = options_.signer != nullptr;
  {
    std::lock_guard lock(present_mu_);
    state["last_present"] = last_present_;
  }
  return state;
}

void BoxWebServer::install_routes() {
  // Every answer carries the page's policy: scripts and styles only from this server's own files
  // (box.js, box.css: no inline script or style), images from here or data:/blob:, fetches only
  // to this origin, never framed.
  server_->set_default_headers({{"Content-Security-Policy", std::string(kContentSecurityPolicy)},
                                {"X-Content-Type-Options", "nosniff"},
                                {"Referrer-Policy", "no-referrer"}});
  server_->set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
        reply_error(res, make_error(ErrorCode::kInternal, "the simulator failed on this request"));
      });
  install_page_routes();
  install_token_routes();
  install_cabinet_routes();
  install_command_routes();
}

void BoxWebServer::install_page_routes() {
  httplib::Server& s = *server_;
  s.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(box_page()), "text/html; charset=utf-8");
  });
  s.Get("/box.css", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(box_styles()), "text/css; charset=utf-8");
  });
  s.Get("/box.js", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(box_script()), "text/javascript; charset=utf-8");
  });
  s.Get("/api/state",
        [this](const httplib::Request&, httplib::Response& res) { reply(res, 200, state_json()); });
  s.Get("/api/events", [this](const httplib::Request& req, httplib::Response& res) {
    std::uint64_t after = 0;
    std::size_t limit = 100;
    try {
      if (req.has_param("after")) after = std::stoull(req.get_param_value("after"));
      if (req.has_param("limit"))
        limit = std::min<std::size_t>(std::stoul(req.get_param_value("limit")), 1000);
    } catch (const std::exception&) {
      reply_error(res, make_error(ErrorCode::kInvalidArgument, "after and limit must be numbers"));
      return;
    }
    auto events = box_.events_after(after, limit);
    if (!events.ok()) {
      reply_error(res, events.error());
      return;
    }
    json out = json::array();
    for (const JournalEvent& e : *events) out.push_back(to_json(e));
    reply(res, 200, {{"events", out}});
  });
  // The box's printed code as the label on the cabinet shows it: the customer app scans it to
  // open the box online; presented to this box's own camera it is refused as "box_code".
  s.Get("/api/box-code.png", [this](const httplib::Request&, httplib::Response& res) {
    auto code = box_code(box_.box_id());
    auto png = code.ok() ? render_qr_png(*code, 6) : Result<std::string>(code.error());
    if (!png.ok()) {
      reply_error(res, png.error());
      return;
    }
    res.set_content(*png, "image/png");
  });
  s.Get("/api/frame.png", [this](const httplib::Request&, httplib::Response& res) {
    auto frame = box_.last_frame();
    if (!frame) {
      reply_error(res, make_error(ErrorCode::kNotFound, "nothing was presented yet"));
      return;
    }
    auto png = encode_png(*frame);
    if (!png.ok()) {
      reply_error(res, png.error());
      return;
    }
    res.set_header("Cache-Control", "no-store");
    res.set_content(*png, "image/png");
  });
}

Result<json> BoxWebServer::present_image(const std::string& png) {
  RC_ASSIGN_OR_RETURN(const PresentReport report, box_.present_image(png));
  json out = present_json(report);
  out["at_ms"] = std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count();
  std::lock_guard lock(present_mu_);
  last_present_ = out;
  return out;
}

Result<json> BoxWebServer::present(const json& body) {
  RC_ASSIGN_OR_RETURN(std::string text, field<std::string>(body, "token"));
  // Pasted text often carries a trailing newline or spaces from the clipboard.
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.erase(0, 1);
  RC_ASSIGN_OR_RETURN(const PresentOptions options, present_options(body));
  RC_ASSIGN_OR_RETURN(const PresentReport report, box_.present_token(text, options));
  json out = present_json(report);
  out["at_ms"] = std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count();
  std::lock_guard lock(present_mu_);
  last_present_ = out;
  return out;
}

void BoxWebServer::install_token_routes() {
  httplib::Server& s = *server_;
  s.Post("/api/present",
         json_route([this](const httplib::Request&, const json& body) { return present(body); }));
  // A picture held to the camera (image/png body): a screenshot of a phone showing a QR code.
  s.Post("/api/camera", [this](const httplib::Request& req, httplib::Response& res) {
    if (req.get_header_value("Content-Type") != "image/png") {
      return reply_error(res, make_error(ErrorCode::kInvalidArgument,
                                         "send the picture as Content-Type: image/png"));
    }
    auto out = present_image(req.body);
    if (!out.ok()) return reply_error(res, out.error());
    reply(res, 200, *out);
  });
  s.Post("/api/tokens",
         json_route([this](const httplib::Request&, const json& body) -> Result<json> {
           RC_ASSIGN_OR_RETURN(const std::string token, field<std::string>(body, "token"));
           RC_ASSIGN_OR_RETURN(const std::string label, field_or<std::string>(body, "label", ""));
           if (token.empty() || token.size() > kMaxTokenTextLength) {
             return make_error(ErrorCode::kInvalidArgument, "a token is 1..1024 characters");
           }
           return json{{"id", tokens_.add(token, label, "pasted")}};
         }));
  s.Delete(R"(/api/tokens/(\d+))", [this](const httplib::Request& req, httplib::Response& res) {
    const bool removed = tokens_.remove(std::stoull(req.matches[1].str()));
    if (!removed) return reply_error(res, make_error(ErrorCode::kNotFound, "no such token"));
    reply(res, 200, ok_json());
  });
}

void BoxWebServer::install_cabinet_routes() {
  httplib::Server& s = *server_;
  s.Post(R"(/api/compartments/(\d+)/door)",
         json_route([this](const httplib::Request& req, const json& body) -> Result<json> {
           RC_ASSIGN_OR_RETURN(const bool open, field<bool>(body, "open"));
           const int id = compartment_of(req);
           return ok_or_error(open ? box_.open_door(id) : box_.close_door(id));
         }));
  s.Post(R"(/api/compartments/(\d+)/fill)",
         json_route([this](const httplib::Request& req, const json& body) -> Result<json> {
           RC_ASSIGN_OR_RETURN(const int percent, field<int>(body, "percent"));
           return ok_or_error(box_.set_fill(compartment_of(req), percent));
         }));
  s.Post(R"(/api/compartments/(\d+)/jam)",
         json_route([this](const httplib::Request& req, const json& body) -> Result<json> {
           RC_ASSIGN_OR_RETURN(const bool on, field<bool>(body, "on"));
           return ok_or_error(box_.set_jammed(compartment_of(req), on));
         }));
  s.Post("/api/environment",
         json_route([this](const httplib::Request&, const json& body) -> Result<json> {
           RC_ASSIGN_OR_RETURN(const double t, field<double>(body, "temperature_c"));
           RC_ASSIGN_OR_RETURN(const double h, field<double>(body, "humidity_percent"));
           box_.set_environment(t, h);
           return ok_json();
         }));
  s.Post("/api/tamper",
         json_route([this](const httplib::Request&, const json& body) -> Result<json> {
           RC_ASSIGN_OR_RETURN(const bool on, field<bool>(body, "on"));
           box_.set_tampered(on);
           return ok_json();
         }));
  s.Post("/api/network",
         json_route([this](const httplib::Request&, const json& body) -> Result<json> {
           RC_ASSIGN_OR_RETURN(const bool up, field<bool>(body, "up"));
           return ok_or_error(up ? box_.restore_network() : box_.pull_network());
         }));
  s.Post("/api/power",
         json_route([this](const httplib::Request&, const json& body) -> Result<json> {
           RC_ASSIGN_OR_RETURN(const bool on, field<bool>(body, "on"));
           if (on) return ok_or_error(box_.power_on());
           box_.pull_power();
           return ok_json();
         }));
  s.Post("/api/auto-open",
         json_route([this](const httplib::Request&, const json& body) -> Result<json> {
           RC_ASSIGN_OR_RETURN(const bool enabled, field<bool>(body, "enabled"));
           RC_ASSIGN_OR_RETURN(const int delay, field_or<int>(body, "delay_ms", 0));
           if (delay < 0 || delay > 60'000) {
             return make_error(ErrorCode::kInvalidArgument, "delay_ms must be 1..60000");
           }
           box_.set_auto_open(
               enabled, delay > 0 ? std::optional(std::chrono::milliseconds(delay)) : std::nullopt);
           return ok_json();
         }));
}

std::string BoxWebServer::next_command_id() {
  return "sim-" + std::to_string(++command_counter_) + "-" + random_suffix();
}

Result<json> BoxWebServer::command(const json& body) {
  RC_ASSIGN_OR_RETURN(const std::string op_name, field<std::string>(body, "op"));
  auto op = msg::command_op_from_string(op_name);
  if (!op) return make_error(ErrorCode::kInvalidArgument, "unknown op \"" + op_name + "\"");
  msg::Command c;
  c.id = next_command_id();
  c.op = *op;
  c.reason = "reclothes-sim page";
  if (*op == msg::CommandOp::kOpen || *op == msg::CommandOp::kRelease) {
    RC_ASSIGN_OR_RETURN(c.compartment, field<int>(body, "compartment"));
  }
  if (*op == msg::CommandOp::kReserve) {
    RC_ASSIGN_OR_RETURN(c.reservation, reservation_of(body));
  }
  RC_TRY(box_.push_command(c));
  return json{{"command_id", c.id}};
}

Result<json> BoxWebServer::mint(const json& body) {
  RC_ASSIGN_OR_RETURN(const MintAsked asked, mint_asked(body, box_.box_id()));
  RC_ASSIGN_OR_RETURN(const std::string token, mint_token(*options_.signer, asked.request));
  const TokenAction action = asked.request.action;
  const bool customer = action == TokenAction::kDeposit || action == TokenAction::kPickup ||
                        action == TokenAction::kReturn;
  const std::uint8_t first = asked.request.compartments.front();
  if (customer && asked.reserve) {
    // A customer token needs a reservation at the box, which the controller would push.
    msg::Command c;
    c.id = next_command_id();
    c.op = msg::CommandOp::kReserve;
    c.reason = "reclothes-sim mint";
    c.reservation = msg::Reservation{first, asked.request.order_ref, action, asked.request.expires};
    RC_TRY(box_.push_command(c));
  }
  const std::string label =
      std::string(to_string(action)) + " " + std::to_string(first) + " (minted)";
  return json{{"id", tokens_.add(token, label, "minted")}, {"token", token}};
}

// The controller's side, for a box without a controller: reservations, remote opens,
// maintenance. Goes through the Mailbox exactly as the sync thread would deliver it.
void BoxWebServer::install_command_routes() {
  httplib::Server& s = *server_;
  s.Post("/api/commands",
         json_route([this](const httplib::Request&, const json& body) { return command(body); }));
  // Without a key the page cannot mint, whatever it sends.
  s.Post("/api/mint", [this, minting = json_route([this](const httplib::Request&,
                                                         const json& body) { return mint(body); })](
                          const httplib::Request& req, httplib::Response& res) {
    if (options_.signer == nullptr) {
      return reply_error(res, make_error(ErrorCode::kFailedPrecondition,
                                         "start the simulator with --signing-key to mint tokens"));
    }
    minting(req, res);
  });
}

}  // namespace reclothes::simulator
