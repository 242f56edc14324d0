#pragma once
// Helpers for the simulator tests: run the handler in-process, collect streamed bodies, decode frames,
// and run the simulator on a real port.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "aws/eventstream.hpp"
#include "net/url.hpp"
#include "sim/simulator.hpp"

namespace ba::sim::testing {

// Runs `aw` to completion on `io` (single thread) and returns its value; rethrows its exception.
template <class T>
T run(boost::asio::io_context& io, boost::asio::awaitable<T> aw) {
  std::optional<T> out;
  std::exception_ptr error;
  boost::asio::co_spawn(io, std::move(aw), [&](std::exception_ptr e, T value) {
    error = e;
    if (!e) out = std::move(value);
  });
  io.restart();
  io.run();
  if (error) std::rethrow_exception(error);
  return std::move(*out);
}

class CollectingWriter final : public net::BodyWriter {
 public:
  explicit CollectingWriter(int fail_after = -1) : fail_after_(fail_after) {}
  boost::asio::awaitable<bool> write(std::string_view chunk) override {
    if (fail_after_ >= 0 && writes_ >= fail_after_) co_return false;
    ++writes_;
    body += chunk;
    co_return true;
  }
  std::string body;

 private:
  int fail_after_;
  int writes_ = 0;
};

// The handler's answer, with any streamed body collected.
struct Answer {
  net::ServerResponse response;
  std::string body;     // response.body, or the streamed bytes
  bool threw = false;   // the stream writer threw (dropped connection)
};

inline boost::asio::awaitable<Answer> call(Simulator& sim, net::ServerRequest req, int fail_after = -1) {
  Answer a;
  a.response = co_await sim.handle(req);
  a.body = a.response.body;
  if (a.response.stream) {
    CollectingWriter w(fail_after);
    try {
      co_await a.response.stream(w);
    } catch (const std::exception&) {
      a.threw = true;
    }
    a.body = w.body;
    a.response.stream = nullptr;  // releases the stream's state (settles quotas)
  }
  co_return a;
}

inline net::ServerRequest model_request(std::string_view model, std::string_view op, std::string body,
                                        std::string fault = {}) {
  net::ServerRequest r;
  r.method = "POST";
  r.path = "/model/" + net::uri_encode(model) + "/" + std::string(op);
  r.target = r.path;
  r.headers.add("Host", "127.0.0.1:4000");
  r.headers.add("Content-Type", "application/json");
  r.headers.add("X-Amz-Date", "20231114T221320Z");
  r.headers.add("Authorization",
                "AWS4-HMAC-SHA256 Credential=AKIDANY/20231114/us-east-1/bedrock/aws4_request, "
                "SignedHeaders=host;x-amz-date, Signature=0123456789abcdef");
  if (!fault.empty()) r.headers.add("x-sim-fault", std::move(fault));
  r.body = std::move(body);
  return r;
}

inline std::string converse_body(std::string_view text, std::optional<int> max_tokens = std::nullopt) {
  boost::json::object o{{"messages", boost::json::array{boost::json::object{
                                          {"role", "user"}, {"content", boost::json::array{boost::json::object{{"text", text}}}}}}}};
  if (max_tokens) o["inferenceConfig"] = boost::json::object{{"maxTokens", *max_tokens}};
  return boost::json::serialize(o);
}

inline std::string claude_body(std::string_view text, int max_tokens = 100) {
  return boost::json::serialize(boost::json::object{
      {"anthropic_version", "bedrock-2023-05-31"},
      {"max_tokens", max_tokens},
      {"messages", boost::json::array{boost::json::object{{"role", "user"}, {"content", text}}}}});
}

inline std::string titan_body(std::string_view text, int max_tokens = 50) {
  return boost::json::serialize(boost::json::object{
      {"inputText", text}, {"textGenerationConfig", boost::json::object{{"maxTokenCount", max_tokens}}}});
}

struct Frame {
  std::string message_type, event_type, exception_type, content_type;
  std::string payload;
  boost::json::value json() const { return boost::json::parse(payload); }
};

struct Frames {
  std::vector<Frame> frames;
  bool partial = false;  // an incomplete frame at the end
};

inline Frames decode_frames(std::string_view bytes) {
  aws::eventstream::Decoder d;
  d.feed(bytes);
  Frames out;
  while (true) {
    auto next = d.next();
    if (!next) throw std::runtime_error("corrupt event stream: " + next.error().message);
    if (!*next) break;
    const auto& m = **next;
    Frame f;
    f.message_type = std::string(m.header(":message-type").value_or(""));
    f.event_type = std::string(m.header(":event-type").value_or(""));
    f.exception_type = std::string(m.header(":exception-type").value_or(""));
    f.content_type = std::string(m.header(":content-type").value_or(""));
    f.payload = m.payload;
    out.frames.push_back(std::move(f));
  }
  out.partial = d.has_partial();
  return out;
}

// The simulator on 127.0.0.1:<ephemeral> with its io_context on a background thread.
class SimThread {
 public:
  explicit SimThread(SimulatorOptions options) {
    sim_ = make_simulator(io_, std::move(options));
    auto port = sim_->start();
    if (!port) throw std::runtime_error(port.error().message);
    port_ = *port;
    thread_ = std::thread([this] { io_.run(); });
  }
  ~SimThread() {
    sim_->stop(std::chrono::milliseconds(0));
    if (thread_.joinable()) thread_.join();
  }
  std::uint16_t port() const { return port_; }
  Simulator& sim() { return *sim_; }

 private:
  boost::asio::io_context io_;
  std::unique_ptr<Simulator> sim_;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

}  // namespace ba::sim::testing
