#include "reclothes/controller/fleet.h"

#include <algorithm>
#include <set>

#include "reclothes/common/bytes.h"
#include "reclothes/controller/db.h"

namespace reclothes::controller {
namespace {

nlohmann::json nullable_text(const pqxx::field& f) {
  return f.is_null() ? nlohmann::json() : nlohmann::json(f.as<std::string>());
}

nlohmann::json nullable_time(const pqxx::field& f) {
  return f.is_null() ? nlohmann::json() : nlohmann::json(ts(f.as<std::int64_t>()));
}

nlohmann::json parse_json_field(const pqxx::field& f) {
  if (f.is_null()) return nlohmann::json();
  auto j = nlohmann::json::parse(f.c_str(), nullptr, false);
  return j.is_discarded() ? nlohmann::json() : j;
}

nlohmann::json location_from(const pqxx::row& row) {
  return {{"id", row[0].as<std::int64_t>()},
          {"name", row[1].as<std::string>()},
          {"address", row[2].as<std::string>()},
          {"lat", row[3].is_null() ? nlohmann::json() : nlohmann::json(row[3].as<double>())},
          {"lon", row[4].is_null() ? nlohmann::json() : nlohmann::json(row[4].as<double>())},
          {"opening_notes", row[6].as<std::string>()},
          {"created_at", ts(row[5].as<std::int64_t>())},
          {"updated_at", nullable_time(row[7])}};
}

const std::string kLocationColumns = "id, name, address, lat, lon, " + ms_of("created_at") +
                                     ", opening_notes, " + ms_of("updated_at");

const std::string kBoxColumns =
    "b.id, b.location_id, b.status, b.maintenance, b.online, " + ms_of("b.last_seen") +
    ", b.firmware_version, b.last_applied_seq, b.config_revision, b.last_state->'backlog', "
    "(SELECT count(*) FROM box_faults f WHERE f.box_id = b.id AND f.cleared_at IS NULL), "
    "(SELECT count(*) FROM compartments c WHERE c.box_id = b.id)";

nlohmann::json box_from(const pqxx::row& row) {
  return {{"id", row[0].as<std::string>()},
          {"location_id",
           row[1].is_null() ? nlohmann::json() : nlohmann::json(row[1].as<std::int64_t>())},
          {"status", row[2].as<std::string>()},
          {"maintenance", row[3].as<bool>()},
          {"online", row[4].as<bool>()},
          {"last_seen", nullable_time(row[5])},
          {"firmware_version", nullable_text(row[6])},
          {"last_applied_seq", row[7].as<std::int64_t>()},
          {"config_revision", row[8].as<std::int64_t>()},
          {"backlog", row[9].is_null() ? nlohmann::json() : parse_json_field(row[9])},
          {"open_faults", row[10].as<std::int64_t>()},
          {"compartment_count", row[11].as<std::int64_t>()}};
}

}  // namespace

bool is_valid_size_class(std::string_view s) {
  return s == "S" || s == "M" || s == "L" || s == "XL";
}

nlohmann::json create_location(pqxx::work& tx, const std::string& name, const std::string& address,
                               std::optional<double> lat, std::optional<double> lon,
                               std::int64_t now_ms, const std::string& opening_notes) {
  const auto row = tx.exec_params1(
      "INSERT INTO locations (name, address, lat, lon, created_at, opening_notes) VALUES ($1, $2, "
      "$3, $4, $5::timestamptz, $6) RETURNING " +
          kLocationColumns,
      name, address, lat, lon, ts(now_ms), opening_notes);
  return location_from(row);
}

std::optional<nlohmann::json> get_location(pqxx::work& tx, std::int64_t id) {
  const auto rows =
      tx.exec_params("SELECT " + kLocationColumns + " FROM locations WHERE id = $1", id);
  if (rows.empty()) return std::nullopt;
  return location_from(rows[0]);
}

nlohmann::json list_locations(pqxx::work& tx) {
  nlohmann::json items = nlohmann::json::array();
  for (const auto& row : tx.exec("SELECT " + kLocationColumns + " FROM locations ORDER BY id")) {
    items.push_back(location_from(row));
  }
  return {{"items", items}};
}

Result<nlohmann::json> register_box(pqxx::work& tx, const std::string& box_id,
                                    std::optional<std::int64_t> location_id,
                                    const std::vector<CompartmentSpec>& compartments,
                                    std::int64_t now_ms) {
  if (!is_valid_box_id(box_id)) {
    return make_error(ErrorCode::kInvalidArgument, "box id must be 1..32 of [A-Za-z0-9_-]");
  }
  if (compartments.empty() || compartments.size() > 255) {
    return make_error(ErrorCode::kInvalidArgument, "a box has 1..255 compartments");
  }
  std::set<int> numbers;
  for (const auto& c : compartments) {
    if (c.number < 1 || c.number > 255) {
      return make_error(ErrorCode::kInvalidArgument, "compartment numbers are 1..255");
    }
    if (!is_valid_size_class(c.size_class)) {
      return make_error(ErrorCode::kInvalidArgument,
                        "compartment " + std::to_string(c.number) + ": size must be S, M, L or XL");
    }
    if (!numbers.insert(c.number).second) {
      return make_error(ErrorCode::kInvalidArgument,
                        "compartment " + std::to_string(c.number) + " is listed twice");
    }
  }
  if (location_id && !get_location(tx, *location_id)) {
    return make_error(ErrorCode::kNotFound,
                      "location " + std::to_string(*location_id) + " not found");
  }
  if (!tx.exec_params("SELECT 1 FROM boxes WHERE id = $1", box_id).empty()) {
    return make_error(ErrorCode::kAlreadyExists, "box " + box_id + " is already registered");
  }
  tx.exec_params("INSERT INTO boxes (id, location_id, created_at) VALUES ($1, $2, $3::timestamptz)",
                 box_id, location_id, ts(now_ms));
  for (const auto& c : compartments) {
    tx.exec_params("INSERT INTO compartments (box_id, number, size_class) VALUES ($1, $2, $3)",
                   box_id, c.number, c.size_class);
  }
  return *get_box(tx, box_id);
}

std::optional<nlohmann::json> box_summary(pqxx::work& tx, const std::string& box_id) {
  const auto rows =
      tx.exec_params("SELECT " + kBoxColumns + " FROM boxes b WHERE b.id = $1", box_id);
  if (rows.empty()) return std::nullopt;
  return box_from(rows[0]);
}

namespace {

// The box's latest applied events, newest first: what it reported and when the controller
// applied it (box_events, migration 0003).
nlohmann::json recent_events(pqxx::work& tx, const std::string& box_id, int limit) {
  nlohmann::json items = nlohmann::json::array();
  for (const auto& row : tx.exec_params("SELECT seq, kind, " + ms_of("at") + ", compartment, " +
                                            "payload::text, " + ms_of("applied_at") +
                                            " FROM box_events WHERE box_id = $1 "
                                            "ORDER BY seq DESC LIMIT $2",
                                        box_id, limit)) {
    items.push_back(
        {{"seq", row[0].as<std::int64_t>()},
         {"kind", row[1].as<std::string>()},
         {"at", ts(row[2].as<std::int64_t>())},
         {"compartment", row[3].is_null() ? nlohmann::json() : nlohmann::json(row[3].as<int>())},
         {"payload", parse_json_field(row[4])},
         {"applied_at", ts(row[5].as<std::int64_t>())}});
  }
  return items;
}

}  // namespace

std::optional<nlohmann::json> get_box(pqxx::work& tx, const std::string& box_id) {
  auto box = box_summary(tx, box_id);
  if (!box) return std::nullopt;
  nlohmann::json compartments = nlohmann::json::array();
  // What holds each compartment (the order domain's claim, migration 0005): its purpose, phase
  // and order, or null for a free one.
  for (const auto& row : tx.exec_params(
           "SELECT c.number, c.size_class, c.state, c.door_open, c.fill_percent, " +
               ms_of("c.updated_at") + ", h.purpose, h.phase, h.order_id, " + ms_of("h.since") +
               " FROM compartments c LEFT JOIN compartment_holds h ON h.box_id = c.box_id AND "
               "h.compartment = c.number WHERE c.box_id = $1 ORDER BY c.number",
           box_id)) {
    nlohmann::json hold;
    if (!row[6].is_null()) {
      hold = {{"purpose", row[6].as<std::string>()},
              {"phase", row[7].as<std::string>()},
              {"order_id", row[8].as<std::int64_t>()},
              {"since", ts(row[9].as<std::int64_t>())}};
    }
    compartments.push_back(
        {{"number", row[0].as<int>()},
         {"size_class", row[1].as<std::string>()},
         {"state", row[2].as<std::string>()},
         {"door_open", row[3].as<bool>()},
         {"fill_percent", row[4].is_null() ? nlohmann::json() : nlohmann::json(row[4].as<int>())},
         {"updated_at", nullable_time(row[5])},
         {"hold", hold}});
  }
  nlohmann::json faults = nlohmann::json::array();
  for (const auto& row : tx.exec_params(
           "SELECT id, compartment, kind, event_seq, " + ms_of("opened_at") +
               ", detail FROM box_faults WHERE box_id = $1 AND cleared_at IS NULL ORDER BY id",
           box_id)) {
    faults.push_back(
        {{"id", row[0].as<std::int64_t>()},
         {"compartment", row[1].is_null() ? nlohmann::json() : nlohmann::json(row[1].as<int>())},
         {"kind", row[2].as<std::string>()},
         // An offline fault has no event behind it (migration 0015).
         {"event_seq",
          row[3].is_null() ? nlohmann::json() : nlohmann::json(row[3].as<std::int64_t>())},
         {"opened_at", ts(row[4].as<std::int64_t>())},
         {"detail", nullable_text(row[5])}});
  }
  const auto state = tx.exec_params(
      "SELECT last_state::text, " + ms_of("last_state_at") + " FROM boxes WHERE id = $1", box_id);
  (*box)["compartments"] = compartments;
  (*box)["faults"] = faults;
  (*box)["last_state"] = parse_json_field(state[0][0]);
  (*box)["last_state_at"] = nullable_time(state[0][1]);
  (*box)["commands"] = list_commands(tx, box_id, 20)["items"];
  (*box)["recent_events"] = recent_events(tx, box_id, 25);
  const auto where = tx.exec_params(
      "SELECT l.name FROM boxes b JOIN locations l ON l.id = b.location_id WHERE b.id = $1",
      box_id);
  (*box)["location_name"] = where.empty() ? nlohmann::json() : nullable_text(where[0][0]);
  return box;
}

bool is_box_state_filter(std::string_view s) {
  return s.empty() || s == "online" || s == "offline" || s == "maintenance" ||
         s == "decommissioned";
}

bool is_fault_kind(std::string_view s) {
  return s == "jammed" || s == "forced" || s == "ajar" || s == "tamper" || s == "out_of_service" ||
         s == "unlock_unknown";
}

namespace {

// The filter's WHERE clause over boxes b: $1 location, $2 state, $3 fault, $4 id prefix (LIKE
// pattern). The statements are unnamed, so each is planned with its values and the unused
// branches fold away.
const std::string kBoxFilterWhere =
    " WHERE ($1::bigint IS NULL OR b.location_id = $1::bigint)"
    " AND ($2 = '' OR ($2 = 'online' AND b.online AND b.status <> 'decommissioned')"
    " OR ($2 = 'offline' AND NOT b.online AND b.status <> 'decommissioned')"
    " OR ($2 = 'maintenance' AND b.maintenance AND b.status <> 'decommissioned')"
    " OR ($2 = 'decommissioned' AND b.status = 'decommissioned'))"
    " AND ($3 = '' OR ($3 = 'none' AND NOT EXISTS (SELECT 1 FROM box_faults f WHERE "
    "f.box_id = b.id AND f.cleared_at IS NULL)) OR ($3 <> 'none' AND EXISTS (SELECT 1 FROM "
    "box_faults f WHERE f.box_id = b.id AND f.cleared_at IS NULL AND ($3 = 'any' OR f.kind = $3))))"
    " AND ($4 = '' OR lower(b.id) LIKE $4)";

std::string like_prefix(const std::string& search) {
  if (search.empty()) return "";
  std::string out;
  for (char c : search) {
    if (c == '%' || c == '_' || c == '\\') out += '\\';
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out + "%";
}

}  // namespace

nlohmann::json list_boxes(pqxx::transaction_base& tx, const BoxFilter& filter) {
  const auto pattern = like_prefix(filter.search);
  const std::optional<std::int64_t> location = filter.location_id;
  const std::int64_t page = std::max<std::int64_t>(1, filter.page);
  // nullopt page size: every box (LIMIT NULL is no limit). The page's ids are chosen first, so
  // the rows an OFFSET skips are never projected (their per-box subqueries never run).
  const std::optional<std::int64_t> limit = filter.page_size;
  const std::int64_t offset = limit ? (page - 1) * *limit : 0;
  static const std::string kPageSql =
      "SELECT " + kBoxColumns +
      ", l.name, (b.last_state->>'temperature_c')::double precision, "
      "(b.last_state->>'humidity_percent')::double precision, "
      "(SELECT max(c.fill_percent) FROM compartments c WHERE c.box_id = b.id) "
      "FROM (SELECT b.id FROM boxes b" +
      kBoxFilterWhere +
      " ORDER BY b.id LIMIT $5 OFFSET $6) page JOIN boxes b ON b.id = page.id "
      "LEFT JOIN locations l ON l.id = b.location_id ORDER BY b.id";
  static const std::string kCountSql = "SELECT count(*) FROM boxes b" + kBoxFilterWhere;
  nlohmann::json items = nlohmann::json::array();
  for (const auto& row :
       tx.exec_params(kPageSql, location, filter.state, filter.fault, pattern, limit, offset)) {
    auto box = box_from(row);
    box["location_name"] = nullable_text(row[12]);
    box["temperature_c"] =
        row[13].is_null() ? nlohmann::json() : nlohmann::json(row[13].as<double>());
    box["humidity_percent"] =
        row[14].is_null() ? nlohmann::json() : nlohmann::json(row[14].as<double>());
    box["fill_max_percent"] =
        row[15].is_null() ? nlohmann::json() : nlohmann::json(row[15].as<int>());
    items.push_back(std::move(box));
  }
  const auto total = tx.exec_params1(kCountSql, location, filter.state, filter.fault, pattern)[0]
                         .as<std::int64_t>();
  const auto fleet = tx.exec1(
      "SELECT count(*), count(*) FILTER (WHERE online), "
      "count(*) FILTER (WHERE NOT online AND status <> 'decommissioned'), "
      "count(*) FILTER (WHERE maintenance AND status <> 'decommissioned'), "
      "count(*) FILTER (WHERE status = 'decommissioned'), "
      "(SELECT count(DISTINCT box_id) FROM box_faults WHERE cleared_at IS NULL) FROM boxes");
  // Each location with its boxes' counts (one pass over boxes; a location without boxes too).
  nlohmann::json by_location = nlohmann::json::array();
  for (const auto& row : tx.exec(
           "SELECT l.id, l.name, l.address, count(b.id), "
           "count(b.id) FILTER (WHERE b.online AND b.status <> 'decommissioned'), "
           "count(f.box_id) FROM locations l LEFT JOIN boxes b ON b.location_id = l.id "
           "AND b.status <> 'decommissioned' LEFT JOIN (SELECT DISTINCT box_id FROM box_faults "
           "WHERE cleared_at IS NULL) f ON f.box_id = b.id GROUP BY l.id ORDER BY l.name, l.id")) {
    by_location.push_back({{"id", row[0].as<std::int64_t>()},
                           {"name", row[1].as<std::string>()},
                           {"address", row[2].as<std::string>()},
                           {"boxes", row[3].as<std::int64_t>()},
                           {"online", row[4].as<std::int64_t>()},
                           {"with_faults", row[5].as<std::int64_t>()}});
  }
  const auto all = fleet[0].as<std::int64_t>();
  const auto online = fleet[1].as<std::int64_t>();
  return {{"items", items},
          {"total", total},
          {"page", page},
          {"page_size", limit ? nlohmann::json(*limit) : nlohmann::json(total)},
          // Over the whole fleet (not the filter): offline counts decommissioned boxes too.
          {"online", online},
          {"offline", all - online},
          {"fleet",
           {{"total", all},
            {"online", online},
            {"offline", fleet[2].as<std::int64_t>()},
            {"maintenance", fleet[3].as<std::int64_t>()},
            {"decommissioned", fleet[4].as<std::int64_t>()},
            {"with_faults", fleet[5].as<std::int64_t>()}}},
          {"locations", by_location}};
}

std::optional<std::string> lock_box(pqxx::work& tx, const std::string& box_id) {
  const auto rows = tx.exec_params("SELECT status FROM boxes WHERE id = $1 FOR UPDATE", box_id);
  if (rows.empty()) return std::nullopt;
  return rows[0][0].as<std::string>();
}

void set_maintenance(pqxx::work& tx, const std::string& box_id, bool on) {
  tx.exec_params("UPDATE boxes SET maintenance = $2 WHERE id = $1", box_id, on);
}

void decommission_box(pqxx::work& tx, const std::string& box_id, std::int64_t now_ms) {
  tx.exec_params(
      "UPDATE boxes SET status = 'decommissioned', decommissioned_at = $2::timestamptz, "
      "online = false WHERE id = $1",
      box_id, ts(now_ms));
  tx.exec_params("DELETE FROM compartment_reservations WHERE box_id = $1", box_id);
}

bool compartment_exists(pqxx::work& tx, const std::string& box_id, int number) {
  return !tx.exec_params("SELECT 1 FROM compartments WHERE box_id = $1 AND number = $2", box_id,
                         number)
              .empty();
}

bool box_online(pqxx::work& tx, const std::string& box_id) {
  const auto rows = tx.exec_params("SELECT online FROM boxes WHERE id = $1", box_id);
  return !rows.empty() && rows[0][0].as<bool>();
}

msg::Command create_open_command(pqxx::work& tx, const std::string& box_id, int compartment,
                                 const std::string& reason, std::int64_t staff_id,
                                 std::int64_t now_ms) {
  msg::Command cmd;
  cmd.id = random_id();
  cmd.op = msg::CommandOp::kOpen;
  cmd.compartment = compartment;
  if (!reason.empty()) cmd.reason = reason;
  tx.exec_params(
      "INSERT INTO box_commands (id, box_id, op, compartment, reason, requested_by, "
      "created_at) VALUES ($1, $2, 'open', $3, $4, $5, $6::timestamptz)",
      cmd.id, box_id, compartment, cmd.reason, staff_id, ts(now_ms));
  return cmd;
}

nlohmann::json list_commands(pqxx::work& tx, const std::string& box_id, int limit) {
  nlohmann::json items = nlohmann::json::array();
  for (const auto& row : tx.exec_params(
           "SELECT id, op, compartment, reason, requested_by, " + ms_of("created_at") + ", " +
               ms_of("published_at") + ", executed_seq, result_ok, result_code, result_message, " +
               ms_of("result_at") +
               " FROM box_commands WHERE box_id = $1 ORDER BY created_at DESC, id LIMIT $2",
           box_id, limit)) {
    items.push_back(
        {{"id", row[0].as<std::string>()},
         {"op", row[1].as<std::string>()},
         {"compartment", row[2].is_null() ? nlohmann::json() : nlohmann::json(row[2].as<int>())},
         {"reason", nullable_text(row[3])},
         {"requested_by",
          row[4].is_null() ? nlohmann::json() : nlohmann::json(row[4].as<std::int64_t>())},
         {"created_at", ts(row[5].as<std::int64_t>())},
         {"published_at", nullable_time(row[6])},
         {"executed_seq",
          row[7].is_null() ? nlohmann::json() : nlohmann::json(row[7].as<std::int64_t>())},
         {"result_ok", row[8].is_null() ? nlohmann::json() : nlohmann::json(row[8].as<bool>())},
         {"result_code", nullable_text(row[9])},
         {"result_message", nullable_text(row[10])},
         {"result_at", nullable_time(row[11])}});
  }
  return {{"items", items}};
}

bool apply_status(pqxx::transaction_base& tx, const std::string& box_id, const msg::Status& status,
                  std::int64_t now_ms) {
  // A box that reports in for the first time becomes active; a decommissioned box stays so.
  const auto r = exec_hot(
      tx, "apply_status",
      "UPDATE boxes SET online = $2 AND status <> 'decommissioned', last_seen = $3::timestamptz, "
      "firmware_version = COALESCE(NULLIF($4, ''), firmware_version), "
      "status = CASE WHEN status = 'registered' AND $2 THEN 'active' ELSE status END "
      "WHERE id = $1",
      box_id, status.online, ts(now_ms), status.firmware_version);
  return r.affected_rows() > 0;
}

bool apply_state(pqxx::transaction_base& tx, const std::string& box_id, const msg::State& state,
                 const nlohmann::json& raw_body, std::int64_t now_ms) {
  // One statement for the box row and all its compartments (a state report of 24 compartments
  // was 25 round trips; B7 measures ingest with 10,000 boxes). Only compartments registered for
  // the box are updated: the box cannot invent new ones. A compartment is listed at most once
  // (the message parser refuses a report that lists one twice).
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& c : state.compartments) {
    rows.push_back(
        {{"number", c.id},
         {"state", c.state},
         {"door_open", c.door_open},
         {"fill_percent", c.fill_percent ? nlohmann::json(*c.fill_percent) : nlohmann::json()}});
  }
  const auto r = exec_hot(
      tx, "apply_state",
      "WITH b AS (UPDATE boxes SET last_state = $2::jsonb, last_state_at = $3::timestamptz, "
      "last_seen = $3::timestamptz WHERE id = $1 AND status <> 'decommissioned' RETURNING id), "
      "c AS (UPDATE compartments SET state = x.state, door_open = x.door_open, "
      "fill_percent = x.fill_percent, updated_at = $3::timestamptz FROM b, "
      "jsonb_to_recordset($4::jsonb) AS x(number int, state text, door_open boolean, "
      "fill_percent int) WHERE compartments.box_id = b.id AND compartments.number = x.number) "
      "SELECT count(*) FROM b",
      box_id, raw_body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), ts(now_ms),
      rows.dump());
  return r[0][0].as<std::int64_t>() > 0;
}

