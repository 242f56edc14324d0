// Async HTTP/1.1 server: one coroutine per connection on its io_context (no strand per connection: one
// thread runs each context; with several contexts the acceptor deals the accepted sockets out in turn;
// the acceptor and the stop timers share one strand on the first context because stop() may be called
// from any thread), keep-alive, a timeout on every read and write (reads: one lazily re-armed
// deadline per connection, see Deadline), body and header limits, chunked streaming, optional TLS,
// graceful stop.
#include "net/http_server.hpp"
#include "net/request_reader.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <utility>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/read_size.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <unordered_map>
#include <vector>

#include "util/clock.hpp"
#include "util/encoding.hpp"
#include "util/json_writer.hpp"

#include "net/field_syntax.hpp"
#include "net/write_now.hpp"

namespace ba::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

// An error the server cannot hand to anyone: one JSON line on stderr, in the format of the program's
// other logs ({"ts","level","msg", ...}; cli/signals.hpp's log_line), written in one call.
void log_error(std::string_view msg, std::string_view what) {
  std::string line;
  JsonWriter w(line);
  w.begin_object()
      .member("ts", iso8601_ms(std::chrono::system_clock::now()))
      .member("level", "error")
      .member("msg", msg)
      .member("error", what)
      .end_object();
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// One accepted connection, as seen by stop(). Touched only on the connection's executor (ex).
struct Conn {
  asio::any_io_executor ex;
  std::function<void()> close;  // set while the session's stream is alive
  bool busy = false;            // a request is being read, handled or answered
  // Bound to the connection's coroutine: at the end of a drain, a request still being handled is
  // cancelled through it (terminal cancellation of whatever it awaits: the Bedrock call, a backoff, a
  // budget wait) and answered 503, instead of having its connection closed under it.
  asio::cancellation_signal cancel;
  bool cancelled = false;
};



struct State {
  State(std::vector<asio::io_context*> contexts_, ServerOptions o, Handler h)
      : io(*contexts_.front()),
        contexts(std::move(contexts_)),
        opts(std::move(o)),
        keep_alive_value("timeout=" + std::to_string(opts.idle_timeout.count())),
        handler(std::move(h)),
        strand(asio::make_strand(io)),
        acceptor(strand) {}

  asio::io_context& io;                       // the first context: the acceptor's
  std::vector<asio::io_context*> contexts;    // where connections run, in turn
  std::size_t next_context = 0;               // on strand
  ServerOptions opts;
  const std::string keep_alive_value;  // `Keep-Alive: timeout=N` of every kept-open answer, formatted once
  Handler handler;
  asio::strand<asio::io_context::executor_type> strand;  // acceptor and grace timers
  tcp::acceptor acceptor;
  std::unique_ptr<ssl::context> tls;
  std::atomic<bool> stopping{false};
  std::atomic<std::uint16_t> port{0};

  std::mutex mu;
  std::unordered_map<std::uint64_t, std::shared_ptr<Conn>> conns;  // guarded by mu
  std::uint64_t next_id = 1;                                       // guarded by mu
  std::vector<std::shared_ptr<asio::steady_timer>> grace_timers;   // on strand
  std::function<void()> on_drained;                                // on strand; called once
};

void close_conn_on_strand(const std::shared_ptr<Conn>& c, bool only_idle) {
  asio::post(c->ex, [c, only_idle] {
    if (c->close && (!only_idle || !c->busy)) c->close();
  });
}

// A connection busy with a request: its request is cancelled (terminal); an idle one is closed.
void cancel_conn_on_strand(const std::shared_ptr<Conn>& c) {
  asio::post(c->ex, [c] {
    if (c->busy && c->close && !c->cancelled) {
      c->cancelled = true;
      c->cancel.emit(asio::cancellation_type::terminal);
    } else if (c->close && !c->busy) {
      c->close();
    }
  });
}

// On the strand: tells the stop() caller, once, that no connection is left.
void drained(State& st) {
  if (auto f = std::exchange(st.on_drained, nullptr)) f();
}

std::vector<std::shared_ptr<Conn>> snapshot(State& st) {
  std::lock_guard lock(st.mu);
  std::vector<std::shared_ptr<Conn>> out;
  out.reserve(st.conns.size());
  for (auto& [id, c] : st.conns) out.push_back(c);
  return out;
}

ServerResponse default_error(int status, std::string_view type, std::string_view message) {
  boost::json::value v = {{"error", {{"type", type}, {"message", message}}}};
  ServerResponse r;
  r.status = status;
  r.headers.set("Content-Type", "application/json");
  r.body = boost::json::serialize(v);
  return r;
}

ServerResponse error_for(const ServerOptions& opts, int status, std::string_view type, std::string_view message) {
  ServerResponse r = opts.error_response ? opts.error_response(status, type, message)
                                         : default_error(status, type, message);
  r.close_connection = true;
  r.stream = nullptr;
  r.abort_connection = false;
  return r;
}

// Why the request's Host header breaks RFC 9112 §3.2, or nothing. The value is uri-host [":" port]: a
// reg-name or IPv4 address (unreserved, pct-encoded, sub-delims), or an IP literal in brackets.
std::optional<std::string_view> host_problem(const http::request<http::string_body>& msg) {
  auto [first, last] = msg.equal_range(http::field::host);
  const auto count = std::distance(first, last);
  if (count == 0) {
    if (msg.version() >= 11) return "an HTTP/1.1 request must have a Host header (RFC 9112 section 3.2)";
    return std::nullopt;
  }
  if (count > 1) return "a request must have one Host header, not several (RFC 9112 section 3.2)";
  const std::string_view host = first->value();
  for (char c : host) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    std::string_view("-._~%!$&'()*+,;=:[]").find(c) != std::string_view::npos;
    if (!ok) return "the Host header is not a host[:port] (RFC 9112 section 3.2)";
  }
  return std::nullopt;
}

