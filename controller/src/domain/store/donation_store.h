// The donating orders' store: create (compartment + deposit token), read, list, cancel, and the
// deposit token of a reserved donation. Every function takes the caller's transaction and plain
// values and returns a DomainError instead of throwing (guarded(), outcome.h). What must be
// published after commit (the box's config, a revoke command) comes back in the result; the
// store never publishes.
//
// The module's box-event hooks (on_deposit, on_courier_collect, on_fill_level) and worker passes
// (expire_donations, warn_expiring_donations) are declared in shared.h and defined in
// donation_store.cpp; they run inside the event batch's or the worker's transaction, which is
// their edge (an exception there rolls that transaction back).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "context.h"
#include "outcome.h"
#include "reclothes/common/messages.h"

namespace reclothes::controller::domain {

struct DonationItem {
  std::string category;  // a known category (rules.h find_category)
  int count = 1;
  std::string condition_notes;
};

struct NewDonation {
  std::int64_t customer_id = 0;
  std::int64_t location_id = 0;
  std::vector<DonationItem> items;  // in the donor's order (positions 1..n)
};

// A donation after a change, and what the route publishes after commit.
struct DonationChange {
  nlohmann::json donation;             // donation_json with the token
  std::string box_id;                  // whose config changed (publish it)
  std::optional<msg::Command> revoke;  // cancel: the revoke command for box_id
};

// Reserves a compartment of the smallest fitting size at the location and issues a deposit token
// valid for donations.reservation. Refusals: invalid donation_too_large (even XL is too small),
// not_found "location <id>", conflict no_compartment_available {location_id, size_class}, and the
// token service's errors.
StoreResult<DonationChange> create_donation(DomainContext& d, pqxx::work& tx,
                                            const NewDonation& req, std::int64_t now_ms);

// The customer's donations, newest first (at most 200), as a JSON array.
StoreResult<nlohmann::json> list_donations(pqxx::work& tx, std::int64_t customer_id);

// One donation of the customer. Refusals: not_found "donation", not_owner (another customer's).
StoreResult<nlohmann::json> get_donation(pqxx::work& tx, std::int64_t customer_id, std::int64_t id);

// Cancels a reserved donation: frees its compartment, revokes its token (the revoke command comes
// back for the route to publish). Refusals: as get_donation, and illegal_transition.
StoreResult<DonationChange> cancel_donation(DomainContext& d, pqxx::work& tx,
                                            std::int64_t customer_id, std::int64_t id,
                                            std::int64_t now_ms);

// The text of a reserved donation's deposit token (for its QR code). Refusals: as get_donation,
// and conflict no_token when the donation is not reserved any more.
StoreResult<std::string> deposit_token_text(pqxx::work& tx, std::int64_t customer_id,
                                            std::int64_t id);

}  // namespace reclothes::controller::domain
