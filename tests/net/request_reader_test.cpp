#include "net/request_reader.hpp"

#include <gtest/gtest.h>

#include <string>

namespace ba::net {
namespace {

// read_requests is the server's reading without a socket (what fuzz/net/http_request_fuzz.cpp drives):
// pipelined requests in order, byte by byte as well as whole, and the server's answers to bad input.
TEST(RequestReader, PipelinedRequestsWholeOrByteByByte) {
  const std::string bytes =
      "POST /chat?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Length: 14\r\n\r\n{\"input\":\"hi\"}"
      "PUT /files/a%20b HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
  for (std::size_t piece : {0, 1}) {
    auto r = read_requests(bytes, ServerOptions{}, piece);
    ASSERT_EQ(r.requests.size(), 2u) << piece;
    EXPECT_FALSE(r.error);
    EXPECT_FALSE(r.incomplete);
    EXPECT_EQ(r.requests[0].method, "POST");
    EXPECT_EQ(r.requests[0].path, "/chat");
    EXPECT_EQ(r.requests[0].query, "x=1");
    EXPECT_EQ(r.requests[0].body, "{\"input\":\"hi\"}");
    EXPECT_EQ(r.requests[1].path, "/files/a%20b");
    EXPECT_EQ(r.requests[1].body, "hello");
  }
}

// An empty chunked body ("0\r\n\r\n") byte by byte reaches Beast's chunk header with 4 bytes buffered,
// where Boost 1.81 asserts 5 (found by the http_request fuzzer, fuzz/corpus/http_request/beast-chunk-header-
// assert). Debug builds (sanitize, tsan) let that one assertion pass (src/util/boost_assert.cpp): the
// parser then waits for the last byte, as upstream Beast does.
TEST(RequestReader, AnEmptyChunkedBodyArrivingByteByByte) {
  const std::string bytes = "POST /chat HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
  for (std::size_t piece : {0, 1, 2, 3}) {
    auto r = read_requests(bytes + bytes, ServerOptions{}, piece);
    ASSERT_EQ(r.requests.size(), 2u) << piece;
    EXPECT_FALSE(r.error) << piece;
    EXPECT_FALSE(r.incomplete) << piece;
    EXPECT_EQ(r.requests[0].body, "");
    EXPECT_EQ(r.requests[1].body, "");
  }
  EXPECT_TRUE(read_requests(bytes.substr(0, bytes.size() - 1), ServerOptions{}, 1).incomplete);
}

TEST(RequestReader, AnswersWhatTheServerAnswers) {
  ServerOptions opts;
  opts.body_limit = 4;
  opts.header_limit = 256;
  EXPECT_EQ(read_requests("GET / HTTP/1.1\r\n\r\n", opts).error->status, 400);  // no Host
  EXPECT_EQ(read_requests("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", opts).error->status, 400);
  EXPECT_EQ(read_requests("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello", opts).error->status, 413);
  EXPECT_EQ(read_requests("GET / HTTP/1.1\r\nHost: h\r\nX: " + std::string(300, 'a') + "\r\n\r\n", opts).error->status,
            431);
  auto cut = read_requests("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nab", opts);
  EXPECT_TRUE(cut.incomplete);
  EXPECT_FALSE(cut.error);
  auto closed = read_requests("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", opts);
  EXPECT_EQ(closed.requests.size(), 1u);  // nothing is read after a request that closes the connection
}

// Trailer fields are not merged into the head (RFC 9110 section 6.5.1; found by the http_request fuzzer,
// fuzz/corpus/http_request/trailer-host: a trailer Host was a second Host after the head's was checked).
TEST(RequestReader, TrailerFieldsAreDropped) {
  const std::string bytes =
      "POST /chat HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n"
      "Host: evil\r\nAuthorization: Bearer x\r\nConnection: close\r\n\r\n"
      "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
  for (std::size_t piece : {0, 1, 5}) {
    auto r = read_requests(bytes, ServerOptions{}, piece);
    ASSERT_EQ(r.requests.size(), 2u) << piece;  // the trailer's Connection: close is not the request's
    EXPECT_EQ(r.requests[0].body, "hello");
    ASSERT_EQ(r.requests[0].headers.size(), 2u) << piece;
    EXPECT_EQ(r.requests[0].headers.items()[0].name, "Host");
    EXPECT_EQ(r.requests[0].headers.items()[0].value, "h");
    EXPECT_EQ(r.requests[0].headers.items()[1].name, "Transfer-Encoding");
    EXPECT_FALSE(r.requests[0].headers.has("Authorization"));
  }
}

// The head limit is the whole head's, however the bytes are cut (found by the http_request fuzzer,
// fuzz/corpus/http_request/head-over-the-limit-whole). Beast bounds the request line and the fields each
// by the limit when the request line comes in the same read as the fields, so a head a little over the
// limit was read whole but refused in pieces; and refused in pieces as 414 "request line too long",
// because Beast parses the request line only once the whole head is buffered.
TEST(RequestReader, TheHeadLimitIsTheWholeHeadsInPiecesOrWhole) {
  ServerOptions opts;
  opts.header_limit = 256;
  const std::string line = "GET /chat?x=1 HTTP/1.1\r\nHost: h\r\n";
  auto head_of = [&](std::size_t size) {  // a head of exactly `size` bytes
    const std::string start = line + "X: ";
    return start + std::string(size - start.size() - 4, 'a') + "\r\n\r\n";
  };
  for (std::size_t piece : {0, 1, 7, 32}) {
    auto fits = read_requests(head_of(256), opts, piece);
    ASSERT_EQ(fits.requests.size(), 1u) << piece;
    EXPECT_FALSE(fits.error) << piece;
    for (std::size_t over : {257, 256 + 27, 400}) {
      auto r = read_requests(head_of(over), opts, piece);
      EXPECT_TRUE(r.requests.empty()) << piece << " " << over;
      ASSERT_TRUE(r.error) << piece << " " << over;
      EXPECT_EQ(r.error->status, 431) << piece << " " << over;  // the request line was short
    }
    // A head the bytes leave unfinished: refused once it can no longer fit, whole or in pieces
    // (fuzz/corpus/http_request/head-over-the-limit-cut), waited for while it still can.
    auto cut = read_requests(head_of(257).substr(0, 256), opts, piece);
    ASSERT_TRUE(cut.error) << piece;
    EXPECT_EQ(cut.error->status, 431) << piece;
    auto waiting = read_requests(head_of(256).substr(0, 255), opts, piece);
    EXPECT_TRUE(waiting.incomplete) << piece;
    EXPECT_FALSE(waiting.error) << piece;
    auto long_line = read_requests("GET /" + std::string(300, 'a') + " HTTP/1.1\r\nHost: h\r\n\r\n", opts, piece);
    ASSERT_TRUE(long_line.error) << piece;
    EXPECT_EQ(long_line.error->status, 414) << piece;
  }
}

}  // namespace
}  // namespace ba::net
