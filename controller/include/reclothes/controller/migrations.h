// Versioned SQL migrations (controller/migrations/NNNN_name.sql, embedded into the binary).
// schema_migrations records each applied version with the SHA-256 of its SQL, so a migration
// file edited after it was applied is detected instead of silently diverging.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "reclothes/common/result.h"
#include "reclothes/controller/db.h"
#include "reclothes/controller/embedded.h"

namespace reclothes::controller {

struct MigrationReport {
  std::vector<int> applied;  // versions applied by this call
  int current_version = 0;   // after the call
};

// Applies every pending migration, each in its own transaction, under an advisory lock so that
// two replicas (or two `migrate` runs) never race. Fails with kDataLoss if an applied migration's
// checksum differs from the embedded one, and kFailedPrecondition if the database has versions
// this binary does not know (it is newer than the binary).
Result<MigrationReport> migrate(
    Database& db, std::span<const embedded::MigrationSource> migrations = embedded::migrations());

// Read-only start-up check: ok only when every embedded migration is applied with the same
// checksum and nothing unknown is. The error tells the operator to run
// `reclothes-controller migrate`.
Status check_schema(Database& db,
                    std::span<const embedded::MigrationSource> migrations = embedded::migrations());

std::string sha256_hex(std::string_view data);

}  // namespace reclothes::controller
