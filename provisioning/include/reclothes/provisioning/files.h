// File helpers for the PKI and broker files: whole-file reads and crash-safe writes.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "reclothes/common/result.h"

namespace reclothes::provisioning {

inline constexpr mode_t kPrivateFileMode = 0600;  // private keys
inline constexpr mode_t kPublicFileMode = 0644;   // certificates, CRLs, configuration

struct WriteOptions {
  mode_t mode = kPublicFileMode;
  // When set and running as root: the file is given to this user and its primary group before it
  // is renamed into place (mosquitto runs as `mosquitto` and must read its own key). kNotFound for
  // an unknown user. Ignored when not root (the file then belongs to the caller anyway).
  std::optional<std::string> owner;
};

inline WriteOptions private_file(std::optional<std::string> owner = std::nullopt) {
  return WriteOptions{kPrivateFileMode, std::move(owner)};
}
inline WriteOptions public_file(std::optional<std::string> owner = std::nullopt) {
  return WriteOptions{kPublicFileMode, std::move(owner)};
}

// Replaces `path` atomically: writes a temporary file in the same directory with the final mode
// (and owner), fsyncs it, renames it over `path` and fsyncs the directory. A crash leaves either
// the old or the new contents, never a torn file; a failure removes the temporary file. The
// directory must exist. Errors (kNotFound, kPermissionDenied, kIo) name the file.
Status write_file_atomic(const std::filesystem::path& path, std::string_view contents,
                         const WriteOptions& options = {});

// Reads a whole file. kNotFound / kPermissionDenied / kIo name the file; a file over max_bytes is
// kResourceExhausted (PEM files and ACLs are small, so a huge one is a wrong path).
Result<std::string> read_file(const std::filesystem::path& path,
                              std::size_t max_bytes = 4 * 1024 * 1024);

}  // namespace reclothes::provisioning
