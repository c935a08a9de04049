// Safe retries of the customer POSTs that create something (docs/controller.md, "Safe
// retries"): an Idempotency-Key header makes a retried request answer what the first one
// answered, without doing anything twice, across replicas (the keys are rows in PostgreSQL,
// migration 0009). The dispatcher (server.cpp) drives it for routes registered with
// Route::idempotent; this file has the pure rules and the SQL.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <string_view>

#include "reclothes/common/clock.h"
#include "reclothes/common/result.h"
#include "reclothes/controller/config.h"

namespace reclothes::controller {

// ---- pure rules ---------------------------------------------------------------------------------

// Why a header value is not a usable key (1..255 printable ASCII characters), or nullopt.
std::optional<std::string> idempotency_key_problem(std::string_view key);
// SHA-256 (hex) over the method, the request path, the customer and the canonical body (the
// parsed JSON dumped with sorted keys and no spaces, so the same JSON written differently is the
// same request; a route without a body hashes null).
std::string idempotency_request_hash(std::string_view method, std::string_view path,
                                     std::int64_t customer_id, std::string_view canonical_body);
// Whether a response is kept for replay: 2xx and 4xx except 429 (the retry of a 5xx or 429 runs
// again).
bool idempotency_storable(int status);

// ---- the store ----------------------------------------------------------------------------------

struct StoredResponse {
  int status = 0;
  std::string content_type;
  std::string body;
};

struct IdempotencyClaim {
  enum class Kind {
    kOwned,       // this request holds the key: run the handler, then complete() or release()
    kReplay,      // done before with the same request: answer `response`
    kMismatch,    // the key was used for another request (422)
    kInProgress,  // another request with this key is running
  };
  Kind kind = Kind::kOwned;
  StoredResponse response;  // kReplay
};

class IdempotencyStore {
 public:
  IdempotencyStore(const Clock& clock, const ControllerConfig::Idempotency& config)
      : clock_(clock), config_(config) {}

  // One attempt to claim (customer, key) for the request `owner` (its request id), as one
  // autocommit statement (plus a read when the key exists). An expired key, or an unfinished
  // claim of the same request whose owner is past claimed_until (it crashed), is taken over.
  // Throws pqxx errors (the dispatcher maps them to 503).
  IdempotencyClaim claim(pqxx::transaction_base& tx, std::int64_t customer_id,
                         const std::string& key, const std::string& request_hash,
                         const std::string& owner) const;
  // Stores the response of the owner's request (in the handler's transaction when it has one).
  void complete(pqxx::transaction_base& tx, std::int64_t customer_id, const std::string& key,
                const std::string& owner, const StoredResponse& response) const;
  // Gives the key up (a 5xx, a 429, an exception): the retry runs again.
  void release(pqxx::transaction_base& tx, std::int64_t customer_id, const std::string& key,
               const std::string& owner) const;
  // Deletes keys whose time is up (at most `limit`); returns how many.
  std::int64_t delete_expired(pqxx::transaction_base& tx, std::int64_t limit = 1000) const;

  const ControllerConfig::Idempotency& config() const { return config_; }

 private:
  const Clock& clock_;
  ControllerConfig::Idempotency config_;
};

}  // namespace reclothes::controller
