#include "sim/simulator.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <deque>
#include <mutex>
#include <stdexcept>

#include "aws/eventstream.hpp"
#include "net/url.hpp"
#include "sim/auth.hpp"
#include "sim/quota.hpp"
#include "sim/reply.hpp"
#include "sim/requests.hpp"
#include "util/encoding.hpp"

namespace ba::sim {
namespace asio = boost::asio;
namespace json = boost::json;
using std::chrono::milliseconds;

namespace {

constexpr const char* kBedrockNamespace = "http://internal.amazon.com/coral/com.amazon.bedrock/";
constexpr const char* kEventStream = "application/vnd.amazon.eventstream";

enum class Operation { converse, converse_stream, invoke, invoke_stream };

const char* operation_name(Operation op) {
  switch (op) {
    case Operation::converse: return "Converse";
    case Operation::converse_stream: return "ConverseStream";
    case Operation::invoke: return "InvokeModel";
    case Operation::invoke_stream: return "InvokeModelWithResponseStream";
  }
  return "";
}

bool is_stream(Operation op) { return op == Operation::converse_stream || op == Operation::invoke_stream; }

struct ErrorSpec {
  int status = 500;
  const char* type = "";
  const char* message = "";
};

ErrorSpec error_for(FaultKind kind) {
  switch (kind) {
    case FaultKind::throttle: return {429, "ThrottlingException", throttle_message(QuotaVerdict::too_many_requests)};
    case FaultKind::throttle_tokens: return {429, "ThrottlingException", throttle_message(QuotaVerdict::too_many_tokens)};
    case FaultKind::throttle_daily:
      return {429, "ThrottlingException", throttle_message(QuotaVerdict::too_many_tokens_per_day)};
    case FaultKind::internal:
      return {500, "InternalServerException",
              "The system encountered an unexpected error during processing. Try your request again."};
    case FaultKind::unavailable: return {503, "ServiceUnavailableException", "Bedrock is unable to process your request."};
    case FaultKind::model_timeout:
      return {408, "ModelTimeoutException", "Model has timed out in processing the request. Try your request again."};
    case FaultKind::model_not_ready:
      return {429, "ModelNotReadyException",
              "Model is not ready to serve inference requests. The model may be loading; try again later."};
    case FaultKind::model_error: return {424, "ModelErrorException", "The model returned an error. Try your request again."};
    case FaultKind::access_denied:
      return {403, "AccessDeniedException", "You don't have access to the model with the specified model ID."};
    case FaultKind::not_found: return {404, "ResourceNotFoundException", "Model not found: the requested model does not exist."};
    case FaultKind::service_quota:
      return {400, "ServiceQuotaExceededException",
              "Your request exceeds the service quota for your account. You can view your quotas at "
              "https://docs.aws.amazon.com/servicequotas/latest/userguide/gs-request-quota.html."};
    case FaultKind::validation:
      return {400, "ValidationException",
              "Malformed input request: simulated validation fault, please reformat your input and try again."};
    default: break;
  }
  return {};
}

// The message of an in-stream exception frame, by its lowerCamel type.
std::string stream_exception_message(std::string_view type) {
  if (type == "throttlingException") return throttle_message(QuotaVerdict::too_many_requests);
  if (type == "internalServerException") return error_for(FaultKind::internal).message;
  if (type == "serviceUnavailableException") return error_for(FaultKind::unavailable).message;
  if (type == "validationException") return error_for(FaultKind::validation).message;
  if (type == "modelTimeoutException") return error_for(FaultKind::model_timeout).message;
  if (type == "modelStreamErrorException") return "The model encountered an error while streaming its response.";
  return "Simulated in-stream exception.";
}

net::ServerResponse json_response(int status, const json::value& body, const std::string& request_id) {
  net::ServerResponse r;
  r.status = status;
  r.headers.set("Content-Type", "application/json");
  r.headers.set("x-amzn-RequestId", request_id);
  r.body = json::serialize(body);
  return r;
}

net::ServerResponse error_response(int status, std::string_view type, std::string_view message,
                                   const std::string& request_id, std::string_view ns = kBedrockNamespace,
                                   json::object extra = {}) {
  extra["message"] = message;
  extra["__type"] = type;
  auto r = json_response(status, extra, request_id);
  r.headers.set("x-amzn-ErrorType", std::string(type) + ":" + std::string(ns));
  return r;
}

// Converse's usage; with cache points (caching) also cacheReadInputTokens and cacheWriteInputTokens
// (totalTokens counts them: inputTokens does not).
json::object converse_usage(std::int64_t in, std::int64_t out, const CacheUse& cached, bool caching) {
  json::object u{{"inputTokens", in}, {"outputTokens", out}, {"totalTokens", in + out + cached.read + cached.write}};
  if (caching) {
    u["cacheReadInputTokens"] = cached.read;
    u["cacheWriteInputTokens"] = cached.write;
  }
  return u;
}

std::string event_frame(std::string_view event_type, const json::value& payload) {
  return aws::eventstream::encode(
      {{":event-type", std::string(event_type)}, {":content-type", "application/json"}, {":message-type", "event"}},
      json::serialize(payload));
}

std::string exception_frame(std::string_view exception_type, std::string_view message) {
  json::object payload{{"message", message}};
  return aws::eventstream::encode({{":exception-type", std::string(exception_type)},
                                   {":content-type", "application/json"},
                                   {":message-type", "exception"}},
                                  json::serialize(payload));
}

// The tool call a request gets: tools offered and either a forced choice (any, a named tool) or a last
// user message without tool results; none for Claude's tool_choice none.
std::optional<ToolCall> tool_call_for(const ParsedRequest& p, std::uint64_t seed, const std::string& fingerprint) {
  if (p.tools.empty() || p.tool_choice == "none") return std::nullopt;
  const bool forced = p.tool_choice == "any" || p.tool_choice == "tool";
  if (!forced && p.last_user_has_tool_results) return std::nullopt;
  const ParsedRequest::Tool* chosen = &p.tools.front();
  if (p.tool_choice == "tool")
    for (const auto& t : p.tools)
      if (t.name == p.tool_choice_name) chosen = &t;
  return make_tool_call(seed, fingerprint, chosen->name, chosen->schema);
}

// The text before a tool call: a short sentence when the model chose to call (auto), none when forced.
Reply tool_preface(const ParsedRequest& p, const ToolCall& tool) {
  Reply r;
  if (p.tool_choice == "any" || p.tool_choice == "tool") return r;
  r.pieces = {"Calling", " " + tool.name + "."};
  r.text = r.pieces[0] + r.pieces[1];
  r.output_tokens = count_tokens(r.text);
  return r;
}

// ---- Guardrails (SimulatorOptions::guardrail_trigger) ----

struct Guardrail {
  std::string id, version;
  bool traced = false;      // trace enabled or enabled_full
  bool intervenes = false;  // the trigger word is in the last user message
  std::string word;         // the trigger, as configured
};

// A trace.guardrail in Converse's shape: the input assessment of the guardrail, by its id.
json::object guardrail_trace(const Guardrail& g) {
  json::object words{{"customWords", json::array{json::object{{"match", g.word}, {"action", "BLOCKED"}, {"detected", true}}}}};
  return json::object{{"guardrail", {{"inputAssessment", {{g.id, {{"wordPolicy", std::move(words)}}}}}}}};
}

// Claude's native usage; with cache marks (caching) also cache_creation_input_tokens and cache_read_input_tokens.
json::object claude_usage(std::int64_t in, std::int64_t out, const CacheUse& cached, bool caching) {
  json::object u{{"input_tokens", in}, {"output_tokens", out}};
  if (caching) {
    u["cache_creation_input_tokens"] = cached.write;
    u["cache_read_input_tokens"] = cached.read;
  }
  return u;
}

json::object converse_metadata(std::int64_t in, std::int64_t out, const CacheUse& cached, bool caching, std::int64_t latency_ms,
                               bool blocked, const Guardrail& g) {
  json::object m{{"usage", converse_usage(in, out, cached, caching)}, {"metrics", {{"latencyMs", latency_ms}}}};
  if (blocked && g.traced) m["trace"] = guardrail_trace(g);
  return m;
}

// Claude's message_delta; a blocked answer carries the guardrail's action, as on Bedrock.
json::object claude_message_delta(std::string_view stop, std::int64_t out, bool blocked) {
  json::object d{{"type", "message_delta"}, {"delta", {{"stop_reason", stop}, {"stop_sequence", nullptr}}}, {"usage", {{"output_tokens", out}}}};
  if (blocked) d["amazon-bedrock-guardrailAction"] = "INTERVENED";
  return d;
}

// Claude's content blocks: the text (unless a tool call has none) and the tool call.
// A reasoning block as Converse returns it (reasoningContent) and as Claude's native body does.
json::object converse_reasoning(const Reasoning& r) {
  if (!r.redacted.empty()) return json::object{{"redactedContent", base64_encode(r.redacted)}};
  return json::object{{"reasoningText", {{"text", r.text}, {"signature", r.signature}}}};
}
json::object claude_thinking(const Reasoning& r) {
  if (!r.redacted.empty()) return json::object{{"type", "redacted_thinking"}, {"data", base64_encode(r.redacted)}};
  return json::object{{"type", "thinking"}, {"thinking", r.text}, {"signature", r.signature}};
}

json::array claude_content(const Reply& reply, const std::optional<ToolCall>& tool, const std::optional<Reasoning>& reasoning) {
  json::array content;
  if (reasoning) content.push_back(claude_thinking(*reasoning));
  if (!tool || !reply.text.empty()) content.push_back(json::object{{"type", "text"}, {"text", reply.text}});
  if (tool)
    content.push_back(json::object{{"type", "tool_use"}, {"id", tool->id}, {"name", tool->name}, {"input", json::parse(tool->input)}});
  return content;
}

std::string chunk_frame(const json::value& native) {
  return event_frame("chunk", json::object{{"bytes", base64_encode(json::serialize(native))}});
}

asio::awaitable<void> pause(milliseconds d) {
  if (d <= milliseconds::zero()) co_return;
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
}

// "claude-3-haiku-20240307" from "us.anthropic.claude-3-haiku-20240307-v1:0".
std::string claude_model_name(std::string_view model_id) {
  std::string base = base_model_id(model_id);
  if (base.starts_with("anthropic.")) base.erase(0, 10);
  if (auto v = base.rfind("-v"); v != std::string::npos && v + 2 < base.size() && std::isdigit(static_cast<unsigned char>(base[v + 2])))
    base.erase(v);
  return base;
}

std::vector<std::pair<std::string, std::string>> parse_query(std::string_view q) {
  std::vector<std::pair<std::string, std::string>> out;
  std::size_t start = 0;
  while (start <= q.size() && !q.empty()) {
    auto amp = q.find('&', start);
    auto part = q.substr(start, amp == std::string_view::npos ? std::string_view::npos : amp - start);
    auto eq = part.find('=');
    if (!part.empty())
      out.emplace_back(net::uri_decode(part.substr(0, eq)),
                       eq == std::string_view::npos ? std::string() : net::uri_decode(part.substr(eq + 1)));
    if (amp == std::string_view::npos) break;
    start = amp + 1;
  }
  return out;
}

}  // namespace

std::optional<Fault> parse_fault(std::string_view text) {
  text = trim(text);
  static const std::pair<std::string_view, FaultKind> kNames[] = {
      {"throttle", FaultKind::throttle},
      {"throttle-tokens", FaultKind::throttle_tokens},
      {"throttle-daily", FaultKind::throttle_daily},
      {"500", FaultKind::internal},
      {"503", FaultKind::unavailable},
      {"timeout", FaultKind::model_timeout},
      {"model-not-ready", FaultKind::model_not_ready},
      {"model-error", FaultKind::model_error},
      {"access-denied", FaultKind::access_denied},
      {"not-found", FaultKind::not_found},
      {"service-quota", FaultKind::service_quota},
      {"validation", FaultKind::validation},
      {"drop", FaultKind::drop},
      {"drop-mid-stream", FaultKind::drop_mid_stream},
  };
  for (const auto& [name, kind] : kNames)
    if (text == name) return Fault{kind, {}};
  constexpr std::string_view kStream = "stream-exception:";
  if (text.starts_with(kStream) && text.size() > kStream.size()) {
    auto type = text.substr(kStream.size());
    for (char c : type)
      if (!std::isalnum(static_cast<unsigned char>(c))) return std::nullopt;
    return Fault{FaultKind::stream_exception, std::string(type)};
  }
  if (text == "stream-exception") return Fault{FaultKind::stream_exception, "modelStreamErrorException"};
  return std::nullopt;
}

std::string to_string(const Fault& fault) {
  switch (fault.kind) {
    case FaultKind::none: return "none";
    case FaultKind::throttle: return "throttle";
    case FaultKind::throttle_tokens: return "throttle-tokens";
    case FaultKind::throttle_daily: return "throttle-daily";
    case FaultKind::internal: return "500";
    case FaultKind::unavailable: return "503";
    case FaultKind::model_timeout: return "timeout";
    case FaultKind::model_not_ready: return "model-not-ready";
    case FaultKind::model_error: return "model-error";
    case FaultKind::access_denied: return "access-denied";
    case FaultKind::not_found: return "not-found";
    case FaultKind::service_quota: return "service-quota";
    case FaultKind::validation: return "validation";
    case FaultKind::drop: return "drop";
    case FaultKind::drop_mid_stream: return "drop-mid-stream";
    case FaultKind::stream_exception: return "stream-exception:" + fault.exception_type;
  }
  return "none";
}

std::string to_json(const SimStats& s) {
  json::object requests;
  for (const auto& [k, v] : s.requests) requests[k] = v;
  json::object faults;
  for (const auto& [k, v] : s.faults) faults[k] = v;
  json::object o{{"requests", std::move(requests)},
                 {"requests_total", s.requests_total},
                 {"succeeded", s.succeeded},
                 {"throttled", s.throttled},
                 {"faults", std::move(faults)},
                 {"auth_failures", s.auth_failures},
                 {"service_quotas_calls", s.service_quotas_calls},
                 {"validation_errors", s.validation_errors},
                 {"input_tokens", s.input_tokens},
                 {"output_tokens", s.output_tokens},
                 {"in_flight", s.in_flight},
                 {"peak_in_flight", s.peak_in_flight}};
  json::object blocks;
  for (const auto& [k, v] : s.content_blocks) blocks[k] = v;
  o["content_blocks"] = std::move(blocks);
  o["guardrail_interventions"] = s.guardrail_interventions;
  json::object schemes;
  for (const auto& [k, v] : s.auth_schemes) schemes[k] = v;
  o["auth_schemes"] = std::move(schemes);
  o["bearer_with_sigv4_headers"] = s.bearer_with_sigv4_headers;
  return json::serialize(o);
}

namespace {

class SimulatorImpl;

// Settles a quota reservation exactly once (at the end, or when the request dies early).
struct Charge {
  SimulatorImpl* sim = nullptr;
  std::string model;
  std::int64_t reserved = 0;
  std::int64_t input = 0;
  std::int64_t output = 0;
  bool settled = false;
  void settle();
  ~Charge() { settle(); }
};

struct InFlight {
  SimulatorImpl* sim = nullptr;
  ~InFlight();
};

// One streamed response, played frame by frame.
struct Step {
  milliseconds delay{0};
  std::string frame;
  std::int64_t output_after = 0;  // output tokens generated once this frame is sent
};

struct StreamPlan {
  std::vector<Step> steps;
  std::size_t fault_at = 0;  // the step before which a mid-stream fault fires
  Fault fault;
  std::string model_id;
  std::shared_ptr<Charge> charge;
  std::shared_ptr<InFlight> in_flight;
};

class SimulatorImpl final : public Simulator {
 public:
  SimulatorImpl(asio::io_context& io, SimulatorOptions options)
      : io_(io),
        opts_(std::move(options)),
        clock_(opts_.clock ? *opts_.clock : system_clock()),
        quota_(QuotaLimits{opts_.rpm, opts_.tpm, opts_.tokens_per_day, opts_.burndown, opts_.burst_seconds}, clock_),
        prompt_cache_(clock_),
        rng_(opts_.seed) {
    auth_.access_key_id = opts_.access_key_id;
    auth_.secret_access_key = opts_.secret_access_key;
    auth_.api_key = opts_.api_key;
    auth_.region = opts_.region;
    for (const auto& [fault, n] : opts_.fault_script)
      for (int i = 0; i < n; ++i) script_.push_back(fault);
    quotas_auth_ = auth_;
    quotas_auth_.service = "servicequotas";
    quotas_auth_.api_key.clear();  // Bedrock API keys are for Bedrock only
    service_quotas_ = opts_.service_quotas.empty() ? default_service_quotas(opts_.rpm, opts_.tpm) : opts_.service_quotas;
  }

