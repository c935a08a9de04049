#include "reclothes/firmware/journal.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "test_util.h"

namespace reclothes::firmware {
namespace {

using testing::temp_dir;
using testing::TempDir;

constexpr std::int64_t kT0 = 1'767'225'600'000;

msg::Event event(msg::EventKind kind, std::int64_t at_ms = kT0,
                 std::optional<int> compartment = 3) {
  msg::Event e;
  e.kind = kind;
  e.at_ms = at_ms;
  e.compartment = compartment;
  return e;
}

CompartmentRecord record(int id, std::string state, std::int64_t since_ms) {
  CompartmentRecord r;
  r.id = id;
  r.state = std::move(state);
  r.since_ms = since_ms;
  return r;
}

UnlockIntent intent_for(int compartment, std::optional<std::string> token_id,
                        std::optional<std::string> command_id, std::uint64_t seq,
                        std::int64_t at_ms) {
  UnlockIntent i;
  i.compartment = compartment;
  i.token_id = std::move(token_id);
  i.command_id = std::move(command_id);
  i.event_seq = seq;
  i.at_ms = at_ms;
  return i;
}

class JournalTest : public ::testing::Test {
 protected:
  std::unique_ptr<Journal> open(std::chrono::hours retention = std::chrono::hours(24)) {
    auto j =
        Journal::open({.path = dir_ / "journal.db", .durable = true, .acked_retention = retention});
    EXPECT_TRUE(j.ok()) << j.error().to_string();
    return j.ok() ? std::move(j).value() : nullptr;
  }

  std::uint64_t append(Journal& j, msg::Event e) {
    std::uint64_t seq = 0;
    Status s = j.transact([&](Txn& t) -> Status {
      RC_ASSIGN_OR_RETURN(seq, t.append_event(std::move(e)));
      return ok_status();
    });
    EXPECT_TRUE(s.ok()) << s.error().to_string();
    return seq;
  }

