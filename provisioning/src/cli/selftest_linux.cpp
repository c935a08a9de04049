// The self-test's board backend: libgpiod for locks, doors, tamper and LEDs, V4L2 for the camera.
#include "reclothes/provisioning/cli/selftest_linux.h"

#include <thread>

#include "board_rig.h"
#include "reclothes/hal/linux/gpiod_port.h"
#include "reclothes/hal/linux/v4l2_camera.h"
#include "reclothes/hal/linux/v4l2_port.h"

namespace reclothes::provisioning::cli {
namespace {

namespace lb = hal::linux_backend;

class LinuxRig final : public SelfTestRig {
 public:
  LinuxRig(const Clock& clock, Sleeper wait) : clock_(clock), wait_(std::move(wait)) {}

  hal::Cabinet& cabinet() override { return cabinet_; }
  const Clock& clock() const override { return clock_; }
  const Sleeper& sleeper() const override { return wait_; }
  void on_door_opened(int number, const std::function<void(const std::string&)>& say) override {
    say("door " + std::to_string(number) + " is open: close it now");
  }
  std::string description() const override {
    std::string d = "linux (" + chip_ + ")";
    if (!camera_error_.empty()) d += "; camera: " + camera_error_;
    return d;
  }

  const Clock& clock_;
  Sleeper wait_;
  // Set only by make_board_rig: the real ports, kept with the rig for its lifetime.
  std::unique_ptr<lb::GpioPort> own_gpio_;
  std::unique_ptr<lb::VideoPort> own_video_;
  std::unique_ptr<lb::LinuxCabinet> board_;
  std::unique_ptr<lb::V4l2Camera> camera_;
  hal::Cabinet cabinet_;
  std::string chip_;
  std::string camera_error_;
};

Result<std::unique_ptr<LinuxRig>> open_rig(const BoxFile& config, lb::GpioPort& gpio,
                                           lb::VideoPort* video, const Clock& clock,
                                           lb::Sleeper pulse_sleep, Sleeper wait) {
  RC_ASSIGN_OR_RETURN(lb::PinMap map, pin_map_of(config));
  auto rig = std::make_unique<LinuxRig>(clock, std::move(wait));
  RC_ASSIGN_OR_RETURN(rig->board_,
                      lb::LinuxCabinet::open(map, gpio, clock, std::move(pulse_sleep)));
  rig->cabinet_ = rig->board_->cabinet();
  rig->chip_ = map.compartments.front().chip;
  if (config.camera && video != nullptr) {
    lb::CameraConfig camera;
    camera.device = config.camera->device;
    camera.width = config.camera->width;
    camera.height = config.camera->height;
    auto opened = lb::V4l2Camera::open(*video, camera);
    // A camera that does not open is the self-test's finding (configured but absent), not a
    // reason to stop before the locks are tested.
    if (opened.ok()) {
      rig->camera_ = std::move(opened).value();
      rig->cabinet_.camera = rig->camera_.get();
    } else {
      rig->camera_error_ = opened.error().to_string();
    }
  }
  return rig;
}

}  // namespace

Result<lb::PinMap> pin_map_of(const BoxFile& config) {
  if (!config.cabinet.has_pin_map()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "the linux backend needs a pin map: every compartment of the "
                      "configuration must have a \"pin\" (register with a --compartments JSON "
                      "file)");
  }
  lb::PinMap map;
  // The firmware's consumer name: `gpioinfo` shows who holds the lines, and the firmware must be
  // stopped first (its lines would be busy).
  map.consumer = "reclothes-box";
  for (const auto& c : config.cabinet.compartments) {
    lb::CompartmentPins pins;
    pins.chip = c.pins->chip;
    pins.lock_line = c.pins->lock_line;
    pins.lock_active_low = c.pins->lock_active_low;
    pins.door_line = c.pins->door_line;
    pins.door_active_low = c.pins->door_active_low;
    pins.door_bias = lb::LineBias::kPullUp;
    pins.pulse = c.pulse;
    map.compartments.push_back(pins);
  }
  if (const auto& t = config.cabinet.tamper) {
    map.tamper = lb::InputPin{t->chip, t->line, t->active_low, lb::LineBias::kPullUp};
  }
  if (const auto& g = config.cabinet.led_green) {
    map.led_green = lb::OutputPin{g->chip, g->line, g->active_low};
  }
  if (const auto& r = config.cabinet.led_red) {
    map.led_red = lb::OutputPin{r->chip, r->line, r->active_low};
  }
  RC_TRY(lb::validate_pin_map(map));
  return map;
}

Result<std::unique_ptr<SelfTestRig>> make_linux_self_test_rig(
    const BoxFile& config, lb::GpioPort& gpio, lb::VideoPort* video, const Clock& clock,
    lb::Sleeper pulse_sleep, Sleeper wait) {
  RC_ASSIGN_OR_RETURN(
      std::unique_ptr<LinuxRig> rig,
      open_rig(config, gpio, video, clock, std::move(pulse_sleep), std::move(wait)));
  return std::unique_ptr<SelfTestRig>(std::move(rig));
}

Result<std::unique_ptr<SelfTestRig>> make_board_rig(const BoxFile& config) {
  static const SystemClock kSystemClock;
  auto gpio = lb::make_gpiod_port();
  auto video = config.camera ? lb::make_v4l2_port() : nullptr;
  RC_ASSIGN_OR_RETURN(
      std::unique_ptr<LinuxRig> rig,
      open_rig(config, *gpio, video.get(), kSystemClock, {},
               [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); }));
  rig->own_gpio_ = std::move(gpio);
  rig->own_video_ = std::move(video);
  return std::unique_ptr<SelfTestRig>(std::move(rig));
}

}  // namespace reclothes::provisioning::cli
