// The location store: the public drop-off point search (GET /v1/locations) and the staff edit of
// a location's coordinates and opening notes. HTTP-free: refusals are DomainErrors (outcome.h).
// Distances, bounds and the order of results are pure rules (reclothes/controller/domain/geo.h);
// "free" is the allocation's own condition (shared.h, free_compartment_sql).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <string>

#include "outcome.h"
#include "reclothes/controller/domain/geo.h"

namespace reclothes::controller::domain {

// A validated search.
struct LocationQuery {
  std::optional<GeoPoint> near;     // with radius_m: only locations within it, nearest first
  double radius_m = 0;              // used only with near
  std::optional<std::string> size;  // a size class: only locations that could take it now
  std::int64_t limit = 20;
  std::int64_t offset = 0;
};

struct LocationPage {
  nlohmann::json items = nlohmann::json::array();
  std::int64_t total = 0;  // matches over all pages
};

// Locations with at least one active box, each with id, name, address, lat, lon, opening_notes,
// distance_m (with near), its active boxes (id, online, in_service, free compartments per size)
// and the location's free compartments per size. Decommissioned and never-activated boxes, fault
// details and other staff-only fields are never part of it.
StoreResult<LocationPage> search_locations(pqxx::transaction_base& tx, const LocationQuery& q,
                                           std::int64_t now_ms);

// What staff may change of a location here: each optional; at is both coordinates.
struct LocationEdit {
  std::optional<GeoPoint> at;
  std::optional<std::string> opening_notes;  // up to 1000 characters
};
struct LocationChange {
  nlohmann::json before;  // the staff view of the location (fleet.h get_location)
  nlohmann::json after;
};
// Errors: not_found "location".
StoreResult<LocationChange> update_location(pqxx::work& tx, std::int64_t id,
                                            const LocationEdit& edit, std::int64_t now_ms);

}  // namespace reclothes::controller::domain
