#include "reclothes/common/messages.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <ostream>
#include <set>
#include <string>
#include <vector>

namespace reclothes::msg {
namespace {

using nlohmann::json;

constexpr std::int64_t kTs = 1'767'225'600'123;

Envelope envelope_of(Body body) {
  return Envelope{kSchemaVersion, "msg-0001", kTs, "box-01", std::move(body)};
}

// serialize -> parse gives back the same envelope, through parse() and through parse_as().
void expect_round_trip(const Envelope& original) {
  Result<std::string> text = serialize(original);
  ASSERT_TRUE(text.ok()) << text.error().to_string();
  Result<Envelope> back = parse(*text);
  ASSERT_TRUE(back.ok()) << back.error().to_string() << "\n" << *text;
  EXPECT_EQ(*back, original) << *text;
  Result<Envelope> typed = parse_as(*text, type_of(original.body));
  ASSERT_TRUE(typed.ok()) << typed.error().to_string();
  EXPECT_EQ(*typed, original);
}

Event full_event(std::uint64_t seq) {
  Event e;
  e.seq = seq;
  e.kind = EventKind::kAccessCompleted;
  e.at_ms = kTs - 5000;
  e.compartment = 12;
  e.token_id = "0123456789abcdef";
  e.action = TokenAction::kCourierLoad;
  e.order_ref = 9'000'000'000ULL;
  e.reason = "already_used";
  e.occupied = true;
  e.fill_percent = 80;
  e.command_id = "cmd_42-x";
  e.detail = "door closed after 12 s; caf\xc3\xa9 \"quoted\" \n newline";
  return e;
}

Event bare_event(std::uint64_t seq, EventKind kind = EventKind::kBoot) {
  Event e;
  e.seq = seq;
  e.kind = kind;
  e.at_ms = kTs;
  return e;
}

Reservation sample_reservation() {
  return Reservation{7, 123456, TokenAction::kDeposit, 1'767'300'000};
}

State full_state() {
  State s;
  s.compartments = {
      CompartmentState{1, "free", false, std::nullopt, "S"},
      CompartmentState{2, "occupied", false, 55, "M"},
      CompartmentState{3, "open", true, 0, "L"},
      CompartmentState{48, "out_of_service", false, 100, "XL"},
  };
  s.temperature_c = -3.25;
  s.humidity_percent = 61.5;
  s.tamper = true;
  s.maintenance = true;
  s.backlog = 17;
  s.last_seq = 1234;
  s.firmware_version = "0.1.0+g1a2b3c (dev)";
  s.uptime_s = 86400;
  s.config_revision = 9;
  return s;
}

Config full_config() {
  Config c;
  c.revision = 3;
  c.maintenance = true;
  c.keys = {
      TrustedKey{1, "-----BEGIN PUBLIC KEY-----\nMFkw...\n-----END PUBLIC KEY-----\n", true},
      TrustedKey{65535, "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", false},
  };
  c.reservations = {sample_reservation(), Reservation{8, 0, TokenAction::kReturn, 0}};
  c.revoked_token_ids = {"0000000000000000", "ffffffffffffffff"};
  return c;
}

// ---- round trips --------------------------------------------------------------------------------

TEST(MessagesRoundTrip, EventsWithAllOptionalFields) {
  expect_round_trip(envelope_of(Events{{full_event(41), full_event(42)}}));
}

TEST(MessagesRoundTrip, EventsWithNoOptionalFields) {
  expect_round_trip(envelope_of(Events{{bare_event(1)}}));
}

TEST(MessagesRoundTrip, EveryEventKind) {
  std::vector<Event> events;
  std::uint64_t seq = 100;
  for (EventKind k :
       {EventKind::kBoot, EventKind::kScanRejected, EventKind::kUnlocked, EventKind::kUnlockUnknown,
        EventKind::kDoorOpened, EventKind::kDoorClosed, EventKind::kAccessCompleted,
        EventKind::kJammed, EventKind::kForced, EventKind::kAjar, EventKind::kOutOfService,
        EventKind::kTamper, EventKind::kFillLevel, EventKind::kCommandExecuted}) {
    events.push_back(bare_event(seq++, k));
  }
  expect_round_trip(envelope_of(Events{events}));
}

TEST(MessagesRoundTrip, EveryTokenAction) {
  std::vector<Event> events;
  std::uint64_t seq = 1;
  for (TokenAction a : {TokenAction::kDeposit, TokenAction::kPickup, TokenAction::kCourierCollect,
                        TokenAction::kCourierLoad, TokenAction::kReturn}) {
    Event e = bare_event(seq++, EventKind::kUnlocked);
    e.action = a;
    events.push_back(e);
  }
  expect_round_trip(envelope_of(Events{events}));
}

TEST(MessagesRoundTrip, FullBatchAtTheTopOfTheSeqRange) {
  Events batch;
  const std::uint64_t last = std::numeric_limits<std::uint64_t>::max();
  for (std::uint64_t i = 0; i < kMaxEventsPerBatch; ++i) {
    batch.events.push_back(bare_event(last - kMaxEventsPerBatch + 1 + i));
  }
  expect_round_trip(envelope_of(batch));
}

TEST(MessagesRoundTrip, Ack) { expect_round_trip(envelope_of(Ack{987654321})); }

TEST(MessagesRoundTrip, CommandOpenWithReason) {
  Command c;
  c.id = "c-1";
  c.op = CommandOp::kOpen;
  c.compartment = 255;
  c.reason = "customer app: box QR scanned";
  expect_round_trip(envelope_of(c));
}

TEST(MessagesRoundTrip, CommandReleaseWithoutReason) {
  Command c;
  c.id = "c-2";
  c.op = CommandOp::kRelease;
  c.compartment = 1;
  expect_round_trip(envelope_of(c));
}

TEST(MessagesRoundTrip, CommandReserve) {
  Command c;
  c.id = "c-3";
  c.op = CommandOp::kReserve;
  c.reservation = sample_reservation();
  expect_round_trip(envelope_of(c));
}

TEST(MessagesRoundTrip, CommandRevoke) {
  Command c;
  c.id = "c-4";
  c.op = CommandOp::kRevoke;
  c.token_ids = {"0123456789abcdef", "fedcba9876543210"};
  c.reason = "order cancelled";
  expect_round_trip(envelope_of(c));
}

Access sample_access() {
  Access a;
  a.compartment = 7;
  a.order_ref = 123456;
  a.action = TokenAction::kPickup;
  a.token_id = "0123456789abcdef";
  a.until = 1'767'232'800;
  return a;
}

TEST(MessagesRoundTrip, CommandOpenAccess) {
  for (TokenAction action : {TokenAction::kDeposit, TokenAction::kPickup, TokenAction::kReturn}) {
    Command c;
    c.id = "access-1";
    c.op = CommandOp::kOpenAccess;
    c.access = sample_access();
    c.access->action = action;
    c.reason = "customer app: box QR scanned";
    SCOPED_TRACE(reclothes::to_string(action));
    expect_round_trip(envelope_of(c));
  }
}

TEST(MessagesParse, OpenAccessTokenIdIsNormalisedToLowerCase) {
  json j = {{"v", 1},
            {"type", "command"},
            {"id", "m"},
            {"ts", 1},
            {"box", "box-01"},
            {"body",
             {{"id", "c"},
              {"op", "open_access"},
              {"access",
               {{"compartment", 2},
                {"order_ref", 9},
                {"action", "return"},
                {"token_id", "0123456789ABCDEF"},
                {"until", 5}}}}}};
  Result<Envelope> env = parse(j.dump());
  ASSERT_TRUE(env.ok()) << env.error().to_string();
  const Command& c = std::get<Command>(env->body);
  ASSERT_TRUE(c.access.has_value());
  EXPECT_EQ(c.access->token_id, "0123456789abcdef");
  EXPECT_EQ(c.access->action, TokenAction::kReturn);
  EXPECT_FALSE(c.compartment.has_value());  // the compartment is the access's own
}

TEST(MessagesSerialize, OpenAccessRefusesATopLevelCompartment) {
  // A top-level compartment would be ignored by the receiver: the sender has a bug.
  Command c;
  c.id = "c";
  c.op = CommandOp::kOpenAccess;
  c.access = sample_access();
  c.compartment = 7;
  Result<std::string> text = serialize(envelope_of(c));
  ASSERT_FALSE(text.ok());
  EXPECT_NE(text.error().message.find("/body/compartment: not used by op \"open_access\""),
            std::string::npos)
      << text.error().message;
  // ... and access is refused on every other op.
  Command open{"c", CommandOp::kOpen, 3, std::nullopt, {}, std::nullopt, sample_access()};
  Result<std::string> open_text = serialize(envelope_of(open));
  ASSERT_FALSE(open_text.ok());
  EXPECT_NE(open_text.error().message.find("/body/access"), std::string::npos);
}

TEST(MessagesRoundTrip, LargestRevokeFitsTheCommandLimit) {
  Command c;
  c.id = std::string(kMaxIdLength, 'c');
  c.op = CommandOp::kRevoke;
  for (std::size_t i = 0; i < kMaxRevokePerCommand; ++i) {
    char id[17];
    std::snprintf(id, sizeof id, "%016zx", i);
    c.token_ids.emplace_back(id);
  }
  c.reason = std::string(kMaxDetailBytes, 'r');
  Envelope env = envelope_of(c);
  env.id = std::string(kMaxIdLength, 'm');
  env.box_id = std::string(kMaxBoxIdLength, 'b');
  expect_round_trip(env);
}

TEST(MessagesRoundTrip, CommandsWithoutFields) {
  for (CommandOp op :
       {CommandOp::kMaintenanceOn, CommandOp::kMaintenanceOff, CommandOp::kConfigUpdate}) {
    Command c;
    c.id = "c-" + std::string(to_string(op));
    c.op = op;
    SCOPED_TRACE(to_string(op));
    expect_round_trip(envelope_of(c));
  }
}

TEST(MessagesRoundTrip, CommandResult) {
  expect_round_trip(envelope_of(CommandResult{"c-1", false, "door_open", "compartment 3 is open"}));
  expect_round_trip(envelope_of(CommandResult{"c-2", true, "ok", ""}));
}

TEST(MessagesRoundTrip, StateWithAllOptionalFields) {
  expect_round_trip(envelope_of(full_state()));
}

TEST(MessagesRoundTrip, StateWithNoOptionalFields) {
  State s;
  s.firmware_version = "1.0.0";
  expect_round_trip(envelope_of(s));
}

TEST(MessagesRoundTrip, Status) {
  expect_round_trip(envelope_of(Status{true, "1.2.3"}));
  expect_round_trip(envelope_of(Status{false, "1.2.3"}));
}

TEST(MessagesRoundTrip, ConfigFull) { expect_round_trip(envelope_of(full_config())); }

TEST(MessagesRoundTrip, ConfigWithEmptyLists) {
  Config c;
  c.revision = 1;
  expect_round_trip(envelope_of(c));
}

TEST(MessagesRoundTrip, ConfigWithTheLargestRevocationList) {
  Config c;
  c.revision = 2;
  for (std::size_t i = 0; i < kMaxRevokedInConfig; ++i) {
    char id[17];
    std::snprintf(id, sizeof id, "%016zx", i);
    c.revoked_token_ids.emplace_back(id);
  }
  expect_round_trip(envelope_of(c));
}

// ---- serialize ----------------------------------------------------------------------------------

TEST(MessagesSerialize, CompactWithEnvelopeFirstAndNulloptOmitted) {
  Result<std::string> text = serialize(envelope_of(Events{{bare_event(1)}}));
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, R"({"v":1,"type":"events","id":"msg-0001","ts":1767225600123,"box":"box-01",)"
                   R"("body":{"events":[{"seq":1,"kind":"boot","at_ms":1767225600123}]}})");
}

TEST(MessagesSerialize, EnumStringsAreSnakeCase) {
  Event e = bare_event(1, EventKind::kCommandExecuted);
  e.action = TokenAction::kCourierCollect;
  Result<std::string> text = serialize(envelope_of(Events{{e}}));
  ASSERT_TRUE(text.ok());
  EXPECT_NE(text->find(R"("kind":"command_executed")"), std::string::npos);
  EXPECT_NE(text->find(R"("action":"courier_collect")"), std::string::npos);
  Command c{"c",         CommandOp::kMaintenanceOff, std::nullopt, std::nullopt, {}, std::nullopt,
            std::nullopt};
  Result<std::string> command = serialize(envelope_of(c));
  ASSERT_TRUE(command.ok());
  EXPECT_NE(command->find(R"("type":"command")"), std::string::npos);
  EXPECT_NE(command->find(R"("op":"maintenance_off")"), std::string::npos);
}

// The controller stores events as event_json() encodes them; this is what keeps the stored shape
// the wire's.
TEST(MessagesEventJson, IsEachEventAsSerializeWritesIt) {
  const Event full = full_event(7);
  const Event bare = bare_event(8, EventKind::kDoorOpened);
  Result<std::string> text = serialize(envelope_of(Events{{full, bare}}));
  ASSERT_TRUE(text.ok()) << text.error().to_string();
  const json wire = json::parse(*text)["body"]["events"];
  ASSERT_EQ(wire.size(), 2u);
  EXPECT_EQ(event_json(full), wire[0]);
  EXPECT_EQ(event_json(bare), wire[1]);
  EXPECT_FALSE(event_json(bare).contains("compartment"));  // nullopt fields are left out
}

TEST(MessagesSerialize, NormalisesTokenIdsToLowerCase) {
  Command c;
  c.id = "c";
  c.op = CommandOp::kRevoke;
  c.token_ids = {"ABCDEF0123456789"};
  Result<std::string> text = serialize(envelope_of(c));
  ASSERT_TRUE(text.ok());
  EXPECT_NE(text->find("abcdef0123456789"), std::string::npos);
  EXPECT_EQ(text->find("ABCDEF"), std::string::npos);
}

TEST(MessagesSerialize, RefusesWhatParseWouldRejectNamingTheField) {
  Event e = bare_event(1);
  e.compartment = 0;
  Result<std::string> text = serialize(envelope_of(Events{{e}}));
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(text.error().message.find("/body/events/0/compartment: expected an integer 1..255"),
            std::string::npos)
      << text.error().message;

  Envelope bad_box = envelope_of(Ack{1});
  bad_box.box_id = "box/1";
  Result<std::string> box = serialize(bad_box);
  ASSERT_FALSE(box.ok());
  EXPECT_NE(box.error().message.find("/box:"), std::string::npos) << box.error().message;

  Envelope bad_version = envelope_of(Ack{1});
  bad_version.version = 2;
  EXPECT_FALSE(serialize(bad_version).ok());

  EXPECT_FALSE(serialize(envelope_of(Events{})).ok());  // an empty batch
  Event bad_kind = bare_event(1);
  bad_kind.kind = static_cast<EventKind>(99);
  EXPECT_FALSE(serialize(envelope_of(Events{{bad_kind}})).ok());
}

TEST(MessagesSerialize, RefusesNonConsecutiveSeqs) {
  Result<std::string> text = serialize(envelope_of(Events{{bare_event(1), bare_event(3)}}));
  ASSERT_FALSE(text.ok());
  EXPECT_NE(text.error().message.find("/body/events/1/seq"), std::string::npos);
}

TEST(MessagesSerialize, RefusesNonFiniteNumbers) {
  State s = full_state();
  s.temperature_c = std::numeric_limits<double>::infinity();
  Result<std::string> text = serialize(envelope_of(s));
  ASSERT_FALSE(text.ok());
  EXPECT_NE(text.error().message.find("/body/temperature_c"), std::string::npos);
}

TEST(MessagesSerialize, RefusesFieldsTheCommandOpDoesNotUse) {
  Command c;
  c.id = "c";
  c.op = CommandOp::kReserve;
  c.reservation = sample_reservation();
  c.compartment = 7;
  Result<std::string> text = serialize(envelope_of(c));
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(text.error().message.find("/body/compartment: not used by op \"reserve\""),
            std::string::npos)
      << text.error().message;

  Command open{"c",          CommandOp::kOpen, 3, std::nullopt, {"0123456789abcdef"},
               std::nullopt, std::nullopt};
  Result<std::string> open_text = serialize(envelope_of(open));
  ASSERT_FALSE(open_text.ok());
  EXPECT_NE(open_text.error().message.find("/body/token_ids"), std::string::npos);
}

TEST(MessagesSerialize, RefusesInvalidUtf8InFreeText) {
  Event e = bare_event(1);
  e.detail = std::string("bad \xff byte");
  Result<std::string> text = serialize(envelope_of(Events{{e}}));
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(text.error().message.find("UTF-8"), std::string::npos);
}

TEST(MessagesSerialize, OversizeIsResourceExhausted) {
  // Control characters are escaped as \u00XX, so 512 of them take 3 KiB in JSON: 256 such events
  // are valid one by one but too big together.
  Events batch;
  for (std::uint64_t i = 1; i <= kMaxEventsPerBatch; ++i) {
    Event e = bare_event(i);
    e.detail = std::string(kMaxDetailBytes, '\x01');
    batch.events.push_back(e);
  }
  Result<std::string> text = serialize(envelope_of(batch));
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.error().code, ErrorCode::kResourceExhausted);
  EXPECT_NE(text.error().message.find("262144"), std::string::npos) << text.error().message;
}

TEST(MessagesSerialize, MakeEnvelopeGivesFreshRandomIds) {
  Envelope a = make_envelope("box-01", kTs, Ack{1});
  Envelope b = make_envelope("box-01", kTs, Ack{1});
  EXPECT_EQ(a.id.size(), 32u);
  EXPECT_TRUE(is_valid_id(a.id));
  EXPECT_NE(a.id, b.id);
  EXPECT_EQ(a.version, kSchemaVersion);
  EXPECT_EQ(a.box_id, "box-01");
  EXPECT_EQ(a.ts_ms, kTs);
  EXPECT_TRUE(serialize(a).ok());
}

// ---- parse: accepted inputs ---------------------------------------------------------------------

json sample_json(MessageType type) {
  Body body = Ack{5};
  switch (type) {
    case MessageType::kEvents:
      body = Events{{full_event(5), bare_event(6), bare_event(7)}};
      break;
    case MessageType::kAck:
      body = Ack{5};
      break;
    case MessageType::kCommand:
      body = Command{"c-9", CommandOp::kOpen, 4, std::nullopt, {}, "remote open", std::nullopt};
      break;
    case MessageType::kCommandResult:
      body = CommandResult{"c-9", true, "ok", "done"};
      break;
    case MessageType::kState:
      body = full_state();
      break;
    case MessageType::kStatus:
      body = Status{true, "1.0.0"};
      break;
    case MessageType::kConfig:
      body = full_config();
      break;
  }
  Result<std::string> text = serialize(envelope_of(body));
  EXPECT_TRUE(text.ok());
  return json::parse(text.value_or("{}"));
}

TEST(MessagesParse, UnknownExtraFieldsAreIgnored) {
  json j = sample_json(MessageType::kEvents);
  j["future_top_level"] = {{"nested", {1, 2, 3}}};
  j["body"]["future_body_field"] = "x";
  j["body"]["events"][1]["future_event_field"] = 12.5;
  Result<Envelope> env = parse(j.dump());
  ASSERT_TRUE(env.ok()) << env.error().to_string();
  EXPECT_EQ(*env, *parse(sample_json(MessageType::kEvents).dump()));
}

TEST(MessagesParse, CommandIgnoresFieldsItsOpDoesNotUse) {
  json j = sample_json(MessageType::kCommand);
  j["body"]["op"] = "maintenance_on";
  j["body"]["token_ids"] = "not even an array";  // ignored, so not validated either
  Result<Envelope> env = parse(j.dump());
  ASSERT_TRUE(env.ok()) << env.error().to_string();
  const auto& c = std::get<Command>(env->body);
  EXPECT_EQ(c.op, CommandOp::kMaintenanceOn);
  EXPECT_FALSE(c.compartment.has_value());
  EXPECT_TRUE(c.token_ids.empty());
  EXPECT_TRUE(serialize(*env).ok());
}

TEST(MessagesParse, UpperCaseTokenIdsAreNormalised) {
  json j = sample_json(MessageType::kEvents);
  j["body"]["events"][0]["token_id"] = "0123456789ABCDEF";
  Result<Envelope> env = parse(j.dump());
  ASSERT_TRUE(env.ok()) << env.error().to_string();
  EXPECT_EQ(std::get<Events>(env->body).events[0].token_id, "0123456789abcdef");
}

TEST(MessagesParse, WhitespaceAndKeyOrderDoNotMatter) {
  Result<Envelope> env = parse(
      " {\n \"body\" : { \"upto\" : 12 } , \"box\":\"b\",\t\"ts\":0, \"id\":\"i\", "
      "\"type\":\"ack\","
      " \"v\":1 }\n");
  ASSERT_TRUE(env.ok()) << env.error().to_string();
  EXPECT_EQ(std::get<Ack>(env->body).upto, 12u);
}

TEST(MessagesParse, NestingUpToTheLimitIsAccepted) {
  // The envelope is depth 1 and an extra body field holds 15 more levels: 16 in all.
  json nested = json::array();
  for (int i = 0; i < kMaxNestingDepth - 3; ++i) nested = json::array({nested});
  json j = sample_json(MessageType::kAck);
  j["body"]["extra"] = nested;  // body (2) + 14 arrays = depth 16
  EXPECT_TRUE(parse(j.dump()).ok()) << parse(j.dump()).error().to_string();
  j["body"]["extra"] = json::array({nested});  // depth 17
  Result<Envelope> deep = parse(j.dump());
  ASSERT_FALSE(deep.ok());
  EXPECT_NE(deep.error().message.find("deeper than 16"), std::string::npos);
}

TEST(MessagesParse, PayloadExactlyAtTheLimitIsJudgedOnContent) {
  const std::size_t limit = max_payload_bytes(MessageType::kAck);
  std::string good = sample_json(MessageType::kAck).dump();
  std::string padded = good + std::string(limit - good.size(), ' ');
  ASSERT_EQ(padded.size(), limit);
  Result<Envelope> at_limit = parse(padded);
  EXPECT_TRUE(at_limit.ok()) << at_limit.error().to_string();
  EXPECT_TRUE(parse_as(padded, MessageType::kAck).ok());

  json bad = sample_json(MessageType::kAck);
  bad["body"]["upto"] = 0;
  std::string bad_text = bad.dump();
  std::string bad_padded = bad_text + std::string(limit - bad_text.size(), ' ');
  Result<Envelope> judged = parse(bad_padded);
  ASSERT_FALSE(judged.ok());
  EXPECT_EQ(judged.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(judged.error().message.find("/body/upto"), std::string::npos);

  Result<Envelope> over = parse(padded + " ");
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().code, ErrorCode::kResourceExhausted);
  Result<Envelope> over_typed = parse_as(padded + " ", MessageType::kAck);
  ASSERT_FALSE(over_typed.ok());
  EXPECT_EQ(over_typed.error().code, ErrorCode::kResourceExhausted);
}

TEST(MessagesParse, EachTypeHasItsOwnLimit) {
  // A valid message of each type padded to one byte over its limit: refused for size only.
  for (MessageType t :
       {MessageType::kEvents, MessageType::kAck, MessageType::kCommand, MessageType::kCommandResult,
        MessageType::kState, MessageType::kStatus, MessageType::kConfig}) {
    SCOPED_TRACE(to_string(t));
    std::string text = sample_json(t).dump();
    std::string at_limit = text + std::string(max_payload_bytes(t) - text.size(), '\n');
    EXPECT_TRUE(parse(at_limit).ok());
    Result<Envelope> over = parse(at_limit + "\n");
    ASSERT_FALSE(over.ok());
    EXPECT_EQ(over.error().code, ErrorCode::kResourceExhausted);
  }
  EXPECT_EQ(max_payload_bytes(MessageType::kEvents), 256u * 1024);
  EXPECT_EQ(max_payload_bytes(MessageType::kConfig), 1024u * 1024);
  EXPECT_EQ(max_payload_bytes(MessageType::kState), 64u * 1024);
  EXPECT_EQ(max_payload_bytes(MessageType::kCommand), 32u * 1024);
  EXPECT_EQ(max_payload_bytes(MessageType::kAck), 16u * 1024);
  EXPECT_EQ(max_payload_bytes(MessageType::kCommandResult), 16u * 1024);
  EXPECT_EQ(max_payload_bytes(MessageType::kStatus), 16u * 1024);
}

TEST(MessagesParse, OversizeIsRefusedBeforeParsing) {
  // Not JSON at all: only a size check that runs first can give kResourceExhausted here.
  std::string garbage(kMaxPayloadBytes + 1, '[');
  Result<Envelope> env = parse(garbage);
  ASSERT_FALSE(env.ok());
  EXPECT_EQ(env.error().code, ErrorCode::kResourceExhausted);
  std::string small_garbage(max_payload_bytes(MessageType::kAck) + 1, '{');
  Result<Envelope> typed = parse_as(small_garbage, MessageType::kAck);
  ASSERT_FALSE(typed.ok());
  EXPECT_EQ(typed.error().code, ErrorCode::kResourceExhausted);
}

TEST(MessagesParse, VeryDeepNestingIsRefusedWithoutCrashing) {
  std::string deep(max_payload_bytes(MessageType::kEvents), '[');
  Result<Envelope> env = parse_as(deep, MessageType::kEvents);
  ASSERT_FALSE(env.ok());
  EXPECT_EQ(env.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(env.error().message.find("deeper than 16"), std::string::npos);
  std::string objects;
  for (int i = 0; i < 10000; ++i) objects += R"({"a":)";
  EXPECT_FALSE(parse(objects).ok());
}

TEST(MessagesParse, InvalidUtf8IsRefusedWithAPrintableMessage) {
  const std::string payload = "{\"v\":1,\"type\":\"ack\",\"id\":\"\xff\xfe\x01\"}";
  Result<Envelope> env = parse(payload);
  ASSERT_FALSE(env.ok());
  EXPECT_EQ(env.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(env.error().message.find("not valid JSON"), std::string::npos);
  for (char c : env.error().message) EXPECT_TRUE(c >= 0x20 && c <= 0x7e) << env.error().message;
}

TEST(MessagesParse, ParseAsRefusesAnotherType) {
  const std::string events = sample_json(MessageType::kEvents).dump();
  Result<Envelope> env = parse_as(events, MessageType::kAck);
  ASSERT_FALSE(env.ok());
  EXPECT_EQ(env.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(env.error().message.find("/type: expected type \"ack\", got \"events\""),
            std::string::npos)
      << env.error().message;
  EXPECT_TRUE(parse_as(events, MessageType::kEvents).ok());
}

TEST(MessagesParse, ParseAsAppliesTheExpectedTypesLimitBeforeParsing) {
  // A valid events message of 20 KiB is fine as events but over the ack limit.
  Events batch;
  for (std::uint64_t i = 1; i <= 40; ++i) {
    Event e = bare_event(i);
    e.detail = std::string(500, 'x');
    batch.events.push_back(e);
  }
  Result<std::string> text = serialize(envelope_of(batch));
  ASSERT_TRUE(text.ok());
  ASSERT_GT(text->size(), max_payload_bytes(MessageType::kAck));
  EXPECT_TRUE(parse_as(*text, MessageType::kEvents).ok());
  Result<Envelope> as_ack = parse_as(*text, MessageType::kAck);
  ASSERT_FALSE(as_ack.ok());
  EXPECT_EQ(as_ack.error().code, ErrorCode::kResourceExhausted);
}

// ---- parse: rejected inputs (table) -------------------------------------------------------------

struct BadCase {
  std::string name;
  MessageType base = MessageType::kEvents;
  std::function<void(json&)> mutate;  // applied to a valid message of type `base`
  std::string raw;                    // used instead when mutate is empty
  std::string message;                // expected in the error message
  ErrorCode code = ErrorCode::kInvalidArgument;
};

void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name; }

std::string payload_of(const BadCase& c) {
  if (!c.mutate) return c.raw;
  json j = sample_json(c.base);
  c.mutate(j);
  return j.dump();
}

std::function<void(json&)> set_at(const std::string& pointer, json value) {
  return [pointer, value](json& j) { j[json::json_pointer(pointer)] = value; };
}

std::function<void(json&)> erase(const std::string& pointer) {
  return [pointer](json& j) {
    json::json_pointer ptr(pointer);
    j[ptr.parent_pointer()].erase(ptr.back());
  };
}

BadCase raw(std::string name, std::string payload, std::string message) {
  return BadCase{std::move(name), MessageType::kEvents, nullptr, std::move(payload),
                 std::move(message)};
}

BadCase mut(std::string name, MessageType base, std::function<void(json&)> mutate,
            std::string message) {
  return BadCase{std::move(name), base, std::move(mutate), "", std::move(message)};
}

json token_list(std::size_t n) {
  json list = json::array();
  for (std::size_t i = 0; i < n; ++i) {
    char id[17];
    std::snprintf(id, sizeof id, "%016zx", i);
    list.push_back(id);
  }
  return list;
}

json events_with(std::size_t n) {
  json list = json::array();
  for (std::size_t i = 0; i < n; ++i) {
    list.push_back({{"seq", i + 1}, {"kind", "boot"}, {"at_ms", 0}});
  }
  return list;
}

std::vector<BadCase> bad_cases() {
  using T = MessageType;
  const T E = T::kEvents;
  return {
      // Text level.
      raw("MalformedJson", R"({"v":1,"type":)", "not valid JSON"),
      raw("EmptyPayload", "", "not valid JSON"),
      raw("TrailingGarbage", R"({"v":1} x)", "not valid JSON"),
      raw("NotAnObjectArray", "[1,2,3]", "payload: expected a JSON object, got an array"),
      raw("NotAnObjectNumber", "42", "payload: expected a JSON object, got 42"),
      raw("NotAnObjectString", R"("hello")",
          "payload: expected a JSON object, got the string \"hello\""),
      raw("DuplicateKey", R"({"v":1,"v":1})", "/v: duplicate key"),
      raw("DeepNesting", std::string(17, '[') + std::string(17, ']'), "deeper than 16 levels"),
      mut("DeepNestingInsideABody", E,
          set_at("/body/x", json::parse(std::string(15, '[') + std::string(15, ']'))),
          "deeper than 16 levels"),
      // Envelope.
      mut("WrongVersion", E, set_at("/v", 2),
          "/v: unsupported schema version 2; this build supports version 1"),
      mut("VersionZero", E, set_at("/v", 0), "/v: unsupported schema version 0"),
      mut("VersionAsString", E, set_at("/v", "1"), "/v: expected an integer, got the string \"1\""),
      mut("UnknownType", E, set_at("/type", "event"), "/type: unknown message type \"event\""),
      mut("TypeNotAString", E, set_at("/type", 3), "/type: expected a string, got 3"),
      mut("MissingVersion", E, erase("/v"), "/v: missing required field"),
      mut("MissingType", E, erase("/type"), "/type: missing required field"),
      mut("MissingId", E, erase("/id"), "/id: missing required field"),
      mut("MissingTs", E, erase("/ts"), "/ts: missing required field"),
      mut("MissingBox", E, erase("/box"), "/box: missing required field"),
      mut("MissingBody", E, erase("/body"), "/body: missing required field"),
      mut("IdWithSpace", E, set_at("/id", "a b"), "/id: expected an id of 1..64 characters"),
      mut("IdTooLong", E, set_at("/id", std::string(65, 'a')), "/id: expected an id"),
      mut("IdEmpty", E, set_at("/id", ""), "/id: expected an id"),
      mut("TsAsString", E, set_at("/ts", "1767225600123"),
          "/ts: expected a non-negative integer, got the string \"1767225600123\""),
      mut("TsAsFloat", E, set_at("/ts", 1.5),
          "/ts: expected a non-negative integer, got the number 1.5"),
      mut("TsNegative", E, set_at("/ts", -1), "/ts: expected a non-negative integer, got -1"),
      mut("TsTooBig", E, set_at("/ts", std::numeric_limits<std::uint64_t>::max()), "/ts: expected"),
      mut("BodyNotAnObject", E, set_at("/body", json::array()), "/body: expected an object"),
      mut("BoxWithSlash", E, set_at("/box", "box/1"), "/box: expected a box id"),
      mut("BoxWithWildcard", E, set_at("/box", "+"), "/box: expected a box id"),
      mut("BoxTooLong", E, set_at("/box", std::string(33, 'b')), "/box: expected a box id"),
      mut("BoxEmpty", E, set_at("/box", ""), "/box: expected a box id"),
      // Events.
      mut("EventsMissing", E, erase("/body/events"), "/body/events: missing required field"),
      mut("EventsEmpty", E, set_at("/body/events", json::array()),
          "/body/events: expected an array of 1..256 items, got 0 items"),
      mut("EventsTooMany", E, set_at("/body/events", events_with(257)),
          "/body/events: expected an array of 1..256 items, got 257 items"),
      mut("EventNotAnObject", E, set_at("/body/events/1", 5), "/body/events/1: expected an object"),
      mut("SeqMissing", E, erase("/body/events/0/seq"), "/body/events/0/seq: missing required"),
      mut("SeqAsString", E, set_at("/body/events/0/seq", "5"),
          "/body/events/0/seq: expected an unsigned integer >= 1, got the string \"5\""),
      mut("SeqAsFloat", E, set_at("/body/events/0/seq", 5.0),
          "/body/events/0/seq: expected an unsigned integer >= 1, got the number 5.0"),
      mut("SeqNegative", E, set_at("/body/events/0/seq", -5),
          "/body/events/0/seq: expected an unsigned integer >= 1, got -5"),
      mut("SeqZero", E, set_at("/body/events/0/seq", 0),
          "/body/events/0/seq: expected an unsigned integer >= 1, got 0"),
      mut("SeqAsBool", E, set_at("/body/events/0/seq", true),
          "/body/events/0/seq: expected an unsigned integer >= 1, got the boolean true"),
      raw("SeqOverflowsUint64",
          R"({"v":1,"type":"events","id":"i","ts":0,"box":"b","body":{"events":[)"
          R"({"seq":18446744073709551616,"kind":"boot","at_ms":0}]}})",
          "/body/events/0/seq: expected an unsigned integer >= 1, got the number "
          "1.8446744073709552e+19"),
      mut("SeqGap", E, set_at("/body/events/2/seq", 8),
          "/body/events/2/seq: seqs in a batch must be consecutive: expected 7, got 8"),
      mut("SeqRepeated", E, set_at("/body/events/1/seq", 5),
          "/body/events/1/seq: seqs in a batch must be consecutive: expected 6, got 5"),
      mut("UnknownEventKind", E, set_at("/body/events/1/kind", "opened"),
          "/body/events/1/kind: unknown event kind \"opened\""),
      mut("EventKindWrongCase", E, set_at("/body/events/1/kind", "BOOT"),
          "/body/events/1/kind: unknown event kind \"BOOT\""),
      mut("AtMsNegative", E, set_at("/body/events/0/at_ms", -1), "/body/events/0/at_ms: expected"),
      mut("CompartmentZero", E, set_at("/body/events/0/compartment", 0),
          "/body/events/0/compartment: expected an integer 1..255, got 0"),
      mut("CompartmentTooBig", E, set_at("/body/events/0/compartment", 256),
          "/body/events/0/compartment: expected an integer 1..255, got 256"),
      mut("CompartmentAsBool", E, set_at("/body/events/0/compartment", false),
          "/body/events/0/compartment: expected an integer 1..255, got the boolean false"),
      mut("OptionalFieldNull", E, set_at("/body/events/0/compartment", nullptr),
          "/body/events/0/compartment: expected an integer 1..255, got null"),
      mut("FillAbove100", E, set_at("/body/events/0/fill_percent", 101),
          "/body/events/0/fill_percent: expected an integer 0..100, got 101"),
      mut("FillNegative", E, set_at("/body/events/0/fill_percent", -1),
          "/body/events/0/fill_percent: expected an integer 0..100, got -1"),
      mut("OccupiedAsInt", E, set_at("/body/events/0/occupied", 1),
          "/body/events/0/occupied: expected a boolean, got 1"),
      mut("OrderRefNegative", E, set_at("/body/events/0/order_ref", -7),
          "/body/events/0/order_ref: expected an unsigned integer, got -7"),
      mut("TokenIdTooShort", E, set_at("/body/events/0/token_id", "0123456789abcde"),
          "/body/events/0/token_id: expected a token id of 16 hex digits"),
      mut("TokenIdTooLong", E, set_at("/body/events/0/token_id", "0123456789abcdef0"),
          "/body/events/0/token_id: expected a token id of 16 hex digits"),
      mut("TokenIdNotHex", E, set_at("/body/events/0/token_id", "0123456789abcdeg"),
          "/body/events/0/token_id: expected a token id of 16 hex digits"),
      mut("UnknownAction", E, set_at("/body/events/0/action", "steal"),
          "/body/events/0/action: unknown token action \"steal\""),
      mut("ReasonNotACode", E, set_at("/body/events/0/reason", "Already Used"),
          "/body/events/0/reason: expected a code of 1..64 characters [a-z0-9_]"),
      mut("CommandIdInvalid", E, set_at("/body/events/0/command_id", "c 1"),
          "/body/events/0/command_id: expected an id"),
      mut("DetailTooLong", E, set_at("/body/events/0/detail", std::string(513, 'd')),
          "/body/events/0/detail: expected a string of 0..512 bytes, got 513 bytes"),
      mut("DetailAsNumber", E, set_at("/body/events/0/detail", 5),
          "/body/events/0/detail: expected a string, got 5"),
      // Ack.
      mut("AckUptoZero", T::kAck, set_at("/body/upto", 0),
          "/body/upto: expected an unsigned integer >= 1"),
      mut("AckUptoMissing", T::kAck, erase("/body/upto"), "/body/upto: missing required field"),
      mut("AckUptoAsFloat", T::kAck, set_at("/body/upto", 5.5), "/body/upto: expected"),
      // Command.
      mut("UnknownCommandOp", T::kCommand, set_at("/body/op", "explode"),
          "/body/op: unknown command op \"explode\""),
      mut("CommandIdMissing", T::kCommand, erase("/body/id"), "/body/id: missing required field"),
      mut("OpenWithoutCompartment", T::kCommand, erase("/body/compartment"),
          "/body/compartment: missing required field"),
      mut(
          "ReleaseWithoutCompartment", T::kCommand,
          [](json& j) {
            j["body"]["op"] = "release";
            j["body"].erase("compartment");
          },
          "/body/compartment: missing required field"),
      mut("OpenCompartmentOutOfRange", T::kCommand, set_at("/body/compartment", 300),
          "/body/compartment: expected an integer 1..255, got 300"),
      mut("ReserveWithoutReservation", T::kCommand, set_at("/body/op", "reserve"),
          "/body/reservation: missing required field"),
      mut(
          "ReserveWithBadReservation", T::kCommand,
          [](json& j) {
            j["body"]["op"] = "reserve";
            j["body"]["reservation"] = {
                {"compartment", 0}, {"order_ref", 1}, {"action", "deposit"}, {"until", 5}};
          },
          "/body/reservation/compartment: expected an integer 1..255, got 0"),
      mut(
          "ReserveWithoutUntil", T::kCommand,
          [](json& j) {
            j["body"]["op"] = "reserve";
            j["body"]["reservation"] = {
                {"compartment", 1}, {"order_ref", 1}, {"action", "deposit"}};
          },
          "/body/reservation/until: missing required field"),
      mut("RevokeWithoutTokenIds", T::kCommand, set_at("/body/op", "revoke"),
          "/body/token_ids: missing required field"),
      mut(
          "RevokeWithNoTokenIds", T::kCommand,
          [](json& j) {
            j["body"]["op"] = "revoke";
            j["body"]["token_ids"] = json::array();
          },
          "/body/token_ids: expected an array of 1..1000 items, got 0 items"),
      mut(
          "RevokeWithTooManyTokenIds", T::kCommand,
          [](json& j) {
            j["body"]["op"] = "revoke";
            j["body"]["token_ids"] = token_list(1001);
          },
          "/body/token_ids: expected an array of 1..1000 items, got 1001 items"),
      mut(
          "RevokeWithBadTokenId", T::kCommand,
          [](json& j) {
            j["body"]["op"] = "revoke";
            j["body"]["token_ids"] = {"0123456789abcdef", "xyz"};
          },
          "/body/token_ids/1: expected a token id of 16 hex digits"),
      mut("OpenAccessWithoutAccess", T::kCommand, set_at("/body/op", "open_access"),
          "/body/access: missing required field"),
      mut(
          "OpenAccessWithCourierAction", T::kCommand,
          [](json& j) {
            j["body"]["op"] = "open_access";
            j["body"]["access"] = {{"compartment", 1},
                                   {"order_ref", 1},
                                   {"action", "courier_collect"},
                                   {"token_id", "0123456789abcdef"},
                                   {"until", 5}};
          },
          "/body/access/action: open_access takes a customer action"),
      mut(
          "OpenAccessWithoutTokenId", T::kCommand,
          [](json& j) {
            j["body"]["op"] = "open_access";
            j["body"]["access"] = {
                {"compartment", 1}, {"order_ref", 1}, {"action", "deposit"}, {"until", 5}};
          },
          "/body/access/token_id: missing required field"),
      mut(
          "OpenAccessWithBadTokenId", T::kCommand,
          [](json& j) {
            j["body"]["op"] = "open_access";
            j["body"]["access"] = {{"compartment", 1},
                                   {"order_ref", 1},
                                   {"action", "deposit"},
                                   {"token_id", "xyz"},
                                   {"until", 5}};
          },
          "/body/access/token_id: expected a token id of 16 hex digits"),
      mut(
          "OpenAccessWithNegativeUntil", T::kCommand,
          [](json& j) {
            j["body"]["op"] = "open_access";
            j["body"]["access"] = {{"compartment", 1},
                                   {"order_ref", 1},
                                   {"action", "deposit"},
                                   {"token_id", "0123456789abcdef"},
                                   {"until", -1}};
          },
          "/body/access/until: expected"),
      mut(
          "OpenAccessCompartmentOutOfRange", T::kCommand,
          [](json& j) {
            j["body"]["op"] = "open_access";
            j["body"]["access"] = {{"compartment", 0},
                                   {"order_ref", 1},
                                   {"action", "deposit"},
                                   {"token_id", "0123456789abcdef"},
                                   {"until", 5}};
          },
          "/body/access/compartment: expected an integer 1..255, got 0"),
      mut("CommandReasonTooLong", T::kCommand, set_at("/body/reason", std::string(600, 'r')),
          "/body/reason: expected a string of 0..512 bytes"),
      // Command result.
      mut("ResultOkAsString", T::kCommandResult, set_at("/body/ok", "true"),
          "/body/ok: expected a boolean, got the string \"true\""),
      mut("ResultCodeNotACode", T::kCommandResult, set_at("/body/code", "Door Open"),
          "/body/code: expected a code"),
      mut("ResultMessageMissing", T::kCommandResult, erase("/body/message"),
          "/body/message: missing required field"),
      // State.
      mut("StateDuplicateCompartment", T::kState, set_at("/body/compartments/1/id", 1),
          "/body/compartments/1/id: compartment 1 is listed twice"),
      mut("StateUnknownSize", T::kState, set_at("/body/compartments/0/size", "XXL"),
          "/body/compartments/0/size: unknown compartment size \"XXL\""),
      mut("StateTemperatureAsString", T::kState, set_at("/body/temperature_c", "20"),
          "/body/temperature_c: expected a number, got the string \"20\""),
      raw("StateTemperatureInfinite",
          R"({"v":1,"type":"state","id":"i","ts":0,"box":"b","body":{"compartments":[],)"
          R"("temperature_c":1e400,"tamper":false,"maintenance":false,"backlog":0,"last_seq":0,)"
          R"("firmware_version":"1","uptime_s":0,"config_revision":0}})",
          "number overflow"),
      mut("StateHumidityOver100", T::kState, set_at("/body/humidity_percent", 100.5),
          "/body/humidity_percent: expected a number in 0.0..100.0, got 100.5"),
      mut("StateMissingFirmware", T::kState, erase("/body/firmware_version"),
          "/body/firmware_version: missing required field"),
      mut("StateBacklogNegative", T::kState, set_at("/body/backlog", -1),
          "/body/backlog: expected an unsigned integer, got -1"),
      // Status.
      mut("StatusOnlineAsInt", T::kStatus, set_at("/body/online", 0),
          "/body/online: expected a boolean, got 0"),
      mut("StatusEmptyFirmware", T::kStatus, set_at("/body/firmware_version", ""),
          "/body/firmware_version: expected 1..64 printable ASCII characters"),
      // Config.
      mut("ConfigRevisionZero", T::kConfig, set_at("/body/revision", 0),
          "/body/revision: expected an unsigned integer >= 1, got 0"),
      mut("ConfigKeyIdTooBig", T::kConfig, set_at("/body/keys/0/key_id", 65536),
          "/body/keys/0/key_id: expected an integer 0..65535, got 65536"),
      mut("ConfigDuplicateKeyId", T::kConfig, set_at("/body/keys/1/key_id", 1),
          "/body/keys/1/key_id: key id 1 is listed twice"),
      mut("ConfigEmptyPem", T::kConfig, set_at("/body/keys/0/public_pem", ""),
          "/body/keys/0/public_pem: expected a string of 1..4096 bytes, got 0 bytes"),
      mut("ConfigReservationUnknownAction", T::kConfig,
          set_at("/body/reservations/1/action", "Deposit"),
          "/body/reservations/1/action: unknown token action \"Deposit\""),
      mut("ConfigTooManyRevoked", T::kConfig, set_at("/body/revoked_token_ids", token_list(10001)),
          "/body/revoked_token_ids: expected an array of 0..10000 items, got 10001 items"),
      mut("ConfigBadRevokedId", T::kConfig, set_at("/body/revoked_token_ids/1", "nothex!!nothex!!"),
          "/body/revoked_token_ids/1: expected a token id of 16 hex digits"),
      mut("ConfigMissingKeys", T::kConfig, erase("/body/keys"), "/body/keys: missing required"),
  };
}

class MessagesRejects : public ::testing::TestWithParam<BadCase> {};

TEST_P(MessagesRejects, WithAReasonNamingTheField) {
  const BadCase& c = GetParam();
  const std::string payload = payload_of(c);
  Result<Envelope> env = parse(payload);
  ASSERT_FALSE(env.ok()) << "accepted: " << payload.substr(0, 300);
  EXPECT_EQ(env.error().code, c.code) << env.error().to_string();
  EXPECT_NE(env.error().message.find(c.message), std::string::npos)
      << "message: " << env.error().message << "\nwanted:  " << c.message;
}

INSTANTIATE_TEST_SUITE_P(Table, MessagesRejects, ::testing::ValuesIn(bad_cases()),
                         [](const ::testing::TestParamInfo<BadCase>& param_info) {
                           return param_info.param.name;
                         });

TEST(MessagesRejectTable, CaseNamesAreUnique) {
  std::set<std::string> names;
  for (const BadCase& c : bad_cases()) EXPECT_TRUE(names.insert(c.name).second) << c.name;
}

TEST(MessagesRejectTable, BaseSamplesAreValid) {
  // Every negative case mutates one of these; they must be accepted as they are.
  for (MessageType t :
       {MessageType::kEvents, MessageType::kAck, MessageType::kCommand, MessageType::kCommandResult,
        MessageType::kState, MessageType::kStatus, MessageType::kConfig}) {
    Result<Envelope> env = parse(sample_json(t).dump());
    EXPECT_TRUE(env.ok()) << to_string(t) << ": " << env.error().to_string();
  }
}

// ---- enums --------------------------------------------------------------------------------------

TEST(MessagesEnums, StringsRoundTripAndUnknownsAreRejected) {
  for (int i = 0; i <= static_cast<int>(EventKind::kCommandExecuted); ++i) {
    auto k = static_cast<EventKind>(i);
    EXPECT_EQ(event_kind_from_string(to_string(k)), k);
  }
  for (int i = 0; i <= static_cast<int>(CommandOp::kConfigUpdate); ++i) {
    auto op = static_cast<CommandOp>(i);
    EXPECT_EQ(command_op_from_string(to_string(op)), op);
  }
  for (int i = 0; i <= static_cast<int>(MessageType::kConfig); ++i) {
    auto t = static_cast<MessageType>(i);
    EXPECT_EQ(message_type_from_string(to_string(t)), t);
    EXPECT_EQ(message_type_for(topic_for(t)), t);
  }
  EXPECT_EQ(to_string(EventKind::kScanRejected), "scan_rejected");
  EXPECT_EQ(to_string(CommandOp::kConfigUpdate), "config_update");
  EXPECT_EQ(to_string(MessageType::kCommandResult), "command_result");
  EXPECT_FALSE(event_kind_from_string("Boot").has_value());
  EXPECT_FALSE(command_op_from_string("").has_value());
  EXPECT_FALSE(message_type_from_string("event").has_value());
}

// ---- topics -------------------------------------------------------------------------------------

TEST(MessagesTopics, BuildAndParseEveryLeaf) {
  const std::vector<std::pair<Topic, std::string>> leaves = {
      {Topic::kEvents, "events"},     {Topic::kAcks, "acks"},
      {Topic::kCommands, "commands"}, {Topic::kCommandResults, "command-results"},
      {Topic::kState, "state"},       {Topic::kStatus, "status"},
      {Topic::kConfig, "config"}};
  for (const auto& [leaf, name] : leaves) {
    const std::string t = topic("Box_7-a", leaf);
    EXPECT_EQ(t, "reclothes/v1/boxes/Box_7-a/" + name);
    Result<ParsedTopic> parsed = parse_topic(t);
    ASSERT_TRUE(parsed.ok()) << parsed.error().to_string();
    EXPECT_EQ(*parsed, (ParsedTopic{"Box_7-a", leaf}));
  }
  EXPECT_EQ(message_type_for(Topic::kAcks), MessageType::kAck);
  EXPECT_EQ(message_type_for(Topic::kCommandResults), MessageType::kCommandResult);
}

TEST(MessagesTopics, SharedSubscription) {
  EXPECT_EQ(shared_subscription(Topic::kEvents), "$share/controllers/reclothes/v1/boxes/+/events");
  EXPECT_EQ(shared_subscription(Topic::kCommandResults, "ctl-b"),
            "$share/ctl-b/reclothes/v1/boxes/+/command-results");
}

TEST(MessagesTopics, ParseReceivedChecksLeafTypeAndBox) {
  const std::string ack = *serialize(envelope_of(Ack{3}));  // from box-01
  Result<Envelope> env = parse_received("reclothes/v1/boxes/box-01/acks", ack);
  ASSERT_TRUE(env.ok()) << env.error().to_string();
  EXPECT_EQ(std::get<Ack>(env->body).upto, 3u);

  Result<Envelope> other_box = parse_received("reclothes/v1/boxes/box-02/acks", ack);
  ASSERT_FALSE(other_box.ok());
  EXPECT_EQ(other_box.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(other_box.error().message.find("/box: \"box-01\" does not match"), std::string::npos)
      << other_box.error().message;

  Result<Envelope> wrong_leaf = parse_received("reclothes/v1/boxes/box-01/events", ack);
  ASSERT_FALSE(wrong_leaf.ok());
  EXPECT_NE(wrong_leaf.error().message.find("/type: expected type \"events\""), std::string::npos);

  Result<Envelope> bad_topic = parse_received("reclothes/v1/boxes/box-01/ack", ack);
  ASSERT_FALSE(bad_topic.ok());
  EXPECT_NE(bad_topic.error().message.find("unknown leaf"), std::string::npos);
}

TEST(MessagesTopics, RejectsAnythingElse) {
  const std::string box32(32, 'b');
  EXPECT_TRUE(parse_topic("reclothes/v1/boxes/" + box32 + "/events").ok());
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"", "does not start with"},
      {"reclothes/v2/boxes/b/events", "does not start with"},
      {"Reclothes/v1/boxes/b/events", "does not start with"},
      {"$share/controllers/reclothes/v1/boxes/+/events", "does not start with"},
      {"reclothes/v1/boxes/b", "has no leaf"},
      {"reclothes/v1/boxes/", "has no leaf"},
      {"reclothes/v1/boxes//events", "invalid box id"},
      {"reclothes/v1/boxes/+/events", "invalid box id"},
      {"reclothes/v1/boxes/#/events", "invalid box id"},
      {"reclothes/v1/boxes/b.1/events", "invalid box id"},
      {"reclothes/v1/boxes/" + box32 + "b/events", "invalid box id"},
      {"reclothes/v1/boxes/b/event", "unknown leaf"},
      {"reclothes/v1/boxes/b/Events", "unknown leaf"},
      {"reclothes/v1/boxes/b/command_results", "unknown leaf"},
      {"reclothes/v1/boxes/b/events/", "unknown leaf"},
      {"reclothes/v1/boxes/b/events/x", "unknown leaf"},
      {"reclothes/v1/boxes/b/", "unknown leaf"},
  };
  for (const auto& [t, why] : bad) {
    Result<ParsedTopic> parsed = parse_topic(t);
    ASSERT_FALSE(parsed.ok()) << t;
    EXPECT_EQ(parsed.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(parsed.error().message.find(why), std::string::npos)
        << t << ": " << parsed.error().message;
  }
}

}  // namespace
}  // namespace reclothes::msg
