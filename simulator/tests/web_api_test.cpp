// The box mode's HTTP JSON API, as the page (and a script) uses it: a SimBox running on its own
// thread behind a BoxWebServer on a free port, driven with an HTTP client.
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include "reclothes/common/qr_png.h"
#include "reclothes/firmware/scanner.h"
#include "reclothes/simulator/sim_box.h"
#include "reclothes/simulator/tokens.h"
#include "reclothes/simulator/web_server.h"
#include "test_util.h"

namespace reclothes::simulator {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

class WebApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    signer_ = testing::test_signer();
    ASSERT_NE(signer_, nullptr);
    SimBoxOptions o = testing::offline_box(dir_.path(), "box-0001", *signer_);
    o.auto_open = true;
    o.auto_open_delay = milliseconds(200);
    auto box = SimBox::create(o, clock_);
    ASSERT_TRUE(box.ok()) << box.error().to_string();
    box_ = std::move(box).value();
    ASSERT_TRUE(box_->power_on().ok());
    runner_ = std::make_unique<SimBoxRunner>(*box_);
    WebServerOptions w;
    w.port = 0;
    w.signer = signer_.get();
    auto web = BoxWebServer::start(*box_, tokens_, w);
    ASSERT_TRUE(web.ok()) << web.error().to_string();
    web_ = std::move(web).value();
    client_ = std::make_unique<httplib::Client>("127.0.0.1", web_->port());
    client_->set_read_timeout(std::chrono::seconds(5));
  }

  void TearDown() override {
    web_.reset();
    runner_.reset();
    box_.reset();
  }

  std::pair<int, json> post(const std::string& path, const json& body) {
    auto res = client_->Post(path, body.dump(), "application/json");
    EXPECT_TRUE(res) << path;
    if (!res) return {0, json()};
    return {res->status, json::parse(res->body, nullptr, false)};
  }

  json state() {
    auto res = client_->Get("/api/state");
    EXPECT_TRUE(res && res->status == 200);
    return res ? json::parse(res->body) : json();
  }

  // Polls the state until `ok` holds (real time: the box steps on its own thread).
  bool eventually(const std::function<bool(const json&)>& ok,
                  milliseconds timeout = milliseconds(3000)) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
      if (ok(state())) return true;
      std::this_thread::sleep_for(milliseconds(20));
    }
    return false;
  }

  static const json& compartment(const json& s, int id) {
    return s["compartments"][static_cast<std::size_t>(id - 1)];
  }

  static bool has_event(const json& s, const std::string& kind) {
    for (const json& e : s["events"]) {
      if (e["kind"] == kind) return true;
    }
    return false;
  }

  SystemClock clock_;
  testing::TempDir dir_ = testing::temp_dir();
  std::unique_ptr<TokenSigner> signer_;
  std::unique_ptr<SimBox> box_;
  std::unique_ptr<SimBoxRunner> runner_;
  PendingTokens tokens_;
  std::unique_ptr<BoxWebServer> web_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(WebApiTest, ThePageIsServedWithItsTestIds) {
  auto res = client_->Get("/");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_NE(res->get_header_value("Content-Type").find("text/html"), std::string::npos);
  for (const char* id : {"data-testid=\"token-input\"", "data-testid=\"present-btn\"",
                         "data-testid=\"pull-network-btn\"", "data-testid=\"pull-power-btn\"",
                         "data-testid=\"indicator-message\"", "data-testid=\"auto-open-toggle\""}) {
    EXPECT_NE(res->body.find(id), std::string::npos) << id;
  }
}

TEST_F(WebApiTest, StateDescribesTheCabinet) {
  const json s = state();
  EXPECT_EQ(s["box_id"], "box-0001");
  EXPECT_TRUE(s["powered"].get<bool>());
  ASSERT_EQ(s["compartments"].size(), 4u);
  EXPECT_EQ(compartment(s, 1)["size"], "S");
  EXPECT_EQ(compartment(s, 1)["state"], "free");
  EXPECT_FALSE(compartment(s, 1)["unlocked"].get<bool>());
  EXPECT_FALSE(s["network"]["sync_enabled"].get<bool>());
  EXPECT_TRUE(s["can_mint"].get<bool>());
  EXPECT_TRUE(eventually([](const json& st) { return has_event(st, "boot"); }));
}

