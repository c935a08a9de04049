// GpioPort: the thin seam between the linux backend and libgpiod.
//
// These machines have no GPIO chip (and no gpio-sim), so the backend's logic is tested against
// FakeGpio (reclothes/hal/linux/testing/fake_gpio.h), and the only code that touches libgpiod is
// the real port behind make_gpiod_port() (gpiod_port.h). The port is deliberately dumb: it mirrors
// the handful of libgpiod calls we use, turns their exceptions into Errors naming chip and line,
// and leaves every decision (polarity, safety, debouncing) to the backend above it.
//
// Levels are physical: true = the wire is high. Active-low is applied by the backend, not by the
// kernel, so a fake sees what the wire sees and tests can check polarity for real.
//
// Threading: a port, a chip and a line may each be used by one thread at a time.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "reclothes/common/result.h"

namespace reclothes::hal::linux_backend {

enum class LineBias { kAsIs, kDisabled, kPullUp, kPullDown };

struct EdgeEvent {
  bool rising = false;                   // the wire went high
  std::chrono::nanoseconds timestamp{};  // the kernel's stamp; informational only
};

// A requested line. Destroying it releases the line.
class GpioLine {
 public:
  virtual ~GpioLine() = default;

  // Drives an output line. Fails with kIo etc.: "gpiochip0 line 17: cannot set value: <why>".
  virtual Status set_value(bool high) = 0;
  // Reads any requested line.
  virtual Result<bool> get_value() = 0;
  // For lines requested with events: true if an edge is waiting, false after `timeout`.
  virtual Result<bool> event_wait(std::chrono::nanoseconds timeout) = 0;
  // For lines requested with events: the oldest waiting edge (blocks if none: wait first).
  virtual Result<EdgeEvent> event_read() = 0;
};

class GpioChip {
 public:
  virtual ~GpioChip() = default;

  virtual const std::string& name() const = 0;
  // Each fails with an Error "<chip> line <n>: cannot request as <kind>: <why>", for example
  // kUnavailable for EBUSY (another process holds the line) or kPermissionDenied for EPERM.
  virtual Result<std::unique_ptr<GpioLine>> request_output(unsigned int line,
                                                           const std::string& consumer,
                                                           bool initial_high) = 0;
  virtual Result<std::unique_ptr<GpioLine>> request_input(unsigned int line,
                                                          const std::string& consumer,
                                                          LineBias bias) = 0;
  // An input that also reports both edges.
  virtual Result<std::unique_ptr<GpioLine>> request_input_events(unsigned int line,
                                                                 const std::string& consumer,
                                                                 LineBias bias) = 0;
};

class GpioPort {
 public:
  virtual ~GpioPort() = default;

  // `name` as libgpiod looks it up: "gpiochip0", "/dev/gpiochip0", a label or a number. Fails with
  // "<name>: cannot open GPIO chip: <why>" (kUnavailable when the chip does not exist).
  virtual Result<std::unique_ptr<GpioChip>> open_chip(const std::string& name) = 0;
};

}  // namespace reclothes::hal::linux_backend
