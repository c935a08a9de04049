// Helpers shared by the simulator's tests: a temporary directory, a signing key and a box
// configuration that trusts it.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "reclothes/common/token.h"
#include "reclothes/firmware/config.h"

namespace reclothes::simulator::testing {

class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "reclothes-sim-test-XXXXXX").string();
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

inline void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  ASSERT_TRUE(out.good()) << path;
}

// A box configuration (JSON) with `compartments` compartments, a camera, the given broker and a
// trusted key; the journal in `dir`.
inline nlohmann::json box_config_json(const std::filesystem::path& dir, const std::string& box_id,
                                      const std::string& public_pem, int compartments = 4,
                                      const std::string& broker = "tcp://127.0.0.1:1") {
  nlohmann::json c = {{"box_id", box_id},
                      {"journal_path", (dir / (box_id + ".journal.db")).string()},
                      {"broker", {{"uri", broker}}},
                      {"trusted_keys", {{{"key_id", 1}, {"public_key_pem", public_pem}}}},
                      {"hal", {{"backend", "sim"}}},
                      {"camera", {{"width", 640}, {"height", 480}, {"fps", 10}}}};
  const char* sizes[] = {"S", "M", "L", "XL"};
  for (int id = 1; id <= compartments; ++id) {
    c["compartments"].push_back({{"id", id}, {"size", sizes[(id - 1) % 4]}, {"fill_sensor", true}});
  }
  return c;
}

inline firmware::BoxConfig box_config(const std::filesystem::path& dir, const std::string& box_id,
                                      const std::string& public_pem, int compartments = 4,
                                      const std::string& broker = "tcp://127.0.0.1:1") {
  auto parsed = firmware::parse_config(
      box_config_json(dir, box_id, public_pem, compartments, broker).dump(), dir);
  EXPECT_TRUE(parsed.ok()) << parsed.error().to_string();
  return parsed.ok() ? *parsed : firmware::BoxConfig{};
}

}  // namespace reclothes::simulator::testing
