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

}  // namespace
}  // namespace ba::net
