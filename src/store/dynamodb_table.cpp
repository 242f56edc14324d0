#include "store/dynamodb_table.hpp"

#include "aws/dynamodb.hpp"

namespace ba::store::ddb {

namespace {

bool schema_ok(const aws::dynamodb::TableDescription& d) {
  bool hash = false, range = false;
  for (const auto& k : d.key_schema) {
    if (k.key_type == "HASH" && k.name == kPk && (k.type.empty() || k.type == "S")) hash = true;
    else if (k.key_type == "RANGE" && k.name == kSk && (k.type.empty() || k.type == "N")) range = true;
    else return false;
  }
  return hash && range;
}

// Outside coroutine bodies: GCC 12 rejects brace-init lists in co_await expressions.
std::vector<aws::dynamodb::KeyAttribute> key_schema() {
  return {{std::string(kPk), "S", "HASH"}, {std::string(kSk), "N", "RANGE"}};
}

std::string describe_schema(const aws::dynamodb::TableDescription& d) {
  std::string s;
  for (const auto& k : d.key_schema) {
    if (!s.empty()) s += ", ";
    s += k.name + " (" + (k.type.empty() ? "?" : k.type) + ", " + k.key_type + ")";
  }
  return s.empty() ? "no key schema" : s;
}

}  // namespace

boost::asio::awaitable<Status> ensure_dynamodb_table(aws::dynamodb::Client& client, std::string table,
                                                     EnsureTableOptions options,
                                                     std::function<void(std::string_view)> warn) {
  auto described = co_await client.describe_table(table);
  if (!described) co_return std::unexpected(std::move(described.error()));
  bool created = false;
  if (!*described) {
    if (!options.create_missing) {
      co_return fail(ErrorKind::not_found, "DynamoDB table '" + table +
                                               "' does not exist: create it as docs/storage.md describes, or pass "
                                               "--create-missing");
    }
    auto st = co_await client.create_table(table, key_schema());
    // Someone else created it at the same moment: fine, check it like any existing table.
    if (!st && !(st.error().code == "ResourceInUseException")) co_return st;
    created = st.has_value();
  }
  // Wait until ACTIVE (a new table starts CREATING), polling DescribeTable on a timer.
  const auto until = client.clock().now() + options.wait_active;
  for (;;) {
    auto d = co_await client.describe_table(table);
    if (!d) co_return std::unexpected(std::move(d.error()));
    if (!*d) {
      if (client.clock().now() >= until) {
        co_return fail(ErrorKind::unavailable, "DynamoDB table '" + table + "' did not appear after CreateTable");
      }
    } else {
      if (!schema_ok(**d)) {
        co_return fail(ErrorKind::invalid_input, "DynamoDB table '" + table + "' has key schema " +
                                                     describe_schema(**d) +
                                                     "; bedrock-agent needs pk (S, HASH) + sk (N, RANGE)");
      }
      if ((*d)->status == "ACTIVE" || (*d)->status.empty()) break;
      if ((*d)->status == "DELETING") {
        co_return fail(ErrorKind::unavailable, "DynamoDB table '" + table + "' is being deleted");
      }
      if (client.clock().now() >= until) {
        co_return fail(ErrorKind::unavailable,
                       "DynamoDB table '" + table + "' is still " + (*d)->status + " after waiting for ACTIVE");
      }
    }
    co_await aws::dynamodb::wait_for(options.poll_interval);
  }
  if (created) {
    auto ttl = co_await client.update_time_to_live(table, std::string(kTtl), true);
    if (!ttl) {
      if (ttl.error().code == "UnknownOperationException") {
        if (warn) {
          warn("DynamoDB endpoint does not support UpdateTimeToLive (dynalite?): table '" + table +
               "' created without TTL; old turns will not expire");
        }
      } else {
        co_return std::unexpected(std::move(ttl.error()));
      }
    }
  }
  co_return Status{};
}

}  // namespace ba::store::ddb