  void set_service_quotas(std::vector<ServiceQuota> quotas) override {
    std::lock_guard lock(mu_);
    service_quotas_ = std::move(quotas);
  }

  void fail_service_quotas(int count) override {
    std::lock_guard lock(mu_);
    service_quotas_failures_ = count;
  }

  ~SimulatorImpl() override {
    if (server_) server_->stop(milliseconds{0});
  }

  Result<std::uint16_t> start() override {
    if (server_) return server_->port();
    net::ServerOptions so;
    so.host = opts_.host;
    so.port = opts_.port;
    so.body_limit = opts_.body_limit;
    so.error_response = [](int status, std::string_view, std::string_view message) {
      return error_response(status, status >= 500 ? "InternalServerException" : "ValidationException", message,
                            uuid_v4());
    };
    server_ = net::make_http_server(io_, std::move(so), [this](net::ServerRequest& r) { return handle(r); });
    auto port = server_->start();
    if (!port) server_.reset();
    return port;
  }

  void stop(milliseconds grace) override {
    if (server_) server_->stop(grace);
  }

  std::uint16_t port() const override { return server_ ? server_->port() : 0; }

  SimStats stats() const override {
    std::lock_guard lock(mu_);
    return stats_;
  }

  void reset() override {
    {
      std::lock_guard lock(mu_);
      const auto in_flight = stats_.in_flight;
      stats_ = SimStats{};
      stats_.in_flight = in_flight;
      script_.clear();
    }
    quota_.reset();
    prompt_cache_.clear();
  }

