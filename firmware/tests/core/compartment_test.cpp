#include "reclothes/firmware/compartment.h"

#include <gtest/gtest.h>

namespace reclothes::firmware {
namespace {

using namespace std::chrono_literals;
using Kind = msg::EventKind;
using S = CompartmentState;

const Clock::Monotonic kT0{};
constexpr const char* kToken = "0123456789abcdef";

CompartmentTiming timing() {
  CompartmentTiming t;
  t.pulse = 450ms;
  t.door_open_after_unlock = 15s;
  t.door_ajar = 120s;
  return t;
}

// How a row's compartment looks before the input.
struct Start {
  S state = S::kFree;
  bool occupied = false;
  bool reserved = false;
  std::optional<TokenAction> visit_action;  // a token visit in progress
  bool command_visit = false;               // a remote open in progress
};

// What the journal holds for compartment `id` in `state`, with no visit in progress.
CompartmentRecord record(int id, std::string_view state) {
  CompartmentRecord r;
  r.id = id;
  r.state = std::string(state);
  return r;
}

CompartmentMachine make(const Start& start) {
  CompartmentRecord r = record(3, to_string(start.state));
  r.occupied = start.occupied;
  if (start.visit_action) {
    r.token_id = kToken;
    r.action = start.visit_action;
    r.order_ref = 42;
  }
  if (start.command_visit) r.command_id = "cmd-1";
  auto m = CompartmentMachine::restore(3, timing(), r, start.reserved, kT0);
  EXPECT_TRUE(m.ok());
  return std::move(m).value();
}

std::vector<Kind> kinds(const Outcome& o) {
  std::vector<Kind> out;
  for (const Effect& e : o.effects) {
    if (const auto* emit = std::get_if<EmitEvent>(&e)) out.push_back(emit->event.kind);
  }
  return out;
}

std::vector<PulseLock> pulses(const Outcome& o) {
  std::vector<PulseLock> out;
  for (const Effect& e : o.effects) {
    if (const auto* p = std::get_if<PulseLock>(&e)) out.push_back(*p);
  }
  return out;
}

const msg::Event* find_event(const Outcome& o, Kind kind) {
  for (const Effect& e : o.effects) {
    if (const auto* emit = std::get_if<EmitEvent>(&e); emit && emit->event.kind == kind) {
      return &emit->event;
    }
  }
  return nullptr;
}

struct Row {
  const char* name;
  Start start;
  CompartmentInput input;
  std::chrono::seconds elapsed{0};  // the input happens this long after the start
  // Expected:
  bool accepted = true;
  const char* refusal = "";
  S state = S::kFree;
  std::vector<Kind> events;
  bool pulse = false;
  bool occupied = false;
  bool reservation_consumed = false;
};

TokenUnlock token(TokenAction action) { return TokenUnlock{kToken, action, 42, std::nullopt}; }

Start st(S state, bool occupied = false, bool reserved = false,
         std::optional<TokenAction> action = std::nullopt, bool command = false) {
  return Start{state, occupied, reserved, action, command};
}

// clang-format off
const Row kRows[] = {
    // ---- unlocks ----
    {"free_token_unlocks", st(S::kFree), token(TokenAction::kCourierLoad), {}, true, "",
     S::kUnlocked, {Kind::kUnlocked}, true},
    {"reserved_token_unlocks", st(S::kReserved, false, true), token(TokenAction::kDeposit), {},
     true, "", S::kUnlocked, {Kind::kUnlocked}, true},
    {"occupied_token_unlocks", st(S::kOccupied, true), token(TokenAction::kPickup), {}, true, "",
     S::kUnlocked, {Kind::kUnlocked}, true, true},
    {"jammed_token_refused", st(S::kJammed, false, false, TokenAction::kDeposit),
     token(TokenAction::kDeposit), {}, false, "compartment_busy", S::kJammed, {}},
    {"unlocked_token_refused", st(S::kUnlocked, false, false, TokenAction::kDeposit),
     token(TokenAction::kDeposit), {}, false, "compartment_busy", S::kUnlocked, {}},
    {"open_token_refused", st(S::kOpen, false, false, TokenAction::kDeposit),
     token(TokenAction::kDeposit), {}, false, "door_open", S::kOpen, {}},
    {"ajar_token_refused", st(S::kAjar), token(TokenAction::kDeposit), {}, false, "door_open",
     S::kAjar, {}},
    {"forced_token_refused", st(S::kForced), token(TokenAction::kDeposit), {}, false, "door_open",
     S::kForced, {}},
    {"out_of_service_token_refused", st(S::kOutOfService), token(TokenAction::kDeposit), {}, false,
     "out_of_service", S::kOutOfService, {}},
    {"free_command_unlocks", st(S::kFree), CommandUnlock{"cmd-7"}, {}, true, "", S::kUnlocked,
     {Kind::kUnlocked}, true},
    {"jammed_command_retries", st(S::kJammed, false, false, TokenAction::kDeposit),
     CommandUnlock{"cmd-7"}, {}, true, "", S::kUnlocked, {Kind::kUnlocked}, true},
    {"open_command_refused", st(S::kOpen), CommandUnlock{"cmd-7"}, {}, false, "door_open", S::kOpen,
     {}},
    {"out_of_service_command_refused", st(S::kOutOfService), CommandUnlock{"cmd-7"}, {}, false,
     "out_of_service", S::kOutOfService, {}},
    // ---- door opened ----
    {"unlocked_opened", st(S::kUnlocked, false, false, TokenAction::kDeposit), DoorOpened{}, {},
     true, "", S::kOpen, {Kind::kDoorOpened}},
    {"jammed_opened_late", st(S::kJammed, false, false, TokenAction::kDeposit), DoorOpened{}, {},
     true, "", S::kOpen, {Kind::kDoorOpened}},
    {"free_forced", st(S::kFree), DoorOpened{}, {}, true, "", S::kForced,
     {Kind::kDoorOpened, Kind::kForced}},
    {"occupied_forced", st(S::kOccupied, true), DoorOpened{}, {}, true, "", S::kForced,
     {Kind::kDoorOpened, Kind::kForced}, false, true},
    {"reserved_forced", st(S::kReserved, false, true), DoorOpened{}, {}, true, "", S::kForced,
     {Kind::kDoorOpened, Kind::kForced}},
    {"open_opened_again_ignored", st(S::kOpen, false, false, TokenAction::kDeposit), DoorOpened{},
     {}, true, "", S::kOpen, {}},
    {"out_of_service_opened", st(S::kOutOfService), DoorOpened{}, {}, true, "", S::kOutOfService,
     {Kind::kDoorOpened}},
    // ---- door closed ----
    {"deposit_closed_occupied", st(S::kOpen, false, true, TokenAction::kDeposit), DoorClosed{}, {},
     true, "", S::kOccupied, {Kind::kDoorClosed, Kind::kAccessCompleted}, false, true, true},
    {"return_closed_occupied", st(S::kOpen, false, true, TokenAction::kReturn), DoorClosed{}, {},
     true, "", S::kOccupied, {Kind::kDoorClosed, Kind::kAccessCompleted}, false, true, true},
    {"pickup_closed_free", st(S::kOpen, true, true, TokenAction::kPickup), DoorClosed{}, {}, true,
     "", S::kFree, {Kind::kDoorClosed, Kind::kAccessCompleted}, false, false, true},
    {"courier_collect_closed_free", st(S::kOpen, true, false, TokenAction::kCourierCollect),
     DoorClosed{}, {}, true, "", S::kFree, {Kind::kDoorClosed, Kind::kAccessCompleted}},
    {"courier_load_closed_occupied", st(S::kOpen, false, false, TokenAction::kCourierLoad),
     DoorClosed{}, {}, true, "", S::kOccupied, {Kind::kDoorClosed, Kind::kAccessCompleted}, false,
     true},
    {"courier_collect_keeps_reservation", st(S::kOpen, true, true, TokenAction::kCourierCollect),
     DoorClosed{}, {}, true, "", S::kReserved, {Kind::kDoorClosed, Kind::kAccessCompleted}},
    {"command_closed_keeps_occupied", st(S::kOpen, true, false, std::nullopt, true), DoorClosed{},
     {}, true, "", S::kOccupied, {Kind::kDoorClosed}, false, true},
    {"command_closed_keeps_reserved", st(S::kOpen, false, true, std::nullopt, true), DoorClosed{},
     {}, true, "", S::kReserved, {Kind::kDoorClosed}},
    {"ajar_deposit_closed", st(S::kAjar, false, true, TokenAction::kDeposit), DoorClosed{}, {},
     true, "", S::kOccupied, {Kind::kDoorClosed, Kind::kAccessCompleted}, false, true, true},
    {"forced_closed_keeps_occupied", st(S::kForced, true), DoorClosed{}, {}, true, "", S::kOccupied,
     {Kind::kDoorClosed}, false, true},
    {"forced_closed_empty", st(S::kForced), DoorClosed{}, {}, true, "", S::kFree,
     {Kind::kDoorClosed}},
    {"unlocked_closed_ignored", st(S::kUnlocked, false, false, TokenAction::kDeposit), DoorClosed{},
     {}, true, "", S::kUnlocked, {}},
    {"free_closed_ignored", st(S::kFree), DoorClosed{}, {}, true, "", S::kFree, {}},
    {"out_of_service_closed", st(S::kOutOfService, true), DoorClosed{}, {}, true, "",
     S::kOutOfService, {}, false, true},
    // ---- timers ----
    {"unlocked_before_jam", st(S::kUnlocked, false, false, TokenAction::kDeposit), Tick{},
     14s, true, "", S::kUnlocked, {}},
    {"unlocked_jams", st(S::kUnlocked, false, false, TokenAction::kDeposit), Tick{}, 15s,
     true, "", S::kJammed, {Kind::kJammed}},
    {"open_before_ajar", st(S::kOpen, false, false, TokenAction::kDeposit), Tick{}, 119s,
     true, "", S::kOpen, {}},
    {"open_goes_ajar", st(S::kOpen, false, false, TokenAction::kDeposit), Tick{}, 120s,
     true, "", S::kAjar, {Kind::kAjar}},
    {"forced_goes_ajar", st(S::kForced), Tick{}, 500s, true, "", S::kAjar, {Kind::kAjar}},
    {"ajar_reported_once", st(S::kAjar), Tick{}, 5000s, true, "", S::kAjar, {}},
    {"free_tick_nothing", st(S::kFree), Tick{}, 5000s, true, "", S::kFree, {}},
    {"jammed_tick_nothing", st(S::kJammed), Tick{}, 5000s, true, "", S::kJammed, {}},
    // ---- reservations ----
    {"free_reserved", st(S::kFree), ReservationChanged{true}, {}, true, "", S::kReserved, {}},
    {"reserved_released", st(S::kReserved, false, true), ReservationChanged{false}, {}, true, "",
     S::kFree, {}},
    {"occupied_reservation_stays_occupied", st(S::kOccupied, true), ReservationChanged{true}, {},
     true, "", S::kOccupied, {}, false, true},
    {"unlocked_reservation_dropped", st(S::kUnlocked, false, true, TokenAction::kDeposit),
     ReservationChanged{false}, {}, true, "", S::kUnlocked, {}},
    // ---- out of service ----
    {"free_out_of_service", st(S::kFree), SetOutOfService{true, "lock failed"}, {}, true, "",
     S::kOutOfService, {Kind::kOutOfService}},
    {"open_out_of_service", st(S::kOpen, false, false, TokenAction::kDeposit),
     SetOutOfService{true, "sensor failed"}, {}, true, "", S::kOutOfService, {Kind::kOutOfService}},
    {"out_of_service_again_nothing", st(S::kOutOfService), SetOutOfService{true, "x"}, {}, true, "",
     S::kOutOfService, {}},
    {"back_in_service_occupied", st(S::kOutOfService, true), SetOutOfService{false, "fixed"}, {},
     true, "", S::kOccupied, {Kind::kOutOfService}, false, true},
    {"back_in_service_reserved", st(S::kOutOfService, false, true), SetOutOfService{false, ""}, {},
     true, "", S::kReserved, {Kind::kOutOfService}},
    {"in_service_off_nothing", st(S::kFree), SetOutOfService{false, ""}, {}, true, "", S::kFree,
     {}},
};
// clang-format on

class CompartmentTransition : public ::testing::TestWithParam<Row> {};

TEST_P(CompartmentTransition, GivesTheExpectedStateAndEffects) {
  const Row& row = GetParam();
  CompartmentMachine m = make(row.start);
  const CompartmentRecord before = m.record(0);
  Outcome o = m.handle(row.input, kT0 + row.elapsed);
  EXPECT_EQ(o.accepted, row.accepted);
  EXPECT_EQ(o.refusal, row.refusal);
  EXPECT_EQ(to_string(m.state()), to_string(row.state));
  EXPECT_EQ(kinds(o), row.events);
  EXPECT_EQ(m.occupied(), row.occupied);
  EXPECT_EQ(o.reservation_consumed, row.reservation_consumed);
  const auto p = pulses(o);
  if (row.pulse) {
    ASSERT_EQ(p.size(), 1u);
    EXPECT_EQ(p[0].compartment, 3);
    EXPECT_EQ(p[0].duration, 450ms);
  } else {
    EXPECT_TRUE(p.empty());
  }
  if (!row.accepted) {
    // An illegal transition changes nothing at all.
    EXPECT_TRUE(o.effects.empty());
    EXPECT_EQ(m.record(0), before);
    EXPECT_FALSE(o.changed);
  }
  // Every state change is persisted: changed is set exactly when the record differs.
  EXPECT_EQ(o.changed, m.record(0) != before) << "changed flag for " << row.name;
  for (const Effect& e : o.effects) {
    if (const auto* emit = std::get_if<EmitEvent>(&e)) {
      EXPECT_EQ(emit->event.compartment, std::optional<int>(3));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Table, CompartmentTransition, ::testing::ValuesIn(kRows),
                         [](const ::testing::TestParamInfo<Row>& param_info) {
                           return std::string(param_info.param.name);
                         });

TEST(CompartmentMachine, AWholeDepositVisitJournalsTheDomainEventWithItsFields) {
  CompartmentMachine m = make(st(S::kReserved, false, true));
  Outcome unlock = m.handle(TokenUnlock{kToken, TokenAction::kDeposit, 42, std::nullopt}, kT0);
  const msg::Event* unlocked = find_event(unlock, Kind::kUnlocked);
  ASSERT_NE(unlocked, nullptr);
  EXPECT_EQ(unlocked->token_id, std::optional<std::string>(kToken));
  EXPECT_EQ(unlocked->action, std::optional<TokenAction>(TokenAction::kDeposit));
  EXPECT_EQ(unlocked->order_ref, std::optional<std::uint64_t>(42));
  EXPECT_EQ(m.deadline(), kT0 + 15s);
  ASSERT_FALSE(unlock.effects.empty());
  const auto* shown = std::get_if<ShowIndicator>(&unlock.effects.back());
  ASSERT_NE(shown, nullptr);
  EXPECT_EQ(shown->pattern, hal::IndicatorPattern::kAccepted);
  EXPECT_EQ(shown->message, "Open door 3");

  EXPECT_EQ(kinds(m.handle(DoorOpened{}, kT0 + 2s)), std::vector<Kind>{Kind::kDoorOpened});
  EXPECT_EQ(m.deadline(), kT0 + 2s + 120s);
  Outcome close = m.handle(DoorClosed{}, kT0 + 30s);
  const msg::Event* done = find_event(close, Kind::kAccessCompleted);
  ASSERT_NE(done, nullptr);
  EXPECT_EQ(done->token_id, std::optional<std::string>(kToken));
  EXPECT_EQ(done->action, std::optional<TokenAction>(TokenAction::kDeposit));
  EXPECT_EQ(done->order_ref, std::optional<std::uint64_t>(42));
  EXPECT_EQ(done->occupied, std::optional<bool>(true));
  EXPECT_EQ(find_event(close, Kind::kDoorClosed)->occupied, std::optional<bool>(true));
  EXPECT_EQ(m.state(), S::kOccupied);
  EXPECT_FALSE(m.reserved());
  EXPECT_EQ(m.visit(), Visit{});
  EXPECT_EQ(m.deadline(), std::nullopt);
}

TEST(CompartmentMachine, ARemoteOpenOfAJammedVisitStillCompletesTheTokenAccess) {
  CompartmentMachine m = make(st(S::kReserved, false, true));
  (void)m.handle(token(TokenAction::kDeposit), kT0);
  EXPECT_EQ(kinds(m.handle(Tick{}, kT0 + 15s)), std::vector<Kind>{Kind::kJammed});
  Outcome retry = m.handle(CommandUnlock{"cmd-9"}, kT0 + 60s);
  const msg::Event* unlocked = find_event(retry, Kind::kUnlocked);
  ASSERT_NE(unlocked, nullptr);
  EXPECT_EQ(unlocked->command_id, std::optional<std::string>("cmd-9"));
  EXPECT_EQ(unlocked->token_id, std::optional<std::string>(kToken));
  (void)m.handle(DoorOpened{}, kT0 + 61s);
  Outcome close = m.handle(DoorClosed{}, kT0 + 70s);
  ASSERT_NE(find_event(close, Kind::kAccessCompleted), nullptr);
  EXPECT_EQ(m.state(), S::kOccupied);
}

TEST(CompartmentMachine, JammedEventNamesTheVisit) {
  CompartmentMachine m = make(st(S::kFree));
  (void)m.handle(CommandUnlock{"cmd-3"}, kT0);
  Outcome o = m.handle(Tick{}, kT0 + 20s);
  const msg::Event* jammed = find_event(o, Kind::kJammed);
  ASSERT_NE(jammed, nullptr);
  EXPECT_EQ(jammed->command_id, std::optional<std::string>("cmd-3"));
}

TEST(CompartmentMachine, RestoreRestartsTimersAtTheGivenTime) {
  CompartmentRecord r = record(2, "unlocked");
  r.token_id = kToken;
  r.action = TokenAction::kPickup;
  r.order_ref = 1;
  r.occupied = true;
  const Clock::Monotonic boot = kT0 + 1000s;
  auto m = CompartmentMachine::restore(2, timing(), r, true, boot);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->state(), S::kUnlocked);
  EXPECT_EQ(m->deadline(), boot + 15s);
  EXPECT_EQ(m->record(5), [&] {
    CompartmentRecord expected = r;
    expected.since_ms = 5;
    return expected;
  }());
}

TEST(CompartmentMachine, RestoreRecomputesFreeOrReservedFromTheReservations) {
  auto expired = CompartmentMachine::restore(1, timing(), record(1, "reserved"), false, kT0);
  ASSERT_TRUE(expired.ok());
  EXPECT_EQ(expired->state(), S::kFree);
  auto fresh = CompartmentMachine::restore(1, timing(), record(1, "free"), true, kT0);
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(fresh->state(), S::kReserved);
}

TEST(CompartmentMachine, RestoreRefusesAnUnknownState) {
  auto m = CompartmentMachine::restore(1, timing(), record(1, "exploded"), false, kT0);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().code, ErrorCode::kDataLoss);
}

TEST(CompartmentMachine, StateNamesRoundTrip) {
  for (S s : {S::kFree, S::kReserved, S::kOccupied, S::kUnlocked, S::kOpen, S::kJammed, S::kForced,
              S::kAjar, S::kOutOfService}) {
    EXPECT_EQ(compartment_state_from_string(to_string(s)), s);
  }
  EXPECT_EQ(compartment_state_from_string("Free"), std::nullopt);
}

}  // namespace
}  // namespace reclothes::firmware
