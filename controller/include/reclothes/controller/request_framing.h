// Where an HTTP/1.1 request ends (RFC 9112 section 6), decided before any thread serves it.
//
// EpollHttpServer buffers a request's body in its event loop and hands the request to a pool
// thread only when it is whole, so a client that trickles its body holds a buffer, not a thread.
// This is the pure part: given the bytes buffered so far, it says whether the request is complete
// (and how long it is), needs more bytes, is over the body limit, or is framed in a way we refuse:
//   - neither Content-Length nor Transfer-Encoding: no body (httplib would read to the end of the
//     connection);
//   - Content-Length: one value, decimal digits only; repeated only with the same value;
//   - Transfer-Encoding: exactly `chunked` (other codings and lists are refused), never together
//     with Content-Length (the classic request-smuggling ambiguity);
//   - chunked: hex sizes (extensions after ';' ignored), each chunk's data followed by CRLF, then
//     optional trailer lines and a blank line; the sum of the chunks counts against the limit.
#pragma once

#include <cstddef>
#include <string_view>

namespace reclothes::controller {

struct RequestFraming {
  enum class Kind {
    kIncomplete,  // more bytes are needed
    kComplete,    // `length` bytes from the start of the buffer are the whole request
    kTooLarge,    // the body is (or is declared) larger than the limit
    kBad,         // refused framing; `reason` says why
  };
  Kind kind = Kind::kIncomplete;
  std::size_t length = 0;
  std::string_view reason;        // a static string, for kBad
  bool expects_continue = false;  // `Expect: 100-continue` (any case)
};

// `request` starts at the request's first byte; `headers_length` is the length of its header
// block including the blank line that ends it (the caller found "\r\n\r\n"). `max_body` is the
// largest body accepted.
RequestFraming frame_request(std::string_view request, std::size_t headers_length,
                             std::size_t max_body);

}  // namespace reclothes::controller
