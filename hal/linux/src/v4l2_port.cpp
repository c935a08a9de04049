// The only file that makes V4L2 calls: open(2), the capture ioctls, mmap streaming, poll(2).
// Every system call's failure becomes an Error naming the device.
#include "reclothes/hal/linux/v4l2_port.h"

#include <fcntl.h>
#include <linux/videodev2.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "reclothes/hal/linux/errno_error.h"

namespace reclothes::hal::linux_backend {
namespace {

static_assert(kFourccGrey == V4L2_PIX_FMT_GREY);
static_assert(kFourccYuyv == V4L2_PIX_FMT_YUYV);

// ioctl() that retries when a signal interrupts it.
int xioctl(int fd, unsigned long request, void* arg) {
  int rc = 0;
  do {
    rc = ::ioctl(fd, request, arg);
  } while (rc == -1 && errno == EINTR);
  return rc;
}

struct MappedBuffer {
  void* start = nullptr;
  std::size_t length = 0;
};

class V4l2Device final : public VideoDevice {
 public:
  V4l2Device(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}

  ~V4l2Device() override {
    if (streaming_) {
      int type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
      xioctl(fd_, VIDIOC_STREAMOFF, &type);
    }
    for (const MappedBuffer& buffer : buffers_) ::munmap(buffer.start, buffer.length);
    ::close(fd_);
  }

  V4l2Device(const V4l2Device&) = delete;
  V4l2Device& operator=(const V4l2Device&) = delete;

  const std::string& path() const override { return path_; }

  Result<VideoFormat> set_format(std::uint32_t width, std::uint32_t height,
                                 std::uint32_t fourcc) override {
    v4l2_format fmt{};
    fmt.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    fmt.fmt.pix.width = width;
    fmt.fmt.pix.height = height;
    fmt.fmt.pix.pixelformat = fourcc;
    fmt.fmt.pix.field = V4L2_FIELD_NONE;
    if (xioctl(fd_, VIDIOC_S_FMT, &fmt) == -1) {
      return errno_error(errno, path_ + ": cannot set format " + fourcc_to_string(fourcc) + " " +
                                    std::to_string(width) + "x" + std::to_string(height));
    }
    return VideoFormat{fmt.fmt.pix.width, fmt.fmt.pix.height, fmt.fmt.pix.pixelformat,
                       fmt.fmt.pix.bytesperline, fmt.fmt.pix.sizeimage};
  }

  Status start_streaming(std::uint32_t buffer_count) override {
    v4l2_requestbuffers request{};
    request.count = buffer_count;
    request.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    request.memory = V4L2_MEMORY_MMAP;
    if (xioctl(fd_, VIDIOC_REQBUFS, &request) == -1) {
      return errno_error(errno, path_ + ": cannot allocate capture buffers");
    }
    if (request.count < 2) {
      return make_error(ErrorCode::kResourceExhausted, path_ + ": the driver granted only " +
                                                           std::to_string(request.count) +
                                                           " capture buffer(s), need at least 2");
    }
    for (std::uint32_t i = 0; i < request.count; ++i) {
      v4l2_buffer buffer{};
      buffer.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
      buffer.memory = V4L2_MEMORY_MMAP;
      buffer.index = i;
      if (xioctl(fd_, VIDIOC_QUERYBUF, &buffer) == -1) {
        return errno_error(errno, path_ + ": cannot query capture buffer " + std::to_string(i));
      }
      void* start = ::mmap(nullptr, buffer.length, PROT_READ | PROT_WRITE, MAP_SHARED, fd_,
                           static_cast<off_t>(buffer.m.offset));
      if (start == MAP_FAILED) {
        return errno_error(errno, path_ + ": cannot map capture buffer " + std::to_string(i));
      }
      buffers_.push_back({start, buffer.length});
      if (xioctl(fd_, VIDIOC_QBUF, &buffer) == -1) {
        return errno_error(errno, path_ + ": cannot queue capture buffer " + std::to_string(i));
      }
    }
    int type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    if (xioctl(fd_, VIDIOC_STREAMON, &type) == -1) {
      return errno_error(errno, path_ + ": cannot start streaming");
    }
    streaming_ = true;
    return ok_status();
  }

