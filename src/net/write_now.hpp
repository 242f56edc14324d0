#pragma once
// Internal to src/net (http_server.cpp and http_client.cpp only: it pulls in Beast).
//
// Writing without waiting. An async write that the socket could take at once still costs a timer update,
// a trip through the io_context's queue and a reactor poll per write. Over plain TCP the server and the
// client first write what the socket takes right now (one sendmsg for nearly every message: they fit the
// socket buffer) and fall back to the async write, with its timeout, only for what is left. TLS streams
// always take the async path. Needs the socket in non-blocking mode (set_nonblocking, once per connection).
//
// Parsing without waiting, the same idea on the read side: parse_buffered below.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>
#include <tuple>
#include <type_traits>

namespace ba::net::detail {

template <class Stream>
inline constexpr bool is_plain_tcp = std::is_same_v<Stream, boost::beast::tcp_stream>;

// A SyncWriteStream over a non-blocking socket: write_some reports would_block instead of waiting.
struct NowWriter {
  boost::asio::ip::tcp::socket& socket;
  template <class ConstBufferSequence>
  std::size_t write_some(const ConstBufferSequence& buffers, boost::system::error_code& ec) {
    return socket.write_some(buffers, ec);
  }
  template <class ConstBufferSequence>
  std::size_t write_some(const ConstBufferSequence& buffers) {
    return socket.write_some(buffers);
  }
};

template <class T>
struct is_serializer : std::false_type {};
template <bool isRequest, class Body, class Fields>
struct is_serializer<boost::beast::http::serializer<isRequest, Body, Fields>> : std::true_type {};

inline bool would_block(const boost::system::error_code& ec) {
  return ec == boost::asio::error::would_block || ec == boost::asio::error::try_again;
}

// Lets the write-now path see would_block (a plain stream's socket only).
inline void set_nonblocking(boost::beast::tcp_stream& stream) {
  boost::system::error_code ignored;
  stream.socket().non_blocking(true, ignored);
}

// Writes what the socket takes now of an HTTP message's serializer. Returns the bytes written; `ec` is
// would_block when the rest must go the async way, another error when the connection failed.
template <class Serializer>
std::size_t write_now(boost::beast::tcp_stream& stream, Serializer& sr, boost::system::error_code& ec) {
  NowWriter now{stream.socket()};
  return boost::beast::http::write(now, sr, ec);
}

// The same for a buffer sequence: consumes what was written from `rest`.
template <class Buffers>
std::size_t write_now(boost::beast::tcp_stream& stream, boost::beast::buffers_suffix<Buffers>& rest,
                      boost::system::error_code& ec) {
  std::size_t total = 0;
  while (boost::asio::buffer_size(rest) > 0) {
    std::size_t n = stream.socket().write_some(rest, ec);
    if (ec) return total;
    rest.consume(n);
    total += n;
  }
  return total;
}

// Writes all of an HTTP message (a serializer) or of a buffers_suffix: over plain TCP what the socket
// takes now, then (or over TLS, everything) asynchronously with `timeout` of silence allowed. Adds the
// bytes written to `written`.
template <class Stream, class Source>
boost::asio::awaitable<boost::system::error_code> write_all(Stream& stream, Source& source,
                                                            std::chrono::steady_clock::duration timeout,
                                                            std::size_t& written) {
  if constexpr (is_plain_tcp<Stream>) {
    boost::system::error_code ec;
    written += write_now(stream, source, ec);
    if (!ec || !would_block(ec)) co_return ec;
  }
  boost::beast::get_lowest_layer(stream).expires_after(timeout);
  constexpr auto tuple = boost::asio::as_tuple(boost::asio::use_awaitable);
  boost::system::error_code ec;
  std::size_t n = 0;
  if constexpr (is_serializer<Source>::value) {
    std::tie(ec, n) = co_await boost::beast::http::async_write(stream, source, tuple);
  } else {
    std::tie(ec, n) = co_await boost::asio::async_write(stream, source, tuple);
  }
  // The timeout was this write's: a later operation sets its own (the client), or has none (the server's
  // reads, under its per-connection deadline).
  boost::beast::get_lowest_layer(stream).expires_never();
  written += n;
  co_return ec;
}

// One parse step over bytes already in `buffer`, as http::async_read_some starts, but without its
// completion: when that step needs no I/O (the rest of a request after its first read, a body after its
// head: a non-eager parser stops at the end of the head), Beast completes it through a post, which costs a
// trip through the io_context's queue and a reactor poll. Returns false when the parser needs more bytes
// (then read with http::async_read_some); true when it made progress or failed (`ec`). `consumed`, when
// given, grows by the bytes the parser took (also when it then asks for more).
template <bool isRequest, class DynamicBuffer>
bool parse_buffered(DynamicBuffer& buffer, boost::beast::http::basic_parser<isRequest>& parser,
                    boost::system::error_code& ec, std::size_t* consumed = nullptr) {
  ec = {};
  if (buffer.size() == 0) return false;
  const std::size_t used = parser.put(buffer.data(), ec);
  buffer.consume(used);
  if (consumed) *consumed += used;
  if (ec == boost::beast::http::error::need_more || (!ec && used == 0)) {  // no progress: read more
    ec = {};
    return false;
  }
  return true;
}

}  // namespace ba::net::detail
