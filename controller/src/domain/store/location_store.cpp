// The location store (location_store.h): two statements per search, whatever the page. The
// first reads the candidates (id and coordinates of every location with an active box that
// passes the size filter and the bounding box of the radius); the pure rule ranks them by exact
// great-circle distance and the page is cut in C++; the second reads the page's locations with
// their boxes and free compartments.
#include "location_store.h"

#include <map>

#include "reclothes/controller/db.h"
#include "reclothes/controller/domain/rules.h"
#include "reclothes/controller/fleet.h"
#include "shared.h"

namespace reclothes::controller::domain {
namespace {

// A PostgreSQL array literal of plain words (size classes, ids): no quoting needed.
template <typename T>
std::string location_array_literal(const std::vector<T>& values) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) out += ',';
    if constexpr (std::is_same_v<T, std::string>) {
      out += values[i];
    } else {
      out += std::to_string(values[i]);
    }
  }
  return out + "}";
}

// $1 now, $2 the sizes that fit (NULL: any), $3..$6 the bounding box (NULL: no point), $7
// whether its longitudes wrap. With the values known at planning (unnamed statement), the NULL
// branches fold away and the box reads locations_lat_lon_idx.
std::string location_candidates_sql() {
  return "SELECT l.id, l.lat, l.lon FROM locations l "
         "WHERE EXISTS (SELECT 1 FROM boxes b WHERE b.location_id = l.id AND b.status = 'active') "
         "AND ($3::float8 IS NULL OR (l.lat BETWEEN $3::float8 AND $4::float8 AND "
         "CASE WHEN $7::boolean THEN (l.lon >= $5::float8 OR l.lon <= $6::float8) "
         "ELSE l.lon BETWEEN $5::float8 AND $6::float8 END)) "
         "AND ($2::text[] IS NULL OR EXISTS (SELECT 1 FROM compartments c JOIN boxes b ON "
         "b.id = c.box_id WHERE b.location_id = l.id AND c.size_class = ANY($2::text[]) AND " +
         free_compartment_sql("$1") + ")) ORDER BY l.id";
}

std::vector<LocationCandidate> read_location_candidates(pqxx::transaction_base& tx,
                                                        const LocationQuery& q,
                                                        std::int64_t now_ms) {
  std::optional<std::string> sizes;
  if (q.size) sizes = location_array_literal(fitting_sizes(*q.size));
  std::optional<double> min_lat, max_lat, min_lon, max_lon;
  bool wraps = false;
  if (q.near) {
    // A hair wider than the exact box: the bounds travel as text, and the exact distance
    // decides anyway.
    constexpr double kSlackDeg = 1e-9;
    const auto b = bounds_around(*q.near, q.radius_m);
    min_lat = b.min_lat - kSlackDeg;
    max_lat = b.max_lat + kSlackDeg;
    min_lon = b.min_lon - kSlackDeg;
    max_lon = b.max_lon + kSlackDeg;
    wraps = b.wraps();
  }
  static const std::string kSql = location_candidates_sql();
  std::vector<LocationCandidate> out;
  for (const auto& row :
       tx.exec_params(kSql, ts(now_ms), sizes, min_lat, max_lat, min_lon, max_lon, wraps)) {
    LocationCandidate c{row[0].as<std::int64_t>(), std::nullopt};
    if (!row[1].is_null() && !row[2].is_null()) {
      c.at = GeoPoint{row[1].as<double>(), row[2].as<double>()};
    }
    out.push_back(c);
  }
  return out;
}

nlohmann::json location_coordinate(const pqxx::field& f) {
  return f.is_null() ? nlohmann::json() : nlohmann::json(f.as<double>());
}

