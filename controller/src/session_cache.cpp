#include "reclothes/controller/session_cache.h"

#include <algorithm>
#include <charconv>
#include <pqxx/pqxx>

namespace reclothes::controller {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr std::string_view kCustomerPrefix = "customer:";
constexpr long kAwaitMicroseconds = 200000;  // how often the listener looks at stop()

// Calls back for every notification on the channel (libpqxx issues the LISTEN when it is
// constructed and delivers from await_notification()).
class Receiver final : public pqxx::notification_receiver {
 public:
  Receiver(pqxx::connection_base& c, SessionCache& cache)
      : pqxx::notification_receiver(c, std::string(SessionCache::kChannel)), cache_(cache) {}
  void operator()(const std::string& payload, int /*backend_pid*/) override {
    cache_.apply_notification(payload);
  }

 private:
  SessionCache& cache_;
};

}  // namespace

SessionCache::SessionCache(Options options, const Clock& clock, Log log)
    : options_(std::move(options)), clock_(clock), log_(std::move(log)) {}

SessionCache::~SessionCache() { stop(); }

void SessionCache::start() {
  if (thread_.joinable()) return;
  {
    std::lock_guard lock(stop_mu_);
    stopping_ = false;
  }
  thread_ = std::thread([this] { run(); });
}

void SessionCache::stop() {
  {
    std::lock_guard lock(stop_mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  set_listening(false);
}

bool SessionCache::sleep_unless_stopped(std::chrono::milliseconds d) {
  std::unique_lock lock(stop_mu_);
  return !stop_cv_.wait_for(lock, d, [this] { return stopping_; });
}

void SessionCache::run() {
  const auto stopped = [this] {
    std::lock_guard lock(stop_mu_);
    return stopping_;
  };
  bool first = true;
  while (!stopped()) {
    try {
      pqxx::connection conn(options_.conninfo);
      {
        pqxx::nontransaction tx(conn);
        tx.exec("SET application_name = 'reclothes-session-cache'");
      }
      Receiver receiver(conn, *this);  // LISTEN reclothes_auth
      const int pid = conn.backendpid();
      if (!first) {
        std::lock_guard lock(mu_);
        ++stats_.listener_restarts;
      }
      first = false;
      set_listening(true);
      log_.info("session cache: listening for session changes",
                {{"channel", std::string(kChannel)}, {"backend_pid", pid}});
      auto last_ping = SteadyClock::now();
      while (!stopped()) {
        conn.await_notification(0, kAwaitMicroseconds);
        // libpqxx 6 reconnects a broken connection by itself (and LISTENs again): whatever was
        // sent in between is lost, so a new backend is treated as a restart.
        if (conn.backendpid() != pid) {
          throw pqxx::broken_connection("the listening connection was replaced");
        }
        if (SteadyClock::now() - last_ping >= options_.ping_interval) {
          pqxx::nontransaction tx(conn);
          tx.exec("SELECT 1");
          last_ping = SteadyClock::now();
        }
      }
    } catch (const std::exception& e) {
      const bool was = listening_.load();
      set_listening(false);
      if (was) {
        log_.warn(
            "session cache: lost the listening connection; every request is checked in the "
            "database until it is back",
            {{"error", std::string(e.what())}});
      } else {
        log_.warn("session cache: cannot listen for session changes; retrying",
                  {{"error", std::string(e.what())}});
      }
    }
    set_listening(false);
    if (!sleep_unless_stopped(options_.reconnect_delay)) break;
  }
}

void SessionCache::set_listening(bool on) {
  std::lock_guard lock(mu_);
  // Either way nothing from before may be served: entries made before a LISTEN was in place, or
  // while notifications may have been missed, are unproven.
  forget_all_locked();
  listening_.store(on);
  stats_.listening = on;
}

void SessionCache::forget_all_locked() {
  entries_.clear();
  by_account_.clear();
  generation_.fetch_add(1);
}

std::optional<Principal> SessionCache::find(std::string_view token_digest, std::int64_t now_ms) {
  std::lock_guard lock(mu_);
  if (!listening_.load()) {
    ++stats_.misses;
    return std::nullopt;
  }
  const auto it = entries_.find(std::string(token_digest));
  if (it == entries_.end() || it->second.until_ms <= now_ms) {
    ++stats_.misses;
    return std::nullopt;
  }
  ++stats_.hits;
  return it->second.principal;
}

void SessionCache::put(std::string token_digest, const Principal& principal,
                       std::uint64_t generation_before_read, std::int64_t now_ms) {
  if (principal.kind != AccountKind::kCustomer) return;
  std::lock_guard lock(mu_);
  if (!listening_.load() || generation_.load() != generation_before_read) return;
  const auto until = std::min(now_ms + static_cast<std::int64_t>(options_.ttl.count()),
                              principal.session_expires_ms);
  if (until <= now_ms) return;
  if (entries_.size() >= options_.max_entries) {
    // Expired entries first; if the cache is full of live ones, start over (rare: the bound
    // only keeps a flood of distinct sessions from growing memory without end).
    for (auto it = entries_.begin(); it != entries_.end();) {
      it = it->second.until_ms <= now_ms ? entries_.erase(it) : std::next(it);
    }
    if (entries_.size() >= options_.max_entries) entries_.clear();
    by_account_.clear();
    for (const auto& [digest, e] : entries_) by_account_[e.principal.account_id].push_back(digest);
  }
  auto [it, inserted] = entries_.insert_or_assign(std::move(token_digest), Entry{principal, until});
  if (inserted) by_account_[principal.account_id].push_back(it->first);
}

void SessionCache::forget_account(AccountKind kind, std::int64_t account_id) {
  if (kind != AccountKind::kCustomer) return;
  std::lock_guard lock(mu_);
  ++stats_.invalidations;
  // Bumped even when nothing is cached: a read in flight may have seen the old row.
  generation_.fetch_add(1);
  const auto it = by_account_.find(account_id);
  if (it == by_account_.end()) return;
  for (const auto& digest : it->second) entries_.erase(digest);
  by_account_.erase(it);
}

void SessionCache::apply_notification(std::string_view payload) {
  if (payload.substr(0, kCustomerPrefix.size()) == kCustomerPrefix) {
    const auto digits = payload.substr(kCustomerPrefix.size());
    std::int64_t id = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), id);
    if (ec == std::errc() && end == digits.data() + digits.size() && !digits.empty()) {
      forget_account(AccountKind::kCustomer, id);
      return;
    }
  }
  // Not ours or not understood: the safe reading is "anything may have changed".
  std::lock_guard lock(mu_);
  ++stats_.invalidations;
  forget_all_locked();
}

SessionCache::Stats SessionCache::stats() const {
  std::lock_guard lock(mu_);
  Stats s = stats_;
  s.entries = entries_.size();
  s.listening = listening_.load();
  return s;
}

}  // namespace reclothes::controller
