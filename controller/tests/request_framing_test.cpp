// frame_request: where a request ends, decided from the buffered bytes alone.
#include "reclothes/controller/request_framing.h"

#include <gtest/gtest.h>

#include <string>

namespace reclothes::controller {
namespace {

using Kind = RequestFraming::Kind;

RequestFraming frame(const std::string& request, std::size_t max_body = 1000) {
  const auto end = request.find("\r\n\r\n");
  return frame_request(request, end == std::string::npos ? request.size() : end + 4, max_body);
}

std::string post(const std::string& fields, const std::string& body = {}) {
  return "POST /x HTTP/1.1\r\nHost: t\r\n" + fields + "\r\n" + body;
}

TEST(RequestFraming, WithoutLengthOrCodingARequestEndsAfterItsHeaders) {
  const auto r = frame("GET / HTTP/1.1\r\nHost: t\r\n\r\nGET /next HTTP/1.1\r\n");
  EXPECT_EQ(r.kind, Kind::kComplete);
  EXPECT_EQ(r.length, std::string("GET / HTTP/1.1\r\nHost: t\r\n\r\n").size());
}

TEST(RequestFraming, ContentLengthWaitsForTheWholeBody) {
  EXPECT_EQ(frame(post("Content-Length: 5\r\n", "abc")).kind, Kind::kIncomplete);
  const auto whole = post("content-length:   5  \r\n", "abcde");
  const auto r = frame(whole + "GET");
  EXPECT_EQ(r.kind, Kind::kComplete);
  EXPECT_EQ(r.length, whole.size());
  EXPECT_EQ(frame(post("Content-Length: 5\r\nContent-Length: 5\r\n", "abcde")).kind,
            Kind::kComplete);
}

TEST(RequestFraming, ALengthOverTheLimitIsTooLargeBeforeTheBody) {
  EXPECT_EQ(frame(post("Content-Length: 1001\r\n")).kind, Kind::kTooLarge);
  EXPECT_EQ(frame(post("Content-Length: 99999999999999999\r\n")).kind, Kind::kTooLarge);
}

TEST(RequestFraming, AmbiguousOrUnsupportedFramingIsBad) {
  for (const char* fields : {"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
                             "Content-Length: 5\r\nContent-Length: 6\r\n", "Content-Length: -1\r\n",
                             "Content-Length: 5 5\r\n", "Content-Length: 0x5\r\n",
                             "Content-Length:\r\n", "Content-Length: 1234567890123456789\r\n",
                             "Transfer-Encoding: gzip\r\n", "Transfer-Encoding: gzip, chunked\r\n",
                             "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"}) {
    const auto r = frame(post(fields, "abcde"));
    EXPECT_EQ(r.kind, Kind::kBad) << fields;
    EXPECT_FALSE(r.reason.empty()) << fields;
  }
}

TEST(RequestFraming, ALineWithoutCRIsIgnoredAsHttplibIgnoresIt) {
  // httplib skips a header line that does not end with CRLF, so it must not count here either.
  const auto r = frame("POST /x HTTP/1.1\r\nX: y\nContent-Length: 5\r\n\r\nabcde");
  EXPECT_EQ(r.kind, Kind::kComplete);
}

TEST(RequestFraming, ChunkedBodiesEndAtTheLastChunkAndTrailers) {
  const std::string head = post("Transfer-Encoding: Chunked\r\n");
  EXPECT_EQ(frame(head + "5\r\nhel").kind, Kind::kIncomplete);
  EXPECT_EQ(frame(head + "5\r\nhello\r\n0\r\n").kind, Kind::kIncomplete);
  const auto whole = head + "5;name=v\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n";
  const auto r = frame(whole + "GET / HTTP/1.1");
  EXPECT_EQ(r.kind, Kind::kComplete);
  EXPECT_EQ(r.length, whole.size());
}

TEST(RequestFraming, ChunkedBodiesAreCheckedAsTheyArrive) {
  const std::string head = post("Transfer-Encoding: chunked\r\n");
  EXPECT_EQ(frame(head + "3E9\r\n").kind, Kind::kTooLarge);  // 1001 > 1000, before the data
  EXPECT_EQ(frame(head + "300\r\n" + std::string(768, 'x') + "\r\n300\r\n").kind, Kind::kTooLarge);
  EXPECT_EQ(frame(head + "zz\r\n").kind, Kind::kBad);
  EXPECT_EQ(frame(head + "\r\n").kind, Kind::kBad);
  EXPECT_EQ(frame(head + "1000000000000000\r\n").kind, Kind::kBad);  // 16 hex digits
  EXPECT_EQ(frame(head + "3\r\nabcXY").kind, Kind::kBad);            // no CRLF after the data
  EXPECT_EQ(frame(head + std::string(2000, '1')).kind, Kind::kBad);  // a size line that never ends
  EXPECT_EQ(frame(head + "0\r\n" + std::string(9000, 'x')).kind, Kind::kBad);  // endless trailers
}

TEST(RequestFraming, ExpectContinueIsReported) {
  EXPECT_TRUE(frame(post("Expect: 100-Continue\r\nContent-Length: 3\r\n")).expects_continue);
  EXPECT_FALSE(frame(post("Content-Length: 3\r\n")).expects_continue);
}

}  // namespace
}  // namespace reclothes::controller
