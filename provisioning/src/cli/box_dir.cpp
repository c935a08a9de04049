// write_directory_atomic: a box directory appears complete or not at all.
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <vector>

#include "reclothes/provisioning/cli/commands.h"
#include "reclothes/provisioning/files.h"

namespace reclothes::provisioning::cli {
namespace {

Error errno_error(const std::string& what, const std::filesystem::path& path, int err) {
  ErrorCode code = ErrorCode::kIo;
  if (err == ENOENT) code = ErrorCode::kNotFound;
  if (err == EACCES || err == EPERM || err == EROFS) code = ErrorCode::kPermissionDenied;
  return make_error(code, what + " " + path.string() + ": " + std::strerror(err));
}

Status fsync_dir(const std::filesystem::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno_error("opening", dir, errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return errno_error("syncing", dir, err);
  return ok_status();
}

Status chown_dir(const std::filesystem::path& dir, const std::optional<std::string>& owner) {
  if (!owner || ::geteuid() != 0) return ok_status();
  std::array<char, 4096> buf{};
  passwd pw{};
  passwd* found = nullptr;
  if (::getpwnam_r(owner->c_str(), &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
    return make_error(ErrorCode::kNotFound, "--owner " + *owner + ": no such user");
  }
  if (::chown(dir.c_str(), found->pw_uid, found->pw_gid) != 0) {
    return errno_error("changing the owner of", dir, errno);
  }
  return ok_status();
}

// Removes the temporary directory unless disarmed.
class TempDirGuard {
 public:
  explicit TempDirGuard(std::filesystem::path p) : path_(std::move(p)) {}
  ~TempDirGuard() {
    if (!path_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(path_, ec);
    }
  }
  TempDirGuard(const TempDirGuard&) = delete;
  TempDirGuard& operator=(const TempDirGuard&) = delete;
  void disarm() { path_.clear(); }

 private:
  std::filesystem::path path_;
};

}  // namespace

Status write_directory_atomic(const std::filesystem::path& dir_in,
                              const std::vector<DirFile>& files, bool replace,
                              const std::optional<std::string>& owner) {
  const std::filesystem::path dir = std::filesystem::absolute(dir_in).lexically_normal();
  std::filesystem::path target = dir;
  if (!target.has_filename()) target = target.parent_path();  // "out/" -> "out"
  const std::filesystem::path parent = target.parent_path();
  std::error_code ec;
  if (!std::filesystem::is_directory(parent, ec)) {
    return make_error(ErrorCode::kNotFound, "cannot write " + target.string() + ": the directory " +
                                                parent.string() + " does not exist");
  }
  const bool exists = std::filesystem::exists(target, ec);
  if (exists && !std::filesystem::is_directory(target, ec)) {
    return make_error(ErrorCode::kAlreadyExists,
                      target.string() + " exists and is not a directory");
  }
  if (exists && !replace) {
    return make_error(ErrorCode::kAlreadyExists, target.string() + " already exists");
  }

  std::string templ = (parent / ("." + target.filename().string() + ".tmp-XXXXXX")).string();
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) {
    return errno_error("creating a temporary directory next to", target, errno);
  }
  const std::filesystem::path tmp(buf.data());
  TempDirGuard guard(tmp);
  if (::chmod(tmp.c_str(), 0755) != 0) return errno_error("changing the mode of", tmp, errno);
  RC_TRY(chown_dir(tmp, owner));
  for (const DirFile& f : files) {
    RC_TRY(write_file_atomic(tmp / f.name, f.contents,
                             f.private_key ? private_file(owner) : public_file(owner)));
  }
  RC_TRY(fsync_dir(tmp));

  if (exists) {
    // Swap the complete new directory with the old one in one step, then delete the old one.
    if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, target.c_str(), RENAME_EXCHANGE) != 0) {
      return errno_error("replacing", target, errno);
    }
  } else if (::rename(tmp.c_str(), target.c_str()) != 0) {
    return errno_error("creating", target, errno);
  }
  if (!exists) guard.disarm();  // else the guard now removes the old directory
  return fsync_dir(parent);
}

}  // namespace reclothes::provisioning::cli
