// Async HTTP/1.1 client: keep-alive pool per origin, TLS with peer and host-name verification,
// connect/read timeouts and deadlines, streamed bodies, HTTP(S)_PROXY / NO_PROXY.
#include "net/http_client.hpp"

#include <openssl/ssl.h>
#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <cerrno>
#include <cstdlib>
#include <deque>
#include <map>
#include <utility>
#include <memory>
#include <mutex>
#include <optional>

#include "net/field_syntax.hpp"
#include "net/write_now.hpp"
#include "net/url.hpp"
#include "util/encoding.hpp"

namespace ba::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using SteadyClock = std::chrono::steady_clock;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::string_view kUserAgent = "bedrock-agent/0.1";
constexpr std::uint32_t kHeaderLimit = 64 * 1024;

struct Conn {
  std::unique_ptr<beast::tcp_stream> plain;
  std::unique_ptr<ssl::stream<beast::tcp_stream>> tls;
  beast::flat_buffer buffer;
  std::string key;
  const void* context = nullptr;  // the io_context its socket belongs to: only callers on it reuse it
  SteadyClock::time_point idle_since{};

  beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls) : *plain; }
};

// Where a request goes: straight to the origin, through an HTTP proxy (absolute-form), or a CONNECT tunnel.
struct Route {
  Url origin;
  std::optional<Url> proxy;
  bool tunnel = false;  // https through a proxy
  std::string pool_key;
};

struct Progress {
  std::size_t request_bytes = 0;
  std::size_t response_bytes = 0;
};

bool idempotent(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "PUT" || method == "DELETE" || method == "OPTIONS" ||
         method == "TRACE";
}

// Failures to reach a peer carry an Error::code saying which step failed (the message names the host and
// port, for the log): "net.resolve" (the name did not resolve), "net.connect" (the TCP connect failed or
// timed out), "net.tls_certificate" (the peer's certificate is not trusted: not retryable, nothing was
// sent), "net.tls" (the TLS handshake failed otherwise). The chat driver words them for callers.
Error network_error(std::string message, bool retryable = true) {
  Error e = Error::make(ErrorKind::network, std::move(message));
  e.retryable = retryable;
  return e;
}

Error timeout_error(std::string message) {
  Error e = Error::make(ErrorKind::timeout, std::move(message));
  e.retryable = true;
  return e;
}

// How often a connect that found no free file descriptor tries again (within its connect budget).
constexpr std::chrono::milliseconds kDescriptorWait{20};

// Deadline bookkeeping: every I/O step gets min(step timeout, time left).
class Budget {
 public:
  explicit Budget(const RequestOptions& o) : deadline_(o.deadline) {}
  bool expired() const { return deadline_ && SteadyClock::now() >= *deadline_; }
  SteadyClock::duration limit(std::chrono::milliseconds step) const {
    SteadyClock::duration d = step;
    if (deadline_) d = std::min<SteadyClock::duration>(d, std::max<SteadyClock::duration>(*deadline_ - SteadyClock::now(), SteadyClock::duration::zero()));
    return d;
  }
  Error io_error(const error_code& ec, std::string_view what) const {
    if (ec == beast::error::timeout || ec == asio::error::timed_out) {
      if (expired()) return timeout_error("request deadline exceeded during " + std::string(what));
      return timeout_error(std::string(what) + " timed out");
    }
    // The caller's coroutine was cancelled (its cancellation slot: a server draining at shutdown): not
    // a failure of the peer, and not retried.
    if (ec == asio::error::operation_aborted) return Error::make(ErrorKind::cancelled, std::string(what) + " cancelled");
    return network_error(std::string(what) + " failed: " + ec.message());
  }

 private:
  std::optional<SteadyTime> deadline_;
};

