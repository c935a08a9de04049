// The location search's geography: reading a point, the great-circle distance, the bounding box
// that prefilters a radius search (also across the antimeridian and at the poles), and the order
// of the results.
#include "reclothes/controller/domain/geo.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <random>
#include <vector>

namespace reclothes::controller::domain {
namespace {

TEST(GeoPoint, ReadsLatCommaLon) {
  auto p = parse_geo_point("52.52,13.405");
  ASSERT_TRUE(p.ok()) << p.error().to_string();
  EXPECT_DOUBLE_EQ(p->lat, 52.52);
  EXPECT_DOUBLE_EQ(p->lon, 13.405);
  auto edge = parse_geo_point("-90,180");
  ASSERT_TRUE(edge.ok());
  EXPECT_DOUBLE_EQ(edge->lat, -90);
  EXPECT_DOUBLE_EQ(edge->lon, 180);
}

TEST(GeoPoint, RefusesWhatIsNotAPointWithAMessage) {
  for (const char* bad : {"", "52.5", "52.5,", ",13.4", "52.5,13.4,1", "a,b", "52.5;13.4",
                          " 52.5,13.4", "52.5,13.4 ", "nan,1", "inf,1", "1,-inf", "0x10,1"}) {
    auto p = parse_geo_point(bad);
    EXPECT_FALSE(p.ok()) << bad;
    if (!p.ok()) {
      EXPECT_EQ(p.error().code, ErrorCode::kInvalidArgument) << bad;
    }
  }
  auto lat = parse_geo_point("90.5,0");
  ASSERT_FALSE(lat.ok());
  EXPECT_NE(lat.error().message.find("latitude must be between -90 and 90"), std::string::npos)
      << lat.error().message;
  auto lon = parse_geo_point("0,-180.01");
  ASSERT_FALSE(lon.ok());
  EXPECT_NE(lon.error().message.find("longitude must be between -180 and 180"), std::string::npos)
      << lon.error().message;
}

TEST(GreatCircle, KnownDistances) {
  const GeoPoint berlin{52.5200, 13.4050};
  const GeoPoint paris{48.8566, 2.3522};
  // 877.5 km on the 6371.0088 km sphere (the ellipsoid says 878 km).
  EXPECT_NEAR(great_circle_m(berlin, paris), 877'500, 1'000);
  EXPECT_DOUBLE_EQ(great_circle_m(berlin, berlin), 0);
  EXPECT_DOUBLE_EQ(great_circle_m(berlin, paris), great_circle_m(paris, berlin));
  // One degree of latitude is 111.2 km anywhere; one of longitude shrinks with cos(lat).
  EXPECT_NEAR(great_circle_m({0, 0}, {1, 0}), 111'195, 1);
  EXPECT_NEAR(great_circle_m({60, 10}, {60, 11}), 111'195 * 0.5, 100);
  // Across the antimeridian it is the short way round.
  EXPECT_NEAR(great_circle_m({0, 179.5}, {0, -179.5}), 111'195, 1);
  // Antipodes: half the circumference, not NaN.
  EXPECT_NEAR(great_circle_m({0, 0}, {0, 180}), 20'015'115, 10);
  EXPECT_NEAR(great_circle_m({90, 0}, {-90, 0}), 20'015'115, 10);
}

TEST(GeoBounds, ContainEveryPointOfTheCircle) {
  // Points on the circle's edge in every direction lie inside the box, wherever the centre is
  // (mid latitudes, the equator, near the antimeridian, near a pole).
  for (const GeoPoint c : {GeoPoint{52.52, 13.405}, GeoPoint{0, 0}, GeoPoint{-33.9, 179.9},
                           GeoPoint{10, -179.95}, GeoPoint{89.9, 40}, GeoPoint{-89.95, 0}}) {
    for (const double radius : {50.0, 5'000.0, 100'000.0}) {
      const auto b = bounds_around(c, radius);
      const double delta = radius / kEarthRadiusM;
      for (int i = 0; i < 360; i += 5) {
        // Destination point at bearing i and distance radius * 0.999 (just inside).
        const double brg = i * std::numbers::pi / 180;
        const double d = delta * 0.999;
        const double phi1 = c.lat * std::numbers::pi / 180;
        const double lam1 = c.lon * std::numbers::pi / 180;
        const double phi2 =
            std::asin(std::sin(phi1) * std::cos(d) + std::cos(phi1) * std::sin(d) * std::cos(brg));
        const double lam2 = lam1 + std::atan2(std::sin(brg) * std::sin(d) * std::cos(phi1),
                                              std::cos(d) - std::sin(phi1) * std::sin(phi2));
        GeoPoint p{phi2 * 180 / std::numbers::pi, lam2 * 180 / std::numbers::pi};
        if (p.lon > 180) p.lon -= 360;
        if (p.lon < -180) p.lon += 360;
        EXPECT_LE(great_circle_m(c, p), radius);
        EXPECT_TRUE(b.contains(p)) << c.lat << "," << c.lon << " r=" << radius << " bearing " << i
                                   << " -> " << p.lat << "," << p.lon;
      }
    }
  }
}

TEST(GeoBounds, AreTightAndWrapAtTheAntimeridian) {
  const auto b = bounds_around({0, 0}, 111'195);  // one degree
  EXPECT_NEAR(b.min_lat, -1, 1e-3);
  EXPECT_NEAR(b.max_lat, 1, 1e-3);
  EXPECT_NEAR(b.min_lon, -1, 1e-3);
  EXPECT_NEAR(b.max_lon, 1, 1e-3);
  EXPECT_FALSE(b.wraps());
  EXPECT_FALSE(b.contains({0, 1.01}));
  EXPECT_FALSE(b.contains({1.01, 0}));

  const auto w = bounds_around({0, 179.5}, 111'195);
  EXPECT_TRUE(w.wraps());
  EXPECT_NEAR(w.min_lon, 178.5, 1e-3);
  EXPECT_NEAR(w.max_lon, -179.5, 1e-3);
  EXPECT_TRUE(w.contains({0, -179.9}));
  EXPECT_TRUE(w.contains({0, 179.9}));
  EXPECT_FALSE(w.contains({0, 0}));

  const auto pole = bounds_around({89.5, 10}, 111'195);
  EXPECT_DOUBLE_EQ(pole.min_lon, -180);
  EXPECT_DOUBLE_EQ(pole.max_lon, 180);
  EXPECT_DOUBLE_EQ(pole.max_lat, 90);

  const auto globe = bounds_around({10, 10}, 25'000'000);
  EXPECT_DOUBLE_EQ(globe.min_lat, -90);
  EXPECT_DOUBLE_EQ(globe.max_lat, 90);
  EXPECT_TRUE(globe.contains({-89, -170}));
}

TEST(RankLocations, WithoutACenterEveryCandidateById) {
  const std::vector<LocationCandidate> c = {
      {3, GeoPoint{1, 1}}, {1, std::nullopt}, {2, GeoPoint{}}};
  const auto r = rank_locations(c, std::nullopt, 0);
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].id, 1);
  EXPECT_EQ(r[1].id, 2);
  EXPECT_EQ(r[2].id, 3);
  EXPECT_FALSE(r[0].distance_m.has_value());
}

TEST(RankLocations, AroundACenterNearestFirstWithinTheRadius) {
  const GeoPoint center{52.52, 13.405};
  const std::vector<LocationCandidate> c = {
      {1, GeoPoint{52.53, 13.405}},  // 1.1 km north
      {2, GeoPoint{52.52, 13.405}},  // here
      {3, std::nullopt},             // no coordinates: never in a radius search
      {4, GeoPoint{52.60, 13.405}},  // 8.9 km: outside 5 km
      {5, GeoPoint{52.52, 13.50}},   // 6.4 km east: outside
      {6, GeoPoint{52.525, 13.41}},  // 0.65 km
  };
  const auto r = rank_locations(c, center, 5'000);
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].id, 2);
  EXPECT_DOUBLE_EQ(*r[0].distance_m, 0);
  EXPECT_EQ(r[1].id, 6);
  EXPECT_EQ(r[2].id, 1);
  EXPECT_NEAR(*r[2].distance_m, 1'112, 1);
  // The radius is inclusive.
  const auto exact = rank_locations(c, center, *r[2].distance_m);
  ASSERT_EQ(exact.size(), 3u);
  EXPECT_EQ(exact[2].id, 1);
}

TEST(RankLocations, EqualDistancesById) {
  const std::vector<LocationCandidate> c = {
      {9, GeoPoint{0, 1}}, {4, GeoPoint{0, -1}}, {7, GeoPoint{1.5, 0}}};
  const auto r = rank_locations(c, GeoPoint{0, 0}, 200'000);
  ASSERT_EQ(r.size(), 3u);
  EXPECT_DOUBLE_EQ(*r[0].distance_m, *r[1].distance_m);
  EXPECT_EQ(r[0].id, 4);
  EXPECT_EQ(r[1].id, 9);
}

TEST(RankLocations, RandomPointsComeOutSortedAndWithinTheRadius) {
  std::mt19937 rng(17);
  std::uniform_real_distribution<double> lat(47, 55);
  std::uniform_real_distribution<double> lon(6, 15);
  std::vector<LocationCandidate> c;
  for (int i = 1; i <= 2000; ++i) c.push_back({i, GeoPoint{lat(rng), lon(rng)}});
  const GeoPoint center{51, 10};
  const auto r = rank_locations(c, center, 100'000);
  ASSERT_FALSE(r.empty());
  std::size_t inside = 0;
  for (const auto& x : c) {
    if (great_circle_m(center, *x.at) <= 100'000) ++inside;
  }
  EXPECT_EQ(r.size(), inside);
  const auto b = bounds_around(center, 100'000);
  for (std::size_t i = 0; i < r.size(); ++i) {
    EXPECT_LE(*r[i].distance_m, 100'000);
    EXPECT_TRUE(b.contains(*c[static_cast<std::size_t>(r[i].id - 1)].at));
    if (i > 0) {
      EXPECT_LE(*r[i - 1].distance_m, *r[i].distance_m);
    }
  }
}

}  // namespace
}  // namespace reclothes::controller::domain
