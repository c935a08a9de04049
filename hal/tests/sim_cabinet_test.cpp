#include "reclothes/hal/sim/sim_cabinet.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace reclothes::hal::sim {
namespace {

using namespace std::chrono_literals;

class SimCabinetTest : public ::testing::Test {
 protected:
  void SetUp() override { make({}); }

  void make(SimCabinetConfig config) {
    auto created = SimCabinet::create(clock_, config);
    ASSERT_TRUE(created.ok()) << created.error().to_string();
    sim_ = std::move(created).value();
    cabinet_ = sim_->cabinet();
  }

  CompartmentLock& lock(std::size_t i) { return *cabinet_.compartments.at(i).lock; }
  DoorSensor& door(std::size_t i) { return *cabinet_.compartments.at(i).door; }

  std::optional<DoorEvent> next_event(std::size_t i) {
    auto event = door(i).poll_event(0ms);
    EXPECT_TRUE(event.ok()) << event.error().to_string();
    return event.ok() ? event.value() : std::nullopt;
  }

  ManualClock clock_{1'767'225'600'000};
  std::unique_ptr<SimCabinet> sim_;
  Cabinet cabinet_;
};

TEST_F(SimCabinetTest, CreateRefusesBadConfigurations) {
  auto bad = [&](SimCabinetConfig config) {
    auto created = SimCabinet::create(clock_, config);
    EXPECT_FALSE(created.ok());
    return created.ok() ? ErrorCode::kInternal : created.error().code;
  };
  SimCabinetConfig none;
  none.compartments = 0;
  EXPECT_EQ(bad(none), ErrorCode::kInvalidArgument);
  SimCabinetConfig too_many;
  too_many.compartments = SimCabinet::kMaxCompartments + 1;
  EXPECT_EQ(bad(too_many), ErrorCode::kInvalidArgument);
  SimCabinetConfig long_pulse;
  long_pulse.pulse_length = CompartmentLock::kMaxPulse + 1ms;
  EXPECT_EQ(bad(long_pulse), ErrorCode::kInvalidArgument);
  SimCabinetConfig zero_auto_open;
  zero_auto_open.auto_open_after = 0ms;
  EXPECT_EQ(bad(zero_auto_open), ErrorCode::kInvalidArgument);
  SimCabinetConfig no_frame;
  no_frame.frame_width = 0;
  EXPECT_EQ(bad(no_frame), ErrorCode::kInvalidArgument);
}

TEST_F(SimCabinetTest, WiresEveryDeviceIntoTheCabinet) {
  SimCabinetConfig config;
  config.compartments = 6;
  config.pulse_length = 350ms;
  make(config);
  ASSERT_EQ(cabinet_.compartments.size(), 6u);
  EXPECT_EQ(sim_->compartment_count(), 6u);
  for (const Compartment& c : cabinet_.compartments) {
    EXPECT_NE(c.lock, nullptr);
    EXPECT_NE(c.door, nullptr);
    EXPECT_NE(c.fill, nullptr);
    EXPECT_EQ(c.pulse_length, 350ms);
  }
  EXPECT_NE(cabinet_.camera, nullptr);
  EXPECT_NE(cabinet_.environment, nullptr);
  EXPECT_NE(cabinet_.tamper, nullptr);
  EXPECT_NE(cabinet_.indicator, nullptr);
}

TEST_F(SimCabinetTest, CabinetWithoutFillSensorsHasNullFillPointers) {
  SimCabinetConfig config;
  config.fill_sensors = false;
  make(config);
  for (const Compartment& c : cabinet_.compartments) EXPECT_EQ(c.fill, nullptr);
  EXPECT_EQ(sim_->set_fill_percent(0, 50).error().code, ErrorCode::kFailedPrecondition);
}

TEST_F(SimCabinetTest, PulseIsRecordedWithItsDurationAndTimes) {
  Clock::Monotonic start = clock_.monotonic();
  ASSERT_TRUE(lock(2).pulse(400ms).ok());
  std::vector<PulseRecord> pulses = sim_->pulses();
  ASSERT_EQ(pulses.size(), 1u);
  EXPECT_EQ(pulses[0].compartment, 2u);
  EXPECT_EQ(pulses[0].duration, 400ms);
  EXPECT_EQ(pulses[0].start, start);
  EXPECT_EQ(pulses[0].end, start + 400ms);
  EXPECT_EQ(pulses[0].start_wall_ms, clock_.wall_ms());
}

TEST_F(SimCabinetTest, EnergisedOnlyUntilThePulseEndsOnTheClock) {
  ASSERT_TRUE(lock(0).pulse(500ms).ok());
  EXPECT_TRUE(lock(0).energised());
  EXPECT_TRUE(sim_->lock_energised(0).value());
  EXPECT_FALSE(lock(1).energised());
  clock_.advance(499ms);
  EXPECT_TRUE(lock(0).energised());
  clock_.advance(1ms);  // [start, end): at the end the solenoid is off
  EXPECT_FALSE(lock(0).energised());
  EXPECT_FALSE(sim_->lock_energised(0).value());
}

TEST_F(SimCabinetTest, SecondPulseDuringAPulseIsRefusedAndAfterItAccepted) {
  ASSERT_TRUE(lock(0).pulse(500ms).ok());
  clock_.advance(100ms);
  Status again = lock(0).pulse(500ms);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, ErrorCode::kFailedPrecondition);
  clock_.advance(400ms);
  EXPECT_TRUE(lock(0).pulse(500ms).ok());
  EXPECT_EQ(sim_->pulses().size(), 2u);
}

