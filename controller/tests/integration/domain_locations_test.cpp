// Finding a drop-off point against real PostgreSQL and Mosquitto: the public listing (no
// session) with distance order and radius, the size filter on the allocation's notion of "free",
// paging, what never appears (decommissioned boxes, fault details, staff-only fields), online
// state from the box's own status messages, bad parameters, and the staff edit of coordinates
// and opening notes with its refusals and audit rows.
#include <set>

#include "domain_fixture.h"

namespace reclothes::controller::testing {
namespace {

class LocationsTest : public DomainTest {
 protected:
  // A location through the staff API; lat/lon optional (both or neither).
  std::int64_t location(const std::string& name, std::optional<double> lat = std::nullopt,
                        std::optional<double> lon = std::nullopt, const std::string& notes = "") {
    nlohmann::json body = {{"name", name}, {"address", name + " street 1"}};
    if (lat) body["lat"] = *lat;
    if (lon) body["lon"] = *lon;
    if (!notes.empty()) body["opening_notes"] = notes;
    auto r = internal("POST", "/internal/v1/locations", body, manager_);
    EXPECT_EQ(r.status, 201) << describe(r);
    return r.body.value("id", std::int64_t{0});
  }

  // A registered box at the location, made active (as its first online status would) unless
  // `active` is false.
  std::string box(std::int64_t location_id, const std::string& suffix,
                  const std::vector<std::string>& sizes, bool active = true, bool online = true) {
    const auto id = "lb" + suffix + "-" + db_name_.substr(db_name_.size() > 20 ? 20 : 0);
    nlohmann::json compartments = nlohmann::json::array();
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      compartments.push_back({{"number", i + 1}, {"size", sizes[i]}});
    }
    auto r = internal("POST", "/internal/v1/boxes",
                      nlohmann::json{{"box_id", id.substr(0, 32)},
                                     {"location_id", location_id},
                                     {"compartments", compartments}},
                      manager_);
    EXPECT_EQ(r.status, 201) << describe(r);
    if (active) {
      exec("UPDATE boxes SET status = 'active', online = " +
           std::string(online ? "true" : "false") + " WHERE id = '" + id.substr(0, 32) + "'");
    }
    return id.substr(0, 32);
  }

  Reply find(const std::string& query = "") {
    return pub("GET", "/v1/locations" + (query.empty() ? "" : "?" + query));
  }

  static std::vector<std::int64_t> ids(const Reply& r) {
    std::vector<std::int64_t> out;
    for (const auto& item : r.body["items"]) out.push_back(item["id"].get<std::int64_t>());
    return out;
  }