TEST_F(WebApiTest, PresentingAValidTokenUnlocksThenTheCustomerOpensAndClosing) {
  auto [status, report] =
      post("/api/present", {{"token", testing::courier_token(*signer_, clock_, 2)},
                            {"rotation_deg", 12},
                            {"noise", 10}});
  ASSERT_EQ(status, 200) << report.dump();
  EXPECT_TRUE(report["camera_sees_code"].get<bool>());
  EXPECT_TRUE(eventually([](const json& s) {
    return compartment(s, 2)["state"] == "unlocked" && compartment(s, 2)["unlocked"] == true;
  })) << state().dump();
  // Auto-open: 200 ms after the pulse the door springs open.
  EXPECT_TRUE(eventually([](const json& s) {
    return compartment(s, 2)["state"] == "open" && compartment(s, 2)["door_open"] == true;
  })) << state().dump();
  EXPECT_EQ(state()["indicator"]["message"], "Open door 2");

  auto [closed, body] = post("/api/compartments/2/door", {{"open", false}});
  EXPECT_EQ(closed, 200) << body.dump();
  EXPECT_TRUE(eventually([](const json& s) {
    return has_event(s, "access_completed") && compartment(s, 2)["state"] == "occupied";
  })) << state().dump();
  auto events = client_->Get("/api/events?after=0&limit=50");
  ASSERT_TRUE(events);
  const json listed = json::parse(events->body);
  std::vector<std::string> kinds;
  for (const json& e : listed["events"]) kinds.push_back(e["kind"]);
  EXPECT_EQ(kinds, (std::vector<std::string>{"boot", "unlocked", "door_opened", "door_closed",
                                             "access_completed"}));
}

TEST_F(WebApiTest, AForgedTokenIsRejectedAndTheDoorStaysLocked) {
  auto forger = TokenSigner::generate(1);
  ASSERT_TRUE(forger.ok());
  auto [status, report] =
      post("/api/present", {{"token", testing::courier_token(*forger, clock_, 3)}});
  ASSERT_EQ(status, 200);
  EXPECT_TRUE(report["camera_sees_code"].get<bool>());
  EXPECT_TRUE(eventually([](const json& s) {
    return s["indicator"].is_object() && s["indicator"]["pattern"] == "rejected";
  })) << state().dump();
  const json s = state();
  EXPECT_EQ(s["indicator"]["message"], "Code not valid");
  EXPECT_EQ(compartment(s, 3)["state"], "free");
  EXPECT_FALSE(compartment(s, 3)["unlocked"].get<bool>());
  EXPECT_FALSE(compartment(s, 3)["door_open"].get<bool>());
  EXPECT_EQ(s["pulses"], 0);
  EXPECT_TRUE(box_->pulses().empty());
}

TEST_F(WebApiTest, APictureOfACourierQrCodeHeldToTheCameraUnlocks) {
  // What the console's courier app shows: the token as a QR PNG (here rendered directly).
  auto png = reclothes::render_qr_png(testing::courier_token(*signer_, clock_, 2), 6);
  ASSERT_TRUE(png.ok());
  auto res = client_->Post("/api/camera", *png, "image/png");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_TRUE(json::parse(res->body)["camera_sees_code"].get<bool>());
  EXPECT_TRUE(eventually([](const json& s) { return compartment(s, 2)["unlocked"] == true; }))
      << state().dump();
  // Not a picture: refused, and nothing is held to the camera.
  auto text = client_->Post("/api/camera", "RC1:HELLO", "text/plain");
  ASSERT_TRUE(text);
  EXPECT_EQ(text->status, 400);
  auto garbage = client_->Post("/api/camera", "\x89PNG not really", "image/png");
  ASSERT_TRUE(garbage);
  EXPECT_EQ(garbage->status, 400);
}

TEST_F(WebApiTest, TheLastPresentedFrameIsAPng) {
  EXPECT_EQ(client_->Get("/api/frame.png")->status, 404);
  post("/api/present", {{"token", "RC1:HELLO"}});
  auto res = client_->Get("/api/frame.png");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "image/png");
  EXPECT_EQ(res->body.substr(1, 3), "PNG");
}

TEST_F(WebApiTest, TheBoxsPrintedCodeIsShownAndItsOwnCameraRefusesIt) {
  EXPECT_EQ(state()["box_code"], "reclothes:box:box-0001");
  auto res = client_->Get("/api/box-code.png");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "image/png");
  const std::vector<std::uint8_t> bytes(res->body.begin(), res->body.end());
  auto codes = firmware::scan_image(bytes, "box-code.png");
  ASSERT_TRUE(codes.ok()) << codes.error().to_string();
  EXPECT_EQ(*codes, std::vector<std::string>{"reclothes:box:box-0001"});
  auto page = client_->Get("/");
  ASSERT_TRUE(page);
  EXPECT_NE(page->body.find("data-testid=\"box-code\""), std::string::npos);

  // Held to the box's own camera it is refused as the box's code, not taken for a token.
  auto [status, report] = post("/api/present", {{"token", "reclothes:box:box-0001"}});
  ASSERT_EQ(status, 200) << report.dump();
  EXPECT_TRUE(eventually([](const json& st) {
    return st["indicator"].is_object() && st["indicator"]["message"] == "Box code: use the app";
  })) << state().dump();
  EXPECT_EQ(state()["pulses"], 0);
}

