#include "reclothes/controller/domain/geo.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <numbers>

namespace reclothes::controller::domain {
namespace {

constexpr double kGeoDegToRad = std::numbers::pi / 180.0;

Result<double> geo_coordinate(std::string_view text, const char* what, double limit) {
  double v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || !std::isfinite(v)) {
    return make_error(ErrorCode::kInvalidArgument,
                      std::string(what) + " is not a number (expected lat,lon in degrees)");
  }
  if (v < -limit || v > limit) {
    return make_error(ErrorCode::kInvalidArgument, std::string(what) + " must be between -" +
                                                       std::to_string(static_cast<int>(limit)) +
                                                       " and " +
                                                       std::to_string(static_cast<int>(limit)));
  }
  return v;
}

}  // namespace

Result<GeoPoint> parse_geo_point(std::string_view text) {
  const auto comma = text.find(',');
  if (comma == std::string_view::npos || text.find(',', comma + 1) != std::string_view::npos) {
    return make_error(ErrorCode::kInvalidArgument, "expected lat,lon in degrees");
  }
  RC_ASSIGN_OR_RETURN(const double lat, geo_coordinate(text.substr(0, comma), "latitude", 90));
  RC_ASSIGN_OR_RETURN(const double lon, geo_coordinate(text.substr(comma + 1), "longitude", 180));
  return GeoPoint{lat, lon};
}

double great_circle_m(const GeoPoint& a, const GeoPoint& b) {
  const double phi1 = a.lat * kGeoDegToRad;
  const double phi2 = b.lat * kGeoDegToRad;
  const double dphi = (b.lat - a.lat) * kGeoDegToRad;
  const double dlambda = (b.lon - a.lon) * kGeoDegToRad;
  const double s1 = std::sin(dphi / 2);
  const double s2 = std::sin(dlambda / 2);
  // Clamped: rounding can push h a hair above 1 for antipodal points (asin would give NaN).
  const double h = std::clamp(s1 * s1 + std::cos(phi1) * std::cos(phi2) * s2 * s2, 0.0, 1.0);
  return 2 * kEarthRadiusM * std::asin(std::sqrt(h));
}

bool GeoBounds::contains(const GeoPoint& p) const {
  if (p.lat < min_lat || p.lat > max_lat) return false;
  return wraps() ? (p.lon >= min_lon || p.lon <= max_lon) : (p.lon >= min_lon && p.lon <= max_lon);
}

GeoBounds bounds_around(const GeoPoint& center, double radius_m) {
  // Angular radius of the circle; a radius of half the circumference or more covers the globe.
  const double delta = std::max(radius_m, 0.0) / kEarthRadiusM;
  if (delta >= std::numbers::pi / 2) return {-90, 90, -180, 180};
  const double lat = center.lat * kGeoDegToRad;
  const double min_lat = lat - delta;
  const double max_lat = lat + delta;
  const double half_pi = std::numbers::pi / 2;
  if (min_lat <= -half_pi || max_lat >= half_pi) {
    // The circle contains a pole: every longitude.
    return {std::max(min_lat, -half_pi) / kGeoDegToRad, std::min(max_lat, half_pi) / kGeoDegToRad,
            -180, 180};
  }
  // The meridians tangent to the circle (Bronshtein; see J. P. Matuschek, "Finding Points Within
  // a Distance of a Latitude/Longitude Using Bounding Coordinates").
  const double dlon = std::asin(std::sin(delta) / std::cos(lat)) / kGeoDegToRad;
  double min_lon = center.lon - dlon;
  double max_lon = center.lon + dlon;
  if (min_lon < -180) min_lon += 360;
  if (max_lon > 180) max_lon -= 360;
  return {min_lat / kGeoDegToRad, max_lat / kGeoDegToRad, min_lon, max_lon};
}

std::vector<RankedLocation> rank_locations(std::span<const LocationCandidate> candidates,
                                           const std::optional<GeoPoint>& center, double radius_m) {
  std::vector<RankedLocation> out;
  out.reserve(candidates.size());
  for (const auto& c : candidates) {
    if (!center) {
      out.push_back({c.id, std::nullopt});
      continue;
    }
    if (!c.at) continue;
    const double d = great_circle_m(*center, *c.at);
    if (d <= radius_m) out.push_back({c.id, d});
  }
  std::sort(out.begin(), out.end(), [](const RankedLocation& a, const RankedLocation& b) {
    const double da = a.distance_m.value_or(0);
    const double db = b.distance_m.value_or(0);
    return da != db ? da < db : a.id < b.id;
  });
  return out;
}

}  // namespace reclothes::controller::domain
