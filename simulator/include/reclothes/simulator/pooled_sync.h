// PooledSync: one box's MQTT connection for fleet mode, driven by a shared worker thread instead
// of a thread of its own.
//
// Why: firmware::Sync (sync.h) gives every box a worker thread that wakes every idle_tick (50 ms).
// That is right for a box, which has one, but 10,000 boxes in one process would mean 10,000
// threads and 200,000 wake-ups a second on 2 cores. PooledSync runs the same protocol logic, the
// firmware's own SyncEngine, over a Paho async client, but leaves the calling to whoever owns it:
// a fleet worker calls poll() for each of its boxes. Paho's C library already serves every client
// of a process from one send and one receive thread, so no thread is added per box.
//
// What it repeats from firmware::Sync is only the plumbing: Paho callbacks copy into a queue,
// connect attempts with back-off (here non-blocking: the connect token is checked on the next
// poll), the last will, and a clean stop that publishes "offline". If the firmware's Sync gains
// an external-executor mode (docs/simulator.md, "Fleet mode"), this class can go.
//
// Threading: poll(), stop() and the engine belong to one thread (the worker the box is assigned
// to). connected(), stats() and has_work() may be read from any thread. Paho's callbacks only lock
// a small mutex, queue and call `wake`.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "reclothes/common/clock.h"
#include "reclothes/common/result.h"
#include "reclothes/firmware/journal.h"
#include "reclothes/firmware/mailbox.h"
#include "reclothes/firmware/sync.h"
#include "reclothes/firmware/sync_engine.h"

namespace mqtt {
class async_client;
class token;
}  // namespace mqtt

namespace reclothes::simulator {

class PooledSync {
 public:
  // Builds the engine and the Paho client (no connection yet). firmware::validate()'s and the
  // engine's errors. `wake` is called from Paho's threads when something arrives (may be empty).
  static Result<std::unique_ptr<PooledSync>> create(firmware::SyncOptions options,
                                                    firmware::Journal& journal,
                                                    firmware::Mailbox& mailbox, const Clock& clock,
                                                    std::function<void()> wake = {});
  ~PooledSync();  // stop(false)
  PooledSync(const PooledSync&) = delete;
  PooledSync& operator=(const PooledSync&) = delete;

  // Connects no earlier than `at` (a fleet spreads its connects out).
  void connect_not_before(Clock::Monotonic at) { next_attempt_ = at; }

  // Does what is due, never blocking: finishes or starts a connect attempt, handles a lost
  // connection, feeds received messages to the engine, and lets the engine send (events, results,
  // state reports). Returns true if the engine has more to send right away.
  bool poll();
  // Something arrived (a message or a lost connection) since the last poll.
  bool has_work() const { return work_.load(); }

  // Clean: publishes status offline and starts a disconnect (not waited for here; see
  // wait_disconnected). Not clean: drops the connection as a power cut would.
  void stop(bool clean);
  // Waits up to `timeout` for the disconnect stop() started. True if it finished.
  bool wait_disconnected(std::chrono::milliseconds timeout);

  bool connected() const { return connected_.load(); }
  firmware::SyncStats stats() const;

 private:
  class Transport;
  PooledSync(firmware::SyncOptions options, firmware::Journal& journal, firmware::Mailbox& mailbox,
             const Clock& clock, std::unique_ptr<firmware::SyncEngine> engine,
             std::function<void()> wake);
  Status build_client();
  Status start_connect();
  void finish_connect();

  struct Received {
    std::string topic;
    std::string payload;
  };

  firmware::SyncOptions options_;
  firmware::Journal& journal_;
  firmware::Mailbox& mailbox_;
  const Clock& clock_;
  std::unique_ptr<firmware::SyncEngine> engine_;
  std::function<void()> wake_;
  std::unique_ptr<mqtt::async_client> client_;
  std::unique_ptr<Transport> transport_;
  firmware::Backoff backoff_;
  Clock::Monotonic next_attempt_{};
  Clock::Monotonic next_liveness_check_{};
  std::shared_ptr<mqtt::token> connecting_;  // a connect in progress
  std::shared_ptr<mqtt::token> disconnecting_;
  bool logged_down_ = false;
  bool stopped_ = false;

  std::atomic<bool> connected_{false};
  std::atomic<bool> work_{false};
  mutable std::mutex mu_;  // guards received_, lost_, stats_
  std::deque<Received> received_;
  std::size_t received_bytes_ = 0;
  bool lost_ = false;
  firmware::SyncStats stats_;
};

}  // namespace reclothes::simulator
