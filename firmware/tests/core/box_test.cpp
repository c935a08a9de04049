// Scenario tests of the main loop on the sim HAL, a ManualClock and a real journal in a temporary
// directory. No sleeps: time moves only by clock_.advance().
#include "reclothes/firmware/box.h"

#include <gtest/gtest.h>

#include "reclothes/hal/sim/sim_cabinet.h"
#include "test_util.h"

namespace reclothes::firmware {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Kind = msg::EventKind;
using S = CompartmentState;
using hal::IndicatorPattern;
using testing::claims_for;
using testing::kTestNowS;
using testing::temp_dir;
using testing::TempDir;

constexpr std::uint64_t kOrder = 123456;

class BoxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto signer = TokenSigner::generate(1);
    ASSERT_TRUE(signer.ok());
    signer_ = std::make_unique<TokenSigner>(std::move(signer).value());

    config_.box_id = "box-0001";
    config_.journal_path = dir_ / "journal.db";
    config_.broker.uri = "tcp://127.0.0.1:1883";
    config_.broker.client_id = "box-0001";
    config_.trusted_keys.push_back({1, signer_->public_pem().value(), false});
    for (int id = 1; id <= 4; ++id) {
      CompartmentConfig c;
      c.id = id;
      c.size = CompartmentSize::kM;
      c.pulse = milliseconds(400 + 10 * id);  // compartment 3: 430 ms
      c.fill_sensor = true;
      config_.compartments.push_back(c);
    }
    config_.timeouts.door_open_after_unlock = seconds(15);
    config_.timeouts.door_ajar = seconds(120);
    config_.timeouts.reservation_grace = seconds(60);
    config_.timeouts.token_leeway = seconds(60);
    config_.timeouts.scan_repeat = seconds(5);
    config_.camera = CameraConfig{};

    hal::sim::SimCabinetConfig sim_config;
    sim_config.compartments = 4;
    sim_config.fill_sensors = true;
    auto sim = hal::sim::SimCabinet::create(clock_, sim_config);
    ASSERT_TRUE(sim.ok());
    sim_ = std::move(sim).value();
    open_journal();
  }

  void open_journal() {
    auto journal = Journal::open({.path = config_.journal_path});
    ASSERT_TRUE(journal.ok()) << journal.error().to_string();
    journal_ = std::move(journal).value();
  }

  void start_box() {
    auto box = Box::create(config_, sim_->cabinet(), *journal_, mailbox_, clock_);
    ASSERT_TRUE(box.ok()) << box.error().to_string();
    box_ = std::move(box).value();
    Status s = box_->start();
    ASSERT_TRUE(s.ok()) << s.error().to_string();
  }

  void step() {
    Status s = box_->step();
    ASSERT_TRUE(s.ok()) << s.error().to_string();
  }

  // Advances the clock in steps of `tick`, stepping the box after each.
  void run_for(milliseconds total, milliseconds tick = milliseconds(100)) {
    for (milliseconds t{0}; t < total; t += tick) {
      clock_.advance(tick);
      step();
    }
  }

 public:
  std::string sign(const TokenClaims& claims, const TokenSigner* signer = nullptr) {
    auto text = (signer != nullptr ? signer : signer_.get())->sign(claims);
    EXPECT_TRUE(text.ok()) << text.error().to_string();
    return text.ok() ? *text : "";
  }

 protected:
  std::string deposit_token(std::uint8_t compartment = 3, std::uint8_t seed = 1) {
    return sign(claims_for(TokenAction::kDeposit, {compartment}, kOrder, "box-0001", kTestNowS - 60,
                           kTestNowS + 900, seed));
  }

  // A phone held in front of the camera for one frame.
  void present(const std::string& text) {
    auto frame = render_qr(text, 4, 4);
    ASSERT_TRUE(frame.ok()) << frame.error().to_string();
    ASSERT_TRUE(sim_->present_frame(std::move(frame).value()).ok());
  }

  // One scan: the code is seen in one frame, then the person walks away for longer than the
  // repeat window, so the next present() of the same text counts as a new scan.
  void scan(const std::string& text) {
    present(text);
    step();
  }

  static msg::Command command(std::string id, msg::CommandOp op,
                              std::optional<int> compartment = std::nullopt) {
    msg::Command c;
    c.id = std::move(id);
    c.op = op;
    c.compartment = compartment;
    return c;
  }

  // A command from the controller, into the box's inbox (the box runs it on its next step).
  void send(const msg::Command& c) { ASSERT_TRUE(mailbox_.push_inbound(c)); }

  void reserve(int compartment, TokenAction action, std::uint64_t order_ref = kOrder,
               std::int64_t until = kTestNowS + 3600) {
    msg::Command c =
        command("reserve-" + std::to_string(compartment) + "-" + std::to_string(next_command_++),
                msg::CommandOp::kReserve);
    c.reservation = msg::Reservation{compartment, order_ref, action, until};
    send(c);
    step();
    drain_results();
  }

  std::vector<msg::CommandResult> drain_results() {
    std::vector<msg::CommandResult> out;
    while (auto r = mailbox_.pop_result()) out.push_back(*r);
    return out;
  }

  std::vector<msg::Event> events() {
    auto e = journal_->events_after(0, 10000);
    EXPECT_TRUE(e.ok());
    return e.ok() ? *e : std::vector<msg::Event>{};
  }

  // Kinds of the events journaled after the given seq.
  std::vector<Kind> kinds_after(std::uint64_t seq) {
    std::vector<Kind> out;
    for (const msg::Event& e : events()) {
      if (e.seq > seq) out.push_back(e.kind);
    }
    return out;
  }

  std::vector<msg::Event> of_kind(Kind kind) {
    std::vector<msg::Event> out;
    for (const msg::Event& e : events()) {
      if (e.kind == kind) out.push_back(e);
    }
    return out;
  }

  std::uint64_t last_seq() { return journal_->last_seq().value(); }

  ManualClock clock_;
  TempDir dir_ = temp_dir();
  BoxConfig config_;
  std::unique_ptr<TokenSigner> signer_;
  std::unique_ptr<hal::sim::SimCabinet> sim_;
  std::unique_ptr<Journal> journal_;
  Mailbox mailbox_;
  std::unique_ptr<Box> box_;
  int next_command_ = 1;
};

