// Fleet mode against a real Mosquitto: 50 boxes in this process connect, journal synthetic visits,
// get their events acked, and the summary adds up.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "reclothes/simulator/fleet.h"
#include "reclothes/testsupport/mosquitto.h"

namespace reclothes::simulator {
namespace {

using std::chrono::milliseconds;

// The fleet's summary once done(summary) holds, or after 15 s.
template <typename Done>
FleetSummary summary_when(Fleet& fleet, Done done) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  FleetSummary s;
  while (std::chrono::steady_clock::now() < until) {
    s = fleet.summary();
    if (done(s)) break;
    std::this_thread::sleep_for(milliseconds(100));
  }
  return s;
}

TEST(FleetSmokeTest, FiftyBoxesConnectJournalAndGetAcked) {
  auto broker = testsupport::MosquittoServer::start();
  ASSERT_TRUE(broker.ok()) << broker.error().to_string();

  FleetOptions o;
  o.boxes = 50;
  o.broker_uri = (*broker)->uri();
  o.compartments = 8;
  o.events_per_minute = 120;  // a visit every 2 s per box on average
  o.threads = 2;
  o.step_hz = 5;
  o.state_interval_s = 5;
  o.ack = true;
  auto fleet = Fleet::create(o);
  ASSERT_TRUE(fleet.ok()) << fleet.error().to_string();
  ASSERT_TRUE((*fleet)->start().ok());

  const FleetSummary s = summary_when(**fleet, [](const FleetSummary& x) {
    return x.connected == 50 && x.visits_completed >= 20 && x.events_acked >= 50 + 4 * 20;
  });
  EXPECT_EQ(s.connected, 50u) << to_json(s).dump(2);
  EXPECT_GE(s.visits_completed, 20u) << to_json(s).dump(2);
  // Pooled: each box's Sync is polled by the 2 workers, no thread per box (this process: the test,
  // the workers, Paho's two, the acker, gtest's and the sanitizers' own; far fewer than 50).
  EXPECT_LT(s.resources.threads, 20) << to_json(s).dump(2);
  const std::string progress = (*fleet)->progress_line();
  EXPECT_NE(progress.find("boxes=50/50 connected=50"), std::string::npos) << progress;

  const FleetSummary end = (*fleet)->stop();
  const nlohmann::json j = to_json(end);
  EXPECT_EQ(end.boxes, 50u);
  EXPECT_EQ(end.boxes_failed, 0u) << end.last_error;
  EXPECT_EQ(end.errors, 0u) << end.last_error;
  // Every box journaled its boot; every completed visit is four events.
  EXPECT_GE(end.events_journaled, 50 + 4 * end.visits_completed);
  EXPECT_GT(end.events_acked, 50u);
  EXPECT_LE(end.events_acked, end.events_journaled);
  EXPECT_EQ(end.backlog, end.events_journaled - end.events_acked);
  EXPECT_GE(end.acker_events, end.events_acked) << "acks without events?";
  EXPECT_GT(end.state_reports, 50u);  // every box reports at least on connect
  EXPECT_GT(end.steps, 50u * 5u);
  EXPECT_GT(end.resources.peak_rss_kb, 0u);
  EXPECT_GT(end.rss_per_box_kb, 0.0);
  EXPECT_GT(end.cpu_percent, 0.0);
  for (const char* key : {"boxes", "connected", "visits", "events", "resources", "steps_per_s"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_TRUE(j["resources"].contains("rss_per_box_kb"));
  // Stopping twice is harmless and returns the same summary.
  EXPECT_EQ((*fleet)->stop().events_journaled, end.events_journaled);
}

// --events-per-minute 0 is documented as "heartbeats only": the boxes connect, boot and report
// their state, and nobody visits (an exponential gap of rate 0 once overflowed under UBSan).
TEST(FleetSmokeTest, ZeroEventsPerMinuteIsHeartbeatsOnly) {
  auto broker = testsupport::MosquittoServer::start();
  ASSERT_TRUE(broker.ok()) << broker.error().to_string();

  FleetOptions o;
  o.boxes = 5;
  o.broker_uri = (*broker)->uri();
  o.compartments = 4;
  o.events_per_minute = 0;  // heartbeats only
  o.threads = 1;
  o.step_hz = 20;
  o.ack = true;
  auto fleet = Fleet::create(o);
  ASSERT_TRUE(fleet.ok()) << fleet.error().to_string();
  ASSERT_TRUE((*fleet)->start().ok());

  const FleetSummary s = summary_when(**fleet, [](const FleetSummary& x) {
    return x.connected == 5 && x.state_reports >= 5 && x.events_acked >= 5;
  });
  const FleetSummary end = (*fleet)->stop();
  EXPECT_EQ(s.connected, 5u) << to_json(s).dump(2);
  EXPECT_GE(s.state_reports, 5u) << to_json(s).dump(2);
  EXPECT_EQ(end.boxes_failed, 0u) << end.last_error;
  EXPECT_EQ(end.errors, 0u) << end.last_error;
  EXPECT_EQ(end.visits_completed, 0u);
  EXPECT_EQ(end.events_journaled, 5u) << "each box journals its boot, and nothing else";
  EXPECT_EQ(end.events_acked, 5u);
}

TEST(FleetSmokeTest, BadOptionsAreRefusedBeforeAnythingRuns) {
  FleetOptions o;
  o.broker_uri = "tcp://127.0.0.1:1883";
  o.boxes = 0;
  EXPECT_FALSE(Fleet::create(o).ok());
  o.boxes = 1;
  o.sync_mode = "carrier-pigeon";
  EXPECT_FALSE(Fleet::create(o).ok());
  o.sync_mode = "pooled";
  o.broker_uri = "not a uri";
  EXPECT_FALSE(Fleet::create(o).ok());
}

}  // namespace
}  // namespace reclothes::simulator
