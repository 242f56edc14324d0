#include "store/dynamodb_idempotency.hpp"

#include <stdexcept>
#include <utility>

#include "aws/dynamodb.hpp"
#include "store/dynamodb_table.hpp"
#include "util/encoding.hpp"

namespace ba::store {
namespace {

namespace dyn = aws::dynamodb;
using boost::asio::awaitable;
using dyn::attr_n;
using dyn::attr_s;
using dyn::Item;

constexpr std::string_view kOwner = "owner";
constexpr std::string_view kKey = "idem_key";
constexpr std::string_view kState = "state";
constexpr std::string_view kRequestHash = "request_hash";
constexpr std::string_view kStatus = "status";
constexpr std::string_view kResponseBody = "response_body";
constexpr std::string_view kExpiresAtMs = "expires_at_ms";
constexpr std::string_view kInFlight = "in_flight";
constexpr std::string_view kCompleted = "completed";

// Keys longer than this are hashed into the partition key (pk is limited to 2048 bytes).
constexpr std::size_t kMaxRawKey = 512;
constexpr int kClaimAttempts = 4;

class DynamoIdempotency final : public IdempotencyStore {
 public:
  DynamoIdempotency(dyn::Client& client, DynamoIdempotencyOptions options)
      : client_(client), options_(std::move(options)) {
    if (options_.table.empty()) throw std::invalid_argument("DynamoDB idempotency store: no table name");
  }

  awaitable<Result<std::optional<IdempotencyRecord>>> claim(std::string owner, std::string key,
                                                            std::string request_hash,
                                                            std::chrono::milliseconds in_flight_ttl) override {
    for (int attempt = 1; attempt <= kClaimAttempts; ++attempt) {
      const std::int64_t now = now_ms();
      const std::int64_t expires = now + in_flight_ttl.count();
      Item item = key_of(owner, key);
      item[ddb::kKind] = attr_s("idempotency");
      item[kOwner] = attr_s(owner);
      item[kKey] = attr_s(key);
      item[kState] = attr_s(kInFlight);
      item[kRequestHash] = attr_s(request_hash);
      item[kStatus] = attr_n(0);
      item[kExpiresAtMs] = attr_n(expires);
      item[ddb::kTtl] = attr_n(ttl_seconds(expires));
      auto put = co_await client_.put_item(options_.table, std::move(item), claim_condition(now));
      if (put) co_return std::optional<IdempotencyRecord>();
      if (put.error().kind != ErrorKind::conflict) co_return std::unexpected(std::move(put.error()));
      // Someone holds it: return their record, unless it vanished or expired in the meantime.
      auto got = co_await client_.get_item(options_.table, key_of(owner, key));
      if (!got) co_return std::unexpected(std::move(got.error()));
      if (!*got) continue;
      IdempotencyRecord r = parse(**got);
      if (r.expires_at_ms <= now_ms()) continue;
      co_return std::optional<IdempotencyRecord>(std::move(r));
    }
    Error e = Error::make(ErrorKind::conflict, "idempotency key '" + key + "' is changing hands too fast to claim");
    e.retryable = true;
    co_return std::unexpected(std::move(e));
  }

  awaitable<Status> complete(std::string owner, std::string key, int status, std::string response_body,
                             std::chrono::milliseconds retention) override {
    if (response_body.size() > options_.max_response_bytes) {
      co_return fail(ErrorKind::too_large, "the answer to store under idempotency key '" + key + "' is " +
                                               std::to_string(response_body.size()) + " bytes, over the " +
                                               std::to_string(options_.max_response_bytes) + "-byte limit");
    }
    const std::int64_t expires = now_ms() + retention.count();
    auto out = co_await client_.update_item(
        options_.table, key_of(owner, key),
        "SET #st = :completed, #status = :status, #body = :body, #exp = :exp, #ttl = :ttl",
        complete_condition(status, response_body, expires));
    if (!out) {
      Error e = std::move(out.error());
      if (e.kind == ErrorKind::conflict) {
        e.message = "idempotency key '" + key + "' is not in flight (released, expired, or already completed)";
      }
      co_return std::unexpected(std::move(e));
    }
    co_return Status{};
  }

  awaitable<Status> release(std::string owner, std::string key) override {
    auto st = co_await client_.delete_item(options_.table, key_of(owner, key), in_flight_condition());
    if (!st && st.error().kind == ErrorKind::conflict) co_return Status{};  // nothing in flight: nothing to drop
    co_return st;
  }

 private:
  // Conditions are built outside coroutine bodies: GCC 12 rejects brace-init lists in co_await expressions.
  static dyn::Condition claim_condition(std::int64_t now) {
    return {"attribute_not_exists(#pk) OR #exp <= :now", Item{{"#pk", ddb::kPk}, {"#exp", kExpiresAtMs}},
            Item{{":now", attr_n(now)}}};
  }
  static dyn::Condition complete_condition(int status, const std::string& body, std::int64_t expires) {
    return {"#st = :in_flight",
            Item{{"#st", kState}, {"#status", kStatus}, {"#body", kResponseBody}, {"#exp", kExpiresAtMs},
                 {"#ttl", ddb::kTtl}},
            Item{{":completed", attr_s(kCompleted)},
                 {":in_flight", attr_s(kInFlight)},
                 {":status", attr_n(status)},
                 {":body", attr_s(body)},
                 {":exp", attr_n(expires)},
                 {":ttl", attr_n(ttl_seconds(expires))}}};
  }
  static dyn::Condition in_flight_condition() {
    return {"#st = :in_flight", Item{{"#st", kState}}, Item{{":in_flight", attr_s(kInFlight)}}};
  }

  std::int64_t now_ms() const {
    Clock& clock = options_.clock ? *options_.clock : system_clock();
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock.wall().time_since_epoch()).count();
  }

  // DynamoDB's TTL attribute is in seconds; round up so the item outlives its expires_at_ms.
  static std::int64_t ttl_seconds(std::int64_t ms) { return (ms + 999) / 1000; }

  static Item key_of(const std::string& owner, const std::string& key) {
    std::string pk = std::string(ddb::kIdempotencyPrefix) + sha256_hex(owner) + "#" +
                     (key.size() <= kMaxRawKey ? key : "sha256:" + sha256_hex(key));
    return Item{{ddb::kPk, attr_s(pk)}, {ddb::kSk, attr_n(0)}};
  }

  static IdempotencyRecord parse(const Item& item) {
    IdempotencyRecord r;
    r.state = dyn::get_s(item, kState).value_or("") == kCompleted ? IdempotencyRecord::State::completed
                                                                   : IdempotencyRecord::State::in_flight;
    r.request_hash = dyn::get_s(item, kRequestHash).value_or("");
    r.status = static_cast<int>(dyn::get_n(item, kStatus).value_or(0));
    r.response_body = dyn::get_s(item, kResponseBody).value_or("");
    r.expires_at_ms = dyn::get_n(item, kExpiresAtMs).value_or(0);
    return r;
  }

  dyn::Client& client_;
  DynamoIdempotencyOptions options_;
};

}  // namespace

std::unique_ptr<IdempotencyStore> make_dynamodb_idempotency(aws::dynamodb::Client& client,
                                                            DynamoIdempotencyOptions options) {
  return std::make_unique<DynamoIdempotency>(client, std::move(options));
}

}  // namespace ba::store
