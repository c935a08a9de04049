// Camera: grabs grayscale frames for the firmware's QR decode (decoding is not the HAL's job).
#pragma once

#include "reclothes/common/result.h"
#include "reclothes/hal/frame.h"

namespace reclothes::hal {

// Threading: one thread captures. capture() may block for up to a frame interval (the linux
// backend waits for the driver, bounded by its configured timeout).
class Camera {
 public:
  virtual ~Camera() = default;
  Camera(const Camera&) = delete;
  Camera& operator=(const Camera&) = delete;

  // The next frame. Fails with kDeadlineExceeded if the device produced none in time, kIo /
  // kUnavailable if the device failed, and kInternal if a backend produced an inconsistent frame
  // (checked here, so the decoder never reads past a buffer).
  Result<Frame> capture();

 protected:
  Camera() = default;

 private:
  virtual Result<Frame> do_capture() = 0;
};

}  // namespace reclothes::hal
