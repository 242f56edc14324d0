#include "aws/dynamodb.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <charconv>
#include <stdexcept>

#include "aws/credentials.hpp"
#include "aws/errors.hpp"
#include "aws/sigv4.hpp"
#include "net/http_client.hpp"
#include "net/url.hpp"
#include "util/encoding.hpp"

namespace ba::aws::dynamodb {
namespace json = boost::json;
using boost::asio::awaitable;

// ---- AttributeValue helpers -------------------------------------------------------------------------

json::value attr_s(std::string_view s) { return json::object{{"S", s}}; }
json::value attr_n(std::int64_t n) { return json::object{{"N", std::to_string(n)}}; }
json::value attr_bool(bool b) { return json::object{{"BOOL", b}}; }
json::value attr_null() { return json::object{{"NULL", true}}; }
json::value attr_m(Item m) { return json::object{{"M", std::move(m)}}; }
json::value attr_l(json::array l) { return json::object{{"L", std::move(l)}}; }

namespace {

const json::value* typed(const Item& item, std::string_view name, std::string_view type) {
  const auto* v = item.if_contains(name);
  if (!v || !v->is_object()) return nullptr;
  return v->as_object().if_contains(type);
}

std::size_t value_size(const json::value& av);

std::size_t map_size(const json::object& m) {
  std::size_t n = 0;
  for (const auto& [k, v] : m) n += k.size() + value_size(v);
  return n;
}

// Sizes as DynamoDB documents them: strings/binary by length, numbers ~1 byte per two digits + 1,
// BOOL/NULL 1 byte, M/L 3 bytes + 1 per element + their contents.
std::size_t value_size(const json::value& av) {
  if (!av.is_object() || av.as_object().empty()) return 0;
  const auto& [type, v] = *av.as_object().begin();
  if (type == "S" || type == "B") return v.is_string() ? v.as_string().size() : 0;
  if (type == "N") return v.is_string() ? v.as_string().size() / 2 + 1 : 0;
  if (type == "BOOL" || type == "NULL") return 1;
  if (type == "M" && v.is_object()) return 3 + v.as_object().size() + map_size(v.as_object());
  if (type == "L" && v.is_array()) {
    std::size_t n = 3 + v.as_array().size();
    for (const auto& e : v.as_array()) n += value_size(e);
    return n;
  }
  if ((type == "SS" || type == "NS" || type == "BS") && v.is_array()) {
    std::size_t n = 0;
    for (const auto& e : v.as_array()) n += e.is_string() ? e.as_string().size() : 0;
    return n;
  }
  return 0;
}

}  // namespace

std::optional<std::string> get_s(const Item& item, std::string_view name) {
  const auto* v = typed(item, name, "S");
  if (!v || !v->is_string()) return std::nullopt;
  return std::string(v->as_string());
}

std::optional<std::int64_t> get_n(const Item& item, std::string_view name) {
  const auto* v = typed(item, name, "N");
  if (!v || !v->is_string()) return std::nullopt;
  const auto& s = v->as_string();
  std::int64_t out = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return out;
}

std::optional<bool> get_bool(const Item& item, std::string_view name) {
  const auto* v = typed(item, name, "BOOL");
  if (!v || !v->is_bool()) return std::nullopt;
  return v->as_bool();
}

const Item* get_m(const Item& item, std::string_view name) {
  const auto* v = typed(item, name, "M");
  return v && v->is_object() ? &v->as_object() : nullptr;
}

std::size_t item_size(const Item& item) { return map_size(item); }

std::string resolve_dynamodb_endpoint(std::string_view region, const GetEnv& env) {
  return resolve_endpoint("DynamoDB", "dynamodb", region, env);
}

awaitable<void> wait_for(std::chrono::milliseconds d) {
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
  timer.expires_after(d);
  auto [ec] = co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
  (void)ec;
}

// ---- Client -----------------------------------------------------------------------------------------

namespace {

constexpr std::string_view kContentType = "application/x-amz-json-1.0";
constexpr std::string_view kTargetPrefix = "DynamoDB_20120810.";

void put_condition(json::object& req, Condition c) {
  if (!c.expression.empty()) req["ConditionExpression"] = c.expression;
  if (!c.names.empty()) req["ExpressionAttributeNames"] = std::move(c.names);
  if (!c.values.empty()) req["ExpressionAttributeValues"] = std::move(c.values);
}

Error protocol_error(std::string_view operation, std::string what) {
  Error e = Error::make(ErrorKind::upstream, "DynamoDB " + std::string(operation) + ": " + std::move(what));
  return e;
}

// DescribeTable's Table object (kept out of the coroutine: GCC 12 miscompiles some locals in coroutines).
TableDescription parse_table(const json::object& obj) {
  auto str = [](const json::object& o, std::string_view k) -> std::string {
    auto* v = o.if_contains(k);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
  };
  TableDescription d;
  d.name = str(obj, "TableName");
  d.status = str(obj, "TableStatus");
  if (auto* b = obj.if_contains("BillingModeSummary"); b && b->is_object()) d.billing_mode = str(b->as_object(), "BillingMode");
  std::vector<std::pair<std::string, std::string>> types;
  if (auto* defs = obj.if_contains("AttributeDefinitions"); defs && defs->is_array()) {
    for (const auto& a : defs->as_array()) {
      if (a.is_object()) types.emplace_back(str(a.as_object(), "AttributeName"), str(a.as_object(), "AttributeType"));
    }
  }
  if (auto* ks = obj.if_contains("KeySchema"); ks && ks->is_array()) {
    for (const auto& k : ks->as_array()) {
      if (!k.is_object()) continue;
      KeyAttribute ka{str(k.as_object(), "AttributeName"), "", str(k.as_object(), "KeyType")};
      for (const auto& t : types) {
        if (t.first == ka.name) ka.type = t.second;
      }
      d.key_schema.push_back(std::move(ka));
    }
  }
  return d;
}

}  // namespace

Client::Client(net::HttpClient& http, CredentialsProvider& credentials, ClientConfig config, Clock& clock,
               Random& random)
    : http_(http), credentials_(credentials), config_(std::move(config)), clock_(clock), random_(random) {
  if (config_.region.empty()) throw std::invalid_argument("DynamoDB client: no region configured");
  while (!config_.endpoint.empty() && config_.endpoint.back() == '/') config_.endpoint.pop_back();
  if (config_.endpoint.empty()) throw std::invalid_argument("DynamoDB client: no endpoint configured");
  if (auto url = net::parse_url(config_.endpoint); !url)
    throw std::invalid_argument("DynamoDB client: bad endpoint \"" + config_.endpoint + "\": " + url.error().message);
  if (config_.max_attempts < 1) config_.max_attempts = 1;
}

std::chrono::milliseconds Client::backoff(int attempt) {
  // Full jitter: uniform in [0, min(max, base * 2^attempt)].
  const auto cap = std::min<std::int64_t>(config_.max_backoff.count(),
                                          config_.base_backoff.count() << std::min(attempt, 20));
  return std::chrono::milliseconds(static_cast<std::int64_t>(random_.uniform() * static_cast<double>(cap)));
}

awaitable<Result<json::object>> Client::call(std::string_view operation, json::object request) {
  const std::string body = json::serialize(request);
  // The net layer's deadlines are on the steady clock (not the injected one, which tests may freeze).
  std::optional<SteadyTime> deadline;
  if (config_.call_timeout.count() > 0) deadline = std::chrono::steady_clock::now() + config_.call_timeout;
  for (int attempt = 1;; ++attempt) {
    auto out = co_await this->attempt(operation, body, deadline);
    if (out || !out.error().retryable || attempt >= config_.max_attempts) co_return out;
    const auto pause = backoff(attempt);
    if (deadline && std::chrono::steady_clock::now() + pause >= *deadline) co_return out;
    co_await wait_for(pause);
  }
}

awaitable<Result<json::object>> Client::attempt(std::string_view operation, const std::string& body,
                                                std::optional<SteadyTime> deadline) {
  auto creds = co_await credentials_.get();
  if (!creds) co_return std::unexpected(std::move(creds.error()));
  net::HttpRequest req;
  req.method = "POST";
  req.url = config_.endpoint + "/";
  req.headers.set("Content-Type", std::string(kContentType));
  req.headers.set("X-Amz-Target", std::string(kTargetPrefix) + std::string(operation));
  req.headers.set("Accept-Encoding", "identity");
  req.body = body;
  SigningParams params;
  params.region = config_.region;
  params.service = "dynamodb";
  params.time = clock_.wall();
  sign_request(req, *creds, params);

  net::RequestOptions options;
  options.connect_timeout = config_.connect_timeout;
  options.read_timeout = config_.read_timeout;
  options.deadline = deadline;
  auto sent = co_await http_.send(std::move(req), options);
  if (!sent) co_return std::unexpected(std::move(sent.error()));
  const net::HttpResponse& response = *sent;
  const std::string request_id(response.headers.get("x-amzn-RequestId").value_or(""));

  // DynamoDB sends the CRC32 of the body; a mismatch means a damaged response (retryable, as the SDKs do).
  if (auto crc = response.headers.get("x-amz-crc32")) {
    std::uint32_t expected = 0;
    auto [p, ec] = std::from_chars(crc->data(), crc->data() + crc->size(), expected);
    if (ec == std::errc() && p == crc->data() + crc->size() && expected != crc32(response.body)) {
      Error e = Error::make(ErrorKind::network, "DynamoDB " + std::string(operation) +
                                                    ": response body does not match its x-amz-crc32 header");
      e.retryable = true;
      e.request_id = request_id;
      co_return std::unexpected(std::move(e));
    }
  }

  if (response.status < 200 || response.status > 299) {
    Error e = parse_json_error(response);
    if (e.request_id.empty()) e.request_id = request_id;
    e.message = "DynamoDB " + std::string(operation) + ": " + e.message;
    co_return std::unexpected(std::move(e));
  }
  boost::system::error_code ec;
  json::value parsed = json::parse(response.body.empty() ? std::string_view("{}") : std::string_view(response.body), ec);
  if (ec || !parsed.is_object()) {
    Error e = protocol_error(operation, "response is not a JSON object");
    e.request_id = request_id;
    co_return std::unexpected(std::move(e));
  }
  co_return std::move(parsed.as_object());
}

awaitable<Result<std::optional<Item>>> Client::get_item(std::string table, Item key, bool consistent_read) {
  json::object req{{"TableName", table}, {"Key", std::move(key)}, {"ConsistentRead", consistent_read}};
  auto out = co_await call("GetItem", std::move(req));
  if (!out) co_return std::unexpected(std::move(out.error()));
  auto* item = out->if_contains("Item");
  if (!item) co_return std::optional<Item>();
  if (!item->is_object()) co_return std::unexpected(protocol_error("GetItem", "Item is not an object"));
  co_return std::optional<Item>(std::move(item->as_object()));
}

awaitable<Status> Client::put_item(std::string table, Item item, Condition condition) {
  json::object req{{"TableName", table}, {"Item", std::move(item)}};
  put_condition(req, std::move(condition));
  auto out = co_await call("PutItem", std::move(req));
  if (!out) co_return std::unexpected(std::move(out.error()));
  co_return Status{};
}

awaitable<Result<Item>> Client::update_item(std::string table, Item key, std::string update, Condition condition) {
  json::object req{{"TableName", table}, {"Key", std::move(key)}, {"UpdateExpression", update},
                   {"ReturnValues", "ALL_NEW"}};
  put_condition(req, std::move(condition));
  auto out = co_await call("UpdateItem", std::move(req));
  if (!out) co_return std::unexpected(std::move(out.error()));
  auto* attrs = out->if_contains("Attributes");
  if (!attrs || !attrs->is_object()) co_return Item{};
  co_return std::move(attrs->as_object());
}

awaitable<Status> Client::delete_item(std::string table, Item key, Condition condition) {
  json::object req{{"TableName", table}, {"Key", std::move(key)}};
  put_condition(req, std::move(condition));
  auto out = co_await call("DeleteItem", std::move(req));
  if (!out) co_return std::unexpected(std::move(out.error()));
  co_return Status{};
}

awaitable<Result<QueryPage>> Client::query(QueryRequest r) {
  json::object req{{"TableName", r.table},
                   {"KeyConditionExpression", r.key_condition},
                   {"ScanIndexForward", r.forward},
                   {"ConsistentRead", r.consistent_read}};
  if (!r.names.empty()) req["ExpressionAttributeNames"] = std::move(r.names);
  if (!r.values.empty()) req["ExpressionAttributeValues"] = std::move(r.values);
  if (!r.projection.empty()) req["ProjectionExpression"] = r.projection;
  if (r.limit) req["Limit"] = *r.limit;
  if (r.exclusive_start_key) req["ExclusiveStartKey"] = std::move(*r.exclusive_start_key);
  auto out = co_await call("Query", std::move(req));
  if (!out) co_return std::unexpected(std::move(out.error()));
  QueryPage page;
  if (auto* items = out->if_contains("Items")) {
    if (!items->is_array()) co_return std::unexpected(protocol_error("Query", "Items is not an array"));
    for (auto& v : items->as_array()) {
      if (!v.is_object()) co_return std::unexpected(protocol_error("Query", "an item is not an object"));
      page.items.push_back(std::move(v.as_object()));
    }
  }
  if (auto* last = out->if_contains("LastEvaluatedKey"); last && last->is_object() && !last->as_object().empty()) {
    page.last_evaluated_key = std::move(last->as_object());
  }
  co_return page;
}

awaitable<Status> Client::batch_delete(std::string table, std::vector<Item> keys) {
  constexpr std::size_t kBatch = 25;  // BatchWriteItem's limit
  std::size_t next = 0;
  json::array pending;
  int idle_rounds = 0;
  while (next < keys.size() || !pending.empty()) {
    while (pending.size() < kBatch && next < keys.size()) {
      pending.push_back(json::object{{"DeleteRequest", json::object{{"Key", std::move(keys[next++])}}}});
    }
    json::object req{{"RequestItems", json::object{{table, std::move(pending)}}}};
    pending = json::array();
    auto out = co_await call("BatchWriteItem", std::move(req));
    if (!out) co_return std::unexpected(std::move(out.error()));
    // Unprocessed requests (throttling) go round again after a backoff.
    if (auto* un = out->if_contains("UnprocessedItems"); un && un->is_object()) {
      if (auto* mine = un->as_object().if_contains(table); mine && mine->is_array() && !mine->as_array().empty()) {
        pending = std::move(mine->as_array());
        if (++idle_rounds > 8 * config_.max_attempts) {
          Error e = Error::make(ErrorKind::throttled, "DynamoDB BatchWriteItem: items stayed unprocessed");
          e.retryable = true;
          e.throttle = true;
          co_return std::unexpected(std::move(e));
        }
        co_await wait_for(backoff(idle_rounds));
        continue;
      }
    }
    idle_rounds = 0;
  }
  co_return Status{};
}

awaitable<Result<std::optional<TableDescription>>> Client::describe_table(std::string table) {
  json::object req{{"TableName", table}};
  auto out = co_await call("DescribeTable", std::move(req));
  if (!out) {
    if (out.error().kind == ErrorKind::not_found) co_return std::optional<TableDescription>();
    co_return std::unexpected(std::move(out.error()));
  }
  auto* t = out->if_contains("Table");
  if (!t || !t->is_object()) co_return std::unexpected(protocol_error("DescribeTable", "no Table in the response"));
  co_return std::optional<TableDescription>(parse_table(t->as_object()));
}

awaitable<Status> Client::create_table(std::string table, std::vector<KeyAttribute> key_schema) {
  json::array defs, keys;
  for (const auto& k : key_schema) {
    defs.push_back(json::object{{"AttributeName", k.name}, {"AttributeType", k.type}});
    keys.push_back(json::object{{"AttributeName", k.name}, {"KeyType", k.key_type}});
  }
  json::object req{{"TableName", table},
                   {"AttributeDefinitions", std::move(defs)},
                   {"KeySchema", std::move(keys)},
                   {"BillingMode", "PAY_PER_REQUEST"}};
  auto out = co_await call("CreateTable", std::move(req));
  if (!out) co_return std::unexpected(std::move(out.error()));
  co_return Status{};
}

awaitable<Status> Client::update_time_to_live(std::string table, std::string attribute, bool enabled) {
  json::object req{{"TableName", table},
                   {"TimeToLiveSpecification", json::object{{"AttributeName", attribute}, {"Enabled", enabled}}}};
  auto out = co_await call("UpdateTimeToLive", std::move(req));
  if (!out) co_return std::unexpected(std::move(out.error()));
  co_return Status{};
}

}  // namespace ba::aws::dynamodb