// Whether `target` starts with "http://" or "https://" in any case (RFC 9110 section 4.2.3: the scheme is
// case-insensitive): the absolute form, which a server MUST accept (RFC 9112 section 3.2.2).
bool absolute_form(std::string_view target) {
  return (target.size() > 7 && iequals(target.substr(0, 7), "http://")) ||
         (target.size() > 8 && iequals(target.substr(0, 8), "https://"));
}

// Why the request target is none of the forms a request to an origin server may use (RFC 9112 section
// 3.2): origin-form ("/path?query"), absolute-form, "*" for OPTIONS; CONNECT's authority-form is left to
// the handler (which does not implement CONNECT).
std::optional<std::string_view> target_problem(const http::request<http::string_body>& msg) {
  const std::string_view t = msg.target();
  if (t.starts_with('/') || absolute_form(t)) return std::nullopt;
  if (t == "*" && msg.method() == http::verb::options) return std::nullopt;
  if (msg.method() == http::verb::connect) return std::nullopt;
  return "the request target is not /path, an absolute URI or * (RFC 9112 section 3.2)";
}

// The answer to a request head whose target, Host or framing we must refuse, or nothing (RFC 9112
// sections 3.2, 6.1, 6.3; the version is Beast's: HTTP/1.0 or HTTP/1.1, see read_error_response). Called once the head is parsed, before any of the body is read.
// `head_bytes`: the head's size. Beast bounds the head by the limit when it arrives in pieces, but the
// request line and the fields each by the limit when the request line comes in the same read as the
// start of the fields; the limit is the whole head's either way, so an answer never depends on how the
// bytes were cut (fuzz/corpus/http_request/head-over-the-limit-whole).
std::optional<ServerResponse> head_problem(const ServerOptions& opts, const http::request_parser<http::string_body>& parser,
                                           std::size_t head_bytes) {
  if (head_bytes > opts.header_limit) return error_for(opts, 431, "header_too_large", "request header exceeds the limit");
  const auto& msg = parser.get();
  if (auto bad = target_problem(msg)) return error_for(opts, 400, "bad_request", std::string(*bad));
  // RFC 9112 section 3.2: no Host in HTTP/1.1, or more than one, or one that is not host[:port].
  if (auto bad = host_problem(msg)) return error_for(opts, 400, "bad_request", std::string(*bad));
  // Transfer-Encoding (Beast already refused it next to a Content-Length, and a repeated chunked).
  auto [first, last] = msg.equal_range(http::field::transfer_encoding);
  if (first == last) return std::nullopt;
  if (msg.version() < 11) {
    return error_for(opts, 400, "bad_request",
                     "Transfer-Encoding in an HTTP/1.0 request: its framing cannot be trusted (RFC 9112 section 6.1)");
  }
  if (!parser.chunked()) {
    return error_for(opts, 400, "bad_request",
                     "the request's Transfer-Encoding does not end in chunked, so its length cannot be determined "
                     "(RFC 9112 section 6.3)");
  }
  std::size_t codings = 0;
  for (auto it = first; it != last; ++it)
    for ([[maybe_unused]] auto c : http::token_list(it->value())) ++codings;
  if (codings > 1) {
    return error_for(opts, 501, "not_implemented",
                     "the only transfer coding this server decodes is chunked (RFC 9112 section 6.1)");
  }
  return std::nullopt;
}

bool managed_header(std::string_view name) {
  return iequals(name, "content-length") || iequals(name, "transfer-encoding") || iequals(name, "connection");
}

template <class Fields>
void copy_headers(const Headers& from, Fields& to) {
  for (const auto& h : from) {
    if (managed_header(h.name)) continue;
    // A CR or LF in a field (a value built from input) would split the response: such a field is dropped.
    if (!is_token(h.name) || !is_safe_field_value(h.value)) {
      log_error("http_server: response header dropped", "a CR, LF or NUL in the field, or a name that is not a token");
      continue;
    }
    to.insert(h.name, h.value);
  }
}

