#include "reclothes/controller/http.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "reclothes/controller/db.h"
#include "reclothes/controller/log.h"
#include "reclothes/controller/server.h"

namespace reclothes::controller {
namespace {

HandlerResult ok_handler(RequestContext&) { return Response::ok({}); }

TEST(PathTemplate, CompilesParametersToTheirPatterns) {
  auto c = compile_path_template("/internal/v1/boxes/{box_id}/compartments/{number}/open");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->first, "/internal/v1/boxes/([A-Za-z0-9_-]{1,32})/compartments/([0-9]{1,3})/open");
  EXPECT_EQ(c->second, (std::vector<std::string>{"box_id", "number"}));
  EXPECT_EQ(compile_path_template("/openapi.json")->first, "/openapi\\.json");
}

TEST(PathTemplate, RefusesUnknownParametersAndOddCharacters) {
  EXPECT_FALSE(compile_path_template("/v1/{nope}").ok());
  EXPECT_FALSE(compile_path_template("/v1/{id").ok());
  EXPECT_FALSE(compile_path_template("/v1/(.*)").ok());
  EXPECT_FALSE(compile_path_template("/v1/boxes/x{box_id}").ok());
  EXPECT_FALSE(compile_path_template("/v1/boxes/{box_id}.json").ok());
}

TEST(Router, ParametersHoldOnlyTheirRulesValues) {
  Router router;
  router.add(Route{Listener::kBoth, HttpMethod::kGet, "/v1/boxes/{box_id}/keys/{key_id}",
                   Access::anyone(), "k", false, BodyKind::kNone, std::nullopt, "", ok_handler});
  router.add(Route{Listener::kBoth, HttpMethod::kGet, "/v1/tokens/{token_id}", Access::anyone(),
                   "t", false, BodyKind::kNone, std::nullopt, "", ok_handler});
  router.add(Route{Listener::kBoth, HttpMethod::kGet, "/openapi.json", Access::anyone(), "o", false,
                   BodyKind::kNone, std::nullopt, "", ok_handler});
  const auto hit = [&](std::string_view path) {
    return router.match(Listener::kPublic, HttpMethod::kGet, path).route != nullptr;
  };
  auto m = router.match(Listener::kPublic, HttpMethod::kGet, "/v1/boxes/B-1_x/keys/12345");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.params.at("box_id"), "B-1_x");
  EXPECT_EQ(m.params.at("key_id"), "12345");
  EXPECT_TRUE(hit("/v1/boxes/" + std::string(32, 'a') + "/keys/1"));
  EXPECT_FALSE(hit("/v1/boxes/" + std::string(33, 'a') + "/keys/1"));  // too long
  EXPECT_FALSE(hit("/v1/boxes/b1/keys/123456"));                       // key_id: 5 digits
  EXPECT_FALSE(hit("/v1/boxes/b1/keys/1a"));
  EXPECT_FALSE(hit("/v1/boxes//keys/1"));  // empty parameter
  EXPECT_FALSE(hit("/v1/boxes/b.1/keys/1"));
  EXPECT_FALSE(hit("/v1/boxes/b1/keys/1/"));  // trailing slash
  EXPECT_FALSE(hit("/v1/boxes/b1/keys"));
  EXPECT_FALSE(hit("/v1/boxes/b1/keys/1/more"));
  EXPECT_FALSE(hit("v1/boxes/b1/keys/1"));
  EXPECT_TRUE(hit("/v1/tokens/0123456789abcdef"));
  EXPECT_FALSE(hit("/v1/tokens/0123456789ABCDEF"));  // lower-case hex only
  EXPECT_FALSE(hit("/v1/tokens/0123456789abcde"));
  EXPECT_TRUE(hit("/openapi.json"));
  EXPECT_FALSE(hit("/openapiXjson"));
  EXPECT_FALSE(hit("/openapi.json/"));
  EXPECT_FALSE(hit(""));
}

TEST(Router, MatchesMethodPathAndListener) {
  Router router;
  router.add(Route{Listener::kInternal, HttpMethod::kGet, "/internal/v1/boxes/{box_id}",
                   Access::staff(), "box.read", false, BodyKind::kNone, std::nullopt, "",
                   ok_handler});
  router.add(Route{Listener::kBoth, HttpMethod::kGet, "/healthz", Access::anyone(), "health", false,
                   BodyKind::kNone, std::nullopt, "", ok_handler});
  auto m = router.match(Listener::kInternal, HttpMethod::kGet, "/internal/v1/boxes/box-1");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.params.at("box_id"), "box-1");
  // Wrong listener: no route at all.
  EXPECT_EQ(router.match(Listener::kPublic, HttpMethod::kGet, "/internal/v1/boxes/box-1").route,
            nullptr);
  // Wrong method: no route, but the allowed methods are known (405).
  auto wrong = router.match(Listener::kInternal, HttpMethod::kPost, "/internal/v1/boxes/box-1");
  EXPECT_EQ(wrong.route, nullptr);
  EXPECT_EQ(wrong.allowed, std::vector<HttpMethod>{HttpMethod::kGet});
  // A bad id never reaches a handler.
  EXPECT_EQ(router.match(Listener::kInternal, HttpMethod::kGet, "/internal/v1/boxes/a b").route,
            nullptr);
  EXPECT_NE(router.match(Listener::kPublic, HttpMethod::kGet, "/healthz").route, nullptr);
  EXPECT_NE(router.match(Listener::kInternal, HttpMethod::kGet, "/healthz").route, nullptr);
}

