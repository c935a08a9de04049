// SyncEngine and SendWindow without a broker: a recording transport, a real Journal in a
// temporary directory, a real Mailbox and a ManualClock. The broker-facing behaviour is proven
// again, end to end, by the integration tests in tests/sync/.
#include "reclothes/firmware/sync_engine.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "../../core/test_util.h"

namespace reclothes::firmware {
namespace {

using std::chrono::milliseconds;
using testing::TempDir;

constexpr char kBox[] = "box-07";

struct Published {
  std::string topic;
  std::string payload;
  bool retained = false;
};

class FakeTransport final : public SyncTransport {
 public:
  Status publish(const std::string& topic, std::string payload, bool retained) override {
    if (fail_publish) return make_error(ErrorCode::kUnavailable, "fake: down");
    published.push_back({topic, std::move(payload), retained});
    return ok_status();
  }
  Status subscribe(const std::string& topic) override {
    subscribed.push_back(topic);
    return ok_status();
  }

  // Messages on one leaf, parsed.
  std::vector<msg::Envelope> on(msg::Topic leaf) const {
    std::vector<msg::Envelope> out;
    for (const Published& p : published) {
      if (p.topic != msg::topic(kBox, leaf)) continue;
      auto envelope = msg::parse_received(p.topic, p.payload);
      EXPECT_TRUE(envelope.ok()) << envelope.error().to_string();
      if (envelope.ok()) out.push_back(std::move(envelope).value());
    }
    return out;
  }
  // Every seq sent in events batches, in order (duplicates included).
  std::vector<std::uint64_t> sent_seqs() const {
    std::vector<std::uint64_t> seqs;
    for (const msg::Envelope& e : on(msg::Topic::kEvents)) {
      for (const msg::Event& ev : std::get<msg::Events>(e.body).events) seqs.push_back(ev.seq);
    }
    return seqs;
  }

