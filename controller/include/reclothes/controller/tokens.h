// The token service: signing keys with ids and rotation, and issuing QR tokens in the common/
// format (reclothes/common/token.h).
//
// Where keys live: the private key of key N is the file <key_dir>/signing-key-N.pem (mode 0600,
// directory 0700), written before its row is committed. The database table signing_keys holds
// each key id's public PEM and status: active (signs new tokens; exactly one), retiring (no
// longer signs, boxes still accept its tokens), retired (boxes refuse its tokens). Several
// replicas must share the key directory (a mounted secret); a replica that lacks the active
// key's file refuses to issue tokens (kUnavailable) rather than sign with an old key.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "reclothes/common/clock.h"
#include "reclothes/common/result.h"
#include "reclothes/common/token.h"
#include "reclothes/controller/config.h"
#include "reclothes/controller/db.h"

namespace reclothes::controller {

struct TokenRequest {
  TokenAction action = TokenAction::kDeposit;
  std::string box_id;
  std::vector<std::uint8_t> compartments;
  std::uint64_t order_ref = 0;
  std::optional<std::int64_t> not_before_s;  // default: now
  std::chrono::seconds validity{3600};
  std::optional<std::int64_t> issued_by;  // staff id, for courier tokens
};

struct IssuedToken {
  std::string text;      // "RC1:..."
  std::string token_id;  // 16 hex
  std::uint16_t key_id = 0;
  std::int64_t not_before = 0;  // Unix seconds
  std::int64_t expires = 0;
  nlohmann::json to_json() const;
};

class TokenService {
 public:
  // Creates the key directory if needed and makes sure an active key exists (generating key 1
  // on first start).
  static Result<std::unique_ptr<TokenService>> create(Database& db, const Clock& clock,
                                                      const ControllerConfig::Tokens& config);
  // Without the directory and the active-key check: for the REST fuzzer (fuzz/fuzz_rest.cpp),
  // which has no database and never reaches a signing call.
  static std::unique_ptr<TokenService> unchecked(Database& db, const Clock& clock,
                                                 const ControllerConfig::Tokens& config);

  // Issues a token with the active key and records it in issued_tokens (caller's transaction).
  // kInvalidArgument for claims the format cannot carry or a validity over max_validity,
  // kNotFound for an unknown box. The domain calls this for deposit, pickup and return tokens.
  Result<IssuedToken> issue(pqxx::work& tx, const TokenRequest& request);

  // Adds an issued token to the revocation list pushed to its box (until it expires). Returns
  // the box id, whose config the caller republishes after commit. kNotFound for an unknown
  // token id; revoking twice is fine.
  Result<std::string> revoke(pqxx::work& tx, const std::string& token_id);

  // A new active key; the previous active key becomes `retiring`. Returns the new key id.
  Result<std::uint16_t> rotate(pqxx::work& tx);
  // retiring -> retired. kFailedPrecondition for the active key, kNotFound for an unknown id.
  Status retire(pqxx::work& tx, std::uint16_t key_id);
  nlohmann::json list_keys(pqxx::work& tx) const;

  const ControllerConfig::Tokens& config() const { return config_; }
  std::filesystem::path key_path(std::uint16_t key_id) const;

 private:
  TokenService(Database& db, const Clock& clock, ControllerConfig::Tokens config)
      : db_(db), clock_(clock), config_(std::move(config)) {}
  Status ensure_active_key();
  // Key N: adopts <key_dir>/signing-key-N.pem if it exists, else generates it and writes the
  // file; then records the row as active.
  Result<std::uint16_t> create_key(pqxx::work& tx, std::uint16_t key_id);
  Result<std::uint16_t> record_key(pqxx::work& tx, std::uint16_t key_id,
                                   const std::string& public_pem, TokenSigner signer);
  Result<const TokenSigner*> signer(std::uint16_t key_id);

  Database& db_;
  const Clock& clock_;
  ControllerConfig::Tokens config_;
  std::mutex mu_;
  std::map<std::uint16_t, std::unique_ptr<TokenSigner>> signers_;
};

}  // namespace reclothes::controller