TEST(RequestId, AcceptsSaneIncomingIdsOnly) {
  EXPECT_EQ(choose_request_id("abc-123_x.y"), "abc-123_x.y");
  EXPECT_EQ(choose_request_id("").size(), 32u);
  EXPECT_EQ(choose_request_id("has space").size(), 32u);
  EXPECT_EQ(choose_request_id(std::string(65, 'a')).size(), 32u);
  EXPECT_NE(choose_request_id(""), choose_request_id(""));
}

TEST(ErrorBody, HasCodeMessageDetailsAndRequestId) {
  const auto body = error_body(ApiError::not_found("box"), "rid1");
  EXPECT_EQ(body["error"]["code"], "not_found");
  EXPECT_EQ(body["error"]["message"], "box not found");
  EXPECT_TRUE(body["error"]["details"].is_object());
  EXPECT_EQ(body["request_id"], "rid1");
}

TEST(ApiErrorFrom, InternalErrorsDoNotLeakTheirMessage) {
  const auto e = ApiError::from(make_error(ErrorCode::kInternal, "password=secret in query"));
  EXPECT_EQ(e.status, 500);
  EXPECT_EQ(e.message.find("secret"), std::string::npos);
  EXPECT_EQ(ApiError::from(make_error(ErrorCode::kNotFound, "x")).status, 404);
  EXPECT_EQ(ApiError::from(make_error(ErrorCode::kUnavailable, "x")).status, 503);
}

TEST(Timestamps, FormatAndParseRoundTrip) {
  EXPECT_EQ(ts(1'767'225'600'123), "2026-01-01T00:00:00.123Z");
  EXPECT_EQ(parse_ts("2026-01-01T00:00:00.123Z"), 1'767'225'600'123);
  EXPECT_EQ(parse_ts("2026-01-01T00:00:00Z"), 1'767'225'600'000);
  EXPECT_EQ(parse_ts("2026-01-01T00:00:00+00:00"), 1'767'225'600'000);
  EXPECT_FALSE(parse_ts("2026-01-01").has_value());
  EXPECT_FALSE(parse_ts("2026-13-01T00:00:00Z").has_value());
  EXPECT_FALSE(parse_ts("2026-01-01T00:00:00+02:00").has_value());
}

TEST(LogLine, TextAndJsonFormats) {
  auto text = Log(spdlog::default_logger(), LogFormat::kText);
  EXPECT_EQ(text.format_line("request", {{"request_id", "r1"}, {"path", "/a b"}, {"status", 200}}),
            "request request_id=r1 path=\"/a b\" status=200");
  auto json = Log(spdlog::default_logger(), LogFormat::kJson);
  const auto line = "{" + json.format_line("request", {{"request_id", "r1"}}) + "}";
  const auto parsed = nlohmann::json::parse(line);
  EXPECT_EQ(parsed["msg"], "request");
  EXPECT_EQ(parsed["request_id"], "r1");
}

// stderr of this process goes into a pipe while the test runs.
class StderrCapture {
 public:
  StderrCapture() {
    EXPECT_EQ(::pipe(fds_), 0);
    saved_ = ::dup(STDERR_FILENO);
    ::dup2(fds_[1], STDERR_FILENO);
    ::fcntl(fds_[0], F_SETFL, O_NONBLOCK);
  }
  ~StderrCapture() {
    ::dup2(saved_, STDERR_FILENO);
    ::close(saved_);
    ::close(fds_[0]);
    ::close(fds_[1]);
  }
  // Everything written so far.
  std::string take() {
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fds_[0], buf, sizeof buf)) > 0)
      text_.append(buf, static_cast<std::size_t>(n));
    return text_;
  }

 private:
  int fds_[2] = {-1, -1};
  int saved_ = -1;
  std::string text_;
};

TEST(LogSink, InfoLinesArriveWithinAFlushIntervalAndWarningsAtOnceInOrder) {
  StderrCapture capture;
  {
    auto log = Log::to_stderr({"info", LogFormat::kText});
    log.info("first", {{"n", 1}});
    log.info("second", {{"n", 2}});
    log.warn("third", {{"n", 3}});  // written at once, with the two before it
    const auto now = capture.take();
    const auto first = now.find("info first n=1");
    const auto second = now.find("info second n=2");
    const auto third = now.find("warning third n=3");
    ASSERT_NE(first, std::string::npos) << now;
    ASSERT_NE(third, std::string::npos) << now;
    EXPECT_LT(first, second);
    EXPECT_LT(second, third);
    log.info("fourth");
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (capture.take().find("info fourth") == std::string::npos &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_NE(capture.take().find("info fourth"), std::string::npos) << "never flushed";
    log.info("fifth");
  }
  // The last line is written when the logger goes.
  EXPECT_NE(capture.take().find("info fifth"), std::string::npos);
}

}  // namespace
}  // namespace reclothes::controller
