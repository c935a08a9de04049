#include "reclothes/hal/linux/errno_error.h"

#include <cerrno>
#include <system_error>

namespace reclothes::hal::linux_backend {

Error errno_error(int err, std::string what) {
  ErrorCode code = ErrorCode::kIo;
  switch (err) {
    case ENOENT:
    case ENODEV:
    case ENXIO:
    case EBUSY:
    case EAGAIN:
      code = ErrorCode::kUnavailable;
      break;
    case EACCES:
    case EPERM:
      code = ErrorCode::kPermissionDenied;
      break;
    case EINVAL:
    case ERANGE:
    case ENOTTY:
      code = ErrorCode::kInvalidArgument;
      break;
    case ETIMEDOUT:
      code = ErrorCode::kDeadlineExceeded;
      break;
    case ENOMEM:
      code = ErrorCode::kResourceExhausted;
      break;
    default:
      break;
  }
  // std::generic_category().message() is strerror's text without strerror's shared buffer.
  what += ": ";
  what += std::generic_category().message(err);
  return make_error(code, std::move(what));
}

}  // namespace reclothes::hal::linux_backend