// ---- start-up -----------------------------------------------------------------------------------

TEST_F(BoxTest, StartReleasesLocksReadsDoorsAndJournalsBoot) {
  ASSERT_TRUE(sim_->open_door(1).ok());  // a door left open while the box was off
  start_box();
  EXPECT_TRUE(sim_->pulses().empty());
  for (std::size_t i = 0; i < 4; ++i) EXPECT_FALSE(sim_->lock_energised(i).value());
  const auto kinds = kinds_after(0);
  // The journal thought compartment 2 closed and free: the sensor says open, so it was forced.
  EXPECT_EQ(kinds, (std::vector<Kind>{Kind::kDoorOpened, Kind::kForced, Kind::kBoot}));
  EXPECT_EQ(box_->compartment_state(2), S::kForced);
  const auto boot = of_kind(Kind::kBoot);
  ASSERT_EQ(boot.size(), 1u);
  EXPECT_NE(boot[0].detail->find("reclothes-box 0.1.0"), std::string::npos);
  EXPECT_NE(boot[0].detail->find("door 2 found open"), std::string::npos);
  // The state report is published at once.
  auto state = mailbox_.state();
  ASSERT_TRUE(state.has_value());
  EXPECT_EQ(state->compartments.size(), 4u);
  EXPECT_EQ(state->compartments[1].state, "forced");
  EXPECT_TRUE(state->compartments[1].door_open);
  EXPECT_EQ(state->firmware_version, "0.1.0");
  EXPECT_EQ(state->last_seq, last_seq());
}

TEST_F(BoxTest, StepBeforeStartIsRefused) {
  auto box = Box::create(config_, sim_->cabinet(), *journal_, mailbox_, clock_);
  ASSERT_TRUE(box.ok());
  Status s = (*box)->step();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kFailedPrecondition);
}

TEST_F(BoxTest, CreateRefusesACabinetThatDoesNotMatchTheConfiguration) {
  config_.compartments.pop_back();
  auto box = Box::create(config_, sim_->cabinet(), *journal_, mailbox_, clock_);
  ASSERT_FALSE(box.ok());
  EXPECT_EQ(box.error().code, ErrorCode::kInvalidArgument);
}

// ---- the happy path -----------------------------------------------------------------------------

TEST_F(BoxTest, AValidDepositTokenOpensExactlyTheRightDoorAndCompletesTheAccess) {
  start_box();
  reserve(3, TokenAction::kDeposit);
  EXPECT_EQ(box_->compartment_state(3), S::kReserved);
  const std::uint64_t before = last_seq();
  const std::string token = deposit_token(3);

  scan(token);
  const auto pulses = sim_->pulses();
  ASSERT_EQ(pulses.size(), 1u);
  EXPECT_EQ(pulses[0].compartment, 2u);  // 0-based index of compartment 3
  EXPECT_EQ(pulses[0].duration, milliseconds(430));
  EXPECT_EQ(box_->compartment_state(3), S::kUnlocked);
  ASSERT_TRUE(sim_->indicator().has_value());
  EXPECT_EQ(sim_->indicator()->pattern, IndicatorPattern::kAccepted);
  EXPECT_EQ(sim_->indicator()->message, "Open door 3");
  EXPECT_TRUE(journal_->unlock_intents()->empty());  // cleared after the pulse

  clock_.advance(milliseconds(800));
  ASSERT_TRUE(sim_->open_door(2).ok());
  step();
  EXPECT_EQ(box_->compartment_state(3), S::kOpen);
  clock_.advance(seconds(20));
  ASSERT_TRUE(sim_->close_door(2).ok());
  step();

  EXPECT_EQ(kinds_after(before), (std::vector<Kind>{Kind::kUnlocked, Kind::kDoorOpened,
                                                    Kind::kDoorClosed, Kind::kAccessCompleted}));
  const auto unlocked = of_kind(Kind::kUnlocked);
  ASSERT_EQ(unlocked.size(), 1u);
  EXPECT_EQ(unlocked[0].compartment, std::optional<int>(3));
  EXPECT_EQ(unlocked[0].action, std::optional<TokenAction>(TokenAction::kDeposit));
  EXPECT_EQ(unlocked[0].order_ref, std::optional<std::uint64_t>(kOrder));
  const auto done = of_kind(Kind::kAccessCompleted);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].token_id, unlocked[0].token_id);
  EXPECT_EQ(done[0].occupied, std::optional<bool>(true));
  EXPECT_EQ(box_->compartment_state(3), S::kOccupied);
  EXPECT_TRUE(journal_->reservations()->empty());  // the deposit used the reservation up
  EXPECT_EQ(sim_->pulses().size(), 1u);
  EXPECT_EQ(mailbox_.state()->compartments[2].state, "occupied");
}

TEST_F(BoxTest, TheSameCodeHeldInFrontOfTheCameraUnlocksOnceAndIsNotJournaledAgain) {
  start_box();
  reserve(3, TokenAction::kDeposit);
  auto frame = render_qr(deposit_token(3), 4, 4);
  ASSERT_TRUE(frame.ok());
  ASSERT_TRUE(sim_->set_still_frame(*frame).ok());
  run_for(seconds(30));  // 300 frames with the code in every one
  EXPECT_EQ(sim_->pulses().size(), 1u);
  EXPECT_EQ(of_kind(Kind::kUnlocked).size(), 1u);
  EXPECT_TRUE(of_kind(Kind::kScanRejected).empty());
}

