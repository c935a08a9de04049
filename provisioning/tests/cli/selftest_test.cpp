// The self-test logic on the sim HAL with a ManualClock: waiting advances the clock, so timeouts
// are exact and nothing sleeps.
#include "reclothes/provisioning/cli/selftest.h"

#include <gtest/gtest.h>

#include <memory>

#include "reclothes/hal/sim/sim_cabinet.h"
#include "reclothes/provisioning/cli/selftest_backend.h"

namespace reclothes::provisioning::cli {
namespace {

using namespace std::chrono_literals;
using hal::sim::SimCabinet;

class SelfTestTest : public ::testing::Test {
 protected:
  void make(std::size_t n, std::optional<std::chrono::milliseconds> auto_open = 300ms,
            bool fill = true) {
    hal::sim::SimCabinetConfig config;
    config.compartments = n;
    config.fill_sensors = fill;
    config.auto_open_after = auto_open;
    auto sim = SimCabinet::create(clock_, config);
    ASSERT_TRUE(sim.ok()) << sim.error().to_string();
    sim_ = std::move(sim).value();
    cabinet_ = sim_->cabinet();
    expect_.compartments.clear();
    for (std::size_t i = 0; i < n; ++i) {
      expect_.compartments.push_back({static_cast<int>(i + 1), 400ms, fill && i == 0});
    }
    expect_.camera = true;
  }

  SelfTestReport run(bool technician_closes = true) {
    SelfTestHooks hooks;
    hooks.door_opened = [this, technician_closes](int number) {
      opened_.push_back(number);
      if (technician_closes) {
        // The technician needs a moment to close the door.
        clock_.advance(2s);
        ASSERT_TRUE(sim_->close_door(static_cast<std::size_t>(number - 1)).ok());
      }
    };
    return run_self_test(cabinet_, expect_, clock_, sleeper_, options_, hooks);
  }

