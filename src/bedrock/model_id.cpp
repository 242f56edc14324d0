#include "bedrock/model_id.hpp"

#include <algorithm>
#include <array>
#include <utility>
#include <vector>

#include "net/url.hpp"

namespace ba::bedrock {
namespace {

constexpr std::size_t kMaxModelId = 2048;

bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool is_alnum(char c) { return is_lower_alnum(c) || (c >= 'A' && c <= 'Z'); }
bool all_of(std::string_view s, bool (*pred)(char)) {
  for (char c : s)
    if (!pred(c)) return false;
  return true;
}
// Characters of a plain id or an ARN resource id: [a-zA-Z0-9-:._] (ARN resources may add '/').
bool id_char(char c) { return is_alnum(c) || c == '-' || c == ':' || c == '.' || c == '_'; }
bool resource_char(char c) { return id_char(c) || c == '/'; }
bool region_char(char c) { return is_lower_alnum(c) || c == '-'; }
bool digit(char c) { return c >= '0' && c <= '9'; }
bool lower_or_dash(char c) { return (c >= 'a' && c <= 'z') || c == '-'; }

std::vector<std::string_view> split_n(std::string_view s, char sep, std::size_t max_parts) {
  std::vector<std::string_view> parts;
  while (parts.size() + 1 < max_parts) {
    auto p = s.find(sep);
    if (p == std::string_view::npos) break;
    parts.push_back(s.substr(0, p));
    s.remove_prefix(p + 1);
  }
  parts.push_back(s);
  return parts;
}

constexpr std::array<std::string_view, 10> kBedrockArnTypes{
    "foundation-model", "inference-profile", "application-inference-profile", "provisioned-model", "custom-model",
    "custom-model-deployment", "imported-model", "prompt", "prompt-router", "default-prompt-router"};

// A cross-region inference profile id is "<geo>.<provider>.<model>": a short lowercase prefix before a
// base id that itself has a provider dot. Returns the prefix length or 0.
std::size_t geo_prefix_len(std::string_view id) {
  auto first = id.find('.');
  if (first == std::string_view::npos || first < 2 || first > 8) return 0;
  auto head = id.substr(0, first);
  if (!all_of(head, lower_or_dash) || head.front() == '-' || head.back() == '-') return 0;
  auto rest = id.substr(first + 1);
  auto colon = rest.find(':');
  auto dot = rest.find('.');
  if (dot == std::string_view::npos || (colon != std::string_view::npos && dot > colon) || dot == 0) return 0;
  return first;
}

}  // namespace

Status validate_model_id(std::string_view id) {
  auto bad = [&](std::string why) { return fail(ErrorKind::invalid_input, "invalid model id: " + why); };
  if (id.empty()) return bad("empty");
  if (id.size() > kMaxModelId) return bad("longer than 2048 characters");
  if (!id.starts_with("arn:")) {
    if (!all_of(id, id_char))
      return bad("\"" + std::string(id) + "\" may contain only letters, digits and - . _ : (or be an ARN)");
    return {};
  }
  // arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE (the resource may itself contain ':').
  auto parts = split_n(id, ':', 6);
  if (parts.size() != 6) return bad("malformed ARN \"" + std::string(id) + "\"");
  auto partition = parts[1], service = parts[2], region = parts[3], account = parts[4], resource = parts[5];
  if (partition != "aws" && !(partition.starts_with("aws-") && partition.size() > 4 && all_of(partition, region_char)))
    return bad("unknown ARN partition \"" + std::string(partition) + "\"");
  if (region.empty() || region.size() > 20 || !all_of(region, region_char))
    return bad("ARN region \"" + std::string(region) + "\" is not valid");
  if (!account.empty() && (account.size() != 12 || !all_of(account, digit)))
    return bad("ARN account must be 12 digits");
  auto slash = resource.find('/');
  if (slash == std::string_view::npos || slash + 1 == resource.size())
    return bad("ARN resource must be TYPE/ID (got \"" + std::string(resource) + "\")");
  auto type = resource.substr(0, slash);
  auto rid = resource.substr(slash + 1);
  if (!all_of(rid, resource_char)) return bad("ARN resource id has characters outside [a-zA-Z0-9-:._/]");
  if (service == "sagemaker") {
    if (type != "endpoint" || account.empty()) return bad("only SageMaker endpoint ARNs are accepted");
    return {};
  }
  if (service != "bedrock") return bad("ARN service must be bedrock (got \"" + std::string(service) + "\")");
  bool known = false;
  for (auto t : kBedrockArnTypes) known = known || t == type;
  if (!known) return bad("unsupported Bedrock ARN resource type \"" + std::string(type) + "\"");
  if (type == "foundation-model" ? !account.empty() : account.empty())
    return bad(type == "foundation-model" ? "foundation-model ARNs have an empty account field (region::foundation-model/...)"
                                          : "this ARN needs a 12-digit account");
  return {};
}

ModelIdInfo describe_model_id(std::string_view id) {
  ModelIdInfo info;
  std::string_view plain = id;
  if (id.starts_with("arn:")) {
    info.kind = ModelIdInfo::Kind::arn;
    auto parts = split_n(id, ':', 6);
    if (parts.size() != 6) return info;
    auto resource = parts[5];
    auto slash = resource.find('/');
    if (slash == std::string_view::npos) return info;
    info.arn_resource_type = std::string(resource.substr(0, slash));
    if (parts[2] != "bedrock" || (info.arn_resource_type != "foundation-model" && info.arn_resource_type != "inference-profile"))
      return info;  // provisioned, custom, application profiles, prompts...: the base model is not in the id
    plain = resource.substr(slash + 1);
  }
  if (auto n = geo_prefix_len(plain); n > 0) {
    if (info.kind == ModelIdInfo::Kind::base) info.kind = ModelIdInfo::Kind::inference_profile;
    info.geo_prefix = std::string(plain.substr(0, n));
    plain.remove_prefix(n + 1);
  }
  info.base_model_id = std::string(plain);
  return info;
}

ModelFamily model_family(std::string_view model_id) {
  auto info = describe_model_id(model_id);
  std::string_view base = info.base_model_id;
  if (base.starts_with("anthropic.claude")) return ModelFamily::anthropic_claude;
  if (base.starts_with("amazon.titan-text-") || base.starts_with("amazon.titan-tg1-")) return ModelFamily::amazon_titan_text;
  return ModelFamily::other;
}

namespace {
// "4-5-20250929-v1:0" -> {4, 5}; a date or version after the major number is no minor (-> {4, 0}).
std::pair<int, int> claude_version(std::string_view rest) {
  auto number = [&rest](std::size_t max_digits) -> int {
    std::size_t n = 0;
    while (n < rest.size() && n <= max_digits && rest[n] >= '0' && rest[n] <= '9') ++n;
    if (n == 0 || n > max_digits || (n < rest.size() && rest[n] != '-')) return -1;
    int v = 0;
    for (std::size_t i = 0; i < n; ++i) v = v * 10 + (rest[i] - '0');
    rest.remove_prefix(std::min(n + 1, rest.size()));
    return v;
  };
  const int major = number(2);
  if (major < 0) return {-1, 0};
  const int minor = number(2);
  return {major, minor < 0 ? 0 : minor};
}
}  // namespace

bool supports_structured_output(std::string_view model_id) {
  auto info = describe_model_id(model_id);
  std::string_view base = info.base_model_id;
  if (base.empty()) return true;  // the id hides the model: Bedrock decides
  constexpr std::string_view kClaude = "anthropic.claude-";
  if (base.starts_with(kClaude)) {
    std::string_view rest = base.substr(kClaude.size());
    for (std::string_view tier : {"haiku-", "sonnet-", "opus-"}) {
      if (!rest.starts_with(tier)) continue;
      auto [major, minor] = claude_version(rest.substr(tier.size()));
      return major > 4 || (major == 4 && minor >= 5);
    }
    return false;  // claude-3-..., claude-instant, claude-v2: older than 4.5
  }
  for (std::string_view family : {"qwen.", "deepseek.", "mistral.", "google.gemma", "nvidia.nemotron", "minimax.", "moonshot"})
    if (base.starts_with(family)) return true;
  return false;
}

std::string model_path(std::string_view model_id, Operation op) {
  std::string_view tail;
  switch (op) {
    case Operation::converse: tail = "/converse"; break;
    case Operation::converse_stream: tail = "/converse-stream"; break;
    case Operation::invoke: tail = "/invoke"; break;
    case Operation::invoke_stream: tail = "/invoke-with-response-stream"; break;
    case Operation::count_tokens: tail = "/count-tokens"; break;
  }
  return "/model/" + net::uri_encode(model_id, true) + std::string(tail);
}

}  // namespace ba::bedrock

