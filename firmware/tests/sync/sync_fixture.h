// What the in-process Sync tests share (sync_broker_test.cpp, sync_tls_test.cpp): a temporary
// directory, a real journal in it, a Mailbox, the system clock, a real Mosquitto (each test file
// starts its own kind) and the Sync under test, stopped after each test.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <utility>

#include "reclothes/common/clock.h"
#include "reclothes/firmware/journal.h"
#include "reclothes/firmware/mailbox.h"
#include "reclothes/firmware/sync.h"
#include "reclothes/testsupport/mosquitto.h"
#include "reclothes/testsupport/process.h"

namespace reclothes::firmware::testing {

class SyncFixture : public ::testing::Test {
 protected:
  void TearDown() override {
    if (sync_) sync_->stop();
  }

  // The directory (named after `prefix`) and the journal in it.
  void make_dir_and_journal(const std::string& prefix) {
    auto dir = testsupport::TempDir::create(prefix);
    ASSERT_TRUE(dir.ok()) << dir.error().to_string();
    dir_ = std::make_unique<testsupport::TempDir>(std::move(dir).value());
    auto journal = Journal::open({.path = dir_->path() / "journal.db"});
    ASSERT_TRUE(journal.ok()) << journal.error().to_string();
    journal_ = std::move(journal).value();
  }

  // Options for `box_id` at `broker_uri` with timings for tests: quick reconnects (100..500 ms),
  // a short idle tick, a 5 s keepalive.
  static SyncOptions quick_options(std::string broker_uri, std::string box_id) {
    SyncOptions o;
    o.broker_uri = std::move(broker_uri);
    o.keepalive = std::chrono::seconds(5);
    o.connect_timeout = std::chrono::seconds(2);
    o.reconnect_min = std::chrono::milliseconds(100);
    o.reconnect_max = std::chrono::milliseconds(500);
    o.idle_tick = std::chrono::milliseconds(20);
    o.engine.box_id = std::move(box_id);
    o.engine.firmware_version = "test";
    return o;
  }

  // Creates the Sync with its own thread, as on a box.
  void start_sync(const SyncOptions& options) {
    auto sync = Sync::create(options, *journal_, mailbox_, clock_);
    ASSERT_TRUE(sync.ok()) << sync.error().to_string();
    sync_ = std::move(sync).value();
    ASSERT_TRUE(sync_->start().ok());
  }

  // Journals events make(i) for i in 0..n-1, one transaction each (as the main loop does).
  template <typename Make>
  void append_events(int n, Make make) {
    for (int i = 0; i < n; ++i) {
      Status s = journal_->transact([&](Txn& txn) -> Status {
        auto seq = txn.append_event(make(i));
        if (!seq.ok()) return seq.error();
        return ok_status();
      });
      ASSERT_TRUE(s.ok()) << s.error().to_string();
    }
  }

  std::unique_ptr<testsupport::TempDir> dir_;
  std::unique_ptr<testsupport::MosquittoServer> broker_;
  std::unique_ptr<Journal> journal_;
  Mailbox mailbox_;
  SystemClock clock_;
  std::unique_ptr<Sync> sync_;
};

}  // namespace reclothes::firmware::testing
