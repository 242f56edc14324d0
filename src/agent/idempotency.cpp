#include "agent/idempotency.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <vector>

#include "util/encoding.hpp"

namespace ba::agent {
namespace {

namespace json = boost::json;

void canonical(const json::value& v, std::string& out) {
  switch (v.kind()) {
    case json::kind::object: {
      const auto& o = v.get_object();
      std::vector<const json::key_value_pair*> items;
      items.reserve(o.size());
      for (const auto& kv : o) items.push_back(&kv);
      std::sort(items.begin(), items.end(), [](auto* a, auto* b) { return a->key() < b->key(); });
      out += '{';
      for (std::size_t i = 0; i < items.size(); ++i) {
        if (i) out += ',';
        out += json::serialize(json::string(items[i]->key()));
        out += ':';
        canonical(items[i]->value(), out);
      }
      out += '}';
      break;
    }
    case json::kind::array: {
      out += '[';
      bool first = true;
      for (const auto& e : v.get_array()) {
        if (!first) out += ',';
        first = false;
        canonical(e, out);
      }
      out += ']';
      break;
    }
    default: out += json::serialize(v);
  }
}

}  // namespace

bool valid_idempotency_key(std::string_view key) {
  if (key.empty() || key.size() > 255) return false;
  return std::all_of(key.begin(), key.end(), [](char c) { return c >= 0x21 && c <= 0x7e; });
}

std::string request_fingerprint(std::string_view method, std::string_view route, std::string_view body) {
  std::string text(method);
  text += ' ';
  text += route;
  text += '\n';
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec) {
    text += body;
  } else {
    canonical(v, text);
  }
  return sha256_hex(text);
}

IdempotencyOutcome decide(const store::IdempotencyRecord& existing, std::string_view fingerprint) {
  IdempotencyOutcome outcome;
  if (existing.request_hash != fingerprint) {
    outcome.kind = IdempotencyOutcome::Kind::conflict;
  } else if (existing.state == store::IdempotencyRecord::State::in_flight) {
    outcome.kind = IdempotencyOutcome::Kind::in_progress;
  } else {
    outcome.kind = IdempotencyOutcome::Kind::replay;
    outcome.status = existing.status;
    outcome.body = existing.response_body;
  }
  return outcome;
}

}  // namespace ba::agent
