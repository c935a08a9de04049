#include "reclothes/controller/console_assets.h"

#include <algorithm>
#include <string>

namespace reclothes::controller {

const ConsoleAsset* find_console_asset(std::string_view path) {
  if (path == "/console/") path = "/console/index.html";
  const auto assets = console_assets();
  const auto it =
      std::lower_bound(assets.begin(), assets.end(), path,
                       [](const ConsoleAsset& a, std::string_view p) { return a.path < p; });
  if (it == assets.end() || it->path != path) return nullptr;
  return &*it;
}

std::string session_cookie(std::string_view token, std::int64_t max_age_s) {
  // Not Secure: the internal listener may be plain HTTP inside the allowlisted network (a Secure
  // cookie would never be sent back there); behind the TLS front the proxy may add it.
  return std::string(kSessionCookie) + "=" + std::string(token) +
         "; Path=/; HttpOnly; SameSite=Strict; Max-Age=" + std::to_string(max_age_s);
}

std::string cleared_session_cookie() {
  return std::string(kSessionCookie) + "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0";
}

std::optional<std::string> cookie_value(std::string_view header, std::string_view name) {
  std::size_t start = 0;
  while (start < header.size()) {
    auto end = header.find(';', start);
    if (end == std::string_view::npos) end = header.size();
    auto item = header.substr(start, end - start);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    const auto eq = item.find('=');
    if (eq != std::string_view::npos && item.substr(0, eq) == name) {
      auto value = item.substr(eq + 1);
      while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) {
        value.remove_suffix(1);
      }
      return std::string(value);
    }
    start = end + 1;
  }
  return std::nullopt;
}

}  // namespace reclothes::controller
