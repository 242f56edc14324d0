// bench/loadgen: a small HTTP/1.1 load generator for the overhead, streaming and concurrency benchmarks
// (bench/run.mjs drives it; docs/performance.md). One thread, one io_context, keep-alive connections.
//
//   rate   open loop: request i is due at start + i/rate; latency is measured from that intended send
//          time, not from when a connection was free, so a slow server is not hidden by the client
//          waiting for it (no coordinated omission). Connections are opened as needed up to --max-conns;
//          above it, due requests queue (and their queueing time counts).
//   closed fixed concurrency: --concurrency connections each send the next request when the last ends.
//   ttfb   sequential requests (one connection): time to the first response body byte and to the first
//          occurrence of --marker in the body (e.g. the first text delta of a stream).
//   burst  --concurrency connections are opened first, then each sends one request at the same moment;
//          how many succeed (latency from that moment).
//   relay  a do-nothing TCP forwarder (the control for "added latency"): listens on --listen-port and
//          copies bytes both ways to --port, one thread, no parsing; prints "relay listening" and runs
//          until killed. What any proxy costs on this machine before it does any work.
//
// Usage: bench_loadgen MODE --port=P --path=/x [--host=127.0.0.1] [--body-file=F | --body=S]
//        [--header='Name: value']... [--rate=R] [--concurrency=C] [--duration=S] [--warmup=S]
//        [--max-conns=N] [--count=N] [--marker=S] [--timeout=S] [--connect-parallel=N] [--method=POST]
// Prints one JSON object on stdout: counts, statuses, errors, throughput, latency percentiles in µs.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "util/json_number.hpp"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using namespace std::chrono;
using namespace asio::experimental::awaitable_operators;

namespace {

struct Args {
  std::string mode;
  std::string host = "127.0.0.1";
  unsigned short port = 0;
  std::string path = "/";
  std::string method = "POST";
  std::string body;
  std::vector<std::string> headers;
  double rate = 1000;
  int concurrency = 16;
  double duration = 10, warmup = 2;
  int max_conns = 1024;
  int count = 200;
  std::string marker;
  double timeout = 30;
  int connect_parallel = 256;
  unsigned short listen_port = 0;
};

Args parse(int argc, char** argv) {
  Args a;
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_loadgen rate|closed|ttfb|burst|relay --port=P --path=/x ...\n");
    std::exit(2);
  }
  a.mode = argv[1];
  for (int i = 2; i < argc; ++i) {
    std::string s = argv[i];
    auto eq = s.find('=');
    std::string k = s.substr(0, eq), v = eq == std::string::npos ? "" : s.substr(eq + 1);
    if (k == "--host") a.host = v;
    else if (k == "--port") a.port = static_cast<unsigned short>(std::stoi(v));
    else if (k == "--path") a.path = v;
    else if (k == "--method") a.method = v;
    else if (k == "--body") a.body = v;
    else if (k == "--body-file") {
      std::ifstream f(v, std::ios::binary);
      std::stringstream ss;
      ss << f.rdbuf();
      a.body = ss.str();
    } else if (k == "--header") a.headers.push_back(v);
    else if (k == "--rate") a.rate = std::stod(v);
    else if (k == "--listen-port") a.listen_port = static_cast<unsigned short>(std::stoi(v));
    else if (k == "--concurrency") a.concurrency = std::stoi(v);
    else if (k == "--duration") a.duration = std::stod(v);
    else if (k == "--warmup") a.warmup = std::stod(v);
    else if (k == "--max-conns") a.max_conns = std::stoi(v);
    else if (k == "--count") a.count = std::stoi(v);
    else if (k == "--marker") a.marker = v;
    else if (k == "--timeout") a.timeout = std::stod(v);
    else if (k == "--connect-parallel") a.connect_parallel = std::stoi(v);
    else {
      std::fprintf(stderr, "bench_loadgen: unknown option %s\n", s.c_str());
      std::exit(2);
    }
  }
  return a;
}

