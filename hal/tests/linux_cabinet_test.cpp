// The linux backend's logic against FakeGpio: polarity, pulse safety, events, errors, release.
#include "reclothes/hal/linux/linux_cabinet.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <string>
#include <vector>

#include "reclothes/hal/linux/testing/fake_gpio.h"

namespace reclothes::hal::linux_backend {
namespace {

using namespace std::chrono_literals;
using testing::FakeGpio;
using testing::FakeLineMode;

constexpr const char* kChip = "gpiochip0";
constexpr const char* kChip1 = "gpiochip1";

// Compartment 0 is wired active-high, compartment 1 active-low, so every polarity test covers
// both. The tamper switch sits on a second chip.
PinMap board() {
  PinMap pins;
  pins.compartments.push_back({.chip = kChip,
                               .lock_line = 17,
                               .lock_active_low = false,
                               .door_line = 27,
                               .door_active_low = false,
                               .door_bias = LineBias::kPullUp,
                               .pulse = 300ms});
  pins.compartments.push_back({.chip = kChip,
                               .lock_line = 18,
                               .lock_active_low = true,
                               .door_line = 22,
                               .door_active_low = true,
                               .door_bias = LineBias::kPullDown,
                               .pulse = 700ms});
  pins.tamper = InputPin{.chip = kChip1, .line = 5, .active_low = true};
  pins.led_green = OutputPin{.chip = kChip, .line = 6};
  pins.led_red = OutputPin{.chip = kChip, .line = 13, .active_low = true};
  return pins;
}

class LinuxCabinetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    gpio_.add_chip(kChip);
    gpio_.add_chip(kChip1, 8);
  }

  Result<std::unique_ptr<LinuxCabinet>> open(const PinMap& pins = board()) {
    return LinuxCabinet::open(pins, gpio_, clock_, [this](std::chrono::milliseconds d) {
      sleeps_.push_back(d);
      if (during_pulse_) during_pulse_();
    });
  }

  void open_ok() {
    auto opened = open();
    ASSERT_TRUE(opened.ok()) << opened.error().to_string();
    owner_ = std::move(opened).value();
    cabinet_ = owner_->cabinet();
  }

  CompartmentLock& lock(std::size_t i) { return *cabinet_.compartments.at(i).lock; }
  DoorSensor& door(std::size_t i) { return *cabinet_.compartments.at(i).door; }

  ManualClock clock_;
  FakeGpio gpio_;
  std::vector<std::chrono::milliseconds> sleeps_;
  std::function<void()> during_pulse_;
  std::unique_ptr<LinuxCabinet> owner_;
  Cabinet cabinet_;
};

TEST_F(LinuxCabinetTest, OpenRequestsEveryLineWithTheRightModeAndLocksInactive) {
  open_ok();
  // Inactive is low for the active-high lock, high for the active-low one.
  EXPECT_EQ(gpio_.writes(kChip, 17), std::vector<bool>{false});
  EXPECT_EQ(gpio_.writes(kChip, 18), std::vector<bool>{true});
  EXPECT_EQ(gpio_.mode(kChip, 17), FakeLineMode::kOutput);
  EXPECT_EQ(gpio_.mode(kChip, 27), FakeLineMode::kInputEvents);
  EXPECT_EQ(gpio_.mode(kChip, 22), FakeLineMode::kInputEvents);
  EXPECT_EQ(gpio_.bias(kChip, 27), LineBias::kPullUp);
  EXPECT_EQ(gpio_.bias(kChip, 22), LineBias::kPullDown);
  EXPECT_EQ(gpio_.mode(kChip1, 5), FakeLineMode::kInput);
  // LEDs start off: low for the active-high green, high for the active-low red.
  EXPECT_EQ(gpio_.writes(kChip, 6), std::vector<bool>{false});
  EXPECT_EQ(gpio_.writes(kChip, 13), std::vector<bool>{true});
  EXPECT_EQ(gpio_.consumer(kChip, 17), "reclothes-box");
  EXPECT_EQ(gpio_.requested_count(), 7u);
  EXPECT_EQ(gpio_.open_chips(), 2u);  // each chip opened once
  EXPECT_FALSE(lock(0).energised());
  EXPECT_FALSE(lock(1).energised());
}