  void script_fault(Fault fault, int count) override {
    std::lock_guard lock(mu_);
    for (int i = 0; i < count; ++i) script_.push_back(fault);
  }

  void settle(Charge& c) {
    quota_.settle(c.model, c.reserved, c.input, c.output);
    std::lock_guard lock(mu_);
    stats_.input_tokens += c.input;
    stats_.output_tokens += c.output;
  }

  void leave() {
    std::lock_guard lock(mu_);
    --stats_.in_flight;
  }

  asio::awaitable<net::ServerResponse> handle(net::ServerRequest& req) override {
    const std::string rid = uuid_v4();
    if (req.path.starts_with("/sim/")) co_return admin(req, rid);
    if (auto target = req.headers.get("x-amz-target"); target && target->starts_with("ServiceQuotasV20190624.")) {
      co_return service_quotas(req, target->substr(23), rid);
    }

    // Route: POST /model/{modelId}/{operation}.
    constexpr std::string_view kPrefix = "/model/";
    const auto slash = req.path.rfind('/');
    if (!req.path.starts_with(kPrefix) || slash < kPrefix.size())
      co_return error_response(404, "UnknownOperationException", "Unknown operation", rid);
    const std::string_view op_name = std::string_view(req.path).substr(slash + 1);
    if (op_name == "count-tokens" && req.method == "POST") {
      co_return count_tokens(req, net::uri_decode(std::string_view(req.path).substr(kPrefix.size(), slash - kPrefix.size())), rid);
    }
    Operation op;
    if (op_name == "converse") op = Operation::converse;
    else if (op_name == "converse-stream") op = Operation::converse_stream;
    else if (op_name == "invoke") op = Operation::invoke;
    else if (op_name == "invoke-with-response-stream") op = Operation::invoke_stream;
    else co_return error_response(404, "UnknownOperationException", "Unknown operation", rid);
    if (req.method != "POST") co_return error_response(404, "UnknownOperationException", "Unknown operation", rid);
    const std::string model_id = net::uri_decode(std::string_view(req.path).substr(kPrefix.size(), slash - kPrefix.size()));

    auto in_flight = std::make_shared<InFlight>();
    in_flight->sim = this;
    {
      std::lock_guard lock(mu_);
      ++stats_.requests[operation_name(op)];
      ++stats_.requests_total;
      stats_.peak_in_flight = std::max(stats_.peak_in_flight, ++stats_.in_flight);
    }

    if (auto failure = authenticate(req)) {
      co_return error_response(failure->status, failure->type, failure->message, rid, kCoralServiceNamespace);
    }

    // Strict validation, as Bedrock does it before anything else.
    if (model_id.empty() || model_id.size() > 2048)
      co_return validation(rid, "1 validation error detected: Value at 'modelId' failed to satisfy constraint: Member "
                                "must have length between 1 and 2048");
    if (!opts_.models.empty() && std::find(opts_.models.begin(), opts_.models.end(), model_id) == opts_.models.end())
      co_return validation(rid, "The provided model identifier is invalid.");
    const Family family = family_of(model_id);
    std::expected<ParsedRequest, std::string> parsed;
    if (op == Operation::converse || op == Operation::converse_stream) {
      parsed = parse_converse(req.body, opts_.default_max_tokens);
    } else if (family == Family::claude) {
      parsed = parse_claude(req.body);
    } else if (family == Family::titan) {
      parsed = parse_titan(req.body);
    } else {
      co_return validation(rid, "The provided model identifier is invalid.");
    }
    if (!parsed) co_return validation(rid, parsed.error());
    if (!parsed->output_schema.empty()) {
      const std::string base = base_model_id(model_id);
      if (family == Family::titan || base.starts_with("anthropic.claude-3") || base.starts_with("anthropic.claude-v") ||
          base.starts_with("anthropic.claude-instant"))
        co_return validation(rid, "This model doesn't support the outputConfig.textFormat field. Remove it and try again.");
    }
    if (!parsed->blocks.empty()) {
      count([&](SimStats& s) {
        for (const auto& [kind, n] : parsed->blocks) s.content_blocks[kind] += n;
      });
    }

    // Faults: header, then script, then the configured probabilities.
    Fault fault;
    if (auto h = req.headers.get("x-sim-fault"); h && opts_.fault_header) {
      auto f = parse_fault(*h);
      if (!f) co_return validation(rid, "x-sim-fault: unknown fault '" + std::string(*h) + "' (simulator test hook)");
      fault = *f;
    } else {
      fault = draw_fault();
    }
    if (fault.kind == FaultKind::stream_exception || fault.kind == FaultKind::drop_mid_stream) {
      if (!is_stream(op)) fault = Fault{};  // mid-stream faults only apply to streams
    }
    if (fault.kind != FaultKind::none) {
      const bool throttle = fault.kind == FaultKind::throttle || fault.kind == FaultKind::throttle_tokens ||
                            fault.kind == FaultKind::throttle_daily;
      count([&](SimStats& s) {
        ++s.faults[to_string(fault)];
        if (throttle) ++s.throttled;
      });
      if (fault.kind == FaultKind::drop) {
        net::ServerResponse r;
        r.abort_connection = true;
        co_return r;
      }
      if (fault.kind == FaultKind::model_timeout) co_await pause(opts_.timeout_fault_delay);
      if (fault.kind != FaultKind::stream_exception && fault.kind != FaultKind::drop_mid_stream) {
        const auto spec = error_for(fault.kind);
        json::object extra;
        if (fault.kind == FaultKind::model_error) {
          extra["originalStatusCode"] = 500;
          extra["resourceName"] = model_id;
        }
        co_return error_response(spec.status, spec.type, spec.message, rid, kBedrockNamespace, std::move(extra));
      }
    }

    // Quotas: reserve input + max_tokens x burndown now, settle at the end.
    auto admission = quota_.admit(model_id, parsed->input_tokens, parsed->max_tokens);
    if (admission.verdict != QuotaVerdict::admitted) {
      count([](SimStats& s) { ++s.throttled; });
      co_return error_response(429, "ThrottlingException", throttle_message(admission.verdict), rid);
    }
    auto charge = std::make_shared<Charge>();
    charge->sim = this;
    charge->model = model_id;
    charge->reserved = admission.reserved;
    // Prompt caching: read and written tokens are reported apart from inputTokens; a write is charged
    // against the quota, a read is not (bedrock-protocol.md §6).
    const CacheUse cached = prompt_cache_.use(model_id, parsed->cache_points, parsed->input_tokens);
    const bool caching = !parsed->cache_points.empty();
    charge->input = parsed->input_tokens - cached.read;

    const std::string fingerprint = model_id + '\n' + req.body;
    const Guardrail guardrail = guardrail_of(req, *parsed);
    const bool blocked = guardrail.intervenes;
    const std::optional<ToolCall> tool = blocked ? std::nullopt : tool_call_for(*parsed, opts_.seed, fingerprint);
    // Extended thinking: the reasoning comes first and takes its tokens out of max_tokens.
    std::optional<Reasoning> reasoning;
    if (!blocked && parsed->thinking_budget > 0) {
      reasoning = make_reasoning(opts_.seed, fingerprint, parsed->last_user_text, parsed->thinking_budget);
      parsed->max_tokens = std::max<std::int64_t>(parsed->max_tokens - reasoning->output_tokens, 0);
    }
    const Reply reply = blocked ? blocked_reply() : tool ? tool_preface(*parsed, *tool) : text_reply(*parsed, fingerprint);
    const std::size_t tool_pieces = tool ? tool->input_pieces.size() : 0;
    const std::size_t reasoning_pieces = reasoning ? reasoning->pieces.size() : 0;
    const auto total = opts_.ttft + opts_.per_token * static_cast<std::int64_t>(reply.pieces.size() + tool_pieces + reasoning_pieces);
    const std::int64_t latency_ms = total.count();
    const std::int64_t in = parsed->input_tokens - cached.read - cached.write;
    const std::int64_t out = reply.output_tokens + (tool ? tool->output_tokens : 0) + (reasoning ? reasoning->output_tokens : 0);
    const char* stop = blocked && (op == Operation::converse || op == Operation::converse_stream) ? "guardrail_intervened"
                       : tool                                                                    ? "tool_use"
                       : reply.truncated                                                         ? "max_tokens"
                                                                                                 : "end_turn";

    if (!is_stream(op)) {
      co_await pause(total);
      charge->output = out;
      charge->settle();
      count([](SimStats& s) { ++s.succeeded; });
      if (op == Operation::converse) {
        json::array content;
        if (reasoning) content.push_back(json::object{{"reasoningContent", converse_reasoning(*reasoning)}});
        if (!tool || !reply.text.empty()) content.push_back(json::object{{"text", reply.text}});
        if (tool)
          content.push_back(json::object{{"toolUse", {{"toolUseId", tool->id}, {"name", tool->name}, {"input", json::parse(tool->input)}}}});
        json::object body{
            {"output", {{"message", {{"role", "assistant"}, {"content", std::move(content)}}}}},
            {"stopReason", stop},
            {"usage", converse_usage(in, out, cached, caching)},
            {"metrics", {{"latencyMs", latency_ms}}}};
        if (blocked && guardrail.traced) body["trace"] = guardrail_trace(guardrail);
        co_return json_response(200, body, rid);
      }
      json::object body;
      if (family == Family::claude) {
        body = json::object{{"id", "msg_bdrk_" + hex_encode(sha256(rid)).substr(0, 24)},
                            {"type", "message"},
                            {"role", "assistant"},
                            {"model", claude_model_name(model_id)},
                            {"content", claude_content(reply, tool, reasoning)},
                            {"stop_reason", stop},
                            {"stop_sequence", nullptr},
                            {"usage", claude_usage(in, out, cached, caching)}};
      } else {
        body = json::object{{"inputTextTokenCount", in},
                            {"results", json::array{json::object{{"tokenCount", out},
                                                                 {"outputText", reply.text},
                                                                 {"completionReason", reply.truncated ? "LENGTH" : "FINISH"}}}}};
      }
      if (blocked) body["amazon-bedrock-guardrailAction"] = "INTERVENED";
      auto r = json_response(200, body, rid);
      r.headers.set("X-Amzn-Bedrock-Input-Token-Count", std::to_string(in));
      r.headers.set("X-Amzn-Bedrock-Output-Token-Count", std::to_string(out));
      r.headers.set("X-Amzn-Bedrock-Invocation-Latency", std::to_string(latency_ms));
      co_return r;
    }

    // Streams: the frames with their delays; a mid-stream fault fires half-way through the deltas.
    auto plan = std::make_shared<StreamPlan>();
    plan->fault = fault;
    plan->model_id = model_id;
    plan->charge = charge;
    plan->in_flight = in_flight;
    const std::size_t n = reply.pieces.size();
    auto tokens_after = [&](std::size_t sent) {
      return n == 0 ? out : static_cast<std::int64_t>(static_cast<double>(out) * static_cast<double>(sent) / static_cast<double>(n));
    };
    auto& steps = plan->steps;
    json::object metrics{{"inputTokenCount", in},
                         {"outputTokenCount", out},
                         {"invocationLatency", latency_ms},
                         {"firstByteLatency", opts_.ttft.count()}};
    if (caching) {
      metrics["cacheReadInputTokenCount"] = cached.read;
      metrics["cacheWriteInputTokenCount"] = cached.write;
    }
    std::size_t first_delta = 0;
    if (op == Operation::converse_stream) {
      steps.push_back({opts_.ttft, event_frame("messageStart", json::object{{"role", "assistant"}}), 0});
      // Reasoning first (block 0): its text deltas then its signature, or its redacted content in one delta.
      const std::int64_t text_at = reasoning ? 1 : 0;
      if (reasoning) {
        auto delta = [](json::object rc) { return json::object{{"contentBlockIndex", 0}, {"delta", {{"reasoningContent", std::move(rc)}}}}; };
        if (!reasoning->redacted.empty()) {
          steps.push_back({opts_.per_token, event_frame("contentBlockDelta", delta({{"redactedContent", base64_encode(reasoning->redacted)}})), 0});
        } else {
          for (const auto& piece : reasoning->pieces)
            steps.push_back({opts_.per_token, event_frame("contentBlockDelta", delta({{"text", piece}})), 0});
          steps.push_back({milliseconds{0}, event_frame("contentBlockDelta", delta({{"signature", reasoning->signature}})), 0});
        }
        steps.push_back({milliseconds{0}, event_frame("contentBlockStop", json::object{{"contentBlockIndex", 0}}), 0});
      }
      first_delta = steps.size();
      for (std::size_t i = 0; i < n; ++i)
        steps.push_back({opts_.per_token,
                         event_frame("contentBlockDelta", json::object{{"contentBlockIndex", text_at}, {"delta", {{"text", reply.pieces[i]}}}}),
                         tokens_after(i + 1)});
      plan->fault_at = first_delta + n / 2;
      // A forced tool call has no text block: the tool's block then follows the reasoning (or is the first).
      if (!tool || n > 0) steps.push_back({milliseconds{0}, event_frame("contentBlockStop", json::object{{"contentBlockIndex", text_at}}), out});
      if (tool) {
        const std::int64_t at = text_at + (n > 0 ? 1 : 0);
        steps.push_back({milliseconds{0},
                         event_frame("contentBlockStart", json::object{{"contentBlockIndex", at},
                                                                       {"start", {{"toolUse", {{"toolUseId", tool->id}, {"name", tool->name}}}}}}),
                         out});
        for (const auto& piece : tool->input_pieces)
          steps.push_back({opts_.per_token,
                           event_frame("contentBlockDelta", json::object{{"contentBlockIndex", at}, {"delta", {{"toolUse", {{"input", piece}}}}}}),
                           out});
        steps.push_back({milliseconds{0}, event_frame("contentBlockStop", json::object{{"contentBlockIndex", at}}), out});
      }
      steps.push_back({milliseconds{0}, event_frame("messageStop", json::object{{"stopReason", stop}}), out});
      steps.push_back({milliseconds{0},
                       event_frame("metadata", converse_metadata(in, out, cached, caching, latency_ms, blocked, guardrail)),
                       out});
    } else if (family == Family::claude) {
      json::object start{{"type", "message_start"},
                         {"message", {{"id", "msg_bdrk_" + hex_encode(sha256(rid)).substr(0, 24)},
                                      {"type", "message"},
                                      {"role", "assistant"},
                                      {"model", claude_model_name(model_id)},
                                      {"content", json::array{}},
                                      {"stop_reason", nullptr},
                                      {"stop_sequence", nullptr},
                                      {"usage", claude_usage(in, 1, cached, caching)}}}};
      steps.push_back({opts_.ttft, chunk_frame(start), 0});
      // Reasoning first (block 0): a thinking block (thinking_delta pieces, then signature_delta) or a
      // redacted_thinking block whose start carries it all.
      const std::int64_t text_at = reasoning ? 1 : 0;
      if (reasoning) {
        if (!reasoning->redacted.empty()) {
          steps.push_back({opts_.per_token,
                           chunk_frame(json::object{{"type", "content_block_start"}, {"index", 0}, {"content_block", claude_thinking(*reasoning)}}),
                           0});
        } else {
          steps.push_back({milliseconds{0},
                           chunk_frame(json::object{{"type", "content_block_start"}, {"index", 0},
                                                    {"content_block", {{"type", "thinking"}, {"thinking", ""}, {"signature", ""}}}}),
                           0});
          for (const auto& piece : reasoning->pieces)
            steps.push_back({opts_.per_token,
                             chunk_frame(json::object{{"type", "content_block_delta"}, {"index", 0},
                                                      {"delta", {{"type", "thinking_delta"}, {"thinking", piece}}}}),
                             0});
          steps.push_back({milliseconds{0},
                           chunk_frame(json::object{{"type", "content_block_delta"}, {"index", 0},
                                                    {"delta", {{"type", "signature_delta"}, {"signature", reasoning->signature}}}}),
                           0});
        }
        steps.push_back({milliseconds{0}, chunk_frame(json::object{{"type", "content_block_stop"}, {"index", 0}}), 0});
      }
      const bool text_block = !tool || n > 0;
      if (text_block)
        steps.push_back({milliseconds{0},
                         chunk_frame(json::object{{"type", "content_block_start"}, {"index", text_at},
                                                  {"content_block", {{"type", "text"}, {"text", ""}}}}),
                         0});
      first_delta = steps.size();
      for (std::size_t i = 0; i < n; ++i)
        steps.push_back({opts_.per_token,
                         chunk_frame(json::object{{"type", "content_block_delta"}, {"index", text_at},
                                                  {"delta", {{"type", "text_delta"}, {"text", reply.pieces[i]}}}}),
                         tokens_after(i + 1)});
      plan->fault_at = first_delta + n / 2;
      if (text_block) steps.push_back({milliseconds{0}, chunk_frame(json::object{{"type", "content_block_stop"}, {"index", text_at}}), out});
      if (tool) {
        const std::int64_t at = text_at + (text_block ? 1 : 0);
        steps.push_back({milliseconds{0},
                         chunk_frame(json::object{{"type", "content_block_start"}, {"index", at},
                                                  {"content_block", {{"type", "tool_use"}, {"id", tool->id}, {"name", tool->name}, {"input", json::object{}}}}}),
                         out});
        for (const auto& piece : tool->input_pieces)
          steps.push_back({opts_.per_token,
                           chunk_frame(json::object{{"type", "content_block_delta"}, {"index", at},
                                                    {"delta", {{"type", "input_json_delta"}, {"partial_json", piece}}}}),
                           out});
        steps.push_back({milliseconds{0}, chunk_frame(json::object{{"type", "content_block_stop"}, {"index", at}}), out});
      }
      steps.push_back({milliseconds{0},
                       chunk_frame(claude_message_delta(stop, out, blocked)),
                       out});
      steps.push_back({milliseconds{0},
                       chunk_frame(json::object{{"type", "message_stop"}, {"amazon-bedrock-invocationMetrics", metrics}}),
                       out});
    } else {  // Titan
      first_delta = 0;
      for (std::size_t i = 0; i < n; ++i) {
        json::object chunk{{"outputText", reply.pieces[i]},
                           {"index", 0},
                           {"totalOutputTextTokenCount", nullptr},
                           {"completionReason", nullptr},
                           {"inputTextTokenCount", i == 0 ? json::value(in) : json::value(nullptr)}};
        steps.push_back({(i == 0 ? opts_.ttft : milliseconds{0}) + opts_.per_token, chunk_frame(chunk), tokens_after(i + 1)});
      }
      plan->fault_at = n / 2;
      steps.push_back({n == 0 ? opts_.ttft : milliseconds{0},
                       chunk_frame(json::object{{"outputText", ""},
                                                {"index", 0},
                                                {"totalOutputTextTokenCount", out},
                                                {"completionReason", reply.truncated ? "LENGTH" : "FINISH"},
                                                {"inputTextTokenCount", n == 0 ? json::value(in) : json::value(nullptr)},
                                                {"amazon-bedrock-invocationMetrics", metrics}}),
                       out});
    }

    net::ServerResponse r;
    r.status = 200;
    r.headers.set("Content-Type", kEventStream);
    r.headers.set("x-amzn-RequestId", rid);
    if (op == Operation::invoke_stream) r.headers.set("X-Amzn-Bedrock-Content-Type", "application/json");
    r.stream = [this, plan](net::BodyWriter& w) { return play(w, plan); };
    co_return r;
  }

