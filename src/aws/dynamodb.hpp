#pragma once
// A small DynamoDB client: the JSON 1.0 protocol (POST /, X-Amz-Target: DynamoDB_20120810.<Op>,
// Content-Type: application/x-amz-json-1.0) over net::HttpClient, signed with SigV4 (signing name
// "dynamodb"). Items are Boost.JSON objects in DynamoDB's wire form: attribute name -> AttributeValue
// ({"S":..}, {"N":"12"}, {"BOOL":true}, {"NULL":true}, {"M":{..}}, {"L":[..]}); a few helpers below build
// and read them. Not an ORM.
//
// Errors (aws::parse_json_error): ConditionalCheckFailedException -> conflict, ResourceNotFoundException
// -> not_found, ValidationException -> invalid_input, ProvisionedThroughputExceededException /
// ThrottlingException / RequestLimitExceeded -> throttled (retryable), 5xx -> unavailable (retryable),
// UnknownOperationException (dynalite has no UpdateTimeToLive) -> invalid_input with that code.
// Retryable failures (throttles, 5xx, network errors, a bad x-amz-crc32) are retried up to
// max_attempts with jittered exponential backoff on an Asio timer; others are returned at once.
#include <boost/asio/awaitable.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aws/endpoints.hpp"
#include "util/clock.hpp"
#include "util/result.hpp"

namespace ba::net {
class HttpClient;
}

namespace ba::aws {
class CredentialsProvider;
}

namespace ba::aws::dynamodb {

using Item = boost::json::object;  // attribute name -> AttributeValue

// ---- AttributeValue helpers -------------------------------------------------------------------------
boost::json::value attr_s(std::string_view s);
boost::json::value attr_n(std::int64_t n);
boost::json::value attr_bool(bool b);
boost::json::value attr_null();
boost::json::value attr_m(Item m);
boost::json::value attr_l(boost::json::array l);
// nullopt when the attribute is absent or of another type (an "N" that is not an int64 is nullopt too).
std::optional<std::string> get_s(const Item& item, std::string_view name);
std::optional<std::int64_t> get_n(const Item& item, std::string_view name);
std::optional<bool> get_bool(const Item& item, std::string_view name);
const Item* get_m(const Item& item, std::string_view name);
// Approximate stored size of an item as DynamoDB counts it (attribute names + values, UTF-8 bytes;
// numbers ~ digits/2 + 1). Used to stay under the 400 KB item limit.
std::size_t item_size(const Item& item);
inline constexpr std::size_t kMaxItemBytes = 400 * 1024;

// The endpoint as the SDKs resolve it: AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL, then
// https://dynamodb.<region>.amazonaws.com.
std::string resolve_dynamodb_endpoint(std::string_view region, const GetEnv& env = process_env());

struct ClientConfig {
  std::string region;    // signing region
  std::string endpoint;  // base URL, e.g. https://dynamodb.us-east-1.amazonaws.com or http://127.0.0.1:8000
  std::chrono::milliseconds connect_timeout{3'000};
  std::chrono::milliseconds read_timeout{10'000};
  int max_attempts = 4;  // per call, including the first; retryable errors only
  // The whole call, retries and backoff included (0: no limit beyond the timeouts above). Past it the
  // call ends with ErrorKind::timeout, so a frozen endpoint costs a request this long, not
  // max_attempts x read_timeout.
  std::chrono::milliseconds call_timeout{0};
  std::chrono::milliseconds base_backoff{25};
  std::chrono::milliseconds max_backoff{1'000};
};

// Condition for a write: ConditionExpression with its ExpressionAttributeNames/Values (may be empty).
struct Condition {
  std::string expression;
  Item names;   // "#n" -> "name" (string values)
  Item values;  // ":v" -> AttributeValue
};

struct QueryRequest {
  std::string table;
  std::string key_condition;  // KeyConditionExpression
  Item names;                 // ExpressionAttributeNames
  Item values;                // ExpressionAttributeValues
  std::string projection;     // ProjectionExpression; empty: all attributes
  bool forward = true;        // ScanIndexForward
  std::optional<int> limit;   // Limit (items evaluated per page)
  std::optional<Item> exclusive_start_key;
  bool consistent_read = true;
};

struct QueryPage {
  std::vector<Item> items;
  std::optional<Item> last_evaluated_key;  // nullopt: the last page
};

struct KeyAttribute {
  std::string name;
  std::string type;      // "S", "N" or "B"
  std::string key_type;  // "HASH" or "RANGE"
};

struct TableDescription {
  std::string name;
  std::string status;  // CREATING, ACTIVE, UPDATING, DELETING, ...
  std::vector<KeyAttribute> key_schema;
  std::string billing_mode;  // PAY_PER_REQUEST or PROVISIONED (empty when the server omits it)
};

class Client {
 public:
  // Throws std::invalid_argument (start-up only) when region or endpoint is missing or not an http(s) URL.
  // `http`, `credentials` and `clock` must outlive the client; calls run on the HttpClient's io_context.
  Client(net::HttpClient& http, CredentialsProvider& credentials, ClientConfig config, Clock& clock = system_clock(),
         Random& random = system_random());

  // One operation: `operation` is the bare name ("PutItem"); the JSON response object on 2xx.
  boost::asio::awaitable<Result<boost::json::object>> call(std::string_view operation, boost::json::object request);

  // nullopt when there is no such item. Strongly consistent by default.
  boost::asio::awaitable<Result<std::optional<Item>>> get_item(std::string table, Item key, bool consistent_read = true);
  boost::asio::awaitable<Status> put_item(std::string table, Item item, Condition condition = {});
  // UpdateExpression `update`; `condition.names/values` serve both expressions. Returns ALL_NEW attributes.
  boost::asio::awaitable<Result<Item>> update_item(std::string table, Item key, std::string update,
                                                   Condition condition = {});
  boost::asio::awaitable<Status> delete_item(std::string table, Item key, Condition condition = {});
  boost::asio::awaitable<Result<QueryPage>> query(QueryRequest request);
  // Deletes `keys` with BatchWriteItem (25 per request), resubmitting UnprocessedItems with backoff.
  boost::asio::awaitable<Status> batch_delete(std::string table, std::vector<Item> keys);

  // nullopt when the table does not exist.
  boost::asio::awaitable<Result<std::optional<TableDescription>>> describe_table(std::string table);
  // CreateTable with on-demand billing (PAY_PER_REQUEST).
  boost::asio::awaitable<Status> create_table(std::string table, std::vector<KeyAttribute> key_schema);
  boost::asio::awaitable<Status> update_time_to_live(std::string table, std::string attribute, bool enabled = true);

  Clock& clock() const { return clock_; }
  const ClientConfig& config() const { return config_; }

 private:
  boost::asio::awaitable<Result<boost::json::object>> attempt(std::string_view operation, const std::string& body,
                                                              std::optional<SteadyTime> deadline);
  std::chrono::milliseconds backoff(int attempt);

  net::HttpClient& http_;
  CredentialsProvider& credentials_;
  ClientConfig config_;
  Clock& clock_;
  Random& random_;
};

// Waits `d` on an Asio timer of the calling coroutine's executor (backoff between retries; no thread sleeps).
boost::asio::awaitable<void> wait_for(std::chrono::milliseconds d);

}  // namespace ba::aws::dynamodb
