// Applying box event batches exactly once.
//
// One PostgreSQL transaction per batch:
//   SELECT ... FROM boxes WHERE id = $1 FOR UPDATE   (serialises replicas per box)
//   for each event in seq order:
//     seq <= last_applied_seq      -> duplicate, skipped
//     seq >  last_applied_seq + 1  -> gap: stop, nothing after it is applied
//     otherwise                     -> INSERT box_events (PRIMARY KEY (box_id, seq)) and run every
//                                      hook registered for its kind, in the same transaction
//   UPDATE boxes SET last_applied_seq; COMMIT
// box_events.payload holds each event as msg::event_json() encodes it: the wire's shape.
// The caller then acks `upto = last_applied_seq` (also for all-duplicate batches, so a box whose
// ack was lost moves on). A hook error rolls the whole batch back and nothing is acked; the box
// redelivers later.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "reclothes/common/messages.h"
#include "reclothes/common/result.h"
#include "reclothes/controller/db.h"

namespace reclothes::controller {

struct BoxEventContext {
  const std::string& box_id;
  std::int64_t now_ms;  // controller clock
};

// An effect of one event kind. Runs inside the batch's transaction; returning an error (or
// throwing) rolls the batch back.
using EventHook = std::function<Status(pqxx::work&, const BoxEventContext&, const msg::Event&)>;

struct ApplyOutcome {
  enum class Kind { kApplied, kUnknownBox, kDecommissioned };
  Kind kind = Kind::kApplied;
  std::uint64_t ack_upto = 0;  // last_applied_seq after the batch (send as Ack.upto)
  int applied = 0;
  int duplicates = 0;
  bool gap = false;  // events after a missing seq were left for redelivery
  // Events naming a compartment the box does not have: never applied (not stored, no hook ran),
  // but their seqs count as done so the box is acked and not stuck. Each is {seq, compartment}.
  std::vector<std::pair<std::uint64_t, int>> unknown_compartment;
};

class EventApplier {
 public:
  // Registers an effect for a kind; several hooks per kind run in registration order.
  // Not thread-safe: register everything before the bridge starts.
  void on(msg::EventKind kind, EventHook hook);

  // Thread-safe (each call uses its own pooled connection).
  Result<ApplyOutcome> apply(Database& db, const std::string& box_id, const msg::Events& batch,
                             std::int64_t now_ms) const;

 private:
  std::map<msg::EventKind, std::vector<EventHook>> hooks_;
};

// The core's own effects: door and compartment state, faults (jammed, forced, ajar, tamper,
// out_of_service, unlock_unknown) opened and cleared, commands marked executed.
void register_core_event_hooks(EventApplier& applier);

}  // namespace reclothes::controller