  TempDir dir_ = temp_dir();
};

TEST_F(JournalTest, FreshJournalIsEmpty) {
  auto j = open();
  ASSERT_TRUE(j);
  EXPECT_EQ(j->last_seq().value(), 0u);
  EXPECT_EQ(j->acked_upto().value(), 0u);
  EXPECT_EQ(j->backlog().value(), 0u);
  EXPECT_TRUE(j->compartments()->empty());
  EXPECT_TRUE(j->events_after(0, 10)->empty());
}

TEST_F(JournalTest, AppendAssignsConsecutiveSeqsFromOneIgnoringTheGivenSeq) {
  auto j = open();
  msg::Event e = event(msg::EventKind::kBoot);
  e.seq = 77;
  EXPECT_EQ(append(*j, e), 1u);
  EXPECT_EQ(append(*j, e), 2u);
  Status s = j->transact([&](Txn& t) -> Status {
    RC_ASSIGN_OR_RETURN(auto a, t.append_event(event(msg::EventKind::kDoorOpened)));
    RC_ASSIGN_OR_RETURN(auto b, t.append_event(event(msg::EventKind::kDoorClosed)));
    EXPECT_EQ(a, 3u);
    EXPECT_EQ(b, 4u);
    return ok_status();
  });
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(j->last_seq().value(), 4u);
  EXPECT_EQ(j->backlog().value(), 4u);
}

TEST_F(JournalTest, EventRoundTripsEveryField) {
  auto j = open();
  msg::Event e = event(msg::EventKind::kAccessCompleted, kT0 + 5);
  e.token_id = "0123456789abcdef";
  e.action = TokenAction::kCourierLoad;
  e.order_ref = 18'000'000'000'000'000'000u;  // above INT64_MAX: stored through the JSON text
  e.reason = "already_used";
  e.occupied = true;
  e.fill_percent = 40;
  e.command_id = "cmd-1";
  e.detail = "grüße";
  append(*j, e);
  auto events = j->events_after(0, 10);
  ASSERT_TRUE(events.ok()) << events.error().to_string();
  ASSERT_EQ(events->size(), 1u);
  e.seq = 1;
  EXPECT_EQ(events->front(), e);
}

TEST_F(JournalTest, ErrorInTransactionRollsBackEverything) {
  auto j = open();
  Status s = j->transact([&](Txn& t) -> Status {
    RC_TRY(t.append_event(event(msg::EventKind::kUnlocked)));
    RC_TRY(t.save_compartment(record(3, "unlocked", kT0)));
    RC_TRY(t.mark_token_used("0123456789abcdef", 100));
    RC_TRY(t.begin_unlock(intent_for(3, "0123456789abcdef", std::nullopt, 1, kT0)));
    RC_TRY(t.put_setting("k", "v"));
    return make_error(ErrorCode::kIo, "the lock driver said no");
  });
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kIo);
  EXPECT_EQ(j->last_seq().value(), 0u);
  EXPECT_TRUE(j->events_after(0, 10)->empty());
  EXPECT_TRUE(j->compartments()->empty());
  EXPECT_FALSE(j->token_used("0123456789abcdef").value());
  EXPECT_TRUE(j->unlock_intents()->empty());
  EXPECT_FALSE(j->setting("k")->has_value());
  // The rolled-back seq was never committed, so the next event still gets 1: no gap.
  EXPECT_EQ(append(*j, event(msg::EventKind::kBoot)), 1u);
}

TEST_F(JournalTest, EventTheControllerWouldRefuseIsNotJournaled) {
  auto j = open();
  msg::Event e = event(msg::EventKind::kBoot);
  e.detail = std::string(600, 'x');  // over kMaxDetailBytes
  auto direct = j->transact([&](Txn& t) -> Status {
    RC_TRY(t.append_event(e));
    return ok_status();
  });
  ASSERT_FALSE(direct.ok());
  EXPECT_EQ(direct.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(direct.error().message.find("detail"), std::string::npos) << direct.error().message;
  EXPECT_EQ(j->last_seq().value(), 0u);
}

TEST_F(JournalTest, ExceptionInTransactionRollsBackAndBecomesAnError) {
  auto j = open();
  Status s = j->transact([&](Txn& t) -> Status {
    RC_TRY(t.append_event(event(msg::EventKind::kBoot)));
    throw std::runtime_error("boom");
  });
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kInternal);
  EXPECT_EQ(j->last_seq().value(), 0u);
}

TEST_F(JournalTest, NestedTransactIsRefusedNotDeadlocked) {
  auto j = open();
  Status inner = ok_status();
  Status outer = j->transact([&](Txn&) -> Status {
    inner = j->transact([](Txn&) { return ok_status(); });
    return ok_status();
  });
  EXPECT_TRUE(outer.ok());
  ASSERT_FALSE(inner.ok());
  EXPECT_EQ(inner.error().code, ErrorCode::kFailedPrecondition);
}

TEST_F(JournalTest, ReadsInsideATransactionSeeItsOwnWrites) {
  auto j = open();
  Status s = j->transact([&](Txn& t) -> Status {
    RC_TRY(t.put_setting("maintenance", "1"));
    RC_ASSIGN_OR_RETURN(auto v, j->setting("maintenance"));
    EXPECT_EQ(v, std::optional<std::string>("1"));
    return ok_status();
  });
  EXPECT_TRUE(s.ok());
}

TEST_F(JournalTest, MarkAckedIgnoresOldAcksAndRefusesAcksBeyondTheLastSeq) {
  auto j = open();
  for (int i = 0; i < 5; ++i) append(*j, event(msg::EventKind::kDoorOpened));
  ASSERT_TRUE(j->mark_acked(3).ok());
  EXPECT_EQ(j->acked_upto().value(), 3u);
  EXPECT_EQ(j->backlog().value(), 2u);
  ASSERT_TRUE(j->mark_acked(2).ok());  // late ack: ignored
  EXPECT_EQ(j->acked_upto().value(), 3u);
  ASSERT_TRUE(j->mark_acked(3).ok());  // twice: ignored
  Status beyond = j->mark_acked(6);
  ASSERT_FALSE(beyond.ok());
  EXPECT_EQ(beyond.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(j->acked_upto().value(), 3u);
  ASSERT_TRUE(j->mark_acked(5).ok());
  EXPECT_EQ(j->backlog().value(), 0u);
}

TEST_F(JournalTest, EventsAfterReturnsUnackedEventsInOrderUpToTheLimit) {
  auto j = open();
  for (int i = 0; i < 10; ++i) append(*j, event(msg::EventKind::kDoorOpened, kT0 + i));
  auto first = j->events_after(0, 4);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->size(), 4u);
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ((*first)[i].seq, i + 1);
  auto middle = j->events_after(6, 100);
  ASSERT_EQ(middle->size(), 4u);
  EXPECT_EQ(middle->front().seq, 7u);
  EXPECT_EQ(middle->back().seq, 10u);
  EXPECT_EQ(middle->front().at_ms, kT0 + 6);
  ASSERT_TRUE(j->mark_acked(8).ok());
  auto unacked = j->events_after(0, 100);  // acked events are never returned
  ASSERT_EQ(unacked->size(), 2u);
  EXPECT_EQ(unacked->front().seq, 9u);
  EXPECT_TRUE(j->events_after(10, 100)->empty());
  EXPECT_TRUE(j->events_after(0, 0)->empty());
}

TEST_F(JournalTest, PruneDeletesOnlyAckedEventsOlderThanTheRetention) {
  auto j = open(std::chrono::hours(1));
  const std::int64_t hour = 3'600'000;
  for (int i = 0; i < 6; ++i) append(*j, event(msg::EventKind::kDoorOpened, kT0 + i * hour));
  ASSERT_TRUE(j->mark_acked(4).ok());
  // At kT0 + 3.5 h: events 1..3 (0 h, 1 h, 2 h) are acked and older than an hour; event 4 (3 h)
  // is acked but only half an hour old.
  auto pruned = j->prune(kT0 + 3 * hour + hour / 2);
  ASSERT_TRUE(pruned.ok()) << pruned.error().to_string();
  EXPECT_EQ(*pruned, 3u);
  // Far in the future: only the acked event 4 goes, never 5 and 6.
  EXPECT_EQ(j->prune(kT0 + 1000 * hour).value(), 1u);
  auto left = j->events_after(0, 100);
  ASSERT_EQ(left->size(), 2u);
  EXPECT_EQ(left->front().seq, 5u);
  EXPECT_EQ(j->last_seq().value(), 6u);
}

TEST_F(JournalTest, SeqsAreNeverReusedAfterPruningEverythingAndReopening) {
  {
    auto j = open(std::chrono::hours(0));
    for (int i = 0; i < 3; ++i) append(*j, event(msg::EventKind::kBoot));
    ASSERT_TRUE(j->mark_acked(3).ok());
    EXPECT_EQ(j->prune(kT0 + 1).value(), 3u);
    EXPECT_EQ(append(*j, event(msg::EventKind::kBoot)), 4u);
    ASSERT_TRUE(j->mark_acked(4).ok());
    EXPECT_EQ(j->prune(kT0 + 1).value(), 1u);
  }
  auto j = open();
  EXPECT_EQ(j->last_seq().value(), 4u);
  EXPECT_EQ(j->acked_upto().value(), 4u);
  EXPECT_EQ(append(*j, event(msg::EventKind::kBoot)), 5u);
}

TEST_F(JournalTest, PruneDropsUsedTokensADayAfterTheyExpired) {
  auto j = open();
  const std::int64_t now_s = kT0 / 1000;
  ASSERT_TRUE(j->transact([&](Txn& t) -> Status {
                 RC_TRY(t.mark_token_used("00000000000000aa", now_s - 2 * 86400));
                 RC_TRY(t.mark_token_used("00000000000000bb", now_s - 3600));
                 return ok_status();
               }).ok());
  ASSERT_TRUE(j->prune(kT0).ok());
  EXPECT_FALSE(j->token_used("00000000000000aa").value());
  EXPECT_TRUE(j->token_used("00000000000000bb").value());
}

TEST_F(JournalTest, SingleUseTokensAndCommandsAreRefusedTheSecondTime) {
  auto j = open();
  ASSERT_TRUE(j->transact([&](Txn& t) -> Status {
                 RC_ASSIGN_OR_RETURN(bool used, t.token_used("0123456789abcdef"));
                 EXPECT_FALSE(used);
                 RC_TRY(t.mark_token_used("0123456789abcdef", 100));
                 RC_ASSIGN_OR_RETURN(used, t.token_used("0123456789abcdef"));
                 EXPECT_TRUE(used);
                 return t.record_command({"cmd-1", true, "ok", "opened"});
               }).ok());
  Status again = j->transact([&](Txn& t) { return t.mark_token_used("0123456789abcdef", 100); });
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, ErrorCode::kAlreadyExists);
  Status cmd = j->transact([&](Txn& t) { return t.record_command({"cmd-1", false, "x", ""}); });
  ASSERT_FALSE(cmd.ok());
  EXPECT_EQ(cmd.error().code, ErrorCode::kAlreadyExists);
  auto stored = j->command_result("cmd-1");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(*stored, (msg::CommandResult{"cmd-1", true, "ok", "opened"}));
  EXPECT_FALSE(j->command_result("cmd-2")->has_value());
}