 private:
  // check_auth, counted: failures, and the scheme of an accepted request.
  std::optional<AuthFailure> authenticate(const net::ServerRequest& req) {
    auto failure = check_auth(req, auth_, clock_.wall());
    if (failure) {
      count([](SimStats& s) { ++s.auth_failures; });
      return failure;
    }
    const std::string_view auth = trim(req.headers.get("authorization").value_or(""));
    const bool bearer = auth.size() > 7 && iequals(auth.substr(0, 7), "Bearer ");
    bool sigv4_headers = false;
    for (std::string_view h : {"x-amz-date", "x-amz-security-token", "x-amz-content-sha256"})
      sigv4_headers = sigv4_headers || req.headers.get(h).has_value();
    count([&](SimStats& s) {
      ++s.auth_schemes[bearer ? "bearer" : "sigv4"];
      if (bearer && sigv4_headers) ++s.bearer_with_sigv4_headers;
    });
    return std::nullopt;
  }

  // POST /model/{modelId}/count-tokens: the input tokens of a Converse conversation, counted as Converse
  // reports usage. Free on Bedrock: no quota is charged and no fault is drawn. Only Claude models count
  // (others: ValidationException, as Bedrock answers models without token counting).
  net::ServerResponse count_tokens(net::ServerRequest& req, const std::string& model_id, const std::string& rid) {
    count([](SimStats& s) {
      ++s.requests["CountTokens"];
      ++s.requests_total;
    });
    if (auto failure = authenticate(req))
      return error_response(failure->status, failure->type, failure->message, rid, kCoralServiceNamespace);
    if (model_id.empty() || model_id.size() > 256)
      return validation(rid, "1 validation error detected: Value at 'modelId' failed to satisfy constraint: Member "
                             "must have length between 1 and 256");
    auto parsed = parse_count_tokens(req.body);
    if (!parsed) return validation(rid, parsed.error());
    if (family_of(model_id) != Family::claude)
      return validation(rid, "The provided model doesn't support counting tokens.");
    count([](SimStats& s) { ++s.succeeded; });
    return json_response(200, json::object{{"inputTokens", parsed->input_tokens}}, rid);
  }

