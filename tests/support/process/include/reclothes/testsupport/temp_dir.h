// Temporary directories for tests: made fresh, removed with everything in them.
#pragma once

#include <filesystem>
#include <string_view>
#include <utility>

#include "reclothes/common/result.h"

namespace reclothes::testsupport {

// A fresh temporary directory (mode 0700, under $TMPDIR or /tmp), removed (recursively) by the
// destructor. A moved-from TempDir removes nothing.
class TempDir {
 public:
  // kInvalidArgument if prefix holds a '/', kIo (with the reason) if mkdtemp fails.
  static Result<TempDir> create(std::string_view prefix = "reclothes-test-");
  // For a test's body or fixture, where a directory that cannot be made ends the test: create(),
  // or a std::runtime_error with the reason. GoogleTest reports an exception from a test, its
  // fixture's constructor or SetUpTestSuite as that test's failure and quotes the message.
  static TempDir create_or_throw(std::string_view prefix = "reclothes-test-");

  TempDir(TempDir&&) noexcept;
  TempDir& operator=(TempDir&&) noexcept;
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir();

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::filesystem::path& name) const { return path_ / name; }

 private:
  explicit TempDir(std::filesystem::path p) : path_(std::move(p)) {}
  std::filesystem::path path_;
};

}  // namespace reclothes::testsupport