struct Conn {
  explicit Conn(asio::io_context& io) : socket(io) {}
  tcp::socket socket;
  beast::flat_buffer buffer;
  // The server's `Keep-Alive: timeout=N` hint, as Node's http.Agent reads it: an idle connection is not
  // reused from 1 s before the server would close it (a request sent into that close is lost).
  Clock::time_point reuse_until = Clock::time_point::max();
};

// N from a `Keep-Alive: timeout=N` field, if there is one.
std::optional<int> keep_alive_timeout(std::string_view field) {
  auto at = field.find("timeout=");
  if (at == std::string_view::npos) return std::nullopt;
  int n = 0;
  auto [end, ec] = std::from_chars(field.data() + at + 8, field.data() + field.size(), n);
  if (ec != std::errc{} || n < 0) return std::nullopt;
  return n;
}

struct Outcome {
  int status = 0;           // 0: transport error
  std::string error;
  bool keep_alive = false;
};

struct Stats {
  std::vector<double> latency_us;  // of requests inside the measurement window
  std::map<int, std::uint64_t> statuses;
  std::map<std::string, std::uint64_t> errors;
  std::uint64_t completed = 0;     // inside the window
  std::uint64_t ok = 0;            // 2xx inside the window
  std::uint64_t connections_opened = 0;
  std::uint64_t retired_idle = 0;  // idle connections closed at the server's Keep-Alive hint (rate mode)

  void record(const Outcome& o, double us) {
    ++completed;
    if (o.status == 0) {
      ++errors[o.error];
    } else {
      ++statuses[o.status];
      if (o.status >= 200 && o.status < 300) ++ok;
    }
    latency_us.push_back(us);
  }
};

double pct(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  auto idx = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(idx, v.size() - 1)];
}

json::object summary(Stats& s, double window_s) {
  std::sort(s.latency_us.begin(), s.latency_us.end());
  json::object o;
  o["completed"] = s.completed;
  o["ok"] = s.ok;
  o["throughput_rps"] = window_s > 0 ? static_cast<double>(s.completed) / window_s : 0.0;
  o["ok_rps"] = window_s > 0 ? static_cast<double>(s.ok) / window_s : 0.0;
  json::object st;
  for (auto& [k, v] : s.statuses) st[std::to_string(k)] = v;
  o["statuses"] = st;
  json::object er;
  for (auto& [k, v] : s.errors) er[k] = v;
  o["errors"] = er;
  o["connections_opened"] = s.connections_opened;
  o["connections_retired_idle"] = s.retired_idle;
  json::object lat;
  lat["p50"] = pct(s.latency_us, 0.50);
  lat["p90"] = pct(s.latency_us, 0.90);
  lat["p99"] = pct(s.latency_us, 0.99);
  lat["p999"] = pct(s.latency_us, 0.999);
  lat["max"] = s.latency_us.empty() ? 0.0 : s.latency_us.back();
  double sum = 0;
  for (double x : s.latency_us) sum += x;
  lat["mean"] = s.latency_us.empty() ? 0.0 : sum / static_cast<double>(s.latency_us.size());
  o["latency_us"] = lat;
  return o;
}

class Generator {
 public:
  Generator(asio::io_context& io, Args args) : io_(io), a_(std::move(args)) {
    request_ = a_.method + " " + a_.path + " HTTP/1.1\r\nHost: " + a_.host + ":" + std::to_string(a_.port) +
               "\r\nContent-Type: application/json\r\n";
    for (auto& h : a_.headers) request_ += h + "\r\n";
    request_ += "Content-Length: " + std::to_string(a_.body.size()) + "\r\n\r\n" + a_.body;
    endpoint_ = tcp::endpoint(asio::ip::make_address(a_.host), a_.port);
  }

  asio::awaitable<std::shared_ptr<Conn>> connect() {
    auto c = std::make_shared<Conn>(io_);
    co_await c->socket.async_connect(endpoint_, asio::use_awaitable);
    c->socket.set_option(tcp::no_delay(true));
    ++stats_.connections_opened;
    co_return c;
  }

