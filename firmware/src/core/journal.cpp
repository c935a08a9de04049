// The journal over the SQLite C API. One connection, serialised by a mutex; prepared statements
// cached per SQL text; every write inside BEGIN IMMEDIATE ... COMMIT, rolled back on any error.
#include "reclothes/firmware/journal.h"

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <exception>
#include <nlohmann/json.hpp>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>

namespace reclothes::firmware {
namespace {

// PRAGMA application_id: marks a database as a ReClothes box journal ("RCBJ"), so that pointing
// the box at some other SQLite file is refused instead of being "migrated".
constexpr int kApplicationId = 0x5243424A;

// Placeholders for the envelope that wraps a stored event: serialize()/parse_as() validate it,
// and nothing but the event body is kept.
constexpr std::string_view kStoreEnvelopeId = "journal";

ErrorCode code_for_sqlite(int rc) {
  switch (rc & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return ErrorCode::kDataLoss;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return ErrorCode::kUnavailable;
    case SQLITE_CONSTRAINT:
      return ErrorCode::kAlreadyExists;
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return ErrorCode::kIo;
    default:
      return ErrorCode::kInternal;
  }
}

std::int64_t to_db(std::uint64_t v) { return static_cast<std::int64_t>(v); }
std::uint64_t from_db(std::int64_t v) { return static_cast<std::uint64_t>(v); }

// The wire JSON of one event (the object inside an events body), produced by the common
// serialiser so the outbox can never hold an event the controller would refuse.
Result<std::string> event_to_text(const msg::Event& event) {
  msg::Envelope env{msg::kSchemaVersion, std::string(kStoreEnvelopeId), 0,
                    std::string(kStoreEnvelopeId), msg::Events{{event}}};
  auto text = msg::serialize(env);
  if (!text.ok()) return std::move(text).error().with_context("event not journaled");
  const nlohmann::json j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded()) return make_error(ErrorCode::kInternal, "serialised event is not JSON");
  return j.at("body").at("events").at(0).dump();
}

Result<msg::Event> event_from_text(std::string_view text, std::uint64_t seq) {
  nlohmann::json event = nlohmann::json::parse(text, nullptr, false);
  if (event.is_discarded()) {
    return make_error(ErrorCode::kDataLoss,
                      "outbox event " + std::to_string(seq) + " is not valid JSON");
  }
  nlohmann::json env = {{"v", msg::kSchemaVersion},
                        {"type", "events"},
                        {"id", kStoreEnvelopeId},
                        {"ts", 0},
                        {"box", kStoreEnvelopeId},
                        {"body", {{"events", nlohmann::json::array({std::move(event)})}}}};
  auto parsed = msg::parse_as(env.dump(), msg::MessageType::kEvents);
  if (!parsed.ok()) {
    return make_error(ErrorCode::kDataLoss, "outbox event " + std::to_string(seq) +
                                                " does not parse: " + parsed.error().message);
  }
  msg::Event out = std::get<msg::Events>(parsed->body).events.at(0);
  if (out.seq != seq) {
    return make_error(ErrorCode::kDataLoss, "outbox row " + std::to_string(seq) +
                                                " holds event seq " + std::to_string(out.seq));
  }
  return out;
}

// ---- schema -------------------------------------------------------------------------------------

// migrations[i] takes the schema from version i to i + 1. Append, never edit: boxes in the field
// run every step they have not run yet, in order.
constexpr const char* kMigrations[] = {
    // 0 -> 1
    R"sql(
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO meta(key, value) VALUES ('next_seq', 1), ('acked_upto', 0);

CREATE TABLE outbox (
  seq   INTEGER PRIMARY KEY,
  kind  TEXT    NOT NULL,
  body  TEXT    NOT NULL,
  at_ms INTEGER NOT NULL
);

CREATE TABLE compartments (
  id         INTEGER PRIMARY KEY,
  state      TEXT    NOT NULL,
  token_id   TEXT,
  action     TEXT,
  order_ref  INTEGER,
  command_id TEXT,
  since_ms   INTEGER NOT NULL,
  occupied   INTEGER NOT NULL
);

CREATE TABLE used_tokens (
  token_id TEXT PRIMARY KEY,
  expires  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX used_tokens_expires ON used_tokens(expires);

CREATE TABLE reservations (
  compartment INTEGER PRIMARY KEY,
  order_ref   INTEGER NOT NULL,
  action      TEXT    NOT NULL,
  until       INTEGER NOT NULL
);

CREATE TABLE revocations (
  token_id TEXT PRIMARY KEY
) WITHOUT ROWID;

CREATE TABLE commands (
  id      TEXT PRIMARY KEY,
  ok      INTEGER NOT NULL,
  code    TEXT    NOT NULL,
  message TEXT    NOT NULL
) WITHOUT ROWID;

CREATE TABLE unlock_intents (
  compartment INTEGER PRIMARY KEY,
  token_id    TEXT,
  command_id  TEXT,
  event_seq   INTEGER NOT NULL,
  at_ms       INTEGER NOT NULL
);

CREATE TABLE settings (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
)sql",
};

constexpr int kLatestSchema = static_cast<int>(std::size(kMigrations));
static_assert(kLatestSchema == Journal::kSchemaVersion);

}  // namespace

// ---- Impl ---------------------------------------------------------------------------------------

struct Journal::Impl {
  std::filesystem::path path;
  JournalOptions options;
  sqlite3* db = nullptr;
  std::unordered_map<const char*, sqlite3_stmt*> statements;