bool apply_command_result(pqxx::work& tx, const std::string& box_id,
                          const msg::CommandResult& result, std::int64_t now_ms) {
  const auto r = tx.exec_params(
      "UPDATE box_commands SET result_ok = $3, result_code = $4, result_message = $5, "
      "result_at = $6::timestamptz WHERE id = $1 AND box_id = $2 AND result_at IS NULL",
      result.command_id, box_id, result.ok, result.code, result.message, ts(now_ms));
  return r.affected_rows() > 0;
}

std::optional<msg::Config> build_box_config(pqxx::work& tx, const std::string& box_id,
                                            std::int64_t now_ms) {
  const auto rows = tx.exec_params(
      "UPDATE boxes SET config_revision = config_revision + 1 WHERE id = $1 AND "
      "status <> 'decommissioned' RETURNING config_revision, maintenance",
      box_id);
  if (rows.empty()) return std::nullopt;
  msg::Config config;
  config.revision = rows[0][0].as<std::uint64_t>();
  config.maintenance = rows[0][1].as<bool>();
  for (const auto& row :
       tx.exec("SELECT key_id, public_pem, status FROM signing_keys ORDER BY key_id")) {
    config.keys.push_back(msg::TrustedKey{row[0].as<std::uint16_t>(), row[1].as<std::string>(),
                                          row[2].as<std::string>() == "retired"});
  }
  const auto now = ts(now_ms);
  for (const auto& row : tx.exec_params(
           "SELECT compartment, order_ref, action, (extract(epoch from until))::bigint FROM "
           "compartment_reservations WHERE box_id = $1 AND until > $2::timestamptz ORDER BY "
           "compartment",
           box_id, now)) {
    msg::Reservation r;
    r.compartment = row[0].as<int>();
    r.order_ref = row[1].as<std::uint64_t>();
    r.action = token_action_from_string(row[2].as<std::string>()).value_or(TokenAction::kDeposit);
    r.until = row[3].as<std::int64_t>();
    config.reservations.push_back(r);
  }
  for (const auto& row : tx.exec_params(
           "SELECT token_id FROM revoked_tokens WHERE (box_id IS NULL OR box_id = $1) AND "
           "expires > $2::timestamptz ORDER BY token_id LIMIT 10000",
           box_id, now)) {
    config.revoked_token_ids.push_back(row[0].as<std::string>());
  }
  return config;
}

void mark_config_published(pqxx::work& tx, const std::string& box_id, std::uint64_t revision) {
  tx.exec_params(
      "UPDATE boxes SET config_published_revision = GREATEST(config_published_revision, "
      "$2) WHERE id = $1",
      box_id, static_cast<std::int64_t>(revision));
}

std::vector<std::string> boxes_with_unpublished_config(pqxx::work& tx) {
  std::vector<std::string> out;
  for (const auto& row : tx.exec("SELECT id FROM boxes WHERE status <> 'decommissioned' AND "
                                 "config_published_revision < config_revision ORDER BY id")) {
    out.push_back(row[0].as<std::string>());
  }
  return out;
}

std::vector<std::string> active_box_ids(pqxx::work& tx) {
  std::vector<std::string> out;
  for (const auto& row :
       tx.exec("SELECT id FROM boxes WHERE status <> 'decommissioned' ORDER BY id")) {
    out.push_back(row[0].as<std::string>());
  }
  return out;
}

std::int64_t count_online_boxes(pqxx::work& tx) {
  return tx.exec1("SELECT count(*) FROM boxes WHERE online")[0].as<std::int64_t>();
}

}  // namespace reclothes::controller
