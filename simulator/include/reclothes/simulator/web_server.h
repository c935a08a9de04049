// The box page: a local web server (cpp-httplib) that shows one SimBox as a cabinet and lets a
// tester act on it. One static page (compiled in, no CDN: these machines have no internet) polls
// GET /api/state; every control is a small JSON POST. docs/simulator.md lists the API.
//
// Threading: httplib serves requests from a small pool; everything it calls on the SimBox and the
// PendingTokens is thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "reclothes/common/result.h"
#include "reclothes/common/token.h"
#include "reclothes/simulator/sim_box.h"

namespace httplib {
class Server;
}

namespace reclothes::simulator {

// The page itself, its stylesheet and its script (generated from simulator/web/box.html, box.css
// and box.js at build time).
std::string_view box_page();
std::string_view box_styles();
std::string_view box_script();

struct PendingToken {
  std::uint64_t id = 0;
  std::string token;
  std::string label;
  std::string source;  // "pasted", "minted" or the name of a TokenSource
};

// Where tokens waiting to be presented at this box come from, besides the ones a tester pasted.
// The hook for the controller: an implementation asks it which tokens it issued for the box.
class TokenSource {
 public:
  virtual ~TokenSource() = default;
  virtual std::string name() const = 0;
  // Called from the web server's threads. Errors are shown on the page, not fatal.
  virtual Result<std::vector<PendingToken>> fetch(const std::string& box_id) = 0;
};

// GET <url> (with {box_id} replaced) returning either a JSON array or {"tokens": [...]} of
// {"token": "RC1:...", "label": "..."} objects. For a controller endpoint that lists the tokens
// issued for a box; the controller's real route is not fixed yet, hence the template.
std::unique_ptr<TokenSource> make_http_token_source(std::string url_template);

// Tokens a tester pasted (or minted) on the page, newest last, at most kMax. Thread-safe.
class PendingTokens {
 public:
  static constexpr std::size_t kMax = 50;
  std::uint64_t add(std::string token, std::string label, std::string source);
  bool remove(std::uint64_t id);
  std::vector<PendingToken> list() const;

 private:
  mutable std::mutex mu_;
  std::uint64_t next_id_ = 1;
  std::vector<PendingToken> tokens_;
};

struct WebServerOptions {
  std::string host = "127.0.0.1";
  int port = 8088;  // 0: any free port (port() tells which)
  // A key whose public half the box trusts: the page can then mint test tokens.
  const TokenSigner* signer = nullptr;
  TokenSource* token_source = nullptr;  // optional
  std::size_t events_shown = 40;
};

class BoxWebServer {
 public:
  // Binds and starts serving on its own thread. kUnavailable if the address cannot be bound.
  // `box` and everything in `options` must outlive the server.
  static Result<std::unique_ptr<BoxWebServer>> start(SimBox& box, PendingTokens& tokens,
                                                     WebServerOptions options);
  ~BoxWebServer();  // stop()
  BoxWebServer(const BoxWebServer&) = delete;
  BoxWebServer& operator=(const BoxWebServer&) = delete;

  int port() const { return port_; }
  std::string url() const;  // "http://127.0.0.1:8088/"
  void stop();

  // The JSON the page polls (also GET /api/state).
  nlohmann::json state_json();

 private:
  BoxWebServer(SimBox& box, PendingTokens& tokens, WebServerOptions options);
  void install_routes();
  void install_page_routes();     // the page, its state, the journal, the camera's frame
  void install_token_routes();    // presenting a token, the pending tokens
  void install_cabinet_routes();  // doors, sensors, network, power: what a person does
  void install_command_routes();  // the controller's side: commands, minted tokens
  // The routes whose handling does not fit in a few lines. Each returns the JSON of a 200 answer,
  // or the error that is answered instead.
  Result<nlohmann::json> present(const nlohmann::json& body);
  Result<nlohmann::json> present_image(const std::string& png);
  Result<nlohmann::json> command(const nlohmann::json& body);
  Result<nlohmann::json> mint(const nlohmann::json& body);
  std::string next_command_id();

  SimBox& box_;
  PendingTokens& tokens_;
  WebServerOptions options_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex present_mu_;
  nlohmann::json last_present_;  // guarded by present_mu_
  // The token source is asked at most every kTokenSourceRefresh, not on every poll of the page.
  static constexpr std::chrono::seconds kTokenSourceRefresh{5};
  std::mutex source_mu_;
  std::optional<std::chrono::steady_clock::time_point> source_fetched_at_;  // guarded by source_mu_
  Result<std::vector<PendingToken>> source_tokens_{std::vector<PendingToken>{}};
  std::atomic<std::uint64_t> command_counter_{0};
};

}  // namespace reclothes::simulator
