// The self-test on the board backend: the real LinuxCabinet over the HAL's fake of the kernel's
// GPIO (FakeGpio) and a ManualClock. The fake "world" opens a door while its lock's line is
// driven active (inspected mid-pulse through LinuxCabinet's sleeper), so these tests check that
// the configuration's pin map, polarities and pulse lengths reach the wires.
#include "reclothes/provisioning/cli/selftest_linux.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <set>
#include <utility>
#include <vector>

#include "reclothes/hal/linux/testing/fake_gpio.h"
#include "reclothes/provisioning/cli/selftest.h"

namespace reclothes::provisioning::cli {
namespace {

using namespace std::chrono_literals;
using hal::linux_backend::testing::FakeGpio;

constexpr char kChip[] = "gpiochip0";

class LinuxSelfTestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    gpio_.add_chip(kChip);
    config_.box_id = "box-board";
    config_.backend = Backend::kLinux;
    config_.camera.reset();
    CompartmentPlan a;
    a.number = 1;
    a.size = "S";
    a.pulse = 400ms;
    a.pins = CompartmentPins{kChip, 17, false, 27, false};
    CompartmentPlan b;
    b.number = 2;
    b.size = "M";
    b.pulse = 600ms;
    b.pins = CompartmentPins{kChip, 22, true, 23, true};  // both active-low
    config_.cabinet.compartments = {a, b};
    config_.cabinet.tamper = GpioPin{kChip, 4, false};
    config_.cabinet.led_green = GpioPin{kChip, 5, false};
    config_.cabinet.led_red = GpioPin{kChip, 6, false};
    // Doors closed, panel closed.
    set_door(0, false);
    set_door(1, false);
    gpio_.set_input(kChip, 4, false);
  }

  const CompartmentPins& pins(std::size_t i) const { return *config_.cabinet.compartments[i].pins; }
  void set_door(std::size_t i, bool open) {
    // A door's line reads its active level when open.
    gpio_.set_input(kChip, pins(i).door_line, open != pins(i).door_active_low);
  }
  bool lock_active(std::size_t i) const {
    return gpio_.level(kChip, pins(i).lock_line) != pins(i).lock_active_low;
  }

  Result<std::unique_ptr<SelfTestRig>> open_rig() {
    auto pulse_sleep = [this](std::chrono::milliseconds d) {
      for (std::size_t i = 0; i < config_.cabinet.compartments.size(); ++i) {
        if (!lock_active(i)) continue;
        pulses_.emplace_back(static_cast<int>(i + 1), d);
        if (jammed_.count(static_cast<int>(i + 1)) == 0) set_door(i, true);
      }
      clock_.advance(d);
    };
    return make_linux_self_test_rig(config_, gpio_, nullptr, clock_, pulse_sleep,
                                    [this](std::chrono::milliseconds d) { clock_.advance(d); });
  }

  SelfTestReport run(SelfTestRig& rig) {
    SelfTestHooks hooks;
    hooks.door_opened = [this](int number) {
      set_door(static_cast<std::size_t>(number - 1), false);
    };
    return run_self_test(rig.cabinet(), expectation_of(config_), rig.clock(), rig.sleeper(), {},
                         hooks);
  }

  FakeGpio gpio_;
  ManualClock clock_;
  BoxFile config_;
  std::set<int> jammed_;
  std::vector<std::pair<int, std::chrono::milliseconds>> pulses_;
};

TEST_F(LinuxSelfTestTest, PinMapPolaritiesAndPulseLengthsReachTheWires) {
  auto rig = open_rig();
  ASSERT_TRUE(rig.ok()) << rig.error().to_string();
  EXPECT_EQ((*rig)->description(), "linux (gpiochip0)");
  EXPECT_EQ(gpio_.consumer(kChip, 17), "reclothes-box");
  const SelfTestReport r = run(**rig);
  EXPECT_TRUE(r.ok()) << ::testing::PrintToString(r.faults());
  using Pulse = std::pair<int, std::chrono::milliseconds>;
  EXPECT_EQ(pulses_, (std::vector<Pulse>{{1, 400ms}, {2, 600ms}}));
  EXPECT_FALSE(lock_active(0));
  EXPECT_FALSE(lock_active(1));
  EXPECT_TRUE(gpio_.level(kChip, 22)) << "an active-low lock rests high";
  ASSERT_EQ(r.compartments.size(), 2u);
  EXPECT_EQ(r.compartments[1].door_text, "opened after 600 ms, closed")
      << "the board's pulse blocks, so the door is seen after it";
  ASSERT_EQ(r.cabinet.size(), 4u);
  EXPECT_EQ(r.cabinet[0].outcome, CheckOutcome::kOk) << "LED indicator";
  EXPECT_EQ(r.cabinet[1].outcome, CheckOutcome::kAbsent) << "no environment driver on boards";
  EXPECT_EQ(r.cabinet[2].outcome, CheckOutcome::kOk) << r.cabinet[2].text;
  EXPECT_EQ(r.cabinet[3].outcome, CheckOutcome::kAbsent) << "no camera configured";
}

TEST_F(LinuxSelfTestTest, JammedDoorAndUnreadableTamperAreFaults) {
  jammed_ = {2};
  gpio_.fail_get_value(kChip, 4, EIO, 100);
  auto rig = open_rig();
  ASSERT_TRUE(rig.ok()) << rig.error().to_string();
  const SelfTestReport r = run(**rig);
  const auto faults = r.faults();
  ASSERT_EQ(faults.size(), 2u) << ::testing::PrintToString(faults);
  EXPECT_EQ(faults[0].rfind("compartment 2: jammed", 0), 0u) << faults[0];
  EXPECT_EQ(faults[1].rfind("tamper: ", 0), 0u) << faults[1];
  EXPECT_EQ(pulses_.size(), 2u);
}

TEST_F(LinuxSelfTestTest, MissingChipBusyLineAndMissingPinsAreNamed) {
  config_.cabinet.compartments[1].pins->chip = "gpiochip9";
  auto missing = open_rig();
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("gpiochip9"), std::string::npos)
      << missing.error().to_string();
  EXPECT_EQ(gpio_.requested_count(), 0u) << "lines requested so far are released";

  config_.cabinet.compartments[1].pins->chip = kChip;
  gpio_.fail_request(kChip, 23, EBUSY);
  auto busy = open_rig();
  ASSERT_FALSE(busy.ok());
  EXPECT_NE(busy.error().message.find("line 23"), std::string::npos) << busy.error().to_string();

  config_.cabinet.compartments[0].pins.reset();
  auto no_pins = open_rig();
  ASSERT_FALSE(no_pins.ok());
  EXPECT_EQ(no_pins.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(no_pins.error().message.find("pin map"), std::string::npos);
}

}  // namespace
}  // namespace reclothes::provisioning::cli