TEST_F(BoxTest, AnIdleCameraPictureIsDecodedOnceNotEveryFrame) {
  start_box();
  const CameraScanner::Stats before = box_->camera_stats();
  run_for(seconds(10));  // 100 identical blank frames
  EXPECT_EQ(box_->camera_stats().frames - before.frames, 100u);
  EXPECT_LE(box_->camera_stats().decoded - before.decoded, 1u);
}

TEST_F(BoxTest, ACodeAppearingInFrontOfAnUnchangedPictureUnlocksOnItsFirstFrame) {
  start_box();
  reserve(3, TokenAction::kDeposit);
  run_for(seconds(5));  // the blank picture, decoded once
  const std::uint64_t decoded = box_->camera_stats().decoded;
  auto frame = render_qr(deposit_token(3), 4, 4);
  ASSERT_TRUE(frame.ok());
  ASSERT_TRUE(sim_->set_still_frame(*frame).ok());
  run_for(milliseconds(100));  // one frame
  EXPECT_EQ(sim_->pulses().size(), 1u);
  EXPECT_EQ(box_->camera_stats().decoded, decoded + 1);
  run_for(seconds(10));  // held still: neither decoded nor unlocked again
  EXPECT_EQ(sim_->pulses().size(), 1u);
  EXPECT_EQ(box_->camera_stats().decoded, decoded + 1);
  ASSERT_TRUE(sim_->set_still_frame(std::nullopt).ok());
  run_for(milliseconds(100));  // taken away: that change is decoded too
  EXPECT_EQ(box_->camera_stats().decoded, decoded + 2);
  EXPECT_EQ(of_kind(Kind::kUnlocked).size(), 1u);
}

TEST_F(BoxTest, AUsedTokenIsRefusedTheSecondTime) {
  start_box();
  reserve(3, TokenAction::kDeposit);
  const std::string token = deposit_token(3);
  scan(token);
  ASSERT_TRUE(sim_->open_door(2).ok());
  step();
  ASSERT_TRUE(sim_->close_door(2).ok());
  step();
  reserve(3, TokenAction::kDeposit);  // even with a fresh reservation
  clock_.advance(seconds(10));        // out of sight longer than the repeat window
  step();
  scan(token);
  EXPECT_EQ(sim_->pulses().size(), 1u);
  const auto rejected = of_kind(Kind::kScanRejected);
  ASSERT_EQ(rejected.size(), 1u);
  EXPECT_EQ(rejected[0].reason, std::optional<std::string>("already_used"));
  EXPECT_EQ(sim_->indicator()->pattern, IndicatorPattern::kRejected);
  EXPECT_EQ(sim_->indicator()->message, "Code already used");
}

TEST_F(BoxTest, ARejectedCodeHeldStillIsJournaledOnceNotEveryFrame) {
  start_box();
  auto frame = render_qr(deposit_token(3), 4, 4);  // no reservation: not_reserved
  ASSERT_TRUE(sim_->set_still_frame(*frame).ok());
  run_for(seconds(20));
  EXPECT_EQ(of_kind(Kind::kScanRejected).size(), 1u);
  // Gone for longer than the window and shown again: a new attempt, journaled again.
  ASSERT_TRUE(sim_->set_still_frame(std::nullopt).ok());
  run_for(seconds(6));
  ASSERT_TRUE(sim_->set_still_frame(*frame).ok());
  run_for(seconds(1));
  EXPECT_EQ(of_kind(Kind::kScanRejected).size(), 2u);
  EXPECT_TRUE(sim_->pulses().empty());
}

// ---- token rejections ---------------------------------------------------------------------------

struct TokenCase {
  const char* name;
  // Makes the text to present; may change the configuration before the box starts.
  std::function<std::string(BoxTest&, BoxConfig&)> make;
  const char* reason;
  bool has_token_id;
};

class BoxRejects : public BoxTest, public ::testing::WithParamInterface<TokenCase> {};

TEST_P(BoxRejects, ATokenWithNoPulseAndAJournaledReason) {
  const std::string text = GetParam().make(*this, config_);
  start_box();
  reserve(3, TokenAction::kDeposit);
  const std::uint64_t before = last_seq();
  scan(text);
  EXPECT_TRUE(sim_->pulses().empty());
  EXPECT_EQ(kinds_after(before), std::vector<Kind>{Kind::kScanRejected});
  const auto rejected = of_kind(Kind::kScanRejected);
  ASSERT_EQ(rejected.size(), 1u);
  EXPECT_EQ(rejected[0].reason, std::optional<std::string>(GetParam().reason));
  EXPECT_EQ(rejected[0].token_id.has_value(), GetParam().has_token_id);
  EXPECT_EQ(box_->compartment_state(3), S::kReserved);
  EXPECT_EQ(sim_->indicator()->pattern, IndicatorPattern::kRejected);
}

TokenClaims valid_claims() { return claims_for(TokenAction::kDeposit, {3}, kOrder); }

