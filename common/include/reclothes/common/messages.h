// The MQTT contract between boxes and the controller: typed messages with strict JSON parsing.
//
// Every payload is a JSON envelope:
//   {"v":1,"type":"events","id":"<32 hex>","ts":<Unix ms>,"box":"<box id>","body":{...}}
// Parsing is strict: wrong schema version, unknown message type, missing field, wrong JSON type
// (null included), out-of-range value, duplicate key, nesting deeper than kMaxNestingDepth or a
// payload over the type's size limit is rejected with a reason naming the field. Unknown *fields*
// are ignored so a version can grow additively. docs/mqtt-contract.md lists topics, QoS,
// retention and every body.
//
// All functions here are pure and thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "reclothes/common/result.h"
#include "reclothes/common/token.h"

namespace reclothes::msg {

inline constexpr int kSchemaVersion = 1;

// Limits of the schema (docs/mqtt-contract.md, "Strictness").
inline constexpr int kMaxNestingDepth = 16;          // JSON objects/arrays inside each other
inline constexpr std::size_t kMaxIdLength = 64;      // message ids, command ids
inline constexpr std::size_t kMaxDetailBytes = 512;  // free text for people
inline constexpr std::size_t kMaxEventsPerBatch = 256;
inline constexpr std::size_t kMaxRevokePerCommand = 1000;
inline constexpr std::size_t kMaxRevokedInConfig = 10000;
inline constexpr std::size_t kMaxKeysInConfig = 32;
inline constexpr std::size_t kMaxReservationsInConfig = 1024;
inline constexpr std::size_t kMaxPayloadBytes = 1024 * 1024;  // the largest per-type limit

// True for 1..kMaxIdLength characters from [A-Za-z0-9_-] (message and command ids).
bool is_valid_id(std::string_view id);
// True for exactly 16 hex digits, either case (a token id as TokenClaims::token_id_hex() gives it).
bool is_valid_token_id(std::string_view token_id);

// ---- topics -------------------------------------------------------------------------------------
// reclothes/v1/boxes/{box_id}/{leaf}
inline constexpr std::string_view kTopicRoot = "reclothes/v1/boxes/";
enum class Topic { kEvents, kAcks, kCommands, kCommandResults, kState, kStatus, kConfig };
std::string_view to_string(Topic t);  // the leaf: "events", "acks", "command-results", ...
// box_id must be valid (is_valid_box_id); boxes and controllers check ids when they load them.
std::string topic(std::string_view box_id, Topic t);
// The controllers' shared subscription to one leaf of every box:
// "$share/controllers/reclothes/v1/boxes/+/events".
std::string shared_subscription(Topic t, std::string_view group = "controllers");
struct ParsedTopic {
  std::string box_id;
  Topic leaf = Topic::kEvents;
  bool operator==(const ParsedTopic&) const = default;
};
// Parses a topic of the form above; kInvalidArgument for anything else (including bad box ids).
Result<ParsedTopic> parse_topic(std::string_view topic);

// ---- bodies -------------------------------------------------------------------------------------

enum class EventKind {
  kBoot,           // firmware started; detail carries version and recovery notes
  kScanRejected,   // a scanned token was refused; reason = TokenError or authorisation reason
  kUnlocked,       // a lock was pulsed for a token or a command; token_id/action/order_ref
  kUnlockUnknown,  // after a crash the outcome of an unlock could not be known; not re-pulsed
  kDoorOpened,
  kDoorClosed,       // occupied says whether the compartment now holds something
  kAccessCompleted,  // a token's whole visit is done (unlock, open, close): the domain event
  kJammed,           // unlocked but the door never opened
  kForced,           // opened without an unlock
  kAjar,             // left open too long
  kOutOfService,     // compartment taken out of service (or back: detail)
  kTamper,           // cabinet tamper switch changed
  kFillLevel,        // fill level crossed a threshold
  kCommandExecuted,  // a controller command ran (its result is also on command-results)
};
std::string_view to_string(EventKind k);
std::optional<EventKind> event_kind_from_string(std::string_view s);

// One journaled fact from a box. seq is per box, starts at 1 and has no gaps.
struct Event {
  std::uint64_t seq = 0;
  EventKind kind = EventKind::kBoot;
  std::int64_t at_ms = 0;               // when it happened, box wall clock
  std::optional<int> compartment;       // 1..255
  std::optional<std::string> token_id;  // 16 hex
  std::optional<TokenAction> action;
  std::optional<std::uint64_t> order_ref;
  std::optional<std::string> reason;      // rejections: "expired", "already_used", ...
  std::optional<bool> occupied;           // door_closed, access_completed
  std::optional<int> fill_percent;        // fill_level, 0..100
  std::optional<std::string> command_id;  // unlocks caused by a command
  std::optional<std::string> detail;      // free text for people, at most 512 bytes
  bool operator==(const Event&) const = default;
};

// A batch of events in seq order, consecutive. The box sends up to a window of these.
struct Events {
  std::vector<Event> events;  // 1..256 events
  bool operator==(const Events&) const = default;
};

// Cumulative acknowledgement: every event with seq <= upto is applied at the controller.
struct Ack {
  std::uint64_t upto = 0;
  bool operator==(const Ack&) const = default;
};

enum class CommandOp {
  kOpen,     // pulse one compartment's lock (remote open); audited at the controller
  kReserve,  // add a reservation
  kRelease,  // drop a reservation
  kRevoke,   // add token ids to the revocation list
  kMaintenanceOn,
  kMaintenanceOff,
  kConfigUpdate,  // re-read the retained config now
  // Open one compartment as the access of a reservation's token (the customer scanned the box's
  // printed QR in the app): the box applies the token's rules (single use, reservation, expiry)
  // as if the token had been scanned. Added in issue 17; older firmware refuses the unknown op.
  kOpenAccess,
};
std::string_view to_string(CommandOp op);
std::optional<CommandOp> command_op_from_string(std::string_view s);

struct Reservation {
  int compartment = 0;  // 1..255
  std::uint64_t order_ref = 0;
  TokenAction action = TokenAction::kDeposit;
  std::int64_t until = 0;  // Unix seconds; after this the compartment is free again
  bool operator==(const Reservation&) const = default;
};

// What an open_access command carries: the reservation's token, as far as the box needs it to
// treat the command like a scan of that token.
struct Access {
  int compartment = 0;  // 1..255
  std::uint64_t order_ref = 0;
  TokenAction action = TokenAction::kDeposit;  // a customer action: deposit, pickup or return
  std::string token_id;                        // 16 hex: the token becomes used at the box
  std::int64_t until = 0;  // Unix seconds: the token's expiry; refused after it (plus leeway)
  bool operator==(const Access&) const = default;
};

// A command from the controller. id is unique; a box executes each id at most once.
// Fields an op does not use are ignored by parse() (and left empty) and refused by serialize().
struct Command {
  std::string id;  // 1..64 chars [A-Za-z0-9_-]
  CommandOp op = CommandOp::kOpen;
  std::optional<int> compartment;          // open, release
  std::optional<Reservation> reservation;  // reserve
  std::vector<std::string> token_ids;      // revoke: 16-hex token ids, 1..1000
  std::optional<std::string> reason;       // for the journal and the audit trail
  std::optional<Access> access;            // open_access
  bool operator==(const Command&) const = default;
};

struct CommandResult {
  std::string command_id;
  bool ok = false;
  std::string code;     // "ok", "duplicate", "unknown_compartment", "door_open", ...
  std::string message;  // for people
  bool operator==(const CommandResult&) const = default;
};

struct CompartmentState {
  int id = 0;         // 1..255
  std::string state;  // "free", "reserved", "unlocked", "open", "occupied", ...
  bool door_open = false;
  std::optional<int> fill_percent;  // 0..100
  std::string size;                 // "S", "M", "L", "XL"
  bool operator==(const CompartmentState&) const = default;
};

// Retained report of what the box looks like now.
struct State {
  std::vector<CompartmentState> compartments;
  std::optional<double> temperature_c;
  std::optional<double> humidity_percent;
  bool tamper = false;
  bool maintenance = false;
  std::uint64_t backlog = 0;  // journaled events not yet acked
  std::uint64_t last_seq = 0;
  std::string firmware_version;
  std::int64_t uptime_s = 0;
  std::uint64_t config_revision = 0;
  bool operator==(const State&) const = default;
};

// Retained online/offline marker; the last will carries online=false.
// Inside namespace reclothes::msg this name hides reclothes::Status (Result<void>): write
// reclothes::Status there.
struct Status {
  bool online = false;
  std::string firmware_version;
  bool operator==(const Status&) const = default;
};

struct TrustedKey {
  std::uint16_t key_id = 0;
  std::string public_pem;
  bool retired = false;
  bool operator==(const TrustedKey&) const = default;
};

// Retained desired configuration, written by the controller. A box applies a revision once and
// ignores older ones.
struct Config {
  std::uint64_t revision = 0;
  bool maintenance = false;
  std::vector<TrustedKey> keys;
  std::vector<Reservation> reservations;
  std::vector<std::string> revoked_token_ids;  // 16-hex token ids, at most 10,000
  bool operator==(const Config&) const = default;
};

using Body = std::variant<Events, Ack, Command, CommandResult, State, Status, Config>;

enum class MessageType { kEvents, kAck, kCommand, kCommandResult, kState, kStatus, kConfig };
std::string_view to_string(MessageType t);  // the envelope's "type": "events", "ack", ...
std::optional<MessageType> message_type_from_string(std::string_view s);
MessageType type_of(const Body& body);

// The message type each topic leaf carries, and back (one type per leaf).
MessageType message_type_for(Topic leaf);
Topic topic_for(MessageType t);

// Size limit per message type, bytes of the JSON payload: events 256 KiB, state 64 KiB, config
// 1 MiB (kMaxPayloadBytes), command 32 KiB (a revoke of 1000 token ids), others 16 KiB.
std::size_t max_payload_bytes(MessageType t);

struct Envelope {
  int version = kSchemaVersion;
  std::string id;          // message id, 1..64 chars [A-Za-z0-9_-]
  std::int64_t ts_ms = 0;  // sender's wall clock
  std::string box_id;      // the box the message is from or for
  Body body;
  bool operator==(const Envelope&) const = default;
};

// Builds an envelope with a fresh random id.
Envelope make_envelope(std::string box_id, std::int64_t ts_ms, Body body);

// Serialises to compact JSON (keys in envelope order, nullopt fields omitted, token ids in lower
// case). Fails with kInvalidArgument if the envelope breaks a rule parse() enforces (the error
// names the field as parse() would), if a text field is not UTF-8, or if a command sets a field
// its op does not use; with kResourceExhausted if the result is over max_payload_bytes(). So
// nothing is ever sent that a receiver would reject.
Result<std::string> serialize(const Envelope& envelope);

// The JSON object of one event as serialize() writes it into an events body: the same keys and
// values, nullopt fields left out. A receiver that keeps events as JSON (the controller's
// box_events.payload) stores this, so what it stores has the wire's shape by construction. The
// event is taken as it is: parse() has already normalised token ids, serialize() does it on the
// way out.
nlohmann::json event_json(const Event& event);

// Parses and validates a payload. The error message names the failing field as a JSON pointer
// ("/body/events/3/seq: expected an unsigned integer >= 1, got 0"). kInvalidArgument for bad
// content, kResourceExhausted for a payload over its size limit. Never throws, never crashes.
// parse() can only apply kMaxPayloadBytes before it has read "type"; a receiver that knows the
// type from the topic should call parse_as(), which applies the exact limit before parsing.
Result<Envelope> parse(std::string_view payload);

// As parse(), and also requires the message to be of the given type (kInvalidArgument naming
// "/type" otherwise).
Result<Envelope> parse_as(std::string_view payload, MessageType expected);

// What a subscriber calls for every MQTT message it receives: parses the topic, parses the
// payload as the type the topic's leaf carries (parse_as), and requires the envelope's "box" to
// be the topic's box id, because the broker's ACL vouches for the topic and not for the payload.
// kInvalidArgument (or kResourceExhausted) naming the topic or the field otherwise.
Result<Envelope> parse_received(std::string_view topic, std::string_view payload);

}  // namespace reclothes::msg
