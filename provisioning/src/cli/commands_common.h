// Helpers shared by the subcommand implementations. Private to the CLI library.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "reclothes/provisioning/cli/commands.h"
#include "reclothes/provisioning/pki.h"

namespace reclothes::provisioning::cli::detail {

using Ordered = nlohmann::ordered_json;

// "2031-01-01T00:00:00Z" for Unix seconds.
std::string iso_time(std::int64_t unix_seconds);
std::int64_t days_left(const CertificateInfo& info, const Clock& clock);
Ordered certificate_json(const CertificateInfo& info, const Clock& clock);

// Logs in with the password from env.password; progress on the console.
CliResult<std::unique_ptr<ControllerClient>> login(const ControllerLogin& login, Environment& env);

// Maps a PKI/file Error to the exit code it means: kInvalidArgument -> usage, kAlreadyExists ->
// conflict, anything else -> local.
CliError local_error(Error error, std::string hint = {});
template <typename T>
CliResult<T> local(Result<T> r, std::string hint = {}) {
  if (r.ok()) return std::move(r).value();
  return local_error(std::move(r).error(), std::move(hint));
}
inline CliStatus local(Status s, std::string hint = {}) {
  if (s.ok()) return {};
  return local_error(std::move(s).error(), std::move(hint));
}

// A plain text table with left-aligned columns.
class Table {
 public:
  explicit Table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  std::string render(const std::string& indent = "") const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

std::string join(const std::vector<std::string>& parts, const std::string& sep);

}  // namespace reclothes::provisioning::cli::detail