TEST_F(WebApiTest, DoorsFillEnvironmentTamperAndJamAreDrivenThroughTheApi) {
  EXPECT_EQ(post("/api/compartments/4/door", {{"open", true}}).first, 200);
  EXPECT_EQ(post("/api/compartments/1/fill", {{"percent", 80}}).first, 200);
  EXPECT_EQ(post("/api/environment", {{"temperature_c", 31.5}, {"humidity_percent", 70}}).first,
            200);
  EXPECT_EQ(post("/api/tamper", {{"on", true}}).first, 200);
  EXPECT_EQ(post("/api/compartments/2/jam", {{"on", true}}).first, 200);
  EXPECT_TRUE(eventually([](const json& s) {
    return compartment(s, 4)["door_open"] == true && compartment(s, 4)["state"] == "forced" &&
           compartment(s, 1)["fill_percent"] == 80 && s["environment"]["temperature_c"] == 31.5 &&
           s["tampered"] == true && compartment(s, 2)["jammed"] == true && has_event(s, "tamper");
  })) << state().dump();
}

TEST_F(WebApiTest, BadRequestsGetAClearErrorNotACrash) {
  auto bad_json = client_->Post("/api/present", "{not json", "application/json");
  ASSERT_TRUE(bad_json);
  EXPECT_EQ(bad_json->status, 400);
  EXPECT_EQ(json::parse(bad_json->body)["error"]["code"], "invalid_argument");

  auto [missing, e1] = post("/api/present", json::object());
  EXPECT_EQ(missing, 400);
  EXPECT_NE(e1["error"]["message"].get<std::string>().find("token"), std::string::npos);

  auto [no_such, e2] = post("/api/compartments/9/door", {{"open", true}});
  EXPECT_EQ(no_such, 400);
  EXPECT_NE(e2["error"]["message"].get<std::string>().find("compartment 9 does not exist"),
            std::string::npos);

  auto [wrong_type, e3] = post("/api/compartments/1/fill", {{"percent", "lots"}});
  EXPECT_EQ(wrong_type, 400);
  auto [out_of_range, e4] = post("/api/compartments/1/fill", {{"percent", 101}});
  EXPECT_EQ(out_of_range, 400);
  auto [too_blurry, e5] = post("/api/present", {{"token", "x"}, {"blur", 50}});
  EXPECT_EQ(too_blurry, 400);
  EXPECT_NE(e5["error"]["message"].get<std::string>().find("blur"), std::string::npos);
  auto [bad_op, e6] = post("/api/commands", {{"op", "explode"}});
  EXPECT_EQ(bad_op, 400);
  EXPECT_EQ(client_->Get("/api/nothing-here")->status, 404);
}

TEST_F(WebApiTest, PendingTokensAreListedWithTheirClaimsAndCanBeRemoved) {
  const std::string token = testing::courier_token(*signer_, clock_, 1);
  auto [status, added] = post("/api/tokens", {{"token", token}, {"label", "for the courier"}});
  ASSERT_EQ(status, 200);
  json list = state()["pending_tokens"];
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["label"], "for the courier");
  EXPECT_EQ(list[0]["summary"]["action"], "courier_load");
  EXPECT_EQ(list[0]["summary"]["compartments"], json::array({1}));
  auto removed = client_->Delete("/api/tokens/" + std::to_string(added["id"].get<int>()));
  ASSERT_TRUE(removed);
  EXPECT_EQ(removed->status, 200);
  EXPECT_TRUE(state()["pending_tokens"].empty());
}

TEST_F(WebApiTest, MintingACustomerTokenAlsoReservesItsCompartment) {
  auto [status, minted] = post("/api/mint", {{"action", "deposit"}, {"compartments", "3"}});
  ASSERT_EQ(status, 200) << minted.dump();
  EXPECT_TRUE(eventually([](const json& s) { return compartment(s, 3)["state"] == "reserved"; }));
  post("/api/present", {{"token", minted["token"]}});
  EXPECT_TRUE(eventually([](const json& s) { return compartment(s, 3)["state"] == "open"; }))
      << state().dump();
}

TEST_F(WebApiTest, ControllerCommandsGoThroughTheMailbox) {
  auto [status, body] = post("/api/commands", {{"op", "open"}, {"compartment", 4}});
  ASSERT_EQ(status, 200) << body.dump();
  EXPECT_TRUE(eventually([](const json& s) {
    return compartment(s, 4)["door_open"] == true && !s["command_results"].empty() &&
           s["command_results"][0]["code"] == "ok";
  })) << state().dump();
}