const TokenCase kTokenCases[] = {
    {"malformed", [](BoxTest&, BoxConfig&) { return std::string("https://example.com/hello"); },
     "malformed", false},
    {"unknown_key",
     [](BoxTest& t, BoxConfig&) {
       auto other = TokenSigner::generate(9);
       return t.sign(valid_claims(), &other.value());
     },
     "unknown_key", false},
    {"key_retired",
     [](BoxTest& t, BoxConfig& c) {
       auto old = TokenSigner::generate(2);
       c.trusted_keys.push_back({2, old->public_pem().value(), true});
       return t.sign(valid_claims(), &old.value());
     },
     "key_retired", false},
    {"bad_signature",
     [](BoxTest& t, BoxConfig&) {
       auto impostor = TokenSigner::generate(1);  // same key id, another key
       return t.sign(valid_claims(), &impostor.value());
     },
     "bad_signature", false},
    {"not_yet_valid",
     [](BoxTest& t, BoxConfig&) {
       return t.sign(claims_for(TokenAction::kDeposit, {3}, kOrder, "box-0001", kTestNowS + 3600,
                                kTestNowS + 4000));
     },
     "not_yet_valid", true},
    {"expired",
     [](BoxTest& t, BoxConfig&) {
       return t.sign(claims_for(TokenAction::kDeposit, {3}, kOrder, "box-0001", kTestNowS - 4000,
                                kTestNowS - 3600));
     },
     "expired", true},
    {"wrong_box",
     [](BoxTest& t, BoxConfig&) {
       return t.sign(claims_for(TokenAction::kDeposit, {3}, kOrder, "box-0002"));
     },
     "wrong_box", true},
    {"wrong_compartment",
     [](BoxTest& t, BoxConfig&) { return t.sign(claims_for(TokenAction::kDeposit, {9}, kOrder)); },
     "wrong_compartment", true},
    {"not_reserved_other_order",
     [](BoxTest& t, BoxConfig&) {
       return t.sign(claims_for(TokenAction::kDeposit, {3}, kOrder + 1));
     },
     "not_reserved", true},
    {"not_reserved_other_compartment",
     [](BoxTest& t, BoxConfig&) { return t.sign(claims_for(TokenAction::kDeposit, {2}, kOrder)); },
     "not_reserved", true},
};

INSTANTIATE_TEST_SUITE_P(Tokens, BoxRejects, ::testing::ValuesIn(kTokenCases),
                         [](const ::testing::TestParamInfo<TokenCase>& param_info) {
                           return std::string(param_info.param.name);
                         });

TEST_F(BoxTest, ARevokedTokenIsRefused) {
  start_box();
  reserve(3, TokenAction::kDeposit);
  const std::string token = deposit_token(3);
  const std::string id = parse_token_unverified(token)->claims.token_id_hex();
  msg::Command revoke = command("revoke-1", msg::CommandOp::kRevoke);
  revoke.token_ids = {id};
  send(revoke);
  step();
  EXPECT_TRUE(journal_->is_revoked(id).value());
  scan(token);
  EXPECT_TRUE(sim_->pulses().empty());
  const auto rejected = of_kind(Kind::kScanRejected);
  ASSERT_EQ(rejected.size(), 1u);
  EXPECT_EQ(rejected[0].reason, std::optional<std::string>("revoked"));
}

TEST_F(BoxTest, ATokenForABusyCompartmentIsRefused) {
  start_box();
  reserve(3, TokenAction::kDeposit);
  ASSERT_TRUE(sim_->open_door(2).ok());  // someone pulled it open
  step();
  ASSERT_EQ(box_->compartment_state(3), S::kForced);
  scan(deposit_token(3));
  EXPECT_TRUE(sim_->pulses().empty());
  EXPECT_EQ(of_kind(Kind::kScanRejected).back().reason,
            std::optional<std::string>("compartment_busy"));
}

TEST_F(BoxTest, ACompartmentWithAFailedSensorIsOutOfServiceAndRefusesTokens) {
  start_box();
  reserve(3, TokenAction::kDeposit);
  ASSERT_TRUE(sim_->set_door_fault(2, Error{ErrorCode::kIo, "reed switch wire cut"}).ok());
  step();
  EXPECT_EQ(box_->compartment_state(3), S::kOutOfService);
  const auto oos = of_kind(Kind::kOutOfService);
  ASSERT_EQ(oos.size(), 1u);
  EXPECT_NE(oos[0].detail->find("reed switch wire cut"), std::string::npos);
  scan(deposit_token(3));
  EXPECT_TRUE(sim_->pulses().empty());
  EXPECT_EQ(of_kind(Kind::kScanRejected).back().reason,
            std::optional<std::string>("out_of_service"));
  // The sensor works again: back in service, reservation still there.
  ASSERT_TRUE(sim_->set_door_fault(2, std::nullopt).ok());
  step();
  EXPECT_EQ(box_->compartment_state(3), S::kReserved);
}

TEST_F(BoxTest, ALockThatFailsToPulseTakesItsCompartmentOutOfService) {
  start_box();
  reserve(3, TokenAction::kDeposit);
  ASSERT_TRUE(sim_->set_lock_fault(2, Error{ErrorCode::kIo, "driver fault"}).ok());
  scan(deposit_token(3));
  EXPECT_EQ(box_->compartment_state(3), S::kOutOfService);
  EXPECT_EQ(kinds_after(0).back(), Kind::kOutOfService);
  EXPECT_EQ(of_kind(Kind::kUnlocked).size(), 1u);  // journaled before the attempt
  EXPECT_TRUE(journal_->unlock_intents()->empty());
}

TEST_F(BoxTest, MaintenanceRefusesCustomerTokensButLetsCouriersIn) {
  start_box();
  reserve(3, TokenAction::kDeposit);
  send(command("maint-1", msg::CommandOp::kMaintenanceOn));
  step();
  EXPECT_TRUE(box_->maintenance());
  EXPECT_EQ(sim_->indicator()->pattern, IndicatorPattern::kMaintenance);
  scan(deposit_token(3));
  EXPECT_TRUE(sim_->pulses().empty());
  EXPECT_EQ(of_kind(Kind::kScanRejected).back().reason, std::optional<std::string>("maintenance"));

  scan(sign(claims_for(TokenAction::kCourierCollect, {1}, 5)));
  ASSERT_EQ(sim_->pulses().size(), 1u);
  EXPECT_EQ(sim_->pulses()[0].compartment, 0u);
  // Maintenance survives a restart.
  box_.reset();
  start_box();
  EXPECT_TRUE(box_->maintenance());
}

// ---- door supervision ---------------------------------------------------------------------------