// "Sun, 06 Nov 1994 08:49:37 GMT" (IMF-fixdate, RFC 9110 section 5.6.7), formatted once per second and
// thread: the Date header every response carries (RFC 9110 section 6.6.1: an origin server with a clock
// MUST send it).
std::string_view http_date(WallTime t) {
  using namespace std::chrono;
  thread_local std::int64_t cached = INT64_MIN;
  thread_local std::array<char, 29> text{};
  const auto second = floor<seconds>(t);
  if (second.time_since_epoch().count() != cached) {
    cached = second.time_since_epoch().count();
    const auto day = floor<days>(second);
    const year_month_day ymd{day};
    const hh_mm_ss hms{second - day};
    static constexpr std::string_view kDays = "SunMonTueWedThuFriSat";
    static constexpr std::string_view kMonths = "JanFebMarAprMayJunJulAugSepOctNovDec";
    char* p = text.data();
    auto put = [&p](std::string_view s) { p = std::copy(s.begin(), s.end(), p); };
    auto digits = [&p](unsigned v, int n) {
      for (int i = n - 1; i >= 0; --i, v /= 10) p[i] = static_cast<char>('0' + v % 10);
      p += n;
    };
    put(kDays.substr(3 * weekday{day}.c_encoding(), 3));
    put(", ");
    digits(static_cast<unsigned>(ymd.day()), 2);
    put(" ");
    put(kMonths.substr(3 * (static_cast<unsigned>(ymd.month()) - 1), 3));
    put(" ");
    digits(static_cast<unsigned>(static_cast<int>(ymd.year())) % 10000, 4);
    put(" ");
    digits(static_cast<unsigned>(hms.hours().count()), 2);
    put(":");
    digits(static_cast<unsigned>(hms.minutes().count()), 2);
    put(":");
    digits(static_cast<unsigned>(hms.seconds().count()), 2);
    put(" GMT");
  }
  return {text.data(), text.size()};
}

// The status line, the handler's headers, Date and Connection. The status line says HTTP/1.1 whatever
// the request's version (RFC 9110 section 6.2: the highest minor version we conform to). A connection
// kept open says for how long it may stay idle (`Keep-Alive: timeout=N`, hop-by-hop, so named in
// Connection, as Node's server does): clients that read it (Node's http.Agent and undici, 1 s early)
// retire an idle connection before the server closes it, instead of sending a request into the close.
template <class Body>
void start_response(http::response<Body>& res, const ServerResponse& resp, bool keep_alive,
                    std::string_view keep_alive_value) {
  res.version(11);
  res.result(static_cast<unsigned>(resp.status));
  if (auto reason = reason_phrase(resp.status); reason != "Unknown") res.reason(reason);
  copy_headers(resp.headers, res);
  if (res.find(http::field::date) == res.end()) res.set(http::field::date, http_date(system_clock().wall()));
  if (!keep_alive) {
    res.set(http::field::connection, "close");
  } else {
    res.set(http::field::connection, "keep-alive");
    res.set(http::field::keep_alive, keep_alive_value);
  }
}

void split_target(std::string_view target, ServerRequest& req) {
  std::string_view t = target;
  // Absolute form (requests to a proxy): keep only the path and query.
  if (absolute_form(t)) {
    auto scheme_end = t.find("://") + 3;
    auto slash = t.find_first_of("/?", scheme_end);
    t = slash == std::string_view::npos ? std::string_view("/") : t.substr(slash);
  }
  auto q = t.find('?');
  if (q == std::string_view::npos) {
    req.path = std::string(t);
  } else {
    req.path = std::string(t.substr(0, q));
    req.query = std::string(t.substr(q + 1));
  }
  if (req.path.empty()) req.path = "/";
}

void limit(http::request_parser<http::string_body>& parser, const ServerOptions& opts) {
  parser.header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(opts.header_limit, UINT32_MAX)));
  parser.body_limit(opts.body_limit);
}

// The head's fields of a chunked request, by address. Beast adds a chunked body's trailer fields to the
// same fields (each after the head's field of that name, if any); RFC 9110 section 6.5.1 forbids merging
// them into the header section (a trailer `Host`, `Connection` or API key would pass for one the head
// carried, after head_problem() checked the head), so take_request() keeps only these (found by the
// http_request fuzzer: fuzz/corpus/http_request/trailer-host).
struct HeadFields {
  bool chunked = false;
  std::vector<const void*> fields;
  void note(const http::request<http::string_body>& msg) {
    chunked = true;
    for (const auto& f : msg) fields.push_back(&f);
  }
  void drop_others(http::request<http::string_body>& msg) const {
    if (!chunked) return;
    for (auto it = msg.begin(); it != msg.end();) {
      if (std::find(fields.begin(), fields.end(), static_cast<const void*>(&*it)) == fields.end()) it = msg.erase(it);
      else ++it;
    }
  }
};

// A parsed request as the handler gets it (its body moved out of `msg`); head_problem() passed.
void take_request(http::request<http::string_body>& msg, ServerRequest& req, const HeadFields& head) {
  head.drop_others(msg);
  req.method = std::string(msg.method_string());
  req.target = std::string(msg.target());
  split_target(req.target, req);
  for (const auto& f : msg) req.headers.add(std::string(f.name_string()), std::string(f.value()));
  req.body = std::move(msg.body());
}

// Writes all of `buffers` (write_now.hpp), with read_timeout of silence allowed.
template <class Stream, class Buffers>
asio::awaitable<error_code> write_all(Stream& stream, const State& st, const Buffers& buffers) {
  beast::buffers_suffix<Buffers> rest(buffers);
  std::size_t written = 0;
  co_return co_await detail::write_all(stream, rest, st.opts.read_timeout, written);
}

template <class Stream>
class ChunkWriter final : public BodyWriter {
 public:
  ChunkWriter(Stream& s, const State& st, bool chunked) : s_(s), st_(st), chunked_(chunked) {}
  asio::awaitable<bool> write(std::string_view chunk) override {
    if (!alive_) co_return false;
    if (chunk.empty()) co_return true;  // an empty chunk would end the body
    error_code ec;
    if (chunked_) {
      ec = co_await write_all(s_, st_, http::make_chunk(asio::buffer(chunk.data(), chunk.size())));
    } else {
      ec = co_await write_all(s_, st_, asio::buffer(chunk.data(), chunk.size()));
    }
    if (ec) alive_ = false;
    co_return alive_;
  }
  bool alive() const { return alive_; }

