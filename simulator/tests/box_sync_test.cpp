// One simulated box with the firmware's real Sync through the NetworkLink, against a real
// Mosquitto: pulling the network or the power is a real connection loss (the broker publishes the
// box's last will), and the box reconnects by itself.
#include <gtest/gtest.h>
#include <mqtt/async_client.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "reclothes/common/messages.h"
#include "reclothes/simulator/scenario.h"
#include "reclothes/simulator/sim_box.h"
#include "reclothes/testsupport/mosquitto.h"
#include "test_util.h"

namespace reclothes::simulator {
namespace {

using std::chrono::milliseconds;

// Watches the box's retained status topic.
class StatusWatcher {
 public:
  explicit StatusWatcher(const std::string& uri)
      : client_(uri, "status-watcher", mqtt::create_options(MQTTVERSION_3_1_1)) {
    client_.set_message_callback([this](mqtt::const_message_ptr m) {
      auto env = msg::parse(m->get_payload_str());
      if (!env.ok()) return;
      if (const auto* s = std::get_if<msg::Status>(&env->body)) {
        std::lock_guard lock(mu_);
        online_ = s->online;
        cv_.notify_all();
      }
    });
    client_.connect()->wait();
    client_.subscribe(msg::topic("box-0001", msg::Topic::kStatus), 1)->wait();
  }
  ~StatusWatcher() {
    try {
      client_.disconnect()->wait();
    } catch (const mqtt::exception&) {
    }
  }
  bool wait_for(bool online, milliseconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return online_ == online; });
  }

 private:
  mqtt::async_client client_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<bool> online_;
};

class BoxSyncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto broker = testsupport::MosquittoServer::start();
    ASSERT_TRUE(broker.ok()) << broker.error().to_string();
    broker_ = std::move(broker).value();
    auto signer = TokenSigner::generate(1);
    ASSERT_TRUE(signer.ok());
    SimBoxOptions o;
    o.config = testing::box_config(dir_.path(), "box-0001", signer->public_pem().value(), 4,
                                   broker_->uri());
    o.reconnect_min = milliseconds(200);
    o.reconnect_max = milliseconds(500);
    auto box = SimBox::create(o, clock_);
    ASSERT_TRUE(box.ok()) << box.error().to_string();
    box_ = std::move(box).value();
    ASSERT_TRUE(box_->power_on().ok());
    runner_ = std::make_unique<SimBoxRunner>(*box_);
  }
  void TearDown() override {
    runner_.reset();
    box_.reset();
  }

  bool connected_within(bool want, milliseconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
      if (box_->view().network.connected == want) return true;
      std::this_thread::sleep_for(milliseconds(20));
    }
    return false;
  }

  SystemClock clock_;
  testing::TempDir dir_ = testing::temp_dir();
  std::unique_ptr<testsupport::MosquittoServer> broker_;
  std::unique_ptr<SimBox> box_;
  std::unique_ptr<SimBoxRunner> runner_;
};

TEST_F(BoxSyncTest, PullingTheNetworkIsAConnectionLossTheBrokerAndTheBoxNotice) {
  StatusWatcher status(broker_->uri());
  ASSERT_TRUE(connected_within(true, std::chrono::seconds(5)));
  ASSERT_TRUE(status.wait_for(true, std::chrono::seconds(5)));

  ASSERT_TRUE(box_->pull_network().ok());
  EXPECT_TRUE(status.wait_for(false, std::chrono::seconds(3))) << "no last will from the broker";
  EXPECT_TRUE(connected_within(false, std::chrono::seconds(3)));
  EXPECT_FALSE(box_->view().network.link_up);
  // Offline, the box keeps journaling.
  ASSERT_TRUE(box_->open_door(1).ok());
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_GT(box_->view().journal.backlog, 1u);

  ASSERT_TRUE(box_->restore_network().ok());
  EXPECT_TRUE(connected_within(true, std::chrono::seconds(5)));
  EXPECT_TRUE(status.wait_for(true, std::chrono::seconds(3)));
  EXPECT_GE(box_->view().network.stats.connects, 2u);
}

TEST_F(BoxSyncTest, PullingThePowerLeavesTheLastWillAndPowerOnReconnects) {
  StatusWatcher status(broker_->uri());
  ASSERT_TRUE(status.wait_for(true, std::chrono::seconds(5)));
  box_->pull_power();
  EXPECT_TRUE(status.wait_for(false, std::chrono::seconds(3)));
  ASSERT_TRUE(box_->power_on().ok());
  EXPECT_TRUE(status.wait_for(true, std::chrono::seconds(5)));
  EXPECT_TRUE(connected_within(true, std::chrono::seconds(5)));
}

TEST(BoxSyncScenarioTest, TheNetworkOutageScenarioPassesAgainstARealBroker) {
  auto broker = testsupport::MosquittoServer::start();
  ASSERT_TRUE(broker.ok()) << broker.error().to_string();
  auto scenario =
      load_scenario(std::filesystem::path(RECLOTHES_SIM_SCENARIOS_DIR) / "network_outage.yaml");
  ASSERT_TRUE(scenario.ok()) << scenario.error().message;
  ScenarioRunOptions o;
  o.vars["broker"] = (*broker)->uri();
  const ScenarioReport r = run_scenario(*scenario, o);
  std::string log;
  for (const std::string& line : r.log) log += line + "\n";
  EXPECT_TRUE(r.passed) << log << r.failure;
}

}  // namespace
}  // namespace reclothes::simulator
