// The store's building blocks shared by the domain's modules: compartment allocation and holds,
// box reservations and commands, notifications, coins, internal-order creation, and the JSON
// views of orders. All take the caller's transaction and the controller clock's time, and throw
// on database errors: they are called inside store functions whose edge is guarded()
// (outcome.h). Nothing here knows HTTP.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <string_view>
#include <vector>

#include "context.h"
#include "outcome.h"
#include "reclothes/common/messages.h"
#include "reclothes/controller/domain/rules.h"
#include "reclothes/controller/domain/state_machines.h"
#include "reclothes/controller/events.h"

namespace reclothes::controller::domain {

nlohmann::json nullable_ts(const pqxx::field& f);  // ms column -> RFC 3339 or null
nlohmann::json nullable_int(const pqxx::field& f);
nlohmann::json nullable_str(const pqxx::field& f);

// ---- compartments -------------------------------------------------------------------------------

struct Allocation {
  std::string box_id;
  int compartment = 0;
  std::string size_class;
};

// The SQL condition under which compartment `c` (compartments) of box `b` (boxes) is free for
// allocation, with the time as the parameter now_param ("$3"): the one notion of "free" that
// allocate_compartment and the public location listing share.
std::string free_compartment_sql(std::string_view now_param);

// Finds a free compartment of one of `sizes` (smallest first) at an active box of the location
// that is not in maintenance, has no open fault and no domain hold, and holds it for
// (order_id, purpose) in phase "reserved". Concurrent callers skip each other's candidates
// (FOR UPDATE SKIP LOCKED); the hold's primary key is the final guard. nullopt: none free.
std::optional<Allocation> allocate_compartment(pqxx::work& tx, std::int64_t location_id,
                                               const std::vector<std::string>& sizes,
                                               std::int64_t order_id, const std::string& purpose,
                                               std::int64_t now_ms);
// Whether the location has at least one active box.
// Worker passes lock the box first (as event application does) and skip a box another replica or
// an event batch is busy with: the next pass takes it. False: skipped.
bool try_lock_box(pqxx::work& tx, const std::string& box_id);
bool location_has_active_box(pqxx::work& tx, std::int64_t location_id);
void set_hold_filled(pqxx::work& tx, const std::string& box_id, int compartment,
                     std::int64_t now_ms);
void release_hold(pqxx::work& tx, const std::string& box_id, int compartment,
                  std::int64_t order_id);

// The reservation the box gets in its retained config (compartment_reservations).
void reserve_at_box(pqxx::work& tx, const std::string& box_id, int compartment,
                    std::int64_t order_ref, TokenAction action, std::int64_t until_ms);
void drop_reservation(pqxx::work& tx, const std::string& box_id, int compartment,
                      std::int64_t order_ref);

// Records a revoke command in box_commands (publish it after commit).
msg::Command record_revoke_command(pqxx::work& tx, const std::string& box_id,
                                   const std::vector<std::string>& token_ids,
                                   const std::string& reason, std::int64_t now_ms);
// The worker republishes these boxes' configs (for changes made inside event hooks).
void mark_config_dirty(pqxx::work& tx, const std::string& box_id);

// ---- outbox, coins ------------------------------------------------------------------------------

// Queues a notification in the caller's transaction. A dedup_key makes repeated causes queue it
// once.
void notify(pqxx::work& tx, const std::string& recipient_kind, std::int64_t recipient_id,
            const std::string& kind, const nlohmann::json& payload, std::int64_t now_ms,
            const std::optional<std::string>& dedup_key = std::nullopt);

// Adds a ledger record once per (reason, ref_kind, ref_id); returns false if it existed.
bool award_coins(pqxx::work& tx, std::int64_t customer_id, int delta, const std::string& reason,
                 const std::string& ref_kind, std::int64_t ref_id, std::int64_t now_ms);
std::int64_t coin_balance(pqxx::work& tx, std::int64_t customer_id);

// ---- internal orders ----------------------------------------------------------------------------

// "RC-" + 10 characters of Crockford base32 from 50 random bits.
std::string new_tracking_code();
std::string new_coupon_code();

std::int64_t create_internal_order(pqxx::work& tx, TaskKind kind,
                                   const std::optional<std::string>& source_kind,
                                   std::optional<std::int64_t> source_id,
                                   const std::optional<std::string>& box_id,
                                   const std::vector<int>& compartments, bool with_tracking_code,
                                   const std::optional<std::string>& trigger, std::int64_t now_ms);
// Locks an internal order and moves it by the machine. Errors: kNotFound, or the TransitionError.
Result<TaskState, TransitionError> advance_task(pqxx::work& tx, std::int64_t id, TaskEvent event,
                                                std::int64_t now_ms);

// Makes a collecting order for the box's filled donation/return compartments that no collecting
// order covers yet, if `force` or the count reaches the threshold. Returns its id.
std::optional<std::int64_t> maybe_create_collecting(pqxx::work& tx, const DomainConfig& config,
                                                    const std::string& box_id,
                                                    const std::string& trigger, bool force,
                                                    std::int64_t now_ms);

// Checking order for a collected donation or return.
std::int64_t create_checking_for_donation(pqxx::work& tx, std::int64_t donation_id,
                                          std::int64_t now_ms);
std::int64_t create_checking_for_return(pqxx::work& tx, std::int64_t order_id, std::int64_t now_ms);

// ---- buying orders moved by internal orders (store/buying_events.cpp) ---------------------------

// Packing done: the order is packed, a pickup compartment is reserved at its pickup location and
// a shipping order made. Returns the box whose config changes (publish it after commit).
// Refusals: not_found "order", illegal_transition, conflict no_compartment_available.
// (complete_packing, the same with the refusal as the API's error, is in routes/route_common.h.)
StoreResult<std::string> pack_order(DomainContext& d, pqxx::work& tx, std::int64_t order_id,
                                    std::int64_t now);
// The first courier assignment of a shipping order: the parcel is on its way (ignored, with a
// debug log, when the order cannot take it).
void dispatch_order(DomainContext& d, pqxx::work& tx, std::int64_t order_id, std::int64_t now);
// The return's checking is done: refund by grade (buying.return_refund_percent_by_grade), never
// more than is left to refund (customer service may have refunded part), and take back the
// purchase coins of what is paid back. Returns the refund payment id (attempt it after commit;
// 0 when the refund is nothing), or the TransitionError.
Result<std::int64_t, TransitionError> refund_return(DomainContext& d, pqxx::work& tx,
                                                    std::int64_t order_id, std::int64_t now);

// ---- payments -----------------------------------------------------------------------------------

// Tries one pending charge or refund (by payments.id) with the provider, outside any
// transaction, and records the outcome (with its effects on the order) in a transaction of its
// own. Returns true when the payment reached a final state. Safe to call concurrently: the
// attempt is claimed first (next_attempt_at moves forward), and the idempotency key makes a
// duplicate call harmless at the provider anyway.
// force: the caller created the payment and holds its first attempt (ignore next_attempt_at).
Result<bool> attempt_payment(DomainContext& d, std::int64_t payment_id, bool force);

// Worker passes (donations.cpp, buying.cpp). Each returns the boxes whose config changed.
std::vector<std::string> expire_donations(DomainContext& d, pqxx::work& tx, std::int64_t now,
                                          int* expired);
int warn_expiring_donations(DomainContext& d, pqxx::work& tx, std::int64_t now);
std::vector<std::string> expire_returns(DomainContext& d, pqxx::work& tx, std::int64_t now,
                                        int* expired);

// Box-event effects (run inside the event batch's transaction).
Status on_access_completed(DomainContext& d, pqxx::work& tx, const BoxEventContext& ctx,
                           const msg::Event& e);
Status on_fill_level(DomainContext& d, pqxx::work& tx, const BoxEventContext& ctx,
                     const msg::Event& e);
Status on_deposit(DomainContext& d, pqxx::work& tx, const BoxEventContext& ctx,
                  const msg::Event& e);
Status on_courier_collect(DomainContext& d, pqxx::work& tx, const BoxEventContext& ctx,
                          const msg::Event& e);
Status on_courier_load(DomainContext& d, pqxx::work& tx, const BoxEventContext& ctx,
                       const msg::Event& e);
Status on_pickup(DomainContext& d, pqxx::work& tx, const BoxEventContext& ctx, const msg::Event& e);
Status on_return(DomainContext& d, pqxx::work& tx, const BoxEventContext& ctx, const msg::Event& e);

// One page of products (product_json of each) and how many match over all pages.
struct ProductPage {
  nlohmann::json items = nlohmann::json::array();
  std::int64_t total = 0;
};

// Customer-facing order JSON (also used by the GDPR export).
nlohmann::json donation_json(pqxx::work& tx, std::int64_t id, bool with_token);
nlohmann::json buying_order_json(pqxx::work& tx, std::int64_t id, bool with_tokens);
nlohmann::json product_json(const pqxx::row& row);
extern const std::string kProductColumns;

}  // namespace reclothes::controller::domain
