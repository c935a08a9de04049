// Sync in this process against a real Mosquitto (tests/support), with the test controller on the
// other side. The journal is real; this test plays the main loop by appending events to it.
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "reclothes/common/clock.h"
#include "reclothes/firmware/journal.h"
#include "reclothes/firmware/mailbox.h"
#include "reclothes/firmware/sync.h"
#include "reclothes/testsupport/mosquitto.h"
#include "reclothes/testsupport/process.h"
#include "sync_fixture.h"
#include "test_controller.h"

namespace reclothes::firmware {
namespace {

using namespace std::chrono_literals;
using testing::TestController;
using testsupport::MosquittoServer;

constexpr char kBox[] = "box-sync-1";

class SyncBrokerTest : public testing::SyncFixture {
 protected:
  void SetUp() override {
    if (std::getenv("RECLOTHES_TEST_DEBUG") != nullptr) spdlog::set_level(spdlog::level::debug);
    ASSERT_NO_FATAL_FAILURE(make_dir_and_journal("reclothes-sync-"));
    auto broker = MosquittoServer::start();
    ASSERT_TRUE(broker.ok()) << broker.error().to_string();
    broker_ = std::move(broker).value();
  }

  SyncOptions options() const {
    SyncOptions o = quick_options(broker_->uri(), kBox);
    o.engine.batch_events = 16;
    o.engine.window_events = 64;
    o.engine.ack_timeout = 2s;
    return o;
  }

  void start_sync() { SyncFixture::start_sync(options()); }

  std::unique_ptr<TestController> controller() {
    auto c = std::make_unique<TestController>(
        TestController::Options{.uri = broker_->uri(), .box_id = kBox});
    EXPECT_TRUE(c->connect()) << "test controller could not connect";
    return c;
  }

  void append(int n) {
    append_events(n, [&](int i) {
      msg::Event e;
      e.kind = (i % 2 == 0) ? msg::EventKind::kDoorOpened : msg::EventKind::kDoorClosed;
      e.at_ms = clock_.wall_ms();
      e.compartment = 1 + i % 4;
      if (e.kind == msg::EventKind::kDoorClosed) e.occupied = (i % 3 == 0);
      return e;
    });
  }

  // Journal backlog 0, polled (the sync thread marks acks).
  bool wait_backlog_zero(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (journal_->backlog().value_or(1) == 0) return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }

  static void expect_exactly(const std::map<std::uint64_t, msg::Event>& applied, std::uint64_t n) {
    ASSERT_EQ(applied.size(), n);
    std::uint64_t expected = 1;
    for (const auto& [seq, event] : applied) {
      ASSERT_EQ(seq, expected) << "missing seq " << expected;
      ASSERT_EQ(event.seq, seq);
      ++expected;
    }
  }
};

TEST_F(SyncBrokerTest, WithoutABrokerEventsAreJournaledAndDrainInOrderWhenItAppears) {
  // The controller's session exists before the outage, as in production.
  auto ctl = controller();
  ASSERT_TRUE(broker_->stop().ok());

  start_sync();
  append(300);
  std::this_thread::sleep_for(300ms);  // several connect attempts fail meanwhile
  EXPECT_FALSE(sync_->connected());
  EXPECT_EQ(journal_->backlog().value_or(0), 300u) << "the journal is the buffer";
  EXPECT_EQ(sync_->stats().events_sent, 0u);

  ASSERT_TRUE(broker_->restart().ok());
  ASSERT_TRUE(ctl->wait_applied(300, 20s)) << "applied only up to " << ctl->applied_upto();
  ASSERT_TRUE(wait_backlog_zero(10s)) << "backlog " << journal_->backlog().value_or(0);
  EXPECT_EQ(journal_->acked_upto().value_or(0), 300u);
  expect_exactly(ctl->applied(), 300);
  // Arrival order is seq order (the first copy of each seq arrived after its predecessor).
  std::uint64_t highest = 0;
  for (const msg::Event& e : ctl->received()) {
    if (e.seq > highest) {
      EXPECT_EQ(e.seq, highest + 1) << "a seq arrived before its predecessor";
      highest = e.seq;
    }
  }
  EXPECT_TRUE(ctl->problems().empty()) << ctl->problems().front();
  EXPECT_TRUE(sync_->connected());
}

TEST_F(SyncBrokerTest, BrokerStoppedAndRestartedDuringHundredEventsLosesNothing) {
  auto ctl = controller();
  start_sync();
  ASSERT_TRUE(ctl->wait_until([&] { return sync_->connected(); }, 10s));
  for (int i = 1; i <= 100; ++i) {
    append(1);
    if (i == 30) {
      ASSERT_TRUE(broker_->stop().ok());
    }
    if (i == 70) {
      ASSERT_TRUE(broker_->restart().ok());
    }
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_TRUE(ctl->wait_applied(100, 20s)) << "applied only up to " << ctl->applied_upto();
  ASSERT_TRUE(wait_backlog_zero(10s)) << "backlog " << journal_->backlog().value_or(0);
  expect_exactly(ctl->applied(), 100);
  EXPECT_TRUE(ctl->problems().empty()) << ctl->problems().front();
  // The counters are a copy made by the worker after each pass.
  ASSERT_TRUE(ctl->wait_until([&] { return sync_->stats().acked_upto == 100; }, 2s));
  const SyncStats stats = sync_->stats();
  EXPECT_GE(stats.connects, 2u);
  EXPECT_GE(stats.disconnects, 1u);
}

TEST_F(SyncBrokerTest, WhoeverSeesTheConnectionFlagSeesItCountedInTheStats) {
  // A reader (the simulator's box view, the daemon's status) reads connected() and then stats():
  // every rising or falling edge of the flag it sees must already be in the counters, or a
  // connected box shows a connect count that is one behind.
  std::atomic<bool> done{false};
  std::atomic<int> rises{0};
  std::atomic<int> falls{0};
  std::atomic<int> violations{0};
  std::string first_violation;
  start_sync();
  std::thread reader([&] {
    bool was = false;
    while (!done) {
      const bool now = sync_->connected();
      const SyncStats stats = sync_->stats();
      if (now && !was) ++rises;
      if (!now && was) ++falls;
      was = now;
      if (stats.connects < static_cast<std::uint64_t>(rises.load()) ||
          stats.disconnects < static_cast<std::uint64_t>(falls.load())) {
        if (violations++ == 0) {
          first_violation = "flag " + std::to_string(now) + " after " + std::to_string(rises) +
                            " rises and " + std::to_string(falls) + " falls, stats " +
                            std::to_string(stats.connects) + " connects and " +
                            std::to_string(stats.disconnects) + " disconnects";
        }
      }
      std::this_thread::yield();
    }
  });
  const auto wait_flag = [&](bool want) {
    const auto until = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < until) {
      if (sync_->connected() == want) return true;
      std::this_thread::sleep_for(5ms);
    }
    return false;
  };
  const bool up = wait_flag(true);
  const bool stopped = up && broker_->stop().ok();
  const bool down = stopped && wait_flag(false);
  const bool restarted = down && broker_->restart().ok();
  const bool up_again = restarted && wait_flag(true);
  std::this_thread::sleep_for(50ms);
  done = true;
  reader.join();
  ASSERT_TRUE(up && stopped && down && restarted && up_again)
      << up << stopped << down << restarted << up_again;
  EXPECT_GE(rises.load(), 2);
  EXPECT_GE(falls.load(), 1);
  EXPECT_EQ(violations.load(), 0) << first_violation;
}

TEST_F(SyncBrokerTest, NoAckMeansResendAfterTheAckTimeout) {
  // A controller that records but never acks: the box resends from seq 1 after each timeout.
  auto ctl = std::make_unique<TestController>(TestController::Options{
      .uri = broker_->uri(), .box_id = kBox, .client_id = "mute-controller", .ack = false});
  ASSERT_TRUE(ctl->connect());
  start_sync();
  append(10);
  ASSERT_TRUE(ctl->wait_until([&] { return ctl->received().size() >= 20; }, 10s))
      << "received " << ctl->received().size();
  EXPECT_GE(sync_->stats().rewinds, 1u);
  EXPECT_EQ(journal_->backlog().value_or(0), 10u);
  EXPECT_TRUE(ctl->problems().empty()) << ctl->problems().front();
}

// The number of threads of this process (/proc/self/status).
int thread_count() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
  }
  return -1;
}