TEST_F(WebApiTest, PullingThePowerStopsTheFirmwareAndRestoringItRecoversFromTheJournal) {
  ASSERT_TRUE(eventually([](const json& s) { return has_event(s, "boot"); }));
  EXPECT_EQ(post("/api/power", {{"on", false}}).first, 200);
  json off = state();
  EXPECT_FALSE(off["powered"].get<bool>());
  EXPECT_EQ(compartment(off, 1)["state"], "off");
  // A door forced while the box is dark is found at start-up.
  EXPECT_EQ(post("/api/compartments/1/door", {{"open", true}}).first, 200);
  EXPECT_EQ(post("/api/power", {{"on", true}}).first, 200);
  EXPECT_TRUE(eventually([](const json& s) {
    int boots = 0;
    for (const json& e : s["events"]) boots += e["kind"] == "boot";
    return s["powered"] == true && boots == 2 && compartment(s, 1)["state"] == "forced";
  })) << state().dump();
  auto [again, e] = post("/api/power", {{"on", true}});
  EXPECT_EQ(again, 409);
}

TEST_F(WebApiTest, AutoOpenCanBeSwitchedOff) {
  EXPECT_EQ(post("/api/auto-open", {{"enabled", false}}).first, 200);
  EXPECT_FALSE(state()["auto_open"]["enabled"].get<bool>());
  post("/api/present", {{"token", testing::courier_token(*signer_, clock_, 2)}});
  ASSERT_TRUE(eventually([](const json& s) { return compartment(s, 2)["state"] == "unlocked"; }));
  std::this_thread::sleep_for(milliseconds(500));
  EXPECT_FALSE(compartment(state(), 2)["door_open"].get<bool>());
}

}  // namespace
}  // namespace reclothes::simulator

namespace reclothes::simulator {
namespace {

// The page's state of a fresh box-0042 whose web server lists the tokens `source_url` gives.
json state_with_token_source(const std::string& source_url) {
  SystemClock clock;
  const testing::TempDir dir = testing::temp_dir();
  const auto signer = testing::test_signer();
  if (signer == nullptr) return json();
  auto box = SimBox::create(testing::offline_box(dir.path(), "box-0042", *signer), clock);
  EXPECT_TRUE(box.ok()) << box.error().to_string();
  if (!box.ok()) return json();
  PendingTokens tokens;
  auto source = make_http_token_source(source_url);
  WebServerOptions w;
  w.port = 0;
  w.token_source = source.get();
  auto web = BoxWebServer::start(**box, tokens, w);
  EXPECT_TRUE(web.ok()) << web.error().to_string();
  return web.ok() ? (*web)->state_json() : json();
}

// The hook for the controller: tokens issued for the box, fetched from a URL.
TEST(WebTokenSourceTest, TokensFromTheSourceAreListedBesideThePastedOnes) {
  httplib::Server controller;
  std::string asked_path;
  controller.Get(
      R"(/v1/boxes/([\w-]+)/tokens)", [&](const httplib::Request& req, httplib::Response& res) {
        asked_path = req.path;
        res.set_content(R"({"tokens": [{"token": "RC1:NOT-A-REAL-ONE", "label": "deposit 7"}]})",
                        "application/json");
      });
  const int port = controller.bind_to_any_port("127.0.0.1");
  std::thread serving([&] { controller.listen_after_bind(); });
  while (!controller.is_running()) std::this_thread::sleep_for(milliseconds(2));

  const json state = state_with_token_source("http://127.0.0.1:" + std::to_string(port) +
                                             "/v1/boxes/{box_id}/tokens");
  ASSERT_EQ(state["pending_tokens"].size(), 1u) << state.dump();
  EXPECT_EQ(state["pending_tokens"][0]["label"], "deposit 7");
  EXPECT_EQ(state["pending_tokens"][0]["source"], "controller");
  // Unreadable as a token: listed with the reason, not hidden.
  EXPECT_TRUE(state["pending_tokens"][0]["summary"].is_null());
  EXPECT_NE(state["pending_tokens"][0]["problem"].get<std::string>().find("not a token"),
            std::string::npos);
  EXPECT_EQ(asked_path, "/v1/boxes/box-0042/tokens");
  controller.stop();
  serving.join();
}

TEST(WebTokenSourceTest, AnUnreachableSourceIsReportedOnThePage) {
  const json state = state_with_token_source("http://127.0.0.1:1/tokens");
  EXPECT_TRUE(state["pending_tokens"].empty());
  EXPECT_NE(state["token_source_error"].get<std::string>().find("token source"), std::string::npos);
}

}  // namespace
}  // namespace reclothes::simulator
