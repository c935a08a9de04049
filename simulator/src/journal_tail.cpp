#include "reclothes/simulator/journal_tail.h"

#include <sqlite3.h>

#include <algorithm>
#include <climits>

namespace reclothes::simulator {

namespace {

// Finalises a prepared statement on every path.
struct Statement {
  sqlite3_stmt* stmt = nullptr;
  ~Statement() { sqlite3_finalize(stmt); }
};

}  // namespace

Result<std::unique_ptr<JournalTail>> JournalTail::open(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return make_error(ErrorCode::kNotFound, path.string() + ": no journal yet");
  }
  sqlite3* db = nullptr;
  const int rc =
      sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return make_error(ErrorCode::kIo,
                      path.string() + ": cannot open the journal read-only: " + message);
  }
  // The firmware holds write transactions only briefly; wait for them rather than fail.
  sqlite3_busy_timeout(db, 2000);
  return std::unique_ptr<JournalTail>(new JournalTail(db, path));
}

JournalTail::~JournalTail() { sqlite3_close(db_); }

Result<std::vector<JournalEvent>> JournalTail::query(const char* sql, std::int64_t a,
                                                     std::int64_t b) {
  Statement q;
  if (sqlite3_prepare_v2(db_, sql, -1, &q.stmt, nullptr) != SQLITE_OK) {
    return make_error(ErrorCode::kIo, path_.string() + ": " + sqlite3_errmsg(db_));
  }
  sqlite3_bind_int64(q.stmt, 1, a);
  sqlite3_bind_int64(q.stmt, 2, b);
  std::vector<JournalEvent> out;
  for (;;) {
    const int rc = sqlite3_step(q.stmt);
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) {
      return make_error(ErrorCode::kIo,
                        path_.string() + ": reading the outbox: " + sqlite3_errmsg(db_));
    }
    JournalEvent e;
    e.seq = static_cast<std::uint64_t>(sqlite3_column_int64(q.stmt, 0));
    const auto* kind = sqlite3_column_text(q.stmt, 1);
    e.kind = kind != nullptr ? reinterpret_cast<const char*>(kind) : "";
    const auto* body = sqlite3_column_text(q.stmt, 2);
    e.body = nlohmann::json::parse(body != nullptr ? reinterpret_cast<const char*>(body) : "",
                                   nullptr, false);
    if (e.body.is_discarded()) e.body = nlohmann::json::object();
    e.at_ms = sqlite3_column_int64(q.stmt, 3);
    out.push_back(std::move(e));
  }
  return out;
}

Result<std::vector<JournalEvent>> JournalTail::after(std::uint64_t after, std::size_t limit) {
  const auto from = static_cast<std::int64_t>(std::min<std::uint64_t>(after, INT64_MAX));
  const auto n = static_cast<std::int64_t>(std::min<std::size_t>(limit, INT64_MAX));
  return query("SELECT seq, kind, body, at_ms FROM outbox WHERE seq > ?1 ORDER BY seq LIMIT ?2",
               from, n);
}

Result<std::vector<JournalEvent>> JournalTail::latest(std::size_t count) {
  const auto n = static_cast<std::int64_t>(std::min<std::size_t>(count, INT64_MAX));
  RC_ASSIGN_OR_RETURN(
      std::vector<JournalEvent> newest_first,
      query("SELECT seq, kind, body, at_ms FROM outbox WHERE ?1 = ?1 ORDER BY seq DESC LIMIT ?2", 0,
            n));
  std::reverse(newest_first.begin(), newest_first.end());
  return newest_first;
}

Result<std::uint64_t> JournalTail::meta(const char* key) {
  Statement q;
  if (sqlite3_prepare_v2(db_, "SELECT value FROM meta WHERE key = ?1", -1, &q.stmt, nullptr) !=
      SQLITE_OK) {
    return make_error(ErrorCode::kIo, path_.string() + ": " + sqlite3_errmsg(db_));
  }
  sqlite3_bind_text(q.stmt, 1, key, -1, SQLITE_STATIC);
  if (sqlite3_step(q.stmt) != SQLITE_ROW) {
    return make_error(ErrorCode::kIo, path_.string() + ": no meta." + key);
  }
  return static_cast<std::uint64_t>(sqlite3_column_int64(q.stmt, 0));
}

Result<std::uint64_t> JournalTail::last_seq() {
  RC_ASSIGN_OR_RETURN(std::uint64_t next, meta("next_seq"));
  return next == 0 ? 0 : next - 1;
}

Result<std::uint64_t> JournalTail::acked_upto() { return meta("acked_upto"); }

}  // namespace reclothes::simulator
