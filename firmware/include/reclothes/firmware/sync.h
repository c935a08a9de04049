// Sync: the box's MQTT connection (Paho C++ async client, MQTT 3.1.1, persistent session, QoS 1)
// running the SyncEngine (sync_engine.h). docs/box-sync.md describes the protocol, the reconnect
// rules and the tests that hold them.
//
// One piece of code, two ways to drive it:
//  - start(): a worker thread of its own calls poll() and sleeps between passes. That is the box
//    (reclothes-box, reclothes-sim box): one board, one connection, one thread.
//  - start_polled(wake): no thread; the owner calls poll(). That is the simulator's fleet, which
//    runs thousands of boxes in one process from a few worker threads. A thread per box would be
//    10,000 threads (each with its stack) and 200,000 idle wake-ups a second on 2 cores; Paho's C
//    library already serves every client of a process from one send and one receive thread, so
//    polled mode adds no thread per box.
//
// poll() never blocks: a connect attempt is started and its token looked at on a later pass,
// with our own back-off between attempts (never Paho's automatic reconnect, so every connect runs
// the same subscribe/status/rewind path). Paho's callbacks only copy what they get into a bounded
// queue and wake whoever polls; nothing blocks or calls back into Paho inside a callback. Calls
// into Paho are few on purpose: every one takes the C library's one process-wide mutex, which a
// fleet's thousands of clients share (no is_connected() before each publish; the liveness check
// runs at most once a second).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "reclothes/common/backoff.h"
#include "reclothes/common/clock.h"
#include "reclothes/common/result.h"
#include "reclothes/firmware/config.h"
#include "reclothes/firmware/journal.h"
#include "reclothes/firmware/mailbox.h"
#include "reclothes/firmware/sync_engine.h"

namespace mqtt {
class async_client;
class token;
}  // namespace mqtt