TEST_F(LinuxCabinetTest, CabinetCarriesThePinMapsPulseLengthsAndOnlyGpioDevices) {
  open_ok();
  ASSERT_EQ(cabinet_.compartments.size(), 2u);
  EXPECT_EQ(cabinet_.compartments[0].pulse_length, 300ms);
  EXPECT_EQ(cabinet_.compartments[1].pulse_length, 700ms);
  EXPECT_EQ(cabinet_.compartments[0].fill, nullptr);
  EXPECT_NE(cabinet_.tamper, nullptr);
  EXPECT_NE(cabinet_.indicator, nullptr);
  EXPECT_EQ(cabinet_.camera, nullptr);
  EXPECT_EQ(cabinet_.environment, nullptr);
}

TEST_F(LinuxCabinetTest, WithoutTamperOrLedPinsThoseDevicesAreNull) {
  PinMap pins = board();
  pins.tamper.reset();
  pins.led_green.reset();
  pins.led_red.reset();
  auto opened = open(pins);
  ASSERT_TRUE(opened.ok());
  Cabinet cabinet = opened.value()->cabinet();
  EXPECT_EQ(cabinet.tamper, nullptr);
  EXPECT_EQ(cabinet.indicator, nullptr);
  EXPECT_EQ(gpio_.requested_count(), 4u);
}

TEST_F(LinuxCabinetTest, PulseDrivesTheLineActiveForTheDurationThenInactive) {
  open_ok();
  bool level_during = false;
  bool energised_during = false;
  during_pulse_ = [&] {
    level_during = gpio_.level(kChip, 17);
    energised_during = lock(0).energised();
  };
  ASSERT_TRUE(lock(0).pulse(300ms).ok());
  EXPECT_TRUE(level_during);
  EXPECT_TRUE(energised_during);
  EXPECT_EQ(sleeps_, std::vector<std::chrono::milliseconds>{300ms});
  EXPECT_FALSE(gpio_.level(kChip, 17));
  EXPECT_FALSE(lock(0).energised());
  EXPECT_EQ(gpio_.writes(kChip, 17), (std::vector<bool>{false, true, false}));
}

TEST_F(LinuxCabinetTest, PulseHonoursActiveLow) {
  open_ok();
  bool level_during = true;
  during_pulse_ = [&] { level_during = gpio_.level(kChip, 18); };
  ASSERT_TRUE(lock(1).pulse(700ms).ok());
  EXPECT_FALSE(level_during);  // active-low: energised means the wire is low
  EXPECT_TRUE(gpio_.level(kChip, 18));
  EXPECT_EQ(gpio_.writes(kChip, 18), (std::vector<bool>{true, false, true}));
  EXPECT_EQ(gpio_.writes(kChip, 17), std::vector<bool>{false});  // the other lock untouched
}

