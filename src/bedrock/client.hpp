#pragma once
// The Bedrock Runtime client: Converse / ConverseStream, or InvokeModel / InvokeModelWithResponseStream
// with the Claude Messages or Titan Text body, over net::HttpClient with SigV4 (signing name "bedrock").
// One attempt per call: retries, backoff and rate limits are the caller's (ratelimit/) business.
#include <chrono>
#include <memory>
#include <string>

#include "bedrock/model_client.hpp"
#include "bedrock/types.hpp"
#include "util/clock.hpp"

namespace ba::net {
class HttpClient;
}
namespace ba::aws {
class CredentialsProvider;
}

namespace ba::bedrock {

struct BedrockConfig {
  std::string region;    // signing region, e.g. "us-east-1"
  std::string endpoint;  // resolved base URL, e.g. https://bedrock-runtime.us-east-1.amazonaws.com or http://127.0.0.1:PORT
  Api api = Api::converse;
  // A Bedrock API key (AWS_BEARER_TOKEN_BEDROCK): when set, calls carry `Authorization: Bearer <key>`
  // instead of a SigV4 signature and the credentials provider is not asked. Never logged.
  std::string bearer_token;
  std::chrono::milliseconds connect_timeout{3000}, read_timeout{60000};
};

// Throws std::invalid_argument (start-up only) when region or endpoint is missing or the endpoint is not
// an http(s) URL. `http`, `credentials` and `clock` must outlive the client.
//
// Per call: the request is validated (validate_request; with Api::invoke also the model family) before
// anything is sent -> ErrorKind::invalid_input. Credentials are fetched fresh and the request signed
// (or, with BedrockConfig::bearer_token, the key is sent as a bearer token and nothing is signed).
// Non-2xx -> aws::parse_json_error (ThrottlingException -> throttled, ValidationException -> invalid_input,
// 5xx -> unavailable, ...). Streams: in-stream exceptions -> aws::parse_stream_exception; a corrupt frame,
// a partial frame at the end or a stream without its final event -> ErrorKind::network; the DeltaHandler
// returning false -> ErrorKind::cancelled. ChatResponse::request_id is x-amzn-RequestId and latency_ms the
// time the call took (Clock::now).
std::unique_ptr<ModelClient> make_bedrock_client(net::HttpClient& http, aws::CredentialsProvider& credentials,
                                                 BedrockConfig config, Clock& clock = system_clock());

}  // namespace ba::bedrock
