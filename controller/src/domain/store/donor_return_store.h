// Donor returns (reverse donating), the SQL side: a donor asks for a donated item back, staff
// approve or refuse. An approved request becomes a buying order of kind donor_return (total 0,
// born paid) with a packing order, so packing, shipping to the box the donor chose and pickup are
// the buying flow's own; the reward coins earned for the item are taken back (coins_store.h).
// docs/orders.md, "Donor returns".
//
// An item can be asked back while it is in the warehouse and not for sale: its donation is
// completed (every item checked), the item was graded publish, and its product is available and
// unpriced (not listed). A recycled, listed, reserved or sold item is refused with a 409.
//
// Every function is an edge (guarded): database errors come back as a DomainError.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <string>

#include "context.h"
#include "outcome.h"
#include "reclothes/controller/domain/state_machines.h"

namespace reclothes::controller::domain {

struct DonorReturnRequest {
  std::int64_t customer_id = 0;
  std::int64_t donation_id = 0;
  int position = 0;              // the item's position in the donation (1..20)
  std::int64_t location_id = 0;  // where the donor wants to pick it up
  std::string note;
};

// The donor's request (state requested). Refusals: not_found "donation", not_owner "donation",
// not_found "item N", not_found "location N", conflict item_not_checked {donation_state},
// item_recycled, item_published {product_status, listed}, already_requested {donor_return_id}.
StoreResult<nlohmann::json> request_donor_return(pqxx::work& tx, const DonorReturnRequest& req,
                                                 std::int64_t now_ms);

// The customer's own requests, newest first (at most 200).
StoreResult<nlohmann::json> list_own_donor_returns(pqxx::work& tx, std::int64_t customer_id);

// Staff: requests, newest first, optionally in one state (limit 1..200).
StoreResult<nlohmann::json> list_donor_returns(pqxx::work& tx,
                                               std::optional<DonorReturnState> state,
                                               std::int64_t limit);

// A decision, with the request's audit images.
struct DonorReturnDecision {
  nlohmann::json before;
  nlohmann::json after;
};

// Approves: the buying order (kind donor_return, paid, total 0) and its packing order, the
// product reserved for it, the reward coins of the item taken back, the donor notified.
// Refusals: not_found "donor return", illegal_transition, the item refusals of
// request_donor_return, conflict location_unavailable.
StoreResult<DonorReturnDecision> approve_donor_return(const DomainContext& d, pqxx::work& tx,
                                                      std::int64_t id, std::int64_t staff_id,
                                                      std::int64_t now_ms);

// Refuses with the staff member's reason; the donor is notified. Refusals: not_found
// "donor return", illegal_transition.
StoreResult<DonorReturnDecision> refuse_donor_return(pqxx::work& tx, std::int64_t id,
                                                     std::int64_t staff_id,
                                                     const std::string& reason,
                                                     std::int64_t now_ms);

}  // namespace reclothes::controller::domain