  // One request on `c`. With `first_byte`, also times the first body byte and the marker.
  asio::awaitable<Outcome> exchange(Conn& c, Clock::time_point* first_byte = nullptr,
                                    Clock::time_point* marker_at = nullptr) {
    Outcome out;
    try {
      co_await asio::async_write(c.socket, asio::buffer(request_), asio::use_awaitable);
      http::response_parser<http::string_body> p;
      p.body_limit(64 * 1024 * 1024);
      if (!first_byte) {
        co_await http::async_read(c.socket, c.buffer, p, asio::use_awaitable);
      } else {
        bool got_first = false, got_marker = a_.marker.empty();
        while (!p.is_done()) {
          co_await http::async_read_some(c.socket, c.buffer, p, asio::use_awaitable);
          auto now = Clock::now();
          const auto& body = p.get().body();
          if (!got_first && !body.empty()) {
            got_first = true;
            *first_byte = now;
          }
          if (!got_marker && body.find(a_.marker) != std::string::npos) {
            got_marker = true;
            *marker_at = now;
          }
        }
      }
      out.status = static_cast<int>(p.get().result_int());
      out.keep_alive = p.get().keep_alive();
      if (auto it = p.get().find(http::field::keep_alive); it != p.get().end()) {
        if (auto n = keep_alive_timeout(it->value())) c.reuse_until = Clock::now() + seconds(*n) - seconds(1);
      }
    } catch (const boost::system::system_error& e) {
      out.error = e.code().message();
    }
    co_return out;
  }

  // --- rate: open loop ---
  asio::awaitable<void> rate_worker(std::shared_ptr<Conn> c, Clock::time_point intended) {
    for (;;) {
      Outcome o;
      if (!c) {
        try {
          c = co_await connect();
        } catch (const boost::system::system_error& e) {
          o.error = "connect: " + e.code().message();
        }
      }
      if (c) o = co_await exchange(*c);
      auto done = Clock::now();
      if (intended >= window_start_ && intended < window_end_) {
        stats_.record(o, duration<double, std::micro>(done - intended).count());
      }
      if (!o.keep_alive || o.status == 0) c.reset();
      if (pending_.empty()) break;
      intended = pending_.front();
      pending_.pop_front();
    }
    if (c) {
      idle_.push_back(std::move(c));
    } else {
      --open_;
    }
  }

  asio::awaitable<void> run_rate() {
    auto start = Clock::now() + milliseconds(20);
    window_start_ = start + duration_cast<Clock::duration>(duration<double>(a_.warmup));
    window_end_ = window_start_ + duration_cast<Clock::duration>(duration<double>(a_.duration));
    const double interval_ns = 1e9 / a_.rate;
    asio::steady_timer timer(io_);
    for (std::uint64_t i = 0;; ++i) {
      auto t = start + nanoseconds(static_cast<std::int64_t>(static_cast<double>(i) * interval_ns));
      if (t >= window_end_) break;
      if (t > Clock::now()) {
        timer.expires_at(t);
        co_await timer.async_wait(asio::use_awaitable);
      }
      while (!idle_.empty() && idle_.back()->reuse_until <= Clock::now()) {
        idle_.pop_back();  // past the server's idle hint: closed here, not reused
        --open_;
        ++stats_.retired_idle;
      }
      if (!idle_.empty()) {
        auto c = std::move(idle_.back());
        idle_.pop_back();
        asio::co_spawn(io_, rate_worker(std::move(c), t), asio::detached);
      } else if (open_ < a_.max_conns) {
        ++open_;
        asio::co_spawn(io_, rate_worker(nullptr, t), asio::detached);
      } else {
        pending_.push_back(t);
      }
      ++scheduled_;
    }
    // Let in-flight requests finish (up to --timeout), then stop.
    auto drain_until = Clock::now() + duration_cast<Clock::duration>(duration<double>(a_.timeout));
    while ((static_cast<int>(idle_.size()) < open_ || !pending_.empty()) && Clock::now() < drain_until) {
      timer.expires_after(milliseconds(5));
      co_await timer.async_wait(asio::use_awaitable);
    }
    result_ = summary(stats_, a_.duration);
    result_["mode"] = "rate";
    result_["target_rps"] = a_.rate;
    result_["scheduled_in_window"] = static_cast<std::uint64_t>(a_.rate * a_.duration);
    result_["max_conns"] = a_.max_conns;
    result_["unfinished"] = open_ - static_cast<int>(idle_.size()) + static_cast<int>(pending_.size());
    io_.stop();
  }