TEST_F(BoxTest, ADoorThatNeverOpensAfterTheUnlockIsJammed) {
  start_box();
  reserve(3, TokenAction::kDeposit);
  ASSERT_TRUE(sim_->set_jammed(2, true).ok());
  scan(deposit_token(3));
  ASSERT_EQ(sim_->pulses().size(), 1u);
  run_for(seconds(14));
  EXPECT_EQ(box_->compartment_state(3), S::kUnlocked);
  run_for(seconds(2));
  EXPECT_EQ(box_->compartment_state(3), S::kJammed);
  const auto jammed = of_kind(Kind::kJammed);
  ASSERT_EQ(jammed.size(), 1u);
  EXPECT_EQ(jammed[0].compartment, std::optional<int>(3));
  EXPECT_TRUE(jammed[0].token_id.has_value());
  EXPECT_EQ(sim_->pulses().size(), 1u);  // never re-pulsed on its own
}

TEST_F(BoxTest, ADoorOpenedWithoutAnUnlockIsForced) {
  start_box();
  const std::uint64_t before = last_seq();
  ASSERT_TRUE(sim_->open_door(0).ok());
  step();
  EXPECT_EQ(box_->compartment_state(1), S::kForced);
  EXPECT_EQ(sim_->indicator()->pattern, IndicatorPattern::kFault);
  ASSERT_TRUE(sim_->close_door(0).ok());
  step();
  EXPECT_EQ(kinds_after(before),
            (std::vector<Kind>{Kind::kDoorOpened, Kind::kForced, Kind::kDoorClosed}));
  EXPECT_EQ(box_->compartment_state(1), S::kFree);
}

TEST_F(BoxTest, ADoorLeftOpenIsAjar) {
  start_box();
  reserve(3, TokenAction::kDeposit);
  scan(deposit_token(3));
  ASSERT_TRUE(sim_->open_door(2).ok());
  step();
  run_for(seconds(119), seconds(1));
  EXPECT_TRUE(of_kind(Kind::kAjar).empty());
  run_for(seconds(2), seconds(1));
  EXPECT_EQ(of_kind(Kind::kAjar).size(), 1u);
  EXPECT_EQ(box_->compartment_state(3), S::kAjar);
  run_for(seconds(600), seconds(10));
  EXPECT_EQ(of_kind(Kind::kAjar).size(), 1u);  // reported once
  ASSERT_TRUE(sim_->close_door(2).ok());
  step();
  EXPECT_EQ(of_kind(Kind::kAccessCompleted).size(), 1u);
  EXPECT_EQ(box_->compartment_state(3), S::kOccupied);
}

// ---- commands -----------------------------------------------------------------------------------

TEST_F(BoxTest, ADuplicatedCommandIdExecutesOnce) {
  start_box();
  const msg::Command open = command("cmd-81723", msg::CommandOp::kOpen, 2);
  send(open);
  send(open);
  step();
  ASSERT_EQ(sim_->pulses().size(), 1u);
  EXPECT_EQ(sim_->pulses()[0].compartment, 1u);
  const auto results = drain_results();
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0], (msg::CommandResult{"cmd-81723", true, "ok", "compartment 2 unlocked"}));
  EXPECT_EQ(results[1].code, "duplicate");
  EXPECT_TRUE(results[1].ok);
  EXPECT_EQ(of_kind(Kind::kCommandExecuted).size(), 1u);
  const auto unlocked = of_kind(Kind::kUnlocked);
  ASSERT_EQ(unlocked.size(), 1u);
  EXPECT_EQ(unlocked[0].command_id, std::optional<std::string>("cmd-81723"));

  // Even after a restart.
  box_.reset();
  start_box();
  send(open);
  step();
  EXPECT_EQ(sim_->pulses().size(), 1u);
  EXPECT_EQ(drain_results().at(0).code, "duplicate");
}

TEST_F(BoxTest, CommandsThatCannotRunAreAnsweredAndRecorded) {
  start_box();
  send(command("cmd-1", msg::CommandOp::kOpen, 9));
  send(command("cmd-2", msg::CommandOp::kRelease, 1));
  ASSERT_TRUE(sim_->open_door(3).ok());
  step();  // door 4 is now forced open
  send(command("cmd-3", msg::CommandOp::kOpen, 4));
  step();
  const auto results = drain_results();
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[0].code, "unknown_compartment");
  EXPECT_EQ(results[1].code, "invalid");
  EXPECT_EQ(results[2].code, "door_open");
  EXPECT_TRUE(sim_->pulses().empty());
  EXPECT_EQ(of_kind(Kind::kCommandExecuted).size(), 3u);
  EXPECT_TRUE(journal_->command_result("cmd-3")->has_value());
}

// ---- the app's online open (open_access) -----------------------------------------------------

class BoxOpenAccessTest : public BoxTest {
 protected:
  static std::string token_id_of(const std::string& text) {
    auto parsed = parse_token_unverified(text);
    EXPECT_TRUE(parsed.ok());
    return parsed.ok() ? parsed->claims.token_id_hex() : "";
  }

  // What the controller sends when the customer scanned the box's code in the app: the access of
  // the reservation's token (the same token the phone would show).
  msg::Command open_access(std::string id, const std::string& token, int compartment = 3,
                           std::int64_t until = kTestNowS + 900,
                           TokenAction action = TokenAction::kDeposit) {
    msg::Command c = command(std::move(id), msg::CommandOp::kOpenAccess);
    c.access = msg::Access{compartment, kOrder, action, token_id_of(token), until};
    return c;
  }

  void visit(int compartment) {
    const auto index = static_cast<std::size_t>(compartment - 1);
    ASSERT_TRUE(sim_->open_door(index).ok());
    step();
    ASSERT_TRUE(sim_->close_door(index).ok());
    step();
  }
};

