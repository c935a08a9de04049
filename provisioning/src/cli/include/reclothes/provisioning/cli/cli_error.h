// Errors of the provisioning CLI: an Error plus the exit code it maps to. Every subcommand returns
// CliResult<T>; main() prints the message (or a JSON error object) and exits with the code.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include "reclothes/common/result.h"

namespace reclothes::provisioning::cli {

// Documented in --help (kExitCodesHelp) and docs/provisioning.md. Scripts rely on these numbers:
// append, never renumber.
enum class ExitCode : int {
  kOk = 0,
  kFailure = 1,     // a self-test fault, or an operation that did not complete
  kUsage = 2,       // bad command line or bad input (compartment spec, box id, broker URI)
  kController = 3,  // controller unreachable, login refused, or the controller refused a request
  kLocal = 4,       // local file or PKI error (no CA, unwritable directory, foreign certificate)
  kConflict = 5,    // already there: a registered (--reuse) or decommissioned box id, a CA
};

inline constexpr char kExitCodesHelp[] =
    "Exit codes:\n"
    "  0  success\n"
    "  1  failure: a self-test fault, or an operation that did not complete\n"
    "  2  usage: bad command line or bad input (compartment spec, box id, broker URI)\n"
    "  3  controller unreachable, login refused, or the controller refused the request\n"
    "  4  local file or PKI error (no CA, unwritable directory, foreign certificate)\n"
    "  5  conflict: the box id is already registered (see --reuse) or was decommissioned,\n"
    "     or the PKI directory already holds a CA (see ca init --force)\n";

inline int to_int(ExitCode code) { return static_cast<int>(code); }
std::string_view to_string(ExitCode code);  // "ok", "failure", "usage", ...

struct CliError {
  ExitCode exit = ExitCode::kFailure;
  Error error;
  // What the operator should do next, when there is something sensible to say ("run again with
  // --reuse"); empty otherwise.
  std::string hint;
};

template <typename T>
using CliResult = Result<T, CliError>;
using CliStatus = Result<void, CliError>;

inline CliError cli_error(ExitCode exit, ErrorCode code, std::string message,
                          std::string hint = {}) {
  return CliError{exit, make_error(code, std::move(message)), std::move(hint)};
}

// Tags a library Result with the exit code its failure means at this call site.
template <typename T>
CliResult<T> tag(ExitCode exit, Result<T> result, std::string_view context = {}) {
  if (result.ok()) return std::move(result).value();
  Error e = std::move(result).error();
  if (!context.empty()) e = std::move(e).with_context(context);
  return CliError{exit, std::move(e), {}};
}
inline CliStatus tag(ExitCode exit, Status status, std::string_view context = {}) {
  if (status.ok()) return {};
  Error e = std::move(status).error();
  if (!context.empty()) e = std::move(e).with_context(context);
  return CliError{exit, std::move(e), {}};
}

}  // namespace reclothes::provisioning::cli