// The public view of the page's locations, in the page's order.
nlohmann::json read_location_page(pqxx::transaction_base& tx,
                                  const std::vector<RankedLocation>& page, std::int64_t now_ms) {
  std::vector<std::int64_t> ids;
  for (const auto& r : page) ids.push_back(r.id);
  const auto id_array = location_array_literal(ids);
  std::map<std::int64_t, nlohmann::json> by_id;
  for (const auto& row :
       tx.exec_params("SELECT id, name, address, lat, lon, opening_notes FROM locations WHERE id = "
                      "ANY($1::bigint[])",
                      id_array)) {
    by_id[row[0].as<std::int64_t>()] = {
        {"id", row[0].as<std::int64_t>()},     {"name", row[1].as<std::string>()},
        {"address", row[2].as<std::string>()}, {"lat", location_coordinate(row[3])},
        {"lon", location_coordinate(row[4])},  {"opening_notes", row[5].as<std::string>()},
        {"boxes", nlohmann::json::array()},    {"free", nlohmann::json::object()}};
  }
  // One row per (box, size class): how many compartments are free by the allocation's rule.
  // A box in maintenance has none free (as for allocation) and says it is not in service.
  const auto rows = tx.exec_params(
      "SELECT b.location_id, b.id, b.online, NOT b.maintenance, c.size_class, "
      "count(*) FILTER (WHERE " +
          free_compartment_sql("$2") +
          ") FROM boxes b JOIN compartments c ON c.box_id = b.id "
          "WHERE b.location_id = ANY($1::bigint[]) AND b.status = 'active' "
          "GROUP BY b.location_id, b.id, b.online, b.maintenance, c.size_class "
          "ORDER BY b.location_id, b.id",
      id_array, ts(now_ms));
  for (const auto& row : rows) {
    auto& loc = by_id[row[0].as<std::int64_t>()];
    auto& boxes = loc["boxes"];
    const auto box_id = row[1].as<std::string>();
    if (boxes.empty() || boxes.back()["id"] != box_id) {
      boxes.push_back({{"id", box_id},
                       {"online", row[2].as<bool>()},
                       {"in_service", row[3].as<bool>()},
                       {"free", nlohmann::json::object()}});
    }
    const auto size = row[4].as<std::string>();
    const auto free = row[5].as<std::int64_t>();
    boxes.back()["free"][size] = free;
    loc["free"][size] = loc["free"].value(size, std::int64_t{0}) + free;
  }
  nlohmann::json items = nlohmann::json::array();
  for (const auto& r : page) {
    auto it = by_id.find(r.id);
    if (it == by_id.end()) continue;  // deleted between the two statements: cannot happen today
    if (r.distance_m) it->second["distance_m"] = static_cast<std::int64_t>(*r.distance_m + 0.5);
    items.push_back(std::move(it->second));
  }
  return items;
}

}  // namespace

StoreResult<LocationPage> search_locations(pqxx::transaction_base& tx, const LocationQuery& q,
                                           std::int64_t now_ms) {
  return guarded([&]() -> StoreResult<LocationPage> {
    const auto candidates = read_location_candidates(tx, q, now_ms);
    const auto ranked = rank_locations(candidates, q.near, q.radius_m);
    LocationPage page;
    page.total = static_cast<std::int64_t>(ranked.size());
    if (q.offset >= page.total) return page;
    const auto first = ranked.begin() + q.offset;
    const auto last = ranked.begin() + std::min(page.total, q.offset + q.limit);
    page.items = read_location_page(tx, std::vector<RankedLocation>(first, last), now_ms);
    return page;
  });
}

StoreResult<LocationChange> update_location(pqxx::work& tx, std::int64_t id,
                                            const LocationEdit& edit, std::int64_t now_ms) {
  return guarded([&]() -> StoreResult<LocationChange> {
    if (tx.exec_params("SELECT 1 FROM locations WHERE id = $1 FOR UPDATE", id).empty()) {
      return DomainError::not_found("location");
    }
    LocationChange change;
    change.before = *get_location(tx, id);
    std::optional<double> lat, lon;
    if (edit.at) {
      lat = edit.at->lat;
      lon = edit.at->lon;
    }
    tx.exec_params(
        "UPDATE locations SET lat = CASE WHEN $2::boolean THEN $3::float8 ELSE lat END, "
        "lon = CASE WHEN $2::boolean THEN $4::float8 ELSE lon END, "
        "opening_notes = COALESCE($5, opening_notes), updated_at = $6::timestamptz WHERE id = $1",
        id, edit.at.has_value(), lat, lon, edit.opening_notes, ts(now_ms));
    change.after = *get_location(tx, id);
    return change;
  });
}

}  // namespace reclothes::controller::domain
