// Helpers shared by the server fixtures (internal.cpp); not part of the public API.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

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

}  // namespace reclothes::testsupport::internal
