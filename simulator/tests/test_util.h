// Helpers shared by the simulator's tests: a temporary directory, a signing key, a box
// configuration that trusts it, and tokens signed with it.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "reclothes/common/clock.h"
#include "reclothes/common/token.h"
#include "reclothes/firmware/config.h"
#include "reclothes/simulator/sim_box.h"
#include "reclothes/simulator/tokens.h"
#include "reclothes/testsupport/temp_dir.h"

namespace reclothes::simulator::testing {

using testsupport::TempDir;

// A fresh directory for one test under $TMPDIR, removed with everything in it when it goes away.
inline TempDir temp_dir() { return TempDir::create_or_throw("reclothes-sim-test-"); }

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

// A signing key (key id 1) for a test box's tokens; null (and the test failed) if none was made.
inline std::unique_ptr<TokenSigner> test_signer() {
  auto signer = TokenSigner::generate(1);
  EXPECT_TRUE(signer.ok()) << signer.error().to_string();
  return signer.ok() ? std::make_unique<TokenSigner>(std::move(signer).value()) : nullptr;
}

// A box that works offline (no sync), configured by box_config() to trust `signer`.
inline SimBoxOptions offline_box(const std::filesystem::path& dir, const std::string& box_id,
                                 const TokenSigner& signer) {
  SimBoxOptions o;
  o.config = box_config(dir, box_id, signer.public_pem().value());
  o.sync = false;
  return o;
}

// A courier's load token for `compartment` of box-0001, valid from a minute before `clock`'s time
// for ten minutes.
inline std::string courier_token(const TokenSigner& signer, const Clock& clock,
                                 std::uint8_t compartment) {
  MintRequest m;
  m.box_id = "box-0001";
  m.action = TokenAction::kCourierLoad;
  m.compartments = {compartment};
  m.not_before = clock.wall_seconds() - 60;
  m.expires = clock.wall_seconds() + 600;
  return mint_token(signer, m).value();
}

}  // namespace reclothes::simulator::testing
