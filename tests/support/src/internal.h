// Helpers shared by the server fixtures; not part of the public API.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

#include "reclothes/common/result.h"

namespace reclothes::testsupport::internal {

// The value of environment variable `name`, or `fallback` when unset or empty.
std::string env_or(const char* name, std::string_view fallback);

// Size of a file, 0 if it does not exist (yet).
std::uintmax_t file_size_or_zero(const std::filesystem::path& path);

// What a log file holds from byte `offset` on, at most the last `max_bytes` of it (error messages
// quote the end of a server's log, which is where the reason for a failed start is).
std::string read_log_from(const std::filesystem::path& path, std::uintmax_t offset,
                          std::size_t max_bytes = 4000);

// Real time is right here: these helpers wait for real processes, which no injected clock drives.
void sleep_for(std::chrono::milliseconds duration);

// One start attempt of a server on `port`. Sets port_taken when it failed because the port was in
// use (the server's log says "Address already in use").
using StartAttempt = std::function<Status(int port, bool& port_taken)>;

// Runs attempt up to 5 times. A free port is picked first when `port` is 0 and again after each
// port_taken failure; a known port (a restart) is retried as is after a pause, since its clients
// expect it. Any other failure returns at once.
Status start_with_port_retries(int& port, const StartAttempt& attempt);

}  // namespace reclothes::testsupport::internal
