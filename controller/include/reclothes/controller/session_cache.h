// A replica's memory of recently verified customer sessions, so that an authenticated request
// does not pay a database round trip before its own work (on the public listener that round trip
// was a third of a cart write's cost: docs/performance.md, B5).
//
// Staying right across replicas: triggers of migration 0007 NOTIFY the channel `reclothes_auth`
// with "customer:<id>" whenever a customer's session or account row changes or goes (logout,
// erase, disabling, expiry moved), at the commit of the change. Each replica LISTENs on a
// connection of its own and forgets that customer's entries; the replica that made the change
// also forgets them itself right after its commit (forget_account), before it answers, so its
// own next request never sees the old state. While the listening connection is down nothing is
// cached and nothing cached is served: every request goes to the database. Entries live at most
// `ttl`, which bounds what a lost notification could cost.
//
// Staff sessions are never cached: their requests are few, and a role change or a deactivation
// must hold on the very next request on every replica.
//
// Filling is race-free against invalidations: a caller takes generation() before reading the
// database and put() stores the result only if no invalidation happened in between (any
// invalidation, or a restart of the listening connection, bumps the generation).
//
// Thread-safe. The listener runs on its own thread between start() and stop().
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "reclothes/common/clock.h"
#include "reclothes/controller/log.h"
#include "reclothes/controller/principal.h"

namespace reclothes::controller {

class SessionCache {
 public:
  // The NOTIFY channel and the payload prefix written by migration 0007's triggers.
  static constexpr std::string_view kChannel = "reclothes_auth";

  struct Options {
    std::string conninfo;                           // the listening connection's (not pooled)
    std::chrono::milliseconds ttl{10000};           // an entry's longest life
    std::size_t max_entries = 100000;               // beyond: expired entries go, then all
    std::chrono::milliseconds ping_interval{2000};  // the listening connection is checked
    std::chrono::milliseconds reconnect_delay{1000};
  };

  struct Stats {
    std::uint64_t hits = 0;
    std::uint64_t misses = 0;
    std::uint64_t invalidations = 0;  // notifications and local forgets applied
    std::uint64_t listener_restarts = 0;
    std::size_t entries = 0;
    bool listening = false;
  };

  SessionCache(Options options, const Clock& clock, Log log);
  ~SessionCache();
  SessionCache(const SessionCache&) = delete;
  SessionCache& operator=(const SessionCache&) = delete;

  // Starts the listener thread; caching begins once its LISTEN is in place.
  void start();
  // Stops the listener (within about 200 ms) and forgets everything.
  void stop();

  // The principal of a token's digest if an entry is there, unexpired (both the entry and the
  // session itself at now_ms) and the listener is up; counts a hit or a miss.
  std::optional<Principal> find(std::string_view token_digest, std::int64_t now_ms);
  std::uint64_t generation() const { return generation_.load(); }
  // Stores a customer principal read from the database when generation() still equals
  // `generation_before_read` and the listener is up; otherwise does nothing.
  void put(std::string token_digest, const Principal& principal,
           std::uint64_t generation_before_read, std::int64_t now_ms);
  // Drops every entry of the account (after a committed change on this replica).
  void forget_account(AccountKind kind, std::int64_t account_id);

  Stats stats() const;
  bool listening() const { return listening_.load(); }

  // Applies one notification payload ("customer:<id>"); anything else that arrives on the
  // channel forgets everything. Public for tests of the payload rules.
  void apply_notification(std::string_view payload);

 private:
  struct Entry {
    Principal principal;
    std::int64_t until_ms = 0;  // min(now + ttl, the session's expiry)
  };

  void run();
  void set_listening(bool on);
  void forget_all_locked();
  bool sleep_unless_stopped(std::chrono::milliseconds d);

  const Options options_;
  const Clock& clock_;
  Log log_;

  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
  std::unordered_map<std::int64_t, std::vector<std::string>> by_account_;
  std::atomic<std::uint64_t> generation_{1};
  std::atomic<bool> listening_{false};
  Stats stats_;

  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace reclothes::controller
