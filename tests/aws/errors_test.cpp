#include "aws/errors.hpp"

#include <gtest/gtest.h>

namespace ba::aws {
namespace {

net::HttpResponse response(int status, std::string body, net::Headers headers = {}) {
  net::HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

struct Row {
  const char* type;
  int status;
  ErrorKind kind;
  bool retryable;
  bool throttle;
};

// bedrock-protocol.md §5, one row each.
TEST(AwsErrors, ProtocolTableRows) {
  const Row rows[] = {
      {"ThrottlingException", 429, ErrorKind::throttled, true, true},
      {"ModelNotReadyException", 429, ErrorKind::unavailable, true, false},
      {"ServiceUnavailableException", 503, ErrorKind::unavailable, true, false},
      {"InternalServerException", 500, ErrorKind::unavailable, true, false},
      {"ModelTimeoutException", 408, ErrorKind::timeout, false, false},
      {"ModelErrorException", 424, ErrorKind::upstream, false, false},
      {"ModelStreamErrorException", 424, ErrorKind::upstream, false, false},
      {"ServiceQuotaExceededException", 400, ErrorKind::quota_exceeded, false, false},
      {"ValidationException", 400, ErrorKind::invalid_input, false, false},
      {"AccessDeniedException", 403, ErrorKind::forbidden, false, false},
      {"ResourceNotFoundException", 404, ErrorKind::not_found, false, false},
  };
  for (const auto& row : rows) {
    // Through the full response parser, with the header as Bedrock sends it and __type in the body.
    net::Headers h{{"x-amzn-ErrorType", std::string(row.type) + ":http://internal.amazon.com/coral/com.amazon.bedrock/"},
                   {"x-amzn-RequestId", "req-1"}};
    auto e = parse_json_error(response(row.status, R"({"message":"m1"})", h));
    EXPECT_EQ(e.code, row.type);
    EXPECT_EQ(e.kind, row.kind) << row.type;
    EXPECT_EQ(e.retryable, row.retryable) << row.type;
    EXPECT_EQ(e.throttle, row.throttle) << row.type;
    EXPECT_EQ(e.http_status, row.status);
    EXPECT_EQ(e.message, "m1");
    EXPECT_EQ(e.request_id, "req-1");
  }
}

TEST(AwsErrors, SdkThrottlingCodesAreRetryableThrottles) {
  for (const char* code : {"Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
                           "TooManyRequestsException", "ProvisionedThroughputExceededException",
                           "TransactionInProgressException", "RequestLimitExceeded", "BandwidthLimitExceeded",
                           "LimitExceededException", "RequestThrottled", "SlowDown", "EC2ThrottledException"}) {
    auto e = classify_error(code, 400, "x");
    EXPECT_EQ(e.kind, ErrorKind::throttled) << code;
    EXPECT_TRUE(e.retryable) << code;
    EXPECT_TRUE(e.throttle) << code;
  }
  for (const char* code : {"RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete"}) {
    auto e = classify_error(code, 400, "x");
    EXPECT_TRUE(e.retryable) << code;
    EXPECT_FALSE(e.throttle) << code;
  }
}

TEST(AwsErrors, DailyTokenCapIsQuotaNotThrottle) {
  auto day = classify_error("ThrottlingException", 429, "Too many tokens per day, please wait before trying again.");
  EXPECT_EQ(day.kind, ErrorKind::quota_exceeded);
  EXPECT_FALSE(day.retryable);
  auto tokens = classify_error("ThrottlingException", 429, "Too many tokens, please wait before trying again.");
  EXPECT_EQ(tokens.kind, ErrorKind::throttled);
  EXPECT_TRUE(tokens.retryable);
  EXPECT_TRUE(tokens.throttle);
  auto requests = classify_error("ThrottlingException", 429, "Too many requests, please wait before trying again.");
  EXPECT_EQ(requests.kind, ErrorKind::throttled);
  EXPECT_TRUE(requests.retryable);
  auto untyped_day = classify_error("", 429, "Too many tokens per day");
  EXPECT_EQ(untyped_day.kind, ErrorKind::quota_exceeded);
}

TEST(AwsErrors, TypeFromHeaderThenBodyKeys) {
  // Header wins over the body.
  auto e = parse_json_error(response(400, R"({"__type":"ValidationException","message":"bad"})",
                                     {{"X-Amzn-Errortype", "AccessDeniedException:http://x"}}));
  EXPECT_EQ(e.code, "AccessDeniedException");
  // code, Code, __type in that order; namespace before '#' dropped.
  EXPECT_EQ(parse_json_error(response(400, R"({"code":"ValidationException","__type":"X"})")).code, "ValidationException");
  EXPECT_EQ(parse_json_error(response(400, R"({"Code":"ValidationException"})")).code, "ValidationException");
  auto dynamo = parse_json_error(
      response(400, R"({"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException","Message":"The conditional request failed"})"));
  EXPECT_EQ(dynamo.code, "ConditionalCheckFailedException");
  EXPECT_EQ(dynamo.message, "The conditional request failed");
  EXPECT_EQ(dynamo.kind, ErrorKind::conflict);
  auto ns = parse_json_error(response(400, R"({"__type":"com.amazon.coral.service#ThrottlingException:http://a#b"})"));
  EXPECT_EQ(ns.code, "ThrottlingException");
  EXPECT_EQ(ns.kind, ErrorKind::throttled);
}

TEST(AwsErrors, FallsBackOnHttpStatus) {
  struct S { int status; ErrorKind kind; bool retryable; };
  for (auto s : {S{500, ErrorKind::unavailable, true}, S{502, ErrorKind::unavailable, true},
                 S{503, ErrorKind::unavailable, true}, S{504, ErrorKind::unavailable, true},
                 S{429, ErrorKind::throttled, true}, S{404, ErrorKind::not_found, false},
                 S{403, ErrorKind::forbidden, false}, S{400, ErrorKind::invalid_input, false},
                 S{413, ErrorKind::too_large, false}, S{501, ErrorKind::unavailable, false}}) {
    auto e = parse_json_error(response(s.status, "not json at all"));
    EXPECT_EQ(e.kind, s.kind) << s.status;
    EXPECT_EQ(e.retryable, s.retryable) << s.status;
    EXPECT_TRUE(e.code.empty());
    EXPECT_FALSE(e.message.empty());
  }
}

TEST(AwsErrors, RetryAfterAndRequestId) {
  auto e = parse_json_error(response(429, R"({"message":"Too many requests"})",
                                     {{"x-amzn-ErrorType", "ThrottlingException"}, {"x-amz-retry-after", "1500"},
                                      {"x-amzn-RequestId", "abc-123"}}));
  ASSERT_TRUE(e.retry_after.has_value());
  EXPECT_EQ(e.retry_after->count(), 1500);
  EXPECT_EQ(e.request_id, "abc-123");
  auto bad = parse_json_error(response(429, "{}", {{"x-amz-retry-after", "soon"}}));
  EXPECT_FALSE(bad.retry_after.has_value());
  auto none = parse_json_error(response(429, "{}"));
  EXPECT_FALSE(none.retry_after.has_value());
}

TEST(AwsErrors, S3XmlError) {
  auto e = parse_json_error(response(404, "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>The key does not exist</Message></Error>"));
  EXPECT_EQ(e.code, "NoSuchKey");
  EXPECT_EQ(e.message, "The key does not exist");
  EXPECT_EQ(e.kind, ErrorKind::not_found);
}

TEST(AwsErrors, StreamExceptions) {
  auto t = parse_stream_exception("throttlingException", R"({"message":"Too many tokens, please wait"})");
  EXPECT_EQ(t.code, "ThrottlingException");
  EXPECT_EQ(t.kind, ErrorKind::throttled);
  EXPECT_TRUE(t.retryable);
  EXPECT_EQ(t.http_status, 429);
  EXPECT_EQ(t.message, "Too many tokens, please wait");
  auto m = parse_stream_exception("modelStreamErrorException", R"({"message":"boom","originalStatusCode":500})");
  EXPECT_EQ(m.kind, ErrorKind::upstream);
  EXPECT_FALSE(m.retryable);
  EXPECT_EQ(parse_stream_exception("internalServerException", "{}").kind, ErrorKind::unavailable);
  EXPECT_EQ(parse_stream_exception("serviceUnavailableException", "{}").retryable, true);
  EXPECT_EQ(parse_stream_exception("validationException", R"({"message":"v"})").kind, ErrorKind::invalid_input);
  EXPECT_EQ(parse_stream_exception("modelTimeoutException", "{}").kind, ErrorKind::timeout);
  // :message-type=error frames: code + plain message text.
  auto err = parse_stream_exception("SomethingOdd", "plain text message");
  EXPECT_EQ(err.message, "plain text message");
  EXPECT_EQ(err.kind, ErrorKind::upstream);
}

}  // namespace
}  // namespace ba::aws