  static const nlohmann::json* item(const Reply& r, std::int64_t id) {
    for (const auto& i : r.body["items"]) {
      if (i["id"] == id) return &i;
    }
    return nullptr;
  }
};

TEST_F(LocationsTest, PublicListingShowsActiveBoxesAndNothingStaffOnly) {
  add_fleet({"S", "M"});  // location_ with box_ (active, online through its FakeBox)
  const auto mixed = location("Mixed", 52.5, 13.4, "Mon-Fri 8-20");
  const auto live = box(mixed, "live", {"M", "L"});
  const auto gone = box(mixed, "gone", {"M"});
  ASSERT_EQ(internal("POST", "/internal/v1/boxes/" + gone + "/decommission", std::nullopt, manager_)
                .status,
            200);
  const auto only_gone = location("Only decommissioned", 52.6, 13.5);
  const auto dead = box(only_gone, "dead", {"M"});
  ASSERT_EQ(internal("POST", "/internal/v1/boxes/" + dead + "/decommission", std::nullopt, manager_)
                .status,
            200);
  const auto never = location("Never online", 52.7, 13.6);
  box(never, "new", {"M"}, /*active=*/false);
  location("No boxes", 52.8, 13.7);
  // A jammed compartment at the live box: it is not free, and the fault stays private.
  exec(
      "INSERT INTO box_faults (box_id, compartment, kind, event_seq, opened_at, detail) VALUES "
      "('" +
      live + "', 2, 'jammed', 1, now(), 'lock 2 jammed, secret detail')");

  const auto r = find();  // no session at all
  ASSERT_EQ(r.status, 200) << describe(r);
  EXPECT_EQ(ids(r), (std::vector<std::int64_t>{location_, mixed}));
  EXPECT_EQ(r.body["total"], 2);
  EXPECT_FALSE(r.body.contains("near"));

  const auto* m = item(r, mixed);
  ASSERT_NE(m, nullptr);
  std::set<std::string> keys;
  for (const auto& [k, v] : m->items()) keys.insert(k);
  EXPECT_EQ(keys, (std::set<std::string>{"id", "name", "address", "lat", "lon", "opening_notes",
                                         "boxes", "free"}));
  EXPECT_EQ((*m)["name"], "Mixed");
  EXPECT_EQ((*m)["address"], "Mixed street 1");
  EXPECT_DOUBLE_EQ((*m)["lat"].get<double>(), 52.5);
  EXPECT_DOUBLE_EQ((*m)["lon"].get<double>(), 13.4);
  EXPECT_EQ((*m)["opening_notes"], "Mon-Fri 8-20");
  ASSERT_EQ((*m)["boxes"].size(), 1u) << m->dump();
  const auto& b = (*m)["boxes"][0];
  std::set<std::string> box_keys;
  for (const auto& [k, v] : b.items()) box_keys.insert(k);
  EXPECT_EQ(box_keys, (std::set<std::string>{"id", "online", "in_service", "free"}));
  EXPECT_EQ(b["id"], live);
  EXPECT_EQ(b["online"], true);
  EXPECT_EQ(b["in_service"], true);
  EXPECT_EQ(b["free"], (nlohmann::json{{"M", 1}, {"L", 0}}));
  EXPECT_EQ((*m)["free"], (nlohmann::json{{"M", 1}, {"L", 0}}));
  EXPECT_EQ(r.raw.find(gone), std::string::npos) << "a decommissioned box id leaked";
  EXPECT_EQ(r.raw.find(dead), std::string::npos);
  EXPECT_EQ(r.raw.find("secret detail"), std::string::npos);
  EXPECT_EQ(r.raw.find("jammed"), std::string::npos);

  const auto* first = item(r, location_);
  ASSERT_NE(first, nullptr);
  EXPECT_TRUE((*first)["lat"].is_null()) << "no coordinates: listed without them";
  EXPECT_EQ((*first)["free"], (nlohmann::json{{"S", 1}, {"M", 1}}));
}

TEST_F(LocationsTest, NearAPointNearestFirstWithinTheRadius) {
  // Around Alexanderplatz (52.5219, 13.4132); distances on the 6371 km sphere.
  const auto here = location("Here", 52.5219, 13.4132);    // 0 m
  const auto north = location("North", 52.5309, 13.4132);  // 1.0 km
  const auto west = location("West", 52.5219, 13.3872);    // 1.76 km
  const auto far = location("Potsdam", 52.3906, 13.0645);  // 27 km
  const auto nowhere = location("No coordinates");
  for (const auto id : {here, north, west, far, nowhere}) box(id, std::to_string(id), {"M"});

  const auto r = find("near=52.5219,13.4132&radius_m=5000");
  ASSERT_EQ(r.status, 200) << describe(r);
  EXPECT_EQ(ids(r), (std::vector<std::int64_t>{here, north, west}));
  EXPECT_EQ(r.body["total"], 3);
  EXPECT_EQ(r.body["radius_m"], 5000);
  EXPECT_EQ(r.body["near"]["lat"], 52.5219);
  EXPECT_EQ(r.body["items"][0]["distance_m"], 0);
  EXPECT_NEAR(r.body["items"][1]["distance_m"].get<double>(), 1001, 2);
  EXPECT_NEAR(r.body["items"][2]["distance_m"].get<double>(), 1761, 3);

  // A wider radius takes Potsdam in, last; the default radius is 10 km.
  EXPECT_EQ(ids(find("near=52.5219,13.4132&radius_m=30000")),
            (std::vector<std::int64_t>{here, north, west, far}));
  EXPECT_EQ(ids(find("near=52.5219,13.4132")), (std::vector<std::int64_t>{here, north, west}));
  // From Potsdam (south-west of all three) the order turns round.
  EXPECT_EQ(ids(find("near=52.3906,13.0645&radius_m=30000")),
            (std::vector<std::int64_t>{far, west, here, north}));
  // Without a point every location with an active box, by id, without distances.
  const auto all = find();
  EXPECT_EQ(ids(all), (std::vector<std::int64_t>{here, north, west, far, nowhere}));
  EXPECT_FALSE(all.body["items"][0].contains("distance_m"));
}

TEST_F(LocationsTest, RadiusSearchAcrossTheAntimeridianAndAroundAPole) {
  // Fiji straddles 180 degrees: the prefilter's longitude range wraps (lon >= min OR lon <= max).
  const auto east = location("Taveuni east", -16.8, 179.98);
  const auto west = location("Taveuni west", -16.8, -179.97);
  const auto suva = location("Suva", -18.14, 178.44);      // 220 km away
  const auto greenwich = location("Greenwich", 51.48, 0);  // the other side of the world
  // Around the north pole every longitude is in the box.
  const auto pole_a = location("Pole A", 89.95, 10);
  const auto pole_b = location("Pole B", 89.95, -170);
  for (const auto id : {east, west, suva, greenwich, pole_a, pole_b}) {
    box(id, std::to_string(id), {"S"});
  }
  const auto fiji = find("near=-16.8,179.99&radius_m=50000");
  ASSERT_EQ(fiji.status, 200) << describe(fiji);
  EXPECT_EQ(ids(fiji), (std::vector<std::int64_t>{east, west}));
  EXPECT_NEAR(fiji.body["items"][1]["distance_m"].get<double>(), 4260, 20);
  EXPECT_EQ(ids(find("near=-16.8,-179.99&radius_m=50000")),
            (std::vector<std::int64_t>{west, east}));
  EXPECT_EQ(ids(find("near=-16.8,179.99&radius_m=300000")),
            (std::vector<std::int64_t>{east, west, suva}));
  // From the pole both points are 5.6 km away whatever their longitude.
  EXPECT_EQ(ids(find("near=90,0&radius_m=10000")), (std::vector<std::int64_t>{pole_a, pole_b}));
}

TEST_F(LocationsTest, SizeFilterUsesTheAllocationsNotionOfFree) {
  add_fleet({"S", "M"});
  const auto big = location("Big", 52.5, 13.4);
  box(big, "big", {"L"});

  EXPECT_EQ(ids(find("size=M")), (std::vector<std::int64_t>{location_, big}))
      << "M fits an M or a larger compartment";
  EXPECT_EQ(ids(find("size=L")), (std::vector<std::int64_t>{big}));
  EXPECT_TRUE(ids(find("size=XL")).empty());

  // A donation that needs M holds the only M compartment here: the location is no longer listed
  // for M here, still for S, and its M counts 0 free.
  const auto alice = customer("alice");
  auto d = create_donation(alice, {{{"category", "tops"}, {"count", 4}}});  // 8 units: M
  ASSERT_EQ(d.status, 201) << describe(d);
  ASSERT_EQ(d.body["compartment"], 2);
  EXPECT_EQ(ids(find("size=M")), (std::vector<std::int64_t>{big}));
  const auto small = find("size=S");
  EXPECT_EQ(ids(small), (std::vector<std::int64_t>{location_, big}));
  EXPECT_EQ((*item(small, location_))["free"], (nlohmann::json{{"S", 1}, {"M", 0}}));

  // Maintenance takes the whole box out, as for allocation; it says so without details.
  ASSERT_EQ(internal("POST", "/internal/v1/boxes/" + box_ + "/maintenance",
                     nlohmann::json{{"on", true}}, manager_)
                .status,
            200);
  EXPECT_EQ(ids(find("size=S")), (std::vector<std::int64_t>{big}));
  const auto all = find();
  const auto* here = item(all, location_);
  ASSERT_NE(here, nullptr) << "a box in maintenance is still a drop-off point";
  EXPECT_EQ((*here)["boxes"][0]["in_service"], false);
  EXPECT_EQ((*here)["free"], (nlohmann::json{{"S", 0}, {"M", 0}}));
}

TEST_F(LocationsTest, PagesWithLimitAndOffset) {
  std::vector<std::int64_t> made;
  for (int i = 0; i < 5; ++i) {
    made.push_back(location("P" + std::to_string(i), 50.0 + i * 0.01, 8.0));
    box(made.back(), "p" + std::to_string(i), {"S"});
  }
  std::vector<std::int64_t> seen;
  for (int offset = 0; offset < 6; offset += 2) {
    const auto r = find("near=50,8&radius_m=100000&limit=2&offset=" + std::to_string(offset));
    ASSERT_EQ(r.status, 200) << describe(r);
    EXPECT_EQ(r.body["total"], 5);
    EXPECT_EQ(r.body["limit"], 2);
    EXPECT_EQ(r.body["offset"], offset);
    for (const auto id : ids(r)) seen.push_back(id);
  }
  EXPECT_EQ(seen, made) << "nearest first, every location once";
  const auto past = find("limit=2&offset=10");
  EXPECT_EQ(past.status, 200);
  EXPECT_TRUE(past.body["items"].empty());
  EXPECT_EQ(past.body["total"], 5);
  EXPECT_EQ(find("").body["limit"], 20);
}

TEST_F(LocationsTest, OnlineStateFollowsTheBoxStatus) {
  add_fleet({"M"});
  const auto online = [&] {
    const auto r = find();
    const auto* loc = item(r, location_);
    return loc != nullptr && (*loc)["boxes"][0]["online"].get<bool>();
  };
  ASSERT_TRUE(online());
  fake_box_->set_online(false);
  ASSERT_TRUE(eventually([&] { return !online(); })) << "the offline status was not shown";
  fake_box_->set_online(true);
  ASSERT_TRUE(eventually(online)) << "the online status was not shown";
}

TEST_F(LocationsTest, BadParametersAreRefusedNamingTheParameter) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"near=abc", "near"},
      {"near=52.5", "near"},
      {"near=91,0", "near"},
      {"near=0,181", "near"},
      {"near=nan,1", "near"},
      {"radius_m=100", "radius_m"},
      {"near=1,1&radius_m=0", "radius_m"},
      {"near=1,1&radius_m=1000001", "radius_m"},
      {"near=1,1&radius_m=5km", "radius_m"},
      {"size=XXL", "size"},
      {"size=m", "size"},
      {"limit=0", "limit"},
      {"limit=101", "limit"},
      {"offset=-1", "offset"},
      {"offset=x", "offset"},
  };
  for (const auto& [query, parameter] : bad) {
    const auto r = find(query);
    EXPECT_EQ(r.status, 400) << query << ": " << describe(r);
    EXPECT_EQ(r.code(), "invalid_query") << query;
    EXPECT_EQ(r.body["error"]["details"]["parameter"], parameter) << query << ": " << r.raw;
  }
  const auto lat = find("near=91,0");
  EXPECT_NE(lat.body["error"]["message"].get<std::string>().find("latitude"), std::string::npos)
      << lat.raw;
}

