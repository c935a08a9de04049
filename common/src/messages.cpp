#include "reclothes/common/messages.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <type_traits>
#include <utility>

#include "reclothes/common/bytes.h"
#include "reclothes/common/json_reader.h"

namespace reclothes::msg {
namespace {

// Parsed input goes into nlohmann::json (std::map objects: lookups and inserts stay O(log n) even
// for hostile objects with many keys). Output is built as ordered_json so that a person reading
// `mosquitto_sub` sees the envelope in its natural order.
using Json = nlohmann::json;
using OrderedJson = nlohmann::ordered_json;

constexpr std::uint64_t kU64Max = std::numeric_limits<std::uint64_t>::max();
constexpr std::int64_t kI64Max = std::numeric_limits<std::int64_t>::max();
constexpr std::size_t kMaxCodeLength = 64;
constexpr std::size_t kMaxFirmwareVersionLength = 64;
constexpr std::size_t kMaxPublicPemBytes = 4096;
constexpr std::size_t kMaxCompartmentStateLength = 32;
constexpr int kMaxCompartment = 255;

// ---- enum tables --------------------------------------------------------------------------------

template <typename E>
struct Name {
  E value;
  std::string_view name;
};

constexpr std::array<Name<EventKind>, 14> kEventKinds{{
    {EventKind::kBoot, "boot"},
    {EventKind::kScanRejected, "scan_rejected"},
    {EventKind::kUnlocked, "unlocked"},
    {EventKind::kUnlockUnknown, "unlock_unknown"},
    {EventKind::kDoorOpened, "door_opened"},
    {EventKind::kDoorClosed, "door_closed"},
    {EventKind::kAccessCompleted, "access_completed"},
    {EventKind::kJammed, "jammed"},
    {EventKind::kForced, "forced"},
    {EventKind::kAjar, "ajar"},
    {EventKind::kOutOfService, "out_of_service"},
    {EventKind::kTamper, "tamper"},
    {EventKind::kFillLevel, "fill_level"},
    {EventKind::kCommandExecuted, "command_executed"},
}};

constexpr std::array<Name<CommandOp>, 8> kCommandOps{{
    {CommandOp::kOpen, "open"},
    {CommandOp::kReserve, "reserve"},
    {CommandOp::kRelease, "release"},
    {CommandOp::kRevoke, "revoke"},
    {CommandOp::kMaintenanceOn, "maintenance_on"},
    {CommandOp::kMaintenanceOff, "maintenance_off"},
    {CommandOp::kConfigUpdate, "config_update"},
    {CommandOp::kOpenAccess, "open_access"},
}};

constexpr std::array<Name<MessageType>, 7> kMessageTypes{{
    {MessageType::kEvents, "events"},
    {MessageType::kAck, "ack"},
    {MessageType::kCommand, "command"},
    {MessageType::kCommandResult, "command_result"},
    {MessageType::kState, "state"},
    {MessageType::kStatus, "status"},
    {MessageType::kConfig, "config"},
}};

constexpr std::array<Name<Topic>, 7> kTopicLeaves{{
    {Topic::kEvents, "events"},
    {Topic::kAcks, "acks"},
    {Topic::kCommands, "commands"},
    {Topic::kCommandResults, "command-results"},
    {Topic::kState, "state"},
    {Topic::kStatus, "status"},
    {Topic::kConfig, "config"},
}};

constexpr std::array<std::string_view, 4> kCompartmentSizes{"S", "M", "L", "XL"};

template <typename E, std::size_t N>
std::string_view name_of(const std::array<Name<E>, N>& table, E value) {
  for (const auto& entry : table) {
    if (entry.value == value) return entry.name;
  }
  return {};  // an out-of-range enum value; validation then reports it as unknown
}

template <typename E, std::size_t N>
std::optional<E> value_of(const std::array<Name<E>, N>& table, std::string_view name) {
  for (const auto& entry : table) {
    if (entry.name == name) return entry.value;
  }
  return std::nullopt;
}

template <typename E, std::size_t N>
std::string one_of(const std::array<Name<E>, N>& table) {
  std::string out = "one of ";
  for (std::size_t i = 0; i < N; ++i) {
    if (i > 0) out += ", ";
    out += '"';
    out += table[i].name;
    out += '"';
  }
  return out;
}

// ---- reading typed values -----------------------------------------------------------------------
// The generic reads (types, ranges, pointers, descriptions) are the common JSON reader's; what
// follows are the schema's own value types.

using json::child;
using json::describe;
using json::expected_error;
using json::field_error;
using json::find;
using json::printable;
using json::quote;
using json::read_array;
using json::read_bool;
using json::read_int;
using json::read_number;
using json::read_object;
using json::read_string;
using json::read_text;
using json::read_uint;
using json::require;

Result<int> read_compartment(const Json& v, const std::string& pointer) {
  RC_ASSIGN_OR_RETURN(std::int64_t value, read_int(v, pointer, 1, kMaxCompartment));
  return static_cast<int>(value);
}

Result<int> read_percent(const Json& v, const std::string& pointer) {
  RC_ASSIGN_OR_RETURN(std::int64_t value, read_int(v, pointer, 0, 100));
  return static_cast<int>(value);
}

bool is_id_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

bool is_code(std::string_view s, std::size_t max_length) {
  if (s.empty() || s.size() > max_length) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

bool is_printable_ascii(std::string_view s, std::size_t max_length) {
  if (s.empty() || s.size() > max_length) return false;
  for (char c : s) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

Result<std::string> read_id(const Json& v, const std::string& pointer) {
  RC_ASSIGN_OR_RETURN(std::string s, read_string(v, pointer));
  if (!is_valid_id(s)) {
    return field_error(pointer,
                       "expected an id of 1..64 characters [A-Za-z0-9_-], got " + quote(s));
  }
  return s;
}

Result<std::string> read_box_id(const Json& v, const std::string& pointer) {
  RC_ASSIGN_OR_RETURN(std::string s, read_string(v, pointer));
  if (!is_valid_box_id(s)) {
    return field_error(pointer,
                       "expected a box id of 1..32 characters [A-Za-z0-9_-], got " + quote(s));
  }
  return s;
}

// Token ids are compared as strings (revocation lists, used-token tables), so they are
// normalised to lower case here, once.
Result<std::string> read_token_id(const Json& v, const std::string& pointer) {
  RC_ASSIGN_OR_RETURN(std::string s, read_string(v, pointer));
  if (!is_valid_token_id(s)) {
    return field_error(pointer, "expected a token id of 16 hex digits, got " + quote(s));
  }
  for (char& c : s) {
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

// Machine-readable codes (rejection reasons, result codes, compartment states).
Result<std::string> read_code(const Json& v, const std::string& pointer, std::size_t max_length) {
  RC_ASSIGN_OR_RETURN(std::string s, read_string(v, pointer));
  if (!is_code(s, max_length)) {
    return field_error(pointer, "expected a code of 1.." + std::to_string(max_length) +
                                    " characters [a-z0-9_], got " + quote(s));
  }
  return s;
}

Result<std::string> read_firmware_version(const Json& v, const std::string& pointer) {
  RC_ASSIGN_OR_RETURN(std::string s, read_string(v, pointer));
  if (!is_printable_ascii(s, kMaxFirmwareVersionLength)) {
    return field_error(pointer, "expected 1..64 printable ASCII characters, got " + quote(s));
  }
  return s;
}

Result<TokenAction> read_action(const Json& v, const std::string& pointer) {
  RC_ASSIGN_OR_RETURN(std::string s, read_string(v, pointer));
  std::optional<TokenAction> action = token_action_from_string(s);
  if (!action) {
    std::string names;
    for (TokenAction a : {TokenAction::kDeposit, TokenAction::kPickup, TokenAction::kCourierCollect,
                          TokenAction::kCourierLoad, TokenAction::kReturn}) {
      if (!names.empty()) names += ", ";
      names += '"' + std::string(reclothes::to_string(a)) + '"';
    }
    return field_error(pointer, "unknown token action " + quote(s) + "; expected one of " + names);
  }
  return *action;
}

template <typename E, std::size_t N>
Result<E> read_enum(const Json& v, const std::string& pointer, const std::array<Name<E>, N>& table,
                    std::string_view what) {
  RC_ASSIGN_OR_RETURN(std::string s, read_string(v, pointer));
  std::optional<E> value = value_of(table, s);
  if (!value) {
    return field_error(
        pointer, "unknown " + std::string(what) + " " + quote(s) + "; expected " + one_of(table));
  }
  return *value;
}

Result<std::vector<std::string>> read_token_ids(const Json& v, const std::string& pointer,
                                                std::size_t min, std::size_t max) {
  RC_ASSIGN_OR_RETURN(const Json* array, read_array(v, pointer, min, max));
  std::vector<std::string> ids;
  ids.reserve(array->size());
  for (std::size_t i = 0; i < array->size(); ++i) {
    RC_ASSIGN_OR_RETURN(std::string id, read_token_id((*array)[i], child(pointer, i)));
    ids.push_back(std::move(id));
  }
  return ids;
}

// ---- bodies from JSON ---------------------------------------------------------------------------

Result<Event> event_from_json(const Json& v, const std::string& p) {
  RC_TRY(read_object(v, p));
  Event e;
  RC_ASSIGN_OR_RETURN(const Json* seq, require(v, p, "seq"));
  RC_ASSIGN_OR_RETURN(e.seq, read_uint(*seq, child(p, "seq"), 1));
  RC_ASSIGN_OR_RETURN(const Json* kind, require(v, p, "kind"));
  RC_ASSIGN_OR_RETURN(e.kind, read_enum(*kind, child(p, "kind"), kEventKinds, "event kind"));
  RC_ASSIGN_OR_RETURN(const Json* at, require(v, p, "at_ms"));
  RC_ASSIGN_OR_RETURN(e.at_ms, read_int(*at, child(p, "at_ms"), 0, kI64Max));
  if (const Json* f = find(v, "compartment")) {
    RC_ASSIGN_OR_RETURN(e.compartment, read_compartment(*f, child(p, "compartment")));
  }
  if (const Json* f = find(v, "token_id")) {
    RC_ASSIGN_OR_RETURN(e.token_id, read_token_id(*f, child(p, "token_id")));
  }
  if (const Json* f = find(v, "action")) {
    RC_ASSIGN_OR_RETURN(e.action, read_action(*f, child(p, "action")));
  }
  if (const Json* f = find(v, "order_ref")) {
    RC_ASSIGN_OR_RETURN(e.order_ref, read_uint(*f, child(p, "order_ref")));
  }
  if (const Json* f = find(v, "reason")) {
    RC_ASSIGN_OR_RETURN(e.reason, read_code(*f, child(p, "reason"), kMaxCodeLength));
  }
  if (const Json* f = find(v, "occupied")) {
    RC_ASSIGN_OR_RETURN(e.occupied, read_bool(*f, child(p, "occupied")));
  }
  if (const Json* f = find(v, "fill_percent")) {
    RC_ASSIGN_OR_RETURN(e.fill_percent, read_percent(*f, child(p, "fill_percent")));
  }
  if (const Json* f = find(v, "command_id")) {
    RC_ASSIGN_OR_RETURN(e.command_id, read_id(*f, child(p, "command_id")));
  }
  if (const Json* f = find(v, "detail")) {
    RC_ASSIGN_OR_RETURN(e.detail, read_text(*f, child(p, "detail"), kMaxDetailBytes));
  }
  return e;
}

Result<Events> events_from_json(const Json& body, const std::string& p) {
  RC_ASSIGN_OR_RETURN(const Json* list, require(body, p, "events"));
  const std::string lp = child(p, "events");
  RC_TRY(read_array(*list, lp, 1, kMaxEventsPerBatch));
  Events out;
  out.events.reserve(list->size());
  for (std::size_t i = 0; i < list->size(); ++i) {
    RC_ASSIGN_OR_RETURN(Event e, event_from_json((*list)[i], child(lp, i)));
    // The controller acknowledges cumulatively, which is only sound if a batch has no gaps.
    if (i > 0) {
      const std::uint64_t previous = out.events.back().seq;
      if (previous == kU64Max || e.seq != previous + 1) {
        return field_error(child(child(lp, i), "seq"),
                           "seqs in a batch must be consecutive: expected " +
                               (previous == kU64Max ? std::string("no more events after ") +
                                                          std::to_string(previous)
                                                    : std::to_string(previous + 1)) +
                               ", got " + std::to_string(e.seq));
      }
    }
    out.events.push_back(std::move(e));
  }
  return out;
}

Result<Ack> ack_from_json(const Json& body, const std::string& p) {
  Ack ack;
  RC_ASSIGN_OR_RETURN(const Json* upto, require(body, p, "upto"));
  RC_ASSIGN_OR_RETURN(ack.upto, read_uint(*upto, child(p, "upto"), 1));
  return ack;
}

Result<Reservation> reservation_from_json(const Json& v, const std::string& p) {
  RC_TRY(read_object(v, p));
  Reservation r;
  RC_ASSIGN_OR_RETURN(const Json* compartment, require(v, p, "compartment"));
  RC_ASSIGN_OR_RETURN(r.compartment, read_compartment(*compartment, child(p, "compartment")));
  RC_ASSIGN_OR_RETURN(const Json* order_ref, require(v, p, "order_ref"));
  RC_ASSIGN_OR_RETURN(r.order_ref, read_uint(*order_ref, child(p, "order_ref")));
  RC_ASSIGN_OR_RETURN(const Json* action, require(v, p, "action"));
  RC_ASSIGN_OR_RETURN(r.action, read_action(*action, child(p, "action")));
  RC_ASSIGN_OR_RETURN(const Json* until, require(v, p, "until"));
  RC_ASSIGN_OR_RETURN(r.until, read_int(*until, child(p, "until"), 0, kI64Max));
  return r;
}

Result<Access> access_from_json(const Json& v, const std::string& p) {
  RC_TRY(read_object(v, p));
  Access a;
  RC_ASSIGN_OR_RETURN(const Json* compartment, require(v, p, "compartment"));
  RC_ASSIGN_OR_RETURN(a.compartment, read_compartment(*compartment, child(p, "compartment")));
  RC_ASSIGN_OR_RETURN(const Json* order_ref, require(v, p, "order_ref"));
  RC_ASSIGN_OR_RETURN(a.order_ref, read_uint(*order_ref, child(p, "order_ref")));
  RC_ASSIGN_OR_RETURN(const Json* action, require(v, p, "action"));
  RC_ASSIGN_OR_RETURN(a.action, read_action(*action, child(p, "action")));
  if (a.action != TokenAction::kDeposit && a.action != TokenAction::kPickup &&
      a.action != TokenAction::kReturn) {
    return field_error(child(p, "action"),
                       "open_access takes a customer action (\"deposit\", \"pickup\" or "
                       "\"return\"), got " +
                           quote(reclothes::to_string(a.action)));
  }
  RC_ASSIGN_OR_RETURN(const Json* token_id, require(v, p, "token_id"));
  RC_ASSIGN_OR_RETURN(a.token_id, read_token_id(*token_id, child(p, "token_id")));
  RC_ASSIGN_OR_RETURN(const Json* until, require(v, p, "until"));
  RC_ASSIGN_OR_RETURN(a.until, read_int(*until, child(p, "until"), 0, kI64Max));
  return a;
}

Result<Command> command_from_json(const Json& body, const std::string& p) {
  Command c;
  RC_ASSIGN_OR_RETURN(const Json* id, require(body, p, "id"));
  RC_ASSIGN_OR_RETURN(c.id, read_id(*id, child(p, "id")));
  RC_ASSIGN_OR_RETURN(const Json* op, require(body, p, "op"));
  RC_ASSIGN_OR_RETURN(c.op, read_enum(*op, child(p, "op"), kCommandOps, "command op"));
  // Only the fields the op uses are read; others are ignored like unknown fields, so a later
  // version may give an op more fields without breaking older boxes.
  switch (c.op) {
    case CommandOp::kOpen:
    case CommandOp::kRelease: {
      RC_ASSIGN_OR_RETURN(const Json* f, require(body, p, "compartment"));
      RC_ASSIGN_OR_RETURN(c.compartment, read_compartment(*f, child(p, "compartment")));
      break;
    }
    case CommandOp::kReserve: {
      RC_ASSIGN_OR_RETURN(const Json* f, require(body, p, "reservation"));
      RC_ASSIGN_OR_RETURN(c.reservation, reservation_from_json(*f, child(p, "reservation")));
      break;
    }
    case CommandOp::kRevoke: {
      RC_ASSIGN_OR_RETURN(const Json* f, require(body, p, "token_ids"));
      RC_ASSIGN_OR_RETURN(c.token_ids,
                          read_token_ids(*f, child(p, "token_ids"), 1, kMaxRevokePerCommand));
      break;
    }
    case CommandOp::kOpenAccess: {
      RC_ASSIGN_OR_RETURN(const Json* f, require(body, p, "access"));
      RC_ASSIGN_OR_RETURN(c.access, access_from_json(*f, child(p, "access")));
      break;
    }
    case CommandOp::kMaintenanceOn:
    case CommandOp::kMaintenanceOff:
    case CommandOp::kConfigUpdate:
      break;
  }
  if (const Json* f = find(body, "reason")) {
    RC_ASSIGN_OR_RETURN(c.reason, read_text(*f, child(p, "reason"), kMaxDetailBytes));
  }
  return c;
}

Result<CommandResult> command_result_from_json(const Json& body, const std::string& p) {
  CommandResult r;
  RC_ASSIGN_OR_RETURN(const Json* id, require(body, p, "command_id"));
  RC_ASSIGN_OR_RETURN(r.command_id, read_id(*id, child(p, "command_id")));
  RC_ASSIGN_OR_RETURN(const Json* ok, require(body, p, "ok"));
  RC_ASSIGN_OR_RETURN(r.ok, read_bool(*ok, child(p, "ok")));
  RC_ASSIGN_OR_RETURN(const Json* code, require(body, p, "code"));
  RC_ASSIGN_OR_RETURN(r.code, read_code(*code, child(p, "code"), kMaxCodeLength));
  RC_ASSIGN_OR_RETURN(const Json* message, require(body, p, "message"));
  RC_ASSIGN_OR_RETURN(r.message, read_text(*message, child(p, "message"), kMaxDetailBytes));
  return r;
}

Result<CompartmentState> compartment_state_from_json(const Json& v, const std::string& p) {
  RC_TRY(read_object(v, p));
  CompartmentState c;
  RC_ASSIGN_OR_RETURN(const Json* id, require(v, p, "id"));
  RC_ASSIGN_OR_RETURN(c.id, read_compartment(*id, child(p, "id")));
  RC_ASSIGN_OR_RETURN(const Json* state, require(v, p, "state"));
  RC_ASSIGN_OR_RETURN(c.state, read_code(*state, child(p, "state"), kMaxCompartmentStateLength));
  RC_ASSIGN_OR_RETURN(const Json* door_open, require(v, p, "door_open"));
  RC_ASSIGN_OR_RETURN(c.door_open, read_bool(*door_open, child(p, "door_open")));
  if (const Json* f = find(v, "fill_percent")) {
    RC_ASSIGN_OR_RETURN(c.fill_percent, read_percent(*f, child(p, "fill_percent")));
  }
  RC_ASSIGN_OR_RETURN(const Json* size, require(v, p, "size"));
  RC_ASSIGN_OR_RETURN(c.size, read_string(*size, child(p, "size")));
  bool known = false;
  for (std::string_view s : kCompartmentSizes) known = known || s == c.size;
  if (!known) {
    return field_error(child(p, "size"), "unknown compartment size " + quote(c.size) +
                                             "; expected one of \"S\", \"M\", \"L\", \"XL\"");
  }
  return c;
}

Result<State> state_from_json(const Json& body, const std::string& p) {
  State s;
  RC_ASSIGN_OR_RETURN(const Json* list, require(body, p, "compartments"));
  const std::string lp = child(p, "compartments");
  RC_TRY(read_array(*list, lp, 0, static_cast<std::size_t>(kMaxCompartment)));
  std::set<int> seen;
  for (std::size_t i = 0; i < list->size(); ++i) {
    RC_ASSIGN_OR_RETURN(CompartmentState c, compartment_state_from_json((*list)[i], child(lp, i)));
    if (!seen.insert(c.id).second) {
      return field_error(child(child(lp, i), "id"),
                         "compartment " + std::to_string(c.id) + " is listed twice");
    }
    s.compartments.push_back(std::move(c));
  }
  if (const Json* f = find(body, "temperature_c")) {
    RC_ASSIGN_OR_RETURN(s.temperature_c, read_number(*f, child(p, "temperature_c"), -100, 200));
  }
  if (const Json* f = find(body, "humidity_percent")) {
    RC_ASSIGN_OR_RETURN(s.humidity_percent, read_number(*f, child(p, "humidity_percent"), 0, 100));
  }
  RC_ASSIGN_OR_RETURN(const Json* tamper, require(body, p, "tamper"));
  RC_ASSIGN_OR_RETURN(s.tamper, read_bool(*tamper, child(p, "tamper")));
  RC_ASSIGN_OR_RETURN(const Json* maintenance, require(body, p, "maintenance"));
  RC_ASSIGN_OR_RETURN(s.maintenance, read_bool(*maintenance, child(p, "maintenance")));
  RC_ASSIGN_OR_RETURN(const Json* backlog, require(body, p, "backlog"));
  RC_ASSIGN_OR_RETURN(s.backlog, read_uint(*backlog, child(p, "backlog")));
  RC_ASSIGN_OR_RETURN(const Json* last_seq, require(body, p, "last_seq"));
  RC_ASSIGN_OR_RETURN(s.last_seq, read_uint(*last_seq, child(p, "last_seq")));
  RC_ASSIGN_OR_RETURN(const Json* firmware, require(body, p, "firmware_version"));
  RC_ASSIGN_OR_RETURN(s.firmware_version,
                      read_firmware_version(*firmware, child(p, "firmware_version")));
  RC_ASSIGN_OR_RETURN(const Json* uptime, require(body, p, "uptime_s"));
  RC_ASSIGN_OR_RETURN(s.uptime_s, read_int(*uptime, child(p, "uptime_s"), 0, kI64Max));
  RC_ASSIGN_OR_RETURN(const Json* revision, require(body, p, "config_revision"));
  RC_ASSIGN_OR_RETURN(s.config_revision, read_uint(*revision, child(p, "config_revision")));
  return s;
}

Result<Status> status_from_json(const Json& body, const std::string& p) {
  Status s;
  RC_ASSIGN_OR_RETURN(const Json* online, require(body, p, "online"));
  RC_ASSIGN_OR_RETURN(s.online, read_bool(*online, child(p, "online")));
  RC_ASSIGN_OR_RETURN(const Json* firmware, require(body, p, "firmware_version"));
  RC_ASSIGN_OR_RETURN(s.firmware_version,
                      read_firmware_version(*firmware, child(p, "firmware_version")));
  return s;
}

Result<TrustedKey> trusted_key_from_json(const Json& v, const std::string& p) {
  RC_TRY(read_object(v, p));
  TrustedKey k;
  RC_ASSIGN_OR_RETURN(const Json* key_id, require(v, p, "key_id"));
  RC_ASSIGN_OR_RETURN(std::uint64_t id, read_uint(*key_id, child(p, "key_id"), 0,
                                                  std::numeric_limits<std::uint16_t>::max()));
  k.key_id = static_cast<std::uint16_t>(id);
  RC_ASSIGN_OR_RETURN(const Json* pem, require(v, p, "public_pem"));
  RC_ASSIGN_OR_RETURN(k.public_pem,
                      read_text(*pem, child(p, "public_pem"), kMaxPublicPemBytes, false));
  RC_ASSIGN_OR_RETURN(const Json* retired, require(v, p, "retired"));
  RC_ASSIGN_OR_RETURN(k.retired, read_bool(*retired, child(p, "retired")));
  return k;
}

Result<Config> config_from_json(const Json& body, const std::string& p) {
  Config c;
  RC_ASSIGN_OR_RETURN(const Json* revision, require(body, p, "revision"));
  RC_ASSIGN_OR_RETURN(c.revision, read_uint(*revision, child(p, "revision"), 1));
  RC_ASSIGN_OR_RETURN(const Json* maintenance, require(body, p, "maintenance"));
  RC_ASSIGN_OR_RETURN(c.maintenance, read_bool(*maintenance, child(p, "maintenance")));

  RC_ASSIGN_OR_RETURN(const Json* keys, require(body, p, "keys"));
  const std::string kp = child(p, "keys");
  RC_TRY(read_array(*keys, kp, 0, kMaxKeysInConfig));
  std::set<std::uint16_t> key_ids;
  for (std::size_t i = 0; i < keys->size(); ++i) {
    RC_ASSIGN_OR_RETURN(TrustedKey k, trusted_key_from_json((*keys)[i], child(kp, i)));
    // Two keys under one id would make signature checks depend on which one a box kept.
    if (!key_ids.insert(k.key_id).second) {
      return field_error(child(child(kp, i), "key_id"),
                         "key id " + std::to_string(k.key_id) + " is listed twice");
    }
    c.keys.push_back(std::move(k));
  }

  RC_ASSIGN_OR_RETURN(const Json* reservations, require(body, p, "reservations"));
  const std::string rp = child(p, "reservations");
  RC_TRY(read_array(*reservations, rp, 0, kMaxReservationsInConfig));
  for (std::size_t i = 0; i < reservations->size(); ++i) {
    RC_ASSIGN_OR_RETURN(Reservation r, reservation_from_json((*reservations)[i], child(rp, i)));
    c.reservations.push_back(r);
  }

  RC_ASSIGN_OR_RETURN(const Json* revoked, require(body, p, "revoked_token_ids"));
  RC_ASSIGN_OR_RETURN(c.revoked_token_ids, read_token_ids(*revoked, child(p, "revoked_token_ids"),
                                                          0, kMaxRevokedInConfig));
  return c;
}

Result<Body> body_from_json(MessageType type, const Json& body, const std::string& p) {
  switch (type) {
    case MessageType::kEvents: {
      RC_ASSIGN_OR_RETURN(Events b, events_from_json(body, p));
      return Body{std::move(b)};
    }
    case MessageType::kAck: {
      RC_ASSIGN_OR_RETURN(Ack b, ack_from_json(body, p));
      return Body{b};
    }
    case MessageType::kCommand: {
      RC_ASSIGN_OR_RETURN(Command b, command_from_json(body, p));
      return Body{std::move(b)};
    }
    case MessageType::kCommandResult: {
      RC_ASSIGN_OR_RETURN(CommandResult b, command_result_from_json(body, p));
      return Body{std::move(b)};
    }
    case MessageType::kState: {
      RC_ASSIGN_OR_RETURN(State b, state_from_json(body, p));
      return Body{std::move(b)};
    }
    case MessageType::kStatus: {
      RC_ASSIGN_OR_RETURN(Status b, status_from_json(body, p));
      return Body{std::move(b)};
    }
    case MessageType::kConfig: {
      RC_ASSIGN_OR_RETURN(Config b, config_from_json(body, p));
      return Body{std::move(b)};
    }
  }
  return make_error(ErrorCode::kInternal, "unhandled message type");
}

Error oversize(std::size_t size, MessageType type) {
  return make_error(ErrorCode::kResourceExhausted,
                    "payload is " + std::to_string(size) + " bytes, over the limit of " +
                        std::to_string(max_payload_bytes(type)) + " bytes for " +
                        std::string(to_string(type)) + " messages");
}

// Validates a whole envelope. payload_size is the size of the text it came from, if any, so the
// per-type size limit can be applied as soon as the type is known.
Result<Envelope> envelope_from_json(const Json& j, std::optional<std::size_t> payload_size,
                                    std::optional<MessageType> expected_type) {
  if (!j.is_object()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "payload: expected a JSON object, got " + describe(j));
  }
  const std::string root;
  Envelope env;
  // The version comes first: a message of another version may differ in every other field, and
  // "unsupported version" is the reason a person needs to see.
  RC_ASSIGN_OR_RETURN(const Json* v, require(j, root, "v"));
  if (!v->is_number_integer()) return expected_error("/v", "an integer", *v);
  const bool supported = v->is_number_unsigned()
                             ? v->get<std::uint64_t>() == static_cast<std::uint64_t>(kSchemaVersion)
                             : v->get<std::int64_t>() == kSchemaVersion;
  if (!supported) {
    return field_error("/v", "unsupported schema version " + v->dump() +
                                 "; this build supports version " + std::to_string(kSchemaVersion));
  }
  env.version = kSchemaVersion;
  RC_ASSIGN_OR_RETURN(const Json* type_field, require(j, root, "type"));
  RC_ASSIGN_OR_RETURN(MessageType type,
                      read_enum(*type_field, "/type", kMessageTypes, "message type"));
  if (expected_type && type != *expected_type) {
    return field_error("/type", "expected type " + quote(to_string(*expected_type)) + ", got " +
                                    quote(to_string(type)));
  }
  if (payload_size && *payload_size > max_payload_bytes(type)) {
    return oversize(*payload_size, type);
  }
  RC_ASSIGN_OR_RETURN(const Json* id, require(j, root, "id"));
  RC_ASSIGN_OR_RETURN(env.id, read_id(*id, "/id"));
  RC_ASSIGN_OR_RETURN(const Json* ts, require(j, root, "ts"));
  RC_ASSIGN_OR_RETURN(env.ts_ms, read_int(*ts, "/ts", 0, kI64Max));
  RC_ASSIGN_OR_RETURN(const Json* box, require(j, root, "box"));
  RC_ASSIGN_OR_RETURN(env.box_id, read_box_id(*box, "/box"));
  RC_ASSIGN_OR_RETURN(const Json* body, require(j, root, "body"));
  RC_TRY(read_object(*body, "/body"));
  RC_ASSIGN_OR_RETURN(env.body, body_from_json(type, *body, "/body"));
  return env;
}

// ---- bodies to JSON -----------------------------------------------------------------------------
// Builders copy the structs as they are; validation is envelope_from_json's job (serialize() runs
// the output through it), so the two can never disagree.

template <typename J>
J to_json(const Reservation& r) {
  J j;
  j["compartment"] = r.compartment;
  j["order_ref"] = r.order_ref;
  j["action"] = reclothes::to_string(r.action);
  j["until"] = r.until;
  return j;
}

template <typename J>
J to_json(const Access& a) {
  J j;
  j["compartment"] = a.compartment;
  j["order_ref"] = a.order_ref;
  j["action"] = reclothes::to_string(a.action);
  j["token_id"] = a.token_id;
  j["until"] = a.until;
  return j;
}

template <typename J>
J to_json(const Event& e) {
  J j;
  j["seq"] = e.seq;
  j["kind"] = to_string(e.kind);
  j["at_ms"] = e.at_ms;
  if (e.compartment) j["compartment"] = *e.compartment;
  if (e.token_id) j["token_id"] = *e.token_id;
  if (e.action) j["action"] = reclothes::to_string(*e.action);
  if (e.order_ref) j["order_ref"] = *e.order_ref;
  if (e.reason) j["reason"] = *e.reason;
  if (e.occupied) j["occupied"] = *e.occupied;
  if (e.fill_percent) j["fill_percent"] = *e.fill_percent;
  if (e.command_id) j["command_id"] = *e.command_id;
  if (e.detail) j["detail"] = *e.detail;
  return j;
}

template <typename J>
J to_json(const Events& b) {
  J list = J::array();
  for (const Event& e : b.events) list.push_back(to_json<J>(e));
  J j;
  j["events"] = std::move(list);
  return j;
}

template <typename J>
J to_json(const Ack& b) {
  J j;
  j["upto"] = b.upto;
  return j;
}

template <typename J>
J to_json(const Command& c) {
  J j;
  j["id"] = c.id;
  j["op"] = to_string(c.op);
  if (c.compartment) j["compartment"] = *c.compartment;
  if (c.reservation) j["reservation"] = to_json<J>(*c.reservation);
  if (!c.token_ids.empty()) j["token_ids"] = c.token_ids;
  if (c.reason) j["reason"] = *c.reason;
  if (c.access) j["access"] = to_json<J>(*c.access);
  return j;
}

template <typename J>
J to_json(const CommandResult& r) {
  J j;
  j["command_id"] = r.command_id;
  j["ok"] = r.ok;
  j["code"] = r.code;
  j["message"] = r.message;
  return j;
}

template <typename J>
J to_json(const State& s) {
  J list = J::array();
  for (const CompartmentState& c : s.compartments) {
    J cj;
    cj["id"] = c.id;
    cj["state"] = c.state;
    cj["door_open"] = c.door_open;
    if (c.fill_percent) cj["fill_percent"] = *c.fill_percent;
    cj["size"] = c.size;
    list.push_back(std::move(cj));
  }
  J j;
  j["compartments"] = std::move(list);
  if (s.temperature_c) j["temperature_c"] = *s.temperature_c;
  if (s.humidity_percent) j["humidity_percent"] = *s.humidity_percent;
  j["tamper"] = s.tamper;
  j["maintenance"] = s.maintenance;
  j["backlog"] = s.backlog;
  j["last_seq"] = s.last_seq;
  j["firmware_version"] = s.firmware_version;
  j["uptime_s"] = s.uptime_s;
  j["config_revision"] = s.config_revision;
  return j;
}

template <typename J>
J to_json(const Status& s) {
  J j;
  j["online"] = s.online;
  j["firmware_version"] = s.firmware_version;
  return j;
}

template <typename J>
J to_json(const Config& c) {
  J keys = J::array();
  for (const TrustedKey& k : c.keys) {
    J kj;
    kj["key_id"] = k.key_id;
    kj["public_pem"] = k.public_pem;
    kj["retired"] = k.retired;
    keys.push_back(std::move(kj));
  }
  J reservations = J::array();
  for (const Reservation& r : c.reservations) reservations.push_back(to_json<J>(r));
  J j;
  j["revision"] = c.revision;
  j["maintenance"] = c.maintenance;
  j["keys"] = std::move(keys);
  j["reservations"] = std::move(reservations);
  j["revoked_token_ids"] = c.revoked_token_ids;
  return j;
}

template <typename J>
J to_json(const Envelope& env) {
  J j;
  j["v"] = env.version;
  j["type"] = to_string(type_of(env.body));
  j["id"] = env.id;
  j["ts"] = env.ts_ms;
  j["box"] = env.box_id;
  j["body"] = std::visit([](const auto& body) { return to_json<J>(body); }, env.body);
  return j;
}

// parse() ignores fields an op does not use; a sender setting one has a bug (the receiver would
// silently drop the value), so serialize() says so.
reclothes::Status check_command_fields_used(const Command& c) {
  const bool wants_compartment = c.op == CommandOp::kOpen || c.op == CommandOp::kRelease;
  const bool wants_reservation = c.op == CommandOp::kReserve;
  const bool wants_token_ids = c.op == CommandOp::kRevoke;
  const bool wants_access = c.op == CommandOp::kOpenAccess;
  const auto unused = [&](std::string_view field) {
    return field_error("/body/" + std::string(field),
                       "not used by op " + quote(to_string(c.op)) + "; leave it unset");
  };
  if (c.compartment && !wants_compartment) return unused("compartment");
  if (c.reservation && !wants_reservation) return unused("reservation");
  if (!c.token_ids.empty() && !wants_token_ids) return unused("token_ids");
  if (c.access && !wants_access) return unused("access");
  return ok_status();
}

// ---- the text layer -----------------------------------------------------------------------------

Result<Envelope> parse_impl(std::string_view payload, std::optional<MessageType> expected_type) {
  // The size is checked before a single byte is parsed. Without a known type only the largest
  // limit applies here; envelope_from_json applies the type's own limit once it has read "type".
  const std::size_t limit = expected_type ? max_payload_bytes(*expected_type) : kMaxPayloadBytes;
  if (payload.size() > limit) {
    if (expected_type) return oversize(payload.size(), *expected_type);
    return make_error(ErrorCode::kResourceExhausted,
                      "payload is " + std::to_string(payload.size()) +
                          " bytes, over the largest limit of " + std::to_string(kMaxPayloadBytes) +
                          " bytes");
  }
  // The schema never needs more than 4 levels; the strict pass refuses duplicate keys too, so
  // every receiver of a message sees the same values.
  RC_ASSIGN_OR_RETURN(const Json j, json::parse_strict(payload, kMaxNestingDepth));
  try {
    return envelope_from_json(j, payload.size(), expected_type);
  } catch (const nlohmann::json::exception& e) {
    // Not expected (every access above is type-checked first), but a library surprise must not
    // take a box or the controller down.
    return make_error(ErrorCode::kInvalidArgument, "payload rejected: " + printable(e.what()));
  }
}

}  // namespace

// ---- public API ---------------------------------------------------------------------------------

bool is_valid_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxIdLength) return false;
  for (char c : id) {
    if (!is_id_char(c)) return false;
  }
  return true;
}

bool is_valid_token_id(std::string_view token_id) {
  if (token_id.size() != kTokenIdBytes * 2) return false;
  for (char c : token_id) {
    const bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (!hex) return false;
  }
  return true;
}

std::string_view to_string(Topic t) { return name_of(kTopicLeaves, t); }

std::string topic(std::string_view box_id, Topic t) {
  assert(is_valid_box_id(box_id));
  std::string out(kTopicRoot);
  out += box_id;
  out += '/';
  out += to_string(t);
  return out;
}

std::string shared_subscription(Topic t, std::string_view group) {
  std::string out = "$share/";
  out += group;
  out += '/';
  out += kTopicRoot;
  out += "+/";
  out += to_string(t);
  return out;
}

Result<ParsedTopic> parse_topic(std::string_view topic) {
  const auto bad = [&](std::string_view why) {
    return make_error(ErrorCode::kInvalidArgument,
                      "topic " + quote(topic) + " " + std::string(why));
  };
  if (!topic.starts_with(kTopicRoot)) {
    return bad("does not start with " + std::string(kTopicRoot));
  }
  const std::string_view rest = topic.substr(kTopicRoot.size());
  const std::size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return bad("has no leaf after the box id");
  const std::string_view box_id = rest.substr(0, slash);
  const std::string_view leaf = rest.substr(slash + 1);
  if (!is_valid_box_id(box_id)) return bad("has an invalid box id");
  std::optional<Topic> t = value_of(kTopicLeaves, leaf);
  if (!t) return bad("has an unknown leaf; expected " + one_of(kTopicLeaves));
  return ParsedTopic{std::string(box_id), *t};
}

std::string_view to_string(EventKind k) { return name_of(kEventKinds, k); }
std::optional<EventKind> event_kind_from_string(std::string_view s) {
  return value_of(kEventKinds, s);
}

std::string_view to_string(CommandOp op) { return name_of(kCommandOps, op); }
std::optional<CommandOp> command_op_from_string(std::string_view s) {
  return value_of(kCommandOps, s);
}

std::string_view to_string(MessageType t) { return name_of(kMessageTypes, t); }
std::optional<MessageType> message_type_from_string(std::string_view s) {
  return value_of(kMessageTypes, s);
}

MessageType type_of(const Body& body) {
  // Body's alternatives are declared in MessageType's order.
  static_assert(std::is_same_v<std::variant_alternative_t<0, Body>, Events>);
  static_assert(std::is_same_v<std::variant_alternative_t<6, Body>, Config>);
  static_assert(std::variant_size_v<Body> == kMessageTypes.size());
  return static_cast<MessageType>(body.index());
}

MessageType message_type_for(Topic leaf) {
  switch (leaf) {
    case Topic::kEvents:
      return MessageType::kEvents;
    case Topic::kAcks:
      return MessageType::kAck;
    case Topic::kCommands:
      return MessageType::kCommand;
    case Topic::kCommandResults:
      return MessageType::kCommandResult;
    case Topic::kState:
      return MessageType::kState;
    case Topic::kStatus:
      return MessageType::kStatus;
    case Topic::kConfig:
      return MessageType::kConfig;
  }
  return MessageType::kEvents;
}

Topic topic_for(MessageType t) {
  switch (t) {
    case MessageType::kEvents:
      return Topic::kEvents;
    case MessageType::kAck:
      return Topic::kAcks;
    case MessageType::kCommand:
      return Topic::kCommands;
    case MessageType::kCommandResult:
      return Topic::kCommandResults;
    case MessageType::kState:
      return Topic::kState;
    case MessageType::kStatus:
      return Topic::kStatus;
    case MessageType::kConfig:
      return Topic::kConfig;
  }
  return Topic::kEvents;
}

std::size_t max_payload_bytes(MessageType t) {
  switch (t) {
    case MessageType::kEvents:
      return 256 * 1024;
    case MessageType::kConfig:
      return kMaxPayloadBytes;
    case MessageType::kState:
      return 64 * 1024;
    // A revoke of kMaxRevokePerCommand token ids is about 19.5 KB of JSON: it must fit.
    case MessageType::kCommand:
      return 32 * 1024;
    case MessageType::kAck:
    case MessageType::kCommandResult:
    case MessageType::kStatus:
      return 16 * 1024;
  }
  return 16 * 1024;
}

Envelope make_envelope(std::string box_id, std::int64_t ts_ms, Body body) {
  return Envelope{kSchemaVersion, random_id(), ts_ms, std::move(box_id), std::move(body)};
}

Result<std::string> serialize(const Envelope& envelope) {
  if (const auto* command = std::get_if<Command>(&envelope.body)) {
    RC_TRY(check_command_fields_used(*command));
  }
  const MessageType type = type_of(envelope.body);
  try {
    // Validating through the parser's own code is what makes "we never send what we would
    // reject" hold by construction. The checked copy also carries normalised token ids.
    const Json draft = to_json<Json>(envelope);
    RC_ASSIGN_OR_RETURN(Envelope checked, envelope_from_json(draft, std::nullopt, type));
    std::string out = to_json<OrderedJson>(checked).dump();
    if (out.size() > max_payload_bytes(type)) return oversize(out.size(), type);
    return out;
  } catch (const nlohmann::json::exception& e) {
    // dump() throws for strings that are not UTF-8; only free-text fields can hold those.
    return make_error(
        ErrorCode::kInvalidArgument,
        "cannot serialize: a text field is not valid UTF-8 (" + printable(e.what()) + ")");
  }
}

nlohmann::json event_json(const Event& event) { return to_json<Json>(event); }

Result<Envelope> parse(std::string_view payload) { return parse_impl(payload, std::nullopt); }

Result<Envelope> parse_as(std::string_view payload, MessageType expected) {
  return parse_impl(payload, expected);
}

Result<Envelope> parse_received(std::string_view topic, std::string_view payload) {
  RC_ASSIGN_OR_RETURN(ParsedTopic parsed, parse_topic(topic));
  RC_ASSIGN_OR_RETURN(Envelope envelope, parse_as(payload, message_type_for(parsed.leaf)));
  if (envelope.box_id != parsed.box_id) {
    return field_error("/box", quote(envelope.box_id) + " does not match the box id " +
                                   quote(parsed.box_id) + " of the topic it came on");
  }
  return envelope;
}

}  // namespace reclothes::msg