  // Guards db and everything above. Held for a whole transaction.
  std::mutex mu;
  // The thread inside transact(), to refuse a nested transact() instead of deadlocking.
  std::atomic<std::thread::id> txn_owner{};
  bool in_txn = false;
  std::uint64_t txn_last_seq = 0;  // highest seq appended in the open transaction, 0 if none

  // Highest committed seq, for wait_for_events(); its own mutex so waiting never blocks writers.
  std::mutex seq_mu;
  std::condition_variable seq_cv;
  std::uint64_t committed_last_seq = 0;

  ~Impl() {
    for (auto& [sql, stmt] : statements) sqlite3_finalize(stmt);
    if (db != nullptr) sqlite3_close_v2(db);
  }

  Error sqlite_error(int rc, std::string_view what) const {
    std::string message = path.string() + ": " + std::string(what) + ": ";
    message += db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    return make_error(code_for_sqlite(rc), std::move(message));
  }

  Status exec(const char* sql) {
    char* err = nullptr;
    const int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
      std::string message = path.string() + ": " + (err != nullptr ? err : sqlite3_errstr(rc));
      sqlite3_free(err);
      return make_error(code_for_sqlite(rc), std::move(message));
    }
    return ok_status();
  }

  // Reads take the connection's lock, except from inside the thread's own transaction, which
  // already holds it (so fn may read through the Journal and sees its own writes).
  std::unique_lock<std::mutex> read_lock() {
    if (txn_owner.load() == std::this_thread::get_id()) return {};
    return std::unique_lock(mu);
  }

  Result<sqlite3_stmt*> prepare(const char* sql) {
    if (auto it = statements.find(sql); it != statements.end()) return it->second;
    sqlite3_stmt* stmt = nullptr;
    const int rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) return sqlite_error(rc, std::string("preparing \"") + sql + "\"");
    statements.emplace(sql, stmt);
    return stmt;
  }
};

namespace {

// One use of a cached statement: binds, steps, reads columns, and resets on destruction so the
// statement is ready for the next use.
class Stmt {
 public:
  Stmt(Journal::Impl& impl, sqlite3_stmt* stmt) : impl_(impl), stmt_(stmt) {}
  ~Stmt() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& bind(int index, std::int64_t value) {
    note(sqlite3_bind_int64(stmt_, index, value));
    return *this;
  }
  Stmt& bind(int index, std::string_view value) {
    note(sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()),
                           SQLITE_TRANSIENT));
    return *this;
  }
  Stmt& bind_null(int index) {
    note(sqlite3_bind_null(stmt_, index));
    return *this;
  }
  Stmt& bind(int index, const std::optional<std::string>& value) {
    return value ? bind(index, std::string_view(*value)) : bind_null(index);
  }

  // True when a row is available, false when done.
  Result<bool> step() {
    if (bind_rc_ != SQLITE_OK) return impl_.sqlite_error(bind_rc_, "binding a parameter");
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return impl_.sqlite_error(rc, std::string("running \"") + sqlite3_sql(stmt_) + "\"");
  }
  Status run() {
    RC_ASSIGN_OR_RETURN(const bool row, step());
    (void)row;
    return ok_status();
  }

  std::int64_t int64(int col) const { return sqlite3_column_int64(stmt_, col); }
  bool is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  std::string text(int col) const {
    const unsigned char* p = sqlite3_column_text(stmt_, col);
    const int n = sqlite3_column_bytes(stmt_, col);
    if (p == nullptr) return {};
    return std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n));
  }
  std::optional<std::string> opt_text(int col) const {
    if (is_null(col)) return std::nullopt;
    return text(col);
  }

 private:
  void note(int rc) {
    if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  }
  Journal::Impl& impl_;
  sqlite3_stmt* stmt_;
  int bind_rc_ = SQLITE_OK;
};