namespace reclothes::firmware {

struct SyncTlsOptions {
  std::string trust_store;    // CA certificate(s), PEM file; empty: none
  std::string key_store;      // client certificate, PEM file; empty: no client certificate
  std::string private_key;    // client key, PEM file; empty: in key_store
  bool verify_server = true;  // check the server certificate and its host name
};

struct SyncOptions {
  // tcp://host:port or ssl://host:port (ssl needs tls).
  std::string broker_uri;
  // The MQTT client id; empty: the box id (the contract: a second connection with the same
  // identity takes the session over instead of running beside it).
  std::string client_id;
  std::chrono::seconds keepalive{30};
  std::optional<std::string> username;
  std::optional<std::string> password;
  std::optional<SyncTlsOptions> tls;
  // One connect attempt gives up after this long.
  std::chrono::seconds connect_timeout{10};
  // Back-off between connect attempts, doubling from min to max (with 20% jitter).
  std::chrono::milliseconds reconnect_min{1'000};
  std::chrono::milliseconds reconnect_max{30'000};
  // Own-thread mode: how long the worker sleeps when there is nothing to do; also the latest it
  // notices a command result from the main loop.
  std::chrono::milliseconds idle_tick{50};
  // Paho's queue of messages not yet written to the socket. The journal is the real buffer, so
  // this only has to hold one window of batches plus results and reports.
  int max_buffered_messages = 512;
  SyncSettings engine;
};

// The options a box configuration asks for (broker, identity, TLS, state interval), with the
// defaults for everything else. `firmware_version` is what the status and state reports say.
SyncOptions sync_options(const BoxConfig& config,
                         std::string_view firmware_version = kFirmwareVersion);

// Checks the options that do not need a connection (uri scheme, TLS files exist, ranges).
Status validate(const SyncOptions& options);

class Sync {
 public:
  // Builds the engine and the Paho client (no connection yet). kInvalidArgument for bad options
  // (validate()); the engine's errors.
  static Result<std::unique_ptr<Sync>> create(SyncOptions options, Journal& journal,
                                              Mailbox& mailbox, const Clock& clock);
  ~Sync();  // stop()
  Sync(const Sync&) = delete;
  Sync& operator=(const Sync&) = delete;

  // Own-thread mode: starts the worker thread, which connects in the background and keeps
  // reconnecting; the box works offline meanwhile. kFailedPrecondition if already started.
  Status start();

  // Polled mode: no thread; the owner calls poll() from one thread (always the same one, which
  // then owns the engine). `wake` (may be empty) is called from Paho's threads when there is
  // something to do: a message arrived, the connection was lost, a connect attempt ended. The
  // first connect attempt is made no earlier than `connect_at` (a fleet spreads its connects).
  // kFailedPrecondition if already started.
  Status start_polled(std::function<void()> wake, Clock::Monotonic connect_at = {});
  // Does what is due, never blocking: finishes or starts a connect attempt, handles a lost
  // connection, feeds received messages to the engine, and lets it send (events, results, state
  // reports). True if the engine has more to send right away. Polled mode only: elsewhere it
  // does nothing and returns false.
  bool poll();
  // Something arrived since the last poll (any thread).
  bool has_work() const { return work_.load(); }

  // Ends the worker (own-thread mode) or the polling, and publishes status online=false
  // (retained) without waiting for it to be delivered. A fleet calls this for every box first
  // and stop() for each afterwards, so that thousands of goodbyes are in flight at once.
  // Idempotent; any thread but the worker, and in polled mode not while poll() runs.
  void begin_stop();
  // begin_stop(), then lets in-flight messages (the offline status included) finish for up to
  // `drain`, disconnects and waits for that (2 s at most). Idempotent; threads as begin_stop().
  void stop(std::chrono::milliseconds drain = std::chrono::seconds(2));

  bool connected() const { return connected_.load(); }
  // A copy of the engine's counters as of the last pass (any thread).
  SyncStats stats() const;

 private:
  class PahoTransport;
  class ConnectListener;
  struct Received {
    std::string topic;
    std::string payload;
  };
  enum class Mode { kNotStarted, kOwnThread, kPolled };

  Sync(SyncOptions options, Journal& journal, const Clock& clock,
       std::unique_ptr<SyncEngine> engine);
  Status build_client();
  Status begin(Mode mode);
  // One pass of poll() (either mode).
  bool pass();
  void run();
  void wait_for_work();
  // Paho threads: marks that there is work and wakes the poller (takes mu_: call without it).
  void wake();
  void drive_connection();
  Status start_connect();
  void finish_connect();
  void connect_failed(const std::string& why);
  void handle_inbound();
  void set_disconnected();
  void publish_stats();

  SyncOptions options_;
  Journal& journal_;
  const Clock& clock_;
  std::unique_ptr<SyncEngine> engine_;
  std::unique_ptr<ConnectListener> connect_listener_;
  std::unique_ptr<mqtt::async_client> client_;
  std::unique_ptr<PahoTransport> transport_;

  // Owned by the thread that polls (the worker, or the polled mode's owner).
  Backoff backoff_;
  Clock::Monotonic next_attempt_{};
  Clock::Monotonic next_liveness_check_{};
  std::shared_ptr<mqtt::token> connecting_;  // a connect attempt in progress
  bool logged_down_ = false;

  // Owned by the thread that starts and stops.
  Mode mode_ = Mode::kNotStarted;
  bool stop_begun_ = false;
  bool stopped_ = false;
  std::function<void()> wake_;
  std::thread worker_;

  std::atomic<bool> stopping_{false};
  std::atomic<bool> connected_{false};
  std::atomic<bool> work_{false};

  // Filled by Paho's callback threads, drained by poll().
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Received> received_;
  std::size_t received_bytes_ = 0;
  bool connection_lost_ = false;
  SyncStats stats_;  // guarded by mu_
};

}  // namespace reclothes::firmware