TEST_F(BoxOpenAccessTest, OpensTheReservedDoorJournalsFirstAndCompletesTheAccess) {
  start_box();
  reserve(3, TokenAction::kDeposit);
  const std::string token = deposit_token(3);
  const std::uint64_t before = last_seq();
  const msg::Command c = open_access("access-1", token);
  send(c);
  send(c);  // QoS 1 redelivery
  step();
  const auto pulses = sim_->pulses();
  ASSERT_EQ(pulses.size(), 1u);
  EXPECT_EQ(pulses[0].compartment, 2u);  // compartment 3
  EXPECT_TRUE(journal_->token_used(token_id_of(token)).value()) << "single use, journaled";
  const auto results = drain_results();
  ASSERT_EQ(results.size(), 2u);
  EXPECT_TRUE(results[0].ok);
  EXPECT_EQ(results[0].code, "ok");
  EXPECT_EQ(results[1].code, "duplicate");
  EXPECT_EQ(sim_->indicator()->message, "Open door 3");

  visit(3);
  EXPECT_EQ(kinds_after(before),
            (std::vector<Kind>{Kind::kUnlocked, Kind::kCommandExecuted, Kind::kDoorOpened,
                               Kind::kDoorClosed, Kind::kAccessCompleted}));
  const auto unlocked = of_kind(Kind::kUnlocked);
  ASSERT_EQ(unlocked.size(), 1u);
  EXPECT_EQ(unlocked[0].token_id, std::optional<std::string>(token_id_of(token)));
  EXPECT_EQ(unlocked[0].command_id, std::optional<std::string>("access-1"));
  const auto done = of_kind(Kind::kAccessCompleted);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].compartment, std::optional<int>(3));
  EXPECT_EQ(done[0].token_id, std::optional<std::string>(token_id_of(token)));
  EXPECT_EQ(done[0].action, std::optional<TokenAction>(TokenAction::kDeposit));
  EXPECT_EQ(done[0].order_ref, std::optional<std::uint64_t>(kOrder));
  EXPECT_EQ(done[0].occupied, std::optional<bool>(true));
  EXPECT_EQ(box_->compartment_state(3), S::kOccupied);
  EXPECT_TRUE(journal_->reservations()->empty());
}

TEST_F(BoxOpenAccessTest, AfterTheOnlineOpenThePhonesCodeIsAlreadyUsed) {
  start_box();
  reserve(3, TokenAction::kDeposit);
  const std::string token = deposit_token(3);
  send(open_access("access-1", token));
  step();
  visit(3);
  reserve(3, TokenAction::kDeposit);  // even with a fresh reservation
  scan(token);
  EXPECT_EQ(sim_->pulses().size(), 1u);
  const auto rejected = of_kind(Kind::kScanRejected);
  ASSERT_EQ(rejected.size(), 1u);
  EXPECT_EQ(rejected[0].reason, std::optional<std::string>("already_used"));
}

TEST_F(BoxOpenAccessTest, AfterThePhonesCodeWasUsedTheOnlineOpenIsRefused) {
  start_box();
  reserve(3, TokenAction::kDeposit);
  const std::string token = deposit_token(3);
  scan(token);
  visit(3);
  reserve(3, TokenAction::kDeposit);
  drain_results();
  send(open_access("access-2", token));
  step();
  EXPECT_EQ(sim_->pulses().size(), 1u) << "the scan's pulse only";
  const auto results = drain_results();
  ASSERT_EQ(results.size(), 1u);
  EXPECT_FALSE(results[0].ok);
  EXPECT_EQ(results[0].code, "already_used");
  EXPECT_EQ(sim_->indicator()->message, "Code already used");
  const auto executed = of_kind(Kind::kCommandExecuted);
  ASSERT_FALSE(executed.empty());
  EXPECT_EQ(executed.back().command_id, std::optional<std::string>("access-2"));
  EXPECT_EQ(executed.back().reason, std::optional<std::string>("already_used"));
  EXPECT_TRUE(journal_->command_result("access-2")->has_value()) << "answered the same if resent";
}

TEST_F(BoxOpenAccessTest, TheScanRulesApply) {
  start_box();
  const std::string token = deposit_token(3);
  auto refusal = [&](const msg::Command& c) {
    send(c);
    step();
    const auto results = drain_results();
    EXPECT_EQ(results.size(), 1u);
    EXPECT_FALSE(results.empty() || results[0].ok);
    return results.empty() ? std::string() : results[0].code;
  };
  EXPECT_EQ(refusal(open_access("a-1", token)), "not_reserved") << "no reservation at the box";
  reserve(2, TokenAction::kPickup);
  EXPECT_EQ(refusal(open_access("a-2", token, 2)), "not_reserved") << "reserved for a pickup";
  reserve(3, TokenAction::kDeposit);
  EXPECT_EQ(refusal(open_access("a-3", token, 3, kTestNowS - 61)), "expired")
      << "the token's window is over, beyond the leeway";
  EXPECT_EQ(refusal(open_access("a-4", token, 9)), "unknown_compartment");
  ASSERT_TRUE(
      journal_->transact([&](Txn& t) { return t.add_revocations({token_id_of(token)}); }).ok());
  EXPECT_EQ(refusal(open_access("a-5", token)), "revoked");
  EXPECT_TRUE(sim_->pulses().empty());
  EXPECT_FALSE(journal_->token_used(token_id_of(token)).value()) << "nothing used it up";
}

TEST_F(BoxOpenAccessTest, MaintenanceRefusesItLikeACustomerScan) {
  start_box();
  reserve(3, TokenAction::kDeposit);
  send(command("m-on", msg::CommandOp::kMaintenanceOn));
  send(open_access("a-1", deposit_token(3)));
  step();
  const auto results = drain_results();
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[1].code, "maintenance");
  EXPECT_TRUE(sim_->pulses().empty());
}