TEST_F(SyncBrokerTest, PolledModeSyncsOnTheCallersThreadWithoutOneOfItsOwn) {
  // The simulator's fleet: the owner polls, Paho's callbacks only call `wake`.
  auto ctl = controller();
  auto created = Sync::create(options(), *journal_, mailbox_, clock_);
  ASSERT_TRUE(created.ok()) << created.error().to_string();
  sync_ = std::move(created).value();
  std::atomic<int> wakes{0};
  const int threads_before = thread_count();
  ASSERT_TRUE(sync_->start_polled([&] { ++wakes; }).ok());
  const Status again = sync_->start();
  ASSERT_FALSE(again.ok()) << "one mode per Sync";
  EXPECT_EQ(again.error().code, ErrorCode::kFailedPrecondition);
  append(50);
  const auto poll_until = [&](auto done) {
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      if (!sync_->poll()) std::this_thread::sleep_for(5ms);
    }
    return true;
  };
  ASSERT_TRUE(poll_until([&] { return journal_->backlog().value_or(1) == 0; }))
      << "applied up to " << ctl->applied_upto();
  expect_exactly(ctl->applied(), 50);
  EXPECT_TRUE(sync_->connected());
  EXPECT_EQ(thread_count(), threads_before);

  // An ack arriving between polls is noticed through wake and has_work, and the next poll
  // applies it.
  append(1);
  ASSERT_TRUE(poll_until([&] { return sync_->stats().events_sent >= 51; }));
  const int wakes_before = wakes.load();
  ASSERT_TRUE(ctl->wait_until([&] { return sync_->has_work(); }, 10s));
  EXPECT_GT(wakes.load(), wakes_before);
  ASSERT_TRUE(poll_until([&] { return journal_->backlog().value_or(1) == 0; }));

  // A fleet's stop: the goodbye goes out at once, the wait comes later.
  sync_->begin_stop();
  EXPECT_FALSE(sync_->poll()) << "nothing is done after the stop began";
  ASSERT_TRUE(ctl->wait_status(false, 5s));
  sync_->stop();
  EXPECT_FALSE(sync_->connected());
}

TEST_F(SyncBrokerTest, StatusIsOnlineWhileConnectedAndOfflineAfterACleanStop) {
  auto ctl = controller();
  start_sync();
  ASSERT_TRUE(ctl->wait_until([&] { return !ctl->statuses().empty(); }, 10s));
  EXPECT_TRUE(ctl->statuses().back().online);
  sync_->stop();
  ASSERT_TRUE(ctl->wait_until([&] { return !ctl->statuses().back().online; }, 5s));
  EXPECT_EQ(ctl->statuses().back().firmware_version, "test");
}

}  // namespace
}  // namespace reclothes::firmware