  // --- closed: fixed concurrency ---
  asio::awaitable<void> closed_worker() {
    std::shared_ptr<Conn> c;
    while (Clock::now() < window_end_) {
      Outcome o;
      auto t0 = Clock::now();
      if (!c) {
        try {
          c = co_await connect();
        } catch (const boost::system::system_error& e) {
          o.error = "connect: " + e.code().message();
        }
      }
      if (c) o = co_await exchange(*c);
      auto done = Clock::now();
      if (t0 >= window_start_ && done < window_end_) stats_.record(o, duration<double, std::micro>(done - t0).count());
      if (!o.keep_alive || o.status == 0) c.reset();
    }
    if (--running_ == 0) {
      result_ = summary(stats_, a_.duration);
      result_["mode"] = "closed";
      result_["concurrency"] = a_.concurrency;
      io_.stop();
    }
  }

  void start_closed() {
    auto start = Clock::now();
    window_start_ = start + duration_cast<Clock::duration>(duration<double>(a_.warmup));
    window_end_ = window_start_ + duration_cast<Clock::duration>(duration<double>(a_.duration));
    running_ = a_.concurrency;
    for (int i = 0; i < a_.concurrency; ++i) asio::co_spawn(io_, closed_worker(), asio::detached);
  }

  // --- ttfb: sequential streamed requests ---
  asio::awaitable<void> run_ttfb() {
    Stats first, marker, total;
    std::shared_ptr<Conn> c;
    int warm = std::max(1, a_.count / 10);
    for (int i = 0; i < a_.count + warm; ++i) {
      Outcome o;
      if (!c) {
        try {
          c = co_await connect();
        } catch (const boost::system::system_error& e) {
          o.error = "connect: " + e.code().message();
        }
      }
      auto t0 = Clock::now();
      Clock::time_point fb = t0, mk = t0;
      if (c) o = co_await exchange(*c, &fb, &mk);
      auto done = Clock::now();
      if (i >= warm) {
        total.record(o, duration<double, std::micro>(done - t0).count());
        if (o.status >= 200 && o.status < 300) {
          first.latency_us.push_back(duration<double, std::micro>(fb - t0).count());
          marker.latency_us.push_back(duration<double, std::micro>(mk - t0).count());
        }
      }
      if (!o.keep_alive || o.status == 0) c.reset();
    }
    result_ = summary(total, 0);
    result_["mode"] = "ttfb";
    result_["first_byte_us"] = summary(first, 0)["latency_us"];
    result_["first_marker_us"] = summary(marker, 0)["latency_us"];
    result_["marker"] = a_.marker;
    io_.stop();
  }

