#include "commands_common.h"

#include <ctime>
#include <ostream>

namespace reclothes::provisioning::cli {

std::string_view to_string(ExitCode code) {
  switch (code) {
    case ExitCode::kOk:
      return "ok";
    case ExitCode::kFailure:
      return "failure";
    case ExitCode::kUsage:
      return "usage";
    case ExitCode::kController:
      return "controller";
    case ExitCode::kLocal:
      return "local";
    case ExitCode::kConflict:
      return "conflict";
  }
  return "unknown";
}

void Console::step(const std::string& line) { err_ << "==> " << line << std::endl; }
void Console::detail(const std::string& line) {
  if (verbose_) err_ << "    " << line << std::endl;
}
void Console::warn(const std::string& line) { err_ << "warning: " << line << std::endl; }

namespace detail {

std::string iso_time(std::int64_t unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::int64_t days_left(const CertificateInfo& info, const Clock& clock) {
  return (info.not_after - clock.wall_seconds()) / kSecondsPerDay;
}

Ordered certificate_json(const CertificateInfo& info, const Clock& clock) {
  return Ordered{{"subject", info.subject},
                 {"issuer", info.issuer},
                 {"serial", info.serial_hex},
                 {"not_before", iso_time(info.not_before)},
                 {"not_after", iso_time(info.not_after)},
                 {"days_left", days_left(info, clock)}};
}

CliResult<std::unique_ptr<ControllerClient>> login(const ControllerLogin& login, Environment& env) {
  if (login.staff_email.empty()) {
    return cli_error(ExitCode::kUsage, ErrorCode::kInvalidArgument,
                     "--staff-email is required to talk to the controller");
  }
  RC_ASSIGN_OR_RETURN(auto client, ControllerClient::create(login.endpoint));
  RC_ASSIGN_OR_RETURN(std::string password, env.password());
  env.console.step("logging in to " + client->url() + " as " + login.staff_email);
  RC_TRY(client->login(login.staff_email, password));
  return client;
}

CliError local_error(Error error, std::string hint) {
  ExitCode exit = ExitCode::kLocal;
  if (error.code == ErrorCode::kInvalidArgument) exit = ExitCode::kUsage;
  if (error.code == ErrorCode::kAlreadyExists) exit = ExitCode::kConflict;
  return CliError{exit, std::move(error), std::move(hint)};
}

std::string Table::render(const std::string& indent) const {
  std::vector<std::size_t> widths;
  for (const auto& row : rows_) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows_) {
    std::string line = indent;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::string join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty()) out += sep;
    out += p;
  }
  return out;
}

}  // namespace detail
}  // namespace reclothes::provisioning::cli
