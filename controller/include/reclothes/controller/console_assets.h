// The staff console's files (controller/web/console/), embedded at build time by
// controller/cmake/embed_console.cmake and served on the internal listener under /console/.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace reclothes::controller {

struct ConsoleAsset {
  std::string_view path;          // "/console/app.js"
  std::string_view content_type;  // "text/javascript; charset=utf-8"
  std::string_view etag;          // a quoted strong validator from the file's SHA-256
  std::string_view bytes;
};

// Every embedded file, sorted by path.
std::span<const ConsoleAsset> console_assets();

// The asset at an exact request path ("/console/" is index.html), or nullptr. Only exact paths of
// embedded files match: "..", encoded or not, never names a file.
const ConsoleAsset* find_console_asset(std::string_view path);

// The headers every console answer carries: the Content-Security-Policy (no inline script or
// style, nothing from another origin, no framing), nosniff and no referrer.
inline constexpr std::string_view kConsoleCsp =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

// The console's staff session (docs/console.md, "Session and CSRF"): the session token in an
// HttpOnly, SameSite=Strict cookie on the internal listener, and a CSRF token the page holds in
// memory and sends in kCsrfHeader on every request that is not a GET.
inline constexpr std::string_view kSessionCookie = "reclothes_staff";
inline constexpr std::string_view kCsrfHeader = "X-CSRF-Token";

// The Set-Cookie value that holds a session for max_age_s seconds; the one that clears it.
std::string session_cookie(std::string_view token, std::int64_t max_age_s);
std::string cleared_session_cookie();

// The value of cookie `name` in a Cookie request header, if present.
std::optional<std::string> cookie_value(std::string_view header, std::string_view name);

}  // namespace reclothes::controller
