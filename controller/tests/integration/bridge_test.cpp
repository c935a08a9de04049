// The MQTT bridge against a real Mosquitto: exactly-once event application with acks, status and
// state tracking, commands and their results, retained per-box config, and tokens that verify
// with the keys the config carries.
#include <set>

#include "box_client.h"
#include "fixture.h"
#include "reclothes/common/token.h"

namespace reclothes::controller::testing {
namespace {

using K = msg::EventKind;

class BridgeTest : public ControllerTest {
 protected:
  void SetUp() override {
    ControllerTest::SetUp();
    // Box ids are unique per test: retained messages on the shared broker outlive a test.
    box_ = "bx-" + db_name_;
    start_and_wait();
    admin_ = staff_token({Role::kSuperAdmin});
    auto r = internal("POST", "/internal/v1/boxes",
                      nlohmann::json{{"box_id", box_},
                                     {"compartments",
                                      {{{"number", 1}, {"size", "M"}},
                                       {{"number", 2}, {"size", "L"}},
                                       {{"number", 3}, {"size", "S"}}}}},
                      admin_);
    ASSERT_EQ(r.status, 201) << describe(r);
  }

  void start_and_wait() {
    start_controller();
    ASSERT_TRUE(controller_->bridge().wait_connected(std::chrono::seconds(10)));
  }

  std::int64_t events() {
    return count("SELECT count(*) FROM box_events WHERE box_id = '" + box_ + "'");
  }
  std::int64_t faults() {
    return count("SELECT count(*) FROM box_faults WHERE box_id = '" + box_ + "'");
  }
  std::int64_t last_applied() {
    return count("SELECT last_applied_seq FROM boxes WHERE id = '" + box_ + "'");
  }
  std::string compartment_state(int n) {
    return query("SELECT state FROM compartments WHERE box_id = '" + box_ +
                 "' AND number = " + std::to_string(n))[0][0]
        .as<std::string>();
  }
  std::optional<nlohmann::json> box_json() {
    auto r = internal("GET", "/internal/v1/boxes/" + box_, std::nullopt, admin_);
    if (r.status != 200) return std::nullopt;
    return r.body;
  }

