#pragma once
// A small async S3 client: REST-XML over net::HttpClient, SigV4 (signing name "s3", no path
// normalization, x-amz-content-sha256 = the body's SHA-256, or UNSIGNED-PAYLOAD when configured; never
// aws-chunked). Only the operations this project needs.
//
// Addressing: path-style (ENDPOINT/BUCKET/KEY) when the endpoint is an override (S3-compatible servers)
// or the bucket name holds a '.', virtual-hosted (https://BUCKET.s3.REGION.amazonaws.com/KEY) otherwise.
// See aws::resolve_s3_endpoint() for the environment (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL).
//
// Errors: S3's XML <Error><Code>..</Code><Message>..</Message></Error> (or the status alone for HEAD) to
// ba::Error: NoSuchKey/NoSuchBucket/NoSuchUpload/404 -> not_found; AccessDenied/403 -> forbidden;
// SlowDown/503 -> throttled (retryable, throttle); InternalError/500 -> unavailable (retryable);
// EntityTooLarge -> too_large; BucketAlreadyExists/OperationAborted/PreconditionFailed -> conflict;
// InvalidArgument/InvalidBucketName/MalformedXML/InvalidPart/EntityTooSmall/... -> invalid_input;
// InvalidAccessKeyId/SignatureDoesNotMatch/ExpiredToken -> unauthorized. Error::code keeps S3's code.
//
// Overloads without an options argument stand in for default arguments: GCC 12 destroys a defaulted
// class-type argument of a coroutine twice when the call is itself inside a coroutine.
//
// Concurrency: call from the io_context's thread (as the credentials provider requires). The client
// holds no per-request state; many calls may be in flight at once.
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "aws/credentials.hpp"
#include "aws/endpoints.hpp"
#include "net/http_message.hpp"
#include "util/clock.hpp"
#include "util/result.hpp"

namespace ba::net {
class HttpClient;
}

