#include "reclothes/hal/door.h"

#include <string>

namespace reclothes::hal {

std::string_view to_string(DoorEventKind kind) {
  switch (kind) {
    case DoorEventKind::kOpened:
      return "opened";
    case DoorEventKind::kClosed:
      return "closed";
  }
  return "unknown";
}

Result<bool> DoorSensor::is_open() { return do_is_open(); }

Result<std::optional<DoorEvent>> DoorSensor::poll_event(std::chrono::milliseconds timeout) {
  if (timeout < std::chrono::milliseconds::zero() || timeout > kMaxPollTimeout) {
    return make_error(ErrorCode::kInvalidArgument,
                      "door poll timeout of " + std::to_string(timeout.count()) +
                          " ms refused: it must be 0.." + std::to_string(kMaxPollTimeout.count()) +
                          " ms");
  }
  return do_poll_event(timeout);
}

}  // namespace reclothes::hal
