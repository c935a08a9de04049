// Small file helpers for tests that report what a server or a binary logged.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>

namespace reclothes::testsupport {

// The whole file as bytes; an empty string when it cannot be read (a log not written yet).
std::string read_file(const std::filesystem::path& path);

// The last `bytes` characters of text, "..." first when some were cut: a log's end in a failure
// message.
std::string tail(const std::string& text, std::size_t bytes);

}  // namespace reclothes::testsupport