namespace ba::aws {

struct S3Config {
  std::string region;         // required (the signing region)
  std::string endpoint;       // required: scheme://host[:port] (see resolve_s3_endpoint)
  bool path_style = false;    // see resolve_s3_endpoint; forced for bucket names with '.'
  bool unsigned_payload = false;  // sign bodies as UNSIGNED-PAYLOAD instead of hashing them
  std::chrono::milliseconds connect_timeout{3'000};
  std::chrono::milliseconds read_timeout{60'000};
  std::size_t body_limit = 64 * 1024 * 1024;       // buffered reads (get_object_bytes, XML responses)
  std::uint64_t multipart_threshold = 16ull << 20;  // put_large(): multipart above this many bytes
  std::uint64_t part_size = 8ull << 20;             // put_large(): bytes per part (at least 5 MiB)
};

// region + resolve_s3_endpoint(region, env): endpoint and addressing style from the environment.
S3Config make_s3_config(std::string region, const GetEnv& env = process_env());

inline constexpr std::uint64_t kS3MinPartSize = 5ull << 20;            // every part but the last
inline constexpr std::chrono::seconds kS3MaxPresignExpiry{7 * 24 * 3600};  // SigV4 presign limit

// Object metadata as S3 reports it.
struct S3Object {
  std::string key;
  std::uint64_t size = 0;
  std::string etag;            // with its quotes, as S3 sends it
  std::string content_type;    // HEAD/GET only
  std::int64_t last_modified_ms = 0;
  // x-amz-meta-* with the prefix removed, names lower-case (HEAD/GET only; ListObjectsV2 has none).
  std::vector<std::pair<std::string, std::string>> metadata;

  std::optional<std::string_view> meta(std::string_view name) const;
};

struct S3PutOptions {
  std::string content_type;  // empty: S3's default (binary/octet-stream)
  // Sent as x-amz-meta-NAME: names lower-case [a-z0-9-]; values are sent as given (S3 allows
  // US-ASCII only: callers percent-encode anything else).
  std::vector<std::pair<std::string, std::string>> metadata;
  std::string if_none_match;  // "*": fail with conflict (PreconditionFailed) if the key exists (AWS only)
};

struct S3PutResult {
  std::string etag;
};

struct S3GetOptions {
  std::string if_match;  // an ETag: fail with conflict if the object changed
};

struct S3ListOptions {
  std::string prefix;
  std::string continuation_token;  // from the previous page
  std::string start_after;
  std::string delimiter;
  int max_keys = 1000;  // 1..1000
};

struct S3ListPage {
  std::vector<S3Object> objects;       // key, size, etag, last_modified_ms
  std::vector<std::string> common_prefixes;
  std::string next_token;              // empty: last page
};

struct S3CompletedPart {
  int part_number = 0;
  std::string etag;
};

// Streamed download bytes; return false to stop (the call ends with ErrorKind::cancelled).
using S3Sink = std::function<boost::asio::awaitable<bool>(std::string_view chunk)>;

// A presigned request: anyone may send `method` to `url` with exactly `headers` until it expires.
struct S3Presigned {
  std::string method;
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;  // signed headers besides Host, to send as is
  WallTime expires_at;
};

class S3Client {
 public:
  // No I/O here. Throws std::invalid_argument for a missing region or a bad endpoint.
  S3Client(net::HttpClient& http, CredentialsProvider& credentials, S3Config config, Clock& clock = system_clock());
  ~S3Client();
  S3Client(const S3Client&) = delete;
  S3Client& operator=(const S3Client&) = delete;

  const S3Config& config() const { return config_; }

  // CreateBucket, with a LocationConstraint outside us-east-1. A bucket we already own is success.
  boost::asio::awaitable<Status> create_bucket(std::string bucket);
  // HeadBucket: success, or not_found / forbidden / ...
  boost::asio::awaitable<Status> head_bucket(std::string bucket);

  boost::asio::awaitable<Result<S3PutResult>> put_object(std::string bucket, std::string key, std::string body,
                                                         S3PutOptions options);
  boost::asio::awaitable<Result<S3PutResult>> put_object(std::string bucket, std::string key, std::string body) {
    return put_object(std::move(bucket), std::move(key), std::move(body), S3PutOptions{});
  }
  // Single PutObject up to config().multipart_threshold bytes, multipart above (parts of config().part_size;
  // the upload is aborted if a part fails).
  boost::asio::awaitable<Result<S3PutResult>> put_large(std::string bucket, std::string key, std::string body,
                                                        S3PutOptions options);
  boost::asio::awaitable<Result<S3PutResult>> put_large(std::string bucket, std::string key, std::string body) {
    return put_large(std::move(bucket), std::move(key), std::move(body), S3PutOptions{});
  }
  // Streams the body into `sink`; returns the object's headers once the body has been read.
  boost::asio::awaitable<Result<S3Object>> get_object(std::string bucket, std::string key, S3Sink sink,
                                                      S3GetOptions options);
  boost::asio::awaitable<Result<S3Object>> get_object(std::string bucket, std::string key, S3Sink sink) {
    return get_object(std::move(bucket), std::move(key), std::move(sink), S3GetOptions{});
  }
  // Buffered (up to config().body_limit bytes).
  boost::asio::awaitable<Result<std::pair<S3Object, std::string>>> get_object_bytes(std::string bucket,
                                                                                    std::string key);
  boost::asio::awaitable<Result<S3Object>> head_object(std::string bucket, std::string key);
  boost::asio::awaitable<Result<S3ListPage>> list_objects(std::string bucket, S3ListOptions options);
  boost::asio::awaitable<Result<S3ListPage>> list_objects(std::string bucket) {
    return list_objects(std::move(bucket), S3ListOptions{});
  }
  // Succeeds for a missing key too (S3 semantics).
  boost::asio::awaitable<Status> delete_object(std::string bucket, std::string key);

  // Multipart upload. Parts are numbered 1..10000; every part but the last is at least 5 MiB.
  boost::asio::awaitable<Result<std::string>> create_multipart_upload(std::string bucket, std::string key,
                                                                      S3PutOptions options);  // upload id
  boost::asio::awaitable<Result<std::string>> create_multipart_upload(std::string bucket, std::string key) {
    return create_multipart_upload(std::move(bucket), std::move(key), S3PutOptions{});
  }
  boost::asio::awaitable<Result<std::string>> upload_part(std::string bucket, std::string key, std::string upload_id,
                                                          int part_number, std::string body);  // the part's ETag
  boost::asio::awaitable<Result<S3PutResult>> complete_multipart_upload(std::string bucket, std::string key,
                                                                        std::string upload_id,
                                                                        std::vector<S3CompletedPart> parts);
  boost::asio::awaitable<Status> abort_multipart_upload(std::string bucket, std::string key, std::string upload_id);

  // Fetches credentials (if needed) and keeps them for presign(); other calls refresh them too.
  boost::asio::awaitable<Status> refresh_credentials();

  // A presigned GET or PUT (SigV4 query form, UNSIGNED-PAYLOAD), valid for `expires` (1 s .. 7 days).
  // `headers` (e.g. Content-Type, x-amz-meta-*) are signed: x-amz-* ones are hoisted into the query, the
  // others must be sent by the user as is. Uses the credentials of the last call (refresh_credentials());
  // unavailable if none were fetched yet. The URL cannot outlive temporary credentials.
  Result<S3Presigned> presign(std::string_view method, std::string_view bucket, std::string_view key,
                              std::chrono::seconds expires, const net::Headers& headers = {}) const;
  // The same with explicit credentials and signing time (tests, offline use).
  Result<S3Presigned> presign_with(const Credentials& creds, WallTime at, std::string_view method,
                                   std::string_view bucket, std::string_view key, std::chrono::seconds expires,
                                   const net::Headers& headers = {}) const;

  // "ENDPOINT/BUCKET/ENCODED-KEY" or "https://BUCKET.HOST/ENCODED-KEY"; `query` without '?'.
  std::string object_url(std::string_view bucket, std::string_view key, std::string_view query = {}) const;

 private:
  struct Impl;
  net::HttpClient& http_;
  CredentialsProvider& credentials_;
  S3Config config_;
  Clock& clock_;
  std::optional<Credentials> cached_;
};

// Maps an S3 error response (XML body, or none for HEAD) to an Error; see the table at the top.
Error parse_s3_error(const net::HttpResponse& response);

// Bucket names as S3 accepts them: 3-63 characters of [a-z0-9.-], starting and ending with a letter or digit.
bool valid_bucket_name(std::string_view bucket);

}  // namespace ba::aws
