// Turning an operating-system error number into an Error a person can act on.
#pragma once

#include <string>

#include "reclothes/common/result.h"

namespace reclothes::hal::linux_backend {

// "<what>: <strerror(err)>", with a code that says what the caller may do about it:
// ENOENT/ENODEV/ENXIO/EBUSY/EAGAIN -> kUnavailable (missing or held by another process),
// EACCES/EPERM -> kPermissionDenied, EINVAL/ERANGE/ENOTTY -> kInvalidArgument,
// ETIMEDOUT -> kDeadlineExceeded, ENOMEM -> kResourceExhausted, anything else -> kIo.
// Thread-safe (it does not use strerror()).
Error errno_error(int err, std::string what);

}  // namespace reclothes::hal::linux_backend