  std::vector<Published> published;
  std::vector<std::string> subscribed;
  bool fail_publish = false;
};

std::string payload(msg::Body body, std::int64_t ts, std::string box = kBox) {
  auto text = msg::serialize(msg::make_envelope(std::move(box), ts, std::move(body)));
  EXPECT_TRUE(text.ok()) << text.error().to_string();
  return text.ok() ? *text : std::string();
}

msg::Command open_command(std::string id, int compartment) {
  msg::Command c;
  c.id = std::move(id);
  c.op = msg::CommandOp::kOpen;
  c.compartment = compartment;
  return c;
}

class SyncEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto journal = Journal::open({.path = dir_.path() / "journal.db"});
    ASSERT_TRUE(journal.ok()) << journal.error().to_string();
    journal_ = std::move(journal).value();
    settings_.box_id = kBox;
    settings_.firmware_version = "1.2.3";
    settings_.batch_events = 4;
    settings_.window_events = 8;
    settings_.ack_timeout = milliseconds(10'000);
    settings_.state_interval = milliseconds(60'000);
    settings_.state_min_gap = milliseconds(1'000);
  }

  std::unique_ptr<SyncEngine> make() {
    auto engine = SyncEngine::create(settings_, *journal_, mailbox_, clock_);
    EXPECT_TRUE(engine.ok()) << engine.error().to_string();
    return engine.ok() ? std::move(engine).value() : nullptr;
  }

  void append_events(int n, std::optional<std::string> detail = std::nullopt) {
    for (int i = 0; i < n; ++i) {
      Status s = journal_->transact([&](Txn& txn) -> Status {
        msg::Event e;
        e.kind = msg::EventKind::kDoorOpened;
        e.at_ms = clock_.wall_ms();
        e.compartment = 1 + i % 4;
        e.detail = detail;
        return txn.append_event(e).ok() ? ok_status()
                                        : make_error(ErrorCode::kInternal, "append failed");
      });
      ASSERT_TRUE(s.ok()) << s.error().to_string();
    }
  }

  void ack(SyncEngine& engine, std::uint64_t upto) {
    engine.on_message(transport_, msg::topic(kBox, msg::Topic::kAcks),
                      payload(msg::Ack{upto}, clock_.wall_ms()));
  }

  void command(SyncEngine& engine, const msg::Command& c, std::int64_t ts) {
    engine.on_message(transport_, msg::topic(kBox, msg::Topic::kCommands), payload(c, ts));
  }

  TempDir dir_ = testing::temp_dir();
  std::unique_ptr<Journal> journal_;
  Mailbox mailbox_;
  ManualClock clock_;
  SyncSettings settings_;
  FakeTransport transport_;
};

// ---- SendWindow ---------------------------------------------------------------------------

// A window of 10 events with a 1 s ack timeout, on a clock the test moves.
class SendWindowTest : public ::testing::Test {
 protected:
  Clock::Monotonic now() const { return clock_.monotonic(); }
  ManualClock clock_;
  SendWindow w_{10, milliseconds(1000)};
};

TEST_F(SendWindowTest, RoomShrinksWithEventsInFlightAndGrowsWithAcks) {
  w_.reset(5, now());
  EXPECT_EQ(w_.next(), 6u);
  EXPECT_EQ(w_.room(), 10u);
  w_.sent_through(12, now());
  EXPECT_EQ(w_.in_flight(), 7u);
  EXPECT_EQ(w_.room(), 3u);
  EXPECT_TRUE(w_.on_ack(9, now()));
  EXPECT_EQ(w_.in_flight(), 3u);
  EXPECT_EQ(w_.room(), 7u);
}

TEST_F(SendWindowTest, OldAndRepeatedAcksAreIgnored) {
  w_.reset(0, now());
  w_.sent_through(5, now());
  EXPECT_TRUE(w_.on_ack(4, now()));
  EXPECT_FALSE(w_.on_ack(4, now()));
  EXPECT_FALSE(w_.on_ack(2, now()));
  EXPECT_EQ(w_.acked(), 4u);
}

TEST_F(SendWindowTest, AckBeyondWhatWasSentMovesTheNextSeqAlong) {
  // After a restart the controller may ack events sent by the previous run.
  w_.reset(0, now());
  EXPECT_TRUE(w_.on_ack(20, now()));
  EXPECT_EQ(w_.next(), 21u);
  EXPECT_EQ(w_.in_flight(), 0u);
}

TEST_F(SendWindowTest, AckOverdueOnlyWithEventsInFlightAndAfterTheTimeout) {
  w_.reset(0, now());
  clock_.advance(milliseconds(5000));
  EXPECT_FALSE(w_.ack_overdue(now())) << "nothing in flight";
  w_.sent_through(3, now());
  clock_.advance(milliseconds(999));
  EXPECT_FALSE(w_.ack_overdue(now()));
  clock_.advance(milliseconds(1));
  EXPECT_TRUE(w_.ack_overdue(now()));
  w_.rewind(now());
  EXPECT_EQ(w_.next(), 1u);
  EXPECT_FALSE(w_.ack_overdue(now()));
}

// ---- SyncEngine ---------------------------------------------------------------------------------

TEST_F(SyncEngineTest, CreateRefusesBadSettings) {
  settings_.box_id = "bad/box";
  EXPECT_FALSE(SyncEngine::create(settings_, *journal_, mailbox_, clock_).ok());
  settings_.box_id = kBox;
  settings_.batch_events = 0;
  EXPECT_FALSE(SyncEngine::create(settings_, *journal_, mailbox_, clock_).ok());
  settings_.batch_events = msg::kMaxEventsPerBatch + 1;
  EXPECT_FALSE(SyncEngine::create(settings_, *journal_, mailbox_, clock_).ok());
  settings_.batch_events = 8;
  settings_.window_events = 4;
  EXPECT_FALSE(SyncEngine::create(settings_, *journal_, mailbox_, clock_).ok());
  settings_.window_events = 8;
  settings_.firmware_version = "";
  EXPECT_FALSE(SyncEngine::create(settings_, *journal_, mailbox_, clock_).ok());
}

TEST_F(SyncEngineTest, WillIsRetainedOfflineStatusOnOwnTopic) {
  auto engine = make();
  ASSERT_NE(engine, nullptr);
  EXPECT_EQ(engine->will_topic(), "reclothes/v1/boxes/box-07/status");
  auto will = engine->will_payload();
  ASSERT_TRUE(will.ok());
  auto parsed = msg::parse_received(engine->will_topic(), *will);
  ASSERT_TRUE(parsed.ok()) << parsed.error().to_string();
  EXPECT_EQ(std::get<msg::Status>(parsed->body), (msg::Status{false, "1.2.3"}));
}

TEST_F(SyncEngineTest, ConnectSubscribesAndPublishesRetainedOnlineStatus) {
  auto engine = make();
  engine->on_connected(transport_);
  EXPECT_EQ(
      std::set<std::string>(transport_.subscribed.begin(), transport_.subscribed.end()),
      (std::set<std::string>{"reclothes/v1/boxes/box-07/acks", "reclothes/v1/boxes/box-07/commands",
                             "reclothes/v1/boxes/box-07/config"}));
  auto status = transport_.on(msg::Topic::kStatus);
  ASSERT_EQ(status.size(), 1u);
  EXPECT_TRUE(std::get<msg::Status>(status[0].body).online);
  EXPECT_TRUE(transport_.published.back().retained);
}

TEST_F(SyncEngineTest, NothingIsPublishedWhileDisconnected) {
  append_events(5);
  auto engine = make();
  EXPECT_FALSE(engine->poll(transport_));
  EXPECT_TRUE(transport_.published.empty());
  EXPECT_EQ(engine->wait_after(), std::nullopt);
}

TEST_F(SyncEngineTest, DrainsInSeqOrderInBatchesWithinTheWindow) {
  append_events(20);
  auto engine = make();
  engine->on_connected(transport_);
  while (engine->poll(transport_)) {
  }
  // Window 8, batches of 4: 1..8 in flight, nothing more until acks.
  EXPECT_EQ(transport_.sent_seqs(), (std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(transport_.on(msg::Topic::kEvents).size(), 2u);
  EXPECT_EQ(engine->wait_after(), std::nullopt) << "window full: nothing to wait for";

  ack(*engine, 4);
  while (engine->poll(transport_)) {
  }
  EXPECT_EQ(transport_.sent_seqs().back(), 12u);
  EXPECT_EQ(journal_->acked_upto().value_or(0), 4u);

  for (std::uint64_t upto : {8u, 12u, 16u, 20u}) {
    ack(*engine, upto);
    while (engine->poll(transport_)) {
    }
  }
  std::vector<std::uint64_t> expected;
  for (std::uint64_t s = 1; s <= 20; ++s) expected.push_back(s);
  EXPECT_EQ(transport_.sent_seqs(), expected);
  EXPECT_EQ(journal_->backlog().value_or(99), 0u);
  EXPECT_EQ(engine->stats().acked_upto, 20u);
  EXPECT_EQ(engine->wait_after(), std::optional<std::uint64_t>(20));
}

TEST_F(SyncEngineTest, AckTimeoutResendsFromTheLastAckedSeq) {
  append_events(6);
  auto engine = make();
  engine->on_connected(transport_);
  while (engine->poll(transport_)) {
  }
  ack(*engine, 2);
  clock_.advance(milliseconds(9'999));
  engine->poll(transport_);
  EXPECT_EQ(transport_.sent_seqs().size(), 6u) << "not overdue yet";
  clock_.advance(milliseconds(1));
  engine->poll(transport_);
  EXPECT_EQ(transport_.sent_seqs(), (std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6, 3, 4, 5, 6}));
  EXPECT_EQ(engine->stats().rewinds, 1u);
}

TEST_F(SyncEngineTest, ReconnectResendsWhatWasInFlight) {
  append_events(3);
  auto engine = make();
  engine->on_connected(transport_);
  engine->poll(transport_);
  engine->on_disconnected();
  append_events(1);
  engine->poll(transport_);
  EXPECT_EQ(transport_.sent_seqs(), (std::vector<std::uint64_t>{1, 2, 3}));
  engine->on_connected(transport_);
  engine->poll(transport_);
  EXPECT_EQ(transport_.sent_seqs(), (std::vector<std::uint64_t>{1, 2, 3, 1, 2, 3, 4}));
}

TEST_F(SyncEngineTest, TransportRefusalKeepsTheEventsForTheNextPoll) {
  append_events(3);
  auto engine = make();
  engine->on_connected(transport_);
  transport_.fail_publish = true;
  engine->poll(transport_);
  transport_.fail_publish = false;
  engine->poll(transport_);
  EXPECT_EQ(transport_.sent_seqs(), (std::vector<std::uint64_t>{1, 2, 3}));
}

TEST_F(SyncEngineTest, AckBeyondTheLastJournaledSeqIsRefused) {
  append_events(3);
  auto engine = make();
  engine->on_connected(transport_);
  engine->poll(transport_);
  ack(*engine, 50);
  EXPECT_EQ(journal_->acked_upto().value_or(99), 0u);
  EXPECT_EQ(engine->stats().rejected_messages, 1u);
  ack(*engine, 3);
  EXPECT_EQ(journal_->acked_upto().value_or(99), 3u);
}

TEST_F(SyncEngineTest, OversizeBatchesAreSplit) {
  // 512 control characters serialise as 3 KB of JSON escapes, so 128 such events in one batch
  // would be about 400 KB, over the 256 KiB limit of an events message.
  settings_.batch_events = 128;
  settings_.window_events = 256;
  append_events(128, std::string(512, '\x01'));
  auto engine = make();
  engine->on_connected(transport_);
  while (engine->poll(transport_)) {
  }
  auto batches = transport_.on(msg::Topic::kEvents);
  EXPECT_GT(batches.size(), 1u);
  std::vector<std::uint64_t> expected;
  for (std::uint64_t s = 1; s <= 128; ++s) expected.push_back(s);
  EXPECT_EQ(transport_.sent_seqs(), expected);
  for (const Published& p : transport_.published) {
    EXPECT_LE(p.payload.size(), msg::max_payload_bytes(msg::MessageType::kEvents));
  }
}

TEST_F(SyncEngineTest, MalformedMessagesAreDroppedAndCounted) {
  auto engine = make();
  engine->on_connected(transport_);
  const std::string acks = msg::topic(kBox, msg::Topic::kAcks);
  const std::string commands = msg::topic(kBox, msg::Topic::kCommands);
  const std::string config = msg::topic(kBox, msg::Topic::kConfig);
  engine->on_message(transport_, acks, "{not json");
  engine->on_message(transport_, acks,
                     R"({"v":1,"type":"ack","id":"a","ts":1,"box":"box-07","body":{"upto":"7"}})");
  engine->on_message(transport_, commands, payload(msg::Ack{1}, 1));      // wrong type for topic
  engine->on_message(transport_, commands, std::string(40 * 1024, ' '));  // oversize
  engine->on_message(transport_, config, "");
  // Another box's message on our topic: parse_received refuses the mismatch.
  engine->on_message(transport_, acks, payload(msg::Ack{1}, 1, "box-08"));
  // A topic of another box (never subscribed, but never trusted either).
  engine->on_message(transport_, msg::topic("box-08", msg::Topic::kAcks),
                     payload(msg::Ack{1}, 1, "box-08"));
  EXPECT_EQ(engine->stats().rejected_messages, 7u);
  EXPECT_FALSE(mailbox_.pop_inbound().has_value());
}

TEST_F(SyncEngineTest, CommandGoesToTheMailboxAndItsResultIsPublished) {
  auto engine = make();
  engine->on_connected(transport_);
  command(*engine, open_command("cmd-1", 2), clock_.wall_ms());
  auto inbound = mailbox_.pop_inbound();
  ASSERT_TRUE(inbound.has_value());
  EXPECT_EQ(std::get<msg::Command>(*inbound).id, "cmd-1");

  ASSERT_TRUE(mailbox_.push_result({"cmd-1", true, "ok", "opened"}));
  engine->poll(transport_);
  auto results = transport_.on(msg::Topic::kCommandResults);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(std::get<msg::CommandResult>(results[0].body).code, "ok");
}

TEST_F(SyncEngineTest, CommandWithAStoredResultIsAnsweredDuplicateAndNotHandedOn) {
  Status s = journal_->transact([](Txn& txn) {
    return txn.record_command({"cmd-9", true, "ok", "opened"});
  });
  ASSERT_TRUE(s.ok()) << s.error().to_string();
  auto engine = make();
  engine->on_connected(transport_);
  command(*engine, open_command("cmd-9", 2), clock_.wall_ms());
  EXPECT_FALSE(mailbox_.pop_inbound().has_value());
  auto results = transport_.on(msg::Topic::kCommandResults);
  ASSERT_EQ(results.size(), 1u);
  const auto& r = std::get<msg::CommandResult>(results[0].body);
  EXPECT_EQ(r.command_id, "cmd-9");
  EXPECT_EQ(r.code, "duplicate");
  EXPECT_TRUE(r.ok) << "ok repeats the first outcome";
  EXPECT_EQ(engine->stats().duplicate_commands, 1u);
}

TEST_F(SyncEngineTest, DuplicateWhileTheFirstRunsIsAnsweredWithItsResult) {
  auto engine = make();
  engine->on_connected(transport_);
  command(*engine, open_command("cmd-2", 1), clock_.wall_ms());
  command(*engine, open_command("cmd-2", 1), clock_.wall_ms());
  ASSERT_TRUE(mailbox_.pop_inbound().has_value());
  EXPECT_FALSE(mailbox_.pop_inbound().has_value()) << "handed on once";
  ASSERT_TRUE(mailbox_.push_result({"cmd-2", false, "door_open", "already open"}));
  engine->poll(transport_);
  auto results = transport_.on(msg::Topic::kCommandResults);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(std::get<msg::CommandResult>(results[0].body).code, "door_open");
  EXPECT_EQ(std::get<msg::CommandResult>(results[1].body).code, "duplicate");
  EXPECT_FALSE(std::get<msg::CommandResult>(results[1].body).ok);
}

TEST_F(SyncEngineTest, StaleOpenIsRefusedAsExpiredAndJournaledOnce) {
  auto engine = make();
  engine->on_connected(transport_);
  command(*engine, open_command("cmd-old", 3), clock_.wall_ms() - 121'000);
  EXPECT_FALSE(mailbox_.pop_inbound().has_value());
  auto stored = journal_->command_result("cmd-old");
  ASSERT_TRUE(stored.ok());
  ASSERT_TRUE(stored->has_value());
  EXPECT_EQ((*stored)->code, "expired");
  auto events = journal_->events_after(0, 10);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].kind, msg::EventKind::kCommandExecuted);
  EXPECT_EQ((*events)[0].command_id, "cmd-old");
  EXPECT_EQ((*events)[0].reason, "expired");
  auto results = transport_.on(msg::Topic::kCommandResults);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(std::get<msg::CommandResult>(results[0].body).code, "expired");

  // The same id again (redelivery): a duplicate, not a second refusal.
  command(*engine, open_command("cmd-old", 3), clock_.wall_ms());
  results = transport_.on(msg::Topic::kCommandResults);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(std::get<msg::CommandResult>(results[1].body).code, "duplicate");
  EXPECT_EQ(journal_->last_seq().value_or(0), 1u);
}

TEST_F(SyncEngineTest, StaleOpenAccessIsRefusedAsExpiredLikeAnOpen) {
  // The app's online open: nobody should find the door opening minutes after they gave up.
  auto engine = make();
  engine->on_connected(transport_);
  msg::Command c;
  c.id = "access-old";
  c.op = msg::CommandOp::kOpenAccess;
  c.access = msg::Access{3, 42, TokenAction::kDeposit, "0123456789abcdef", 4'000'000'000};
  command(*engine, c, clock_.wall_ms() - 121'000);
  EXPECT_FALSE(mailbox_.pop_inbound().has_value()) << "never handed to the main loop";
  auto stored = journal_->command_result("access-old");
  ASSERT_TRUE(stored.ok());
  ASSERT_TRUE(stored->has_value());
  EXPECT_EQ((*stored)->code, "expired");
  auto results = transport_.on(msg::Topic::kCommandResults);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(std::get<msg::CommandResult>(results[0].body).code, "expired");

  // A fresh one is handed on.
  c.id = "access-new";
  command(*engine, c, clock_.wall_ms());
  EXPECT_TRUE(mailbox_.pop_inbound().has_value());
}

TEST_F(SyncEngineTest, ResultsWaitForTheConnection) {
  auto engine = make();
  ASSERT_TRUE(mailbox_.push_result({"cmd-3", true, "ok", ""}));
  engine->poll(transport_);
  EXPECT_TRUE(transport_.published.empty());
  engine->on_connected(transport_);
  engine->poll(transport_);
  EXPECT_EQ(transport_.on(msg::Topic::kCommandResults).size(), 1u);
}

TEST_F(SyncEngineTest, ConfigIsForwardedOnlyWhenNewerThanTheAppliedRevision) {
  Status s = journal_->transact(
      [](Txn& txn) { return txn.put_setting(std::string(kConfigRevisionSetting), "5"); });
  ASSERT_TRUE(s.ok());
  auto engine = make();
  engine->on_connected(transport_);
  const std::string topic = msg::topic(kBox, msg::Topic::kConfig);
  msg::Config config;
  config.revision = 5;
  engine->on_message(transport_, topic, payload(config, 1));
  EXPECT_FALSE(mailbox_.pop_inbound().has_value()) << "already applied";
  config.revision = 6;
  engine->on_message(transport_, topic, payload(config, 1));
  auto inbound = mailbox_.pop_inbound();
  ASSERT_TRUE(inbound.has_value());
  EXPECT_EQ(std::get<msg::Config>(*inbound).revision, 6u);
  engine->on_message(transport_, topic, payload(config, 1));
  EXPECT_FALSE(mailbox_.pop_inbound().has_value()) << "forwarded already, not applied yet";
}

TEST_F(SyncEngineTest, StateReportIsRetainedOnConnectOnChangeAndPeriodically) {
  append_events(2);
  msg::State state;
  state.firmware_version = "1.2.3";
  mailbox_.set_state(state);
  auto engine = make();
  engine->on_connected(transport_);
  engine->poll(transport_);
  auto reports = transport_.on(msg::Topic::kState);
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(std::get<msg::State>(reports[0].body).last_seq, 2u) << "from the journal";
  EXPECT_EQ(std::get<msg::State>(reports[0].body).backlog, 2u);

  engine->poll(transport_);
  EXPECT_EQ(transport_.on(msg::Topic::kState).size(), 1u) << "unchanged: not again";

  state.tamper = true;
  mailbox_.set_state(state);
  engine->poll(transport_);
  EXPECT_EQ(transport_.on(msg::Topic::kState).size(), 1u) << "changed, but within min gap";
  clock_.advance(milliseconds(1'000));
  engine->poll(transport_);
  EXPECT_EQ(transport_.on(msg::Topic::kState).size(), 2u);

  clock_.advance(milliseconds(59'999));
  engine->poll(transport_);
  EXPECT_EQ(transport_.on(msg::Topic::kState).size(), 2u);
  clock_.advance(milliseconds(1));
  engine->poll(transport_);
  EXPECT_EQ(transport_.on(msg::Topic::kState).size(), 3u) << "periodic";
  for (const Published& p : transport_.published) {
    if (p.topic == msg::topic(kBox, msg::Topic::kState)) {
      EXPECT_TRUE(p.retained);
    }
  }
}

TEST_F(SyncEngineTest, OfflineStatusIsRetained) {
  auto engine = make();
  ASSERT_TRUE(engine->publish_offline(transport_).ok());
  auto status = transport_.on(msg::Topic::kStatus);
  ASSERT_EQ(status.size(), 1u);
  EXPECT_FALSE(std::get<msg::Status>(status[0].body).online);
  EXPECT_TRUE(transport_.published.back().retained);
}

}  // namespace
}  // namespace reclothes::firmware