bool is_ip_literal(const std::string& host) {
  error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

std::string basic_auth(const std::string& userinfo) {
  auto colon = userinfo.find(':');
  std::string user = uri_decode(userinfo.substr(0, colon));
  std::string pass = colon == std::string::npos ? std::string() : uri_decode(userinfo.substr(colon + 1));
  return "Basic " + base64_encode(user + ":" + pass);
}

std::string host_port(const Url& u) {
  std::string h = u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host;
  return h + ":" + std::to_string(u.port);
}

struct Shared {
  // The TLS context is made on the first HTTPS connection: loading the system's CA bundle is most of a
  // cold start's CPU (tens of ms), and a client that only speaks plain HTTP (the Lambda Runtime API)
  // never needs it. A configured ca_file is loaded at once, so a bad path fails at start-up.
  explicit Shared(ClientConfig c) : config(std::move(c)) {
    if (!config.ca_file.empty()) tls();  // throws: a configuration error
    if (config.use_proxy_env) {
      proxy_env.http = env_either("http_proxy", "HTTP_PROXY");
      proxy_env.https = env_either("https_proxy", "HTTPS_PROXY");
      proxy_env.no_proxy = env_either("no_proxy", "NO_PROXY");
    }
  }

  ssl::context& tls() {
    std::call_once(tls_once, [this] {
      tls_ctx.emplace(ssl::context::tls_client);
      ssl::context& t = *tls_ctx;
      t.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                    ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
      SSL_CTX_set_min_proto_version(t.native_handle(), TLS1_2_VERSION);
      if (config.verify_tls) {
        t.set_default_verify_paths();
        if (!config.ca_file.empty()) t.load_verify_file(config.ca_file);
        t.set_verify_mode(ssl::verify_peer);
      } else {
        t.set_verify_mode(ssl::verify_none);
      }
    });
    return *tls_ctx;
  }

  ClientConfig config;
  // The proxy variables, read once when the client is made (as Go's ProxyFromEnvironment does): not a
  // getenv per request on the io threads.
  struct {
    std::optional<std::string> http, https, no_proxy;
  } proxy_env;
  std::once_flag tls_once;
  std::optional<ssl::context> tls_ctx;
  std::mutex mu;
  // Per io_context and route: a connection is only ever used by the thread that runs its context
  // (`serve --threads N` calls the one client from every io thread).
  std::map<std::pair<const void*, std::string>, std::deque<std::unique_ptr<Conn>>> idle;  // guarded by mu

  std::optional<std::string> env(std::string_view name) const {
    if (config.getenv) return config.getenv(name);
    const char* v = std::getenv(std::string(name).c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  }
  std::optional<std::string> env_either(std::string_view lower, std::string_view upper) const {
    auto v = env(lower);
    if (!v || v->empty()) v = env(upper);
    if (v && v->empty()) v.reset();
    return v;
  }

  bool no_proxy_matches(const Url& u) const {
    const auto& list = proxy_env.no_proxy;
    if (!list) return false;
    std::string_view rest = *list;
    while (!rest.empty()) {
      auto comma = rest.find(',');
      std::string entry = to_lower(trim(rest.substr(0, comma)));
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      if (entry.empty()) continue;
      if (entry == "*") return true;
      // Optional :port (not for bracketed IPv6 literals without one).
      std::optional<std::uint16_t> port;
      if (auto c = entry.rfind(':'); c != std::string::npos && entry.find(']') == std::string::npos &&
                                     entry.find(':') == c) {
        port = static_cast<std::uint16_t>(std::strtoul(entry.c_str() + c + 1, nullptr, 10));
        entry.resize(c);
      }
      if (entry.starts_with("[") && entry.ends_with("]")) entry = entry.substr(1, entry.size() - 2);
      if (entry.starts_with("*.")) entry.erase(0, 1);
      if (entry.starts_with(".")) entry.erase(0, 1);
      if (entry.empty() || (port && *port != u.port)) continue;
      if (u.host == entry) return true;
      if (u.host.size() > entry.size() && u.host.ends_with(entry) && u.host[u.host.size() - entry.size() - 1] == '.')
        return true;
    }
    return false;
  }

  Result<Route> route(const Url& u) const {
    Route r{.origin = u};
    if (config.use_proxy_env && !no_proxy_matches(u)) {
      const auto& proxy = u.scheme == "https" ? proxy_env.https : proxy_env.http;
      if (proxy) {
        std::string text = std::string(trim(*proxy));
        if (text.find("://") == std::string::npos) text = "http://" + text;
        auto p = parse_url(text);
        if (!p) return fail(ErrorKind::invalid_input, "invalid proxy URL in the environment");
        if (p->scheme != "http") return fail(ErrorKind::invalid_input, "only http:// proxies are supported");
        r.proxy = std::move(*p);
        r.tunnel = u.scheme == "https";
      }
    }
    r.pool_key = u.scheme + "://" + host_port(u);
    if (r.proxy) r.pool_key += " via " + host_port(*r.proxy) + "#" + r.proxy->userinfo;
    return r;
  }

  // A pooled connection for the route, or null. Drops expired and visibly dead ones.
  std::unique_ptr<Conn> take(const void* context, const std::string& key) {
    std::lock_guard lock(mu);
    auto it = idle.find({context, key});
    if (it == idle.end()) return nullptr;
    auto& q = it->second;
    auto now = SteadyClock::now();
    while (!q.empty()) {
      auto c = std::move(q.back());
      q.pop_back();
      if (now - c->idle_since <= config.idle_timeout && alive(*c)) return c;
    }
    return nullptr;
  }

  void give_back(std::unique_ptr<Conn> c) {
    if (config.max_idle_per_origin == 0) return;
    c->idle_since = SteadyClock::now();
    std::lock_guard lock(mu);
    auto& q = idle[{c->context, c->key}];
    auto now = SteadyClock::now();
    std::erase_if(q, [&](const std::unique_ptr<Conn>& x) { return now - x->idle_since > config.idle_timeout; });
    while (q.size() >= config.max_idle_per_origin) q.pop_front();
    q.push_back(std::move(c));
  }

  // Cheap check before reuse: the peer closed (EOF) or sent something unsolicited (an alert, garbage).
  static bool alive(Conn& c) {
    if (c.buffer.size() != 0) return false;
    auto& sock = c.lowest().socket();
    if (!sock.is_open()) return false;
    char ch;
    ssize_t r = ::recv(sock.native_handle(), &ch, 1, MSG_PEEK | MSG_DONTWAIT);
    if (r >= 0) return false;
    return errno == EAGAIN || errno == EWOULDBLOCK;
  }
};

asio::awaitable<Result<tcp::resolver::results_type>> resolve(const asio::any_io_executor& ex, const Url& target,
                                                                const Budget& budget,
                                                                std::chrono::milliseconds connect_timeout) {
  if (is_ip_literal(target.host)) {
    auto address = asio::ip::make_address(target.host);
    co_return tcp::resolver::results_type::create(tcp::endpoint(address, target.port), target.host,
                                                  std::to_string(target.port));
  }
  auto resolver = std::make_shared<tcp::resolver>(ex);
  auto timer = std::make_shared<asio::steady_timer>(ex, budget.limit(connect_timeout));
  timer->async_wait([resolver](error_code ec) {
    if (!ec) resolver->cancel();
  });
  auto [ec, results] = co_await resolver->async_resolve(target.host, std::to_string(target.port), kTuple);
  timer->cancel();
  if (ec == asio::error::operation_aborted) {
    Error e = timeout_error("resolving " + target.host + " timed out");
    e.code = std::string("net.resolve");
    co_return std::unexpected(std::move(e));
  }
  if (ec) {
    Error e = network_error("cannot resolve " + target.host + ": " + ec.message());
    e.code = std::string("net.resolve");
    co_return std::unexpected(std::move(e));
  }
  co_return results;
}

// Opens a CONNECT tunnel through the proxy already connected on `stream`.
asio::awaitable<Status> open_tunnel(beast::tcp_stream& stream, const Route& route, const Budget& budget,
                                    const RequestOptions& opts) {
  http::request<http::empty_body> req{http::verb::connect, host_port(route.origin), 11};
  req.set(http::field::host, host_port(route.origin));
  req.set(http::field::user_agent, kUserAgent);
  if (!route.proxy->userinfo.empty()) req.set(http::field::proxy_authorization, basic_auth(route.proxy->userinfo));
  stream.expires_after(budget.limit(opts.connect_timeout));
  auto [wec, wn] = co_await http::async_write(stream, req, kTuple);
  if (wec) co_return std::unexpected(budget.io_error(wec, "proxy CONNECT"));
  http::response_parser<http::empty_body> parser;
  parser.skip(true);  // a 2xx answer to CONNECT has no body: the tunnel starts right after the head
  parser.header_limit(kHeaderLimit);
  beast::flat_buffer buffer;
  while (!parser.is_header_done()) {
    stream.expires_after(budget.limit(opts.connect_timeout));
    auto [ec, n] = co_await http::async_read_some(stream, buffer, parser, kTuple);
    if (ec) co_return std::unexpected(budget.io_error(ec, "proxy CONNECT"));
  }
  int status = parser.get().result_int();
  if (status / 100 != 2) {
    Error e = network_error("proxy refused CONNECT with status " + std::to_string(status), status >= 500);
    e.http_status = status;
    co_return std::unexpected(std::move(e));
  }
  if (buffer.size() != 0) co_return std::unexpected(network_error("proxy sent data before the TLS handshake"));
  co_return Status{};
}

// The connection is made on the caller's executor (`ex`, its io_context run by one thread) and stays there.
asio::awaitable<Result<std::unique_ptr<Conn>>> connect(Shared& sh, const asio::any_io_executor& ex, const void* pool,
                                                       const Route& route, const RequestOptions& opts,
                                                       const Budget& budget) {
  const Url& dial = route.proxy ? *route.proxy : route.origin;
  auto endpoints = co_await resolve(ex, dial, budget, opts.connect_timeout);
  if (!endpoints) co_return std::unexpected(std::move(endpoints.error()));
  if (budget.expired()) co_return std::unexpected(timeout_error("request deadline exceeded before connecting"));

  auto tcp_stream = std::make_unique<beast::tcp_stream>(ex);  // no strand: one thread runs the caller's context
  const auto connect_budget = budget.limit(opts.connect_timeout);
  const auto give_up = SteadyClock::now() + connect_budget;
  tcp_stream->expires_after(connect_budget);  // for all the addresses together
  // Each address in turn, the socket opened here: a range connect opens it itself and reports a failure to
  // open (too many open files) as "operation canceled".
  error_code cec = asio::error::host_not_found;
  for (const auto& entry : *endpoints) {
    error_code ignored;
    tcp_stream->socket().close(ignored);
    // Out of file descriptors (each chat in flight holds two sockets): chats finishing free some, so wait
    // for one within the connect budget instead of failing the call at once.
    for (;;) {
      tcp_stream->socket().open(entry.endpoint().protocol(), cec);
      const bool out_of_descriptors = cec == boost::system::errc::too_many_files_open ||
                                      cec == boost::system::errc::too_many_files_open_in_system;
      if (!out_of_descriptors || SteadyClock::now() + kDescriptorWait >= give_up) break;
      asio::steady_timer pause(ex, kDescriptorWait);
      co_await pause.async_wait(kTuple);  // cancelled only with the io_context: then open() decides
    }
    if (cec) break;  // no other address helps
    auto [e] = co_await tcp_stream->async_connect(entry.endpoint(), kTuple);
    cec = e;
    if (!cec || cec == beast::error::timeout) break;
  }
  if (cec) {
    Error e = budget.io_error(cec, "connect to " + host_port(dial));
    e.code = std::string("net.connect");
    co_return std::unexpected(std::move(e));
  }
  error_code ignored;
  tcp_stream->socket().set_option(tcp::no_delay(true), ignored);

  auto conn = std::make_unique<Conn>();
  conn->key = route.pool_key;
  conn->context = pool;
  if (route.tunnel) {
    auto st = co_await open_tunnel(*tcp_stream, route, budget, opts);
    if (!st) co_return std::unexpected(std::move(st.error()));
  }
  if (route.origin.scheme != "https") {
    detail::set_nonblocking(*tcp_stream);
    conn->plain = std::move(tcp_stream);
    co_return conn;
  }

  ssl::context* context = nullptr;
  std::string tls_failure;
  try {
    context = &sh.tls();
  } catch (const boost::system::system_error& e) {
    tls_failure = e.what();
  }
  if (!context) co_return std::unexpected(network_error("cannot set up TLS: " + tls_failure, false));
  conn->tls = std::make_unique<ssl::stream<beast::tcp_stream>>(std::move(*tcp_stream), *context);
  auto& tls = *conn->tls;
  const std::string& host = route.origin.host;
  if (!is_ip_literal(host) && !SSL_set_tlsext_host_name(tls.native_handle(), host.c_str()))
    co_return std::unexpected(network_error("cannot set TLS server name"));
  if (sh.config.verify_tls) tls.set_verify_callback(ssl::host_name_verification(host));
  beast::get_lowest_layer(tls).expires_after(budget.limit(opts.connect_timeout));
  auto [hec] = co_await tls.async_handshake(ssl::stream_base::client, kTuple);
  if (hec) {
    if (hec == beast::error::timeout) co_return std::unexpected(budget.io_error(hec, "TLS handshake"));
    std::string why = hec.message();
    long verify = SSL_get_verify_result(tls.native_handle());
    if (verify != X509_V_OK) why += std::string(" (") + X509_verify_cert_error_string(verify) + ")";
    // A certificate we do not trust will not become trusted on a retry: not retryable, and nothing was sent.
    const bool untrusted = verify != X509_V_OK;
    Error e = network_error("TLS handshake with " + host_port(route.origin) + " failed: " + why, !untrusted);
    e.code = std::string(untrusted ? "net.tls_certificate" : "net.tls");
    co_return std::unexpected(std::move(e));
  }
  co_return conn;
}

struct Exchange {
  Result<HttpResponse> result;
  bool reusable = false;
};

// Its own coroutine: the serializer takes frame space only while the request is being written, not
// while the answer is awaited.
// Over plain TCP, what the socket takes now is written at once (write_now.hpp); the rest, or a TLS
// stream's records, asynchronously within `timeout`.
template <class Stream>
asio::awaitable<error_code> write_request(Stream& stream, const http::request<http::string_body>& req,
                                          Progress& progress, std::chrono::steady_clock::duration timeout) {
  http::request_serializer<http::string_body> sr(req);
  co_return co_await detail::write_all(stream, sr, timeout, progress.request_bytes);
}

template <class Stream>
asio::awaitable<Exchange> exchange(Stream& stream, Conn& conn, const http::request<http::string_body>& req,
                                   const BodySink* sink, const RequestOptions& opts, const Budget& budget,
                                   Progress& progress) {
  auto& lowest = conn.lowest();
  Exchange out;
  auto failed = [&](Error e) {
    out.result = std::unexpected(std::move(e));
    return std::move(out);
  };

  if (auto ec = co_await write_request(stream, req, progress, budget.limit(opts.read_timeout)))
    co_return failed(budget.io_error(ec, "sending the request"));

  const bool head = req.method() == http::verb::head;
  std::unique_ptr<http::response_parser<http::buffer_body>> parser;
  for (;;) {
    parser = std::make_unique<http::response_parser<http::buffer_body>>();
    parser->header_limit(kHeaderLimit);
    parser->body_limit(boost::none);  // enforced below, per mode
    if (head) parser->skip(true);
    while (!parser->is_header_done()) {
      error_code ec;
      if (!detail::parse_buffered(conn.buffer, *parser, ec)) {
        lowest.expires_after(budget.limit(opts.read_timeout));
        auto [e, n] = co_await http::async_read_some(stream, conn.buffer, *parser, kTuple);
        progress.response_bytes += n + conn.buffer.size();
        ec = e;
      }
      if (ec) co_return failed(budget.io_error(ec, "reading the response"));
    }
    int status = parser->get().result_int();
    if (status >= 100 && status < 200 && status != 101) continue;  // interim response: read the next head
    break;
  }

  auto& msg = parser->get();
  // We never ask to switch protocols, and never accept a transfer coding but chunked (we send no TE):
  // either answer leaves the rest of the connection unreadable (RFC 9110 section 15.2.2, RFC 9112
  // section 6.3). The connection is dropped with the error.
  if (msg.result_int() == 101)
    co_return failed(network_error("the server switched protocols (101) without being asked", false));
  const auto codings = msg.count(http::field::transfer_encoding);
  if (codings != 0 && (codings > 1 || !iequals(msg[http::field::transfer_encoding], "chunked")))
    co_return failed(network_error("the response uses a transfer coding other than chunked: " +
                                       std::string(msg[http::field::transfer_encoding]), false));
  HttpResponse response;
  response.status = msg.result_int();
  for (const auto& f : msg) response.headers.add(std::string(f.name_string()), std::string(f.value()));
  const bool to_sink = sink && response.status / 100 == 2;

  // A buffered body of known length is read straight into the response: one allocation, no copy.
  // Otherwise into a chunk on the heap, allocated only once the head is in: a call waiting for its answer
  // (seconds, for a model) keeps a small coroutine frame (10,000 concurrent chats: ~160 MB less).
  const auto length = parser->content_length();
  const bool in_place = !to_sink && length && *length <= opts.body_limit;
  constexpr std::size_t kChunk = 16 * 1024;
  std::unique_ptr<char[]> chunk;
  if (in_place) {
    response.body.resize(static_cast<std::size_t>(*length));
    msg.body().data = response.body.data();
    msg.body().size = response.body.size();
  } else {
    chunk = std::make_unique_for_overwrite<char[]>(kChunk);
  }
  while (!parser->is_done()) {
    if (!in_place) {
      msg.body().data = chunk.get();
      msg.body().size = kChunk;
    }
    error_code ec;
    if (!detail::parse_buffered(conn.buffer, *parser, ec)) {
      lowest.expires_after(budget.limit(opts.read_timeout));
      auto [e, n] = co_await http::async_read_some(stream, conn.buffer, *parser, kTuple);
      ec = e;
    }
    if (ec == http::error::need_buffer) ec = {};
    if (ec == ssl::error::stream_truncated && parser->need_eof()) {
      error_code eof_ec;
      parser->put_eof(eof_ec);  // close-delimited body from a peer that skipped close_notify
      ec = eof_ec;
    }
    if (ec) co_return failed(budget.io_error(ec, "reading the response body"));
    if (in_place) continue;
    std::size_t got = kChunk - msg.body().size;
    if (got == 0) continue;
    std::string_view data(chunk.get(), got);
    if (to_sink) {
      if (!co_await (*sink)(data)) {
        lowest.close();
        co_return failed(Error::make(ErrorKind::cancelled, "the body consumer stopped the transfer"));
      }
    } else {
      if (response.body.size() + got > opts.body_limit) {
        Error e = Error::make(ErrorKind::too_large,
                              "response body exceeds the limit of " + std::to_string(opts.body_limit) + " bytes");
        e.http_status = response.status;
        co_return failed(std::move(e));
      }
      response.body.append(data);
    }
  }
  if (in_place) response.body.resize(response.body.size() - msg.body().size);  // HEAD, 204 and 304 have no body
  out.reusable = msg.keep_alive() && !parser->need_eof() && conn.buffer.size() == 0;
  out.result = std::move(response);
  co_return out;
}

// A request as it goes on the wire, with its route: built by a plain function, so the coroutine's frame
// holds only the result while the call waits.
struct Wire {
  Route route;
  http::request<http::string_body> req;
  bool idempotent = false;
};

Result<Wire> make_wire(Shared& sh, HttpRequest& request) {
  auto url = parse_url(request.url);
  if (!url) return std::unexpected(std::move(url.error()));
  auto route = sh.route(*url);
  if (!route) return std::unexpected(std::move(route.error()));
  Wire w{std::move(*route), {}, idempotent(request.method)};
  http::request<http::string_body>& req = w.req;
  // What goes on the wire must not split the request (RFC 9112 sections 3, 5; RFC 9110 section 5.5): a
  // method that is a token, field names that are tokens, values without CR, LF or NUL.
  if (!is_token(request.method)) return fail(ErrorKind::invalid_input, "the request method is not an HTTP token");
  for (const auto& h : request.headers) {
    if (!is_token(h.name) || !is_safe_field_value(h.value))
      return fail(ErrorKind::invalid_input, "request header '" + (is_token(h.name) ? h.name : std::string("?")) +
                                                "' has a name that is not a token or a CR, LF or NUL in its value");
  }
  auto verb = http::string_to_verb(request.method);
  if (verb == http::verb::unknown)
    req.method_string(request.method);
  else
    req.method(verb);
  const bool absolute_form = w.route.proxy && !w.route.tunnel;
  req.target(absolute_form ? url->scheme + "://" + url->authority() + url->target : url->target);
  req.version(11);
  for (const auto& h : request.headers) {
    if (iequals(h.name, "content-length") || iequals(h.name, "transfer-encoding")) continue;
    req.insert(h.name, h.value);
  }
  if (!request.headers.has("host")) req.set(http::field::host, url->authority());
  if (!request.headers.has("user-agent")) req.set(http::field::user_agent, kUserAgent);
  if (absolute_form && !w.route.proxy->userinfo.empty())
    req.set(http::field::proxy_authorization, basic_auth(w.route.proxy->userinfo));
  const bool has_body = !request.body.empty() || request.method == "POST" || request.method == "PUT" ||
                        request.method == "PATCH";
  req.body() = std::move(request.body);
  if (has_body) req.content_length(req.body().size());
  return w;
}

asio::awaitable<Result<HttpResponse>> perform(std::shared_ptr<Shared> sh, HttpRequest request, const BodySink* sink,
                                              RequestOptions opts) {
  Budget budget(opts);
  if (budget.expired()) co_return std::unexpected(timeout_error("request deadline exceeded before sending"));
  auto wire = make_wire(*sh, request);
  if (!wire) co_return std::unexpected(std::move(wire.error()));
  request = HttpRequest{};  // the wire copy is all that is needed now: free the headers while the call waits
  const Route* route = &wire->route;
  const http::request<http::string_body>& req = wire->req;
  const asio::any_io_executor ex = co_await asio::this_coro::executor;
  const void* context = &asio::query(ex, asio::execution::context_as<asio::execution_context&>);

  for (int attempt = 0;; ++attempt) {
    auto conn = sh->take(context, route->pool_key);
    const bool reused = conn != nullptr;
    if (!conn) {
      auto fresh = co_await connect(*sh, ex, context, *route, opts, budget);
      if (!fresh) co_return std::unexpected(std::move(fresh.error()));
      conn = std::move(*fresh);
    }
    Progress progress;
    Exchange ex;  // (no co_await inside ?: — GCC 12 miscompiles it)
    if (conn->tls)
      ex = co_await exchange(*conn->tls, *conn, req, sink, opts, budget, progress);
    else
      ex = co_await exchange(*conn->plain, *conn, req, sink, opts, budget, progress);
    if (ex.result) {
      if (ex.reusable) sh->give_back(std::move(conn));
      co_return std::move(ex.result);
    }
    // A kept-alive connection the server had already given up on: one more try on a fresh one, when
    // that cannot duplicate a request the server may have acted on.
    const Error& e = ex.result.error();
    const bool retry = reused && attempt == 0 && e.kind == ErrorKind::network && progress.response_bytes == 0 &&
                       (wire->idempotent || progress.request_bytes == 0);
    if (!retry) co_return std::move(ex.result);
  }
}

class ClientImpl final : public HttpClient {
 public:
  explicit ClientImpl(ClientConfig config) : sh_(std::make_shared<Shared>(std::move(config))) {}

  // perform's own frame is the call's state: no wrapper frame while a call waits for its answer.
  asio::awaitable<Result<HttpResponse>> send(HttpRequest request, RequestOptions options) override {
    return perform(sh_, std::move(request), nullptr, options);
  }

  asio::awaitable<Result<HttpResponse>> send_streaming(HttpRequest request, BodySink sink,
                                                       RequestOptions options) override {
    co_return co_await perform(sh_, std::move(request), &sink, options);
  }

 private:
  std::shared_ptr<Shared> sh_;
};

}  // namespace

std::unique_ptr<HttpClient> make_http_client(asio::io_context&, ClientConfig config) {
  return std::make_unique<ClientImpl>(std::move(config));
}

}  // namespace ba::net