  // The request's guardrail (Converse: guardrailConfig; InvokeModel: its headers) and whether it blocks.
  Guardrail guardrail_of(const net::ServerRequest& req, const ParsedRequest& p) {
    Guardrail g{.id = p.guardrail_id, .version = p.guardrail_version, .word = opts_.guardrail_trigger};
    std::string trace = p.guardrail_trace;
    if (g.id.empty()) {
      g.id = std::string(req.headers.get("X-Amzn-Bedrock-GuardrailIdentifier").value_or(""));
      g.version = std::string(req.headers.get("X-Amzn-Bedrock-GuardrailVersion").value_or(""));
      trace = to_lower(req.headers.get("X-Amzn-Bedrock-Trace").value_or(""));
    }
    g.traced = trace == "enabled" || trace == "enabled_full";
    g.intervenes = !g.id.empty() && !opts_.guardrail_trigger.empty() &&
                   to_lower(p.last_user_text).find(to_lower(opts_.guardrail_trigger)) != std::string::npos;
    if (g.intervenes) count([](SimStats& s) { ++s.guardrail_interventions; });
    return g;
  }

  // A blocked answer: the guardrail's message, no output tokens (the model's output is withheld).
  Reply blocked_reply() const {
    Reply r;
    r.text = opts_.guardrail_message;
    r.pieces = {r.text};
    return r;
  }