 private:
  Stream& s_;
  const State& st_;
  bool chunked_;
  bool alive_ = true;
};

// Sends a buffered response; false when the write failed.
template <class Stream>
asio::awaitable<bool> write_buffered(Stream& stream, const State& st, ServerResponse& resp, bool keep_alive,
                                     bool head) {
  http::response<http::string_body> res;
  start_response(res, resp, keep_alive, st.keep_alive_value);
  // 1xx, 204 and 304 have no content, and no Content-Length (RFC 9110 sections 8.6, 15.3.5, 15.4.5; a 304
  // may repeat the 200's length, which we do not know); a HEAD answer has the GET one's headers, Content-
  // Length included, without its content (section 9.3.2).
  const bool no_content = resp.status < 200 || resp.status == 204 || resp.status == 304;
  if (!no_content) {
    res.content_length(resp.body.size());
    if (!head) res.body() = std::move(resp.body);
  }
  http::response_serializer<http::string_body> sr(res);
  std::size_t written = 0;
  const error_code ec = co_await detail::write_all(stream, sr, st.opts.read_timeout, written);
  co_return !ec;
}

// One deadline per connection for its reads, re-armed lazily. Beast's per-operation timeout
// (tcp_stream::expires_after before each read) costs a timer cancel, a timer queue insertion and a
// cancel again on completion, on every read; here setting the deadline is a store, and the one timer
// wakes at the time it was armed for: if the deadline has moved later since (the connection kept
// reading), it waits again for the rest; if it has passed, the connection is closed, and the read in
// progress fails. A deadline earlier than the armed time re-arms at once. While the handler runs there is
// no deadline (clear()): the timer, when it wakes, stops. Touched only on the connection's executor; the
// timer's handler holds the state, so the session may end while a wake-up is queued (stop()).
class Deadline {
 public:
  using clock = std::chrono::steady_clock;
  explicit Deadline(const asio::any_io_executor& ex) : s_(std::make_shared<S>(ex)) {}
  ~Deadline() {
    s_->on_expire = nullptr;
    s_->timer.cancel();
  }
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;

  // What expiry does (closes the connection's socket); set once the stream exists.
  void on_expire(std::function<void()> f) { s_->on_expire = std::move(f); }
  void expires_after(clock::duration d) {
    s_->at = clock::now() + d;
    if (!s_->waiting || s_->at < s_->timer.expiry()) arm(s_);
  }
  void clear() { s_->at = clock::time_point::max(); }

 private:
  struct S {
    explicit S(const asio::any_io_executor& ex) : timer(ex) {}
    asio::steady_timer timer;
    clock::time_point at = clock::time_point::max();
    std::uint64_t generation = 0;  // of the wait in progress: an older one's handler does nothing
    bool waiting = false;
    std::function<void()> on_expire;  // null once the session ended
  };

  static void arm(const std::shared_ptr<S>& s) {
    const std::uint64_t gen = ++s->generation;
    s->waiting = true;
    s->timer.expires_at(s->at);  // cancels an older wait, whose handler then sees another generation
    s->timer.async_wait([s, gen](error_code ec) {
      if (gen != s->generation) return;
      s->waiting = false;
      if (ec || !s->on_expire || s->at == clock::time_point::max()) return;
      if (s->at > clock::now()) {
        arm(s);
        return;
      }
      s->at = clock::time_point::max();
      s->on_expire();
    });
  }

  std::shared_ptr<S> s_;
};

// Half-closes and drains what the peer is still sending, so it can read our error response before the
// socket goes away (closing with unread data would reset the connection).
asio::awaitable<void> linger(beast::tcp_stream& stream, std::size_t budget) {
  error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  if (ec) co_return;
  std::array<char, 16 * 1024> scratch;
  std::size_t total = 0;
  stream.expires_after(std::chrono::seconds(2));
  while (total < budget) {
    auto [e, n] = co_await stream.async_read_some(asio::buffer(scratch), kTuple);
    if (e) break;
    total += n;
  }
}
asio::awaitable<void> linger(ssl::stream<beast::tcp_stream>&, std::size_t) { co_return; }

enum class Next { keep_going, close, abort };

// Whether the request line Beast refused (bad_version: it takes HTTP/1.0 and HTTP/1.1 only) is well
// formed but names another version, "GET / HTTP/2.0": 505 rather than 400 (RFC 9110 section 15.6.6).
bool other_http_version(const beast::flat_buffer& buffer) {
  const auto data = buffer.data();
  std::string_view line(static_cast<const char*>(data.data()), data.size());
  const auto eol = line.find("\r\n");
  if (eol == std::string_view::npos || eol < 9) return false;
  line = line.substr(0, eol);
  if (std::count(line.begin(), line.end(), ' ') != 2) return false;  // method SP target SP version
  line = line.substr(eol - 9);  // " HTTP/d.d"
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  return line.starts_with(" HTTP/") && digit(line[6]) && line[7] == '.' && digit(line[8]);
}

