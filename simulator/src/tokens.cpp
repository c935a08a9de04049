#include "reclothes/simulator/tokens.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

namespace reclothes::simulator {

namespace {

Result<std::string> read_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return make_error(ErrorCode::kNotFound, path.string() + ": no such file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return make_error(ErrorCode::kIo, path.string() + ": cannot open: " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

Status write_file(const std::filesystem::path& path, const std::string& text, mode_t mode) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out)
    return make_error(ErrorCode::kIo, path.string() + ": cannot write: " + std::strerror(errno));
  out << text;
  out.close();
  if (!out) return make_error(ErrorCode::kIo, path.string() + ": write failed");
  if (::chmod(path.c_str(), mode) != 0) {
    return make_error(ErrorCode::kIo, path.string() + ": chmod failed: " + std::strerror(errno));
  }
  return ok_status();
}

}  // namespace

Result<TokenSigner> load_signer(const std::filesystem::path& private_pem, std::uint16_t key_id) {
  RC_ASSIGN_OR_RETURN(std::string pem, read_file(private_pem));
  auto signer = TokenSigner::from_private_pem(key_id, pem);
  if (!signer.ok()) return std::move(signer).error().with_context(private_pem.string());
  return signer;
}

Status write_key_pair(std::uint16_t key_id, const std::filesystem::path& private_pem,
                      const std::filesystem::path& public_pem) {
  RC_ASSIGN_OR_RETURN(TokenSigner signer, TokenSigner::generate(key_id));
  RC_ASSIGN_OR_RETURN(std::string priv, signer.private_pem());
  RC_ASSIGN_OR_RETURN(std::string pub, signer.public_pem());
  RC_TRY(write_file(private_pem, priv, 0600));
  return write_file(public_pem, pub, 0644);
}

Result<std::string> mint_token(const TokenSigner& signer, MintRequest request) {
  TokenClaims claims;
  if (request.token_id) {
    claims.token_id = *request.token_id;
  } else {
    std::random_device random;
    for (std::uint8_t& b : claims.token_id) b = static_cast<std::uint8_t>(random() & 0xff);
  }
  std::sort(request.compartments.begin(), request.compartments.end());
  request.compartments.erase(std::unique(request.compartments.begin(), request.compartments.end()),
                             request.compartments.end());
  claims.action = request.action;
  claims.box_id = std::move(request.box_id);
  claims.compartments = std::move(request.compartments);
  claims.order_ref = request.order_ref;
  claims.not_before = request.not_before;
  claims.expires = request.expires;
  return signer.sign(claims);
}

Result<TokenSummary> describe_token(std::string_view text) {
  auto parsed = parse_token_unverified(text);
  if (!parsed.ok()) {
    return make_error(ErrorCode::kInvalidArgument, "not a token: " + parsed.error().detail);
  }
  return TokenSummary{parsed->key_id, parsed->claims};
}

nlohmann::json to_json(const TokenSummary& summary) {
  nlohmann::json compartments = nlohmann::json::array();
  for (std::uint8_t c : summary.claims.compartments) compartments.push_back(c);
  return {{"key_id", summary.key_id},
          {"token_id", summary.claims.token_id_hex()},
          {"action", std::string(to_string(summary.claims.action))},
          {"box_id", summary.claims.box_id},
          {"compartments", compartments},
          {"order_ref", summary.claims.order_ref},
          {"not_before", summary.claims.not_before},
          {"expires", summary.claims.expires}};
}

Result<std::vector<std::uint8_t>> parse_compartment_list(std::string_view text) {
  std::vector<std::uint8_t> out;
  std::string item;
  std::istringstream in{std::string(text)};
  while (std::getline(in, item, ',')) {
    std::size_t used = 0;
    int value = 0;
    try {
      value = std::stoi(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != item.size() || value < 1 || value > 255) {
      return make_error(ErrorCode::kInvalidArgument,
                        "compartment list \"" + std::string(text) +
                            "\": expected numbers 1..255 separated by commas");
    }
    out.push_back(static_cast<std::uint8_t>(value));
  }
  if (out.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "compartment list is empty");
  }
  return out;
}

}  // namespace reclothes::simulator