  std::string box_;
  std::string admin_;
};

TEST_F(BridgeTest, ReplayedEventsChangeNothingAfterTheirFirstApplicationAndAreAcked) {
  FakeBox box(broker_->uri(), box_);
  ASSERT_TRUE(box.connect());
  const std::vector<msg::Event> first = {event(1, K::kDoorOpened, 1), event(2, K::kDoorClosed, 1),
                                         event(3, K::kJammed, 2)};
  box.publish_events(first);
  ASSERT_TRUE(box.wait_for_ack(3));
  EXPECT_EQ(events(), 3);
  EXPECT_EQ(faults(), 1);
  EXPECT_EQ(compartment_state(1), "occupied");
  EXPECT_EQ(compartment_state(2), "jammed");

  // The same batch again (the box's ack was lost): nothing changes, the ack is repeated.
  box.publish_events(first);
  ASSERT_TRUE(box.wait_for_ack(3));
  EXPECT_EQ(events(), 3);
  EXPECT_EQ(faults(), 1);

  // Out of order: a batch after a gap is not applied; the ack says where the controller is.
  box.publish_events({event(5, K::kDoorOpened, 3), event(6, K::kForced, 3)});
  ASSERT_TRUE(box.wait_for_ack(3));
  EXPECT_EQ(events(), 3);
  EXPECT_EQ(compartment_state(3), "unknown");

  // Filling the gap applies 4..6 once; an overlapping batch applies only what is new.
  box.publish_events(
      {event(4, K::kDoorClosed, 2), event(5, K::kDoorOpened, 3), event(6, K::kForced, 3)});
  ASSERT_TRUE(box.wait_for_ack(6));
  box.publish_events(
      {event(5, K::kDoorOpened, 3), event(6, K::kForced, 3), event(7, K::kDoorClosed, 3)});
  ASSERT_TRUE(box.wait_for_ack(7));
  EXPECT_EQ(events(), 7);
  EXPECT_EQ(last_applied(), 7);
  // jammed(2) is still open; forced(3) was cleared by the door closing; no duplicate faults.
  EXPECT_EQ(faults(), 2);
  EXPECT_EQ(
      count("SELECT count(*) FROM box_faults WHERE box_id = '" + box_ + "' AND cleared_at IS NULL"),
      1);
  const auto events_json =
      query("SELECT seq FROM box_events WHERE box_id = '" + box_ + "' ORDER BY seq");
  for (std::size_t i = 0; i < events_json.size(); ++i) {
    EXPECT_EQ(events_json[i][0].as<std::uint64_t>(), i + 1);
  }

  // A restart of the controller (a new instance on the same database) changes nothing either.
  stop_controller();
  start_and_wait();
  box.publish_events(
      {event(1, K::kDoorOpened, 1), event(2, K::kDoorClosed, 1), event(3, K::kJammed, 2)});
  ASSERT_TRUE(box.wait_for_ack(7));
  box.publish_events(
      {event(6, K::kForced, 3), event(7, K::kDoorClosed, 3), event(8, K::kDoorOpened, 1)});
  ASSERT_TRUE(box.wait_for_ack(8));
  EXPECT_EQ(events(), 8);
  EXPECT_EQ(faults(), 2);

  auto metrics = call(Listener::kInternal, "GET", "/metrics");
  EXPECT_NE(metrics.raw.find("reclothes_box_events_applied_total 1"), std::string::npos)
      << metrics.raw;
  // This instance saw 3 duplicates in the first batch after the restart and 2 in the second.
  EXPECT_NE(metrics.raw.find("reclothes_box_events_duplicate_total 5"), std::string::npos);
}

// What the controller keeps of an event is what the box sent: box_events.payload is each event
// of the payload on the wire, field for field (both are msg::event_json()).
TEST_F(BridgeTest, StoredEventsHaveTheShapeTheyHadOnTheWire) {
  FakeBox box(broker_->uri(), box_);
  ASSERT_TRUE(box.connect());
  // Every field set; the token id in upper case, which the wire normalises.
  const msg::Event full{.seq = 1,
                        .kind = K::kUnlocked,
                        .at_ms = 1'767'225'601'000,
                        .compartment = 2,
                        .token_id = "0123456789ABCDEF",
                        .action = TokenAction::kPickup,
                        .order_ref = 9'000'000'000ULL,
                        .reason = "remote_open",
                        .occupied = false,
                        .fill_percent = 40,
                        .command_id = "cmd-stored-shape",
                        .detail = "caf\xc3\xa9 \"quoted\"\nsecond line"};
  const auto payload = msg::serialize(
      msg::make_envelope(box_, 1'767'225'600'000, msg::Events{{full, event(2, K::kBoot)}}));
  ASSERT_TRUE(payload.ok()) << payload.error().message;
  box.publish_raw(msg::topic(box_, msg::Topic::kEvents), *payload);
  ASSERT_TRUE(box.wait_for_ack(2));

  const nlohmann::json wire = nlohmann::json::parse(*payload)["body"]["events"];
  const auto rows =
      query("SELECT payload::text FROM box_events WHERE box_id = '" + box_ + "' ORDER BY seq");
  ASSERT_EQ(rows.size(), wire.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(nlohmann::json::parse(rows[i][0].as<std::string>()), wire[i]) << "event " << i;
  }
}

// Paho calls the message callback with its client mutex held, and the worker takes that mutex to
// publish each ack: a callback that waited for room deadlocked the two (B7: 4,060 boxes starting
// at once), and one that waited a bounded time still starved the worker (B7: 10,000 boxes, a few
// messages applied per second). With room for one message, a burst of batches overloads the
// queue at once: the callback sheds batches instead of waiting, and the box, as the firmware
// does, sends again what is not acked. Every event must end up applied exactly once.
TEST_F(BridgeTest, AnOverloadedQueueShedsBatchesThatTheBoxSendsAgain) {
  stop_controller();
  config_.mqtt.queue_capacity = 1;
  start_and_wait();
  FakeBox box(broker_->uri(), box_);
  ASSERT_TRUE(box.connect());
  constexpr std::uint64_t kBatches = 60;
  std::uint64_t acked = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  bool first = true;
  while (acked < kBatches && std::chrono::steady_clock::now() < deadline) {
    if (first) {
      // The burst: one event per batch.
      for (std::uint64_t seq = 1; seq <= kBatches; ++seq) {
        box.publish_events({event(seq, seq % 2 ? K::kDoorOpened : K::kDoorClosed, 1)});
      }
      first = false;
    } else {
      // As the firmware does after its ack timeout: everything unacked again, in one batch.
      std::vector<msg::Event> again;
      for (std::uint64_t seq = acked + 1; seq <= kBatches; ++seq) {
        again.push_back(event(seq, seq % 2 ? K::kDoorOpened : K::kDoorClosed, 1));
      }
      box.publish_events(std::move(again));
    }
    box.wait_for(
        msg::Topic::kAcks,
        [&](const msg::Envelope& e) { return std::get<msg::Ack>(e.body).upto == kBatches; },
        std::chrono::seconds(2));
    for (const auto& e : box.received(msg::Topic::kAcks)) {
      acked = std::max(acked, std::get<msg::Ack>(e.body).upto);
    }
  }
  ASSERT_EQ(acked, kBatches) << "the controller stopped applying: " << events() << " of "
                             << kBatches << " events applied";
  EXPECT_EQ(events(), static_cast<std::int64_t>(kBatches));
  EXPECT_EQ(last_applied(), static_cast<std::int64_t>(kBatches));
  EXPECT_GT(controller_->bridge().shed(), 0u) << "the burst never overloaded the queue";
  std::cout << "batches shed: " << controller_->bridge().shed() << "\n";
}

// PostgreSQL goes away while a box sends: the controller cannot apply, so it does not ack. The
// batches are held and applied (then acked) as soon as the database answers again, instead of
// waiting for the box's resend after its 10 s ack timeout. The fake box here never resends, so
// everything applied after the restart came from the controller's own retry; before the retry
// existed nothing was applied at all (this test failed at its first ASSERT after the restart).
TEST_F(BridgeTest, EventsSentWhileTheDatabaseIsDownAreAppliedOnceSoonAfterItReturns) {
  FakeBox box(broker_->uri(), box_);
  ASSERT_TRUE(box.connect());
  box.publish_events({event(1, K::kDoorOpened, 1), event(2, K::kDoorClosed, 1)});
  ASSERT_TRUE(box.wait_for_ack(2));

  ASSERT_TRUE(pg_->stop().ok());
  box.publish_events({event(3, K::kDoorOpened, 2), event(4, K::kDoorClosed, 2)});
  box.publish_events({event(5, K::kJammed, 3)});
  // A resend that overlaps what is held: each seq must still be applied once.
  box.publish_events(
      {event(4, K::kDoorClosed, 2), event(5, K::kJammed, 3), event(6, K::kDoorOpened, 1)});
  // All three reached the controller and are held (merged per box after the first retry).
  ASSERT_TRUE(eventually(
      [&] {
        return controller_->metrics().scrape().find(
                   "reclothes_mqtt_messages_received_total{leaf=\"events\"} 4") !=
                   std::string::npos &&
               controller_->bridge().waiting_for_database() > 0;
      },
      std::chrono::seconds(10)))
      << controller_->metrics().scrape();
  EXPECT_TRUE(box.received(msg::Topic::kAcks).empty()) << "nothing is acked while down";
  // The outage goes on for 2 s: the retries back off to their 1 s cap meanwhile.
  std::this_thread::sleep_for(std::chrono::seconds(2));

  ASSERT_TRUE(pg_->restart().ok());
  const auto back = std::chrono::steady_clock::now();  // PQping: accepting connections
  const auto acked = box.wait_for(
      msg::Topic::kAcks,
      [](const msg::Envelope& e) { return std::get<msg::Ack>(e.body).upto == 6; },
      std::chrono::seconds(15));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - back).count();
  std::cout << "events applied and acked " << seconds << " s after PostgreSQL accepted "
            << "connections again\n";
  ASSERT_TRUE(acked) << "the held batches were not applied";
  // Generous for ASan on a shared machine; without the retry it is the box's 10 s ack timeout.
  EXPECT_LT(seconds, 5.0);
  EXPECT_EQ(events(), 6);
  EXPECT_EQ(count("SELECT count(DISTINCT seq) FROM box_events WHERE box_id = '" + box_ + "'"), 6);
  EXPECT_EQ(last_applied(), 6);
  EXPECT_EQ(faults(), 1);
  EXPECT_TRUE(eventually([&] { return controller_->bridge().idle(); }));
  const auto metrics = call(Listener::kInternal, "GET", "/metrics");
  EXPECT_NE(metrics.raw.find("\nreclothes_box_events_waiting_for_database 0"), std::string::npos);
  EXPECT_NE(metrics.raw.find("\nreclothes_box_events_applied_total 6"), std::string::npos)
      << metrics.raw;
}

// Beyond its bounds the retry list drops batches (never acked: the box resends them) instead of
// growing without limit.
TEST_F(BridgeTest, BatchesBeyondTheRetryBoundsAreDroppedForTheBoxToResend) {
  stop_controller();
  // Room for two one-event batches, not three.
  const auto one = msg::serialize(
      msg::make_envelope(box_, clock_.wall_ms(), msg::Events{{event(1, K::kDoorOpened, 1)}}));
  ASSERT_TRUE(one.ok());
  config_.mqtt.retry_bytes = one->size() * 5 / 2;
  start_and_wait();
  FakeBox box(broker_->uri(), box_);
  ASSERT_TRUE(box.connect());
  ASSERT_TRUE(pg_->stop().ok());
  for (std::uint64_t seq = 1; seq <= 4; ++seq) box.publish_events({event(seq, K::kDoorOpened, 1)});
  const auto dropped = [&] {
    const auto text = controller_->metrics().scrape();
    return text.find("\nreclothes_box_events_retry_dropped_total 2") != std::string::npos;
  };
  ASSERT_TRUE(eventually(dropped, std::chrono::seconds(10))) << controller_->metrics().scrape();
  EXPECT_GE(controller_->bridge().waiting_for_database(), 1u);
  ASSERT_TRUE(pg_->restart().ok());
  const auto acked = [&](std::uint64_t upto) {
    return box.wait_for(
        msg::Topic::kAcks,
        [upto](const msg::Envelope& e) { return std::get<msg::Ack>(e.body).upto == upto; },
        std::chrono::seconds(15));
  };
  ASSERT_TRUE(acked(2));
  EXPECT_EQ(events(), 2);
  // The box's resend (after its ack timeout) brings the rest.
  box.publish_events({event(3, K::kDoorOpened, 1), event(4, K::kDoorOpened, 1)});
  ASSERT_TRUE(acked(4));
  EXPECT_EQ(events(), 4);
}

TEST_F(BridgeTest, TwoReplicasShareTheEventsAndApplyEachOnce) {
  // A second replica: same database and share group, its own client id.
  auto second_config = config_;
  second_config.mqtt.client_id = config_.mqtt.client_id + "-b";
  auto second = make_controller(second_config, clock_, Log::null());
  ASSERT_TRUE(second.ok()) << second.error().to_string();
  ASSERT_TRUE((*second)->start().ok());
  ASSERT_TRUE((*second)->bridge().wait_connected(std::chrono::seconds(10)));

  FakeBox box(broker_->uri(), box_);
  ASSERT_TRUE(box.connect());
  // Each batch is sent twice at once, so the replicas apply the same seqs concurrently: the row
  // lock on the box serialises them, one applies and the other finds duplicates.
  for (std::uint64_t seq = 1; seq <= 6; ++seq) {
    box.publish_events({event(seq, K::kDoorOpened, 1)});
    box.publish_events({event(seq, K::kDoorOpened, 1)});
    ASSERT_TRUE(box.wait_for_ack(seq)) << seq;
    ASSERT_TRUE(box.wait_for_ack(seq)) << seq;
  }
  EXPECT_EQ(events(), 6);
  EXPECT_EQ(last_applied(), 6);
  // Each seq was applied by exactly one replica and found duplicate by the other, and both
  // replicas received events (the broker alternates between the shared subscribers).
  const auto counter = [](Controller& c, const std::string& name) {
    const auto text = c.metrics().scrape();
    const auto sample = "\n" + name + " ";  // not the # HELP line
    const auto pos = text.find(sample);
    return pos == std::string::npos ? -1 : std::stoi(text.substr(pos + sample.size()));
  };
  EXPECT_EQ(counter(*controller_, "reclothes_box_events_applied_total") +
                counter(**second, "reclothes_box_events_applied_total"),
            6);
  EXPECT_EQ(counter(*controller_, "reclothes_box_events_duplicate_total") +
                counter(**second, "reclothes_box_events_duplicate_total"),
            6);
  EXPECT_GT(counter(*controller_, "reclothes_mqtt_messages_received_total{leaf=\"events\"}"), 0);
  EXPECT_GT(counter(**second, "reclothes_mqtt_messages_received_total{leaf=\"events\"}"), 0);
}

TEST_F(BridgeTest, EventsFromUnknownOrDecommissionedBoxesAreNotApplied) {
  FakeBox stranger(broker_->uri(), "unknown-" + db_name_);
  ASSERT_TRUE(stranger.connect());
  FakeBox box(broker_->uri(), box_);
  ASSERT_TRUE(box.connect());
  stranger.publish_events({event(1, K::kDoorOpened, 1)});
  // Malformed payloads and mismatched envelopes are dropped too.
  box.publish_raw(msg::topic(box_, msg::Topic::kEvents), "{not json");
  stranger.publish_raw(msg::topic(box_, msg::Topic::kEvents),
                       *msg::serialize(msg::make_envelope(
                           "unknown-" + db_name_, 1, msg::Events{{event(1, K::kDoorOpened, 1)}})));
  // The worker handles messages in order: once this box's ack arrives, the others were handled.
  box.publish_events({event(1, K::kDoorOpened, 1)});
  ASSERT_TRUE(box.wait_for_ack(1));
  EXPECT_TRUE(stranger.received(msg::Topic::kAcks).empty());
  EXPECT_EQ(count("SELECT count(*) FROM box_events"), 1);
  auto metrics = call(Listener::kInternal, "GET", "/metrics");
  EXPECT_NE(metrics.raw.find("reclothes_box_events_rejected_total{reason=\"unknown_box\"} 1"),
            std::string::npos)
      << metrics.raw;
  EXPECT_NE(metrics.raw.find("reclothes_box_events_rejected_total{reason=\"malformed\"} 1"),
            std::string::npos);
  EXPECT_NE(metrics.raw.find("reclothes_box_events_rejected_total{reason=\"box_mismatch\"} 1"),
            std::string::npos);

  ASSERT_EQ(
      internal("POST", "/internal/v1/boxes/" + box_ + "/decommission", std::nullopt, admin_).status,
      200);
  box.publish_events({event(2, K::kDoorClosed, 1)});
  box.publish_events({event(3, K::kDoorClosed, 1)});
  ASSERT_TRUE(eventually([&] {
    return call(Listener::kInternal, "GET", "/metrics").raw.find("reason=\"decommissioned\"} 2") !=
           std::string::npos;
  }));
  EXPECT_EQ(events(), 1);
}

TEST_F(BridgeTest, FaultEventsOpenAndClearFaults) {
  FakeBox box(broker_->uri(), box_);
  ASSERT_TRUE(box.connect());
  auto tamper_on = event(1, K::kTamper);
  tamper_on.detail = "service panel opened";
  auto oos = event(2, K::kOutOfService, 3);
  oos.detail = "lock fault";
  auto fill = event(3, K::kFillLevel, 1);
  fill.fill_percent = 75;
  box.publish_events({tamper_on, oos, fill, event(4, K::kAjar, 2), event(5, K::kUnlockUnknown, 1)});
  ASSERT_TRUE(box.wait_for_ack(5));
  const auto open_faults = [&] {
    std::set<std::string> kinds;
    for (const auto& row : query(
             "SELECT kind FROM box_faults WHERE cleared_at IS NULL AND box_id = '" + box_ + "'")) {
      kinds.insert(row[0].as<std::string>());
    }
    return kinds;
  };
  EXPECT_EQ(open_faults(),
            (std::set<std::string>{"tamper", "out_of_service", "ajar", "unlock_unknown"}));
  EXPECT_EQ((*box_json())["open_faults"], 4);
  EXPECT_EQ(compartment_state(3), "out_of_service");
  EXPECT_EQ(
      count("SELECT fill_percent FROM compartments WHERE box_id = '" + box_ + "' AND number = 1"),
      75);

  auto tamper_off = event(6, K::kTamper);
  tamper_off.detail = "service panel closed";
  auto back = event(7, K::kOutOfService, 3);
  back.detail = "back in service";
  box.publish_events({tamper_off, back, event(8, K::kDoorClosed, 2)});
  ASSERT_TRUE(box.wait_for_ack(8));
  EXPECT_EQ(open_faults(), (std::set<std::string>{"unlock_unknown"}));
}

// A box (or someone with its identity) names compartments it does not have (it has 1 to 3): every
// kind of event that carries a compartment is rejected, never applied (no fault, no state, no
// stored event), and acked with the rest so the box is not stuck; the events around it apply.
TEST_F(BridgeTest, EventsForCompartmentsTheBoxDoesNotHaveAreRejectedAndAcked) {
  FakeBox box(broker_->uri(), box_);
  ASSERT_TRUE(box.connect());
  auto fill = event(6, K::kFillLevel, 201);
  fill.fill_percent = 50;
  auto oos = event(7, K::kOutOfService, 4);
  oos.detail = "lock fault";
  box.publish_events({event(1, K::kJammed, 201), event(2, K::kForced, 255), event(3, K::kAjar, 1),
                      event(4, K::kDoorOpened, 9), event(5, K::kUnlocked, 4), fill, oos,
                      event(8, K::kDoorClosed, 1)});
  ASSERT_TRUE(box.wait_for_ack(8));
  EXPECT_EQ(last_applied(), 8);
  // Only compartment 1's ajar (opened by 3, cleared by 8) was applied.
  EXPECT_EQ(events(), 2);
  EXPECT_EQ(faults(), 1);
  EXPECT_EQ(
      count("SELECT count(*) FROM box_faults WHERE box_id = '" + box_ + "' AND cleared_at IS NULL"),
      0);
  EXPECT_EQ((*box_json())["open_faults"], 0);
  EXPECT_EQ(count("SELECT count(*) FROM compartments WHERE box_id = '" + box_ + "'"), 3);
  const auto metrics = call(Listener::kInternal, "GET", "/metrics");
  EXPECT_NE(metrics.raw.find("reason=\"unknown_compartment\"} 6"), std::string::npos)
      << metrics.raw;
  // Sent again: duplicates now, acked, still nothing applied.
  box.publish_events({event(1, K::kJammed, 201), event(2, K::kForced, 255)});
  ASSERT_TRUE(box.wait_for_ack(8));
  EXPECT_EQ(faults(), 1);
}

TEST_F(BridgeTest, StatusAndStateAreTracked) {
  FakeBox box(broker_->uri(), box_);
  ASSERT_TRUE(box.connect());
  box.set_online(true);
  ASSERT_TRUE(eventually([&] { return box_json() && (*box_json())["online"] == true; }));
  auto fleet = internal("GET", "/internal/v1/boxes", std::nullopt, admin_);
  EXPECT_EQ(fleet.body["online"], 1);
  EXPECT_EQ(fleet.body["items"][0]["status"], "active");  // registered -> active on first contact
  EXPECT_EQ(fleet.body["items"][0]["firmware_version"], "1.0.0");

  msg::State state;
  state.compartments = {{1, "occupied", false, 40, "M"},
                        {2, "free", true, std::nullopt, "L"},
                        {9, "free", false, std::nullopt, "S"}};  // 9 is not registered: ignored
  state.backlog = 5;
  state.last_seq = 12;
  state.firmware_version = "1.0.0";
  box.publish(msg::Topic::kState, state, true);
  ASSERT_TRUE(eventually([&] { return box_json() && (*box_json())["backlog"] == 5; }));
  auto b = *box_json();
  EXPECT_EQ(b["compartments"][0]["state"], "occupied");
  EXPECT_EQ(b["compartments"][0]["fill_percent"], 40);
  EXPECT_EQ(b["compartments"][1]["door_open"], true);
  EXPECT_EQ(b["last_state"]["last_seq"], 12);
  EXPECT_EQ(count("SELECT count(*) FROM compartments WHERE box_id = '" + box_ + "'"), 3);

  // The next report replaces what it lists and leaves the rest.
  state.compartments = {{1, "open", true, 10, "M"}};
  state.backlog = 0;
  box.publish(msg::Topic::kState, state, true);
  ASSERT_TRUE(eventually([&] { return box_json() && (*box_json())["backlog"] == 0; }));
  b = *box_json();
  EXPECT_EQ(b["compartments"][0]["state"], "open");
  EXPECT_EQ(b["compartments"][0]["door_open"], true);
  EXPECT_EQ(b["compartments"][0]["fill_percent"], 10);
  EXPECT_EQ(b["compartments"][1]["state"], "free");  // not in this report: unchanged
  EXPECT_EQ(b["compartments"][1]["door_open"], true);

  auto metrics = call(Listener::kInternal, "GET", "/metrics");
  EXPECT_NE(metrics.raw.find("reclothes_boxes_online 1"), std::string::npos);
}

TEST_F(BridgeTest, BoxWhoseConnectionDiesShowsOfflineWithinTheKeepAliveWindow) {
  FreezableProxy proxy(broker_->port());
  FakeBox::Options options;
  options.keepalive = std::chrono::seconds(1);
  FakeBox box("tcp://127.0.0.1:" + std::to_string(proxy.port()), box_, options);
  ASSERT_TRUE(box.connect());
  box.set_online(true);
  ASSERT_TRUE(eventually([&] { return box_json() && (*box_json())["online"] == true; }));
  // The link goes silent: no FIN, no RST. The broker notices once 1.5 x keep-alive passed
  // without a packet and publishes the box's last will, which the controller applies.
  // Mosquitto 2.0 runs its keep-alive check only every 5 s (keepalive.c: "last_keepalive_check
  // + 5 < now"), so the window here is 1.5 x keep-alive + 6 s of broker granularity + 1 s slack.
  proxy.freeze();
  const bool offline = eventually([&] { return box_json() && (*box_json())["online"] == false; },
                                  std::chrono::milliseconds(1500 + 6000 + 1000));
  ASSERT_TRUE(offline);
  auto fleet = internal("GET", "/internal/v1/boxes", std::nullopt, admin_);
  EXPECT_EQ(fleet.body["offline"], 1);
}

TEST_F(BridgeTest, RemoteOpenIsAuditedPublishedAndItsResultRecorded) {
  FakeBox box(broker_->uri(), box_);
  ASSERT_TRUE(box.connect());
  std::int64_t delivery_id = 0;
  const auto delivery = staff_token({Role::kDelivery}, &delivery_id);
  // Offline boxes are refused: a queued command would open the door at some unknown later time.
  auto offline = internal("POST", "/internal/v1/boxes/" + box_ + "/compartments/2/open",
                          nlohmann::json{{"reason", "stuck"}}, delivery);
  EXPECT_EQ(offline.status, 409);
  EXPECT_EQ(offline.code(), "box_offline");
  EXPECT_EQ(count("SELECT count(*) FROM box_commands"), 0);

  box.set_online(true);
  ASSERT_TRUE(eventually([&] { return box_json() && (*box_json())["online"] == true; }));
  auto r = internal("POST", "/internal/v1/boxes/" + box_ + "/compartments/2/open",
                    nlohmann::json{{"reason", "customer stuck"}}, delivery);
  ASSERT_EQ(r.status, 202) << describe(r);
  const auto command_id = r.body["command_id"].get<std::string>();
  auto cmd = box.wait_for(msg::Topic::kCommands, [&](const msg::Envelope& e) {
    return std::get<msg::Command>(e.body).id == command_id;
  });
  ASSERT_TRUE(cmd);
  const auto& command = std::get<msg::Command>(cmd->body);
  EXPECT_EQ(command.op, msg::CommandOp::kOpen);
  EXPECT_EQ(command.compartment, 2);
  EXPECT_EQ(count("SELECT count(*) FROM audit_log WHERE action = 'box.open' AND actor_id = " +
                  std::to_string(delivery_id) + " AND after->>'command_id' = '" + command_id +
                  "' AND target_id = '" + box_ + "/2' AND reason = 'customer stuck'"),
            1);

  box.publish(msg::Topic::kCommandResults, msg::CommandResult{command_id, true, "ok", "opened"});
  msg::Event unlocked = event(1, K::kUnlocked, 2);
  unlocked.command_id = command_id;
  box.publish_events({unlocked});
  ASSERT_TRUE(box.wait_for_ack(1));
  ASSERT_TRUE(eventually([&] {
    auto c = internal("GET", "/internal/v1/boxes/" + box_ + "/commands", std::nullopt, delivery);
    return c.status == 200 && c.body["items"].size() == 1 &&
           c.body["items"][0]["result_ok"] == true;
  }));
  auto c = internal("GET", "/internal/v1/boxes/" + box_ + "/commands", std::nullopt, delivery);
  EXPECT_EQ(c.body["items"][0]["result_code"], "ok");
  EXPECT_EQ(c.body["items"][0]["executed_seq"], 1);
  EXPECT_FALSE(c.body["items"][0]["published_at"].is_null());
}

TEST_F(BridgeTest, RetainedConfigCarriesMaintenanceKeysAndRevisions) {
  FakeBox box(broker_->uri(), box_);
  ASSERT_TRUE(box.connect());
  // Published at registration, retained: a box connecting later still gets it.
  auto first = box.wait_for(msg::Topic::kConfig, [](const msg::Envelope&) { return true; });
  ASSERT_TRUE(first);
  const auto& c1 = std::get<msg::Config>(first->body);
  EXPECT_FALSE(c1.maintenance);
  ASSERT_EQ(c1.keys.size(), 1u);
  EXPECT_FALSE(c1.keys[0].retired);

  ASSERT_EQ(internal("POST", "/internal/v1/boxes/" + box_ + "/maintenance",
                     nlohmann::json{{"on", true}}, admin_)
                .status,
            200);
  auto second = box.wait_for(msg::Topic::kConfig, [&](const msg::Envelope& e) {
    return std::get<msg::Config>(e.body).revision > c1.revision;
  });
  ASSERT_TRUE(second);
  EXPECT_TRUE(std::get<msg::Config>(second->body).maintenance);

  // A courier token verifies with the key the config carries.
  const auto delivery = staff_token({Role::kDelivery});
  auto issued = internal(
      "POST", "/internal/v1/tokens/courier",
      nlohmann::json{{"box_id", box_}, {"compartments", {1, 3}}, {"action", "courier_collect"}},
      delivery);
  ASSERT_EQ(issued.status, 201) << describe(issued);
  TrustedKeys keys;
  for (const auto& k : std::get<msg::Config>(second->body).keys) {
    ASSERT_TRUE(keys.add(k.key_id, k.public_pem, k.retired).ok());
  }
  TokenVerifier verifier(keys);
  auto verified = verifier.verify(issued.body["token"].get<std::string>(),
                                  {box_, 3, clock_.wall_seconds(), 60});
  ASSERT_TRUE(verified.ok()) << verified.error().detail;
  EXPECT_EQ(verified->claims.action, TokenAction::kCourierCollect);
  EXPECT_EQ(verified->claims.compartments, (std::vector<std::uint8_t>{1, 3}));
  EXPECT_EQ(verified->claims.expires - verified->claims.not_before,
            config_.tokens.courier_validity.count());
  EXPECT_EQ(count("SELECT count(*) FROM issued_tokens WHERE token_id = '" +
                  issued.body["token_id"].get<std::string>() + "'"),
            1);

  // Revocation: the token id goes into the box's config.
  const auto token_id = issued.body["token_id"].get<std::string>();
  ASSERT_EQ(
      internal("POST", "/internal/v1/tokens/" + token_id + "/revoke", std::nullopt, admin_).status,
      200);
  ASSERT_TRUE(box.wait_for(msg::Topic::kConfig, [&](const msg::Envelope& e) {
    const auto& revoked = std::get<msg::Config>(e.body).revoked_token_ids;
    return revoked == std::vector<std::string>{token_id};
  }));
  EXPECT_EQ(
      internal("POST", "/internal/v1/tokens/00000000000000ff/revoke", std::nullopt, admin_).status,
      404);

  // Rotation: a new active key, the old one still trusted (retiring) until retired.
  auto rotated = internal("POST", "/internal/v1/keys/rotate", std::nullopt, admin_);
  ASSERT_EQ(rotated.status, 201) << describe(rotated);
  EXPECT_EQ(rotated.body["key_id"], 2);
  auto third = box.wait_for(msg::Topic::kConfig, [](const msg::Envelope& e) {
    return std::get<msg::Config>(e.body).keys.size() == 2;
  });
  ASSERT_TRUE(third);
  auto retire_active = internal("POST", "/internal/v1/keys/2/retire", std::nullopt, admin_);
  EXPECT_EQ(retire_active.status, 409);
  ASSERT_EQ(internal("POST", "/internal/v1/keys/1/retire", std::nullopt, admin_).status, 200);
  auto fourth = box.wait_for(msg::Topic::kConfig, [](const msg::Envelope& e) {
    const auto& ks = std::get<msg::Config>(e.body).keys;
    return ks.size() == 2 && ks[0].retired && !ks[1].retired;
  });
  ASSERT_TRUE(fourth);
  // The old token is now refused by a box with the new config; a new one signs with key 2.
  TrustedKeys new_keys;
  for (const auto& k : std::get<msg::Config>(fourth->body).keys) {
    ASSERT_TRUE(new_keys.add(k.key_id, k.public_pem, k.retired).ok());
  }
  auto refused = TokenVerifier(new_keys).verify(issued.body["token"].get<std::string>(),
                                                {box_, 3, clock_.wall_seconds(), 60});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().reason, TokenError::kKeyRetired);
  auto again =
      internal("POST", "/internal/v1/tokens/courier",
               nlohmann::json{{"box_id", box_}, {"compartments", {2}}, {"action", "courier_load"}},
               delivery);
  ASSERT_EQ(again.status, 201);
  EXPECT_EQ(again.body["key_id"], 2);
  EXPECT_TRUE(
      TokenVerifier(new_keys)
          .verify(again.body["token"].get<std::string>(), {box_, 2, clock_.wall_seconds(), 60})
          .ok());
  // The private keys are files with mode 0600, one per key.
  for (int id : {1, 2}) {
    const auto path = key_dir_->path() / ("signing-key-" + std::to_string(id) + ".pem");
    ASSERT_TRUE(std::filesystem::exists(path));
    EXPECT_EQ(std::filesystem::status(path).permissions() & std::filesystem::perms::all,
              std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  }
}

}  // namespace
}  // namespace reclothes::controller::testing
