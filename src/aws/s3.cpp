#include "aws/s3.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <stdexcept>

#include "aws/errors.hpp"
#include "aws/sigv4.hpp"
#include "aws/xml.hpp"
#include "net/http_client.hpp"
#include "net/url.hpp"
#include "util/encoding.hpp"

namespace ba::aws {
namespace {

using boost::asio::awaitable;

constexpr std::string_view kS3Namespace = "http://s3.amazonaws.com/doc/2006-03-01/";
constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";

bool is_2xx(int status) { return status >= 200 && status <= 299; }

template <std::size_t N>
bool in(std::string_view code, const std::array<std::string_view, N>& list) {
  return std::ranges::find(list, code) != list.end();
}

std::optional<std::uint64_t> parse_u64(std::string_view s) {
  s = trim(s);
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::int64_t to_ms(std::tm tm, int millis) {
  return static_cast<std::int64_t>(timegm(&tm)) * 1000 + millis;
}

// "Wed, 25 Nov 2026 15:00:00 GMT" (RFC 7231 IMF-fixdate, as S3 sends Last-Modified). 0 if unparsable.
std::int64_t parse_http_date(std::string_view s) {
  static constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                               "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::string text(trim(s));
  if (auto comma = text.find(','); comma != std::string::npos) text.erase(0, comma + 1);  // the weekday
  char mon[4] = {};
  std::tm tm{};
  if (std::sscanf(text.c_str(), "%d %3s %d %d:%d:%d", &tm.tm_mday, mon, &tm.tm_year, &tm.tm_hour, &tm.tm_min,
                  &tm.tm_sec) != 6)
    return 0;
  auto it = std::ranges::find(kMonths, std::string_view(mon));
  if (it == kMonths.end()) return 0;
  tm.tm_mon = static_cast<int>(it - kMonths.begin());
  tm.tm_year -= 1900;
  return to_ms(tm, 0);
}

// "2026-11-25T15:00:00.000Z" (ListObjectsV2). 0 if unparsable.
std::int64_t parse_iso8601(std::string_view s) {
  std::string text(trim(s));
  std::tm tm{};
  int millis = 0;
  int n = std::sscanf(text.c_str(), "%d-%d-%dT%d:%d:%d.%3d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                      &tm.tm_min, &tm.tm_sec, &millis);
  if (n < 6) return 0;
  if (n < 7) millis = 0;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return to_ms(tm, millis);
}

S3Object object_from_headers(std::string key, const net::Headers& headers) {
  S3Object o;
  o.key = std::move(key);
  if (auto v = headers.get("Content-Length")) o.size = parse_u64(*v).value_or(0);
  if (auto v = headers.get("ETag")) o.etag = std::string(*v);
  if (auto v = headers.get("Content-Type")) o.content_type = std::string(*v);
  if (auto v = headers.get("Last-Modified")) o.last_modified_ms = parse_http_date(*v);
  for (const auto& h : headers) {
    std::string name = to_lower(h.name);
    if (name.starts_with("x-amz-meta-")) o.metadata.emplace_back(name.substr(11), h.value);
  }
  return o;
}

// Wraps a parse failure of a 2xx response body: the server sent something we cannot read.
Error bad_response(std::string what, const Error& cause) {
  Error e = Error::make(ErrorKind::upstream, "S3 " + what + ": unreadable response: " + cause.message);
  e.code = cause.code;
  return e;
}

Error with_context(Error e, std::string_view what) {
  e.message = "S3 " + std::string(what) + ": " + e.message;
  return e;
}

// Classifies S3's own codes; falls back to the shared AWS table.
Error classify_s3(std::string code, int status, std::string message) {
  static constexpr std::array<std::string_view, 5> kNotFound = {"NoSuchKey", "NoSuchBucket", "NoSuchUpload",
                                                                "NoSuchVersion", "NotFound"};
  static constexpr std::array<std::string_view, 2> kTooLarge = {"EntityTooLarge", "MaxMessageLengthExceeded"};
  static constexpr std::array<std::string_view, 6> kConflict = {"BucketAlreadyExists", "BucketAlreadyOwnedByYou",
                                                                "OperationAborted", "PreconditionFailed",
                                                                "BucketNotEmpty", "ConditionalRequestConflict"};
  static constexpr std::array<std::string_view, 19> kInvalid = {
      "InvalidArgument",  "InvalidBucketName", "MalformedXML",     "InvalidPart",         "InvalidPartOrder",
      "EntityTooSmall",   "InvalidRange",      "InvalidDigest",    "BadDigest",           "InvalidRequest",
      "KeyTooLongError",  "MetadataTooLarge",  "InvalidLocationConstraint", "IllegalLocationConstraintException",
      "IncompleteBody",   "MissingContentLength", "InvalidStorageClass", "AuthorizationHeaderMalformed",
      "MethodNotAllowed"};
  static constexpr std::array<std::string_view, 3> kForbidden = {"AccessDenied", "AllAccessDisabled",
                                                                 "AccountProblem"};
  static constexpr std::array<std::string_view, 6> kUnauthorized = {"InvalidAccessKeyId", "SignatureDoesNotMatch",
                                                                    "ExpiredToken",       "InvalidToken",
                                                                    "TokenRefreshRequired", "RequestTimeTooSkewed"};
  Error e;
  e.code = code;
  e.http_status = status;
  e.message = std::move(message);
  auto set = [&](ErrorKind k, bool retryable = false, bool throttle = false) {
    e.kind = k;
    e.retryable = retryable;
    e.throttle = throttle;
  };
  if (in(code, kNotFound)) set(ErrorKind::not_found);
  else if (in(code, kTooLarge)) set(ErrorKind::too_large);
  else if (in(code, kConflict)) set(ErrorKind::conflict);
  else if (in(code, kInvalid)) set(ErrorKind::invalid_input);
  else if (in(code, kForbidden)) set(ErrorKind::forbidden);
  else if (in(code, kUnauthorized)) set(ErrorKind::unauthorized, code == "RequestTimeTooSkewed");
  else if (code == "SlowDown" || status == 503) set(ErrorKind::throttled, true, true);
  else if (code == "InternalError" || status == 500 || status == 502 || status == 504) set(ErrorKind::unavailable, true);
  else return classify_error(e.code, status, std::move(e.message));
  if (e.message.empty()) e.message = code;
  return e;
}

// Status-only errors (HEAD responses have no body).
std::string code_for_status(int status) {
  switch (status) {
    case 301: return "PermanentRedirect";
    case 304: return "NotModified";
    case 400: return "BadRequest";
    case 403: return "Forbidden";
    case 404: return "NotFound";
    case 409: return "Conflict";
    case 412: return "PreconditionFailed";
    case 413: return "EntityTooLarge";
    case 500: return "InternalError";
    case 503: return "SlowDown";
    default: return {};
  }
}

std::string completion_body(const std::vector<S3CompletedPart>& parts) {
  std::string body = "<CompleteMultipartUpload xmlns=\"" + std::string(kS3Namespace) + "\">";
  for (const auto& p : parts) {
    body += "<Part><PartNumber>" + std::to_string(p.part_number) + "</PartNumber><ETag>" + xml_escape(p.etag) +
            "</ETag></Part>";
  }
  body += "</CompleteMultipartUpload>";
  return body;
}

void apply_put_options(net::HttpRequest& req, const S3PutOptions& options) {
  if (!options.content_type.empty()) req.headers.set("Content-Type", options.content_type);
  for (const auto& [name, value] : options.metadata) req.headers.add("x-amz-meta-" + to_lower(name), value);
  if (!options.if_none_match.empty()) req.headers.set("If-None-Match", options.if_none_match);
}

}  // namespace

// Private helpers that need the client's members; a struct so the header stays small.
struct S3Client::Impl {
  static awaitable<Result<net::HttpResponse>> send(S3Client& c, net::HttpRequest req, const S3Sink* sink) {
    auto creds = co_await c.credentials_.get();
    if (!creds) co_return std::unexpected(std::move(creds.error()));
    c.cached_ = *creds;
    SigningParams params;
    params.region = c.config_.region;
    params.service = "s3";
    params.time = c.clock_.wall();
    params.double_encode_path = false;
    params.normalize_path = false;
    params.sign_body = true;
    if (c.config_.unsigned_payload) params.payload_hash = std::string(kUnsignedPayload);
    sign_request(req, *creds, params);
    net::RequestOptions options;
    options.connect_timeout = c.config_.connect_timeout;
    options.read_timeout = c.config_.read_timeout;
    options.body_limit = c.config_.body_limit;
    // (GCC 12 mishandles `co_return co_await f(temporaries)`: results go through named locals.)
    if (sink) {
      Result<net::HttpResponse> out = co_await c.http_.send_streaming(std::move(req), *sink, options);
      co_return out;
    }
    Result<net::HttpResponse> out = co_await c.http_.send(std::move(req), options);
    co_return out;
  }

  // Sends and turns a non-2xx status into an Error ("what" names the operation in messages).
  static awaitable<Result<net::HttpResponse>> call(S3Client& c, net::HttpRequest req, std::string what,
                                                   const S3Sink* sink = nullptr) {
    auto sent = co_await send(c, std::move(req), sink);
    if (!sent) co_return std::unexpected(with_context(std::move(sent.error()), what));
    if (!is_2xx(sent->status)) co_return std::unexpected(with_context(parse_s3_error(*sent), what));
    co_return sent;
  }

  static net::HttpRequest request(const S3Client& c, std::string method, std::string_view bucket,
                                  std::string_view key, std::string_view query = {}) {
    net::HttpRequest req;
    req.method = std::move(method);
    req.url = c.object_url(bucket, key, query);
    return req;
  }
};

S3Config make_s3_config(std::string region, const GetEnv& env) {
  S3Config c;
  const S3Endpoint ep = resolve_s3_endpoint(region, env);
  c.region = std::move(region);
  c.endpoint = ep.url;
  c.path_style = ep.path_style;
  return c;
}

S3Client::S3Client(net::HttpClient& http, CredentialsProvider& credentials, S3Config config, Clock& clock)
    : http_(http), credentials_(credentials), config_(std::move(config)), clock_(clock) {
  if (config_.region.empty()) throw std::invalid_argument("S3 client: no region configured");
  while (!config_.endpoint.empty() && config_.endpoint.back() == '/') config_.endpoint.pop_back();
  auto url = net::parse_url(config_.endpoint);
  if (!url) throw std::invalid_argument("S3 client: bad endpoint \"" + config_.endpoint + "\": " + url.error().message);
  if (url->target != "/") throw std::invalid_argument("S3 client: the endpoint must not have a path: " + config_.endpoint);
  if (config_.part_size < kS3MinPartSize) config_.part_size = kS3MinPartSize;
}

S3Client::~S3Client() = default;

std::optional<std::string_view> S3Object::meta(std::string_view name) const {
  for (const auto& [k, v] : metadata) {
    if (iequals(k, name)) return std::string_view(v);
  }
  return std::nullopt;
}

std::string S3Client::object_url(std::string_view bucket, std::string_view key, std::string_view query) const {
  std::string url;
  const std::string encoded_key = net::uri_encode(key, false);
  if (config_.path_style || bucket.find('.') != std::string_view::npos) {
    url = config_.endpoint + "/" + std::string(bucket);
    if (!key.empty()) url += "/" + encoded_key;
  } else {
    const auto scheme_end = config_.endpoint.find("://");
    url = config_.endpoint.substr(0, scheme_end + 3) + std::string(bucket) + "." +
          config_.endpoint.substr(scheme_end + 3) + "/" + encoded_key;
  }
  if (!query.empty()) url += "?" + std::string(query);
  return url;
}

awaitable<Status> S3Client::create_bucket(std::string bucket) {
  if (!valid_bucket_name(bucket)) co_return fail(ErrorKind::invalid_input, "S3 CreateBucket: invalid bucket name \"" + bucket + "\"");
  auto req = Impl::request(*this, "PUT", bucket, "");
  if (config_.region != "us-east-1") {
    req.headers.set("Content-Type", "application/xml");
    req.body = "<CreateBucketConfiguration xmlns=\"" + std::string(kS3Namespace) + "\"><LocationConstraint>" +
               xml_escape(config_.region) + "</LocationConstraint></CreateBucketConfiguration>";
  }
  auto sent = co_await Impl::call(*this, std::move(req), "CreateBucket " + bucket);
  if (!sent) {
    if (sent.error().code == "BucketAlreadyOwnedByYou") co_return Status{};
    co_return std::unexpected(std::move(sent.error()));
  }
  co_return Status{};
}

awaitable<Status> S3Client::head_bucket(std::string bucket) {
  auto sent = co_await Impl::call(*this, Impl::request(*this, "HEAD", bucket, ""), "HeadBucket " + bucket);
  if (!sent) {
    if (sent.error().code == "NotFound") sent.error().code = "NoSuchBucket";
    co_return std::unexpected(std::move(sent.error()));
  }
  co_return Status{};
}

awaitable<Result<S3PutResult>> S3Client::put_object(std::string bucket, std::string key, std::string body,
                                                    S3PutOptions options) {
  auto req = Impl::request(*this, "PUT", bucket, key);
  apply_put_options(req, options);
  req.body = std::move(body);
  auto sent = co_await Impl::call(*this, std::move(req), "PutObject");
  if (!sent) co_return std::unexpected(std::move(sent.error()));
  co_return S3PutResult{std::string(sent->headers.get("ETag").value_or(""))};
}

awaitable<Result<S3PutResult>> S3Client::put_large(std::string bucket, std::string key, std::string body,
                                                   S3PutOptions options) {
  if (body.size() <= config_.multipart_threshold) {
    Result<S3PutResult> single = co_await put_object(bucket, key, std::move(body), options);
    co_return single;
  }
  // At most 10,000 parts: grow the part size for huge bodies.
  std::uint64_t part_size = std::max(config_.part_size, kS3MinPartSize);
  while ((body.size() + part_size - 1) / part_size > 10'000) part_size *= 2;

  auto upload_id = co_await create_multipart_upload(bucket, key, options);
  if (!upload_id) co_return std::unexpected(std::move(upload_id.error()));
  std::vector<S3CompletedPart> parts;
  std::optional<Error> failure;
  for (std::uint64_t offset = 0; offset < body.size(); offset += part_size) {
    const int number = static_cast<int>(parts.size()) + 1;
    auto etag = co_await upload_part(bucket, key, *upload_id, number, body.substr(offset, part_size));
    if (!etag) {
      failure = std::move(etag.error());
      break;
    }
    parts.push_back({number, std::move(*etag)});
  }
  if (!failure) {
    auto done = co_await complete_multipart_upload(bucket, key, *upload_id, std::move(parts));
    if (done) co_return done;
    failure = std::move(done.error());
  }
  (void)co_await abort_multipart_upload(bucket, key, *upload_id);  // best effort; the first error matters
  co_return std::unexpected(std::move(*failure));
}

awaitable<Result<S3Object>> S3Client::get_object(std::string bucket, std::string key, S3Sink sink,
                                                 S3GetOptions options) {
  auto req = Impl::request(*this, "GET", bucket, key);
  if (!options.if_match.empty()) req.headers.set("If-Match", options.if_match);
  auto sent = co_await Impl::call(*this, std::move(req), "GetObject", &sink);
  if (!sent) co_return std::unexpected(std::move(sent.error()));
  co_return object_from_headers(std::move(key), sent->headers);
}

awaitable<Result<std::pair<S3Object, std::string>>> S3Client::get_object_bytes(std::string bucket, std::string key) {
  auto sent = co_await Impl::call(*this, Impl::request(*this, "GET", bucket, key), "GetObject");
  if (!sent) co_return std::unexpected(std::move(sent.error()));
  S3Object o = object_from_headers(std::move(key), sent->headers);
  o.size = sent->body.size();
  co_return std::pair<S3Object, std::string>{std::move(o), std::move(sent->body)};
}

awaitable<Result<S3Object>> S3Client::head_object(std::string bucket, std::string key) {
  auto sent = co_await Impl::call(*this, Impl::request(*this, "HEAD", bucket, key), "HeadObject");
  if (!sent) {
    if (sent.error().code == "NotFound") sent.error().code = "NoSuchKey";
    co_return std::unexpected(std::move(sent.error()));
  }
  co_return object_from_headers(std::move(key), sent->headers);
}

awaitable<Result<S3ListPage>> S3Client::list_objects(std::string bucket, S3ListOptions options) {
  if (options.max_keys < 1 || options.max_keys > 1000)
    co_return fail(ErrorKind::invalid_input, "S3 ListObjectsV2: max-keys must be 1..1000");
  std::string query = "list-type=2";
  auto add = [&](std::string_view name, std::string_view value) {
    if (!value.empty()) query += "&" + std::string(name) + "=" + net::uri_encode(value);
  };
  add("continuation-token", options.continuation_token);
  add("delimiter", options.delimiter);
  add("max-keys", std::to_string(options.max_keys));
  add("prefix", options.prefix);
  add("start-after", options.start_after);
  auto sent = co_await Impl::call(*this, Impl::request(*this, "GET", bucket, "", query), "ListObjectsV2");
  if (!sent) co_return std::unexpected(std::move(sent.error()));
  auto root = parse_xml(sent->body);
  if (!root) co_return std::unexpected(bad_response("ListObjectsV2", root.error()));
  if (root->name() != "ListBucketResult")
    co_return fail(ErrorKind::upstream, "S3 ListObjectsV2: unexpected response <" + root->name() + ">");
  S3ListPage page;
  for (const XmlNode* c : root->children("Contents")) {
    S3Object o;
    o.key = c->child_text("Key");
    o.size = parse_u64(c->child_text("Size")).value_or(0);
    o.etag = c->child_text("ETag");
    o.last_modified_ms = parse_iso8601(c->child_text("LastModified"));
    page.objects.push_back(std::move(o));
  }
  for (const XmlNode* p : root->children("CommonPrefixes")) page.common_prefixes.push_back(p->child_text("Prefix"));
  if (root->child_text("IsTruncated") == "true") {
    page.next_token = root->child_text("NextContinuationToken");
    if (page.next_token.empty())
      co_return fail(ErrorKind::upstream, "S3 ListObjectsV2: truncated listing without a continuation token");
  }
  co_return page;
}

awaitable<Status> S3Client::delete_object(std::string bucket, std::string key) {
  auto sent = co_await Impl::call(*this, Impl::request(*this, "DELETE", bucket, key), "DeleteObject");
  if (!sent) co_return std::unexpected(std::move(sent.error()));
  co_return Status{};
}

awaitable<Result<std::string>> S3Client::create_multipart_upload(std::string bucket, std::string key,
                                                                 S3PutOptions options) {
  auto req = Impl::request(*this, "POST", bucket, key, "uploads");
  apply_put_options(req, options);
  auto sent = co_await Impl::call(*this, std::move(req), "CreateMultipartUpload");
  if (!sent) co_return std::unexpected(std::move(sent.error()));
  auto root = parse_xml(sent->body);
  if (!root) co_return std::unexpected(bad_response("CreateMultipartUpload", root.error()));
  std::string id = root->child_text("UploadId");
  if (id.empty()) co_return fail(ErrorKind::upstream, "S3 CreateMultipartUpload: no UploadId in the response");
  co_return id;
}

awaitable<Result<std::string>> S3Client::upload_part(std::string bucket, std::string key, std::string upload_id,
                                                     int part_number, std::string body) {
  if (part_number < 1 || part_number > 10'000)
    co_return fail(ErrorKind::invalid_input, "S3 UploadPart: part numbers are 1..10000");
  auto req = Impl::request(*this, "PUT", bucket, key,
                           "partNumber=" + std::to_string(part_number) + "&uploadId=" + net::uri_encode(upload_id));
  req.body = std::move(body);
  auto sent = co_await Impl::call(*this, std::move(req), "UploadPart " + std::to_string(part_number));
  if (!sent) co_return std::unexpected(std::move(sent.error()));
  auto etag = sent->headers.get("ETag");
  if (!etag || etag->empty()) co_return fail(ErrorKind::upstream, "S3 UploadPart: no ETag in the response");
  co_return std::string(*etag);
}

awaitable<Result<S3PutResult>> S3Client::complete_multipart_upload(std::string bucket, std::string key,
                                                                   std::string upload_id,
                                                                   std::vector<S3CompletedPart> parts) {
  if (parts.empty()) co_return fail(ErrorKind::invalid_input, "S3 CompleteMultipartUpload: no parts");
  auto req = Impl::request(*this, "POST", bucket, key, "uploadId=" + net::uri_encode(upload_id));
  req.headers.set("Content-Type", "application/xml");
  req.body = completion_body(parts);
  auto sent = co_await Impl::call(*this, std::move(req), "CompleteMultipartUpload");
  if (!sent) co_return std::unexpected(std::move(sent.error()));
  // S3 may answer 200 and still fail: the error is then in the body.
  auto root = parse_xml(sent->body);
  if (!root) co_return std::unexpected(bad_response("CompleteMultipartUpload", root.error()));
  if (root->name() == "Error") {
    net::HttpResponse as_error = *sent;
    as_error.status = 500;
    co_return std::unexpected(with_context(parse_s3_error(as_error), "CompleteMultipartUpload"));
  }
  co_return S3PutResult{root->child_text("ETag")};
}

awaitable<Status> S3Client::abort_multipart_upload(std::string bucket, std::string key, std::string upload_id) {
  auto sent = co_await Impl::call(*this, Impl::request(*this, "DELETE", bucket, key, "uploadId=" + net::uri_encode(upload_id)),
                                  "AbortMultipartUpload");
  if (!sent) co_return std::unexpected(std::move(sent.error()));
  co_return Status{};
}

awaitable<Status> S3Client::refresh_credentials() {
  auto creds = co_await credentials_.get();
  if (!creds) co_return std::unexpected(std::move(creds.error()));
  cached_ = *creds;
  co_return Status{};
}

Result<S3Presigned> S3Client::presign(std::string_view method, std::string_view bucket, std::string_view key,
                                      std::chrono::seconds expires, const net::Headers& headers) const {
  if (!cached_) {
    Error e = Error::make(ErrorKind::unavailable, "S3 presign: no credentials fetched yet");
    e.retryable = true;
    return std::unexpected(std::move(e));
  }
  return presign_with(*cached_, clock_.wall(), method, bucket, key, expires, headers);
}

Result<S3Presigned> S3Client::presign_with(const Credentials& creds, WallTime at, std::string_view method,
                                           std::string_view bucket, std::string_view key,
                                           std::chrono::seconds expires, const net::Headers& headers) const {
  if (expires < std::chrono::seconds(1) || expires > kS3MaxPresignExpiry)
    return fail(ErrorKind::invalid_input, "S3 presign: expiry must be between 1 second and 7 days");
  if (method != "GET" && method != "PUT" && method != "HEAD" && method != "DELETE")
    return fail(ErrorKind::invalid_input, "S3 presign: unsupported method " + std::string(method));
  if (key.empty()) return fail(ErrorKind::invalid_input, "S3 presign: empty key");
  net::HttpRequest req;
  req.method = std::string(method);
  req.url = object_url(bucket, key);
  req.headers = headers;
  // As the SDK's S3 presigner: the payload is not signed, and the header saying so is hoisted into the query.
  req.headers.set("X-Amz-Content-Sha256", std::string(kUnsignedPayload));
  SigningParams params;
  params.region = config_.region;
  params.service = "s3";
  params.time = at;
  params.double_encode_path = false;
  params.normalize_path = false;
  params.payload_hash = std::string(kUnsignedPayload);
  presign_request(req, creds, params, expires);
  S3Presigned out;
  out.method = req.method;
  out.url = std::move(req.url);
  for (const auto& h : req.headers) {
    if (!iequals(h.name, "Host")) out.headers.emplace_back(h.name, h.value);
  }
  out.expires_at = at + expires;
  return out;
}

Error parse_s3_error(const net::HttpResponse& response) {
  std::string code;
  std::string message;
  if (!trim(response.body).empty()) {
    XmlLimits limits;
    limits.max_bytes = 1 << 20;
    if (auto root = parse_xml(response.body, limits); root && root->name() == "Error") {
      code = std::string(trim(root->child_text("Code")));
      message = root->child_text("Message");
    }
  }
  if (code.empty()) code = code_for_status(response.status);
  Error e = classify_s3(std::move(code), response.status, std::move(message));
  if (e.message.empty()) e.message = "HTTP " + std::to_string(response.status);
  if (auto id = response.headers.get("x-amz-request-id")) e.request_id = std::string(*id);
  if (auto ra = response.headers.get("Retry-After")) {
    if (auto s = parse_u64(*ra)) e.retry_after = std::chrono::milliseconds(*s * 1000);
  }
  return e;
}

bool valid_bucket_name(std::string_view b) {
  if (b.size() < 3 || b.size() > 63) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(b.front()) || !alnum(b.back())) return false;
  return std::ranges::all_of(b, [&](char c) { return alnum(c) || c == '.' || c == '-'; });
}

}  // namespace ba::aws
