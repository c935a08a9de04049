// The controller's fixed configuration: one JSON file, parsed strictly (unknown keys, wrong types
// and out-of-range values are refused with the field's JSON pointer) into a const struct.
// docs/controller.md has the reference with every field and its default.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "reclothes/common/result.h"
#include "reclothes/controller/domain/domain_config.h"

namespace reclothes::controller {

enum class LogFormat { kText, kJson };

struct ListenerConfig {
  std::string host = "127.0.0.1";
  int port = 0;     // 0: any free port (tests)
  int threads = 8;  // requests served at once; idle keep-alive connections need no thread
};

struct ControllerConfig {
  struct Database {
    std::string conninfo;  // libpq keyword/value string or URI
    int pool_size = 8;
    std::chrono::milliseconds acquire_timeout{5000};
  } database;

  ListenerConfig public_listener{"0.0.0.0", 8080, 8};
  ListenerConfig internal_listener{"127.0.0.1", 8081, 4};
  std::vector<std::string> internal_allow = {"127.0.0.0/8", "::1/128"};  // CIDR blocks
  // Proxies whose X-Forwarded-For is believed (CIDR). Empty: the socket address is the client.
  std::vector<std::string> trusted_proxies;

  struct Http {
    std::size_t body_limit_bytes = 64 * 1024;
    std::chrono::seconds read_timeout{10};        // a whole request, once its headers are in
    std::chrono::seconds keep_alive_timeout{60};  // an idle connection is closed after this
    std::size_t max_connections = 10000;          // per listener; more wait in the backlog
    std::size_t min_request_rate = 1024;          // bytes/s an unfinished request must keep up
    std::size_t max_unfinished_per_address = 32;  // unfinished requests per client address
  } http;

  struct Sessions {
    std::chrono::seconds customer_ttl{30 * 24 * 3600};
    std::chrono::seconds staff_ttl{12 * 3600};
    // Verified customer sessions are kept in memory this long (SessionCache); 0 turns the cache
    // off. Invalidation is by NOTIFY, so this only bounds what a lost notification could cost.
    std::chrono::milliseconds cache_ttl{10000};
    std::size_t cache_max_entries = 100000;
  } sessions;

  struct Passwords {
    // Argon2id cost. Defaults are libsodium's INTERACTIVE limits; tests use the minimum.
    std::uint64_t opslimit = 2;
    std::size_t memlimit = 64 * 1024 * 1024;
    std::size_t min_length = 10;
  } passwords;

  struct Throttle {
    std::chrono::seconds window{15 * 60};
    int max_failures_per_account = 5;
    int max_failures_per_address = 20;
  } throttle;

  // Safe retries (Idempotency-Key, docs/controller.md "Safe retries").
  struct Idempotency {
    std::chrono::seconds ttl{24 * 3600};  // a key answers the same for this long
    // How long a request waits for another one with the same key to finish before 409
    // idempotency_in_progress (with Retry-After).
    std::chrono::milliseconds max_wait{5000};
    // An unfinished claim older than this is taken over (its owner crashed).
    std::chrono::seconds in_progress_timeout{60};
  } idempotency;

  // Gentle limits of the public listener (docs/controller.md "Rate limits"): token buckets per
  // client address and per customer, per route class, in memory per replica. The login class is
  // the `throttle` section above (database-backed, shared by replicas).
  struct RateLimit {
    double rate_per_s = 0;  // 0: no limit
    double burst = 0;
  };
  struct RateLimitClass {
    RateLimit per_address;
    RateLimit per_account;
  };
  struct RateLimits {
    RateLimitClass reads{{20, 100}, {10, 60}};
    RateLimitClass writes{{5, 30}, {2, 20}};
    // Client addresses no bucket applies to (CIDR): by default loopback, for health checks,
    // tools and tests on the machine itself. A proxy must be in trusted_proxies, not here.
    std::vector<std::string> exempt = {"127.0.0.0/8", "::1/128"};
    std::size_t max_buckets = 100000;  // per replica; full buckets go first, then the oldest
  } rate_limits;

  struct Mqtt {
    std::string uri = "tcp://127.0.0.1:1883";
    std::string client_id = "reclothes-controller-1";  // stable per replica (persistent session)
    std::string share_group = "controllers";
    std::optional<std::string> username;
    std::optional<std::string> password;
    std::optional<std::filesystem::path> ca_file;
    std::optional<std::filesystem::path> cert_file;
    std::optional<std::filesystem::path> key_file;
    std::chrono::seconds keepalive{10};
    std::size_t queue_capacity = 10000;  // messages waiting for the apply worker
    // Events batches that could not be applied because the database did not answer, kept in
    // memory and retried (0.1 s to 1 s back-off) until it does; beyond either bound a batch is
    // dropped and the box's resend after its ack timeout covers it.
    std::size_t retry_capacity = 4096;           // messages (merged: one per box)
    std::size_t retry_bytes = 16 * 1024 * 1024;  // their payload bytes
  } mqtt;

  struct Tokens {
    std::filesystem::path key_dir = "/var/lib/reclothes/keys";
    std::chrono::seconds courier_validity{4 * 3600};
    std::chrono::seconds max_validity{7 * 24 * 3600};
  } tokens;

  struct Log {
    std::string level = "info";  // trace, debug, info, warn, error, off
    LogFormat format = LogFormat::kText;
  } log;

  // The order domain's settings: the "domain" section (docs/orders.md, "Configuration").
  domain::DomainConfig domain;
};

// Parses the JSON text of a config file. Errors are kInvalidArgument naming the field:
// "/mqtt/keepalive_s: must be between 1 and 3600".
Result<ControllerConfig> parse_config(std::string_view json_text);
Result<ControllerConfig> load_config(const std::filesystem::path& path);

}  // namespace reclothes::controller
