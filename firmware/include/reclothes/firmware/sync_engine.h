// The box's side of the MQTT contract (docs/mqtt-contract.md, docs/box-sync.md) as logic over a
// transport, a Journal, a Mailbox and a Clock. No threads, no sockets, no sleeps: Sync (sync.h)
// drives it from its one worker thread over Paho, and unit tests drive it with a fake transport
// and a ManualClock.
//
// What it does:
//  - drains the journal's outbox in seq order, in batches, with a bounded window of unacked events;
//    cumulative acks slide the window; after a reconnect or an ack timeout it rewinds to the last
//    acked seq + 1 (duplicates are expected; the controller applies each (box, seq) once);
//  - answers every inbound message: acks -> Journal::mark_acked; commands -> at-most-once gate,
//    then the Mailbox; config -> the Mailbox if its revision is newer than the applied one;
//    anything malformed is logged with its reason and dropped;
//  - publishes command results from the Mailbox, the retained status (online on connect) and the
//    retained state report (on change, and at least every interval).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "reclothes/common/clock.h"
#include "reclothes/common/messages.h"
#include "reclothes/common/result.h"
#include "reclothes/firmware/journal.h"
#include "reclothes/firmware/mailbox.h"

namespace reclothes::firmware {

// The publishing half of an MQTT connection, as the engine needs it. Every message is QoS 1.
// Sync implements it over Paho; tests implement it with a recorder.
class SyncTransport {
 public:
  virtual ~SyncTransport() = default;
  // Queues a message without blocking. kUnavailable when not connected, kResourceExhausted when
  // the client's queue is full; the engine then tries again on a later poll.
  virtual Status publish(const std::string& topic, std::string payload, bool retained) = 0;
  // Subscribes with QoS 1 (again, if already subscribed: the broker then resends retained
  // messages). Non-blocking; errors as publish().
  virtual Status subscribe(const std::string& topic) = 0;
};

// Fixed settings of the engine (docs/box-sync.md explains each).
struct SyncSettings {
  std::string box_id;
  std::string firmware_version = "0.0.0";
  // Events per `events` message, 1..msg::kMaxEventsPerBatch.
  std::size_t batch_events = 64;
  // Events published and not yet acked, at most; >= batch_events.
  std::size_t window_events = 1024;
  // No ack progress for this long while events are in flight: resend from the last acked seq + 1.
  std::chrono::milliseconds ack_timeout{10'000};
  // The retained state report goes out at least this often, and on a change of the main loop's
  // state, but not more often than state_min_gap.
  std::chrono::milliseconds state_interval{60'000};
  std::chrono::milliseconds state_min_gap{1'000};
  // An `open` command whose envelope is older than this (by the box's wall clock) is refused with
  // code "expired": nobody should find a door opening hours after asking.
  std::chrono::milliseconds command_max_age{120'000};
  // Acked events older than the journal's retention are pruned this often.
  std::chrono::milliseconds prune_interval{3'600'000};
  // Command results waiting for a connection, at most (the oldest goes first: each result is
  // also in the journal and travels as a command_executed event).
  std::size_t max_pending_results = Mailbox::kMaxResults;
};

// The journal setting (Txn::put_setting) that holds the config revision the main loop applied.
inline constexpr std::string_view kConfigRevisionSetting = "config_revision";

// Counters for logs, the state page and tests. Plain values, copied out.
struct SyncStats {
  bool connected = false;
  std::uint64_t connects = 0;
  std::uint64_t disconnects = 0;
  std::uint64_t batches_sent = 0;
  std::uint64_t events_sent = 0;  // duplicates (resends) included
  std::uint64_t acked_upto = 0;
  std::uint64_t rewinds = 0;            // resends after a reconnect or an ack timeout
  std::uint64_t rejected_messages = 0;  // malformed or not for us, dropped with a logged reason
  std::uint64_t commands_received = 0;
  std::uint64_t duplicate_commands = 0;
  std::uint64_t expired_commands = 0;
  std::uint64_t configs_forwarded = 0;
  std::uint64_t results_published = 0;
  std::uint64_t state_reports = 0;
  bool operator==(const SyncStats&) const = default;
};

// The sender's window over the outbox: pure bookkeeping of seqs and the ack timer.
//
//   acked()   : every seq <= acked() is applied at the controller (persisted by the journal).
//   next()    : the next seq to publish; seqs in (acked(), next()) are in flight.
class SendWindow {
 public:
  SendWindow(std::size_t window_events, std::chrono::milliseconds ack_timeout)
      : window_events_(window_events), ack_timeout_(ack_timeout) {}

  // Starts over from a known acked seq (at start-up): nothing in flight.
  void reset(std::uint64_t acked_upto, Clock::Monotonic now);
  std::uint64_t acked() const { return acked_; }
  std::uint64_t next() const { return next_; }
  std::uint64_t in_flight() const { return next_ - 1 - acked_; }
  // How many more events may be published now.
  std::size_t room() const;

  // Events up to and including `seq` were published (seq >= next()).
  void sent_through(std::uint64_t seq, Clock::Monotonic now);
  // A cumulative ack. Returns true if it moved acked() forward; older or equal acks are ignored.
  // An ack beyond what was sent in this window (sent before a restart) moves next() along.
  bool on_ack(std::uint64_t upto, Clock::Monotonic now);
  // Events are in flight and no ack has moved for ack_timeout.
  bool ack_overdue(Clock::Monotonic now) const;
  // Resend from acked() + 1 (after a reconnect or an overdue ack). Restarts the ack timer.
  void rewind(Clock::Monotonic now);

 private:
  std::size_t window_events_;
  std::chrono::milliseconds ack_timeout_;
  std::uint64_t acked_ = 0;
  std::uint64_t next_ = 1;
  Clock::Monotonic progress_at_{};
};

// Single-threaded: every method must be called from the same thread (Sync's worker). The Journal
// and Mailbox are shared with the main loop and are thread-safe themselves.
class SyncEngine {
 public:
  // Fails with kInvalidArgument for an invalid box id or firmware version, batch_events outside
  // 1..msg::kMaxEventsPerBatch, window_events < batch_events, or a zero interval; with the
  // journal's error if it cannot be read.
  static Result<std::unique_ptr<SyncEngine>> create(SyncSettings settings, Journal& journal,
                                                    Mailbox& mailbox, const Clock& clock);

  // The last will to register with the broker: Status{online=false}, retained, on our status
  // topic. ts is now (the will's ts is the time the box connected, docs/mqtt-contract.md).
  std::string will_topic() const;
  Result<std::string> will_payload() const;

  // The connection is up: subscribes to acks, commands and config, publishes status online,
  // rewinds the sender (what was in flight may be lost) and makes a state report due.
  void on_connected(SyncTransport& transport);
  void on_disconnected();
  bool connected() const { return connected_; }

  // One received MQTT message. Never fails: anything wrong is logged and dropped.
  void on_message(SyncTransport& transport, std::string_view topic, std::string_view payload);

  // Does everything due now: results, sender, ack timeout, state report, pruning. Returns true if
  // it stopped early with more events ready to send (call again without waiting).
  bool poll(SyncTransport& transport);

  // The seq after which a new event would give poll() something to send, or nullopt when there
  // is nothing to wait for (disconnected or the window is full). Sync sleeps in
  // Journal::wait_for_events(*wait_after(), ...) when this has a value.
  std::optional<std::uint64_t> wait_after() const;

  // Publishes status online=false, retained (a clean stop: the broker sends the will only for an
  // unclean end).
  Status publish_offline(SyncTransport& transport);

  const SyncStats& stats() const { return stats_; }
  const SyncSettings& settings() const { return settings_; }

 private:
  SyncEngine(SyncSettings settings, Journal& journal, Mailbox& mailbox, const Clock& clock);

  void handle_ack(const msg::Envelope& envelope);
  void handle_command(SyncTransport& transport, const msg::Envelope& envelope);
  void handle_config(const msg::Envelope& envelope);
  Result<std::uint64_t> applied_config_revision();
  // Records a command refused by the sync itself (expired) with its command_executed event.
  Status refuse_command(const msg::Command& command, std::string code, std::string message);
  void queue_result(msg::CommandResult result);
  void publish_results(SyncTransport& transport);
  bool send_events(SyncTransport& transport);
  // Publishes events[first, last) as one or more batches (halving oversize ones). Returns the
  // number of events published before a transport failure.
  Result<std::size_t> publish_batch(SyncTransport& transport, const std::vector<msg::Event>& events,
                                    std::size_t first, std::size_t last);
  void report_state(SyncTransport& transport);
  Status publish_body(SyncTransport& transport, msg::Topic leaf, msg::Body body, bool retained);
  void note_backlog();

  SyncSettings settings_;
  Journal& journal_;
  Mailbox& mailbox_;
  const Clock& clock_;
  SendWindow window_;
  bool connected_ = false;
  std::uint64_t highest_config_forwarded_ = 0;
  // Commands handed to the main loop whose result has not come back: id -> how many duplicates
  // of it arrived meanwhile (each is answered "duplicate" when the first result comes).
  std::map<std::string, std::size_t> pending_commands_;
  std::deque<msg::CommandResult> pending_results_;
  std::optional<msg::State> last_state_;  // the last report published (journal numbers in)
  bool state_due_ = false;
  Clock::Monotonic state_at_{};
  Clock::Monotonic pruned_at_{};
  bool backlog_reported_ = false;  // a "backlog drained" line is owed once the backlog is 0
  std::optional<std::uint64_t> stalled_seq_;  // an event serialize() refuses (logged once)
  SyncStats stats_;
};

}  // namespace reclothes::firmware
