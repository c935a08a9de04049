// libFuzzer target for the controller's request framing (reclothes/controller/request_framing.h):
// the bytes of a connection, as the event loop buffers them, decide where each request ends before
// any thread serves it, so a mistake here is request smuggling or a hang.
//
// Besides "never crash, never hang", it checks: a complete request is never shorter than its
// headers nor longer than the buffer; a complete request stays complete with the same length when
// more bytes follow (pipelining); and every prefix of a complete request is incomplete (or the same
// refusal), never a different complete length: the answer cannot depend on how the bytes were cut
// into TCP segments. The first byte picks the body limit.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "reclothes/controller/request_framing.h"

namespace {

using reclothes::controller::frame_request;
using Kind = reclothes::controller::RequestFraming::Kind;

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t max_body = static_cast<std::size_t>(data[0]) * 16;
  const std::string_view all(reinterpret_cast<const char*>(data + 1), size - 1);
  const auto end = all.find("\r\n\r\n");
  if (end == std::string_view::npos) return 0;
  const auto headers = end + 4;

  const auto r = frame_request(all, headers, max_body);
  if (r.kind == Kind::kBad) check(!r.reason.empty());
  if (r.kind != Kind::kComplete) return 0;
  check(r.length >= headers && r.length <= all.size());

  // The same request with nothing after it.
  const auto alone = frame_request(all.substr(0, r.length), headers, max_body);
  check(alone.kind == Kind::kComplete && alone.length == r.length);
  // Cut short anywhere after its headers: incomplete (or refused), never complete elsewhere.
  for (std::size_t cut = headers; cut < r.length; cut += 1 + (r.length - headers) / 64) {
    const auto part = frame_request(all.substr(0, cut), headers, max_body);
    check(part.kind != Kind::kComplete);
  }
  return 0;
}
