// FakeVideoPort: an in-memory VideoPort for testing the camera backend without a camera.
//
// A fake device behaves like a simple V4L2 driver: it supports a list of pixel formats (a request
// for another gets its first), forces its one frame size, pads each line by `padding` bytes, and
// hands out the raw frames a test pushed. A path that was not added fails to open with ENOENT.
// Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "reclothes/hal/frame.h"
#include "reclothes/hal/linux/video_port.h"

namespace reclothes::hal::linux_backend::testing {

struct FakeCameraSpec {
  std::vector<std::uint32_t> formats{kFourccYuyv};
  std::uint32_t width = 640;
  std::uint32_t height = 480;
  std::uint32_t padding = 0;  // extra bytes after each line's pixels
};

class FakeVideoPort final : public VideoPort {
 public:
  FakeVideoPort();
  ~FakeVideoPort() override;
  FakeVideoPort(const FakeVideoPort&) = delete;
  FakeVideoPort& operator=(const FakeVideoPort&) = delete;

  void add_device(const std::string& path, FakeCameraSpec spec);
  // open() of the path fails with `err` (0 clears), for example EACCES.
  void fail_open(const std::string& path, int err);
  // start_streaming() fails with `err` (0 clears), for example EBUSY.
  void fail_streaming(const std::string& path, int err);
  // Queues raw driver bytes for read_frame(). With none queued, read_frame() reports a timeout.
  void push_frame(const std::string& path, std::vector<std::uint8_t> raw);

  bool streaming(const std::string& path) const;
  std::uint32_t buffers(const std::string& path) const;

  // Packs a grey frame as YUYV with the given line length (>= 2 * width) and constant chroma,
  // the way a camera would deliver it.
  static std::vector<std::uint8_t> yuyv_from_luma(const Frame& luma, std::uint32_t bytes_per_line,
                                                  std::uint8_t u, std::uint8_t v);

  Result<std::unique_ptr<VideoDevice>> open(const std::string& path) override;

  struct State;  // shared with the fake devices; defined in fake_video.cpp

 private:
  std::shared_ptr<State> state_;
};

}  // namespace reclothes::hal::linux_backend::testing
