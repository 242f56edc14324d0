#include "aws/errors.hpp"

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <charconv>

#include "util/encoding.hpp"

namespace ba::aws {
namespace {

// The SDKs' standard-mode throttling codes (botocore retries/standard.py, aws-sdk-go-v2 retry, smithy-ts).
constexpr std::array<std::string_view, 13> kThrottlingCodes = {
    "Throttling",          "ThrottlingException",       "ThrottledException",
    "RequestThrottledException", "TooManyRequestsException", "ProvisionedThroughputExceededException",
    "TransactionInProgressException", "RequestLimitExceeded", "BandwidthLimitExceeded",
    "LimitExceededException", "RequestThrottled",       "SlowDown",
    "EC2ThrottledException"};

// Transient codes the SDKs retry without treating them as throttles.
constexpr std::array<std::string_view, 3> kTransientTimeoutCodes = {"RequestTimeout", "RequestTimeoutException",
                                                                     "PriorRequestNotComplete"};

bool in(std::string_view code, auto const& list) { return std::ranges::find(list, code) != list.end(); }

// "ns#Code:http://..." -> "Code".
std::string_view normalize_type(std::string_view type) {
  type = trim(type);
  if (auto colon = type.find(':'); colon != std::string_view::npos) type = type.substr(0, colon);
  if (auto hash = type.rfind('#'); hash != std::string_view::npos) type = type.substr(hash + 1);
  return trim(type);
}

// The HTTP status Bedrock's model gives an exception (used for in-stream exceptions, which arrive after 200).
int status_of(std::string_view code) {
  if (code == "ThrottlingException" || code == "ModelNotReadyException") return 429;
  if (code == "ServiceUnavailableException") return 503;
  if (code == "InternalServerException") return 500;
  if (code == "ModelTimeoutException") return 408;
  if (code == "ModelErrorException" || code == "ModelStreamErrorException") return 424;
  if (code == "ValidationException" || code == "ServiceQuotaExceededException") return 400;
  if (code == "AccessDeniedException") return 403;
  if (code == "ResourceNotFoundException") return 404;
  return 0;
}

std::string json_message(const boost::json::object& obj) {
  for (const char* key : {"message", "Message", "errorMessage"}) {
    if (auto* v = obj.if_contains(key); v && v->is_string()) return std::string(v->as_string());
  }
  return {};
}

// A tiny extractor for S3-style XML errors: <Error><Code>..</Code><Message>..</Message></Error>.
std::string xml_element(std::string_view body, std::string_view name) {
  const std::string open = "<" + std::string(name) + ">";
  const std::string close = "</" + std::string(name) + ">";
  auto a = body.find(open);
  if (a == std::string_view::npos) return {};
  a += open.size();
  auto b = body.find(close, a);
  if (b == std::string_view::npos) return {};
  return std::string(body.substr(a, b - a));
}

}  // namespace

Error classify_error(std::string_view type, int http_status, std::string message) {
  const std::string code(normalize_type(type));
  Error e;
  e.code = code;
  e.http_status = http_status;
  e.message = std::move(message);
  auto set = [&](ErrorKind k, bool retryable, bool throttle = false) {
    e.kind = k;
    e.retryable = retryable;
    e.throttle = throttle;
  };

  const bool throttling_code = in(code, kThrottlingCodes);
  const bool per_day = icontains(e.message, "per day");
  if ((throttling_code || (code.empty() && http_status == 429)) && per_day) {
    // "Too many tokens per day": the daily cap, retrying within minutes will not help.
    set(ErrorKind::quota_exceeded, false);
  } else if (throttling_code) {
    set(ErrorKind::throttled, true, true);
  } else if (code == "ModelNotReadyException") {
    set(ErrorKind::unavailable, true);
  } else if (in(code, kTransientTimeoutCodes)) {
    set(ErrorKind::timeout, true);
  } else if (code == "ModelTimeoutException") {
    set(ErrorKind::timeout, false);
  } else if (code == "ModelErrorException" || code == "ModelStreamErrorException") {
    set(ErrorKind::upstream, false);
  } else if (code == "ServiceUnavailableException" || code == "ServiceUnavailable" ||
             code == "InternalServerException" || code == "InternalServerError" || code == "InternalFailure" ||
             code == "InternalError") {
    set(ErrorKind::unavailable, true);
  } else if (code == "ValidationException" || code == "SerializationException" || code == "InvalidParameterValue" ||
             code == "InvalidRequest" || code == "MalformedInput") {
    set(ErrorKind::invalid_input, false);
  } else if (code == "AccessDeniedException" || code == "AccessDenied") {
    set(ErrorKind::forbidden, false);
  } else if (code == "UnrecognizedClientException" || code == "InvalidSignatureException" ||
             code == "SignatureDoesNotMatch" || code == "IncompleteSignature" || code == "MissingAuthenticationToken" ||
             code == "ExpiredTokenException" || code == "ExpiredToken" || code == "InvalidClientTokenId" ||
             code == "InvalidAccessKeyId") {
    set(ErrorKind::unauthorized, false);
  } else if (code == "ResourceNotFoundException" || code == "NoSuchKey" || code == "NoSuchBucket") {
    set(ErrorKind::not_found, false);
  } else if (code == "ServiceQuotaExceededException") {
    set(ErrorKind::quota_exceeded, false);
  } else if (code == "ConflictException" || code == "ConditionalCheckFailedException" ||
             code == "TransactionConflictException" || code == "ResourceInUseException") {
    set(ErrorKind::conflict, false);
  } else {
    // Unknown or absent code: fall back on the HTTP status.
    switch (http_status) {
      case 500: case 502: case 503: case 504: set(ErrorKind::unavailable, true); break;
      case 429: set(ErrorKind::throttled, true, true); break;
      case 401: set(ErrorKind::unauthorized, false); break;
      case 403: set(ErrorKind::forbidden, false); break;
      case 404: set(ErrorKind::not_found, false); break;
      case 408: set(ErrorKind::timeout, false); break;
      case 409: set(ErrorKind::conflict, false); break;
      case 413: set(ErrorKind::too_large, false); break;
      case 424: set(ErrorKind::upstream, false); break;
      default:
        if (http_status >= 500) set(ErrorKind::unavailable, false);
        else if (http_status >= 400) set(ErrorKind::invalid_input, false);
        else set(ErrorKind::internal, false);
    }
  }
  if (e.message.empty()) {
    e.message = !code.empty() ? code : http_status ? std::string(net::reason_phrase(http_status)) : "unknown AWS error";
  }
  return e;
}

Error parse_json_error(const net::HttpResponse& response) {
  std::string type;
  std::string message;
  if (auto h = response.headers.get("x-amzn-ErrorType")) type = std::string(*h);

  boost::system::error_code ec;
  auto value = boost::json::parse(response.body, ec);
  if (!ec && value.is_object()) {
    const auto& obj = value.as_object();
    if (type.empty()) {
      for (const char* key : {"code", "Code", "__type"}) {
        if (auto* v = obj.if_contains(key); v && v->is_string() && !v->as_string().empty()) {
          type = std::string(v->as_string());
          break;
        }
      }
    }
    message = json_message(obj);
  } else if (auto body = trim(response.body); !body.empty() && body.front() == '<') {
    if (type.empty()) type = xml_element(body, "Code");
    message = xml_element(body, "Message");
  }

  Error e = classify_error(type, response.status, std::move(message));
  if (auto id = response.headers.get("x-amzn-RequestId")) e.request_id = std::string(*id);
  else if (auto s3id = response.headers.get("x-amz-request-id")) e.request_id = std::string(*s3id);

  auto parse_int = [](std::string_view s) -> std::optional<long long> {
    s = trim(s);
    long long v = 0;
    auto [p, err] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (err != std::errc{} || p != s.data() + s.size() || v < 0) return std::nullopt;
    return v;
  };
  if (auto ra = response.headers.get("x-amz-retry-after")) {
    if (auto ms = parse_int(*ra)) e.retry_after = std::chrono::milliseconds(*ms);
  } else if (auto ras = response.headers.get("Retry-After")) {
    if (auto s = parse_int(*ras)) e.retry_after = std::chrono::milliseconds(*s * 1000);
  }
  return e;
}

Error parse_stream_exception(std::string_view exception_type, std::string_view payload) {
  std::string code(normalize_type(exception_type));
  if (!code.empty() && code.front() >= 'a' && code.front() <= 'z') code.front() = static_cast<char>(code.front() - 'a' + 'A');
  std::string message;
  boost::system::error_code ec;
  auto value = boost::json::parse(payload, ec);
  if (!ec && value.is_object()) {
    message = json_message(value.as_object());
  } else {
    message = std::string(payload);  // :message-type=error frames carry a plain :error-message
  }
  Error e = classify_error(code, status_of(code), std::move(message));
  if (e.http_status == 0 && e.kind == ErrorKind::internal) {
    // An unknown exception after the stream started is a failure of the model or service.
    e.kind = ErrorKind::upstream;
  }
  return e;
}

}  // namespace ba::aws