// Whether a head the parser has not finished (`head_bytes` parsed, the rest buffered) can no longer end
// within the limit: as Beast decides when the head arrives in pieces, and also when it came in one read
// with the request line, which Beast bounds separately (fuzz/corpus/http_request/head-over-the-limit-cut).
bool head_over_limit(const ServerOptions& opts, std::size_t head_bytes, const beast::flat_buffer& buffer) {
  return head_bytes + buffer.size() >= opts.header_limit;
}

// Whether the request line ended within the head limit. Beast parses it once the whole head is buffered
// when the head arrives in pieces, so a short request line before fields over the limit is not yet
// parsed when the limit is hit: that is 431, not 414 (fuzz/corpus/http_request/head-over-the-limit-whole).
bool request_line_complete(const http::request_parser<http::string_body>& parser, const beast::flat_buffer& buffer,
                           std::size_t limit) {
  if (!parser.get().method_string().empty()) return true;
  const auto data = buffer.data();
  return std::string_view(static_cast<const char*>(data.data()), std::min(data.size(), limit)).find("\r\n") !=
         std::string_view::npos;
}

// The answer to a request that could not be read; nullopt when there is nobody to answer (a timeout,
// a reset, EOF mid-request).
std::optional<ServerResponse> read_error_response(const ServerOptions& opts, error_code ec, const beast::flat_buffer& buffer,
                                                  const http::request_parser<http::string_body>& parser) {
  if (ec == http::error::body_limit) {
    return error_for(opts, 413, "payload_too_large",
                     "request body exceeds the limit of " + std::to_string(opts.body_limit) + " bytes");
  }
  // RFC 9112 section 3: a request-target longer than the server parses gets 414.
  if (ec == http::error::header_limit && !request_line_complete(parser, buffer, opts.header_limit))
    return error_for(opts, 414, "uri_too_long", "the request line exceeds the limit of the request head");
  if (ec == http::error::bad_version && other_http_version(buffer))
    return error_for(opts, 505, "http_version_not_supported", "this server speaks HTTP/1.0 and HTTP/1.1");
  if (ec == http::error::header_limit) return error_for(opts, 431, "header_too_large", "request header exceeds the limit");
  if (ec.category() == http::make_error_code(http::error::bad_method).category() && ec != http::error::end_of_stream &&
      ec != http::error::partial_message) {
    return error_for(opts, 400, "bad_request", "malformed HTTP request: " + ec.message());
  }
  return std::nullopt;
}

// One request read from a buffer that the caller fills between steps: the parse step the server's
// session and read_requests() share, so that what the fuzzers check (they drive read_requests) is what
// the server does. step() parses what the buffer holds and says what it needs next.
class RequestRead {
 public:
  enum class Step {
    need_bytes,    // read more into the buffer, then step() again
    head_checked,  // the head just passed head_problem(), before any of the body: step() again
    done,          // the request is whole: take()
    refused,       // answer refusal() and close (nothing to answer when it is empty)
  };

  explicit RequestRead(const ServerOptions& opts) : opts_(opts) { limit(parser_, opts); }

  Step step(beast::flat_buffer& buffer) {
    for (;;) {
      if (parser_.is_header_done() && !head_checked_) {
        head_checked_ = true;
        if ((refusal_ = head_problem(opts_, parser_, head_bytes_))) return Step::refused;
        if (parser_.chunked()) head_fields_.note(parser_.get());
        if (!parser_.is_done()) return Step::head_checked;
      }
      if (parser_.is_done()) return Step::done;
      const bool in_head = !parser_.is_header_done();
      error_code ec;
      if (detail::parse_buffered(buffer, parser_, ec, in_head ? &head_bytes_ : nullptr)) {
        if (ec) return refuse(ec, buffer);
        continue;
      }
      if (in_head && head_over_limit(opts_, head_bytes_, buffer)) return refuse(http::error::header_limit, buffer);
      return Step::need_bytes;
    }
  }

  const http::request<http::string_body>& head() const { return parser_.get(); }
  std::optional<ServerResponse>& refusal() { return refusal_; }

  // After Step::done: the request as the handler gets it. Then keep_alive(), which is read after the
  // trailer fields are dropped: a Connection field in a trailer does not count.
  ServerRequest take() {
    auto& msg = parser_.get();
    ServerRequest req;
    take_request(msg, req, head_fields_);
    keep_alive_ = msg.keep_alive();
    return req;
  }
  bool keep_alive() const { return keep_alive_; }

 private:
  Step refuse(error_code ec, const beast::flat_buffer& buffer) {
    refusal_ = read_error_response(opts_, ec, buffer, parser_);
    return Step::refused;
  }

  const ServerOptions& opts_;
  http::request_parser<http::string_body> parser_;
  bool head_checked_ = false;
  std::size_t head_bytes_ = 0;  // a non-eager parser takes the head and the body in separate steps
  HeadFields head_fields_;
  std::optional<ServerResponse> refusal_;
  bool keep_alive_ = false;
};

// The writer a streamed answer to HEAD gets: the producer stops at its first write, as when a client goes.
class DiscardWriter final : public BodyWriter {
 public:
  asio::awaitable<bool> write(std::string_view) override { co_return false; }
};