TEST_F(BoxOpenAccessTest, TheBoxsOwnCodeScannedAtTheBoxIsRefusedAsSuch) {
  start_box();
  reserve(3, TokenAction::kDeposit);
  scan("reclothes:box:box-0001");
  EXPECT_TRUE(sim_->pulses().empty());
  const auto rejected = of_kind(Kind::kScanRejected);
  ASSERT_EQ(rejected.size(), 1u);
  EXPECT_EQ(rejected[0].reason, std::optional<std::string>("box_code"));
  EXPECT_FALSE(rejected[0].token_id.has_value());
  EXPECT_EQ(sim_->indicator()->pattern, IndicatorPattern::kRejected);
  EXPECT_EQ(sim_->indicator()->message, "Box code: use the app");
  // Another box's code, or one with a broken id, gets the same answer (and no crash).
  clock_.advance(seconds(10));
  scan("RECLOTHES:BOX:not a box id");
  ASSERT_EQ(of_kind(Kind::kScanRejected).size(), 2u);
  EXPECT_EQ(of_kind(Kind::kScanRejected)[1].reason, std::optional<std::string>("box_code"));
}

// ---- crash recovery -----------------------------------------------------------------------------

TEST_F(BoxTest, AnUnlockIntentLeftByACrashIsReportedAndNeverPulsedAgain) {
  start_box();
  reserve(3, TokenAction::kDeposit);
  // What a crash between the journal commit and the end of the pulse leaves behind.
  const std::string token_id = "00112233445566aa";
  ASSERT_TRUE(journal_
                  ->transact([&](Txn& t) -> Status {
                    msg::Event e;
                    e.kind = Kind::kUnlocked;
                    e.at_ms = clock_.wall_ms();
                    e.compartment = 3;
                    e.token_id = token_id;
                    RC_ASSIGN_OR_RETURN(const std::uint64_t seq, t.append_event(e));
                    CompartmentRecord r;
                    r.id = 3;
                    r.state = "unlocked";
                    r.token_id = token_id;
                    r.action = TokenAction::kDeposit;
                    r.order_ref = kOrder;
                    RC_TRY(t.save_compartment(r));
                    RC_TRY(t.mark_token_used(token_id, kTestNowS + 900));
                    UnlockIntent intent;
                    intent.compartment = 3;
                    intent.token_id = token_id;
                    intent.event_seq = seq;
                    intent.at_ms = clock_.wall_ms();
                    return t.begin_unlock(intent);
                  })
                  .ok());
  box_.reset();  // the crash: no end_unlock
  const std::uint64_t before = last_seq();
  start_box();

  EXPECT_TRUE(sim_->pulses().empty());
  EXPECT_TRUE(journal_->unlock_intents()->empty());
  EXPECT_EQ(kinds_after(before), (std::vector<Kind>{Kind::kUnlockUnknown, Kind::kBoot}));
  const auto unknown = of_kind(Kind::kUnlockUnknown);
  ASSERT_EQ(unknown.size(), 1u);
  EXPECT_EQ(unknown[0].compartment, std::optional<int>(3));
  EXPECT_EQ(unknown[0].token_id, std::optional<std::string>(token_id));
  // The door sensor decides: it stays shut, so after the timeout the compartment is jammed.
  EXPECT_EQ(box_->compartment_state(3), S::kUnlocked);
  run_for(seconds(16), seconds(1));
  EXPECT_EQ(box_->compartment_state(3), S::kJammed);
  EXPECT_TRUE(sim_->pulses().empty());
}

TEST_F(BoxTest, AfterACrashAnOpenDoorContinuesTheVisit) {
  start_box();
  const std::string token_id = "00112233445566bb";
  ASSERT_TRUE(journal_
                  ->transact([&](Txn& t) -> Status {
                    CompartmentRecord r;
                    r.id = 2;
                    r.state = "unlocked";
                    r.token_id = token_id;
                    r.action = TokenAction::kPickup;
                    r.order_ref = 5;
                    r.occupied = true;
                    RC_TRY(t.save_compartment(r));
                    UnlockIntent intent;
                    intent.compartment = 2;
                    intent.token_id = token_id;
                    intent.event_seq = 1;
                    return t.begin_unlock(intent);
                  })
                  .ok());
  box_.reset();
  ASSERT_TRUE(sim_->open_door(1).ok());  // the latch did move: the buyer opened the door
  start_box();
  EXPECT_TRUE(sim_->pulses().empty());
  EXPECT_EQ(box_->compartment_state(2), S::kOpen);
  ASSERT_TRUE(sim_->close_door(1).ok());
  step();
  const auto done = of_kind(Kind::kAccessCompleted);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].token_id, std::optional<std::string>(token_id));
  EXPECT_EQ(done[0].occupied, std::optional<bool>(false));
  EXPECT_EQ(box_->compartment_state(2), S::kFree);
}

// ---- reservations and configuration -------------------------------------------------------------

TEST_F(BoxTest, AnExpiredReservationFreesTheCompartment) {
  start_box();
  reserve(2, TokenAction::kDeposit, kOrder, kTestNowS + 60);
  EXPECT_EQ(box_->compartment_state(2), S::kReserved);
  run_for(seconds(119), seconds(1));  // until + grace (60 s) not yet reached
  EXPECT_EQ(box_->compartment_state(2), S::kReserved);
  run_for(seconds(2), seconds(1));
  EXPECT_EQ(box_->compartment_state(2), S::kFree);
  EXPECT_TRUE(journal_->reservations()->empty());
  scan(deposit_token(2));
  EXPECT_EQ(of_kind(Kind::kScanRejected).back().reason, std::optional<std::string>("not_reserved"));
}