namespace ba::bedrock {

PromptCacheSupport prompt_cache_support(std::string_view model_id) {
  const std::string base = describe_model_id(model_id).base_model_id;
  std::string_view b = base;
  if (b.starts_with("anthropic.claude-")) {
    b.remove_prefix(std::string_view("anthropic.claude-").size());
    bool caches = b.starts_with("3-5-haiku") || b.starts_with("3-7-sonnet");
    // claude-{opus,sonnet,haiku}-N... with N >= 4 (Claude 4 and later).
    for (std::string_view tier : {"opus-", "sonnet-", "haiku-"}) {
      if (b.starts_with(tier) && b.size() > tier.size()) {
        const char major = b[tier.size()];
        const bool two_digits = b.size() > tier.size() + 1 && b[tier.size() + 1] >= '0' && b[tier.size() + 1] <= '9';
        caches = caches || (major >= '4' && major <= '9') || (major >= '1' && major <= '9' && two_digits);
      }
    }
    return caches ? PromptCacheSupport{.system = true, .messages = true, .tools = true} : PromptCacheSupport{};
  }
  if (b.starts_with("amazon.nova-") && !b.starts_with("amazon.nova-canvas") && !b.starts_with("amazon.nova-reel") &&
      !b.starts_with("amazon.nova-sonic")) {
    return PromptCacheSupport{.system = true, .messages = true, .tools = false};
  }
  return {};
}

std::size_t count_cache_points(const ChatRequest& request) {
  std::size_t n = request.system_cache_point ? 1 : 0;
  for (const auto& m : request.messages)
    for (const auto& b : m.content) n += b.cache_point ? 1 : 0;
  for (const auto& t : request.tools) n += t.cache_point ? 1 : 0;
  return n;
}

void drop_unsupported_cache_points(ChatRequest& request) {
  const PromptCacheSupport support = prompt_cache_support(request.model_id);
  if (!support.system) request.system_cache_point = false;
  if (!support.messages)
    for (auto& m : request.messages)
      for (auto& b : m.content) b.cache_point = false;
  if (!support.tools)
    for (auto& t : request.tools) t.cache_point = false;
}

}  // namespace ba::bedrock
