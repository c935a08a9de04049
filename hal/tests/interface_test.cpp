// The checks every backend inherits from the interfaces' public methods. The backends here are
// minimal recorders, so each test shows that a bad call never reaches a backend and that a bad
// answer from a backend never reaches the firmware.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "reclothes/hal/camera.h"
#include "reclothes/hal/door.h"
#include "reclothes/hal/environment.h"
#include "reclothes/hal/fill_level.h"
#include "reclothes/hal/frame.h"
#include "reclothes/hal/indicator.h"
#include "reclothes/hal/lock.h"
#include "reclothes/hal/tamper.h"

namespace reclothes::hal {
namespace {

using namespace std::chrono_literals;

class RecordingLock final : public CompartmentLock {
 public:
  int pulses = 0;
  std::chrono::milliseconds last{0};

 private:
  Status do_pulse(std::chrono::milliseconds duration) override {
    ++pulses;
    last = duration;
    return ok_status();
  }
  Status do_release() override { return ok_status(); }
  bool do_energised() const override { return false; }
};

TEST(CompartmentLock, RefusesZeroNegativeAndTooLongPulsesBeforeTheBackend) {
  RecordingLock lock;
  for (auto bad : {0ms, -1ms, -500ms, CompartmentLock::kMaxPulse + 1ms, 10'000ms}) {
    Status status = lock.pulse(bad);
    ASSERT_FALSE(status.ok()) << bad.count();
    EXPECT_EQ(status.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(status.error().message.find(std::to_string(bad.count()) + " ms"), std::string::npos)
        << status.error().message;
  }
  EXPECT_EQ(lock.pulses, 0);
}

TEST(CompartmentLock, PassesPulsesWithinTheBoundsToTheBackend) {
  RecordingLock lock;
  ASSERT_TRUE(lock.pulse(1ms).ok());
  ASSERT_TRUE(lock.pulse(CompartmentLock::kMaxPulse).ok());
  EXPECT_EQ(lock.pulses, 2);
  EXPECT_EQ(lock.last, CompartmentLock::kMaxPulse);
}

class RecordingDoor final : public DoorSensor {
 public:
  int polls = 0;

 private:
  Result<bool> do_is_open() override { return true; }
  Result<std::optional<DoorEvent>> do_poll_event(std::chrono::milliseconds) override {
    ++polls;
    return std::optional<DoorEvent>{};
  }
};

TEST(DoorSensor, RefusesNegativeAndOverlongPollTimeouts) {
  RecordingDoor door;
  for (auto bad : {-1ms, DoorSensor::kMaxPollTimeout + 1ms}) {
    auto event = door.poll_event(bad);
    ASSERT_FALSE(event.ok());
    EXPECT_EQ(event.error().code, ErrorCode::kInvalidArgument);
  }
  EXPECT_EQ(door.polls, 0);
  ASSERT_TRUE(door.poll_event(0ms).ok());
  ASSERT_TRUE(door.poll_event(DoorSensor::kMaxPollTimeout).ok());
  EXPECT_EQ(door.polls, 2);
}

TEST(DoorEventKind, HasReadableNames) {
  EXPECT_EQ(to_string(DoorEventKind::kOpened), "opened");
  EXPECT_EQ(to_string(DoorEventKind::kClosed), "closed");
}

class FixedFill final : public FillLevelSensor {
 public:
  explicit FixedFill(int value) : value_(value) {}

 private:
  Result<int> do_percent() override { return value_; }
  int value_;
};

TEST(FillLevelSensor, TurnsOutOfRangeBackendValuesIntoIoErrors) {
  EXPECT_EQ(FixedFill(0).percent().value(), 0);
  EXPECT_EQ(FixedFill(100).percent().value(), 100);
  for (int bad : {-1, 101, 255}) {
    auto result = FixedFill(bad).percent();
    ASSERT_FALSE(result.ok()) << bad;
    EXPECT_EQ(result.error().code, ErrorCode::kIo);
    EXPECT_NE(result.error().message.find(std::to_string(bad)), std::string::npos);
  }
}

class FixedEnvironment final : public EnvironmentSensor {
 public:
  explicit FixedEnvironment(EnvironmentReading reading) : reading_(reading) {}

 private:
  Result<EnvironmentReading> do_read() override { return reading_; }
  EnvironmentReading reading_;
};

TEST(EnvironmentSensor, PassesPlausibleReadings) {
  auto reading = FixedEnvironment({-12.5, 88.0}).read();
  ASSERT_TRUE(reading.ok());
  EXPECT_EQ(reading.value(), (EnvironmentReading{-12.5, 88.0}));
}

TEST(EnvironmentSensor, TurnsImplausibleReadingsIntoIoErrors) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  for (EnvironmentReading bad :
       {EnvironmentReading{nan, 50.0}, EnvironmentReading{20.0, nan}, EnvironmentReading{inf, 50.0},
        EnvironmentReading{-41.0, 50.0}, EnvironmentReading{126.0, 50.0},
        EnvironmentReading{20.0, -0.5}, EnvironmentReading{20.0, 100.5}}) {
    auto reading = FixedEnvironment(bad).read();
    ASSERT_FALSE(reading.ok()) << bad.temperature_c << " " << bad.humidity_percent;
    EXPECT_EQ(reading.error().code, ErrorCode::kIo);
  }
}

class FixedTamper final : public TamperSwitch {
 private:
  Result<bool> do_is_tampered() override { return make_error(ErrorCode::kIo, "wire cut"); }
};

TEST(TamperSwitch, PassesBackendErrorsThrough) {
  FixedTamper tamper;
  auto result = tamper.is_tampered();
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().message, "wire cut");
}

class FixedCamera final : public Camera {
 public:
  explicit FixedCamera(Frame frame) : frame_(std::move(frame)) {}