TEST_F(LinuxCabinetTest, BadPulseNeverTouchesTheLine) {
  open_ok();
  EXPECT_EQ(lock(0).pulse(0ms).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(lock(0).pulse(2500ms).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(gpio_.writes(kChip, 17), std::vector<bool>{false});
  EXPECT_TRUE(sleeps_.empty());
}

TEST_F(LinuxCabinetTest, FailureToEnergiseClearsTheLineAndDoesNotWait) {
  open_ok();
  gpio_.fail_set_value(kChip, 17, EIO, 1);
  Status status = lock(0).pulse(300ms);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, ErrorCode::kIo);
  EXPECT_NE(status.error().message.find("compartment[0] lock: cannot energise"), std::string::npos)
      << status.error().message;
  EXPECT_NE(status.error().message.find("gpiochip0 line 17"), std::string::npos);
  EXPECT_TRUE(sleeps_.empty());
  EXPECT_FALSE(gpio_.level(kChip, 17));
  EXPECT_EQ(gpio_.writes(kChip, 17), (std::vector<bool>{false, false}));  // the clearing write
  EXPECT_FALSE(lock(0).energised());
}

TEST_F(LinuxCabinetTest, TransientFailureToClearIsRetried) {
  open_ok();
  during_pulse_ = [&] { gpio_.fail_set_value(kChip, 17, EIO, 1); };
  ASSERT_TRUE(lock(0).pulse(300ms).ok());
  EXPECT_FALSE(gpio_.level(kChip, 17));
  EXPECT_FALSE(lock(0).energised());
}

TEST_F(LinuxCabinetTest, PersistentFailureToClearIsReportedAsMaybeEnergised) {
  open_ok();
  during_pulse_ = [&] { gpio_.fail_set_value(kChip, 17, EIO, LinuxCabinet::kClearAttempts); };
  Status status = lock(0).pulse(300ms);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, ErrorCode::kIo);
  EXPECT_NE(status.error().message.find("may still be energised"), std::string::npos)
      << status.error().message;
  EXPECT_TRUE(lock(0).energised());
  // Once the driver recovers, release() (the start-up safety call) turns it off.
  ASSERT_TRUE(lock(0).release().ok());
  EXPECT_FALSE(lock(0).energised());
  EXPECT_FALSE(gpio_.level(kChip, 17));
}

TEST_F(LinuxCabinetTest, SecondPulseDuringAPulseIsRefusedAndReleaseCutsItShort) {
  open_ok();
  Status nested;
  during_pulse_ = [&] {
    nested = lock(0).pulse(100ms);
    ASSERT_TRUE(lock(0).release().ok());
    EXPECT_FALSE(gpio_.level(kChip, 17));
  };
  ASSERT_TRUE(lock(0).pulse(300ms).ok());
  ASSERT_FALSE(nested.ok());
  EXPECT_EQ(nested.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_EQ(sleeps_.size(), 1u);
  // After the first pulse returned, a new one is accepted.
  during_pulse_ = nullptr;
  EXPECT_TRUE(lock(0).pulse(300ms).ok());
}

TEST_F(LinuxCabinetTest, RequestFailureNamesChipAndLineAndReleasesEverything) {
  gpio_.fail_request(kChip, 18, EBUSY);
  auto opened = open();
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(opened.error().message,
            "compartment[1] lock: gpiochip0 line 18: cannot request as output: Device or "
            "resource busy");
  EXPECT_EQ(gpio_.requested_count(), 0u);
  EXPECT_EQ(gpio_.open_chips(), 0u);
  // The lock requested before the failure was only ever driven inactive.
  EXPECT_EQ(gpio_.writes(kChip, 17), std::vector<bool>{false});
}

TEST_F(LinuxCabinetTest, LocksAreRequestedBeforeAnyDoorAndReleasedWhenADoorFails) {
  gpio_.fail_request(kChip, 27, EPERM);
  auto opened = open();
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(opened.error().message,
            "compartment[0] door: gpiochip0 line 27: cannot request as input with edge events: "
            "Operation not permitted");
  // Both locks had been made safe before the first door was requested.
  EXPECT_EQ(gpio_.writes(kChip, 17), std::vector<bool>{false});
  EXPECT_EQ(gpio_.writes(kChip, 18), std::vector<bool>{true});
  EXPECT_EQ(gpio_.requested_count(), 0u);
}

TEST_F(LinuxCabinetTest, MissingChipFailsWithUnavailableNamingIt) {
  PinMap pins = board();
  pins.tamper->chip = "gpiochip7";
  auto opened = open(pins);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(opened.error().message,
            "tamper: gpiochip7: cannot open GPIO chip: No such file or directory");
  EXPECT_EQ(gpio_.requested_count(), 0u);
}

TEST_F(LinuxCabinetTest, LineOffsetPastTheChipsEndIsAnInvalidArgument) {
  PinMap pins = board();
  pins.tamper->line = 8;  // gpiochip1 has lines 0..7
  auto opened = open(pins);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(opened.error().message.find("gpiochip1 line 8"), std::string::npos);
}

TEST_F(LinuxCabinetTest, FailureToReadADoorAtStartUpReleasesEverything) {
  gpio_.fail_get_value(kChip, 22, EIO);
  auto opened = open();
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error().code, ErrorCode::kIo);
  EXPECT_EQ(opened.error().message,
            "compartment[1] door: gpiochip0 line 22: cannot read value: Input/output error");
  EXPECT_EQ(gpio_.requested_count(), 0u);
}

