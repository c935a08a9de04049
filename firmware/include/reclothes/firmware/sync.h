// Sync: the box's MQTT connection (Paho C++ async client, MQTT 3.1.1, persistent session, QoS 1)
// running the SyncEngine (sync_engine.h) on one worker thread. docs/box-sync.md describes the
// protocol, the reconnect rules and the tests that hold them.
//
// Threads: Paho's callbacks only copy what they get into a queue and wake the worker; the worker
// connects (with its own back-off, never Paho's automatic reconnect, so every connect runs the
// same subscribe/status/rewind path), feeds the engine and waits. Nothing ever blocks inside a
// Paho callback.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "reclothes/common/clock.h"
#include "reclothes/common/result.h"
#include "reclothes/firmware/journal.h"
#include "reclothes/firmware/mailbox.h"
#include "reclothes/firmware/sync_engine.h"

namespace mqtt {
class async_client;
}

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
  // How long the worker sleeps when there is nothing to do; also the latest it notices a command
  // result from the main loop.
  std::chrono::milliseconds idle_tick{50};
  // Paho's queue of messages not yet written to the socket. The journal is the real buffer, so
  // this only has to hold one window of batches plus results and reports.
  int max_buffered_messages = 512;
  SyncSettings engine;
};

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

  // Starts the worker thread, which connects in the background and keeps reconnecting; the box
  // works offline meanwhile. kFailedPrecondition if already started.
  Status start();
  // Publishes status online=false (retained), lets in-flight messages finish for up to `drain`,
  // disconnects and joins the worker. Idempotent; any thread but the worker.
  void stop(std::chrono::milliseconds drain = std::chrono::seconds(2));

  bool connected() const { return connected_.load(); }
  // A copy of the engine's counters as of the worker's last pass (any thread).
  SyncStats stats() const;

 private:
  class PahoTransport;
  struct Received {
    std::string topic;
    std::string payload;
  };

  Sync(SyncOptions options, Journal& journal, Mailbox& mailbox, const Clock& clock,
       std::unique_ptr<SyncEngine> engine);
  Status build_client();
  void run();
  Status try_connect();
  void wait_for_work();
  void publish_stats();

  SyncOptions options_;
  Journal& journal_;
  Mailbox& mailbox_;
  const Clock& clock_;
  std::unique_ptr<SyncEngine> engine_;
  std::unique_ptr<mqtt::async_client> client_;
  std::unique_ptr<PahoTransport> transport_;
  Backoff backoff_;

  std::thread worker_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> connected_{false};
  bool started_ = false;

  // Filled by Paho's callback threads, drained by the worker.
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Received> received_;
  std::size_t received_bytes_ = 0;
  bool connection_lost_ = false;
  SyncStats stats_;  // guarded by mu_
};

}  // namespace reclothes::firmware
