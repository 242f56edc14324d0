#pragma once
// Async HTTP/1.1 server (Beast, one coroutine per connection, no thread per request).
// Used by `serve`, by `simulate-bedrock` and by tests that need a real peer on loopback.
// Each io_context is run by one thread (connections use it without strands); with several, the
// acceptor runs on the first and hands each accepted connection to the next context in turn, where the
// connection, its handler and everything they await stay (`serve --threads N`). stop() may be called
// from any thread.
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "net/http_message.hpp"
#include "util/result.hpp"

namespace boost::asio {
class io_context;
}

namespace ba::net {

struct ServerRequest {
  std::string method;
  std::string target;  // raw request target, e.g. /chat?x=1
  std::string path;    // target without the query, still percent-encoded
  std::string query;   // after '?', raw
  Headers headers;
  std::string body;
  std::string remote_address;
  std::uint64_t connection_id = 0;  // distinct per accepted connection (diagnostics, tests)
};

// Writes a streamed response body (chunked). write() returns false once the client has gone away.
class BodyWriter {
 public:
  virtual ~BodyWriter() = default;
  virtual boost::asio::awaitable<bool> write(std::string_view chunk) = 0;
};

struct ServerResponse {
  int status = 200;
  Headers headers;
  std::string body;
  // When set, the headers are sent at once and this writes the body as it is produced.
  std::function<boost::asio::awaitable<void>(BodyWriter&)> stream;
  // When true the connection is closed after this response (fault injection, shutdown).
  bool close_connection = false;
  // When true the connection is dropped without sending anything (fault injection).
  bool abort_connection = false;
};

using Handler = std::function<boost::asio::awaitable<ServerResponse>(ServerRequest&)>;

struct ServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;  // 0: an ephemeral port (see HttpServer::port())
  std::size_t body_limit = 1024 * 1024;  // larger bodies get 413
  std::chrono::seconds read_timeout{30};
  std::chrono::seconds idle_timeout{60};
  // The error body for limits the server enforces itself (413, 400 on bad HTTP).
  std::function<ServerResponse(int status, std::string_view type, std::string_view message)> error_response;
  // HTTPS when both are set (PEM files: certificate chain, private key). Tests use it for a TLS peer.
  std::string tls_cert_file;
  std::string tls_key_file;
  std::size_t header_limit = 16 * 1024;  // larger request heads get 431
};

// How long requests cancelled at the end of a drain get to end before their connections are closed.
inline constexpr std::chrono::milliseconds kDrainCancelGrace{2000};

class HttpServer {
 public:
  virtual ~HttpServer() = default;
  // Binds and starts accepting on the io_context; returns the bound port.
  virtual Result<std::uint16_t> start() = 0;
  // Stops accepting and closes idle connections; in-flight requests (and streams) may finish within
  // `grace`. Then each request still being handled is cancelled (terminal cancellation through its
  // connection coroutine's cancellation slot: what it awaits fails with operation_aborted, so it can
  // release what it holds) and, unless it finished an answer, answered 503 with Retry-After; connections
  // still open kDrainCancelGrace later are closed. `on_drained` (optional) is called once, on the
  // io_context, when no connection is left: at once if none was open, at the latest after
  // `grace` + kDrainCancelGrace.
  virtual void stop(std::chrono::milliseconds grace = std::chrono::milliseconds{2000},
                    std::function<void()> on_drained = {}) = 0;
  virtual std::uint16_t port() const = 0;
};

std::unique_ptr<HttpServer> make_http_server(boost::asio::io_context& io, ServerOptions options, Handler handler);

// Connections spread round-robin over `contexts` (not empty; the first holds the acceptor and the stop
// timers; each context run by one thread, all of them outliving the server). The handler is called on
// the connection's context, so what it shares with other connections must be safe to use from several
// threads (docs/architecture.md, "Threads").
std::unique_ptr<HttpServer> make_http_server(std::vector<boost::asio::io_context*> contexts, ServerOptions options,
                                             Handler handler);

}  // namespace ba::net