// Sends a streamed response (chunked to HTTP/1.1 clients: RFC 9112 section 6.1 forbids Transfer-Encoding
// to HTTP/1.0 ones, whose body ends with the connection); false when the connection must end. Its own
// coroutine, so the serializer and the writer take frame space only for streamed responses.
template <class Stream>
asio::awaitable<bool> write_streamed(Stream& stream, const State& st, ServerResponse& resp, unsigned version,
                                     bool keep_alive, bool head) {
  auto& lowest = beast::get_lowest_layer(stream);
  const bool chunked = version >= 11;
  http::response<http::empty_body> res;
  start_response(res, resp, keep_alive, st.keep_alive_value);
  if (chunked) res.chunked(true);
  http::response_serializer<http::empty_body> sr(res);
  sr.split(true);
  bool head_written = false;
  if constexpr (detail::is_plain_tcp<Stream>) {
    error_code ec;
    detail::NowWriter now{stream.socket()};
    http::write_header(now, sr, ec);
    if (ec && !detail::would_block(ec)) co_return false;
    head_written = !ec;
  }
  if (!head_written) {
    lowest.expires_after(st.opts.read_timeout);
    auto [e, n] = co_await http::async_write_header(stream, sr, kTuple);
    lowest.expires_never();  // the reads that follow have the connection's Deadline, not this timeout
    if (e) co_return false;
  }
  if (head) {
    DiscardWriter discard;
    try {
      co_await resp.stream(discard);
    } catch (const std::exception& ex) {
      log_error("http_server: stream writer threw", ex.what());
    }
    co_return true;  // no body follows the head: the connection stays usable
  }
  ChunkWriter<Stream> writer(stream, st, chunked);
  bool threw = false;
  try {
    co_await resp.stream(writer);
  } catch (const std::exception& ex) {
    log_error("http_server: stream writer threw", ex.what());
    threw = true;
  }
  if (threw || !writer.alive()) co_return false;  // a truncated body: the peer must see the connection end
  if (chunked) {
    if (co_await write_all(stream, st, http::make_chunk_last())) co_return false;
  }
  co_return true;
}

template <class Stream>
asio::awaitable<void> session_loop(State& st, Conn& conn, Stream& stream, Deadline& deadline,
                                   const std::string& remote, std::uint64_t conn_id) {
  beast::flat_buffer buffer;
  auto& lowest = beast::get_lowest_layer(stream);
  for (;;) {
    conn.busy = false;
    if (st.stopping) co_return;
    for (int empty_lines = 0;; ++empty_lines) {
      if (buffer.size() == 0) {
        // Idle between requests: wait for the first byte of the next one.
        // 1 KiB holds a typical request; a larger one grows the buffer as the parser asks.
        deadline.expires_after(st.opts.idle_timeout);
        auto [ec, n] = co_await stream.async_read_some(buffer.prepare(1024), kTuple);
        if (ec) co_return;
        buffer.commit(n);
      }
      // RFC 9112 section 2.2: a few empty lines before a request line are ignored (a client may end a
      // body with an extra CRLF).
      const auto data = buffer.data();
      if (empty_lines == 4 || data.size() < 2 || std::string_view(static_cast<const char*>(data.data()), 2) != "\r\n")
        break;
      buffer.consume(2);
    }
    conn.busy = true;

    ServerRequest req;
    unsigned version = 11;
    bool head = false, keep_alive = false;
    {
      RequestRead read(st.opts);
      for (auto step = read.step(buffer); step != RequestRead::Step::done; step = read.step(buffer)) {
        if (step == RequestRead::Step::refused) {
          // Refused: answered, then the connection is closed (what follows may be misframed).
          if (!read.refusal()) co_return;
          if (co_await write_buffered(stream, st, *read.refusal(), false, false)) co_await linger(stream, 1024 * 1024);
          co_return;
        }
        if (step == RequestRead::Step::head_checked) {
          if (iequals(read.head()[http::field::expect], "100-continue") && read.head().version() >= 11) {
            static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
            deadline.expires_after(st.opts.read_timeout);
            auto [e, n] = co_await asio::async_write(stream, asio::buffer(kContinue.data(), kContinue.size()), kTuple);
            if (e) co_return;
          }
          continue;
        }
        // Bytes are read here and parsed by step() (not by http::async_read_some, which would parse them
        // itself and wait for more without coming back): the head limit is checked between reads.
        deadline.expires_after(st.opts.read_timeout);  // silence allowed between bytes
        auto [e, n] = co_await stream.async_read_some(buffer.prepare(beast::read_size(buffer, 65536)), kTuple);
        if (e) co_return;  // a timeout, a reset, EOF mid-request: nobody to answer
        buffer.commit(n);
      }
      version = read.head().version();
      head = read.head().method() == http::verb::head;
      req = read.take();
      keep_alive = read.keep_alive();
      // While the handler runs (seconds, for a model call) the connection holds no read buffer and no
      // parsed header (`read` ends here): 10,000 waiting chats would otherwise keep ~10 KB each.
    }
    deadline.clear();  // the handler takes its time; the answer's writes have their own timeout
    req.remote_address = remote;
    req.connection_id = conn_id;
    if (buffer.size() == 0) buffer.shrink_to_fit();

    ServerResponse resp;
    bool failed = false;
    try {
      resp = co_await st.handler(req);
    } catch (const std::exception& e) {
      log_error("http_server: handler threw", e.what());
      failed = true;
    }
    if (failed) resp = error_for(st.opts, 500, "internal", "internal error");
    // Cancelled at the end of a drain: an answer the handler could not finish becomes a plain 503 the
    // caller may retry (what it had claimed, an Idempotency-Key, was released; nothing was saved). An
    // answer it did finish (saved) is sent as it is; a stream already under way ends as the handler
    // ended it.
    if (conn.cancelled && !resp.stream && (failed || resp.status >= 500 || resp.status == 499)) {
      resp = error_for(st.opts, 503, "unavailable", "the server is shutting down; retry the request");
      resp.headers.set("Retry-After", "1");
    }

    if (resp.abort_connection) {
      lowest.close();
      co_return;
    }
    if (resp.close_connection || st.stopping) keep_alive = false;
    if (auto c = resp.headers.get("connection"); c && iequals(*c, "close")) keep_alive = false;

    if (!resp.stream) {
      if (!co_await write_buffered(stream, st, resp, keep_alive, head)) co_return;
    } else {
      if (version < 11 && !head) keep_alive = false;  // HTTP/1.0: the body ends when the connection closes
      if (!co_await write_streamed(stream, st, resp, version, keep_alive, head)) co_return;
    }
    if (!keep_alive) co_return;
  }
}

