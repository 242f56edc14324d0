// DynamoDB responses and items (aws::dynamodb::Client over a scripted HttpClient, and the item helpers;
// docs/testing.md, "Fuzzing"). The fuzzed bytes are DynamoDB's answer to GetItem, Query, UpdateItem,
// DescribeTable or BatchWriteItem: status, an x-amz-crc32 header (right, wrong or absent) and the body.
// Checked:
// - an answer never throws and never succeeds with a non-2xx status or a body that does not match its CRC;
// - errors have a kind and a message naming the operation;
// - every item decoded (GetItem's Item, Query's Items, UpdateItem's Attributes) is an object whose
//   attributes read back through get_s/get_n/get_bool/get_m as they are written in the JSON
//   (get_n exactly when "N" is an int64), with item_size at least the sum of the attribute names.
#include <fuzzer/FuzzedDataProvider.h>

#include <boost/json.hpp>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string>

#include "aws/credentials.hpp"
#include "aws/dynamodb.hpp"
#include "fuzz_check.hpp"
#include "run_sync.hpp"
#include "net/http_client.hpp"
#include "util/encoding.hpp"

namespace json = boost::json;
namespace ddb = ba::aws::dynamodb;

namespace {

class Scripted final : public ba::net::HttpClient {
 public:
  explicit Scripted(ba::net::HttpResponse r) : response_(std::move(r)) {}
  boost::asio::awaitable<ba::Result<ba::net::HttpResponse>> send(ba::net::HttpRequest, ba::net::RequestOptions) override {
    ++calls;
    co_return response_;
  }
  boost::asio::awaitable<ba::Result<ba::net::HttpResponse>> send_streaming(ba::net::HttpRequest, ba::net::BodySink,
                                                                           ba::net::RequestOptions) override {
    co_return ba::fail(ba::ErrorKind::internal, "not used");
  }
  int calls = 0;

 private:
  ba::net::HttpResponse response_;
};

void check_item(const ddb::Item& item) {
  std::size_t names = 0;
  for (const auto& [k, v] : item) {
    names += k.size();
    const std::string_view name = k;
    const json::object* av = v.is_object() ? &v.as_object() : nullptr;
    auto typed = [&](std::string_view t) -> const json::value* { return av ? av->if_contains(t) : nullptr; };
    const json::value* s = typed("S");
    FUZZ_CHECK(ddb::get_s(item, name).has_value() == (s && s->is_string()));
    const json::value* n = typed("N");
    std::optional<std::int64_t> want;
    if (n && n->is_string()) {
      std::int64_t x = 0;
      const auto& str = n->as_string();
      auto [p, ec] = std::from_chars(str.data(), str.data() + str.size(), x);
      if (ec == std::errc() && p == str.data() + str.size()) want = x;
    }
    // An item may repeat a name (JSON allows it, Boost.JSON keeps the last): compare against the lookup's value.
    if (item.if_contains(name) == &v) FUZZ_CHECK(ddb::get_n(item, name) == want);
    const json::value* b = typed("BOOL");
    if (item.if_contains(name) == &v) FUZZ_CHECK(ddb::get_bool(item, name).has_value() == (b && b->is_bool()));
    if (const ddb::Item* m = ddb::get_m(item, name)) check_item(*m);
  }
  FUZZ_CHECK(ddb::item_size(item) >= names);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  const int op = in.ConsumeIntegralInRange(0, 4);
  const int crc_mode = in.ConsumeIntegralInRange(0, 2);  // none, right, wrong
  ba::net::HttpResponse response;
  response.status = in.ConsumeBool() ? 200 : in.ConsumeIntegralInRange(100, 599);
  if (in.ConsumeBool()) response.headers.set("x-amzn-ErrorType", in.ConsumeRandomLengthString(48));
  response.body = in.ConsumeRemainingBytesAsString();
  if (crc_mode == 1) response.headers.set("x-amz-crc32", std::to_string(ba::crc32(response.body)));
  if (crc_mode == 2) response.headers.set("x-amz-crc32", std::to_string(ba::crc32(response.body) ^ 1u));
  const bool ok_status = response.status >= 200 && response.status <= 299;

  Scripted http(response);
  auto creds = ba::aws::make_static_provider(ba::aws::Credentials{"AKIDEXAMPLE", "secret", "", {}, "static"});
  ddb::ClientConfig config;
  config.region = "us-east-1";
  config.endpoint = "http://127.0.0.1:8000";
  config.max_attempts = 1;
  config.base_backoff = std::chrono::milliseconds{0};
  config.max_backoff = std::chrono::milliseconds{0};
  ddb::Client client(http, *creds, config);

  auto failed_well = [&](const ba::Error& e) {
    FUZZ_CHECK(!e.message.empty());
    FUZZ_CHECK(e.message.find("DynamoDB") != std::string::npos);
  };
  auto succeeded = [&] { FUZZ_CHECK(ok_status && crc_mode != 2); };

  switch (op) {
    case 0: {
      auto r = ba::fuzz::run_sync(client.get_item("t", ddb::Item{{"pk", ddb::attr_s("k")}}));
      if (!r) {
        failed_well(r.error());
      } else {
        succeeded();
        if (*r) check_item(**r);
      }
      break;
    }
    case 1: {
      ddb::QueryRequest q;
      q.table = "t";
      q.key_condition = "pk = :pk";
      q.values = ddb::Item{{":pk", ddb::attr_s("k")}};
      auto r = ba::fuzz::run_sync(client.query(std::move(q)));
      if (!r) {
        failed_well(r.error());
      } else {
        succeeded();
        for (const auto& item : r->items) check_item(item);
        if (r->last_evaluated_key) check_item(*r->last_evaluated_key);
      }
      break;
    }
    case 2: {
      auto r = ba::fuzz::run_sync(client.update_item("t", ddb::Item{{"pk", ddb::attr_s("k")}}, "SET a = :a"));
      if (!r) {
        failed_well(r.error());
      } else {
        succeeded();
        check_item(*r);
      }
      break;
    }
    case 3: {
      auto r = ba::fuzz::run_sync(client.describe_table("t"));
      if (!r) {
        failed_well(r.error());
      } else if (*r) {
        succeeded();
        for (const auto& k : (*r)->key_schema) (void)k.name.size();
      }
      break;
    }
    default: {
      std::vector<ddb::Item> keys(3, ddb::Item{{"pk", ddb::attr_s("k")}});
      auto r = ba::fuzz::run_sync(client.batch_delete("t", std::move(keys)));
      if (!r) {
        if (r.error().kind != ba::ErrorKind::throttled) failed_well(r.error());
      } else {
        succeeded();
      }
      FUZZ_CHECK(http.calls <= 1 + 8);
      break;
    }
  }
  return 0;
}