TEST_F(LocationsTest, StaffSetCoordinatesAndOpeningNotesAudited) {
  add_fleet({"M"});
  const auto path = "/internal/v1/locations/" + std::to_string(location_);
  auto r = internal("PATCH", path,
                    nlohmann::json{{"lat", 48.1374}, {"lon", 11.5755}, {"opening_notes", "24/7"}},
                    manager_);
  ASSERT_EQ(r.status, 200) << describe(r);
  EXPECT_DOUBLE_EQ(r.body["lat"].get<double>(), 48.1374);
  EXPECT_EQ(r.body["opening_notes"], "24/7");
  EXPECT_FALSE(r.body["updated_at"].is_null());

  const auto audit = query(
      "SELECT before, after, actor_id FROM audit_log WHERE action = 'location.update' AND "
      "outcome = 'ok' AND target_id = '" +
      std::to_string(location_) + "'");
  ASSERT_EQ(audit.size(), 1u);
  const auto before = nlohmann::json::parse(audit[0][0].as<std::string>());
  const auto after = nlohmann::json::parse(audit[0][1].as<std::string>());
  EXPECT_TRUE(before["lat"].is_null());
  EXPECT_EQ(before["opening_notes"], "");
  EXPECT_DOUBLE_EQ(after["lon"].get<double>(), 11.5755);
  EXPECT_EQ(after["opening_notes"], "24/7");
  EXPECT_EQ(audit[0][2].as<std::int64_t>(), manager_id_);

  // The public listing shows it and finds it near the new point.
  const auto near = find("near=48.1374,11.5755&radius_m=100");
  ASSERT_EQ(ids(near), (std::vector<std::int64_t>{location_}));
  EXPECT_EQ(near.body["items"][0]["opening_notes"], "24/7");

  // Notes alone keep the coordinates.
  r = internal("PATCH", path, nlohmann::json{{"opening_notes", "Mon-Sat 7-22"}}, manager_);
  ASSERT_EQ(r.status, 200) << describe(r);
  EXPECT_DOUBLE_EQ(r.body["lat"].get<double>(), 48.1374);
  EXPECT_EQ(internal("GET", path, std::nullopt, manager_).body["opening_notes"], "Mon-Sat 7-22");
}

