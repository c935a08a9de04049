// Indicator: tells the person in front of the box what happened (LED, buzzer, short message).
#pragma once

#include <cstddef>
#include <string_view>

#include "reclothes/common/result.h"

namespace reclothes::hal {

// What the person should understand. A backend maps each to its hardware; the intended meaning:
enum class IndicatorPattern {
  kIdle,         // green steady, silent: "scan your code"
  kWorking,      // amber blinking, silent: checking a code, waiting for the lock
  kAccepted,     // green, one short beep: the door is unlocked
  kRejected,     // red, two beeps: the code was refused (message says why)
  kFault,        // red blinking, long beep: this box or compartment needs a technician
  kMaintenance,  // amber steady, silent: out of service on purpose
};
std::string_view to_string(IndicatorPattern pattern);

// Threading: one thread drives the indicator.
class Indicator {
 public:
  // The small display shows one line of this many characters (UTF-8 code points).
  static constexpr std::size_t kMaxMessageLength = 32;

  virtual ~Indicator() = default;
  Indicator(const Indicator&) = delete;
  Indicator& operator=(const Indicator&) = delete;

  // Shows `pattern` and `message` until the next call. Fails with kInvalidArgument if the pattern
  // is not one of the enumerators or the message is not valid UTF-8, longer than
  // kMaxMessageLength characters, or holds control characters (the display has one line); with
  // kIo if the hardware failed. A backend without a display drops the message.
  Status show(IndicatorPattern pattern, std::string_view message);

 protected:
  Indicator() = default;

 private:
  virtual Status do_show(IndicatorPattern pattern, std::string_view message) = 0;
};

}  // namespace reclothes::hal