TEST_F(SimCabinetTest, ReleaseCutsAPulseShortAndIsIdempotent) {
  ASSERT_TRUE(lock(1).release().ok());  // nothing running: still fine
  Clock::Monotonic start = clock_.monotonic();
  ASSERT_TRUE(lock(1).pulse(800ms).ok());
  clock_.advance(200ms);
  ASSERT_TRUE(lock(1).release().ok());
  EXPECT_FALSE(lock(1).energised());
  ASSERT_TRUE(lock(1).release().ok());
  ASSERT_EQ(sim_->pulses().size(), 1u);
  EXPECT_EQ(sim_->pulses()[0].end, start + 200ms);
  EXPECT_EQ(sim_->pulses()[0].duration, 800ms);
}

TEST_F(SimCabinetTest, BadPulsesAreRefusedThroughThePublicMethod) {
  EXPECT_EQ(lock(0).pulse(0ms).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(lock(0).pulse(2001ms).error().code, ErrorCode::kInvalidArgument);
  EXPECT_TRUE(sim_->pulses().empty());
  EXPECT_FALSE(lock(0).energised());
}

TEST_F(SimCabinetTest, DoorEventsAreQueuedAndReturnedInOrderWithTimestamps) {
  Clock::Monotonic t0 = clock_.monotonic();
  std::int64_t w0 = clock_.wall_ms();
  ASSERT_TRUE(sim_->open_door(1).ok());
  clock_.advance(3s);
  ASSERT_TRUE(sim_->close_door(1).ok());
  clock_.advance(1s);
  ASSERT_TRUE(sim_->open_door(1).ok());

  EXPECT_EQ(next_event(1), (DoorEvent{DoorEventKind::kOpened, t0, w0}));
  EXPECT_EQ(next_event(1), (DoorEvent{DoorEventKind::kClosed, t0 + 3s, w0 + 3000}));
  EXPECT_EQ(next_event(1), (DoorEvent{DoorEventKind::kOpened, t0 + 4s, w0 + 4000}));
  EXPECT_EQ(next_event(1), std::nullopt);
  EXPECT_EQ(next_event(0), std::nullopt);  // other doors saw nothing
  EXPECT_TRUE(door(1).is_open().value());
  EXPECT_FALSE(door(0).is_open().value());
}

TEST_F(SimCabinetTest, OnlyChangesMakeEvents) {
  ASSERT_TRUE(sim_->close_door(0).ok());  // already closed
  ASSERT_TRUE(sim_->open_door(0).ok());
  ASSERT_TRUE(sim_->open_door(0).ok());  // already open
  ASSERT_EQ(next_event(0)->kind, DoorEventKind::kOpened);
  EXPECT_EQ(next_event(0), std::nullopt);
}

TEST_F(SimCabinetTest, EventQueueIsBoundedAndKeepsTheNewest) {
  for (std::size_t i = 0; i < SimCabinet::kMaxQueuedEvents + 2; ++i) {
    clock_.advance(1ms);
    ASSERT_TRUE(i % 2 == 0 ? sim_->open_door(0).ok() : sim_->close_door(0).ok());
  }
  EXPECT_EQ(sim_->snapshot().compartments[0].queued_events, SimCabinet::kMaxQueuedEvents);
  // The two oldest (opened, closed) were dropped, so the queue starts with an opening again.
  EXPECT_EQ(next_event(0)->kind, DoorEventKind::kOpened);
}

TEST_F(SimCabinetTest, BadCompartmentIndexIsAnError) {
  EXPECT_EQ(sim_->open_door(4).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(sim_->set_jammed(99, true).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(sim_->lock_energised(4).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(sim_->door_open(4).error().code, ErrorCode::kInvalidArgument);
}

TEST_F(SimCabinetTest, LockFaultFailsPulseAndReleaseWithoutEnergising) {
  ASSERT_TRUE(sim_->set_lock_fault(0, make_error(ErrorCode::kIo, "driver board dead")).ok());
  Status pulse = lock(0).pulse(500ms);
  ASSERT_FALSE(pulse.ok());
  EXPECT_EQ(pulse.error().code, ErrorCode::kIo);
  EXPECT_EQ(pulse.error().message, "driver board dead");
  EXPECT_FALSE(lock(0).energised());
  EXPECT_TRUE(sim_->pulses().empty());
  EXPECT_EQ(lock(0).release().error().code, ErrorCode::kIo);
  EXPECT_TRUE(lock(1).pulse(500ms).ok());  // only the faulty lock fails
  ASSERT_TRUE(sim_->set_lock_fault(0, std::nullopt).ok());
  EXPECT_TRUE(lock(0).pulse(500ms).ok());
}

TEST_F(SimCabinetTest, DoorFaultFailsReadsButKeepsEventsForLater) {
  ASSERT_TRUE(sim_->set_door_fault(2, make_error(ErrorCode::kIo, "reed switch")).ok());
  ASSERT_TRUE(sim_->open_door(2).ok());
  EXPECT_EQ(door(2).is_open().error().code, ErrorCode::kIo);
  EXPECT_EQ(door(2).poll_event(0ms).error().code, ErrorCode::kIo);
  EXPECT_TRUE(sim_->door_open(2).value());  // the truth is still known to the test
  ASSERT_TRUE(sim_->set_door_fault(2, std::nullopt).ok());
  EXPECT_EQ(next_event(2)->kind, DoorEventKind::kOpened);
}

TEST_F(SimCabinetTest, JammedLockPulsesButTheDoorStaysShut) {
  SimCabinetConfig config;
  config.auto_open_after = 100ms;
  make(config);
  ASSERT_TRUE(sim_->set_jammed(0, true).ok());
  ASSERT_TRUE(lock(0).pulse(500ms).ok());
  EXPECT_TRUE(lock(0).energised());
  clock_.advance(2s);
  EXPECT_FALSE(door(0).is_open().value());
  EXPECT_EQ(next_event(0), std::nullopt);
  Status pull = sim_->open_door(0);
  ASSERT_FALSE(pull.ok());
  EXPECT_EQ(pull.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_EQ(sim_->pulses().size(), 1u);
  EXPECT_TRUE(sim_->snapshot().compartments[0].jammed);
}

TEST_F(SimCabinetTest, AutoOpenIsOffByDefault) {
  ASSERT_TRUE(lock(0).pulse(500ms).ok());
  clock_.advance(10s);
  EXPECT_FALSE(door(0).is_open().value());
  EXPECT_EQ(next_event(0), std::nullopt);
}

TEST_F(SimCabinetTest, AutoOpenSpringsTheDoorAfterTheDelayOnTheClock) {
  SimCabinetConfig config;
  config.auto_open_after = 300ms;
  make(config);
  Clock::Monotonic t0 = clock_.monotonic();
  std::int64_t w0 = clock_.wall_ms();
  ASSERT_TRUE(lock(3).pulse(500ms).ok());
  clock_.advance(299ms);
  EXPECT_FALSE(door(3).is_open().value());
  // Noticed late: the event still carries the time the door opened.
  clock_.advance(201ms);
  EXPECT_TRUE(door(3).is_open().value());
  EXPECT_EQ(next_event(3), (DoorEvent{DoorEventKind::kOpened, t0 + 300ms, w0 + 300}));
  EXPECT_EQ(next_event(3), std::nullopt);
}

TEST_F(SimCabinetTest, TickAppliesDueActionsForObservers) {
  SimCabinetConfig config;
  config.auto_open_after = 50ms;
  make(config);
  ASSERT_TRUE(lock(0).pulse(500ms).ok());
  clock_.advance(60ms);
  sim_->tick();
  EXPECT_EQ(sim_->snapshot().compartments[0].queued_events, 1u);
  EXPECT_TRUE(sim_->door_open(0).value());
}

TEST_F(SimCabinetTest, SensorsReportWhatTheTestSets) {
  ASSERT_TRUE(sim_->set_fill_percent(1, 73).ok());
  EXPECT_EQ(cabinet_.compartments[1].fill->percent().value(), 73);
  EXPECT_EQ(cabinet_.compartments[0].fill->percent().value(), 0);
  sim_->set_environment({4.5, 91.0});
  EXPECT_EQ(cabinet_.environment->read().value(), (EnvironmentReading{4.5, 91.0}));
  EXPECT_FALSE(cabinet_.tamper->is_tampered().value());
  sim_->set_tampered(true);
  EXPECT_TRUE(cabinet_.tamper->is_tampered().value());
  SimSnapshot snap = sim_->snapshot();
  EXPECT_TRUE(snap.tampered);
  EXPECT_EQ(snap.compartments[1].fill_percent, 73);
  EXPECT_EQ(snap.environment, (EnvironmentReading{4.5, 91.0}));
}

TEST_F(SimCabinetTest, OutOfRangeSensorValuesReachTheInterfaceChecks) {
  ASSERT_TRUE(sim_->set_fill_percent(0, 140).ok());
  EXPECT_EQ(cabinet_.compartments[0].fill->percent().error().code, ErrorCode::kIo);
  sim_->set_environment({300.0, 50.0});
  EXPECT_EQ(cabinet_.environment->read().error().code, ErrorCode::kIo);
}

TEST_F(SimCabinetTest, SensorFaultsAreReturned) {
  ASSERT_TRUE(sim_->set_fill_fault(0, make_error(ErrorCode::kIo, "fill")).ok());
  EXPECT_EQ(cabinet_.compartments[0].fill->percent().error().message, "fill");
  EXPECT_TRUE(cabinet_.compartments[1].fill->percent().ok());
  sim_->set_environment_fault(make_error(ErrorCode::kUnavailable, "i2c"));
  EXPECT_EQ(cabinet_.environment->read().error().code, ErrorCode::kUnavailable);
  sim_->set_tamper_fault(make_error(ErrorCode::kIo, "tamper"));
  EXPECT_EQ(cabinet_.tamper->is_tampered().error().message, "tamper");
  sim_->set_camera_fault(make_error(ErrorCode::kUnavailable, "camera unplugged"));
  EXPECT_EQ(cabinet_.camera->capture().error().message, "camera unplugged");
  sim_->set_indicator_fault(make_error(ErrorCode::kIo, "display"));
  EXPECT_EQ(cabinet_.indicator->show(IndicatorPattern::kIdle, "hi").error().message, "display");
  EXPECT_TRUE(sim_->indicator_history().empty());
  sim_->set_camera_fault(std::nullopt);
  EXPECT_TRUE(cabinet_.camera->capture().ok());
}

TEST_F(SimCabinetTest, CameraReturnsPresentedFramesInOrderThenTheStillThenBlank) {
  SimCabinetConfig config;
  config.frame_width = 32;
  config.frame_height = 24;
  make(config);
  ASSERT_TRUE(sim_->present_frame(Frame::filled(8, 8, 10)).ok());
  ASSERT_TRUE(sim_->present_frame(Frame::filled(8, 8, 20)).ok());
  EXPECT_EQ(sim_->queued_frames(), 2u);
  EXPECT_EQ(cabinet_.camera->capture()->at(0, 0), 10);
  EXPECT_EQ(cabinet_.camera->capture()->at(0, 0), 20);

  Frame blank = cabinet_.camera->capture().value();
  EXPECT_EQ(blank.width, 32u);
  EXPECT_EQ(blank.height, 24u);
  EXPECT_EQ(blank.at(31, 23), 0);

  ASSERT_TRUE(sim_->set_still_frame(Frame::filled(4, 4, 99)).ok());
  EXPECT_EQ(cabinet_.camera->capture()->at(3, 3), 99);
  EXPECT_EQ(cabinet_.camera->capture()->at(3, 3), 99);  // a still frame is not consumed
  ASSERT_TRUE(sim_->set_still_frame(std::nullopt).ok());
  EXPECT_EQ(cabinet_.camera->capture()->width, 32u);
}

TEST_F(SimCabinetTest, AnIdleCameraCapturesIntoTheSameBufferEveryTime) {
  SimCabinetConfig config;
  config.frame_width = 64;
  config.frame_height = 48;
  make(config);
  Frame frame;
  ASSERT_TRUE(cabinet_.camera->capture_into(frame).ok());
  const std::uint8_t* buffer = frame.pixels.data();
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(cabinet_.camera->capture_into(frame).ok());
    EXPECT_EQ(frame.pixels.data(), buffer) << "blank capture " << i << " reallocated";
  }
  EXPECT_EQ(frame.width, 64u);
  EXPECT_EQ(frame.at(63, 47), 0);

  // A still frame of the same size is copied into place too, and a presented one replaces it.
  ASSERT_TRUE(sim_->set_still_frame(Frame::filled(64, 48, 77)).ok());
  ASSERT_TRUE(cabinet_.camera->capture_into(frame).ok());
  EXPECT_EQ(frame.pixels.data(), buffer);
  EXPECT_EQ(frame.at(10, 10), 77);
  ASSERT_TRUE(sim_->present_frame(Frame::filled(8, 8, 5)).ok());
  ASSERT_TRUE(cabinet_.camera->capture_into(frame).ok());
  EXPECT_EQ(frame.width, 8u);
  EXPECT_EQ(frame.at(7, 7), 5);
  ASSERT_TRUE(cabinet_.camera->capture_into(frame).ok());
  EXPECT_EQ(frame.width, 64u);
  EXPECT_EQ(frame.at(10, 10), 77);
}

TEST_F(SimCabinetTest, CameraRefusesInconsistentFramesAndBoundsItsQueue) {
  Frame broken = Frame::filled(8, 8, 0);
  broken.pixels.resize(10);
  EXPECT_EQ(sim_->present_frame(broken).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(sim_->set_still_frame(broken).error().code, ErrorCode::kInvalidArgument);
  for (std::size_t i = 0; i < SimCabinet::kMaxQueuedFrames; ++i) {
    ASSERT_TRUE(sim_->present_frame(Frame::filled(2, 2, 0)).ok());
  }
  EXPECT_EQ(sim_->present_frame(Frame::filled(2, 2, 0)).error().code,
            ErrorCode::kResourceExhausted);
}

TEST_F(SimCabinetTest, IndicatorHistoryRecordsEveryShowWithTime) {
  EXPECT_EQ(sim_->indicator(), std::nullopt);
  std::int64_t w0 = clock_.wall_ms();
  ASSERT_TRUE(cabinet_.indicator->show(IndicatorPattern::kIdle, "Scan your code").ok());
  clock_.advance(2s);
  ASSERT_TRUE(cabinet_.indicator->show(IndicatorPattern::kRejected, "Code expired").ok());
  // Refused by the interface check: never recorded.
  EXPECT_FALSE(cabinet_.indicator->show(IndicatorPattern::kIdle, std::string(40, 'x')).ok());

  std::vector<IndicatorRecord> history = sim_->indicator_history();
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[0].pattern, IndicatorPattern::kIdle);
  EXPECT_EQ(history[0].message, "Scan your code");
  EXPECT_EQ(history[0].wall_ms, w0);
  EXPECT_EQ(history[1].pattern, IndicatorPattern::kRejected);
  EXPECT_EQ(history[1].wall_ms, w0 + 2000);
  ASSERT_TRUE(sim_->indicator().has_value());
  EXPECT_EQ(sim_->indicator()->message, "Code expired");
}

TEST_F(SimCabinetTest, HistoriesAreBounded) {
  for (std::size_t i = 0; i < SimCabinet::kMaxHistory + 5; ++i) {
    ASSERT_TRUE(cabinet_.indicator->show(IndicatorPattern::kWorking, std::to_string(i)).ok());
  }
  std::vector<IndicatorRecord> history = sim_->indicator_history();
  ASSERT_EQ(history.size(), SimCabinet::kMaxHistory);
  EXPECT_EQ(history.front().message, "5");
}

// The simulator's UI thread drives doors while the firmware thread polls them. Each door's events
// must arrive complete and alternating; a data race or lost update would break the pattern (and
// is what ThreadSanitizer would flag if the suite is built with it).
TEST_F(SimCabinetTest, OneThreadDrivesDoorsWhileAnotherPolls) {
  constexpr int kTogglesPerDoor = 100;  // 200 events per door, below kMaxQueuedEvents
  const std::size_t doors = cabinet_.compartments.size();
  std::atomic<bool> driver_done{false};
  std::thread driver([&] {
    for (int round = 0; round < kTogglesPerDoor; ++round) {
      for (std::size_t d = 0; d < doors; ++d) {
        EXPECT_TRUE(sim_->open_door(d).ok());
        sim_->set_tampered(round % 2 == 0);
        EXPECT_TRUE(sim_->close_door(d).ok());
      }
    }
    driver_done = true;
  });

  std::vector<int> seen(doors, 0);
  std::vector<DoorEventKind> expected(doors, DoorEventKind::kOpened);
  bool in_order = true;
  const int wanted = 2 * kTogglesPerDoor;
  auto give_up = std::chrono::steady_clock::now() + 20s;  // a safety net, not a timing check
  auto all_seen = [&] {
    for (int count : seen) {
      if (count < wanted) return false;
    }
    return true;
  };
  while (!all_seen() && std::chrono::steady_clock::now() < give_up) {
    for (std::size_t d = 0; d < doors; ++d) {
      auto event = door(d).poll_event(0ms);
      ASSERT_TRUE(event.ok());
      (void)lock(d).energised();
      (void)cabinet_.tamper->is_tampered();
      if (!event.value()) continue;
      if (event.value()->kind != expected[d]) in_order = false;
      expected[d] =
          expected[d] == DoorEventKind::kOpened ? DoorEventKind::kClosed : DoorEventKind::kOpened;
      ++seen[d];
    }
    if (!driver_done) std::this_thread::yield();
  }
  driver.join();
  EXPECT_TRUE(in_order);
  for (std::size_t d = 0; d < doors; ++d) EXPECT_EQ(seen[d], wanted) << "door " << d;
  for (std::size_t d = 0; d < doors; ++d) EXPECT_FALSE(door(d).is_open().value());
}

}  // namespace
}  // namespace reclothes::hal::sim
