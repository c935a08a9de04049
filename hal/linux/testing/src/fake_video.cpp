#include "reclothes/hal/linux/testing/fake_video.h"

#include <algorithm>
#include <cerrno>
#include <deque>
#include <map>
#include <mutex>
#include <utility>

#include "reclothes/hal/linux/errno_error.h"

namespace reclothes::hal::linux_backend::testing {

struct FakeVideoPort::State {
  struct Device {
    FakeCameraSpec spec;
    int open_err = 0;
    int streaming_err = 0;
    std::uint32_t fourcc = 0;
    bool streaming = false;
    std::uint32_t buffers = 0;
    std::deque<std::vector<std::uint8_t>> frames;
  };
  mutable std::mutex mu;
  std::map<std::string, Device> devices;
};

namespace {

using State = FakeVideoPort::State;

class FakeVideoDevice final : public VideoDevice {
 public:
  FakeVideoDevice(std::shared_ptr<State> state, std::string path)
      : state_(std::move(state)), path_(std::move(path)) {}

  ~FakeVideoDevice() override {
    std::lock_guard lock(state_->mu);
    state_->devices[path_].streaming = false;
  }

  const std::string& path() const override { return path_; }

  Result<VideoFormat> set_format(std::uint32_t /*width*/, std::uint32_t /*height*/,
                                 std::uint32_t fourcc) override {
    std::lock_guard lock(state_->mu);
    State::Device& device = state_->devices[path_];
    const FakeCameraSpec& spec = device.spec;
    if (spec.formats.empty()) return errno_error(EINVAL, path_ + ": cannot set format");
    bool supported =
        std::find(spec.formats.begin(), spec.formats.end(), fourcc) != spec.formats.end();
    // Like a V4L2 driver: an unsupported request is adjusted, not refused.
    device.fourcc = supported ? fourcc : spec.formats.front();
    std::uint32_t bpp = device.fourcc == kFourccYuyv ? 2 : 1;
    std::uint32_t line = spec.width * bpp + spec.padding;
    return VideoFormat{spec.width, spec.height, device.fourcc, line, line * spec.height};
  }

  Status start_streaming(std::uint32_t buffer_count) override {
    std::lock_guard lock(state_->mu);
    State::Device& device = state_->devices[path_];
    if (device.streaming_err != 0) {
      return errno_error(device.streaming_err, path_ + ": cannot start streaming");
    }
    device.streaming = true;
    device.buffers = buffer_count;
    return ok_status();
  }

  Status read_frame(std::chrono::milliseconds timeout, std::vector<std::uint8_t>& out) override {
    std::lock_guard lock(state_->mu);
    State::Device& device = state_->devices[path_];
    if (!device.streaming) {
      return make_error(ErrorCode::kFailedPrecondition, path_ + ": not streaming");
    }
    if (device.frames.empty()) {
      return make_error(ErrorCode::kDeadlineExceeded,
                        path_ + ": no frame within " + std::to_string(timeout.count()) + " ms");
    }
    out = std::move(device.frames.front());
    device.frames.pop_front();
    return ok_status();
  }

 private:
  std::shared_ptr<State> state_;
  std::string path_;
};

}  // namespace

FakeVideoPort::FakeVideoPort() : state_(std::make_shared<State>()) {}
FakeVideoPort::~FakeVideoPort() = default;

void FakeVideoPort::add_device(const std::string& path, FakeCameraSpec spec) {
  std::lock_guard lock(state_->mu);
  state_->devices[path].spec = std::move(spec);
}

void FakeVideoPort::fail_open(const std::string& path, int err) {
  std::lock_guard lock(state_->mu);
  state_->devices[path].open_err = err;
}

void FakeVideoPort::fail_streaming(const std::string& path, int err) {
  std::lock_guard lock(state_->mu);
  state_->devices[path].streaming_err = err;
}

void FakeVideoPort::push_frame(const std::string& path, std::vector<std::uint8_t> raw) {
  std::lock_guard lock(state_->mu);
  state_->devices[path].frames.push_back(std::move(raw));
}

bool FakeVideoPort::streaming(const std::string& path) const {
  std::lock_guard lock(state_->mu);
  auto it = state_->devices.find(path);
  return it != state_->devices.end() && it->second.streaming;
}

std::uint32_t FakeVideoPort::buffers(const std::string& path) const {
  std::lock_guard lock(state_->mu);
  auto it = state_->devices.find(path);
  return it == state_->devices.end() ? 0 : it->second.buffers;
}

std::vector<std::uint8_t> FakeVideoPort::yuyv_from_luma(const Frame& luma,
                                                        std::uint32_t bytes_per_line,
                                                        std::uint8_t u, std::uint8_t v) {
  std::vector<std::uint8_t> raw(static_cast<std::size_t>(bytes_per_line) * luma.height, 0xEE);
  for (std::uint32_t y = 0; y < luma.height; ++y) {
    std::uint8_t* row = raw.data() + static_cast<std::size_t>(y) * bytes_per_line;
    for (std::uint32_t x = 0; x < luma.width; ++x) {
      row[2 * x] = luma.at(x, y);
      row[2 * x + 1] = x % 2 == 0 ? u : v;
    }
  }
  return raw;
}

Result<std::unique_ptr<VideoDevice>> FakeVideoPort::open(const std::string& path) {
  std::lock_guard lock(state_->mu);
  std::string what = path + ": cannot open video device";
  auto it = state_->devices.find(path);
  if (it == state_->devices.end()) return errno_error(ENOENT, what);
  if (it->second.open_err != 0) return errno_error(it->second.open_err, what);
  return std::unique_ptr<VideoDevice>(std::make_unique<FakeVideoDevice>(state_, path));
}

}  // namespace reclothes::hal::linux_backend::testing