TEST_F(LocationsTest, StaffEditRefusals) {
  add_fleet({"M"});
  const auto path = "/internal/v1/locations/" + std::to_string(location_);
  const nlohmann::json body = {{"opening_notes", "never"}};

  // A customer's session is not a staff session; no session at all is 401 too.
  const auto alice = customer("alice");
  EXPECT_EQ(internal("PATCH", path, body, alice).status, 401);
  EXPECT_EQ(internal("PATCH", path, body).status, 401);
  // Staff without fleet.write: 403, audited as denied.
  const auto refused = internal("PATCH", path, body, checker_);
  EXPECT_EQ(refused.status, 403) << describe(refused);
  EXPECT_EQ(count("SELECT count(*) FROM audit_log WHERE action = 'location.update' AND outcome = "
                  "'denied' AND actor_id = " +
                  std::to_string(checker_id_)),
            1);

  const auto expect_field = [&](const nlohmann::json& b, const std::string& field) {
    const auto r = internal("PATCH", path, b, manager_);
    EXPECT_EQ(r.status, 400) << b.dump() << ": " << describe(r);
    EXPECT_EQ(r.body["error"]["details"]["field"], field) << b.dump() << ": " << r.raw;
  };
  expect_field({{"lat", 10}}, "/lon");
  expect_field({{"lon", 10}}, "/lat");
  expect_field({{"lat", 91}, {"lon", 0}}, "/lat");
  expect_field({{"lat", "52"}, {"lon", 0}}, "/lat");
  expect_field({{"opening_notes", std::string(1001, 'x')}}, "/opening_notes");
  expect_field({{"name", "renamed"}}, "/name");
  EXPECT_EQ(internal("PATCH", path, nlohmann::json::object(), manager_).status, 400);
  EXPECT_EQ(internal("PATCH", "/internal/v1/locations/999999", body, manager_).status, 404);
  EXPECT_EQ(internal("GET", path, std::nullopt, manager_).body["opening_notes"], "")
      << "nothing was written";
  // The create route takes the same pairs.
  EXPECT_EQ(internal("POST", "/internal/v1/locations",
                     nlohmann::json{{"name", "Half"}, {"lat", 10}}, manager_)
                .status,
            400);
}

}  // namespace
}  // namespace reclothes::controller::testing
