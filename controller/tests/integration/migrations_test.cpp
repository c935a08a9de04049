// Versioned migrations: applied once, checked at start-up, edits and newer schemas detected.
#include <thread>

#include "fixture.h"

namespace reclothes::controller::testing {
namespace {

class MigrationsTest : public ControllerTest {
 protected:
  // A database with nothing in it (the fixture's per-test database is cloned from a migrated
  // template).
  std::string empty_database() {
    const auto name = db_name_ + "_empty";
    auto conninfo = pg_->create_database(name);
    EXPECT_TRUE(conninfo.ok());
    return conninfo.ok() ? *conninfo : "";
  }
  std::unique_ptr<Database> open(const std::string& conninfo) {
    auto db = Database::open({conninfo, 2, std::chrono::seconds(5)});
    EXPECT_TRUE(db.ok()) << db.error().to_string();
    return db.ok() ? std::move(db).value() : nullptr;
  }
};

TEST_F(MigrationsTest, MigrateAppliesEverythingOnceAndStartUpChecksIt) {
  auto db = open(empty_database());
  ASSERT_TRUE(db);
  auto behind = check_schema(*db);
  ASSERT_FALSE(behind.ok());
  EXPECT_EQ(behind.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(behind.error().message.find("reclothes-controller migrate"), std::string::npos);

  auto first = migrate(*db);
  ASSERT_TRUE(first.ok()) << first.error().to_string();
  EXPECT_EQ(first->applied.size(), embedded::migrations().size());
  EXPECT_EQ(first->current_version, embedded::migrations().back().version);
  EXPECT_TRUE(check_schema(*db).ok());
  auto second = migrate(*db);
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second->applied.empty());
}

TEST_F(MigrationsTest, ControllerRefusesToStartOnAnUnmigratedDatabase) {
  auto config = base_config();
  config.database.conninfo = empty_database();
  auto c = make_controller(config, clock_, Log::null());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(c.error().message.find("migrate"), std::string::npos);
}

TEST_F(MigrationsTest, EditedMigrationIsDetected) {
  exec("UPDATE schema_migrations SET checksum = 'x' WHERE version = 1");
  auto db = open(conninfo_);
  auto s = check_schema(*db);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kDataLoss);
  EXPECT_NE(s.error().message.find("different checksum"), std::string::npos);
  EXPECT_FALSE(migrate(*db).ok());
}

TEST_F(MigrationsTest, NewerDatabaseIsRefused) {
  exec("INSERT INTO schema_migrations (version, name, checksum) VALUES (9999, '9999_future', 'x')");
  auto db = open(conninfo_);
  auto s = check_schema(*db);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("newer than the binary"), std::string::npos);
}

TEST_F(MigrationsTest, ConcurrentMigrateRunsApplyEachVersionOnce) {
  const auto conninfo = empty_database();
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  std::atomic<std::size_t> applied{0};
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&] {
      auto db = Database::open({conninfo, 1, std::chrono::seconds(30)});
      if (!db.ok()) return;
      auto r = migrate(**db);
      if (r.ok()) {
        ++ok;
        applied += r->applied.size();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok, 2);
  EXPECT_EQ(applied, embedded::migrations().size());
}

}  // namespace
}  // namespace reclothes::controller::testing