  // The text answer: to tool results a sentence quoting them ("The tool returned: ..."); otherwise
  // generated or echoed (make_reply).
  Reply text_reply(const ParsedRequest& p, const std::string& fingerprint) const {
    if (!p.output_schema.empty()) return structured_reply(p);
    if (p.last_user_has_tool_results) {
      const std::string echo = "echo:The tool returned: " + (p.tool_results.empty() ? std::string("(nothing)") : p.tool_results);
      return make_reply(ReplySpec{.seed = opts_.seed, .fingerprint = fingerprint, .last_user_text = echo,
                                  .reply_tokens = opts_.reply_tokens, .max_tokens = p.max_tokens, .echo = true});
    }
    return make_reply(ReplySpec{.seed = opts_.seed,
                                .fingerprint = fingerprint,
                                .last_user_text = p.last_user_text,
                                .reply_tokens = opts_.reply_tokens,
                                .max_tokens = p.max_tokens,
                                .echo = opts_.echo});
  }

  // Structured output: a JSON document satisfying the schema (filled as a tool's input is), in two deltas.
  static Reply structured_reply(const ParsedRequest& p) {
    Reply r;
    r.text = tool_input_for(p.output_schema);
    std::size_t cut = r.text.size() / 2;  // at the start of a UTF-8 sequence
    while (cut > 0 && (static_cast<unsigned char>(r.text[cut]) & 0xC0) == 0x80) --cut;
    r.pieces = {r.text.substr(0, cut), r.text.substr(cut)};
    r.output_tokens = sim::count_tokens(r.text);
    return r;
  }

