// Helpers shared by the firmware core tests: a temporary directory and token claims.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "reclothes/common/token.h"
#include "reclothes/testsupport/temp_dir.h"

namespace reclothes::firmware::testing {

using testsupport::TempDir;

// A fresh directory for one test under $TMPDIR, removed with everything in it when it goes away.
inline TempDir temp_dir() { return TempDir::create_or_throw("reclothes-fw-test-"); }

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
