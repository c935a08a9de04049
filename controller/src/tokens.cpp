#include "reclothes/controller/tokens.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "reclothes/common/bytes.h"

namespace reclothes::controller {
namespace {

Status write_private_file(const std::filesystem::path& path, const std::string& data) {
  const auto tmp = path.string() + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return make_error(ErrorCode::kIo, "cannot create " + tmp + ": " + std::strerror(errno));
  }
  std::size_t done = 0;
  while (done < data.size()) {
    const auto n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string why = std::strerror(errno);
      ::close(fd);
      return make_error(ErrorCode::kIo, "cannot write " + tmp + ": " + why);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    return make_error(ErrorCode::kIo, "cannot sync " + tmp + ": " + std::strerror(errno));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return make_error(ErrorCode::kIo, "cannot rename " + tmp + ": " + std::strerror(errno));
  }
  return ok_status();
}

}  // namespace

nlohmann::json IssuedToken::to_json() const {
  return {{"token", text},
          {"token_id", token_id},
          {"key_id", key_id},
          {"not_before", ts(not_before * 1000)},
          {"expires", ts(expires * 1000)}};
}

Result<std::unique_ptr<TokenService>> TokenService::create(Database& db, const Clock& clock,
                                                           const ControllerConfig::Tokens& config) {
  std::error_code ec;
  std::filesystem::create_directories(config.key_dir, ec);
  if (ec) {
    return make_error(ErrorCode::kIo, "cannot create key directory " + config.key_dir.string() +
                                          ": " + ec.message());
  }
  std::filesystem::permissions(config.key_dir, std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::replace, ec);
  std::unique_ptr<TokenService> service(new TokenService(db, clock, config));
  RC_TRY(service->ensure_active_key());
  return service;
}

std::unique_ptr<TokenService> TokenService::unchecked(Database& db, const Clock& clock,
                                                      const ControllerConfig::Tokens& config) {
  return std::unique_ptr<TokenService>(new TokenService(db, clock, config));
}

std::filesystem::path TokenService::key_path(std::uint16_t key_id) const {
  return config_.key_dir / ("signing-key-" + std::to_string(key_id) + ".pem");
}

Status TokenService::ensure_active_key() {
  auto created = db_.with_transaction([&](pqxx::work& tx) -> Status {
    // Serialise replicas starting at the same time.
    tx.exec("LOCK TABLE signing_keys IN EXCLUSIVE MODE");
    const auto rows = tx.exec("SELECT key_id FROM signing_keys WHERE status = 'active'");
    if (!rows.empty()) return ok_status();
    const auto next = tx.exec1("SELECT COALESCE(max(key_id), 0) + 1 FROM signing_keys");
    RC_ASSIGN_OR_RETURN(auto id, create_key(tx, next[0].as<std::uint16_t>()));
    (void)id;
    return ok_status();
  });
  return created;
}

Result<std::uint16_t> TokenService::create_key(pqxx::work& tx, std::uint16_t key_id) {
  // A key file already in the directory is adopted, not replaced: the operator may provide the
  // keys (a Kubernetes Secret mounted read-only, docs/deploy.md), and a file without a row is a
  // key no token was signed with yet (a rotation that did not commit, or a restored database).
  std::ifstream existing(key_path(key_id));
  if (existing) {
    std::stringstream pem;
    pem << existing.rdbuf();
    auto adopted = TokenSigner::from_private_pem(key_id, pem.str());
    if (!adopted.ok()) {
      return make_error(ErrorCode::kInvalidArgument,
                        key_path(key_id).string() + " is not a usable signing key (" +
                            adopted.error().message +
                            "); replace it with a P-256 key (openssl ecparam -name prime256v1 "
                            "-genkey -noout) or remove it to have one generated");
    }
    RC_ASSIGN_OR_RETURN(auto public_pem, adopted->public_pem());
    return record_key(tx, key_id, public_pem, std::move(adopted).value());
  }
  RC_ASSIGN_OR_RETURN(auto signer, TokenSigner::generate(key_id));
  RC_ASSIGN_OR_RETURN(auto private_pem, signer.private_pem());
  RC_ASSIGN_OR_RETURN(auto public_pem, signer.public_pem());
  // The file is written first: a committed key row always has its private half on disk.
  RC_TRY(write_private_file(key_path(key_id), private_pem));
  return record_key(tx, key_id, public_pem, std::move(signer));
}

Result<std::uint16_t> TokenService::record_key(pqxx::work& tx, std::uint16_t key_id,
                                               const std::string& public_pem, TokenSigner signer) {
  tx.exec_params(
      "INSERT INTO signing_keys (key_id, public_pem, status, created_at) VALUES ($1, "
      "$2, 'active', $3::timestamptz)",
      static_cast<int>(key_id), public_pem, ts(clock_.wall_ms()));
  std::lock_guard lock(mu_);
  signers_[key_id] = std::make_unique<TokenSigner>(std::move(signer));
  return key_id;
}

Result<const TokenSigner*> TokenService::signer(std::uint16_t key_id) {
  std::lock_guard lock(mu_);
  if (auto it = signers_.find(key_id); it != signers_.end()) return it->second.get();
  std::ifstream in(key_path(key_id));
  if (!in) {
    return make_error(ErrorCode::kUnavailable, "the private key of signing key " +
                                                   std::to_string(key_id) + " is not in " +
                                                   config_.key_dir.string());
  }
  std::stringstream ss;
  ss << in.rdbuf();
  RC_ASSIGN_OR_RETURN(auto s, TokenSigner::from_private_pem(key_id, ss.str()));
  auto& slot = signers_[key_id];
  slot = std::make_unique<TokenSigner>(std::move(s));
  return slot.get();
}

