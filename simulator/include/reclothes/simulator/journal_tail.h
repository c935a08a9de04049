// A read-only view of a box journal's outbox, acked events included, for the box page's event list
// and for scenario expectations ("expect event access_completed").
//
// Why not Journal::events_after()? It returns only unacked events, and with a controller attached
// an event may be acked a few milliseconds after it is written, before the simulator looks. So the
// tail opens its own read-only SQLite connection and reads the outbox table directly. This couples
// the simulator to the journal's outbox schema (seq, kind, body, at_ms; body = the event's wire
// JSON); a Journal::recent_events(limit) in the firmware would remove that coupling.
//
// Threading: one JournalTail per thread (it owns one connection, used without a lock).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "reclothes/common/result.h"

struct sqlite3;

namespace reclothes::simulator {

struct JournalEvent {
  std::uint64_t seq = 0;
  std::string kind;  // "unlocked", "scan_rejected", ...
  std::int64_t at_ms = 0;
  nlohmann::json body;  // the event as the controller receives it (kind, compartment, reason, ...)
};

class JournalTail {
 public:
  // kNotFound if the journal does not exist yet, kIo if SQLite cannot open it.
  static Result<std::unique_ptr<JournalTail>> open(const std::filesystem::path& path);
  ~JournalTail();
  JournalTail(const JournalTail&) = delete;
  JournalTail& operator=(const JournalTail&) = delete;

  // Events with seq > after, oldest first, at most limit (pruned events are gone).
  Result<std::vector<JournalEvent>> after(std::uint64_t after, std::size_t limit);
  // The newest `count` events, oldest first.
  Result<std::vector<JournalEvent>> latest(std::size_t count);
  // The journal's last seq and acked seq (meta table).
  Result<std::uint64_t> last_seq();
  Result<std::uint64_t> acked_upto();

 private:
  JournalTail(sqlite3* db, std::filesystem::path path) : db_(db), path_(std::move(path)) {}
  Result<std::vector<JournalEvent>> query(const char* sql, std::int64_t a, std::int64_t b);
  Result<std::uint64_t> meta(const char* key);

  sqlite3* db_;
  std::filesystem::path path_;
};

}  // namespace reclothes::simulator
