#include "reclothes/controller/migrations.h"

#include <sodium.h>

#include <map>

#include "reclothes/common/bytes.h"
#include "reclothes/controller/accounts.h"

namespace reclothes::controller {
namespace {

// Arbitrary, fixed key for pg_advisory_xact_lock: "migrate" in ASCII.
constexpr std::int64_t kMigrationLockKey = 0x6d696772617465;

constexpr std::string_view kCreateTable = R"(
  CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
  ))";

struct Applied {
  std::string name;
  std::string checksum;
};

Result<std::map<int, Applied>> read_applied(pqxx::work& tx) {
  std::map<int, Applied> out;
  const auto exists = tx.exec1("SELECT to_regclass('public.schema_migrations') IS NOT NULL");
  if (!exists[0].as<bool>()) return out;
  for (const auto& row : tx.exec("SELECT version, name, checksum FROM schema_migrations")) {
    out[row[0].as<int>()] = Applied{row[1].as<std::string>(), row[2].as<std::string>()};
  }
  return out;
}

Status compare(const std::map<int, Applied>& applied,
               std::span<const embedded::MigrationSource> migrations, bool require_all) {
  std::map<int, const embedded::MigrationSource*> known;
  for (const auto& m : migrations) known[m.version] = &m;
  for (const auto& [version, a] : applied) {
    const auto it = known.find(version);
    if (it == known.end()) {
      return make_error(ErrorCode::kFailedPrecondition,
                        "the database has migration " + std::to_string(version) + " (" + a.name +
                            ") which this binary does not know: the database is newer than the "
                            "binary; deploy a newer controller");
    }
    if (sha256_hex(it->second->sql) != a.checksum) {
      return make_error(ErrorCode::kDataLoss,
                        "migration " + std::to_string(version) + " (" + a.name +
                            ") was applied with a different checksum: its SQL file was edited "
                            "after it was applied; restore the file and add a new migration");
    }
  }
  if (require_all) {
    for (const auto& m : migrations) {
      if (!applied.contains(m.version)) {
        return make_error(ErrorCode::kFailedPrecondition,
                          "database schema is behind: migration " + std::to_string(m.version) +
                              " (" + std::string(m.name) +
                              ") is not applied; run `reclothes-controller migrate --config FILE`");
      }
    }
  }
  return ok_status();
}

}  // namespace

std::string sha256_hex(std::string_view data) {
  std::uint8_t out[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(out, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  return to_hex(out);
}

Result<MigrationReport> migrate(Database& db,
                                std::span<const embedded::MigrationSource> migrations) {
  MigrationReport report;
  // One transaction per migration; the advisory lock is taken in each, and the list of applied
  // versions is re-read under it, so a concurrent migrate simply finds the work done.
  for (const auto& m : migrations) {
    auto step = db.with_transaction([&](pqxx::work& tx) -> Result<bool> {
      tx.exec_params("SELECT pg_advisory_xact_lock($1)", kMigrationLockKey);
      tx.exec(std::string(kCreateTable));
      RC_ASSIGN_OR_RETURN(auto applied, read_applied(tx));
      RC_TRY(compare(applied, migrations, /*require_all=*/false));
      if (applied.contains(m.version)) return false;
      tx.exec(std::string(m.sql));
      tx.exec_params("INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                     m.version, std::string(m.name), sha256_hex(m.sql));
      return true;
    });
    if (!step.ok()) {
      return std::move(step).error().with_context("migration " + std::to_string(m.version) + " (" +
                                                  std::string(m.name) + ")");
    }
    if (*step) report.applied.push_back(m.version);
    report.current_version = m.version;
  }
  // The built-in roles' rows follow this binary's role table (accounts.h), also when no migration
  // was pending: a binary that changes a built-in set brings the database along on `migrate`.
  auto roles = db.with_transaction([&](pqxx::work& tx) -> Result<std::int64_t> {
    tx.exec_params("SELECT pg_advisory_xact_lock($1)", kMigrationLockKey);
    return sync_builtin_roles(tx);
  });
  if (!roles.ok()) return std::move(roles).error().with_context("built-in roles");
  return report;
}

Status check_schema(Database& db, std::span<const embedded::MigrationSource> migrations) {
  return db.with_transaction([&](pqxx::work& tx) -> Status {
    RC_ASSIGN_OR_RETURN(auto applied, read_applied(tx));
    return compare(applied, migrations, /*require_all=*/true);
  });
}

}  // namespace reclothes::controller
