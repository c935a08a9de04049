#include "reclothes/controller/db.h"

#include <cstdio>
#include <ctime>

namespace reclothes::controller {

Error error_from_exception(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const pqxx::unique_violation& ex) {
    return make_error(ErrorCode::kAlreadyExists, std::string("database: ") + ex.what());
  } catch (const pqxx::serialization_failure& ex) {
    return make_error(ErrorCode::kUnavailable, std::string("database (retry): ") + ex.what());
  } catch (const pqxx::deadlock_detected& ex) {
    return make_error(ErrorCode::kUnavailable, std::string("database (retry): ") + ex.what());
  } catch (const pqxx::broken_connection& ex) {
    return make_error(ErrorCode::kUnavailable, std::string("database unreachable: ") + ex.what());
  } catch (const pqxx::in_doubt_error& ex) {
    return make_error(ErrorCode::kUnavailable,
                      std::string("database commit in doubt: ") + ex.what());
  } catch (const pqxx::sql_error& ex) {
    // Class 08 (connection exception) and 57P01..57P05 (the server is shutting down, restarting
    // or not accepting connections yet): the database went away, not the statement's fault.
    const std::string state = ex.sqlstate();
    if (state.rfind("08", 0) == 0 || state.rfind("57P", 0) == 0) {
      return make_error(ErrorCode::kUnavailable, std::string("database unavailable: ") + ex.what());
    }
    return make_error(ErrorCode::kInternal,
                      std::string("database error: ") + ex.what() + " (query: " + ex.query() + ")");
  } catch (const std::exception& ex) {
    return make_error(ErrorCode::kInternal, std::string("unexpected exception: ") + ex.what());
  } catch (...) {
    return make_error(ErrorCode::kInternal, "unexpected non-standard exception");
  }
}

std::string ts(std::int64_t unix_ms) {
  std::int64_t secs = unix_ms / 1000;
  std::int64_t ms = unix_ms % 1000;
  if (ms < 0) {
    ms += 1000;
    secs -= 1;
  }
  const auto t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

std::optional<std::int64_t> parse_ts(std::string_view text) {
  // YYYY-MM-DDTHH:MM:SS[.fff...](Z|+00:00)
  if (text.size() < 20 || text.size() > 40) return std::nullopt;
  const auto digits = [&](std::size_t pos, std::size_t n) -> std::optional<int> {
    int v = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
      if (text[i] < '0' || text[i] > '9') return std::nullopt;
      v = v * 10 + (text[i] - '0');
    }
    return v;
  };
  const auto y = digits(0, 4), mo = digits(5, 2), d = digits(8, 2), h = digits(11, 2),
             mi = digits(14, 2), s = digits(17, 2);
  if (!y || !mo || !d || !h || !mi || !s || text[4] != '-' || text[7] != '-' ||
      (text[10] != 'T' && text[10] != 't' && text[10] != ' ') || text[13] != ':' ||
      text[16] != ':') {
    return std::nullopt;
  }
  if (*mo < 1 || *mo > 12 || *d < 1 || *d > 31 || *h > 23 || *mi > 59 || *s > 60) {
    return std::nullopt;
  }
  std::size_t pos = 19;
  int ms = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    int scale = 100;
    const std::size_t start = pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      ms += (text[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == start) return std::nullopt;
  }
  const auto rest = text.substr(pos);
  if (rest != "Z" && rest != "z" && rest != "+00:00") return std::nullopt;
  std::tm tm{};
  tm.tm_year = *y - 1900;
  tm.tm_mon = *mo - 1;
  tm.tm_mday = *d;
  tm.tm_hour = *h;
  tm.tm_min = *mi;
  tm.tm_sec = *s;
  const std::time_t t = timegm(&tm);
  return static_cast<std::int64_t>(t) * 1000 + ms;
}

std::string ms_of(std::string_view column) {
  return "(extract(epoch from " + std::string(column) + ") * 1000)::bigint";
}

Result<std::unique_ptr<Database>> Database::open(Options options) {
  std::unique_ptr<Database> db(new Database(std::move(options)));
  RC_ASSIGN_OR_RETURN(auto first, db->connect());
  db->idle_.push_back(std::move(first));
  db->open_count_ = 1;
  return db;
}

std::unique_ptr<Database> Database::unconnected(Options options) {
  return std::unique_ptr<Database>(new Database(std::move(options)));
}

Database::~Database() = default;

Result<std::unique_ptr<pqxx::connection>> Database::connect() {
  try {
    return std::make_unique<pqxx::connection>(options_.conninfo);
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kUnavailable,
                      std::string("cannot connect to PostgreSQL: ") + e.what());
  }
}

Result<Database::Lease> Database::acquire() {
  std::unique_lock lock(mu_);
  const auto started = std::chrono::steady_clock::now();
  const auto deadline = started + options_.acquire_timeout;
  if (idle_.empty() && open_count_ >= options_.pool_size) {
    // Every connection is leased: this request waits (reclothes_db_pool_waits_total).
    ++waits_;
    while (idle_.empty() && open_count_ >= options_.pool_size) {
      if (cv_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
          open_count_ >= options_.pool_size) {
        ++timeouts_;
        wait_seconds_ +=
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        return make_error(ErrorCode::kUnavailable,
                          "no database connection free within the timeout");
      }
    }
    wait_seconds_ +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  }
  if (!idle_.empty()) {
    auto conn = std::move(idle_.front());
    idle_.pop_front();
    lock.unlock();
    if (conn->is_open()) return Lease(this, std::move(conn));
    // A connection that died while idle is replaced below.
    conn.reset();
    lock.lock();
    --open_count_;
  }
  ++open_count_;
  lock.unlock();
  auto conn = connect();
  if (!conn.ok()) {
    std::lock_guard relock(mu_);
    --open_count_;
    cv_.notify_one();
    return std::move(conn).error();
  }
  return Lease(this, std::move(conn).value());
}

void Database::give_back(std::unique_ptr<pqxx::connection> conn, bool discard) {
  std::lock_guard lock(mu_);
  if (discard || !conn->is_open()) {
    --open_count_;
  } else {
    idle_.push_back(std::move(conn));
  }
  cv_.notify_one();
}

Database::Lease::Lease(Lease&& other) noexcept
    : db_(other.db_), conn_(std::move(other.conn_)), discard_(other.discard_) {
  other.db_ = nullptr;
}

Database::Lease::~Lease() {
  if (db_ && conn_) db_->give_back(std::move(conn_), discard_);
}

Database::PoolStats Database::pool_stats() const {
  std::lock_guard lock(mu_);
  PoolStats s;
  s.size = options_.pool_size;
  s.open = open_count_;
  s.in_use = open_count_ - static_cast<int>(idle_.size());
  s.waits = waits_;
  s.wait_seconds = wait_seconds_;
  s.timeouts = timeouts_;
  return s;
}

Status Database::ping() {
  return with_transaction([](pqxx::work& tx) -> Status {
    tx.exec("SELECT 1");
    return ok_status();
  });
}

}  // namespace reclothes::controller
