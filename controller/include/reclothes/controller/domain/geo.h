// Geography of the public location search (GET /v1/locations) as pure functions: reading a
// point from the query, the great-circle distance between two points, and the latitude/longitude
// box that encloses a circle, which the store uses as an index-friendly prefilter before the
// exact distance decides. docs/rest-api.md ("Finding a drop-off point") states the same rules.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "reclothes/common/result.h"

namespace reclothes::controller::domain {

// Mean Earth radius (IUGG), the sphere the distances are measured on. The error against the
// ellipsoid is below 0.5 %, far less than the walk from a street corner to the box.
inline constexpr double kEarthRadiusM = 6'371'008.8;

struct GeoPoint {
  double lat = 0;  // degrees, -90..90
  double lon = 0;  // degrees, -180..180
};

// "lat,lon" in decimal degrees ("52.52,13.405"): kInvalidArgument with a message naming what is
// wrong (not two numbers, not finite, out of range). Each part is what std::from_chars reads as
// a double, fully consumed (no spaces).
Result<GeoPoint> parse_geo_point(std::string_view text);

// Haversine distance in metres on the sphere above; symmetric, 0 for equal points, at most half
// the circumference.
double great_circle_m(const GeoPoint& a, const GeoPoint& b);

// The smallest latitude/longitude ranges that contain every point within radius_m of center.
// When the circle crosses the antimeridian, min_lon > max_lon and the longitude range is
// [min_lon, 180] plus [-180, max_lon]; when it reaches a pole, every longitude (-180..180).
struct GeoBounds {
  double min_lat = 0;
  double max_lat = 0;
  double min_lon = 0;
  double max_lon = 0;
  bool wraps() const { return min_lon > max_lon; }
  bool contains(const GeoPoint& p) const;
};
GeoBounds bounds_around(const GeoPoint& center, double radius_m);

// The search's order. Without a center: every candidate, by id. With one: only candidates with
// coordinates within radius_m (inclusive) of it, nearest first, equal distances by id, each
// with its distance.
struct LocationCandidate {
  std::int64_t id = 0;
  std::optional<GeoPoint> at;
};
struct RankedLocation {
  std::int64_t id = 0;
  std::optional<double> distance_m;  // set when ranked around a center
};
std::vector<RankedLocation> rank_locations(std::span<const LocationCandidate> candidates,
                                           const std::optional<GeoPoint>& center, double radius_m);

}  // namespace reclothes::controller::domain