TEST_F(JournalTest, UnlockIntentsAreWrittenAndCleared) {
  auto j = open();
  UnlockIntent intent = intent_for(2, std::nullopt, "cmd-9", 1, kT0);
  ASSERT_TRUE(j->transact([&](Txn& t) { return t.begin_unlock(intent); }).ok());
  Status twice = j->transact([&](Txn& t) { return t.begin_unlock(intent); });
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.error().code, ErrorCode::kAlreadyExists);
  auto intents = j->unlock_intents();
  ASSERT_EQ(intents->size(), 1u);
  EXPECT_EQ(intents->front().command_id, std::optional<std::string>("cmd-9"));
  EXPECT_EQ(intents->front().at_ms, kT0);
  ASSERT_TRUE(j->transact([&](Txn& t) { return t.end_unlock(2); }).ok());
  EXPECT_TRUE(j->unlock_intents()->empty());
}

TEST_F(JournalTest, ReservationsAndRevocationsCanBeReplacedBySnapshots) {
  auto j = open();
  msg::Reservation a{3, 42, TokenAction::kDeposit, 1000};
  msg::Reservation b{4, 43, TokenAction::kPickup, 2000};
  ASSERT_TRUE(j->transact([&](Txn& t) -> Status {
                 RC_TRY(t.put_reservation(a));
                 RC_TRY(t.put_reservation(b));
                 RC_TRY(t.add_revocations({"00000000000000aa", "00000000000000bb"}));
                 return t.add_revocations({"00000000000000aa"});  // idempotent
               }).ok());
  EXPECT_EQ(j->reservations().value(), (std::vector<msg::Reservation>{a, b}));
  EXPECT_EQ(j->revocations()->size(), 2u);
  ASSERT_TRUE(j->transact([&](Txn& t) -> Status {
                 RC_TRY(t.replace_reservations({b}));
                 return t.replace_revocations({"00000000000000cc"});
               }).ok());
  EXPECT_EQ(j->reservations().value(), (std::vector<msg::Reservation>{b}));
  EXPECT_FALSE(j->is_revoked("00000000000000aa").value());
  EXPECT_TRUE(j->is_revoked("00000000000000cc").value());
  ASSERT_TRUE(j->transact([&](Txn& t) { return t.remove_reservation(4); }).ok());
  EXPECT_TRUE(j->reservations()->empty());
}

