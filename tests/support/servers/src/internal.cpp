#include "internal.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <system_error>
#include <thread>

namespace reclothes::testsupport::internal {

std::string env_or(const char* name, std::string_view fallback) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return std::string(fallback);
  return value;
}

std::uintmax_t file_size_or_zero(const std::filesystem::path& path) {
  std::error_code ec;
  const std::uintmax_t size = std::filesystem::file_size(path, ec);
  return ec ? 0 : size;
}

std::string read_log_from(const std::filesystem::path& path, std::uintmax_t offset,
                          std::size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "(no log at " + path.string() + ")";
  const std::uintmax_t size = file_size_or_zero(path);
  std::uintmax_t start = std::max(offset, size > max_bytes ? size - max_bytes : 0);
  in.seekg(static_cast<std::streamoff>(start));
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void sleep_for(std::chrono::milliseconds duration) { std::this_thread::sleep_for(duration); }

}  // namespace reclothes::testsupport::internal