  template <class F>
  void count(F&& f) {
    std::lock_guard lock(mu_);
    f(stats_);
  }

  net::ServerResponse validation(const std::string& rid, std::string_view message) {
    count([](SimStats& s) { ++s.validation_errors; });
    return error_response(400, "ValidationException", message, rid);
  }

  Fault draw_fault() {
    std::lock_guard lock(mu_);
    if (!script_.empty()) {
      Fault f = script_.front();
      script_.pop_front();
      return f;
    }
    if (opts_.fault_rates.empty()) return {};
    double u = rng_.uniform();
    for (const auto& [fault, p] : opts_.fault_rates) {
      if (u < p) return fault;
      u -= p;
    }
    return {};
  }

  asio::awaitable<void> play(net::BodyWriter& w, std::shared_ptr<StreamPlan> plan) {
    for (std::size_t i = 0; i < plan->steps.size(); ++i) {
      if (i == plan->fault_at && plan->fault.kind == FaultKind::stream_exception) {
        co_await w.write(exception_frame(plan->fault.exception_type, stream_exception_message(plan->fault.exception_type)));
        co_return;
      }
      const auto& step = plan->steps[i];
      co_await pause(step.delay);
      if (i == plan->fault_at && plan->fault.kind == FaultKind::drop_mid_stream) {
        co_await w.write(std::string_view(step.frame).substr(0, step.frame.size() / 2));
        // The server ends the connection without the chunked terminator: the client sees a cut stream.
        throw std::runtime_error("simulated dropped connection (fault drop-mid-stream)");
      }
      if (!co_await w.write(step.frame)) co_return;  // the client went away; the charge settles what was sent
      plan->charge->output = step.output_after;
    }
    plan->charge->settle();
    count([](SimStats& s) { ++s.succeeded; });
  }