TEST_F(JournalTest, ReopeningKeepsEverything) {
  CompartmentRecord saved = record(2, "occupied", kT0);
  saved.token_id = "0123456789abcdef";
  saved.action = TokenAction::kDeposit;
  saved.order_ref = 99;
  saved.occupied = true;
  msg::Reservation r{1, 7, TokenAction::kPickup, 5000};
  {
    auto j = open();
    ASSERT_TRUE(j->transact([&](Txn& t) -> Status {
                   RC_TRY(t.append_event(event(msg::EventKind::kBoot)));
                   RC_TRY(t.append_event(event(msg::EventKind::kDoorOpened)));
                   RC_TRY(t.save_compartment(saved));
                   RC_TRY(t.put_reservation(r));
                   RC_TRY(t.add_revocations({"00000000000000aa"}));
                   RC_TRY(t.mark_token_used("0123456789abcdef", kT0 / 1000 + 600));
                   RC_TRY(t.record_command({"cmd-1", true, "ok", ""}));
                   RC_TRY(t.begin_unlock(intent_for(2, "0123456789abcdef", std::nullopt, 2, kT0)));
                   return t.put_setting("config_revision", "3");
                 }).ok());
    ASSERT_TRUE(j->mark_acked(1).ok());
  }
  auto j = open();
  EXPECT_EQ(j->compartments().value(), std::vector<CompartmentRecord>{saved});
  EXPECT_EQ(j->reservations().value(), std::vector<msg::Reservation>{r});
  EXPECT_TRUE(j->is_revoked("00000000000000aa").value());
  EXPECT_TRUE(j->token_used("0123456789abcdef").value());
  EXPECT_TRUE(j->command_result("cmd-1")->has_value());
  EXPECT_EQ(j->unlock_intents()->size(), 1u);
  EXPECT_EQ(j->setting("config_revision").value(), std::optional<std::string>("3"));
  EXPECT_EQ(j->last_seq().value(), 2u);
  EXPECT_EQ(j->acked_upto().value(), 1u);
  ASSERT_EQ(j->events_after(0, 10)->size(), 1u);
  EXPECT_EQ(j->events_after(0, 10)->front().kind, msg::EventKind::kDoorOpened);
}

