// The CompartmentLock contract, run against every backend: the sim and the linux backend (over
// FakeGpio). Whatever a backend does inside, a firmware calling the interface sees the same thing.
#include <gtest/gtest.h>

#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "reclothes/hal/linux/linux_cabinet.h"
#include "reclothes/hal/linux/testing/fake_gpio.h"
#include "reclothes/hal/sim/sim_cabinet.h"

namespace reclothes::hal {
namespace {

using namespace std::chrono_literals;

class LockUnderTest {
 public:
  virtual ~LockUnderTest() = default;
  virtual CompartmentLock& lock() = 0;
  // Lets time pass beyond any pulse (the sim ends pulses on its clock; linux already returned).
  virtual void let_pulse_end() = 0;
  // How many pulses the backend actually performed.
  virtual std::size_t pulses_performed() = 0;
  // Makes the next pulse fail in the driver with EIO.
  virtual void break_driver() = 0;
};

class SimLockUnderTest final : public LockUnderTest {
 public:
  SimLockUnderTest() { sim_ = std::move(sim::SimCabinet::create(clock_).value()); }
  CompartmentLock& lock() override { return *sim_->cabinet().compartments[0].lock; }
  void let_pulse_end() override { clock_.advance(CompartmentLock::kMaxPulse); }
  std::size_t pulses_performed() override { return sim_->pulses().size(); }
  void break_driver() override {
    ASSERT_TRUE(sim_->set_lock_fault(0, make_error(ErrorCode::kIo, "sim driver failure")).ok());
  }

 private:
  ManualClock clock_;
  std::unique_ptr<sim::SimCabinet> sim_;
};

class LinuxLockUnderTest final : public LockUnderTest {
 public:
  LinuxLockUnderTest() {
    gpio_.add_chip("gpiochip0");
    linux_backend::PinMap pins;
    pins.compartments.push_back({.chip = "gpiochip0", .lock_line = 17, .door_line = 27});
    auto sleep = [this](std::chrono::milliseconds d) { sleeps_.push_back(d); };
    cabinet_ = std::move(linux_backend::LinuxCabinet::open(pins, gpio_, clock_, sleep).value());
  }
  CompartmentLock& lock() override { return *cabinet_->cabinet().compartments[0].lock; }
  void let_pulse_end() override {}
  std::size_t pulses_performed() override { return sleeps_.size(); }
  void break_driver() override { gpio_.fail_set_value("gpiochip0", 17, EIO, 1); }

 private:
  ManualClock clock_;
  linux_backend::testing::FakeGpio gpio_;
  std::vector<std::chrono::milliseconds> sleeps_;
  std::unique_ptr<linux_backend::LinuxCabinet> cabinet_;
};

class LockContract : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "sim") {
      backend_ = std::make_unique<SimLockUnderTest>();
    } else {
      backend_ = std::make_unique<LinuxLockUnderTest>();
    }
  }
  std::unique_ptr<LockUnderTest> backend_;
};

TEST_P(LockContract, RefusesZeroNegativeAndTooLongPulsesWithoutTouchingTheDriver) {
  for (auto bad : {0ms, -1ms, CompartmentLock::kMaxPulse + 1ms}) {
    Status status = backend_->lock().pulse(bad);
    ASSERT_FALSE(status.ok());
    EXPECT_EQ(status.error().code, ErrorCode::kInvalidArgument);
  }
  EXPECT_EQ(backend_->pulses_performed(), 0u);
  EXPECT_FALSE(backend_->lock().energised());
}

TEST_P(LockContract, PerformsTheLongestAllowedPulseAndEndsIt) {
  ASSERT_TRUE(backend_->lock().pulse(CompartmentLock::kMaxPulse).ok());
  backend_->let_pulse_end();
  EXPECT_FALSE(backend_->lock().energised());
  EXPECT_EQ(backend_->pulses_performed(), 1u);
}

TEST_P(LockContract, ReleaseIsIdempotent) {
  ASSERT_TRUE(backend_->lock().release().ok());
  ASSERT_TRUE(backend_->lock().release().ok());
  EXPECT_FALSE(backend_->lock().energised());
}

TEST_P(LockContract, ADriverFailureIsReportedAndLeavesTheLockOff) {
  backend_->break_driver();
  Status status = backend_->lock().pulse(500ms);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, ErrorCode::kIo);
  backend_->let_pulse_end();
  EXPECT_FALSE(backend_->lock().energised());
}

INSTANTIATE_TEST_SUITE_P(EveryBackend, LockContract, ::testing::Values("sim", "linux"),
                         [](const auto& param_info) { return param_info.param; });

}  // namespace
}  // namespace reclothes::hal