TEST_F(LinuxCabinetTest, DoorReadsHonourActiveLow) {
  gpio_.set_input(kChip, 27, true);  // active-high: high = open
  gpio_.set_input(kChip, 22, true);  // active-low: high = closed
  open_ok();
  EXPECT_TRUE(door(0).is_open().value());
  EXPECT_FALSE(door(1).is_open().value());
  gpio_.set_input(kChip, 27, false);
  gpio_.set_input(kChip, 22, false);
  EXPECT_FALSE(door(0).is_open().value());
  EXPECT_TRUE(door(1).is_open().value());
}

TEST_F(LinuxCabinetTest, EdgesBecomeOpenedAndClosedEventsStampedWithTheClock) {
  open_ok();
  Clock::Monotonic t0 = clock_.monotonic();
  gpio_.set_input(kChip, 27, true);
  auto opened = door(0).poll_event(250ms);
  ASSERT_TRUE(opened.ok());
  ASSERT_TRUE(opened.value().has_value());
  EXPECT_EQ(*opened.value(), (DoorEvent{DoorEventKind::kOpened, t0, clock_.wall_ms()}));
  EXPECT_EQ(gpio_.last_wait(kChip, 27), 250ms);  // the caller's timeout reaches the kernel

  clock_.advance(5s);
  gpio_.set_input(kChip, 27, false);
  auto closed = door(0).poll_event(0ms);
  ASSERT_TRUE(closed.ok() && closed.value().has_value());
  EXPECT_EQ(closed.value()->kind, DoorEventKind::kClosed);
  EXPECT_EQ(closed.value()->at, t0 + 5s);

  auto none = door(0).poll_event(100ms);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none.value().has_value());
}

TEST_F(LinuxCabinetTest, ActiveLowDoorEdgesAreInverted) {
  gpio_.set_input(kChip, 22, true);  // closed
  open_ok();
  gpio_.set_input(kChip, 22, false);  // falling edge = opened on an active-low switch
  auto event = door(1).poll_event(0ms);
  ASSERT_TRUE(event.ok() && event.value().has_value());
  EXPECT_EQ(event.value()->kind, DoorEventKind::kOpened);
  gpio_.set_input(kChip, 22, true);
  event = door(1).poll_event(0ms);
  ASSERT_TRUE(event.ok() && event.value().has_value());
  EXPECT_EQ(event.value()->kind, DoorEventKind::kClosed);
}

TEST_F(LinuxCabinetTest, EdgesThatDoNotChangeTheStateAreDropped) {
  open_ok();
  gpio_.push_edge(kChip, 27, true);
  gpio_.push_edge(kChip, 27, true);  // a missed falling edge in between: no second "opened"
  gpio_.push_edge(kChip, 27, false);
  auto first = door(0).poll_event(0ms);
  auto second = door(0).poll_event(0ms);
  auto third = door(0).poll_event(0ms);
  ASSERT_TRUE(first.ok() && second.ok() && third.ok());
  ASSERT_TRUE(first.value() && second.value());
  EXPECT_EQ(first.value()->kind, DoorEventKind::kOpened);
  EXPECT_EQ(second.value()->kind, DoorEventKind::kClosed);
  EXPECT_FALSE(third.value().has_value());
}

