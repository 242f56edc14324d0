// The server against the requirements of RFC 9112 (HTTP/1.1 messages) and RFC 9110 (semantics) on an
// origin server, each probed with raw bytes on a loopback socket. docs/http-conformance.md lists them,
// with the test that checks each.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <iomanip>
#include <sstream>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "net/http_server.hpp"
#include "support/raw_http.hpp"
#include "support/server_harness.hpp"

namespace ba::net {
namespace {

namespace asio = boost::asio;
using namespace std::string_literals;
using testing::parse_responses;
using testing::RawSocket;
using testing::roundtrip;
using testing::ServerThread;

// A trivial handler: "ok <method> <path> <query> <body>", and a few paths with special answers.
Handler probe_handler(std::atomic<int>* calls = nullptr) {
  return [calls](ServerRequest& req) -> asio::awaitable<ServerResponse> {
    if (calls) ++*calls;
    ServerResponse r;
    if (req.path == "/204" || req.path == "/304") {
      r.status = req.path == "/204" ? 204 : 304;
      r.headers.set("X-Kind", "no-content");
      r.body = "must not be sent";
      co_return r;
    }
    if (req.path == "/stream") {
      r.headers.set("Content-Type", "text/plain");
      r.stream = [](BodyWriter& w) -> asio::awaitable<void> {
        if (!co_await w.write("one,")) co_return;
        co_await w.write("two");
      };
      co_return r;
    }
    if (req.path == "/headers") {  // the field names the handler got, in order
      for (const auto& h : req.headers) r.body += h.name + "\n";
      co_return r;
    }
    if (req.path == "/split") {
      r.headers.set("X-Split", "a\r\nInjected: yes");
      r.headers.set("X-Fine", "b");
    }
    r.body = "ok " + req.method + " " + req.path + " " + req.query + " " + req.body;
    co_return r;
  };
}

// RFC 9110 section 6.6.1: an origin server with a clock MUST send Date, on every response: handled,
// refused by the server itself, streamed and 204. An IMF-fixdate between the clock readings around the
// exchange (second precision).
TEST(HttpConformance, EveryResponseCarriesDate) {
  ServerThread srv({}, probe_handler());
  const auto before = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  auto all = roundtrip(srv.port(),
                       "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
                       "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"
                       "GET /204 HTTP/1.1\r\nHost: x\r\n\r\n"
                       "GET /a HTTP/1.1\r\n\r\n");  // no Host: 400
  const auto after = std::chrono::system_clock::now();
  auto rs = parse_responses(all);
  ASSERT_EQ(rs.size(), 4u) << all;
  EXPECT_EQ(rs[3].status, 400);
  for (const auto& r : rs) {
    ASSERT_EQ(r.count("date"), 1u) << r.status_line;
    const std::string date = *r.get("date");
    // "Tue, 14 Nov 2023 22:13:20 GMT"
    std::tm tm{};
    std::istringstream in(date);
    in >> std::get_time(&tm, "%a, %d %b %Y %H:%M:%S GMT");
    ASSERT_FALSE(in.fail()) << date;
    ASSERT_EQ(date.size(), 29u) << date;
    const auto t = std::chrono::system_clock::from_time_t(timegm(&tm));
    EXPECT_GE(t, before) << date;
    EXPECT_LE(t, after) << date;
  }
}

// RFC 9110 section 9.3.2: HEAD gets the GET answer's header fields (Content-Length included) and no
// content; the connection stays usable. A streamed answer too: its head, then nothing.
TEST(HttpConformance, HeadGetsTheGetHeadersWithoutContent) {
  ServerThread srv({}, probe_handler());
  auto all = roundtrip(srv.port(),
                       "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
                       "HEAD /a HTTP/1.1\r\nHost: x\r\n\r\n"
                       "HEAD /stream HTTP/1.1\r\nHost: x\r\n\r\n"
                       "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
  auto rs = parse_responses(all, {false, true, true, false});
  ASSERT_EQ(rs.size(), 4u) << all;
  EXPECT_EQ(rs[0].body, "ok GET /a  ");
  EXPECT_EQ(rs[1].status, 200);
  EXPECT_EQ(rs[1].get("content-length"), std::to_string(std::string("ok HEAD /a  ").size()));
  EXPECT_EQ(rs[1].body, "");
  EXPECT_EQ(rs[2].get("transfer-encoding"), "chunked");
  EXPECT_EQ(rs[2].get("content-type"), "text/plain");
  EXPECT_EQ(rs[3].body, "one,two");  // the HEAD answer had no body: this one follows it at once
}

// RFC 9110 sections 15.3.5, 15.4.5, 8.6: 204 and 304 end with their head: no content, and no
// Content-Length or Transfer-Encoding, whatever the handler put in the body.
TEST(HttpConformance, NoContentAnswersEndWithTheirHead) {
  ServerThread srv({}, probe_handler());
  std::string rest;
  auto all = roundtrip(srv.port(),
                       "GET /204 HTTP/1.1\r\nHost: x\r\n\r\n"
                       "GET /304 HTTP/1.1\r\nHost: x\r\n\r\n"
                       "GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
  auto rs = parse_responses(all, {}, &rest);
  ASSERT_EQ(rs.size(), 3u) << all;
  for (int i : {0, 1}) {
    EXPECT_EQ(rs[i].status, i == 0 ? 204 : 304);
    EXPECT_EQ(rs[i].get("x-kind"), "no-content");
    EXPECT_FALSE(rs[i].get("content-length")) << all;
    EXPECT_FALSE(rs[i].get("transfer-encoding")) << all;
  }
  EXPECT_EQ(rs[2].body, "ok GET /a  ");
  EXPECT_EQ(all.find("must not be sent"), std::string::npos) << all;
  EXPECT_EQ(rest, "");
}

// RFC 9112 section 3.2.2: a server MUST accept the absolute form (scheme in any case); its authority
// wins over Host. Section 3.2: other targets (not /path, not absolute, "*" only for OPTIONS) get 400.
TEST(HttpConformance, AbsoluteFormIsAcceptedAndOtherTargetsAre400) {
  ServerThread srv({}, probe_handler());
  auto rs = parse_responses(roundtrip(srv.port(),
                                      "GET http://example.com/a/b?q=1 HTTP/1.1\r\nHost: other\r\n\r\n"
                                      "GET HTTPS://EXAMPLE.COM:8443?q=2 HTTP/1.1\r\nHost: x\r\n\r\n"
                                      "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_EQ(rs.size(), 3u);
  EXPECT_EQ(rs[0].body, "ok GET /a/b q=1 ");
  EXPECT_EQ(rs[1].body, "ok GET / q=2 ");
  EXPECT_EQ(rs[2].body, "ok OPTIONS *  ");
  for (std::string_view raw : {"GET a/b HTTP/1.1\r\nHost: x\r\n\r\n", "GET * HTTP/1.1\r\nHost: x\r\n\r\n",
                               "GET ftp://x/y HTTP/1.1\r\nHost: x\r\n\r\n"}) {
    auto r = parse_responses(roundtrip(srv.port(), raw));
    ASSERT_EQ(r.size(), 1u) << raw;
    EXPECT_EQ(r[0].status, 400) << raw;
    EXPECT_EQ(r[0].get("connection"), "close");
  }
}

// Malformed heads get 400 and the connection is closed (nothing after them is read as a request):
// RFC 9112 section 5.1 (whitespace before the colon: MUST 400), 2.2 (whitespace before the first field,
// bare CR), 5 and RFC 9110 section 5.5 (a field name that is not a token; NUL in a value), 3 (a request
// line that is not "method SP target SP version").
TEST(HttpConformance, MalformedHeadsAre400AndCloseTheConnection) {
  std::atomic<int> calls{0};
  ServerThread srv({}, probe_handler(&calls));
  const std::string next = "GET /after HTTP/1.1\r\nHost: x\r\n\r\n";
  for (const std::string& raw : std::vector<std::string>{
           "GET / HTTP/1.1\r\nHost: x\r\nX-A : 1\r\n\r\n",         // space before the colon
           "GET / HTTP/1.1\r\nHost: x\r\nX-A\t: 1\r\n\r\n",        // tab before the colon
           "GET / HTTP/1.1\r\n Host: x\r\n\r\n",                   // whitespace before the first field
           "GET / HTTP/1.1\r\nHost: x\r\nX(A): 1\r\n\r\n",         // not a token
           "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n",       // bare CR
           "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n"s,               // NUL
           "GET  / HTTP/1.1\r\nHost: x\r\n\r\n",                   // two spaces
           "GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n",              // junk after the version
           "GET /a b HTTP/1.1\r\nHost: x\r\n\r\n",                 // space in the target
           "GET / HTTX/1.1\r\nHost: x\r\n\r\n",                    // not HTTP
       }) {
    auto all = roundtrip(srv.port(), raw + next);
    auto rs = parse_responses(all);
    ASSERT_EQ(rs.size(), 1u) << raw << "\n---\n" << all;
    EXPECT_EQ(rs[0].status, 400) << raw;
    EXPECT_EQ(rs[0].get("connection"), "close") << raw;
  }
  EXPECT_EQ(calls.load(), 0);
}

// RFC 9112 section 5.2: an obs-fold in a request MUST be either refused with 400 or replaced by SP
// before the value is used. Beast replaces it: the handler sees "a b".
TEST(HttpConformance, ObsFoldIsReplacedBySpace) {
  ServerThread srv({}, [](ServerRequest& req) -> asio::awaitable<ServerResponse> {
    ServerResponse r;
    r.body = "[" + std::string(req.headers.get("x-a").value_or("?")) + "]";
    co_return r;
  });
  auto rs = parse_responses(roundtrip(srv.port(), "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n"));
  ASSERT_EQ(rs.size(), 1u);
  if (rs[0].status == 400) GTEST_SKIP() << "refused with 400: conforming too";
  ASSERT_EQ(rs[0].status, 200);
  EXPECT_EQ(rs[0].body.find('\r'), std::string::npos);
  EXPECT_EQ(rs[0].body.find('\n'), std::string::npos);
  EXPECT_NE(rs[0].body.find('a'), std::string::npos);
  EXPECT_NE(rs[0].body.find('b'), std::string::npos);
}

// RFC 9112 sections 6.1 and 6.3 (request smuggling): Content-Length next to Transfer-Encoding, a
// Transfer-Encoding whose last coding is not chunked, chunked twice, Transfer-Encoding in HTTP/1.0,
// differing or invalid Content-Length values, and a bad chunk size are 400 and close the connection.
// A coding before chunked (which we do not decode) is 501.
TEST(HttpConformance, AmbiguousFramingIsRefusedAndClosesTheConnection) {
  std::atomic<int> calls{0};
  ServerThread srv({}, probe_handler(&calls));
  const std::string next = "GET /after HTTP/1.1\r\nHost: x\r\n\r\n";
  struct Case {
    std::string raw;
    int status;
  };
  for (const Case& c : std::vector<Case>{
           {"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 400},
           {"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 400},
           {"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabc", 400},
           {"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400},
           {"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n", 400},
           {"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 400},
           {"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
           {"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 400},
           {"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 501},
           {"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400},
           {"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 4\r\n\r\nabcd", 400},
           {"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400},
           {"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400},
           {"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc", 400},
           {"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400},
           {"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", 400},
           {"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX0\r\n\r\n", 400},
       }) {
    auto all = roundtrip(srv.port(), c.raw + next);
    auto rs = parse_responses(all);
    ASSERT_EQ(rs.size(), 1u) << c.raw << "\n---\n" << all;
    EXPECT_EQ(rs[0].status, c.status) << c.raw;
    EXPECT_EQ(rs[0].get("connection"), "close") << c.raw;
  }
  EXPECT_EQ(calls.load(), 0);

  // Accepted: the same length repeated (RFC 9110 section 8.6 allows a list of one repeated value),
  // chunked with an extension and a trailer, a Transfer-Encoding token in another case.
  auto rs = parse_responses(roundtrip(srv.port(),
                                      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\nabc"
                                      "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n"
                                      "2;ext=1\r\nde\r\n1\r\nf\r\n0\r\nX-Trailer: t\r\n\r\n"));
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_EQ(rs[0].body, "ok POST /  abc");
  EXPECT_EQ(rs[1].body, "ok POST /  def");
}

// RFC 9110 section 6.2: a server answers with the highest 1.x version it conforms to (HTTP/1.1, also to
// HTTP/1.0 requests); a version we do not speak gets 505 (section 15.6.6). Deviation: Beast parses only
// 1.0 and 1.1, so HTTP/1.2 gets 505 too instead of being served as 1.1.
TEST(HttpConformance, AnswersInHttp11AndRefusesOtherVersions) {
  ServerThread srv({}, probe_handler());
  auto old = parse_responses(roundtrip(srv.port(), "GET /a HTTP/1.0\r\n\r\n"));
  ASSERT_EQ(old.size(), 1u);
  EXPECT_EQ(old[0].status_line, "HTTP/1.1 200 OK");
  for (std::string_view raw : {"GET /a HTTP/2.0\r\nHost: x\r\n\r\n", "GET /a HTTP/0.9\r\nHost: x\r\n\r\n",
                               "GET /a HTTP/1.2\r\nHost: x\r\n\r\n"}) {
    auto rs = parse_responses(roundtrip(srv.port(), raw));
    ASSERT_EQ(rs.size(), 1u) << raw;
    EXPECT_EQ(rs[0].status, 505) << raw;
  }
  auto junk = parse_responses(roundtrip(srv.port(), "GET /a HTTP/x.y\r\nHost: x\r\n\r\n"));
  ASSERT_EQ(junk.size(), 1u);
  EXPECT_EQ(junk[0].status, 400);
}

// RFC 9110 section 6.5.1: trailer fields are not merged into the header section. A trailer Host,
// Connection or API key must not pass for one the head carried (Beast appends them to the fields).
TEST(HttpConformance, TrailerFieldsAreNotMergedIntoTheHead) {
  ServerThread srv({}, probe_handler());
  auto rs = parse_responses(roundtrip(srv.port(),
                                      "POST /headers HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                                      "2\r\nhi\r\n0\r\nHost: evil\r\nX-Api-Key: k\r\nConnection: close\r\n\r\n"
                                      "GET /headers HTTP/1.1\r\nHost: y\r\n\r\n"));
  ASSERT_EQ(rs.size(), 2u);  // the trailer's Connection: close did not end the connection
  EXPECT_EQ(rs[0].status, 200);
  EXPECT_EQ(rs[0].body, "Host\nTransfer-Encoding\n");
  EXPECT_EQ(rs[1].body, "Host\n");
}

// RFC 9112 section 3: a request-target longer than the server parses gets 414; a head too large
// otherwise gets 431 (RFC 6585 section 5).
TEST(HttpConformance, LongTargetIs414AndLongHeadIs431) {
  ServerOptions opts;
  opts.header_limit = 2048;
  ServerThread srv(opts, probe_handler());
  auto target = parse_responses(
      roundtrip(srv.port(), "GET /" + std::string(4000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_EQ(target.size(), 1u);
  EXPECT_EQ(target[0].status, 414);
  auto head = parse_responses(
      roundtrip(srv.port(), "GET /a HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(4000, 'b') + "\r\n\r\n"));
  ASSERT_EQ(head.size(), 1u);
  EXPECT_EQ(head[0].status, 431);
  auto fits = parse_responses(roundtrip(srv.port(), "GET /" + std::string(1500, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_EQ(fits.size(), 1u);
  EXPECT_EQ(fits[0].status, 200);
}

// RFC 9110 section 10.1.1: a 100 (Continue) before reading the body of an HTTP/1.1 request that expects
// it; none for HTTP/1.0 (MUST ignore) nor when the final answer comes first (413: the body is not read).
TEST(HttpConformance, ExpectContinue) {
  ServerOptions opts;
  opts.body_limit = 100;
  ServerThread srv(opts, probe_handler());
  {
    RawSocket s(srv.port());
    s.write("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
    EXPECT_EQ(s.read_until_seen("\r\n\r\n"), "HTTP/1.1 100 Continue\r\n\r\n");
    s.write("abc");
    s.shutdown_send();
    auto rs = parse_responses(s.read_to_end());
    ASSERT_EQ(rs.size(), 1u);
    EXPECT_EQ(rs[0].body, "ok POST /a  abc");
  }
  {
    auto rs = parse_responses(roundtrip(srv.port(), "POST /a HTTP/1.0\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\nabc"));
    ASSERT_EQ(rs.size(), 1u);
    EXPECT_EQ(rs[0].status, 200);
  }
  {
    RawSocket s(srv.port());
    s.write("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\nExpect: 100-continue\r\n\r\n");
    auto rs = parse_responses(s.read_until_seen("payload_too_large"));
    ASSERT_EQ(rs.size(), 1u);
    EXPECT_EQ(rs[0].status, 413);
  }
}

// RFC 9112 section 9.6: "Connection: close" from the client ends the connection after the answer,
// which says close too; the requests after it are not answered. Section 9.3: HTTP/1.0 without
// keep-alive closes; with keep-alive it persists and the answer says keep-alive.
TEST(HttpConformance, ConnectionPersistence) {
  ServerThread srv({}, probe_handler());
  // Without a half-close from us: the server must end the connection itself.
  for (std::string_view raw : {"GET /1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "GET /1 HTTP/1.0\r\n\r\n"}) {
    RawSocket s(srv.port());
    s.write(raw);
    auto rs = parse_responses(s.read_to_end());
    EXPECT_EQ(s.last_error, asio::error::eof) << raw << s.last_error.message();
    ASSERT_EQ(rs.size(), 1u) << raw;
    EXPECT_EQ(rs[0].get("connection"), "close") << raw;
  }

  auto kept = parse_responses(roundtrip(srv.port(),
                                        "GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
                                        "GET /2 HTTP/1.0\r\n\r\n"));
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(kept[0].get("connection"), "keep-alive");
  EXPECT_EQ(kept[1].get("connection"), "close");
}

// A connection kept open says how long it may stay idle (Keep-Alive: timeout=N, named in Connection as a
// hop-by-hop field), so that a client retires it first; one being closed says only close.
TEST(HttpConformance, AKeptConnectionAnnouncesItsIdleTimeout) {
  ServerOptions opts;
  opts.idle_timeout = std::chrono::seconds(42);
  ServerThread srv(opts, probe_handler());
  auto rs = parse_responses(roundtrip(srv.port(),
                                      "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n"
                                      "GET /2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
                                      "GET /3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  ASSERT_EQ(rs.size(), 3u);
  for (int i : {0, 1}) {
    EXPECT_EQ(rs[i].get("connection"), "keep-alive") << i;
    EXPECT_EQ(rs[i].get("keep-alive"), "timeout=42") << i;
  }
  EXPECT_EQ(rs[2].get("connection"), "close");
  EXPECT_FALSE(rs[2].get("keep-alive").has_value());
}

// RFC 9112 section 9.3.2: pipelined requests are answered in the order received, bodies and all.
TEST(HttpConformance, PipelinedRequestsAreAnsweredInOrder) {
  ServerThread srv({}, probe_handler());
  auto rs = parse_responses(roundtrip(srv.port(),
                                      "POST /1 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab"
                                      "GET /2?x HTTP/1.1\r\nHost: x\r\n\r\n"
                                      "POST /3 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nc\r\n0\r\n\r\n"
                                      "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"
                                      "DELETE /5 HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_EQ(rs.size(), 5u);
  EXPECT_EQ(rs[0].body, "ok POST /1  ab");
  EXPECT_EQ(rs[1].body, "ok GET /2 x ");
  EXPECT_EQ(rs[2].body, "ok POST /3  c");
  EXPECT_EQ(rs[3].body, "one,two");
  EXPECT_EQ(rs[4].body, "ok DELETE /5  ");
}

// RFC 9112 section 2.2: a server SHOULD ignore at least one empty line before a request line (left by
// clients that end a POST body with CRLF).
TEST(HttpConformance, EmptyLineBeforeTheRequestLineIsIgnored) {
  ServerThread srv({}, probe_handler());
  auto rs = parse_responses(roundtrip(srv.port(), "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_EQ(rs[1].body, "ok GET /2  ");
}

// RFC 9112 sections 2.2 and 5: a field a handler set with CR or LF in it would split the response
// (response splitting): it is dropped, the rest of the answer goes out.
TEST(HttpConformance, ResponseFieldsCannotSplitTheResponse) {
  ServerThread srv({}, probe_handler());
  auto all = roundtrip(srv.port(), "GET /split HTTP/1.1\r\nHost: x\r\n\r\nGET /a HTTP/1.1\r\nHost: x\r\n\r\n");
  auto rs = parse_responses(all);
  ASSERT_EQ(rs.size(), 2u) << all;
  EXPECT_FALSE(rs[0].get("injected"));
  EXPECT_FALSE(rs[0].get("x-split"));
  EXPECT_EQ(rs[0].get("x-fine"), "b");
  EXPECT_EQ(rs[1].body, "ok GET /a  ");
}

}  // namespace
}  // namespace ba::net
