// PostgreSQL access through libpqxx 6.4: a fixed-size connection pool and transaction helpers
// that turn libpqxx exceptions into Errors at this boundary.
//
// Time is never taken from the database's now(): the controller's injected Clock supplies every
// timestamp as a parameter (see ts()), so tests can move time.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <type_traits>

#include "reclothes/common/result.h"

namespace reclothes::controller {

// Turns a libpqxx (or std) exception into an Error: unique violations -> kAlreadyExists,
// serialization failures/deadlocks -> kUnavailable (retryable), broken connections ->
// kUnavailable, SQLSTATE class 08 and 57P0x (server shutting down or starting) ->
// kUnavailable, everything else kInternal. The message keeps the database's text for the logs;
// the HTTP layer never shows kInternal messages to clients.
Error error_from_exception(std::exception_ptr e);

// "2026-01-01T00:00:00.000Z": a timestamptz parameter (use as $n::timestamptz).
std::string ts(std::int64_t unix_ms);
// Parses RFC 3339 UTC ("2026-01-01T00:00:00Z", optional fraction, "Z" or "+00:00") to Unix ms.
std::optional<std::int64_t> parse_ts(std::string_view text);
// SQL that converts a timestamptz column to Unix ms: ms_of("created_at").
std::string ms_of(std::string_view column);

class Database {
 public:
  struct Options {
    std::string conninfo;
    int pool_size = 8;
    std::chrono::milliseconds acquire_timeout{5000};
  };

  // Opens one connection right away so that a wrong conninfo fails at start-up with a clear
  // message; the others are opened on demand.
  static Result<std::unique_ptr<Database>> open(Options options);
  // A pool that opens no connection before the first acquire(): for the REST fuzzer
  // (fuzz/fuzz_rest.cpp), whose conninfo names no server, so every acquire() fails at once with
  // kUnavailable.
  static std::unique_ptr<Database> unconnected(Options options);
  ~Database();

  class Lease {
   public:
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    pqxx::connection& conn() { return *conn_; }
    // The connection is broken: close it instead of returning it to the pool.
    void discard() { discard_ = true; }

   private:
    friend class Database;
    Lease(Database* db, std::unique_ptr<pqxx::connection> conn) : db_(db), conn_(std::move(conn)) {}
    Database* db_;
    std::unique_ptr<pqxx::connection> conn_;
    bool discard_ = false;
  };

  // Waits up to acquire_timeout for a free connection: kUnavailable if none came or the
  // database cannot be reached.
  Result<Lease> acquire();

  // Runs f(pqxx::work&) in a transaction and commits when f returns an ok Result/Status.
  // Exceptions from f or from libpqxx are caught and returned as Errors (rolled back).
  template <typename F>
  auto with_transaction(F&& f) -> std::invoke_result_t<F, pqxx::work&> {
    return on_lease<std::invoke_result_t<F, pqxx::work&>>([&](pqxx::connection& conn) {
      pqxx::work tx(conn);
      auto result = f(tx);
      if (result.ok()) tx.commit();
      return result;
    });
  }

  // Runs f(pqxx::transaction_base&) on a pooled connection without BEGIN/COMMIT: for work that is
  // one statement (atomic by itself), one round trip instead of three. Errors as above.
  template <typename F>
  auto with_autocommit(F&& f) -> std::invoke_result_t<F, pqxx::transaction_base&> {
    return on_lease<std::invoke_result_t<F, pqxx::transaction_base&>>([&](pqxx::connection& conn) {
      pqxx::nontransaction tx(conn);
      return f(static_cast<pqxx::transaction_base&>(tx));
    });
  }

  // SELECT 1 on a pooled connection.
  Status ping();

  // The pool's counts, for the metrics (reclothes_db_pool_*): open connections (idle + leased),
  // those leased now, acquire() calls that had to wait for a free connection, the time they
  // waited, and those that gave up after acquire_timeout.
  struct PoolStats {
    int size = 0;
    int open = 0;
    int in_use = 0;
    std::uint64_t waits = 0;
    double wait_seconds = 0;
    std::uint64_t timeouts = 0;
  };
  PoolStats pool_stats() const;
  const Options& options() const { return options_; }

 private:
  // g(pqxx::connection&) on a pooled connection; an exception becomes an Error and a connection
  // it broke is closed instead of going back to the pool.
  template <typename R, typename G>
  R on_lease(G&& g) {
    auto lease = acquire();
    if (!lease.ok()) return std::move(lease).error();
    try {
      return g(lease->conn());
    } catch (...) {
      if (!lease->conn().is_open()) lease->discard();
      return error_from_exception(std::current_exception());
    }
  }

  explicit Database(Options options) : options_(std::move(options)) {}
  Result<std::unique_ptr<pqxx::connection>> connect();
  void give_back(std::unique_ptr<pqxx::connection> conn, bool discard);

  Options options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<pqxx::connection>> idle_;
  int open_count_ = 0;  // idle + leased
  std::uint64_t waits_ = 0;
  double wait_seconds_ = 0;
  std::uint64_t timeouts_ = 0;
};

// Runs a statement of a hot path as a prepared statement: each pooled connection prepares it on
// first use (libpqxx 6 prepares lazily; registering the same definition again is a no-op), so
// PostgreSQL parses and plans it once per connection instead of on every request. `name` must
// stay unique to this one definition.
template <typename... Args>
pqxx::result exec_hot(pqxx::transaction_base& tx, const std::string& name, const std::string& sql,
                      Args&&... args) {
  tx.conn().prepare(name, sql);
  return tx.exec_prepared(name, std::forward<Args>(args)...);
}

// Reads a nullable column.
template <typename T>
std::optional<T> opt(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return f.as<T>();
}

}  // namespace reclothes::controller
