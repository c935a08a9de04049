// The box's journal: one SQLite database (WAL, synchronous=FULL) that is the box's memory across
// power loss. It holds the event outbox, compartment states, used token ids, reservations,
// revocations, executed command ids, unlock intents and small settings.
//
// Rule: an event is written in the same transaction as the state change it describes, so after a
// crash either both are there or neither is.
//
// Threading: one Journal object is shared by the main loop (writes state + events) and the sync
// thread (reads unacked events, marks acks, records command results). All methods are
// thread-safe: a mutex serialises use of the single SQLite connection. Transactions are short.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "reclothes/common/messages.h"
#include "reclothes/common/result.h"

namespace reclothes::firmware {

struct JournalOptions {
  std::filesystem::path path;
  // synchronous=FULL for every commit (the product default). false only for benchmarks that
  // measure the difference; never in a box.
  bool durable = true;
  // Acked events are kept this long (for the state page and diagnostics) before pruning.
  std::chrono::hours acked_retention{24 * 7};
};

// Persisted state of one compartment; the state machine's memory.
struct CompartmentRecord {
  int id = 0;                           // 1-based
  std::string state;                    // the state machine's state name
  std::optional<std::string> token_id;  // the token of the visit in progress
  std::optional<TokenAction> action;
  std::optional<std::uint64_t> order_ref;
  std::optional<std::string> command_id;  // remote open in progress
  std::int64_t since_ms = 0;              // wall time of the last transition
  bool occupied = false;
  bool operator==(const CompartmentRecord&) const = default;
};

// An unlock that was committed but whose pulse has not been confirmed done. Written in the same
// transaction as the `unlocked` event, before the pulse; cleared after the pulse returns. One that
// survives a restart means the outcome is unknown: the box records `unlock_unknown` and never
// pulses again for it.
struct UnlockIntent {
  int compartment = 0;
  std::optional<std::string> token_id;
  std::optional<std::string> command_id;
  std::uint64_t event_seq = 0;
  std::int64_t at_ms = 0;
};

class Journal;

// A write transaction (BEGIN IMMEDIATE). Only valid inside Journal::transact(): a Txn kept past
// its transaction fails every call with kFailedPrecondition. Calling Journal::transact() again
// from inside fn fails with kFailedPrecondition (no nesting). The Journal's read methods may be
// called from inside fn and see the transaction's own writes.
class Txn {
 public:
  // Appends an event to the outbox; assigns and returns the next seq (the Event's seq field is
  // ignored). Seqs start at 1, have no gaps, and are never reused, even after pruning.
  Result<std::uint64_t> append_event(msg::Event event);

  Status save_compartment(const CompartmentRecord& record);

  // Single-use tokens: true if the id was already used. mark_token_used fails with
  // kAlreadyExists if it was.
  Result<bool> token_used(const std::string& token_id);
  Status mark_token_used(const std::string& token_id, std::int64_t expires_unix_s);

  Status put_reservation(const msg::Reservation& reservation);
  Status remove_reservation(int compartment);
  // Replaces all reservations (a config snapshot).
  Status replace_reservations(const std::vector<msg::Reservation>& reservations);
  Status add_revocations(const std::vector<std::string>& token_ids);
  Status replace_revocations(const std::vector<std::string>& token_ids);

  Status begin_unlock(const UnlockIntent& intent);
  Status end_unlock(int compartment);

  // Commands are executed at most once: record the result with the same transaction as the
  // command's effect. Fails with kAlreadyExists if the id was recorded before.
  Status record_command(const msg::CommandResult& result);

  // Small settings: config revision, maintenance flag, trusted keys JSON, ...
  Status put_setting(const std::string& key, const std::string& value);

 private:
  friend class Journal;
  explicit Txn(Journal& journal) : journal_(journal) {}
  Journal& journal_;
};

class Journal {
 public:
  // The schema this firmware writes (PRAGMA user_version). Older journals are migrated at open.
  static constexpr int kSchemaVersion = 1;
  // A used token id is kept this long after its token expired (prune() drops it then): an expired
  // token is refused by verification anyway, the extra day covers clock leeway.
  static constexpr std::int64_t kUsedTokenRetentionSeconds = 24 * 3600;

  // Opens or creates the database; sets WAL and synchronous; creates or migrates the schema.
  // Fails with kIo (cannot open / not writable / the directory does not exist: it is not
  // created, because a missing directory usually means an unmounted data partition), kDataLoss
  // (integrity check failed or not our database), kFailedPrecondition (written by a newer
  // firmware's schema), naming the path.
  static Result<std::unique_ptr<Journal>> open(const JournalOptions& options);
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  const std::filesystem::path& path() const;

  // Runs fn in one write transaction. If fn returns an error, or anything fails, the transaction
  // is rolled back and the error returned; nothing is half-written. Events appended inside wake
  // wait_for_events().
  Status transact(const std::function<Status(Txn&)>& fn);

  // ---- reads (any thread) ----
  Result<std::vector<CompartmentRecord>> compartments();
  Result<std::vector<msg::Reservation>> reservations();
  Result<bool> is_revoked(const std::string& token_id);
  Result<std::vector<std::string>> revocations();  // sorted
  Result<bool> token_used(const std::string& token_id);
  Result<std::vector<UnlockIntent>> unlock_intents();
  Result<std::optional<msg::CommandResult>> command_result(const std::string& command_id);
  Result<std::optional<std::string>> setting(const std::string& key);

  // ---- outbox (the sync thread) ----
  // Events with seq > after_seq that are not acked, in seq order, at most limit.
  Result<std::vector<msg::Event>> events_after(std::uint64_t after_seq, std::size_t limit);
  Result<std::uint64_t> last_seq();    // 0 if no event was ever written
  Result<std::uint64_t> acked_upto();  // 0 if nothing was acked
  Result<std::uint64_t> backlog();     // last_seq - acked_upto
  // Cumulative ack. Lower or equal values are ignored (acks may arrive late or twice); a value
  // above last_seq is refused with kInvalidArgument (a controller bug must not drop events).
  Status mark_acked(std::uint64_t upto);
  // Deletes acked events older than the retention (by their at_ms) and returns how many. Never
  // deletes an unacked event. Also drops used token ids whose token expired more than
  // kUsedTokenRetentionSeconds ago.
  Result<std::size_t> prune(std::int64_t now_ms);

  // Blocks until an event with seq > after_seq exists or timeout passes; true if one exists.
  bool wait_for_events(std::uint64_t after_seq, std::chrono::milliseconds timeout);

  struct Impl;  // opaque; defined in journal.cpp

 private:
  friend class Txn;
  explicit Journal(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace reclothes::firmware
