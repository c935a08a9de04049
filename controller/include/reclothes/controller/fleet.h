// Drop-off locations, boxes and compartments: the store functions behind the fleet routes and
// the MQTT bridge. All take the caller's transaction; times are Unix ms from the injected clock.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "reclothes/common/messages.h"
#include "reclothes/common/result.h"

namespace reclothes::controller {

struct CompartmentSpec {
  int number = 0;          // 1..255
  std::string size_class;  // S, M, L, XL
};

bool is_valid_size_class(std::string_view s);

// lat and lon are both given or both absent (the caller checks; the table refuses one alone).
nlohmann::json create_location(pqxx::work& tx, const std::string& name, const std::string& address,
                               std::optional<double> lat, std::optional<double> lon,
                               std::int64_t now_ms, const std::string& opening_notes = "");
std::optional<nlohmann::json> get_location(pqxx::work& tx, std::int64_t id);
nlohmann::json list_locations(pqxx::work& tx);

// kAlreadyExists if the id is taken, kNotFound for an unknown location, kInvalidArgument for bad
// compartments (duplicates, numbers out of range, unknown size class).
Result<nlohmann::json> register_box(pqxx::work& tx, const std::string& box_id,
                                    std::optional<std::int64_t> location_id,
                                    const std::vector<CompartmentSpec>& compartments,
                                    std::int64_t now_ms);
// The box with compartments (and what holds each), open faults, recent events as the controller
// applied them, and recent commands; nullopt if unknown.
std::optional<nlohmann::json> get_box(pqxx::work& tx, const std::string& box_id);
// Which boxes the fleet list shows (GET /internal/v1/boxes's query parameters).
struct BoxFilter {
  std::optional<std::int64_t> location_id;
  std::string state;   // "", "online", "offline", "maintenance" or "decommissioned"
  std::string fault;   // "", "any" (an open fault), "none", or one fault kind
  std::string search;  // a box id prefix, case-insensitive ("" for every box)
  std::int64_t page = 1;
  // Boxes per page; nullopt answers every matching box (the list before paging existed).
  std::optional<std::int64_t> page_size;
};
inline constexpr std::int64_t kMaxBoxPageSize = 500;
bool is_box_state_filter(std::string_view s);
bool is_fault_kind(std::string_view s);

// Fleet overview: the boxes the filter selects, ordered by id, one page of them, each with
// online/offline, last seen, firmware, backlog, open faults, location, fill levels, temperature
// and humidity; the total that matched; and the whole fleet's counts ("fleet"). Stays a few
// indexed statements with 10,000 boxes (the per-box columns are computed for the page only).
nlohmann::json list_boxes(pqxx::transaction_base& tx, const BoxFilter& filter = {});
// Summary row used for before/after audit images; nullopt if unknown.
std::optional<nlohmann::json> box_summary(pqxx::work& tx, const std::string& box_id);
// Locks the box row (FOR UPDATE) and returns its status, or nullopt if unknown.
std::optional<std::string> lock_box(pqxx::work& tx, const std::string& box_id);

void set_maintenance(pqxx::work& tx, const std::string& box_id, bool on);
void decommission_box(pqxx::work& tx, const std::string& box_id, std::int64_t now_ms);
bool compartment_exists(pqxx::work& tx, const std::string& box_id, int number);
bool box_online(pqxx::work& tx, const std::string& box_id);

// Records an `open` command and returns it (id = random).
msg::Command create_open_command(pqxx::work& tx, const std::string& box_id, int compartment,
                                 const std::string& reason, std::int64_t staff_id,
                                 std::int64_t now_ms);
nlohmann::json list_commands(pqxx::work& tx, const std::string& box_id, int limit);

// MQTT side. Each returns false if the box is unknown (nothing written). Status and state are one
// statement each, so they run in autocommit (Database::with_autocommit): one round trip.
bool apply_status(pqxx::transaction_base& tx, const std::string& box_id, const msg::Status& status,
                  std::int64_t now_ms);
bool apply_state(pqxx::transaction_base& tx, const std::string& box_id, const msg::State& state,
                 const nlohmann::json& raw_body, std::int64_t now_ms);
bool apply_command_result(pqxx::work& tx, const std::string& box_id,
                          const msg::CommandResult& result, std::int64_t now_ms);

// Bumps the box's config revision and builds its desired config from the database: maintenance,
// trusted keys (retired ones flagged), active reservations, unexpired revocations. nullopt for an
// unknown or decommissioned box.
std::optional<msg::Config> build_box_config(pqxx::work& tx, const std::string& box_id,
                                            std::int64_t now_ms);
void mark_config_published(pqxx::work& tx, const std::string& box_id, std::uint64_t revision);
// Boxes whose latest config revision was not yet confirmed published.
std::vector<std::string> boxes_with_unpublished_config(pqxx::work& tx);
std::vector<std::string> active_box_ids(pqxx::work& tx);
std::int64_t count_online_boxes(pqxx::work& tx);

}  // namespace reclothes::controller
