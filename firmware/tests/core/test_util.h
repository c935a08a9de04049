// Helpers shared by the firmware core tests: a temporary directory and small builders.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

namespace reclothes::firmware::testing {

// A fresh directory under $TMPDIR, removed with everything in it when the object goes away.
class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "reclothes-fw-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed";
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

}  // namespace reclothes::firmware::testing

#include <cstdint>
#include <vector>

#include "reclothes/common/token.h"

namespace reclothes::firmware::testing {

inline constexpr std::int64_t kTestNowS = 1'767'225'600;  // ManualClock's default start

inline TokenClaims claims_for(TokenAction action, std::vector<std::uint8_t> compartments,
                              std::uint64_t order_ref = 123456, std::string box_id = "box-0001",
                              std::int64_t not_before = kTestNowS - 60,
                              std::int64_t expires = kTestNowS + 900, std::uint8_t id_seed = 1) {
  TokenClaims c;
  for (std::size_t i = 0; i < c.token_id.size(); ++i) {
    c.token_id[i] = static_cast<std::uint8_t>(id_seed * 17 + i);
  }
  c.action = action;
  c.box_id = std::move(box_id);
  c.compartments = std::move(compartments);
  c.order_ref = order_ref;
  c.not_before = not_before;
  c.expires = expires;
  return c;
}

}  // namespace reclothes::firmware::testing
