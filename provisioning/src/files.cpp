#include "reclothes/provisioning/files.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <vector>

namespace reclothes::provisioning {
namespace {

Error errno_error(const std::string& what, const std::filesystem::path& path, int err) {
  ErrorCode code = ErrorCode::kIo;
  std::string hint;
  if (err == ENOENT) {
    code = ErrorCode::kNotFound;
    hint = "; check the path (the directory must exist)";
  } else if (err == EACCES || err == EPERM || err == EROFS) {
    code = ErrorCode::kPermissionDenied;
    hint = "; run as the user that owns the PKI directory or fix its permissions";
  }
  return make_error(code, what + " " + path.string() + ": " + std::strerror(err) + hint);
}

// Closes a descriptor on scope exit unless released.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

Status write_all(int fd, std::string_view data, const std::filesystem::path& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error("writing", path, errno);
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return ok_status();
}

Status chown_to(int fd, const std::string& user, const std::filesystem::path& path) {
  if (::geteuid() != 0) return ok_status();
  std::array<char, 4096> buf{};
  passwd pw{};
  passwd* found = nullptr;
  const int rc = ::getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found);
  if (rc != 0 || found == nullptr) {
    return make_error(ErrorCode::kNotFound,
                      "cannot give " + path.string() + " to user \"" + user +
                          "\": no such user; create it or pick another owner");
  }
  if (::fchown(fd, found->pw_uid, found->pw_gid) != 0) {
    return errno_error("changing the owner of", path, errno);
  }
  return ok_status();
}

}  // namespace

Status write_file_atomic(const std::filesystem::path& path, std::string_view contents,
                         const WriteOptions& options) {
  if (path.empty() || path.filename().empty()) {
    return make_error(ErrorCode::kInvalidArgument, "cannot write a file without a name");
  }
  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : ".";
  std::string tmpl = (dir / ("." + path.filename().string() + ".tmp-XXXXXX")).string();
  std::vector<char> name(tmpl.begin(), tmpl.end());
  name.push_back('\0');
  // mkstemp creates the file with mode 0600, so a private key is never readable by others, not
  // even for a moment; the final mode is set before anything is written.
  Fd fd(::mkstemp(name.data()));
  if (fd.get() < 0) return errno_error("creating a temporary file for", path, errno);
  const std::filesystem::path tmp(name.data());
  auto fail = [&tmp](Error e) -> Status {
    ::unlink(tmp.c_str());
    return e;
  };
  if (::fchmod(fd.get(), options.mode) != 0) {
    return fail(errno_error("setting the mode of", path, errno));
  }
  if (options.owner) {
    Status owned = chown_to(fd.get(), *options.owner, path);
    if (!owned.ok()) return fail(std::move(owned).error());
  }
  Status written = write_all(fd.get(), contents, path);
  if (!written.ok()) return fail(std::move(written).error());
  if (::fsync(fd.get()) != 0) return fail(errno_error("flushing", path, errno));
  if (::close(fd.release()) != 0) return fail(errno_error("closing", path, errno));
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return fail(errno_error("renaming the new file over", path, errno));
  }
  // The rename itself is durable only once the directory is flushed.
  Fd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd.get() < 0 || ::fsync(dir_fd.get()) != 0) {
    return errno_error("flushing the directory of", path, errno);
  }
  return ok_status();
}

Result<std::string> read_file(const std::filesystem::path& path, std::size_t max_bytes) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return errno_error("reading", path, errno);
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) return errno_error("reading", path, errno);
  if (!S_ISREG(info.st_mode)) {
    return make_error(ErrorCode::kInvalidArgument,
                      "reading " + path.string() + ": not a regular file; check the path");
  }
  if (static_cast<std::size_t>(info.st_size) > max_bytes) {
    return make_error(ErrorCode::kResourceExhausted,
                      "reading " + path.string() + ": " + std::to_string(info.st_size) +
                          " bytes is more than the " + std::to_string(max_bytes) +
                          " expected; is this the right file?");
  }
  std::string out;
  std::array<char, 8192> buf{};
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error("reading", path, errno);
    }
    if (n == 0) break;
    out.append(buf.data(), static_cast<std::size_t>(n));
    if (out.size() > max_bytes) {
      return make_error(ErrorCode::kResourceExhausted,
                        "reading " + path.string() + ": larger than " + std::to_string(max_bytes) +
                            " bytes; is this the right file?");
    }
  }
  return out;
}

}  // namespace reclothes::provisioning