  // --- burst: N requests in flight at once ---
  asio::awaitable<void> burst_one(Clock::time_point deadline) {
    Outcome o;
    std::shared_ptr<Conn> c;
    // Connect with bounded parallelism (a listen backlog overflow is not what this measures).
    while (connecting_ >= a_.connect_parallel) {
      co_await slot_gate_.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    ++connecting_;
    try {
      c = co_await connect();
    } catch (const boost::system::system_error& e) {
      o.error = "connect: " + e.code().message();
    }
    --connecting_;
    slot_gate_.cancel_one();
    // Every request leaves at once: wait until all connections are open (or failed).
    if (++connected_ == a_.concurrency) {
      send_start_ = Clock::now();
      start_gate_.cancel();
    } else {
      co_await start_gate_.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    auto t0 = Clock::now();
    if (c) {
      ++in_flight_;
      peak_in_flight_ = std::max(peak_in_flight_, in_flight_);
      asio::steady_timer timer(io_, deadline);
      auto r = co_await (exchange(*c) || timer.async_wait(asio::use_awaitable));
      if (r.index() == 0) {
        o = std::get<0>(r);
      } else {
        o.error = "client timeout";
      }
      --in_flight_;
    }
    stats_.record(o, duration<double, std::micro>(Clock::now() - t0).count());
    if (--running_ == 0) {
      result_ = summary(stats_, 0);
      result_["mode"] = "burst";
      result_["concurrency"] = a_.concurrency;
      result_["client_peak_in_flight"] = peak_in_flight_;
      result_["connect_s"] = duration<double>(send_start_ - burst_start_).count();
      result_["wall_s"] = duration<double>(Clock::now() - burst_start_).count();
      io_.stop();
    }
  }

  void start_burst() {
    burst_start_ = Clock::now();
    slot_gate_.expires_at(Clock::time_point::max());
    start_gate_.expires_at(Clock::time_point::max());
    auto deadline = burst_start_ + duration_cast<Clock::duration>(duration<double>(a_.timeout));
    running_ = a_.concurrency;
    for (int i = 0; i < a_.concurrency; ++i) asio::co_spawn(io_, burst_one(deadline), asio::detached);
  }

  json::object result_;

 private:
  asio::io_context& io_;
  Args a_;
  std::string request_;
  tcp::endpoint endpoint_;
  Stats stats_;
  Clock::time_point window_start_, window_end_, burst_start_, send_start_;
  asio::steady_timer slot_gate_{io_}, start_gate_{io_};
  int connected_ = 0;
  std::vector<std::shared_ptr<Conn>> idle_;
  std::deque<Clock::time_point> pending_;
  int open_ = 0, running_ = 0, connecting_ = 0;
  std::int64_t in_flight_ = 0, peak_in_flight_ = 0;
  std::uint64_t scheduled_ = 0;
};

// relay mode: bytes from one socket to the other until either side ends.
asio::awaitable<void> pump(std::shared_ptr<tcp::socket> from, std::shared_ptr<tcp::socket> to) {
  std::vector<char> buf(16 * 1024);
  for (;;) {
    auto [ec, n] = co_await from->async_read_some(asio::buffer(buf), asio::as_tuple(asio::use_awaitable));
    if (ec) break;
    auto [wec, wn] = co_await asio::async_write(*to, asio::buffer(buf.data(), n), asio::as_tuple(asio::use_awaitable));
    if (wec) break;
  }
  boost::system::error_code ignored;
  to->shutdown(tcp::socket::shutdown_send, ignored);
}

asio::awaitable<void> relay(asio::io_context& io, Args a) {
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), a.listen_port));
  const tcp::endpoint upstream(asio::ip::make_address(a.host), a.port);
  std::printf("relay listening %u\n", acceptor.local_endpoint().port());
  std::fflush(stdout);
  for (;;) {
    auto client = std::make_shared<tcp::socket>(io);
    auto [ec] = co_await acceptor.async_accept(*client, asio::as_tuple(asio::use_awaitable));
    if (ec) continue;
    auto server = std::make_shared<tcp::socket>(io);
    auto [cec] = co_await server->async_connect(upstream, asio::as_tuple(asio::use_awaitable));
    if (cec) continue;
    client->set_option(tcp::no_delay(true));
    server->set_option(tcp::no_delay(true));
    asio::co_spawn(io, pump(client, server), asio::detached);
    asio::co_spawn(io, pump(server, client), asio::detached);
  }
}

}  // namespace

int main(int argc, char** argv) {
  Args a = parse(argc, argv);
  asio::io_context io(1);
  Generator g(io, a);
  if (a.mode == "rate") {
    asio::co_spawn(io, g.run_rate(), asio::detached);
  } else if (a.mode == "closed") {
    g.start_closed();
  } else if (a.mode == "ttfb") {
    asio::co_spawn(io, g.run_ttfb(), asio::detached);
  } else if (a.mode == "burst") {
    g.start_burst();
  } else if (a.mode == "relay") {
    asio::co_spawn(io, relay(io, a), asio::detached);
  } else {
    std::fprintf(stderr, "bench_loadgen: unknown mode %s\n", a.mode.c_str());
    return 2;
  }
  io.run();
  json::value out = std::move(g.result_);
  ba::whole_numbers_as_integers(out);  // 100, not 1E2
  std::printf("%s\n", json::serialize(out).c_str());
  return 0;
}
