#pragma once
// Internal to src/net (http_server.cpp and http_client.cpp only: it pulls in Beast).
//
// Writing without waiting. An async write that the socket could take at once still costs a timer update,
// a trip through the io_context's queue and a reactor poll per write. Over plain TCP the server and the
// client first write what the socket takes right now (one sendmsg for nearly every message: they fit the
// socket buffer) and fall back to the async write, with its timeout, only for what is left. TLS streams
// always take the async path. Needs the socket in non-blocking mode (set_nonblocking, once per connection).
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/write.hpp>
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
void write_now(boost::beast::tcp_stream& stream, boost::beast::buffers_suffix<Buffers>& rest,
               boost::system::error_code& ec) {
  while (boost::asio::buffer_size(rest) > 0) {
    std::size_t n = stream.socket().write_some(rest, ec);
    if (ec) return;
    rest.consume(n);
  }
}

}  // namespace ba::net::detail
