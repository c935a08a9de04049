// CompartmentLock: the solenoid that unlatches one compartment's door.
#pragma once

#include <chrono>

#include "reclothes/common/result.h"

namespace reclothes::hal {

// A lock is driven by a bounded pulse, never held: a solenoid held energised overheats within
// seconds, and a lock left open is the worst failure this product can have. So the backend itself
// ends every pulse; no caller can forget to.
//
// Public methods are non-virtual: they check arguments and then call the private do_* methods, so
// every backend gets the same checks (the Pigweed facade pattern).
//
// Threading: one thread (the firmware's main loop) drives a lock. energised() may be read from
// any thread. A backend may block in pulse(): the linux backend sleeps for the pulse in the
// calling thread; the sim backend returns at once and ends the pulse on its injected clock.
// Firmware must therefore not assume either; it measures "door did not open" from its own clock.
class CompartmentLock {
 public:
  // The longest pulse any backend accepts. Real solenoids need a few hundred milliseconds.
  static constexpr std::chrono::milliseconds kMaxPulse{2000};

  virtual ~CompartmentLock() = default;
  CompartmentLock(const CompartmentLock&) = delete;
  CompartmentLock& operator=(const CompartmentLock&) = delete;

  // Energises the solenoid for `duration`, then de-energises it.
  // Fails with:
  //  - kInvalidArgument if duration <= 0 or > kMaxPulse (the backend is not called);
  //  - kFailedPrecondition if a pulse is already running on this lock;
  //  - kIo / kUnavailable / kPermissionDenied if the driver failed. The backend has then already
  //    tried to de-energise; the message says so if even that failed.
  // A failed pulse may or may not have moved the latch: the firmware lets the door sensor decide.
  Status pulse(std::chrono::milliseconds duration);

  // De-energises the solenoid now. Idempotent: the firmware calls it for every lock at start-up,
  // before it trusts anything else. Fails only if the driver failed (kIo etc.).
  Status release();

  // True while the solenoid is (or may be) energised. A backend that failed to de-energise
  // reports true, because "maybe" must be treated as "yes".
  bool energised() const;

 protected:
  CompartmentLock() = default;

 private:
  virtual Status do_pulse(std::chrono::milliseconds duration) = 0;
  virtual Status do_release() = 0;
  virtual bool do_energised() const = 0;
};

}  // namespace reclothes::hal
