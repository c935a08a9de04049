#include "reclothes/controller/request_framing.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <optional>

namespace reclothes::controller {
namespace {

using Kind = RequestFraming::Kind;

constexpr std::size_t kFramingMaxChunkLine = 1024;     // a size line with its extensions
constexpr std::size_t kFramingMaxTrailerBytes = 8192;  // all trailer lines together

std::string_view framing_trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

bool framing_iequals(std::string_view a, std::string_view lower) {
  return a.size() == lower.size() &&
         std::equal(a.begin(), a.end(), lower.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == y;
         });
}

// Decimal digits only, at most 18 of them (no sign, no spaces inside, no overflow).
std::optional<std::uint64_t> framing_parse_length(std::string_view v) {
  if (v.empty() || v.size() > 18) return std::nullopt;
  std::uint64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return n;
}

int framing_hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

RequestFraming framing_bad(std::string_view reason) { return {Kind::kBad, 0, reason, false}; }

// The chunked body starting at `at`.
RequestFraming framing_frame_chunked(std::string_view request, std::size_t at,
                                     std::size_t max_body) {
  std::uint64_t total = 0;
  for (;;) {
    const auto eol = request.find("\r\n", at);
    if (eol == std::string_view::npos) {
      if (request.size() - at > kFramingMaxChunkLine)
        return framing_bad("chunk size line too long");
      return {};
    }
    if (eol - at > kFramingMaxChunkLine) return framing_bad("chunk size line too long");
    auto line = request.substr(at, eol - at);
    line = line.substr(0, line.find(';'));
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
    if (line.empty() || line.size() > 15) return framing_bad("invalid chunk size");
    std::uint64_t size = 0;
    for (char c : line) {
      const int d = framing_hex_digit(c);
      if (d < 0) return framing_bad("invalid chunk size");
      size = size * 16 + static_cast<std::uint64_t>(d);
    }
    total += size;
    if (total > max_body) return {Kind::kTooLarge, 0, {}, false};
    at = eol + 2;
    if (size == 0) break;
    if (request.size() - at < size + 2) return {};
    if (request.substr(at + size, 2) != "\r\n")
      return framing_bad("chunk data not followed by CRLF");
    at += size + 2;
  }
  // Trailer fields, then the blank line that ends the request.
  const auto trailers_start = at;
  for (;;) {
    const auto eol = request.find("\r\n", at);
    if (eol == std::string_view::npos) {
      if (request.size() - trailers_start > kFramingMaxTrailerBytes)
        return framing_bad("trailers too long");
      return {};
    }
    if (eol + 2 - trailers_start > kFramingMaxTrailerBytes) return framing_bad("trailers too long");
    if (eol == at) return {Kind::kComplete, eol + 2, {}, false};
    at = eol + 2;
  }
}

}  // namespace

RequestFraming frame_request(std::string_view request, std::size_t headers_length,
                             std::size_t max_body) {
  headers_length = std::min(headers_length, request.size());
  const auto headers = request.substr(0, headers_length);
  std::optional<std::uint64_t> content_length;
  bool chunked = false;
  bool expects_continue = false;
  // Header lines, after the request line. As httplib reads them: split at LF, and a line that does
  // not end with CRLF is skipped (so both sides agree on which fields exist).
  for (auto at = headers.find('\n'); at != std::string_view::npos && at + 1 < headers.size();) {
    const auto start = at + 1;
    at = headers.find('\n', start);
    if (at == std::string_view::npos) break;
    if (at == start || headers[at - 1] != '\r') continue;
    const auto line = headers.substr(start, at - 1 - start);
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;  // httplib refuses the request itself
    const auto name = line.substr(0, colon);
    const auto value = framing_trim_ows(line.substr(colon + 1));
    if (framing_iequals(name, "content-length")) {
      const auto n = framing_parse_length(value);
      if (!n) return framing_bad("invalid Content-Length");
      if (content_length && *content_length != *n) return framing_bad("conflicting Content-Length");
      content_length = n;
    } else if (framing_iequals(name, "transfer-encoding")) {
      if (!framing_iequals(value, "chunked") || chunked) {
        return framing_bad("unsupported Transfer-Encoding (only a single `chunked` is accepted)");
      }
      chunked = true;
    } else if (framing_iequals(name, "expect")) {
      expects_continue = framing_iequals(value, "100-continue");
    }
  }
  RequestFraming f;
  if (chunked && content_length) {
    return framing_bad("both Content-Length and Transfer-Encoding");
  }
  if (chunked) {
    f = framing_frame_chunked(request, headers_length, max_body);
  } else if (!content_length) {
    f = {Kind::kComplete, headers_length, {}, false};
  } else if (*content_length > max_body) {
    f = {Kind::kTooLarge, 0, {}, false};
  } else if (request.size() - headers_length >= *content_length) {
    f = {Kind::kComplete, headers_length + static_cast<std::size_t>(*content_length), {}, false};
  }
  f.expects_continue = expects_continue;
  return f;
}

}  // namespace reclothes::controller