TEST_F(JournalTest, SavingACompartmentAgainUpdatesIt) {
  auto j = open();
  CompartmentRecord r = record(1, "unlocked", 1);
  r.token_id = "0123456789abcdef";
  r.action = TokenAction::kPickup;
  r.order_ref = 5;
  ASSERT_TRUE(j->transact([&](Txn& t) { return t.save_compartment(r); }).ok());
  r = record(1, "free", 2);
  ASSERT_TRUE(j->transact([&](Txn& t) { return t.save_compartment(r); }).ok());
  EXPECT_EQ(j->compartments().value(), std::vector<CompartmentRecord>{r});
}

TEST_F(JournalTest, WaitForEventsWakesWhenAnEventIsCommitted) {
  auto j = open();
  EXPECT_FALSE(j->wait_for_events(0, std::chrono::milliseconds(1)));
  std::atomic<bool> woke{false};
  std::thread waiter([&] { woke = j->wait_for_events(0, std::chrono::seconds(30)); });
  append(*j, event(msg::EventKind::kBoot));
  waiter.join();
  EXPECT_TRUE(woke);
  EXPECT_TRUE(j->wait_for_events(0, std::chrono::milliseconds(0)));
  EXPECT_FALSE(j->wait_for_events(1, std::chrono::milliseconds(1)));
}

