#include "reclothes/controller/events.h"

#include <algorithm>

namespace reclothes::controller {
namespace {

// "1,2,3" (string_agg of compartment numbers, in order) as a list.
std::vector<int> compartment_numbers(const std::string& csv) {
  std::vector<int> out;
  std::size_t start = 0;
  while (start < csv.size()) {
    std::size_t end = csv.find(',', start);
    if (end == std::string::npos) end = csv.size();
    out.push_back(std::stoi(csv.substr(start, end - start)));
    start = end + 1;
  }
  return out;
}

}  // namespace

void EventApplier::on(msg::EventKind kind, EventHook hook) {
  hooks_[kind].push_back(std::move(hook));
}

Result<ApplyOutcome> EventApplier::apply(Database& db, const std::string& box_id,
                                         const msg::Events& batch, std::int64_t now_ms) const {
  std::vector<const msg::Event*> events;
  for (const auto& e : batch.events) events.push_back(&e);
  std::sort(events.begin(), events.end(),
            [](const msg::Event* a, const msg::Event* b) { return a->seq < b->seq; });

  return db.with_transaction([&](pqxx::work& tx) -> Result<ApplyOutcome> {
    ApplyOutcome out;
    // With the box's compartment numbers: an event may only name one of them.
    const auto rows = exec_hot(
        tx, "apply_lock_box",
        "SELECT status, last_applied_seq, (SELECT COALESCE(string_agg(number::text, ',' ORDER BY "
        "number), '') "
        "FROM compartments c WHERE c.box_id = b.id) FROM boxes b WHERE id = $1 FOR UPDATE OF b",
        box_id);
    if (rows.empty()) {
      out.kind = ApplyOutcome::Kind::kUnknownBox;
      return out;
    }
    if (rows[0][0].as<std::string>() == "decommissioned") {
      out.kind = ApplyOutcome::Kind::kDecommissioned;
      return out;
    }
    auto last = rows[0][1].as<std::uint64_t>();
    const std::vector<int> compartments = compartment_numbers(rows[0][2].as<std::string>());
    const BoxEventContext ctx{box_id, now_ms};
    // The applied events go in with one statement after the loop (the hooks do not read
    // box_events): one round trip per batch instead of one per event.
    nlohmann::json rows_to_insert = nlohmann::json::array();
    for (const auto* e : events) {
      if (e->seq <= last) {
        ++out.duplicates;
        continue;
      }
      if (e->seq != last + 1) {
        out.gap = true;
        break;
      }
      if (e->compartment &&
          !std::binary_search(compartments.begin(), compartments.end(), *e->compartment)) {
        out.unknown_compartment.emplace_back(e->seq, *e->compartment);
        last = e->seq;
        continue;
      }
      nlohmann::json row = {{"seq", e->seq},
                            {"kind", msg::to_string(e->kind)},
                            {"at", ts(e->at_ms)},
                            {"compartment", nullptr},
                            // The wire's own encoding: what is stored is what the box sent.
                            {"payload", msg::event_json(*e)}};
      if (e->compartment) row["compartment"] = *e->compartment;
      rows_to_insert.push_back(std::move(row));
      if (const auto it = hooks_.find(e->kind); it != hooks_.end()) {
        for (const auto& hook : it->second) {
          auto s = hook(tx, ctx, *e);
          if (!s.ok()) {
            return std::move(s).error().with_context("event " + std::to_string(e->seq) + " (" +
                                                     std::string(msg::to_string(e->kind)) + ")");
          }
        }
      }
      last = e->seq;
      ++out.applied;
    }
    if (out.applied > 0 || !out.unknown_compartment.empty()) {
      exec_hot(tx, "apply_insert_events",
               "INSERT INTO box_events (box_id, seq, kind, at, compartment, payload, applied_at) "
               "SELECT $1, x.seq, x.kind, x.at::timestamptz, x.compartment, x.payload, "
               "$3::timestamptz FROM jsonb_to_recordset($2::jsonb) AS x(seq bigint, kind text, "
               "at text, compartment int, payload jsonb)",
               box_id,
               rows_to_insert.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
               ts(now_ms));
      exec_hot(tx, "apply_last_seq", "UPDATE boxes SET last_applied_seq = $2 WHERE id = $1", box_id,
               static_cast<std::int64_t>(last));
    }
    out.ack_upto = last;
    return out;
  });
}

namespace {

Status open_fault(pqxx::work& tx, const BoxEventContext& ctx, const msg::Event& e,
                  std::string_view kind) {
  exec_hot(tx, "apply_open_fault",
           "INSERT INTO box_faults (box_id, compartment, kind, event_seq, opened_at, detail) "
           "VALUES ($1, $2, $3, $4, $5::timestamptz, $6)",
           ctx.box_id, e.compartment, std::string(kind), static_cast<std::int64_t>(e.seq),
           ts(ctx.now_ms), e.detail ? e.detail : e.reason);
  return ok_status();
}

void clear_faults(pqxx::work& tx, const BoxEventContext& ctx, std::optional<int> compartment,
                  std::string_view kinds_sql) {
  exec_hot(tx, "apply_clear_faults " + std::string(kinds_sql),
           "UPDATE box_faults SET cleared_at = $3::timestamptz WHERE box_id = $1 AND "
           "cleared_at IS NULL AND compartment IS NOT DISTINCT FROM $2 AND kind IN (" +
               std::string(kinds_sql) + ")",
           ctx.box_id, compartment, ts(ctx.now_ms));
}

void set_compartment(pqxx::work& tx, const BoxEventContext& ctx, const msg::Event& e,
                     std::optional<std::string> state, std::optional<bool> door_open) {
  if (!e.compartment) return;
  exec_hot(tx, "apply_set_compartment",
           "UPDATE compartments SET state = COALESCE($3, state), door_open = COALESCE($4, "
           "door_open), updated_at = $5::timestamptz WHERE box_id = $1 AND number = $2",
           ctx.box_id, *e.compartment, state, door_open, ts(ctx.now_ms));
}

void mark_command_executed(pqxx::work& tx, const BoxEventContext& ctx, const msg::Event& e) {
  if (!e.command_id) return;
  exec_hot(tx, "apply_command_executed",
           "UPDATE box_commands SET executed_seq = $3 WHERE id = $1 AND box_id = $2 AND "
           "executed_seq IS NULL",
           *e.command_id, ctx.box_id, static_cast<std::int64_t>(e.seq));
}

}  // namespace

void register_core_event_hooks(EventApplier& applier) {
  using K = msg::EventKind;
  applier.on(K::kDoorOpened, [](pqxx::work& tx, const BoxEventContext& ctx, const msg::Event& e) {
    set_compartment(tx, ctx, e, "open", true);
    return ok_status();
  });
  applier.on(K::kDoorClosed, [](pqxx::work& tx, const BoxEventContext& ctx, const msg::Event& e) {
    std::optional<std::string> state;
    if (e.occupied) state = *e.occupied ? "occupied" : "free";
    set_compartment(tx, ctx, e, state, false);
    clear_faults(tx, ctx, e.compartment, "'ajar', 'forced'");
    return ok_status();
  });
  applier.on(K::kUnlocked, [](pqxx::work& tx, const BoxEventContext& ctx, const msg::Event& e) {
    set_compartment(tx, ctx, e, "unlocked", std::nullopt);
    clear_faults(tx, ctx, e.compartment, "'jammed'");
    mark_command_executed(tx, ctx, e);
    return ok_status();
  });
  applier.on(K::kCommandExecuted,
             [](pqxx::work& tx, const BoxEventContext& ctx, const msg::Event& e) {
               mark_command_executed(tx, ctx, e);
               return ok_status();
             });
  applier.on(K::kJammed, [](pqxx::work& tx, const BoxEventContext& ctx, const msg::Event& e) {
    set_compartment(tx, ctx, e, "jammed", std::nullopt);
    return open_fault(tx, ctx, e, "jammed");
  });
  applier.on(K::kForced, [](pqxx::work& tx, const BoxEventContext& ctx, const msg::Event& e) {
    set_compartment(tx, ctx, e, "forced", true);
    return open_fault(tx, ctx, e, "forced");
  });
  applier.on(K::kAjar, [](pqxx::work& tx, const BoxEventContext& ctx, const msg::Event& e) {
    set_compartment(tx, ctx, e, "ajar", true);
    return open_fault(tx, ctx, e, "ajar");
  });
  applier.on(K::kUnlockUnknown,
             [](pqxx::work& tx, const BoxEventContext& ctx, const msg::Event& e) {
               return open_fault(tx, ctx, e, "unlock_unknown");
             });
  applier.on(K::kOutOfService, [](pqxx::work& tx, const BoxEventContext& ctx, const msg::Event& e) {
    // The firmware's detail says whether the compartment went out of service or came back
    // ("back in service[: reason]", firmware/src/core/compartment.cpp).
    const bool back = e.detail && e.detail->rfind("back in service", 0) == 0;
    if (back) {
      clear_faults(tx, ctx, e.compartment, "'out_of_service'");
      return ok_status();
    }
    set_compartment(tx, ctx, e, "out_of_service", std::nullopt);
    return open_fault(tx, ctx, e, "out_of_service");
  });
  applier.on(K::kTamper, [](pqxx::work& tx, const BoxEventContext& ctx, const msg::Event& e) {
    // The firmware says "service panel closed" when the switch is back to normal; anything else
    // ("service panel opened", "tamper switch unreadable: ...") counts as tampered.
    const bool cleared = e.detail && *e.detail == "service panel closed";
    if (cleared) {
      clear_faults(tx, ctx, std::nullopt, "'tamper'");
      return ok_status();
    }
    return open_fault(tx, ctx, e, "tamper");
  });
  applier.on(K::kFillLevel, [](pqxx::work& tx, const BoxEventContext& ctx, const msg::Event& e) {
    if (e.compartment && e.fill_percent) {
      exec_hot(tx, "apply_fill_level",
               "UPDATE compartments SET fill_percent = $3, updated_at = $4::timestamptz "
               "WHERE box_id = $1 AND number = $2",
               ctx.box_id, *e.compartment, *e.fill_percent, ts(ctx.now_ms));
    }
    return ok_status();
  });
}

}  // namespace reclothes::controller