TEST_F(LinuxCabinetTest, AnEdgeMatchingTheStartUpStateIsNotAnEvent) {
  gpio_.set_input(kChip, 27, true);  // open at start-up
  open_ok();
  gpio_.push_edge(kChip, 27, true);
  auto event = door(0).poll_event(0ms);
  ASSERT_TRUE(event.ok());
  EXPECT_FALSE(event.value().has_value());
}

TEST_F(LinuxCabinetTest, DoorReadFailureNamesTheDoorChipAndLine) {
  open_ok();
  gpio_.fail_get_value(kChip, 27, EIO);
  auto open = door(0).is_open();
  ASSERT_FALSE(open.ok());
  EXPECT_EQ(open.error().code, ErrorCode::kIo);
  EXPECT_EQ(open.error().message,
            "compartment[0] door: gpiochip0 line 27: cannot read value: Input/output error");
  EXPECT_TRUE(door(0).is_open().ok());  // a transient failure
}

TEST_F(LinuxCabinetTest, TamperHonoursActiveLow) {
  gpio_.set_input(kChip1, 5, true);
  open_ok();
  EXPECT_FALSE(cabinet_.tamper->is_tampered().value());
  gpio_.set_input(kChip1, 5, false);
  EXPECT_TRUE(cabinet_.tamper->is_tampered().value());
  gpio_.fail_get_value(kChip1, 5, EIO);
  EXPECT_EQ(cabinet_.tamper->is_tampered().error().code, ErrorCode::kIo);
}

TEST_F(LinuxCabinetTest, IndicatorDrivesTheLedsForEachPattern) {
  open_ok();
  Indicator& indicator = *cabinet_.indicator;
  auto leds = [&] {
    // Logical states: green is active-high, red active-low.
    return std::pair{gpio_.level(kChip, 6), !gpio_.level(kChip, 13)};
  };
  ASSERT_TRUE(indicator.show(IndicatorPattern::kIdle, "Scan your code").ok());
  EXPECT_EQ(leds(), std::pair(true, false));
  ASSERT_TRUE(indicator.show(IndicatorPattern::kRejected, "Code expired").ok());
  EXPECT_EQ(leds(), std::pair(false, true));
  ASSERT_TRUE(indicator.show(IndicatorPattern::kWorking, "").ok());
  EXPECT_EQ(leds(), std::pair(true, true));
  gpio_.fail_set_value(kChip, 13, EIO);
  Status failed = indicator.show(IndicatorPattern::kFault, "");
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.error().message.find("red LED"), std::string::npos);
}

TEST(PinMap, ValidationNamesTheProblem) {
  EXPECT_TRUE(validate_pin_map(board()).ok());

  PinMap empty;
  EXPECT_EQ(validate_pin_map(empty).error().code, ErrorCode::kInvalidArgument);

  PinMap twice = board();
  twice.tamper = InputPin{.chip = kChip, .line = 17};
  Status status = validate_pin_map(twice);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().message,
            "pin map: gpiochip0 line 17 is used by compartment[0] lock and tamper");

  PinMap no_pulse = board();
  no_pulse.compartments[1].pulse = 0ms;
  EXPECT_NE(validate_pin_map(no_pulse).error().message.find("compartment[1] pulse of 0 ms"),
            std::string::npos);

  PinMap long_pulse = board();
  long_pulse.compartments[0].pulse = 2001ms;
  EXPECT_EQ(validate_pin_map(long_pulse).error().code, ErrorCode::kInvalidArgument);

  PinMap no_chip = board();
  no_chip.compartments[0].chip.clear();
  EXPECT_EQ(validate_pin_map(no_chip).error().code, ErrorCode::kInvalidArgument);
}

TEST_F(LinuxCabinetTest, OpenRefusesAnInvalidPinMapBeforeTouchingHardware) {
  PinMap pins = board();
  pins.compartments[1].door_line = 27;
  auto opened = open(pins);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(gpio_.open_chips(), 0u);
  EXPECT_TRUE(gpio_.writes(kChip, 17).empty());
}

}  // namespace
}  // namespace reclothes::hal::linux_backend