Result<IssuedToken> TokenService::issue(pqxx::work& tx, const TokenRequest& request) {
  if (request.validity <= std::chrono::seconds(0) || request.validity > config_.max_validity) {
    return make_error(ErrorCode::kInvalidArgument,
                      "validity must be 1.." + std::to_string(config_.max_validity.count()) + " s");
  }
  if (tx.exec_params("SELECT 1 FROM boxes WHERE id = $1", request.box_id).empty()) {
    return make_error(ErrorCode::kNotFound, "box " + request.box_id + " not found");
  }
  const auto active = tx.exec("SELECT key_id FROM signing_keys WHERE status = 'active'");
  if (active.empty()) return make_error(ErrorCode::kUnavailable, "no active signing key");
  const auto key_id = active[0][0].as<std::uint16_t>();
  RC_ASSIGN_OR_RETURN(const TokenSigner* s, signer(key_id));

  TokenClaims claims;
  RC_ASSIGN_OR_RETURN(auto id, random_bytes(kTokenIdBytes));
  std::copy(id.begin(), id.end(), claims.token_id.begin());
  claims.action = request.action;
  claims.box_id = request.box_id;
  claims.compartments = request.compartments;
  claims.order_ref = request.order_ref;
  claims.not_before = request.not_before_s.value_or(clock_.wall_seconds());
  claims.expires = claims.not_before + request.validity.count();
  RC_TRY(validate_claims(claims));
  RC_ASSIGN_OR_RETURN(auto text, s->sign(claims));

  std::string compartments = "{";
  for (std::size_t i = 0; i < claims.compartments.size(); ++i) {
    if (i) compartments += ',';
    compartments += std::to_string(claims.compartments[i]);
  }
  compartments += '}';
  tx.exec_params(
      "INSERT INTO issued_tokens (token_id, key_id, action, box_id, compartments, order_ref, "
      "not_before, expires, issued_by, issued_at) VALUES ($1, $2, $3, $4, $5::integer[], $6, "
      "$7::timestamptz, $8::timestamptz, $9, $10::timestamptz)",
      claims.token_id_hex(), static_cast<int>(key_id), std::string(to_string(claims.action)),
      claims.box_id, compartments, static_cast<std::int64_t>(claims.order_ref),
      ts(claims.not_before * 1000), ts(claims.expires * 1000), request.issued_by,
      ts(clock_.wall_ms()));
  return IssuedToken{std::move(text), claims.token_id_hex(), key_id, claims.not_before,
                     claims.expires};
}

Result<std::string> TokenService::revoke(pqxx::work& tx, const std::string& token_id) {
  const auto rows = tx.exec_params(
      "SELECT box_id, expires::text FROM issued_tokens WHERE token_id = $1", token_id);
  if (rows.empty()) return make_error(ErrorCode::kNotFound, "token " + token_id + " not found");
  const auto box_id = rows[0][0].as<std::string>();
  tx.exec_params(
      "INSERT INTO revoked_tokens (token_id, box_id, expires, revoked_at) VALUES ($1, "
      "$2, $3::timestamptz, $4::timestamptz) ON CONFLICT (token_id) DO NOTHING",
      token_id, box_id, rows[0][1].as<std::string>(), ts(clock_.wall_ms()));
  return box_id;
}

Result<std::uint16_t> TokenService::rotate(pqxx::work& tx) {
  tx.exec("LOCK TABLE signing_keys IN EXCLUSIVE MODE");
  const auto next = tx.exec1("SELECT COALESCE(max(key_id), 0) + 1 FROM signing_keys")[0].as<int>();
  if (next > 65535) return make_error(ErrorCode::kResourceExhausted, "key ids are exhausted");
  tx.exec("UPDATE signing_keys SET status = 'retiring' WHERE status = 'active'");
  return create_key(tx, static_cast<std::uint16_t>(next));
}

Status TokenService::retire(pqxx::work& tx, std::uint16_t key_id) {
  const auto rows = tx.exec_params("SELECT status FROM signing_keys WHERE key_id = $1 FOR UPDATE",
                                   static_cast<int>(key_id));
  if (rows.empty()) {
    return make_error(ErrorCode::kNotFound, "signing key " + std::to_string(key_id) + " not found");
  }
  const auto status = rows[0][0].as<std::string>();
  if (status == "active") {
    return make_error(ErrorCode::kFailedPrecondition,
                      "the active key cannot be retired; rotate first");
  }
  if (status == "retired") return ok_status();
  tx.exec_params(
      "UPDATE signing_keys SET status = 'retired', retired_at = $2::timestamptz WHERE "
      "key_id = $1",
      static_cast<int>(key_id), ts(clock_.wall_ms()));
  return ok_status();
}

nlohmann::json TokenService::list_keys(pqxx::work& tx) const {
  nlohmann::json items = nlohmann::json::array();
  for (const auto& row :
       tx.exec("SELECT key_id, public_pem, status, " + ms_of("created_at") + ", " +
               ms_of("retired_at") + " FROM signing_keys ORDER BY key_id")) {
    items.push_back(
        {{"key_id", row[0].as<int>()},
         {"public_pem", row[1].as<std::string>()},
         {"status", row[2].as<std::string>()},
         {"created_at", ts(row[3].as<std::int64_t>())},
         {"retired_at",
          row[4].is_null() ? nlohmann::json() : nlohmann::json(ts(row[4].as<std::int64_t>()))}});
  }
  return {{"items", items}};
}

}  // namespace reclothes::controller