TEST_F(JournalTest, TwoWritersAndAReaderNeverLoseOrDuplicateASeq) {
  auto j = open();
  constexpr int kPerWriter = 150;
  auto writer = [&] {
    for (int i = 0; i < kPerWriter; ++i) {
      Status s = j->transact([&](Txn& t) -> Status {
        RC_TRY(t.append_event(event(msg::EventKind::kDoorOpened)));
        return t.save_compartment(record(1, "open", i));
      });
      EXPECT_TRUE(s.ok());
    }
  };
  std::atomic<bool> done{false};
  std::thread reader([&] {
    std::uint64_t seen = 0;
    while (!done) {
      if (!j->wait_for_events(seen, std::chrono::milliseconds(50))) continue;
      auto events = j->events_after(seen, 64);
      ASSERT_TRUE(events.ok());
      for (const auto& e : *events) {
        EXPECT_EQ(e.seq, seen + 1);
        seen = e.seq;
      }
      if (seen > 0) {
        ASSERT_TRUE(j->mark_acked(seen).ok());
      }
    }
  });
  std::thread a(writer);
  std::thread b(writer);
  a.join();
  b.join();
  done = true;
  reader.join();
  EXPECT_EQ(j->last_seq().value(), 2u * kPerWriter);
}

TEST(JournalOpen, MissingDirectoryIsAnIoErrorNamingThePath) {
  auto j = Journal::open({.path = "/nonexistent-dir-for-test/journal.db"});
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.error().code, ErrorCode::kIo);
  EXPECT_NE(j.error().message.find("/nonexistent-dir-for-test"), std::string::npos);
}

// What a read-only data partition gives (SQLite cannot open the file to read and write; here a
// directory stands in the file's place, which fails the same way even for root): an I/O error
// that says what to check, never "not a journal", which would invite replacing the file.
TEST(JournalOpen, AJournalThatCannotBeOpenedForWritingSaysWhatToCheck) {
  const TempDir dir = temp_dir();
  std::filesystem::create_directory(dir / "journal.db");  // not a file the box can open
  auto j = Journal::open({.path = dir / "journal.db"});
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.error().code, ErrorCode::kIo) << j.error().to_string();
  const std::string& m = j.error().message;
  EXPECT_EQ(m.find("not a journal"), std::string::npos) << m;
  EXPECT_NE(m.find("cannot be opened for writing"), std::string::npos) << m;
  EXPECT_NE(m.find("mounted read-write"), std::string::npos) << m;
  EXPECT_NE(m.find("do not delete or replace"), std::string::npos) << m;
}

TEST(JournalOpen, AFileThatIsNotSqliteIsDataLoss) {
  const TempDir dir = temp_dir();
  std::ofstream(dir / "journal.db") << std::string(8192, 'x');
  auto j = Journal::open({.path = dir / "journal.db"});
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.error().code, ErrorCode::kDataLoss) << j.error().to_string();
}

TEST(JournalOpen, SomeoneElsesSqliteDatabaseIsRefused) {
  const TempDir dir = temp_dir();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir / "other.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE t(x)", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto j = Journal::open({.path = dir / "other.db"});
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.error().code, ErrorCode::kDataLoss);
  EXPECT_NE(j.error().message.find("not a ReClothes box journal"), std::string::npos);
}

TEST(JournalOpen, ASchemaFromNewerFirmwareIsRefused) {
  const TempDir dir = temp_dir();
  { ASSERT_TRUE(Journal::open({.path = dir / "journal.db"}).ok()); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir / "journal.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version=99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto j = Journal::open({.path = dir / "journal.db"});
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.error().code, ErrorCode::kFailedPrecondition);
}

TEST(JournalOpen, ACorruptedFileIsDataLoss) {
  const TempDir dir = temp_dir();
  {
    auto j = Journal::open({.path = dir / "journal.db"});
    ASSERT_TRUE(j.ok());
    for (int i = 0; i < 200; ++i) {
      ASSERT_TRUE((*j)->transact([&](Txn& t) -> Status {
                        RC_TRY(t.append_event(event(msg::EventKind::kBoot)));
                        return t.add_revocations({"00000000000000aa"});
                      })
                      .ok());
    }
  }  // closing checkpoints the WAL into the main file
  {
    std::fstream f(dir / "journal.db", std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(f.good());
    f.seekp(4096 * 2);
    const std::string junk(4096 * 3, '\x5a');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  auto j = Journal::open({.path = dir / "journal.db"});
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.error().code, ErrorCode::kDataLoss) << j.error().to_string();
}

}  // namespace
}  // namespace reclothes::firmware
