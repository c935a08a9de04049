// Camera: grabs grayscale frames for the firmware's QR decode (decoding is not the HAL's job).
#pragma once

#include "reclothes/common/result.h"
#include "reclothes/hal/frame.h"

namespace reclothes::hal {

// Threading: one thread captures. A capture may block for up to a frame interval (the linux
// backend waits for the driver, bounded by its configured timeout).
class Camera {
 public:
  virtual ~Camera() = default;
  Camera(const Camera&) = delete;
  Camera& operator=(const Camera&) = delete;

  // The next frame, written into `frame`, whose pixel buffer is reused when it is large enough:
  // a box captures several 300 KB frames a second for as long as it runs, and a buffer allocated
  // per frame costs more CPU (fresh pages zeroed by the kernel) than the idle box may spend
  // (docs/performance.md, B8). A backend may also replace the buffer (the sim hands over a
  // presented frame without copying it). Fails with kDeadlineExceeded if the device produced
  // none in time, kIo / kUnavailable if the device failed, and kInternal if a backend produced
  // an inconsistent frame (checked here, so the decoder never reads past a buffer). After a
  // failure `frame` holds no valid image and must not be decoded.
  Status capture_into(Frame& frame);

  // The same into a new Frame: for callers that capture once (a self-test, a tool).
  Result<Frame> capture();

 protected:
  Camera() = default;

 private:
  // Fills `frame` (size, stride and pixels), reusing its buffer where it can.
  virtual Status do_capture(Frame& frame) = 0;
};

}  // namespace reclothes::hal