asio::awaitable<void> serve_connection(std::shared_ptr<State> st, tcp::socket socket, std::shared_ptr<Conn> conn) {
  // A drain's cancellation (Conn::cancel) makes what is awaited fail with operation_aborted, which the
  // code below turns into error values; it must not also throw from the next co_await (the handler
  // still has to release what it holds and answer).
  co_await asio::this_coro::throw_if_cancelled(false);
  conn->ex = socket.get_executor();
  std::uint64_t id;
  {
    std::lock_guard lock(st->mu);
    id = st->next_id++;
    st->conns.emplace(id, conn);
  }
  struct Unregister {
    std::shared_ptr<State> st;
    std::uint64_t id;
    ~Unregister() {
      bool last;
      {
        std::lock_guard lock(st->mu);
        st->conns.erase(id);
        last = st->conns.empty();
      }
      if (last && st->stopping) {
        asio::post(st->strand, [st = st] {
          for (auto& t : st->grace_timers) t->cancel();
          st->grace_timers.clear();
          drained(*st);
        });
      }
    }
  } unregister{st, id};

  error_code ec;
  auto ep = socket.remote_endpoint(ec);
  std::string remote = ec ? std::string() : ep.address().to_string();
  if (st->stopping) co_return;

  if (st->tls) {
    ssl::stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)), *st->tls);
    conn->close = [&stream] { beast::get_lowest_layer(stream).close(); };
    struct Reset {
      Conn& c;
      ~Reset() { c.close = nullptr; }
    } reset{*conn};
    Deadline deadline(conn->ex);
    deadline.on_expire([&stream] { beast::get_lowest_layer(stream).close(); });
    beast::get_lowest_layer(stream).expires_after(st->opts.read_timeout);
    auto [hec] = co_await stream.async_handshake(ssl::stream_base::server, kTuple);
    beast::get_lowest_layer(stream).expires_never();
    if (hec) co_return;
    co_await session_loop(*st, *conn, stream, deadline, remote, id);
    if (beast::get_lowest_layer(stream).socket().is_open()) {
      beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(2));
      co_await stream.async_shutdown(kTuple);
    }
  } else {
    beast::tcp_stream stream(std::move(socket));
    detail::set_nonblocking(stream);
    conn->close = [&stream] { stream.close(); };
    struct Reset {
      Conn& c;
      ~Reset() { c.close = nullptr; }
    } reset{*conn};
    Deadline deadline(conn->ex);
    deadline.on_expire([&stream] { stream.close(); });
    co_await session_loop(*st, *conn, stream, deadline, remote, id);
    if (stream.socket().is_open()) stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  }
}

asio::awaitable<void> accept_loop(std::shared_ptr<State> st) {
  for (;;) {
    // The connection runs on an io_context itself, not a strand of it: each context is run by one
    // thread (see the header), and a strand would add a queue hop to every completion. With several
    // contexts the socket is accepted straight onto the next one's executor: from there on, nothing of
    // the connection runs on another thread.
    asio::io_context& target = *st->contexts[st->next_context];
    st->next_context = (st->next_context + 1) % st->contexts.size();
    tcp::socket socket(target);
    auto [ec] = co_await st->acceptor.async_accept(socket, kTuple);
    if (st->stopping || !st->acceptor.is_open()) co_return;
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      // Out of descriptors or a transient failure: back off briefly instead of spinning.
      asio::steady_timer pause(st->strand, std::chrono::milliseconds(50));
      co_await pause.async_wait(kTuple);
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    auto ex = socket.get_executor();
    auto conn = std::make_shared<Conn>();
    auto& slot_owner = *conn;
    asio::co_spawn(ex, serve_connection(st, std::move(socket), std::move(conn)),
                   asio::bind_cancellation_slot(slot_owner.cancel.slot(), [](std::exception_ptr e) {
                     if (!e) return;
                     try {
                       std::rethrow_exception(e);
                     } catch (const std::exception& x) {
                       log_error("http_server: connection failed", x.what());
                     }
                   }));
  }
}

class ServerImpl final : public HttpServer {
 public:
  ServerImpl(std::vector<asio::io_context*> contexts, ServerOptions options, Handler handler)
      : st_(std::make_shared<State>(std::move(contexts), std::move(options), std::move(handler))) {}
  ~ServerImpl() override { stop(std::chrono::milliseconds(0), nullptr); }