 private:
  Status do_capture(Frame& frame) override {
    frame = frame_;
    return ok_status();
  }
  Frame frame_;
};

TEST(Camera, ReturnsConsistentFrames) {
  auto frame = FixedCamera(Frame::filled(4, 3, 7)).capture();
  ASSERT_TRUE(frame.ok());
  EXPECT_EQ(frame->width, 4u);
  EXPECT_EQ(frame->at(3, 2), 7);
}

TEST(Camera, TurnsAnInconsistentBackendFrameIntoAnInternalError) {
  Frame short_frame = Frame::filled(4, 3, 7);
  short_frame.pixels.pop_back();
  auto frame = FixedCamera(short_frame).capture();
  ASSERT_FALSE(frame.ok());
  EXPECT_EQ(frame.error().code, ErrorCode::kInternal);
  EXPECT_NE(frame.error().message.find("too few pixels"), std::string::npos)
      << frame.error().message;
}

TEST(Camera, CaptureIntoFillsTheCallersFrameAndKeepsItsBuffer) {
  FixedCamera camera(Frame::filled(4, 3, 7));
  Frame frame = Frame::filled(4, 3, 0);
  const std::uint8_t* buffer = frame.pixels.data();
  ASSERT_TRUE(camera.capture_into(frame).ok());
  EXPECT_EQ(frame.width, 4u);
  EXPECT_EQ(frame.at(3, 2), 7);
  EXPECT_EQ(frame.pixels.data(), buffer);  // same size: copied into place, not reallocated
}

TEST(Camera, CaptureIntoRefusesAnInconsistentBackendFrame) {
  Frame short_frame = Frame::filled(4, 3, 7);
  short_frame.pixels.pop_back();
  FixedCamera camera(short_frame);
  Frame frame;
  Status status = camera.capture_into(frame);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, ErrorCode::kInternal);
}

TEST(Frame, FilledHasCompactRows) {
  Frame frame = Frame::filled(5, 2, 200);
  EXPECT_EQ(frame.stride, 5u);
  EXPECT_EQ(frame.pixels.size(), 10u);
  EXPECT_TRUE(validate_frame(frame).ok());
}

TEST(Frame, ValidationAcceptsPaddedRowsWithoutTrailingPadding) {
  Frame frame;
  frame.width = 3;
  frame.height = 2;
  frame.stride = 8;
  frame.pixels.resize(8 + 3);  // the last row needs only `width` bytes
  EXPECT_TRUE(validate_frame(frame).ok());
  frame.pixels.resize(8 + 2);
  EXPECT_FALSE(validate_frame(frame).ok());
}

TEST(Frame, ValidationRefusesEmptyHugeAndNarrowStrideFrames) {
  Frame empty;
  EXPECT_EQ(validate_frame(empty).error().code, ErrorCode::kInvalidArgument);
  Frame huge;
  huge.width = Frame::kMaxDimension + 1;
  huge.height = 1;
  huge.stride = huge.width;
  huge.pixels.resize(huge.width);
  EXPECT_EQ(validate_frame(huge).error().code, ErrorCode::kInvalidArgument);
  Frame narrow = Frame::filled(4, 4, 0);
  narrow.stride = 3;
  Status status = validate_frame(narrow);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().message.find("stride"), std::string::npos);
}

class RecordingIndicator final : public Indicator {
 public:
  int shows = 0;
  std::string last;

 private:
  Status do_show(IndicatorPattern, std::string_view message) override {
    ++shows;
    last = std::string(message);
    return ok_status();
  }
};

TEST(Indicator, AcceptsMessagesUpToThirtyTwoCharactersCountingUtf8CodePoints) {
  RecordingIndicator indicator;
  ASSERT_TRUE(indicator.show(IndicatorPattern::kIdle, "").ok());
  ASSERT_TRUE(indicator.show(IndicatorPattern::kIdle, std::string(32, 'x')).ok());
  // 32 characters in 36 bytes: umlauts are two bytes each in UTF-8.
  std::string german = "Tür öffnen: Fach 12 ist für Sie";
  german += "ä";
  ASSERT_EQ(german.size(), 36u);
  ASSERT_TRUE(indicator.show(IndicatorPattern::kAccepted, german).ok());
  EXPECT_EQ(indicator.last, german);
  EXPECT_EQ(indicator.shows, 3);
}

TEST(Indicator, RefusesLongMessagesControlCharactersAndBrokenUtf8) {
  RecordingIndicator indicator;
  const std::string bad_messages[] = {
      std::string(33, 'x'),
      "line one\nline two",
      "tab\there",
      std::string("nul\0byte", 8),
      "\xC3",              // cut-off two-byte sequence
      "\x80stray",         // continuation byte without a lead
      "\xC0\xAF",          // overlong encoding of '/'
      "\xED\xA0\x80",      // a UTF-16 surrogate
      "\xF4\x90\x80\x80",  // beyond U+10FFFF
  };
  for (const std::string& bad : bad_messages) {
    Status status = indicator.show(IndicatorPattern::kRejected, bad);
    ASSERT_FALSE(status.ok()) << bad;
    EXPECT_EQ(status.error().code, ErrorCode::kInvalidArgument);
  }
  EXPECT_EQ(indicator.shows, 0);
}

TEST(Indicator, RefusesAPatternOutsideTheEnumeration) {
  RecordingIndicator indicator;
  Status status = indicator.show(static_cast<IndicatorPattern>(42), "hello");
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(indicator.shows, 0);
  EXPECT_EQ(to_string(IndicatorPattern::kMaintenance), "maintenance");
}

}  // namespace
}  // namespace reclothes::hal
