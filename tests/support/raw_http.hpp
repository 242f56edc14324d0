#pragma once
// Test helpers: HTTP/1.1 on a raw loopback socket, byte for byte (docs/http-conformance.md). roundtrip()
// writes requests exactly as given, half-closes, and returns everything the server sent until it closed;
// parse_responses() splits that into responses by the framing rules of RFC 9112 section 6.3, without
// Beast, so a test sees what is on the wire (a body after a 204, a missing Date, ...).
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/encoding.hpp"

namespace ba::net::testing {

// A blocking connection (a server that never answers hangs the test until ctest's timeout).
class RawSocket {
 public:
  explicit RawSocket(std::uint16_t port) : socket_(io_) {
    socket_.connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port));
  }
  void write(std::string_view raw) { boost::asio::write(socket_, boost::asio::buffer(raw.data(), raw.size())); }
  void shutdown_send() {
    boost::system::error_code ec;
    socket_.shutdown(boost::asio::ip::tcp::socket::shutdown_send, ec);
  }
  // Everything until the server closes (or resets).
  // last_error says which: eof when the server closed.
  std::string read_to_end() {
    std::string all;
    boost::asio::read(socket_, boost::asio::dynamic_buffer(all), last_error);
    return all;
  }
  // At least `n` bytes more (or up to the close).
  std::string read_some_bytes(std::size_t n) {
    std::string got(n, '\0');
    boost::system::error_code ec;
    const std::size_t r = boost::asio::read(socket_, boost::asio::buffer(got), ec);
    got.resize(r);
    return got;
  }
  // Reads until `marker` has been seen (or the close); returns all that was read.
  std::string read_until_seen(std::string_view marker) {
    std::string all;
    char buf[4096];
    while (all.find(marker) == std::string::npos) {
      boost::system::error_code ec;
      const std::size_t n = socket_.read_some(boost::asio::buffer(buf), ec);
      if (ec) break;
      all.append(buf, n);
    }
    return all;
  }
  boost::asio::ip::tcp::socket& socket() { return socket_; }
  boost::system::error_code last_error;

 private:
  boost::asio::io_context io_;
  boost::asio::ip::tcp::socket socket_;
};

// Writes `raw` (one request or several, pipelined), half-closes and returns all the server sent.
inline std::string roundtrip(std::uint16_t port, std::string_view raw) {
  RawSocket s(port);
  s.write(raw);
  s.shutdown_send();
  return s.read_to_end();
}

struct RawResponse {
  std::string status_line;  // "HTTP/1.1 200 OK"
  int status = 0;
  std::vector<std::pair<std::string, std::string>> fields;
  std::string body;     // decoded from chunked when it was chunked
  bool chunked = false;
  // The value of the first field named `name`, or nothing.
  std::optional<std::string> get(std::string_view name) const {
    for (const auto& [n, v] : fields)
      if (iequals(n, name)) return v;
    return std::nullopt;
  }
  std::size_t count(std::string_view name) const {
    std::size_t c = 0;
    for (const auto& f : fields) c += iequals(f.first, name) ? 1 : 0;
    return c;
  }
};

// Splits `all` into responses (RFC 9112 section 6.3). `head[i]` says the i-th response answers a HEAD
// (no content whatever its fields say). Whatever cannot be parsed ends the list; `rest` gets it.
inline std::vector<RawResponse> parse_responses(std::string_view all, std::vector<bool> head = {},
                                                std::string* rest = nullptr) {
  std::vector<RawResponse> out;
  while (!all.empty()) {
    const auto end = all.find("\r\n\r\n");
    if (end == std::string_view::npos || !all.starts_with("HTTP/")) break;
    RawResponse r;
    std::string_view head_text = all.substr(0, end);
    auto eol = head_text.find("\r\n");
    r.status_line = std::string(head_text.substr(0, eol));
    r.status = r.status_line.size() >= 12 ? std::stoi(r.status_line.substr(9, 3)) : 0;
    std::string_view lines = eol == std::string_view::npos ? std::string_view() : head_text.substr(eol + 2);
    while (!lines.empty()) {
      auto e = lines.find("\r\n");
      std::string_view line = lines.substr(0, e);
      lines = e == std::string_view::npos ? std::string_view() : lines.substr(e + 2);
      auto colon = line.find(':');
      if (colon == std::string_view::npos) continue;
      r.fields.emplace_back(std::string(line.substr(0, colon)), std::string(trim(line.substr(colon + 1))));
    }
    all.remove_prefix(end + 4);
    const bool is_head = out.size() < head.size() && head[out.size()];
    const auto te = r.get("transfer-encoding");
    const auto cl = r.get("content-length");
    if (is_head || r.status < 200 || r.status == 204 || r.status == 304) {
      // no content
    } else if (te && iequals(*te, "chunked")) {
      r.chunked = true;
      for (;;) {
        auto line_end = all.find("\r\n");
        if (line_end == std::string_view::npos) break;
        const std::size_t size = std::stoul(std::string(all.substr(0, line_end)), nullptr, 16);
        all.remove_prefix(line_end + 2);
        if (size == 0) {
          auto trailer_end = all.find("\r\n");  // no trailers from our server
          all.remove_prefix(trailer_end == std::string_view::npos ? all.size() : trailer_end + 2);
          break;
        }
        r.body.append(all.substr(0, size));
        all.remove_prefix(std::min(all.size(), size + 2));
      }
    } else if (cl) {
      const std::size_t n = std::min<std::size_t>(all.size(), std::stoul(*cl));
      r.body = std::string(all.substr(0, n));
      all.remove_prefix(n);
    } else {
      r.body = std::string(all);  // close-delimited
      all = {};
    }
    out.push_back(std::move(r));
  }
  if (rest) *rest = std::string(all);
  return out;
}

}  // namespace ba::net::testing