  // POST / with X-Amz-Target: ServiceQuotasV20190624.<operation> (sim/service_quotas.hpp).
  net::ServerResponse service_quotas(const net::ServerRequest& req, std::string_view operation, const std::string& rid) {
    count([](SimStats& s) { ++s.service_quotas_calls; });
    if (req.method != "POST" || req.path != "/") {
      return error_response(404, "UnknownOperationException", "Unknown operation", rid);
    }
    if (auto failure = check_auth(req, quotas_auth_, clock_.wall())) {
      count([](SimStats& s) { ++s.auth_failures; });
      return error_response(failure->status, failure->type, failure->message, rid, kCoralServiceNamespace);
    }
    std::vector<ServiceQuota> quotas;
    {
      std::lock_guard lock(mu_);
      if (service_quotas_failures_ > 0) {
        --service_quotas_failures_;
        return error_response(403, "AccessDeniedException",
                              "User is not authorized to perform: servicequotas:" + std::string(operation), rid,
                              "http://internal.amazon.com/coral/com.amazonaws.servicequotas/");
      }
      quotas = service_quotas_;
    }
    return serve_service_quotas(req, operation, quotas, opts_.region.empty() ? "us-east-1" : opts_.region, rid);
  }

  net::ServerResponse admin(const net::ServerRequest& req, const std::string& rid) {
    if (req.path == "/sim/stats" && req.method == "GET") {
      auto r = json_response(200, json::parse(to_json(stats())), rid);
      return r;
    }
    if (req.path == "/sim/reset" && req.method == "POST") {
      reset();
      return json_response(200, json::object{{"reset", true}}, rid);
    }
    if (req.path == "/sim/fault" && req.method == "POST") {
      std::optional<Fault> fault;
      int n = 1;
      for (const auto& [k, v] : parse_query(req.query)) {
        if (k == "kind") fault = parse_fault(v);
        if (k == "count") n = std::atoi(v.c_str());
      }
      if (!fault || n < 0) return error_response(400, "ValidationException", "expected ?kind=<fault>&count=<n>", rid);
      script_fault(*fault, n);
      return json_response(200, json::object{{"scripted", to_string(*fault)}, {"count", n}}, rid);
    }
    if (req.path == "/sim/service-quota" && req.method == "POST") {
      std::string code;
      std::optional<double> value;
      int fail_count = -1;
      for (const auto& [k, v] : parse_query(req.query)) {
        if (k == "code") code = v;
        if (k == "value") value = std::atof(v.c_str());
        if (k == "fail") fail_count = std::atoi(v.c_str());
      }
      if (fail_count >= 0) {
        fail_service_quotas(fail_count);
        return json_response(200, json::object{{"fail", fail_count}}, rid);
      }
      std::lock_guard lock(mu_);
      for (auto& q : service_quotas_) {
        if (q.code == code && value && *value >= 0) {
          q.value = *value;
          return json_response(200, json::object{{"code", code}, {"value", *value}}, rid);
        }
      }
      return error_response(400, "ValidationException", "expected ?code=<a listed quota code>&value=<n> or ?fail=<n>", rid);
    }
    return error_response(404, "ResourceNotFoundException", "Unknown simulator endpoint", rid);
  }

  asio::io_context& io_;
  SimulatorOptions opts_;
  const Clock& clock_;
  QuotaModel quota_;
  PromptCache prompt_cache_;
  AuthConfig auth_;
  AuthConfig quotas_auth_;
  std::vector<ServiceQuota> service_quotas_;  // under mu_
  int service_quotas_failures_ = 0;           // under mu_
  mutable std::mutex mu_;
  SimStats stats_;
  std::deque<Fault> script_;
  SeededRandom rng_;
  std::unique_ptr<net::HttpServer> server_;
};

void Charge::settle() {
  if (settled) return;
  settled = true;
  sim->settle(*this);
}

InFlight::~InFlight() { sim->leave(); }

}  // namespace

std::unique_ptr<Simulator> make_simulator(asio::io_context& io, SimulatorOptions options) {
  return std::make_unique<SimulatorImpl>(io, std::move(options));
}

}  // namespace ba::sim