  Result<std::uint16_t> start() override {
    auto& st = *st_;
    if (st.acceptor.is_open()) return st.port.load();
    if (st.opts.tls_cert_file.empty() != st.opts.tls_key_file.empty())
      return fail(ErrorKind::invalid_input, "TLS needs both a certificate and a key file");
    if (!st.opts.tls_cert_file.empty()) {
      auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
      ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                       ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
      error_code ec;
      ctx->use_certificate_chain_file(st.opts.tls_cert_file, ec);
      if (ec) return fail(ErrorKind::invalid_input, "cannot load TLS certificate: " + ec.message());
      ctx->use_private_key_file(st.opts.tls_key_file, ssl::context::pem, ec);
      if (ec) return fail(ErrorKind::invalid_input, "cannot load TLS key: " + ec.message());
      st.tls = std::move(ctx);
    }
    error_code ec;
    auto address = asio::ip::make_address(st.opts.host, ec);
    tcp::endpoint endpoint;
    if (ec) {
      tcp::resolver resolver(st.io);
      auto results = resolver.resolve(st.opts.host, std::to_string(st.opts.port), ec);
      if (ec || results.empty()) return fail(ErrorKind::invalid_input, "cannot resolve listen host " + st.opts.host);
      endpoint = results.begin()->endpoint();
    } else {
      endpoint = tcp::endpoint(address, st.opts.port);
    }
    st.acceptor.open(endpoint.protocol(), ec);
    if (!ec) st.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) st.acceptor.bind(endpoint, ec);
    if (!ec) st.acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      error_code ignored;
      st.acceptor.close(ignored);
      return fail(ErrorKind::unavailable, "cannot listen on " + st.opts.host + ":" + std::to_string(st.opts.port) +
                                              ": " + ec.message());
    }
    st.port = st.acceptor.local_endpoint(ec).port();
    asio::co_spawn(st.strand, accept_loop(st_), asio::detached);
    return st.port.load();
  }

  void stop(std::chrono::milliseconds grace, std::function<void()> on_drained) override {
    auto st = st_;
    st->stopping = true;
    asio::dispatch(st->strand, [st, grace, on_drained = std::move(on_drained)]() mutable {
      error_code ec;
      st->acceptor.close(ec);
      if (on_drained) st->on_drained = std::move(on_drained);
      auto conns = snapshot(*st);
      if (conns.empty()) {
        drained(*st);
        return;
      }
      for (auto& c : conns) close_conn_on_strand(c, true);
      auto timer = std::make_shared<asio::steady_timer>(st->strand, grace);
      st->grace_timers.push_back(timer);
      timer->async_wait([st](error_code e) {
        if (e) return;
        // The grace is over: cancel what is still being handled (it releases what it holds and
        // answers 503), close the idle rest; whatever has not ended kDrainCancelGrace later is closed.
        for (auto& c : snapshot(*st)) cancel_conn_on_strand(c);
        auto last = std::make_shared<asio::steady_timer>(st->strand, kDrainCancelGrace);
        st->grace_timers.push_back(last);
        last->async_wait([st](error_code e2) {
          if (e2) return;
          for (auto& c : snapshot(*st)) close_conn_on_strand(c, false);
          drained(*st);  // the closed connections end on their own; nothing waits for them any more
        });
      });
    });
  }

  std::uint16_t port() const override { return st_->port.load(); }

 private:
  std::shared_ptr<State> st_;
};

}  // namespace

std::unique_ptr<HttpServer> make_http_server(asio::io_context& io, ServerOptions options, Handler handler) {
  return std::make_unique<ServerImpl>(std::vector<asio::io_context*>{&io}, std::move(options), std::move(handler));
}

std::unique_ptr<HttpServer> make_http_server(std::vector<asio::io_context*> contexts, ServerOptions options,
                                             Handler handler) {
  if (contexts.empty()) throw std::invalid_argument("make_http_server: no io_context");
  return std::make_unique<ServerImpl>(std::move(contexts), std::move(options), std::move(handler));
}

ReadRequests read_requests(std::string_view bytes, const ServerOptions& options, std::size_t piece) {
  ReadRequests out;
  beast::flat_buffer buffer;
  std::size_t fed = 0;
  auto feed = [&] {  // the next piece "arrives"; false at the end of the bytes (the peer closed)
    if (fed == bytes.size()) return false;
    const std::size_t n = piece ? std::min(piece, bytes.size() - fed) : bytes.size() - fed;
    auto into = buffer.prepare(n);
    std::memcpy(into.data(), bytes.data() + fed, n);
    buffer.commit(n);
    fed += n;
    return true;
  };
  for (;;) {
    if (buffer.size() == 0 && !feed()) return out;
    RequestRead read(options);
    for (auto step = read.step(buffer); step != RequestRead::Step::done; step = read.step(buffer)) {
      if (step == RequestRead::Step::refused) {
        out.error = std::move(read.refusal());
        out.incomplete = !out.error;
        return out;
      }
      if (step == RequestRead::Step::need_bytes && !feed()) {
        out.incomplete = true;  // the server answers nothing to a request cut short
        return out;
      }
    }
    out.requests.push_back(read.take());
    if (!read.keep_alive()) return out;
  }
}

}  // namespace ba::net