  ManualClock clock_;
  Sleeper sleeper_ = [this](std::chrono::milliseconds d) { clock_.advance(d); };
  std::unique_ptr<SimCabinet> sim_;
  hal::Cabinet cabinet_;
  CabinetExpectation expect_;
  SelfTestOptions options_;
  std::vector<int> opened_;
};

TEST_F(SelfTestTest, HealthyCabinetPassesWithEveryLockPulsedOnceForItsLength) {
  make(3);
  ASSERT_TRUE(sim_->set_fill_percent(0, 40).ok());
  const SelfTestReport r = run();
  EXPECT_TRUE(r.ok()) << ::testing::PrintToString(r.faults());
  ASSERT_EQ(r.compartments.size(), 3u);
  for (const auto& c : r.compartments) {
    EXPECT_EQ(c.lock, CheckOutcome::kOk);
    EXPECT_EQ(c.door, CheckOutcome::kOk);
    ASSERT_TRUE(c.opened_after);
    EXPECT_EQ(*c.opened_after, 300ms) << "the sim's auto-open delay, measured on the clock";
    EXPECT_EQ(c.door_text, "opened after 300 ms, closed");
  }
  EXPECT_EQ(r.compartments[0].fill, CheckOutcome::kOk);
  EXPECT_EQ(r.compartments[0].fill_percent, 40);
  EXPECT_EQ(r.compartments[1].fill, CheckOutcome::kAbsent) << "not configured with a sensor";
  const auto pulses = sim_->pulses();
  ASSERT_EQ(pulses.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(pulses[i].compartment, i);
    EXPECT_EQ(pulses[i].duration, 400ms);
  }
  // One door at a time: each pulse starts after the previous door was closed again.
  EXPECT_GE(pulses[1].start - pulses[0].start, 2300ms);
  EXPECT_EQ(opened_, (std::vector<int>{1, 2, 3}));
  for (std::size_t i = 0; i < 3; ++i) EXPECT_FALSE(*sim_->lock_energised(i));
  ASSERT_EQ(r.cabinet.size(), 4u);
  for (const auto& c : r.cabinet) EXPECT_EQ(c.outcome, CheckOutcome::kOk) << c.name << c.text;
  ASSERT_TRUE(sim_->indicator());
  EXPECT_EQ(sim_->indicator()->pattern, hal::IndicatorPattern::kIdle);
  EXPECT_EQ(sim_->indicator()->message, "Self-test passed");
}

TEST_F(SelfTestTest, JammedLockIsAFaultAfterExactlyTheDoorTimeout) {
  make(3);
  ASSERT_TRUE(sim_->set_jammed(1, true).ok());
  options_.door_open_timeout = 7s;
  const auto before = clock_.monotonic();
  const SelfTestReport r = run();
  EXPECT_FALSE(r.ok());
  ASSERT_EQ(r.faults().size(), 1u);
  EXPECT_EQ(r.faults()[0].rfind("compartment 2: jammed: the door did not open within 7 s", 0), 0u)
      << r.faults()[0];
  EXPECT_EQ(r.compartments[1].lock, CheckOutcome::kOk) << "the pulse itself succeeded";
  EXPECT_EQ(r.compartments[1].door, CheckOutcome::kFault);
  EXPECT_FALSE(r.compartments[1].opened_after);
  EXPECT_TRUE(r.compartments[0].ok());
  EXPECT_TRUE(r.compartments[2].ok()) << "a fault does not stop the rest of the test";
  EXPECT_EQ(opened_, (std::vector<int>{1, 3}));
  // Two good compartments (each: the pulse's 400 ms, then 2 s for the technician) and the jammed
  // one's timeout; polling in 20 ms steps overshoots by at most one step each.
  const auto took = clock_.monotonic() - before;
  EXPECT_GE(took, 7s + 2 * 2400ms);
  EXPECT_LE(took, 7s + 2 * 2400ms + 3 * 20ms);
  EXPECT_EQ(sim_->indicator()->pattern, hal::IndicatorPattern::kFault);
}

TEST_F(SelfTestTest, LockAndDoorSensorFaultsAreNamed) {
  make(3);
  ASSERT_TRUE(sim_->set_lock_fault(0, make_error(ErrorCode::kIo, "coil open")).ok());
  ASSERT_TRUE(sim_->set_door_fault(2, make_error(ErrorCode::kUnavailable, "reed cut")).ok());
  const SelfTestReport r = run();
  const auto faults = r.faults();
  ASSERT_EQ(faults.size(), 2u) << ::testing::PrintToString(faults);
  // The sim fails release() as well as pulse(): the test stops at the first call.
  EXPECT_EQ(faults[0], "compartment 1: lock release failed: io: coil open");
  EXPECT_EQ(faults[1], "compartment 3: door sensor unreadable: unavailable: reed cut");
  EXPECT_EQ(r.compartments[0].lock, CheckOutcome::kFault);
  EXPECT_EQ(r.compartments[2].door, CheckOutcome::kFault);
  EXPECT_EQ(sim_->pulses().size(), 1u) << "no pulse for a faulty lock or an unwatchable door";
}

TEST_F(SelfTestTest, DoorOpenBeforeTheTestIsNotPulsed) {
  make(2);
  ASSERT_TRUE(sim_->open_door(1).ok());
  const SelfTestReport r = run();
  ASSERT_EQ(r.faults().size(), 1u);
  EXPECT_NE(r.faults()[0].find("compartment 2: door reads open before the test"),
            std::string::npos);
  EXPECT_EQ(sim_->pulses().size(), 1u);
}

TEST_F(SelfTestTest, DoorThatIsNeverClosedIsAFault) {
  make(1);
  options_.door_close_timeout = 30s;
  const SelfTestReport r = run(/*technician_closes=*/false);
  ASSERT_EQ(r.faults().size(), 1u);
  EXPECT_NE(r.faults()[0].find("did not report closed within 30 s"), std::string::npos)
      << r.faults()[0];
}

TEST_F(SelfTestTest, SensorFaultsOfTheCabinetAreFaultsAndAnOpenPanelIsAWarning) {
  make(1);
  ASSERT_TRUE(sim_->set_fill_fault(0, make_error(ErrorCode::kIo, "i2c nack")).ok());
  sim_->set_camera_fault(make_error(ErrorCode::kUnavailable, "no frames"));
  sim_->set_environment_fault(make_error(ErrorCode::kIo, "crc"));
  sim_->set_tampered(true);
  const SelfTestReport r = run();
  const auto faults = r.faults();
  EXPECT_EQ(faults,
            (std::vector<std::string>{"compartment 1: fill-level sensor: io: i2c nack",
                                      "environment: io: crc", "camera: unavailable: no frames"}));
  EXPECT_EQ(r.cabinet[2].name, "tamper");
  EXPECT_EQ(r.cabinet[2].outcome, CheckOutcome::kWarning);
}

TEST_F(SelfTestTest, MissingDevicesAreAbsentUnlessConfigured) {
  make(1, 300ms, /*fill=*/false);
  cabinet_.camera = nullptr;
  cabinet_.environment = nullptr;
  cabinet_.tamper = nullptr;
  cabinet_.indicator = nullptr;
  expect_.camera = false;
  SelfTestReport r = run();
  EXPECT_TRUE(r.ok()) << ::testing::PrintToString(r.faults());
  for (const auto& c : r.cabinet) EXPECT_EQ(c.outcome, CheckOutcome::kAbsent) << c.name;
  expect_.camera = true;
  expect_.compartments[0].fill_sensor = true;  // configured, but the backend has no driver
  r = run();
  ASSERT_EQ(r.faults().size(), 1u);
  EXPECT_NE(r.faults()[0].find("camera"), std::string::npos);
  EXPECT_EQ(r.compartments[0].fill, CheckOutcome::kWarning);
}

TEST(SimFaultTest, ParsesEveryFormAndRefusesOthers) {
  EXPECT_EQ(*parse_sim_fault("jam:3"), (SimFault{SimFault::Kind::kJam, 3}));
  EXPECT_EQ(*parse_sim_fault("lock:1"), (SimFault{SimFault::Kind::kLock, 1}));
  EXPECT_EQ(*parse_sim_fault("door:64"), (SimFault{SimFault::Kind::kDoor, 64}));
  EXPECT_EQ(*parse_sim_fault("fill:2"), (SimFault{SimFault::Kind::kFill, 2}));
  EXPECT_EQ(*parse_sim_fault("camera"), (SimFault{SimFault::Kind::kCamera, 0}));
  EXPECT_EQ(*parse_sim_fault("environment"), (SimFault{SimFault::Kind::kEnvironment, 0}));
  EXPECT_EQ(*parse_sim_fault("tamper"), (SimFault{SimFault::Kind::kTamper, 0}));
  EXPECT_EQ(*parse_sim_fault("indicator"), (SimFault{SimFault::Kind::kIndicator, 0}));
  for (const char* bad :
       {"", "jam", "jam:", "jam:0", "jam:65", "jam:x", "jam:3x", "camera:1", "explode", "JAM:1"}) {
    auto r = parse_sim_fault(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message.find("--sim-fault"), std::string::npos);
  }
}

TEST(SimFaultTest, RigRefusesAFaultOutsideTheBox) {
  BoxFile config;
  config.box_id = "box-1";
  config.cabinet = *parse_shorthand("S:2");
  BackendOptions options;
  options.sim_faults = {{SimFault::Kind::kJam, 3}};
  auto rig = make_self_test_rig(config, options);
  ASSERT_FALSE(rig.ok());
  EXPECT_NE(rig.error().message.find("compartment 3, but the box has 1..2"), std::string::npos);

  options.sim_faults = {{SimFault::Kind::kJam, 2}};
  rig = make_self_test_rig(config, options);
  ASSERT_TRUE(rig.ok()) << rig.error().to_string();
  const auto expect = expectation_of(config);
  SelfTestHooks hooks;
  hooks.door_opened = [&](int n) { (*rig)->on_door_opened(n, [](const std::string&) {}); };
  const auto report =
      run_self_test((*rig)->cabinet(), expect, (*rig)->clock(), (*rig)->sleeper(), {}, hooks);
  ASSERT_EQ(report.faults().size(), 1u);
  EXPECT_EQ(report.faults()[0].rfind("compartment 2: jammed", 0), 0u);
}

}  // namespace
}  // namespace reclothes::provisioning::cli