#define RC_STMT(name, impl, sql)                                      \
  RC_ASSIGN_OR_RETURN(sqlite3_stmt* name##_raw, (impl).prepare(sql)); \
  Stmt name((impl), name##_raw)

Result<std::int64_t> meta_value(Journal::Impl& impl, const char* key) {
  RC_STMT(q, impl, "SELECT value FROM meta WHERE key = ?1");
  q.bind(1, std::string_view(key));
  RC_ASSIGN_OR_RETURN(const bool row, q.step());
  if (!row)
    return make_error(ErrorCode::kDataLoss, impl.path.string() + ": meta." + key + " is missing");
  return q.int64(0);
}

Status set_meta_value(Journal::Impl& impl, const char* key, std::int64_t value) {
  RC_STMT(q, impl, "UPDATE meta SET value = ?2 WHERE key = ?1");
  q.bind(1, std::string_view(key)).bind(2, value);
  return q.run();
}

Result<std::int64_t> pragma_int(Journal::Impl& impl, const char* sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(impl.db, sql, -1, &stmt, nullptr);
  if (rc != SQLITE_OK) return impl.sqlite_error(rc, sql);
  rc = sqlite3_step(stmt);
  std::int64_t value = 0;
  if (rc == SQLITE_ROW) value = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return impl.sqlite_error(rc, sql);
  return value;
}

Result<std::string> pragma_text(Journal::Impl& impl, const char* sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(impl.db, sql, -1, &stmt, nullptr);
  if (rc != SQLITE_OK) return impl.sqlite_error(rc, sql);
  rc = sqlite3_step(stmt);
  std::string value;
  if (rc == SQLITE_ROW) {
    const unsigned char* p = sqlite3_column_text(stmt, 0);
    if (p != nullptr) value = reinterpret_cast<const char*>(p);
  }
  sqlite3_finalize(stmt);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return impl.sqlite_error(rc, sql);
  return value;
}

Result<std::optional<TokenAction>> action_column(const Stmt& q, int col, const std::string& what) {
  if (q.is_null(col)) return std::optional<TokenAction>{};
  const std::string text = q.text(col);
  auto action = token_action_from_string(text);
  if (!action) return make_error(ErrorCode::kDataLoss, what + ": unknown action \"" + text + "\"");
  return std::optional<TokenAction>(*action);
}

// The journal exists (or must be created) but cannot be written: say what to check, and that the
// file must not be replaced (a new journal restarts the box's event seqs, which the MQTT contract
// allows only under a new box id).
// SQLite's answers for a file it could not open to read and write.
bool cannot_write(int rc) {
  const int primary = rc & 0xff;
  return primary == SQLITE_CANTOPEN || primary == SQLITE_READONLY || primary == SQLITE_PERM;
}

Error not_writable(const std::filesystem::path& path, std::string_view why) {
  return make_error(ErrorCode::kIo,
                    path.string() + ": the journal cannot be opened for writing (" +
                        std::string(why) +
                        "): check that its file system is mounted read-write and that the path "
                        "is a file the box may write; do not delete or replace the journal (its "
                        "events may not all be synced, and a new journal needs a new box id)");
}

}  // namespace

// ---- open ---------------------------------------------------------------------------------------

Journal::Journal(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Journal::~Journal() = default;

const std::filesystem::path& Journal::path() const { return impl_->path; }

Result<std::unique_ptr<Journal>> Journal::open(const JournalOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->path = options.path;
  impl->options = options;
  if (options.path.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "journal path is empty");
  }
  std::error_code ec;
  const auto parent =
      options.path.has_parent_path() ? options.path.parent_path() : std::filesystem::path(".");
  // The directory is not created here: a missing directory usually means the data partition is
  // not mounted, and a fresh journal on the wrong disk would restart seqs at 1.
  if (!std::filesystem::is_directory(parent, ec)) {
    return make_error(ErrorCode::kIo,
                      options.path.string() + ": directory " + parent.string() + " does not exist");
  }

  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  int rc = sqlite3_open_v2(options.path.c_str(), &impl->db, flags, nullptr);
  if (rc != SQLITE_OK) {
    if (cannot_write(rc)) {
      return not_writable(options.path,
                          impl->db != nullptr ? sqlite3_errmsg(impl->db) : sqlite3_errstr(rc));
    }
    Error e = impl->sqlite_error(rc, "cannot open journal");
    e.code = ErrorCode::kIo;
    return e;
  }
  sqlite3_extended_result_codes(impl->db, 1);
  sqlite3_busy_timeout(impl->db, 5000);

  // The first read of the file: a file that is not SQLite fails here with SQLITE_NOTADB.
  auto app_id = pragma_int(*impl, "PRAGMA application_id");
  if (!app_id.ok()) {
    const int rc_read = sqlite3_extended_errcode(impl->db);
    if (cannot_write(rc_read)) return not_writable(options.path, sqlite3_errmsg(impl->db));
    Error e = std::move(app_id).error();
    if (e.code != ErrorCode::kIo) e.code = ErrorCode::kDataLoss;
    return e.with_context((rc_read & 0xff) == SQLITE_NOTADB ? "not a journal"
                                                            : "cannot read the journal");
  }
  // SQLite falls back to reading only when the file cannot be opened for writing (a read-only
  // mount, an immutable file): a box that cannot journal must not run.
  if (sqlite3_db_readonly(impl->db, "main") == 1) {
    return not_writable(options.path, "opened read-only");
  }
  RC_ASSIGN_OR_RETURN(const std::int64_t tables,
                      pragma_int(*impl, "SELECT count(*) FROM sqlite_schema"));
  if (*app_id != kApplicationId && (*app_id != 0 || tables != 0)) {
    return make_error(ErrorCode::kDataLoss, options.path.string() +
                                                ": not a ReClothes box journal (application_id " +
                                                std::to_string(*app_id) + ", " +
                                                std::to_string(tables) + " schema objects)");
  }

  if (tables != 0) {
    RC_ASSIGN_OR_RETURN(const std::string check, pragma_text(*impl, "PRAGMA quick_check"));
    if (check != "ok") {
      return make_error(ErrorCode::kDataLoss,
                        options.path.string() + ": integrity check failed: " + check);
    }
  }

  RC_ASSIGN_OR_RETURN(const std::string mode, pragma_text(*impl, "PRAGMA journal_mode=WAL"));
  if (mode != "wal") {
    return make_error(ErrorCode::kIo,
                      options.path.string() + ": cannot use WAL mode (got \"" + mode + "\")");
  }
  RC_TRY(impl->exec(options.durable ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL"));
  RC_TRY(impl->exec("PRAGMA foreign_keys=ON"));

  RC_ASSIGN_OR_RETURN(const std::int64_t version, pragma_int(*impl, "PRAGMA user_version"));
  if (version > kLatestSchema) {
    return make_error(ErrorCode::kFailedPrecondition,
                      options.path.string() + ": journal schema version " +
                          std::to_string(version) + " is newer than this firmware's (" +
                          std::to_string(kLatestSchema) + "); refusing to downgrade it");
  }
  for (std::int64_t v = version; v < kLatestSchema; ++v) {
    RC_TRY(impl->exec("BEGIN IMMEDIATE"));
    Status step = impl->exec(kMigrations[v]);
    if (step.ok()) {
      const std::string bump = "PRAGMA user_version=" + std::to_string(v + 1) +
                               "; PRAGMA application_id=" + std::to_string(kApplicationId);
      step = impl->exec(bump.c_str());
    }
    if (step.ok()) step = impl->exec("COMMIT");
    if (!step.ok()) {
      (void)impl->exec("ROLLBACK");
      return std::move(step).error().with_context("migrating the journal to schema " +
                                                  std::to_string(v + 1));
    }
  }

  RC_ASSIGN_OR_RETURN(const std::int64_t next_seq, meta_value(*impl, "next_seq"));
  if (next_seq < 1) {
    return make_error(ErrorCode::kDataLoss,
                      options.path.string() + ": meta.next_seq is " + std::to_string(next_seq));
  }
  impl->committed_last_seq = from_db(next_seq) - 1;
  return std::unique_ptr<Journal>(new Journal(std::move(impl)));
}

// ---- transactions -------------------------------------------------------------------------------

Status Journal::transact(const std::function<Status(Txn&)>& fn) {
  if (impl_->txn_owner.load() == std::this_thread::get_id()) {
    return make_error(ErrorCode::kFailedPrecondition,
                      "Journal::transact called inside a transaction");
  }
  auto lock = impl_->read_lock();
  RC_TRY(impl_->exec("BEGIN IMMEDIATE"));
  impl_->txn_owner.store(std::this_thread::get_id());
  impl_->in_txn = true;
  impl_->txn_last_seq = 0;
  auto finish = [&] {
    impl_->in_txn = false;
    impl_->txn_owner.store(std::thread::id{});
  };

  Status result;
  try {
    Txn txn(*this);
    result = fn(txn);
  } catch (const std::exception& e) {
    result = make_error(ErrorCode::kInternal, std::string("exception in transaction: ") + e.what());
  }
  if (result.ok()) result = impl_->exec("COMMIT");
  if (!result.ok()) {
    // After a failed COMMIT SQLite may have rolled back already; a second ROLLBACK is harmless.
    (void)impl_->exec("ROLLBACK");
    finish();
    return result;
  }
  const std::uint64_t appended = impl_->txn_last_seq;
  finish();
  if (appended != 0) {
    {
      std::lock_guard seq_lock(impl_->seq_mu);
      impl_->committed_last_seq = std::max(impl_->committed_last_seq, appended);
    }
    impl_->seq_cv.notify_all();
  }
  return ok_status();
}

namespace {
Status require_txn(const Journal::Impl& impl) {
  if (!impl.in_txn) {
    return make_error(ErrorCode::kFailedPrecondition, "Txn used outside Journal::transact");
  }
  return ok_status();
}
}  // namespace

Result<std::uint64_t> Txn::append_event(msg::Event event) {
  Journal::Impl& impl = *journal_.impl_;
  RC_TRY(require_txn(impl));
  RC_ASSIGN_OR_RETURN(const std::int64_t next, meta_value(impl, "next_seq"));
  event.seq = from_db(next);
  RC_ASSIGN_OR_RETURN(const std::string body, event_to_text(event));
  {
    RC_STMT(q, impl, "INSERT INTO outbox(seq, kind, body, at_ms) VALUES (?1, ?2, ?3, ?4)");
    q.bind(1, next).bind(2, msg::to_string(event.kind)).bind(3, std::string_view(body));
    q.bind(4, event.at_ms);
    RC_TRY(q.run());
  }
  RC_TRY(set_meta_value(impl, "next_seq", next + 1));
  impl.txn_last_seq = event.seq;
  return event.seq;
}

Status Txn::save_compartment(const CompartmentRecord& record) {
  Journal::Impl& impl = *journal_.impl_;
  RC_TRY(require_txn(impl));
  RC_STMT(q, impl,
          "INSERT INTO compartments(id, state, token_id, action, order_ref, command_id, since_ms, "
          "occupied) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT(id) DO UPDATE SET "
          "state = excluded.state, token_id = excluded.token_id, action = excluded.action, "
          "order_ref = excluded.order_ref, command_id = excluded.command_id, "
          "since_ms = excluded.since_ms, occupied = excluded.occupied");
  q.bind(1, std::int64_t{record.id}).bind(2, std::string_view(record.state));
  q.bind(3, record.token_id);
  if (record.action) {
    q.bind(4, to_string(*record.action));
  } else {
    q.bind_null(4);
  }
  if (record.order_ref) {
    q.bind(5, to_db(*record.order_ref));
  } else {
    q.bind_null(5);
  }
  q.bind(6, record.command_id).bind(7, record.since_ms).bind(8, std::int64_t{record.occupied});
  return q.run();
}

Result<bool> Txn::token_used(const std::string& token_id) {
  Journal::Impl& impl = *journal_.impl_;
  RC_TRY(require_txn(impl));
  RC_STMT(q, impl, "SELECT 1 FROM used_tokens WHERE token_id = ?1");
  q.bind(1, std::string_view(token_id));
  return q.step();
}

Status Txn::mark_token_used(const std::string& token_id, std::int64_t expires_unix_s) {
  Journal::Impl& impl = *journal_.impl_;
  RC_TRY(require_txn(impl));
  RC_STMT(q, impl, "INSERT INTO used_tokens(token_id, expires) VALUES (?1, ?2)");
  q.bind(1, std::string_view(token_id)).bind(2, expires_unix_s);
  Status s = q.run();
  if (!s.ok() && s.error().code == ErrorCode::kAlreadyExists) {
    return make_error(ErrorCode::kAlreadyExists, "token " + token_id + " was already used");
  }
  return s;
}

Status Txn::put_reservation(const msg::Reservation& r) {
  Journal::Impl& impl = *journal_.impl_;
  RC_TRY(require_txn(impl));
  RC_STMT(q, impl,
          "INSERT OR REPLACE INTO reservations(compartment, order_ref, action, until) "
          "VALUES (?1, ?2, ?3, ?4)");
  q.bind(1, std::int64_t{r.compartment}).bind(2, to_db(r.order_ref));
  q.bind(3, to_string(r.action)).bind(4, r.until);
  return q.run();
}

Status Txn::remove_reservation(int compartment) {
  Journal::Impl& impl = *journal_.impl_;
  RC_TRY(require_txn(impl));
  RC_STMT(q, impl, "DELETE FROM reservations WHERE compartment = ?1");
  q.bind(1, std::int64_t{compartment});
  return q.run();
}

Status Txn::replace_reservations(const std::vector<msg::Reservation>& reservations) {
  Journal::Impl& impl = *journal_.impl_;
  RC_TRY(require_txn(impl));
  {
    RC_STMT(q, impl, "DELETE FROM reservations");
    RC_TRY(q.run());
  }
  for (const msg::Reservation& r : reservations) RC_TRY(put_reservation(r));
  return ok_status();
}

Status Txn::add_revocations(const std::vector<std::string>& token_ids) {
  Journal::Impl& impl = *journal_.impl_;
  RC_TRY(require_txn(impl));
  for (const std::string& id : token_ids) {
    RC_STMT(q, impl, "INSERT OR IGNORE INTO revocations(token_id) VALUES (?1)");
    q.bind(1, std::string_view(id));
    RC_TRY(q.run());
  }
  return ok_status();
}

Status Txn::replace_revocations(const std::vector<std::string>& token_ids) {
  Journal::Impl& impl = *journal_.impl_;
  RC_TRY(require_txn(impl));
  {
    RC_STMT(q, impl, "DELETE FROM revocations");
    RC_TRY(q.run());
  }
  return add_revocations(token_ids);
}

Status Txn::begin_unlock(const UnlockIntent& intent) {
  Journal::Impl& impl = *journal_.impl_;
  RC_TRY(require_txn(impl));
  RC_STMT(q, impl,
          "INSERT INTO unlock_intents(compartment, token_id, command_id, event_seq, at_ms) "
          "VALUES (?1, ?2, ?3, ?4, ?5)");
  q.bind(1, std::int64_t{intent.compartment}).bind(2, intent.token_id).bind(3, intent.command_id);
  q.bind(4, to_db(intent.event_seq)).bind(5, intent.at_ms);
  Status s = q.run();
  if (!s.ok() && s.error().code == ErrorCode::kAlreadyExists) {
    return make_error(
        ErrorCode::kAlreadyExists,
        "compartment " + std::to_string(intent.compartment) + " already has an unlock in progress");
  }
  return s;
}

Status Txn::end_unlock(int compartment) {
  Journal::Impl& impl = *journal_.impl_;
  RC_TRY(require_txn(impl));
  RC_STMT(q, impl, "DELETE FROM unlock_intents WHERE compartment = ?1");
  q.bind(1, std::int64_t{compartment});
  return q.run();
}

Status Txn::record_command(const msg::CommandResult& result) {
  Journal::Impl& impl = *journal_.impl_;
  RC_TRY(require_txn(impl));
  RC_STMT(q, impl, "INSERT INTO commands(id, ok, code, message) VALUES (?1, ?2, ?3, ?4)");
  q.bind(1, std::string_view(result.command_id)).bind(2, std::int64_t{result.ok});
  q.bind(3, std::string_view(result.code)).bind(4, std::string_view(result.message));
  Status s = q.run();
  if (!s.ok() && s.error().code == ErrorCode::kAlreadyExists) {
    return make_error(ErrorCode::kAlreadyExists,
                      "command " + result.command_id + " was already executed");
  }
  return s;
}

Status Txn::put_setting(const std::string& key, const std::string& value) {
  Journal::Impl& impl = *journal_.impl_;
  RC_TRY(require_txn(impl));
  RC_STMT(q, impl, "INSERT OR REPLACE INTO settings(key, value) VALUES (?1, ?2)");
  q.bind(1, std::string_view(key)).bind(2, std::string_view(value));
  return q.run();
}

// ---- reads --------------------------------------------------------------------------------------

Result<std::vector<CompartmentRecord>> Journal::compartments() {
  auto lock = impl_->read_lock();
  RC_STMT(q, *impl_,
          "SELECT id, state, token_id, action, order_ref, command_id, since_ms, occupied "
          "FROM compartments ORDER BY id");
  std::vector<CompartmentRecord> out;
  while (true) {
    RC_ASSIGN_OR_RETURN(const bool row, q.step());
    if (!row) break;
    CompartmentRecord r;
    r.id = static_cast<int>(q.int64(0));
    r.state = q.text(1);
    r.token_id = q.opt_text(2);
    RC_ASSIGN_OR_RETURN(r.action, action_column(q, 3, "compartment " + std::to_string(r.id)));
    if (!q.is_null(4)) r.order_ref = from_db(q.int64(4));
    r.command_id = q.opt_text(5);
    r.since_ms = q.int64(6);
    r.occupied = q.int64(7) != 0;
    out.push_back(std::move(r));
  }
  return out;
}

Result<std::vector<msg::Reservation>> Journal::reservations() {
  auto lock = impl_->read_lock();
  RC_STMT(q, *impl_,
          "SELECT compartment, order_ref, action, until FROM reservations ORDER BY compartment");
  std::vector<msg::Reservation> out;
  while (true) {
    RC_ASSIGN_OR_RETURN(const bool row, q.step());
    if (!row) break;
    msg::Reservation r;
    r.compartment = static_cast<int>(q.int64(0));
    r.order_ref = from_db(q.int64(1));
    RC_ASSIGN_OR_RETURN(auto action,
                        action_column(q, 2, "reservation " + std::to_string(r.compartment)));
    if (!action) {
      return make_error(ErrorCode::kDataLoss, "reservation without an action");
    }
    r.action = *action;
    r.until = q.int64(3);
    out.push_back(r);
  }
  return out;
}

Result<bool> Journal::is_revoked(const std::string& token_id) {
  auto lock = impl_->read_lock();
  RC_STMT(q, *impl_, "SELECT 1 FROM revocations WHERE token_id = ?1");
  q.bind(1, std::string_view(token_id));
  return q.step();
}

Result<std::vector<std::string>> Journal::revocations() {
  auto lock = impl_->read_lock();
  RC_STMT(q, *impl_, "SELECT token_id FROM revocations ORDER BY token_id");
  std::vector<std::string> out;
  while (true) {
    RC_ASSIGN_OR_RETURN(const bool row, q.step());
    if (!row) break;
    out.push_back(q.text(0));
  }
  return out;
}

Result<bool> Journal::token_used(const std::string& token_id) {
  auto lock = impl_->read_lock();
  RC_STMT(q, *impl_, "SELECT 1 FROM used_tokens WHERE token_id = ?1");
  q.bind(1, std::string_view(token_id));
  return q.step();
}

Result<std::vector<UnlockIntent>> Journal::unlock_intents() {
  auto lock = impl_->read_lock();
  RC_STMT(q, *impl_,
          "SELECT compartment, token_id, command_id, event_seq, at_ms FROM unlock_intents "
          "ORDER BY compartment");
  std::vector<UnlockIntent> out;
  while (true) {
    RC_ASSIGN_OR_RETURN(const bool row, q.step());
    if (!row) break;
    UnlockIntent i;
    i.compartment = static_cast<int>(q.int64(0));
    i.token_id = q.opt_text(1);
    i.command_id = q.opt_text(2);
    i.event_seq = from_db(q.int64(3));
    i.at_ms = q.int64(4);
    out.push_back(std::move(i));
  }
  return out;
}

Result<std::optional<msg::CommandResult>> Journal::command_result(const std::string& command_id) {
  auto lock = impl_->read_lock();
  RC_STMT(q, *impl_, "SELECT ok, code, message FROM commands WHERE id = ?1");
  q.bind(1, std::string_view(command_id));
  RC_ASSIGN_OR_RETURN(const bool row, q.step());
  if (!row) return std::optional<msg::CommandResult>{};
  return std::optional<msg::CommandResult>(
      msg::CommandResult{command_id, q.int64(0) != 0, q.text(1), q.text(2)});
}

Result<std::optional<std::string>> Journal::setting(const std::string& key) {
  auto lock = impl_->read_lock();
  RC_STMT(q, *impl_, "SELECT value FROM settings WHERE key = ?1");
  q.bind(1, std::string_view(key));
  RC_ASSIGN_OR_RETURN(const bool row, q.step());
  if (!row) return std::optional<std::string>{};
  return std::optional<std::string>(q.text(0));
}

// ---- outbox -------------------------------------------------------------------------------------

Result<std::vector<msg::Event>> Journal::events_after(std::uint64_t after_seq, std::size_t limit) {
  auto lock = impl_->read_lock();
  RC_ASSIGN_OR_RETURN(const std::int64_t acked, meta_value(*impl_, "acked_upto"));
  const std::uint64_t from = std::max(after_seq, from_db(acked));
  std::vector<msg::Event> out;
  if (limit == 0) return out;
  RC_STMT(q, *impl_, "SELECT seq, body FROM outbox WHERE seq > ?1 ORDER BY seq LIMIT ?2");
  q.bind(1, to_db(std::min<std::uint64_t>(from, static_cast<std::uint64_t>(INT64_MAX))));
  // In 64 bits: on armhf size_t has 32, and min<size_t>(limit, INT64_MAX) narrowed INT64_MAX.
  q.bind(2, static_cast<std::int64_t>(std::min<std::uint64_t>(limit, INT64_MAX)));
  while (true) {
    RC_ASSIGN_OR_RETURN(const bool row, q.step());
    if (!row) break;
    RC_ASSIGN_OR_RETURN(msg::Event e, event_from_text(q.text(1), from_db(q.int64(0))));
    out.push_back(std::move(e));
  }
  return out;
}

Result<std::uint64_t> Journal::last_seq() {
  auto lock = impl_->read_lock();
  RC_ASSIGN_OR_RETURN(const std::int64_t next, meta_value(*impl_, "next_seq"));
  return from_db(next) - 1;
}

Result<std::uint64_t> Journal::acked_upto() {
  auto lock = impl_->read_lock();
  RC_ASSIGN_OR_RETURN(const std::int64_t acked, meta_value(*impl_, "acked_upto"));
  return from_db(acked);
}

Result<std::uint64_t> Journal::backlog() {
  auto lock = impl_->read_lock();
  RC_ASSIGN_OR_RETURN(const std::int64_t next, meta_value(*impl_, "next_seq"));
  RC_ASSIGN_OR_RETURN(const std::int64_t acked, meta_value(*impl_, "acked_upto"));
  return from_db(next) - 1 - from_db(acked);
}

Status Journal::mark_acked(std::uint64_t upto) {
  return transact([&](Txn&) -> Status {
    RC_ASSIGN_OR_RETURN(const std::int64_t acked, meta_value(*impl_, "acked_upto"));
    if (upto <= from_db(acked)) return ok_status();
    RC_ASSIGN_OR_RETURN(const std::int64_t next, meta_value(*impl_, "next_seq"));
    const std::uint64_t last = from_db(next) - 1;
    if (upto > last) {
      return make_error(ErrorCode::kInvalidArgument, "ack up to seq " + std::to_string(upto) +
                                                         " but the last event is seq " +
                                                         std::to_string(last) + "; ignoring it");
    }
    return set_meta_value(*impl_, "acked_upto", to_db(upto));
  });
}

Result<std::size_t> Journal::prune(std::int64_t now_ms) {
  std::size_t deleted = 0;
  const std::int64_t retention_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(impl_->options.acked_retention).count();
  Status status = transact([&](Txn&) -> Status {
    RC_ASSIGN_OR_RETURN(const std::int64_t acked, meta_value(*impl_, "acked_upto"));
    {
      RC_STMT(q, *impl_, "DELETE FROM outbox WHERE seq <= ?1 AND at_ms < ?2");
      q.bind(1, acked).bind(2, now_ms - retention_ms);
      RC_TRY(q.run());
      deleted = static_cast<std::size_t>(sqlite3_changes(impl_->db));
    }
    // A used token can never be replayed after it expired (verify refuses it), so its id is kept
    // for one more day of clock leeway and then dropped.
    RC_STMT(t, *impl_, "DELETE FROM used_tokens WHERE expires < ?1");
    t.bind(1, now_ms / 1000 - kUsedTokenRetentionSeconds);
    return t.run();
  });
  RC_TRY(status);
  return deleted;
}

bool Journal::wait_for_events(std::uint64_t after_seq, std::chrono::milliseconds timeout) {
  std::unique_lock lock(impl_->seq_mu);
  return impl_->seq_cv.wait_for(lock, timeout,
                                [&] { return impl_->committed_last_seq > after_seq; });
}

}  // namespace reclothes::firmware
