// Assets compiled into the binary at build time (controller/cmake/embed_assets.cmake): the SQL
// migrations from controller/migrations/ and the OpenAPI document controller/openapi.json.
#pragma once

#include <string_view>
#include <vector>

namespace reclothes::controller::embedded {

struct MigrationSource {
  int version;            // NNNN from the file name
  std::string_view name;  // the file name without .sql, e.g. "0001_core"
  std::string_view sql;
};

// In ascending version order.
const std::vector<MigrationSource>& migrations();
std::string_view openapi_json();

}  // namespace reclothes::controller::embedded
