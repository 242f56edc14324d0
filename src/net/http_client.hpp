#pragma once
// Async HTTP/1.1 client: TLS with certificate and host verification, keep-alive pool per origin,
// connect/read timeouts, deadlines, streamed bodies, HTTPS_PROXY/HTTP_PROXY/NO_PROXY.
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "net/http_message.hpp"
#include "util/clock.hpp"
#include "util/result.hpp"

namespace boost::asio {
class io_context;
}

namespace ba::net {

struct RequestOptions {
  std::chrono::milliseconds connect_timeout{3'000};
  std::chrono::milliseconds read_timeout{60'000};  // max silence between bytes
  std::optional<SteadyTime> deadline;              // whole request, including retries by the caller
  std::size_t body_limit = 64 * 1024 * 1024;       // buffered response bodies
};

// Receives body bytes as they arrive; returns false to abort (the request ends with ErrorKind::cancelled).
using BodySink = std::function<boost::asio::awaitable<bool>(std::string_view chunk)>;

class HttpClient {
 public:
  virtual ~HttpClient() = default;
  // Buffered: the whole body is in the response.
  virtual boost::asio::awaitable<Result<HttpResponse>> send(HttpRequest request, RequestOptions options = {}) = 0;
  // Streaming: for a 2xx status the body goes to `sink` as it arrives and response.body stays empty;
  // for any other status the body is buffered into response.body and `sink` is not called.
  virtual boost::asio::awaitable<Result<HttpResponse>> send_streaming(HttpRequest request, BodySink sink,
                                                                      RequestOptions options = {}) = 0;
};

struct ClientConfig {
  bool verify_tls = true;
  std::string ca_file;                      // extra CA bundle (tests); system store otherwise
  std::size_t max_idle_per_origin = 256;
  std::chrono::seconds idle_timeout{30};
  bool use_proxy_env = true;                // honor HTTPS_PROXY / HTTP_PROXY / NO_PROXY
  // Reads proxy variables; nullptr reads the process environment (tests inject a map instead).
  std::function<std::optional<std::string>(std::string_view)> getenv;
};

// Connections are made on the calling coroutine's executor and pooled per io_context, so a connection
// is only used by the thread that runs its context (each context run by one thread, no strands): one
// client serves every io thread of `serve --threads N`. `io` names the process's main context (kept for
// the callers; connections do not depend on it).
std::unique_ptr<HttpClient> make_http_client(boost::asio::io_context& io, ClientConfig config = {});

}  // namespace ba::net
