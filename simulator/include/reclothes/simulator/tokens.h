// Tokens for testers: a simulator without a controller still needs valid codes, so it can hold a
// signing key of its own (the box configuration must trust its public key) and mint tokens with
// the same TokenSigner the controller uses. Also a readable summary of any token (unverified), for
// the box page's list of pending tokens.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "reclothes/common/result.h"
#include "reclothes/common/token.h"

namespace reclothes::simulator {

// Reads a P-256 private key PEM (TokenSigner::from_private_pem). kNotFound / kIo if the file
// cannot be read, kInvalidArgument if it is not such a key; the message names the file.
Result<TokenSigner> load_signer(const std::filesystem::path& private_pem, std::uint16_t key_id);

// A new key pair written as two PEM files (the private one with mode 0600). kIo naming the file.
Status write_key_pair(std::uint16_t key_id, const std::filesystem::path& private_pem,
                      const std::filesystem::path& public_pem);

struct MintRequest {
  std::string box_id;
  TokenAction action = TokenAction::kCourierLoad;
  std::vector<std::uint8_t> compartments;  // 1-based; sorted and de-duplicated before signing
  std::uint64_t order_ref = 1;
  std::int64_t not_before = 0;  // Unix seconds
  std::int64_t expires = 0;     // Unix seconds
  // A fixed token id (tests); otherwise 8 random bytes.
  std::optional<std::array<std::uint8_t, kTokenIdBytes>> token_id;
};

// Signs a token ("RC1:..."). validate_claims' errors name the bad field.
Result<std::string> mint_token(const TokenSigner& signer, MintRequest request);

// What a token says, without checking its signature (a forged token reads fine here: the box is
// what refuses it). kInvalidArgument "not a token: <detail>" for text that does not parse.
struct TokenSummary {
  std::uint16_t key_id = 0;
  TokenClaims claims;
};
Result<TokenSummary> describe_token(std::string_view text);
nlohmann::json to_json(const TokenSummary& summary);

// "3" or "1,2,5" -> {1, 2, 5}; kInvalidArgument for anything outside 1..255.
Result<std::vector<std::uint8_t>> parse_compartment_list(std::string_view text);

}  // namespace reclothes::simulator
