#include "reclothes/testsupport/temp_dir.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <system_error>

namespace reclothes::testsupport {

Result<TempDir> TempDir::create(std::string_view prefix) {
  if (prefix.find('/') != std::string_view::npos) {
    return make_error(ErrorCode::kInvalidArgument,
                      "temp dir prefix must not contain '/': " + std::string(prefix));
  }
  std::error_code ec;
  const auto base = std::filesystem::temp_directory_path(ec);
  if (ec) return make_error(ErrorCode::kIo, "no temp directory: " + ec.message());
  std::string pattern = (base / (std::string(prefix) + "XXXXXX")).string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    return make_error(ErrorCode::kIo, "mkdtemp " + pattern + ": " + std::strerror(errno));
  }
  return TempDir(std::filesystem::path(pattern));
}

TempDir TempDir::create_or_throw(std::string_view prefix) {
  auto dir = create(prefix);
  if (!dir.ok()) throw std::runtime_error(dir.error().to_string());
  return std::move(dir).value();
}

TempDir::TempDir(TempDir&& other) noexcept : path_(std::exchange(other.path_, {})) {}

TempDir& TempDir::operator=(TempDir&& other) noexcept {
  if (this != &other) {
    TempDir old(std::move(*this));
    path_ = std::exchange(other.path_, {});
  }
  return *this;
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace reclothes::testsupport
