#pragma once
// The simulator's prompt cache (Converse cachePoint blocks). A request's cache points are the prefixes
// before each of them, in Bedrock's order (toolConfig.tools, then system, then messages); a prefix is
// remembered per model for a TTL (5 minutes, Bedrock's default, refreshed on each hit) on an injected
// clock. A request reads the longest remembered prefix and writes the rest up to its last cache point:
//   cacheReadInputTokens  = tokens of the longest remembered prefix
//   cacheWriteInputTokens = tokens of the last prefix - the read ones (0 when the last one was remembered)
//   inputTokens           = all input tokens - read - write (Bedrock reports them apart)
// Tokens are counted as everywhere in the simulator (sim/reply.hpp: ceil(bytes/4) of the text). No
// minimum prefix length is simulated (Bedrock needs 1,024+ tokens for most models).
#include <boost/json/fwd.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "util/clock.hpp"

namespace ba::sim {

struct CachePoint {
  std::string key;          // a digest of the request's content before the point
  std::int64_t tokens = 0;  // the input tokens before it
};

// The cache points of a Converse body (system, messages and toolConfig.tools blocks {"cachePoint": ...}),
// in prefix order. An object that is not a Converse body has none.
std::vector<CachePoint> converse_cache_points(const boost::json::object& body);
// The cache points of a Claude native body (InvokeModel): each tools[], system[] or message content block
// with "cache_control" ends a prefix, in the same order. A string system prompt or content has none.
std::vector<CachePoint> claude_cache_points(const boost::json::object& body);

struct CacheUse {
  std::int64_t read = 0;
  std::int64_t write = 0;
};

class PromptCache {
 public:
  explicit PromptCache(const Clock& clock, std::chrono::seconds ttl = std::chrono::minutes{5})
      : clock_(clock), ttl_(ttl) {}
  // Looks the points up for `model`, remembers them, and says what was read and written (read + write
  // at most input_tokens).
  CacheUse use(const std::string& model, const std::vector<CachePoint>& points, std::int64_t input_tokens);
  void clear();

 private:
  const Clock& clock_;
  std::chrono::seconds ttl_;
  std::mutex mu_;
  std::map<std::pair<std::string, std::string>, SteadyTime> expiry_;  // (model, key) -> expiry
};

}  // namespace ba::sim