TEST_F(BoxTest, ANewerConfigRevisionIsAppliedAtomicallyAndOlderOnesIgnored) {
  start_box();
  auto other = TokenSigner::generate(7);
  msg::Config config;
  config.revision = 3;
  config.keys = {{7, other->public_pem().value(), false}};
  config.reservations = {{3, kOrder, TokenAction::kDeposit, kTestNowS + 3600},
                         {9, 1, TokenAction::kDeposit, kTestNowS + 3600}};  // no such compartment
  config.revoked_token_ids = {"00000000000000aa"};
  ASSERT_TRUE(mailbox_.push_inbound(config));
  step();
  EXPECT_EQ(box_->config_revision(), 3u);
  EXPECT_EQ(box_->compartment_state(3), S::kReserved);
  EXPECT_TRUE(journal_->is_revoked("00000000000000aa").value());
  EXPECT_EQ(mailbox_.state()->config_revision, 3u);
  // A key from the controller's config opens doors too (and survives a restart).
  box_.reset();
  start_box();
  scan(sign(claims_for(TokenAction::kDeposit, {3}, kOrder), &other.value()));
  EXPECT_EQ(sim_->pulses().size(), 1u);

  msg::Config stale;
  stale.revision = 2;
  stale.maintenance = true;
  ASSERT_TRUE(mailbox_.push_inbound(stale));
  step();
  EXPECT_FALSE(box_->maintenance());
  EXPECT_EQ(box_->config_revision(), 3u);
}

// ---- couriers -----------------------------------------------------------------------------------

TEST_F(BoxTest, ACourierTokenOpensItsCompartmentsOneAfterTheOther) {
  start_box();
  const std::string token = sign(claims_for(TokenAction::kCourierLoad, {1, 2, 4}, 77));
  scan(token);
  auto open_close = [&](std::size_t index) {
    ASSERT_TRUE(sim_->open_door(index).ok());
    step();
    ASSERT_TRUE(sim_->close_door(index).ok());
    step();
  };
  ASSERT_EQ(sim_->pulses().size(), 1u);
  EXPECT_EQ(sim_->pulses()[0].compartment, 0u);
  run_for(seconds(3));
  EXPECT_EQ(sim_->pulses().size(), 1u);  // not the next one while door 1 is still to be used
  open_close(0);
  ASSERT_EQ(sim_->pulses().size(), 2u);
  EXPECT_EQ(sim_->pulses()[1].compartment, 1u);
  open_close(1);
  ASSERT_EQ(sim_->pulses().size(), 3u);
  EXPECT_EQ(sim_->pulses()[2].compartment, 3u);
  open_close(3);
  EXPECT_EQ(sim_->pulses().size(), 3u);
  EXPECT_EQ(of_kind(Kind::kAccessCompleted).size(), 3u);
  EXPECT_EQ(box_->compartment_state(4), S::kOccupied);
  clock_.advance(seconds(10));
  step();
  scan(token);  // everything done
  EXPECT_EQ(sim_->pulses().size(), 3u);
  EXPECT_EQ(of_kind(Kind::kScanRejected).back().reason, std::optional<std::string>("already_used"));
}

TEST_F(BoxTest, ACourierSessionSkipsAJammedDoorAndARescanFinishesTheRest) {
  start_box();
  const std::string token = sign(claims_for(TokenAction::kCourierCollect, {1, 2}, 77));
  ASSERT_TRUE(sim_->set_jammed(0, true).ok());
  scan(token);
  ASSERT_EQ(sim_->pulses().size(), 1u);
  run_for(seconds(16), seconds(1));  // door 1 jams; the session moves on to door 2
  ASSERT_EQ(sim_->pulses().size(), 2u);
  EXPECT_EQ(sim_->pulses()[1].compartment, 1u);
  // The courier walks away; the box stops when door 2 jams too (nobody opens it).
  run_for(seconds(16), seconds(1));
  EXPECT_EQ(sim_->pulses().size(), 2u);
  // Both compartments were opened once with this token: a rescan has nothing left.
  scan(token);
  EXPECT_EQ(of_kind(Kind::kScanRejected).back().reason, std::optional<std::string>("already_used"));
}

// ---- sensors and state --------------------------------------------------------------------------

TEST_F(BoxTest, TamperAndFillLevelChangesAreJournaled) {
  start_box();
  sim_->set_tampered(true);
  step();
  sim_->set_tampered(false);
  step();
  const auto tamper = of_kind(Kind::kTamper);
  ASSERT_EQ(tamper.size(), 2u);
  EXPECT_EQ(tamper[0].detail, std::optional<std::string>("service panel opened"));
  EXPECT_EQ(tamper[1].detail, std::optional<std::string>("service panel closed"));

  ASSERT_TRUE(sim_->set_fill_percent(1, 30).ok());  // crosses 25 %
  run_for(Box::kFillInterval, seconds(1));
  ASSERT_TRUE(sim_->set_fill_percent(1, 40).ok());  // same band: no event
  run_for(Box::kFillInterval, seconds(1));
  const auto fill = of_kind(Kind::kFillLevel);
  ASSERT_EQ(fill.size(), 1u);
  EXPECT_EQ(fill[0].compartment, std::optional<int>(2));
  EXPECT_EQ(fill[0].fill_percent, std::optional<int>(30));
  EXPECT_EQ(mailbox_.state()->compartments[1].fill_percent, std::optional<int>(40));
}

TEST_F(BoxTest, TheStateReportFollowsChangesAndCountsTheBacklog) {
  start_box();
  ASSERT_TRUE(journal_->mark_acked(last_seq()).ok());
  ASSERT_TRUE(sim_->open_door(0).ok());
  step();
  auto state = mailbox_.state();
  ASSERT_TRUE(state.has_value());
  EXPECT_EQ(state->compartments[0].state, "forced");
  EXPECT_EQ(state->backlog, 2u);  // door_opened, forced
  EXPECT_EQ(state->compartments[0].size, "M");
  clock_.advance(seconds(100));
  step();
  EXPECT_EQ(mailbox_.state()->uptime_s, 100);
}

TEST_F(BoxTest, StopReleasesTheLocks) {
  start_box();
  send(command("cmd-1", msg::CommandOp::kOpen, 1));
  step();
  EXPECT_TRUE(sim_->lock_energised(0).value());
  box_->stop();
  EXPECT_FALSE(sim_->lock_energised(0).value());
}

}  // namespace
}  // namespace reclothes::firmware