  Status read_frame(std::chrono::milliseconds timeout, std::vector<std::uint8_t>& out) override {
    if (!streaming_) {
      return make_error(ErrorCode::kFailedPrecondition, path_ + ": not streaming");
    }
    // The fd is non-blocking; poll() bounds the wait, and a DQBUF that still finds nothing
    // (EAGAIN) polls again.
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left < std::chrono::milliseconds::zero()) left = std::chrono::milliseconds::zero();
      pollfd pfd{fd_, POLLIN, 0};
      int ready = ::poll(&pfd, 1, static_cast<int>(std::min<std::int64_t>(left.count(), 60'000)));
      if (ready == -1) {
        if (errno == EINTR) continue;
        return errno_error(errno, path_ + ": cannot wait for a frame");
      }
      if (ready == 0) {
        return make_error(ErrorCode::kDeadlineExceeded,
                          path_ + ": no frame within " + std::to_string(timeout.count()) + " ms");
      }
      v4l2_buffer buffer{};
      buffer.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
      buffer.memory = V4L2_MEMORY_MMAP;
      if (xioctl(fd_, VIDIOC_DQBUF, &buffer) == -1) {
        if (errno == EAGAIN) continue;
        return errno_error(errno, path_ + ": cannot take a frame from the driver");
      }
      if (buffer.index >= buffers_.size()) {
        return make_error(ErrorCode::kIo, path_ + ": the driver returned unknown buffer " +
                                              std::to_string(buffer.index));
      }
      const MappedBuffer& mapped = buffers_[buffer.index];
      std::size_t used = std::min<std::size_t>(buffer.bytesused, mapped.length);
      const auto* bytes = static_cast<const std::uint8_t*>(mapped.start);
      out.assign(bytes, bytes + used);
      if (xioctl(fd_, VIDIOC_QBUF, &buffer) == -1) {
        return errno_error(errno, path_ + ": cannot give a buffer back to the driver");
      }
      return ok_status();
    }
  }

 private:
  const int fd_;
  const std::string path_;
  std::vector<MappedBuffer> buffers_;
  bool streaming_ = false;
};

class V4l2Port final : public VideoPort {
 public:
  Result<std::unique_ptr<VideoDevice>> open(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd == -1) return errno_error(errno, path + ": cannot open video device");
    // Owned from here on, so every early return closes it.
    auto device = std::make_unique<V4l2Device>(fd, path);

    v4l2_capability caps{};
    if (xioctl(fd, VIDIOC_QUERYCAP, &caps) == -1) {
      // ENOTTY is what a kernel says for a file that is not a video device; qemu-user, which runs
      // the arm64 tests, says ENOSYS for an ioctl it does not translate.
      if (errno == ENOTTY || errno == EINVAL || errno == ENOSYS) {
        return make_error(ErrorCode::kUnavailable, path + ": not a V4L2 capture device");
      }
      return errno_error(errno, path + ": cannot query the device's capabilities");
    }
    std::uint32_t flags =
        (caps.capabilities & V4L2_CAP_DEVICE_CAPS) != 0 ? caps.device_caps : caps.capabilities;
    if ((flags & V4L2_CAP_VIDEO_CAPTURE) == 0) {
      return make_error(ErrorCode::kUnavailable, path + ": not a V4L2 capture device");
    }
    if ((flags & V4L2_CAP_STREAMING) == 0) {
      return make_error(ErrorCode::kUnavailable,
                        path + ": the device cannot stream (no mmap capture support)");
    }
    return std::unique_ptr<VideoDevice>(std::move(device));
  }
};

}  // namespace

std::unique_ptr<VideoPort> make_v4l2_port() { return std::make_unique<V4l2Port>(); }

}  // namespace reclothes::hal::linux_backend
