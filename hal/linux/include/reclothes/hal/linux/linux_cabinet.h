// LinuxCabinet: the board backend for locks, door switches, tamper switch and status LEDs.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <vector>

#include "reclothes/common/clock.h"
#include "reclothes/common/result.h"
#include "reclothes/hal/cabinet.h"
#include "reclothes/hal/linux/gpio_port.h"
#include "reclothes/hal/linux/pin_map.h"

namespace reclothes::hal::linux_backend {

// How a lock waits out its pulse. Production passes nothing (std::this_thread::sleep_for); tests
// pass a function that records the duration and inspects the line mid-pulse instead of sleeping.
using Sleeper = std::function<void(std::chrono::milliseconds)>;

// Owns the requested lines and the devices over them; cabinet() lends them to the firmware.
//
// Lock pulses: pulse() drives the line active, sleeps for the pulse in the calling thread, and
// drives it inactive again, also on every error path (retrying the clear up to kClearAttempts
// times). pulse() therefore BLOCKS for the pulse length. A second pulse() on the same lock while
// one runs fails with kFailedPrecondition; release() may be called from another thread.
//
// Door events: poll_event() waits for edges with the kernel (event_wait/event_read), stamps them
// with the injected clock and reports only changes of state, so switch bounce that ends where it
// began is dropped. The kernel's v1 line-event interface has no debounce; the firmware's state
// machine tolerates a quick open/close pair.
//
// Threading: each device may be used by one thread; different devices from different threads.
class LinuxCabinet {
 public:
  static constexpr int kClearAttempts = 3;

  // Opens each chip once and requests, in this order: every lock line as an output driven
  // inactive (so the first thing the box does is make sure no solenoid is energised), every door
  // line as an input with both-edge events, the tamper line, the LED lines (off).
  // Fails with kInvalidArgument for a bad pin map (validate_pin_map), otherwise with the port's
  // Error prefixed by the device, for example "compartment[2] lock: gpiochip0 line 17: cannot
  // request as output: Device or resource busy". On failure every line requested so far is
  // released. `gpio` is used only during open(); `clock` must outlive the LinuxCabinet.
  static Result<std::unique_ptr<LinuxCabinet>> open(const PinMap& pins, GpioPort& gpio,
                                                    const Clock& clock, Sleeper sleep = {});

  ~LinuxCabinet();
  LinuxCabinet(const LinuxCabinet&) = delete;
  LinuxCabinet& operator=(const LinuxCabinet&) = delete;

  // Locks, doors, tamper and indicator (null without tamper / LED pins). Camera, environment and
  // fill sensors are not GPIO devices: camera comes from V4l2Camera, which the main opens on its
  // own and puts into the Cabinet (a box without a working camera still serves online opens);
  // environment and fill-level drivers do not exist yet, so those stay null.
  Cabinet cabinet();
  const PinMap& pins() const { return pins_; }

 private:
  LinuxCabinet() = default;

  PinMap pins_;
  std::vector<std::unique_ptr<GpioChip>> chips_;
  std::vector<std::unique_ptr<CompartmentLock>> locks_;
  std::vector<std::unique_ptr<DoorSensor>> doors_;
  std::unique_ptr<TamperSwitch> tamper_;
  std::unique_ptr<Indicator> indicator_;
};

}  // namespace reclothes::hal::linux_backend
