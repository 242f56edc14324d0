#pragma once
// API Gateway proxy events <-> the HTTP API's net::ServerRequest / net::ServerResponse.
//
// Two event shapes are understood:
//   v1  REST API proxy integration (payload format 1.0): httpMethod, path, (multiValue)headers,
//       (multiValue)queryStringParameters, body, isBase64Encoded, requestContext.identity/authorizer.
//   v2  HTTP API (payload format 2.0, "version": "2.0"): requestContext.http.method, rawPath,
//       rawQueryString, headers (repeated values comma-joined), cookies, body, isBase64Encoded,
//       requestContext.authorizer.{jwt.claims, lambda, iam}.
//
// Contract with the API (the request headers this adapter sets; see docs/lambda.md):
//   x-ba-caller        "<source>:<principal>" of the API Gateway caller (below); absent if none.
//   x-ba-deadline-ms   the invocation deadline, absolute Unix milliseconds (set by make_apigw_handler).
// Every client-supplied header whose name starts with "x-ba-" is removed first, so these values can
// be trusted in Lambda mode (and only there: a plain server must ignore them).
#include <boost/asio/awaitable.hpp>
#include <string>
#include <string_view>

#include "net/http_server.hpp"
#include "util/result.hpp"

namespace ba::lambda {

inline constexpr std::string_view kCallerHeader = "x-ba-caller";
inline constexpr std::string_view kDeadlineHeader = "x-ba-deadline-ms";
inline constexpr std::string_view kReservedHeaderPrefix = "x-ba-";

// Who called, as API Gateway established it. Sources, in order of preference:
//   "apikey"      v1 requestContext.identity.apiKeyId (a usage-plan API key's id, never the key)
//   "authorizer"  v1 requestContext.authorizer.principalId (Lambda authorizer) or
//                 v2 requestContext.authorizer.lambda.principalId
//   "jwt"         v1 requestContext.authorizer.claims.sub (Cognito) or v2 authorizer.jwt.claims.sub
//   "iam"         v1 requestContext.identity.userArn or v2 authorizer.iam.userArn
// Empty principal: API Gateway authenticated nobody.
struct Identity {
  std::string principal;
  std::string source;
  std::string header_value() const { return principal.empty() ? std::string() : source + ":" + principal; }
};

struct ApigwRequest {
  net::ServerRequest request;
  Identity identity;
  int version = 1;  // 1 or 2: the shape the response must take
};

// Parses an event. Errors (invalid_input): not JSON, not an API Gateway proxy event, a base64 body
// that does not decode. The returned request carries x-ba-caller when the identity is known.
Result<ApigwRequest> parse_apigw_event(std::string_view event_json);

// The same, as the issue names it; `out` (optional) receives the identity.
Result<net::ServerRequest> from_apigw_event(std::string_view event_json, Identity* out = nullptr);

// Runs a streamed response (ServerResponse::stream) into its body and clears the stream: Lambda
// responses are buffered. No-op for a buffered response.
boost::asio::awaitable<void> buffer_response(net::ServerResponse& response);

// The proxy response JSON for API Gateway. v1: statusCode, headers (single-valued names),
// multiValueHeaders (every name), body, isBase64Encoded. v2: statusCode, headers (repeated values
// comma-joined, Set-Cookie excepted), cookies (the Set-Cookie values), body, isBase64Encoded.
// The body is base64 unless the content type is textual (text/*, JSON, XML, JavaScript, form,
// event-stream) and the bytes are valid UTF-8. Hop-by-hop headers and Content-Length are dropped.
// A response whose `stream` is still set must go through buffer_response first (its stream is ignored).
std::string to_apigw_response(const net::ServerResponse& response, int version);

// A proxy response for a request the adapter itself rejects: {"error": {"type", "message"}}.
net::ServerResponse error_proxy_response(int status, std::string_view type, std::string_view message);

}  // namespace ba::lambda
