#include "aws/s3.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <algorithm>
#include <map>

#include "aws/endpoints.hpp"
#include "support/s3_rig.hpp"
#include "aws/xml.hpp"
#include "net/http_client.hpp"
#include "util/encoding.hpp"

namespace ba::aws {
namespace {

using boost::asio::awaitable;
using test::S3Rig;

// ---- Offline: error mapping, addressing, endpoints, presign shape ----------------------------------

net::HttpResponse xml_error(int status, const std::string& code, const std::string& message = "m") {
  net::HttpResponse r;
  r.status = status;
  r.headers.set("x-amz-request-id", "rid-1");
  r.body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>" + code + "</Code><Message>" + message +
           "</Message><RequestId>rid-1</RequestId></Error>";
  return r;
}

TEST(S3Errors, XmlCodesMapToKinds) {
  struct Row {
    int status;
    const char* code;
    ErrorKind kind;
    bool retryable;
    bool throttle;
  };
  const Row rows[] = {
      {404, "NoSuchKey", ErrorKind::not_found, false, false},
      {404, "NoSuchBucket", ErrorKind::not_found, false, false},
      {404, "NoSuchUpload", ErrorKind::not_found, false, false},
      {403, "AccessDenied", ErrorKind::forbidden, false, false},
      {503, "SlowDown", ErrorKind::throttled, true, true},
      {503, "ServiceUnavailable", ErrorKind::throttled, true, true},
      {500, "InternalError", ErrorKind::unavailable, true, false},
      {400, "EntityTooLarge", ErrorKind::too_large, false, false},
      {400, "EntityTooSmall", ErrorKind::invalid_input, false, false},
      {400, "InvalidPart", ErrorKind::invalid_input, false, false},
      {400, "InvalidBucketName", ErrorKind::invalid_input, false, false},
      {409, "BucketAlreadyExists", ErrorKind::conflict, false, false},
      {412, "PreconditionFailed", ErrorKind::conflict, false, false},
      {403, "InvalidAccessKeyId", ErrorKind::unauthorized, false, false},
      {403, "SignatureDoesNotMatch", ErrorKind::unauthorized, false, false},
      {400, "RequestTimeout", ErrorKind::timeout, true, false},
  };
  for (const auto& row : rows) {
    Error e = parse_s3_error(xml_error(row.status, row.code, "msg"));
    EXPECT_EQ(e.code, row.code);
    EXPECT_EQ(e.kind, row.kind) << row.code;
    EXPECT_EQ(e.retryable, row.retryable) << row.code;
    EXPECT_EQ(e.throttle, row.throttle) << row.code;
    EXPECT_EQ(e.http_status, row.status);
    EXPECT_EQ(e.message, "msg");
    EXPECT_EQ(e.request_id, "rid-1");
  }
}

TEST(S3Errors, BodilessResponsesUseTheStatus) {
  net::HttpResponse r;
  r.status = 404;
  EXPECT_EQ(parse_s3_error(r).kind, ErrorKind::not_found);
  r.status = 403;
  EXPECT_EQ(parse_s3_error(r).kind, ErrorKind::forbidden);
  r.status = 503;
  r.headers.set("Retry-After", "2");
  Error e = parse_s3_error(r);
  EXPECT_EQ(e.kind, ErrorKind::throttled);
  EXPECT_TRUE(e.retryable);
  EXPECT_EQ(e.retry_after, std::chrono::milliseconds(2000));
  r = {};
  r.status = 400;
  r.body = "not xml";
  EXPECT_EQ(parse_s3_error(r).kind, ErrorKind::invalid_input);
}

TEST(S3Endpoints, OverrideMeansPathStyle) {
  std::map<std::string, std::string> vars;
  GetEnv env = [&](std::string_view n) -> std::optional<std::string> {
    auto it = vars.find(std::string(n));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
  auto aws = resolve_s3_endpoint("eu-west-1", env);
  EXPECT_EQ(aws.url, "https://s3.eu-west-1.amazonaws.com");
  EXPECT_FALSE(aws.path_style);
  vars["AWS_ENDPOINT_URL"] = "http://127.0.0.1:1234/";
  auto generic = resolve_s3_endpoint("eu-west-1", env);
  EXPECT_EQ(generic.url, "http://127.0.0.1:1234");
  EXPECT_TRUE(generic.path_style);
  vars["AWS_ENDPOINT_URL_S3"] = "http://localhost:9000";
  EXPECT_EQ(resolve_s3_endpoint("eu-west-1", env).url, "http://localhost:9000");
  S3Config c = make_s3_config("eu-west-1", env);
  EXPECT_EQ(c.region, "eu-west-1");
  EXPECT_EQ(c.endpoint, "http://localhost:9000");
  EXPECT_TRUE(c.path_style);
  vars.clear();
  EXPECT_FALSE(make_s3_config("eu-west-1", env).path_style);
}

class S3Offline : public ::testing::Test {
 protected:
  boost::asio::io_context io;
  std::unique_ptr<net::HttpClient> http = net::make_http_client(io);
  std::unique_ptr<CredentialsProvider> creds = make_static_provider(test::s3rver_credentials());
  ManualClock clock;

  S3Client make(std::string endpoint, bool path_style) {
    S3Config c;
    c.region = "eu-west-1";
    c.endpoint = std::move(endpoint);
    c.path_style = path_style;
    return S3Client(*http, *creds, c, clock);
  }
};

TEST_F(S3Offline, AddressingStyles) {
  auto vhost = make("https://s3.eu-west-1.amazonaws.com", false);
  EXPECT_EQ(vhost.object_url("bkt", "a b/c+d.txt"), "https://bkt.s3.eu-west-1.amazonaws.com/a%20b/c%2Bd.txt");
  EXPECT_EQ(vhost.object_url("bkt", "", "list-type=2"), "https://bkt.s3.eu-west-1.amazonaws.com/?list-type=2");
  // A dotted bucket cannot be a TLS host name under *.s3...: path-style.
  EXPECT_EQ(vhost.object_url("my.bkt", "k"), "https://s3.eu-west-1.amazonaws.com/my.bkt/k");
  auto path = make("http://127.0.0.1:9000/", true);
  EXPECT_EQ(path.object_url("bkt", "dir/k~1"), "http://127.0.0.1:9000/bkt/dir/k~1");
  EXPECT_EQ(path.object_url("bkt", ""), "http://127.0.0.1:9000/bkt");
  EXPECT_THROW(make("ftp://x", true), std::invalid_argument);
  EXPECT_THROW(make("http://x/base", true), std::invalid_argument);
}

TEST_F(S3Offline, PresignNeedsCredentialsAndBoundsTheExpiry) {
  auto c = make("http://127.0.0.1:9000", true);
  auto none = c.presign("GET", "bkt", "k", std::chrono::seconds(60));
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().kind, ErrorKind::unavailable);
  const auto creds = test::s3rver_credentials();
  EXPECT_FALSE(c.presign_with(creds, clock.wall(), "GET", "bkt", "k", std::chrono::seconds(0)));
  EXPECT_FALSE(c.presign_with(creds, clock.wall(), "GET", "bkt", "k", std::chrono::seconds(7 * 24 * 3600 + 1)));
  EXPECT_FALSE(c.presign_with(creds, clock.wall(), "POST", "bkt", "k", std::chrono::seconds(60)));
  auto ok = c.presign_with(creds, clock.wall(), "PUT", "bkt", "dir/k", std::chrono::seconds(7 * 24 * 3600),
                           net::Headers{{"Content-Type", "text/plain"}, {"x-amz-meta-name", "n"}});
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->method, "PUT");
  EXPECT_TRUE(ok->url.starts_with("http://127.0.0.1:9000/bkt/dir/k?")) << ok->url;
  for (const char* part : {"X-Amz-Algorithm=AWS4-HMAC-SHA256", "X-Amz-Credential=S3RVER%2F20231114%2Feu-west-1%2Fs3%2Faws4_request",
                           "X-Amz-Date=20231114T221320Z", "X-Amz-Expires=604800", "X-Amz-SignedHeaders=content-type%3Bhost",
                           "X-Amz-Content-Sha256=UNSIGNED-PAYLOAD", "x-amz-meta-name=n", "X-Amz-Signature="}) {
    EXPECT_NE(ok->url.find(part), std::string::npos) << part << " in " << ok->url;
  }
  ASSERT_EQ(ok->headers.size(), 1u);
  EXPECT_EQ(ok->headers[0].first, "Content-Type");
  EXPECT_EQ(ok->expires_at, clock.wall() + std::chrono::seconds(7 * 24 * 3600));
}

net::HttpResponse ok(std::string body = {}, net::Headers h = {}) {
  net::HttpResponse r;
  r.status = 200;
  r.body = std::move(body);
  r.headers = std::move(h);
  return r;
}

class S3Scripted : public ::testing::Test {
 protected:
  boost::asio::io_context io;
  test::RecordingHttp http;
  std::unique_ptr<CredentialsProvider> creds = make_static_provider(test::s3rver_credentials());
  ManualClock clock;
  std::unique_ptr<S3Client> client;

  void SetUp() override {
    S3Config c;
    c.region = "us-west-2";
    c.endpoint = "https://s3.us-west-2.amazonaws.com";
    c.multipart_threshold = 6 << 20;
    c.part_size = 1;  // raised to the 5 MiB minimum
    client = std::make_unique<S3Client>(http, *creds, c, clock);
  }
  template <class T>
  T run(boost::asio::awaitable<T> task) {
    auto fut = boost::asio::co_spawn(io, std::move(task), boost::asio::use_future);
    io.restart();
    io.run();
    return fut.get();
  }
};

TEST_F(S3Scripted, RequestsAreVirtualHostedAndSigned) {
  http.script = [](const net::HttpRequest&) { return ok({}, {{"ETag", "\"e1\""}}); };
  auto put = run(client->put_object("bkt", "a/b c", "data", {.content_type = "text/plain", .metadata = {{"Name", "x"}}}));
  ASSERT_TRUE(put);
  EXPECT_EQ(put->etag, "\"e1\"");
  ASSERT_EQ(http.seen.size(), 1u);
  const auto& r = http.seen[0];
  EXPECT_EQ(r.method, "PUT");
  EXPECT_EQ(r.url, "https://bkt.s3.us-west-2.amazonaws.com/a/b%20c");
  EXPECT_EQ(r.headers.get("Host").value_or(""), "bkt.s3.us-west-2.amazonaws.com");
  EXPECT_EQ(r.headers.get("x-amz-content-sha256").value_or(""), sha256_hex("data"));
  EXPECT_EQ(r.headers.get("x-amz-meta-name").value_or(""), "x");
  EXPECT_EQ(r.headers.get("Content-Type").value_or(""), "text/plain");
  const std::string auth(r.headers.get("Authorization").value_or(""));
  EXPECT_TRUE(auth.starts_with("AWS4-HMAC-SHA256 Credential=S3RVER/20231114/us-west-2/s3/aws4_request")) << auth;
  EXPECT_NE(auth.find("x-amz-content-sha256"), std::string::npos);
  EXPECT_NE(auth.find("x-amz-meta-name"), std::string::npos);
  EXPECT_EQ(r.headers.get("Content-Encoding"), std::nullopt);  // never aws-chunked
}

TEST_F(S3Scripted, UnsignedPayloadWhenConfigured) {
  S3Config c = client->config();
  c.unsigned_payload = true;
  S3Client unsigned_client(http, *creds, c, clock);
  http.script = [](const net::HttpRequest&) { return ok(); };
  ASSERT_TRUE(run(unsigned_client.put_object("bkt", "k", "data")));
  EXPECT_EQ(http.seen.at(0).headers.get("x-amz-content-sha256").value_or(""), "UNSIGNED-PAYLOAD");
}

TEST_F(S3Scripted, CreateBucketSendsTheLocationConstraintAndAcceptsOwnedBuckets) {
  http.script = [](const net::HttpRequest&) {
    net::HttpResponse r = xml_error(409, "BucketAlreadyOwnedByYou");
    return std::optional<net::HttpResponse>(r);
  };
  EXPECT_TRUE(run(client->create_bucket("my-bucket")));
  ASSERT_EQ(http.seen.size(), 1u);
  EXPECT_EQ(http.seen[0].method, "PUT");
  auto body = parse_xml(http.seen[0].body);
  ASSERT_TRUE(body);
  EXPECT_EQ(body->name(), "CreateBucketConfiguration");
  EXPECT_EQ(body->child_text("LocationConstraint"), "us-west-2");
}

TEST_F(S3Scripted, GetSendsIfMatchAndMapsPreconditionFailed) {
  http.script = [](const net::HttpRequest&) { return std::optional<net::HttpResponse>(xml_error(412, "PreconditionFailed")); };
  S3Sink sink = [](std::string_view) -> awaitable<bool> { co_return true; };
  auto got = run(client->get_object("bkt", "k", sink, {.if_match = "\"abc\""}));
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().kind, ErrorKind::conflict);
  EXPECT_EQ(http.seen.at(0).headers.get("If-Match").value_or(""), "\"abc\"");
}

TEST_F(S3Scripted, CompleteMultipartWithAnErrorBodyIsAnError) {
  http.script = [](const net::HttpRequest&) {
    return ok("<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>");
  };
  auto done = run(client->complete_multipart_upload("bkt", "k", "up-1", {{1, "\"e\""}}));
  ASSERT_FALSE(done);
  EXPECT_EQ(done.error().code, "InternalError");
  EXPECT_TRUE(done.error().retryable);
  auto body = parse_xml(http.seen.at(0).body);
  ASSERT_TRUE(body);
  EXPECT_EQ(body->children("Part").size(), 1u);
  EXPECT_EQ(body->path({"Part", "ETag"})->text(), "\"e\"");
  EXPECT_EQ(http.seen[0].url, "https://bkt.s3.us-west-2.amazonaws.com/k?uploadId=up-1");
}

TEST_F(S3Scripted, FailedPartAbortsTheUpload) {
  http.script = [](const net::HttpRequest& r) -> std::optional<net::HttpResponse> {
    if (r.url.ends_with("?uploads")) return ok("<InitiateMultipartUploadResult><UploadId>u/1+</UploadId></InitiateMultipartUploadResult>");
    if (r.url.find("partNumber=2") != std::string::npos) return xml_error(503, "SlowDown");
    if (r.method == "PUT") return ok({}, {{"ETag", "\"p\""}});
    if (r.method == "DELETE") {
      net::HttpResponse d;
      d.status = 204;
      return d;
    }
    return std::nullopt;
  };
  auto put = run(client->put_large("bkt", "k", std::string((11 << 20), 'x')));
  ASSERT_FALSE(put);
  EXPECT_EQ(put.error().code, "SlowDown");
  EXPECT_EQ(put.error().kind, ErrorKind::throttled);
  ASSERT_EQ(http.seen.size(), 4u);
  EXPECT_EQ(http.seen[1].url, "https://bkt.s3.us-west-2.amazonaws.com/k?partNumber=1&uploadId=u%2F1%2B");
  EXPECT_EQ(http.seen[1].body.size(), std::size_t{5} << 20);  // part_size raised to the minimum
  EXPECT_EQ(http.seen[3].method, "DELETE");
  EXPECT_EQ(http.seen[3].url, "https://bkt.s3.us-west-2.amazonaws.com/k?uploadId=u%2F1%2B");
}

TEST_F(S3Scripted, TruncatedListWithoutTokenIsAnError) {
  http.script = [](const net::HttpRequest&) {
    return ok("<ListBucketResult><IsTruncated>true</IsTruncated><Contents><Key>a</Key></Contents></ListBucketResult>");
  };
  auto page = run(client->list_objects("bkt", {.prefix = "a b"}));
  ASSERT_FALSE(page);
  EXPECT_EQ(page.error().kind, ErrorKind::upstream);
  EXPECT_EQ(http.seen.at(0).url, "https://bkt.s3.us-west-2.amazonaws.com/?list-type=2&max-keys=1000&prefix=a%20b");
}

// ---- Against s3rver -------------------------------------------------------------------------------

class S3Live : public ::testing::Test {
 protected:
  void SetUp() override {
    auto* server = test::shared_s3rver();
    if (!server) GTEST_SKIP() << test::kNoS3rver;
    S3Config config;
    config.multipart_threshold = 6 << 20;
    config.part_size = 5 << 20;
    rig = std::make_unique<S3Rig>(server->endpoint(), config);
    bucket = S3Rig::unique_bucket("c");
    auto made = rig->run(client().create_bucket(bucket));
    ASSERT_TRUE(made) << made.error().message;
  }
  S3Client& client() { return rig->client(); }

  std::unique_ptr<S3Rig> rig;
  std::string bucket;
};

TEST_F(S3Live, PutGetHeadRoundTripWithMetadata) {
  S3PutOptions o;
  o.content_type = "text/markdown; charset=utf-8";
  o.metadata = {{"name", "notes%20v1.md"}, {"sha256", sha256_hex("hello world")}};
  auto put = rig->run(client().put_object(bucket, "files/a/1", "hello world", o));
  ASSERT_TRUE(put) << put.error().message;
  EXPECT_FALSE(put->etag.empty());

  auto head = rig->run(client().head_object(bucket, "files/a/1"));
  ASSERT_TRUE(head) << head.error().message;
  EXPECT_EQ(head->size, 11u);
  EXPECT_EQ(head->etag, put->etag);
  EXPECT_EQ(head->content_type, "text/markdown; charset=utf-8");
  EXPECT_EQ(head->meta("name").value_or(""), "notes%20v1.md");
  EXPECT_EQ(head->meta("SHA256").value_or(""), sha256_hex("hello world"));
  EXPECT_GT(head->last_modified_ms, 1'600'000'000'000);

  auto bytes = rig->run(client().get_object_bytes(bucket, "files/a/1"));
  ASSERT_TRUE(bytes) << bytes.error().message;
  EXPECT_EQ(bytes->second, "hello world");
  EXPECT_EQ(bytes->first.meta("name").value_or(""), "notes%20v1.md");

  std::string streamed;
  int chunks = 0;
  S3Sink sink = [&](std::string_view chunk) -> awaitable<bool> {
    streamed.append(chunk);
    ++chunks;
    co_return true;
  };
  auto got = rig->run(client().get_object(bucket, "files/a/1", sink));
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(streamed, "hello world");
  EXPECT_GE(chunks, 1);
  EXPECT_EQ(got->size, 11u);
  EXPECT_EQ(got->etag, put->etag);
}

TEST_F(S3Live, KeysNeedingEncodingRoundTrip) {
  const std::vector<std::string> keys = {"dir/a b+c.txt", "dir/per%cent&amp=?#", "dir/\xC3\xA9t\xC3\xA9~_-.x",
                                         "dir/sub/deeper/k"};
  for (const auto& k : keys) {
    auto put = rig->run(client().put_object(bucket, k, "body:" + k));
    ASSERT_TRUE(put) << k << ": " << put.error().message;
  }
  for (const auto& k : keys) {
    auto got = rig->run(client().get_object_bytes(bucket, k));
    ASSERT_TRUE(got) << k << ": " << got.error().message;
    EXPECT_EQ(got->second, "body:" + k);
  }
  S3ListOptions lo;
  lo.prefix = "dir/";
  auto page = rig->run(client().list_objects(bucket, lo));
  ASSERT_TRUE(page) << page.error().message;
  std::vector<std::string> listed;
  for (const auto& o : page->objects) listed.push_back(o.key);
  auto sorted = keys;
  std::ranges::sort(sorted);
  EXPECT_EQ(listed, sorted);
}

TEST_F(S3Live, ListPaginatesWithContinuationTokensAndPrefixes) {
  for (int i = 0; i < 7; ++i) {
    ASSERT_TRUE(rig->run(client().put_object(bucket, "p/k" + std::to_string(i), std::string(static_cast<std::size_t>(i), 'x'))));
  }
  ASSERT_TRUE(rig->run(client().put_object(bucket, "q/other", "y")));
  ASSERT_TRUE(rig->run(client().put_object(bucket, "p/sub/deep", "z")));

  std::vector<std::string> keys;
  std::vector<std::uint64_t> sizes;
  S3ListOptions lo;
  lo.prefix = "p/k";
  lo.max_keys = 3;
  int pages = 0;
  while (true) {
    auto page = rig->run(client().list_objects(bucket, lo));
    ASSERT_TRUE(page) << page.error().message;
    ++pages;
    EXPECT_LE(page->objects.size(), 3u);
    for (const auto& o : page->objects) {
      keys.push_back(o.key);
      sizes.push_back(o.size);
      EXPECT_GT(o.last_modified_ms, 0);
      EXPECT_FALSE(o.etag.empty());
    }
    if (page->next_token.empty()) break;
    lo.continuation_token = page->next_token;
    ASSERT_LT(pages, 10);
  }
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(keys, (std::vector<std::string>{"p/k0", "p/k1", "p/k2", "p/k3", "p/k4", "p/k5", "p/k6"}));
  EXPECT_EQ(sizes, (std::vector<std::uint64_t>{0, 1, 2, 3, 4, 5, 6}));

  S3ListOptions by_dir;
  by_dir.prefix = "p/";
  by_dir.delimiter = "/";
  auto page = rig->run(client().list_objects(bucket, by_dir));
  ASSERT_TRUE(page) << page.error().message;
  EXPECT_EQ(page->objects.size(), 7u);
  EXPECT_EQ(page->common_prefixes, std::vector<std::string>{"p/sub/"});

  S3ListOptions bad;
  bad.max_keys = 0;
  EXPECT_EQ(rig->run(client().list_objects(bucket, bad)).error().kind, ErrorKind::invalid_input);
}

TEST_F(S3Live, TypedErrorsForMissingThings) {
  auto get = rig->run(client().get_object_bytes(bucket, "nope"));
  ASSERT_FALSE(get);
  EXPECT_EQ(get.error().kind, ErrorKind::not_found);
  EXPECT_EQ(get.error().code, "NoSuchKey");
  EXPECT_EQ(get.error().http_status, 404);

  auto head = rig->run(client().head_object(bucket, "nope"));
  ASSERT_FALSE(head);
  EXPECT_EQ(head.error().kind, ErrorKind::not_found);
  EXPECT_EQ(head.error().code, "NoSuchKey");

  const std::string missing = S3Rig::unique_bucket("missing");
  auto hb = rig->run(client().head_bucket(missing));
  ASSERT_FALSE(hb);
  EXPECT_EQ(hb.error().kind, ErrorKind::not_found);
  EXPECT_EQ(hb.error().code, "NoSuchBucket");
  EXPECT_TRUE(rig->run(client().head_bucket(bucket)));

  auto put = rig->run(client().put_object(missing, "k", "v"));
  ASSERT_FALSE(put);
  EXPECT_EQ(put.error().kind, ErrorKind::not_found);
  EXPECT_EQ(put.error().code, "NoSuchBucket");

  auto list = rig->run(client().list_objects(missing));
  ASSERT_FALSE(list);
  EXPECT_EQ(list.error().code, "NoSuchBucket");

  EXPECT_EQ(rig->run(client().create_bucket("Bad_Name")).error().kind, ErrorKind::invalid_input);
}

TEST_F(S3Live, UnknownAccessKeyIsUnauthorized) {
  Credentials wrong = test::s3rver_credentials();
  wrong.access_key_id = "NOT-S3RVER";
  S3Rig other(test::shared_s3rver()->endpoint(), {}, wrong);
  auto put = other.run(other.client().put_object(bucket, "k", "v"));
  ASSERT_FALSE(put);
  EXPECT_EQ(put.error().kind, ErrorKind::unauthorized) << put.error().code << ": " << put.error().message;
  EXPECT_EQ(put.error().code, "InvalidAccessKeyId");
}

// AWS answers BucketAlreadyOwnedByYou (success for us; us-east-1 even answers 200), s3rver answers
// BucketAlreadyExists (a conflict). Either way the bucket stays usable.
TEST_F(S3Live, CreatingAnExistingBucketIsSuccessOrConflict) {
  auto again = rig->run(client().create_bucket(bucket));
  if (!again) {
    EXPECT_EQ(again.error().kind, ErrorKind::conflict) << again.error().code;
    EXPECT_EQ(again.error().code, "BucketAlreadyExists");
  }
  EXPECT_TRUE(rig->run(client().head_bucket(bucket)));
}

TEST_F(S3Live, CreateBucketOutsideUsEast1SendsALocationConstraint) {
  S3Config config;
  config.region = "eu-west-1";
  S3Rig eu(test::shared_s3rver()->endpoint(), config);
  const std::string b = S3Rig::unique_bucket("eu");
  auto made = eu.run(eu.client().create_bucket(b));
  ASSERT_TRUE(made) << made.error().message;
  EXPECT_TRUE(eu.run(eu.client().head_bucket(b)));
}

TEST_F(S3Live, DeleteObject) {
  ASSERT_TRUE(rig->run(client().put_object(bucket, "d", "v")));
  EXPECT_TRUE(rig->run(client().delete_object(bucket, "d")));
  EXPECT_EQ(rig->run(client().head_object(bucket, "d")).error().kind, ErrorKind::not_found);
  EXPECT_TRUE(rig->run(client().delete_object(bucket, "d")));  // absent: still success
}

TEST_F(S3Live, StreamedGetStopsWhenTheSinkSaysSo) {
  ASSERT_TRUE(rig->run(client().put_object(bucket, "big", std::string(2 << 20, 'b'))));
  std::size_t seen = 0;
  S3Sink sink = [&](std::string_view chunk) -> awaitable<bool> {
    seen += chunk.size();
    co_return false;
  };
  auto got = rig->run(client().get_object(bucket, "big", sink));
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().kind, ErrorKind::cancelled);
  EXPECT_GT(seen, 0u);
  EXPECT_LT(seen, std::size_t{2} << 20);
}

// Deterministic bytes that are not a repeating pattern at part boundaries.
std::string pseudo_random_bytes(std::size_t n, std::uint64_t seed) {
  SeededRandom r(seed);
  std::string out(n, '\0');
  for (std::size_t i = 0; i < n; i += 8) {
    std::uint64_t v = r.next_u64();
    for (std::size_t j = 0; j < 8 && i + j < n; ++j) out[i + j] = static_cast<char>(v >> (8 * j));
  }
  return out;
}

TEST_F(S3Live, LargeUploadGoesMultipartAndRoundTripsByteForByte) {
  const std::string body = pseudo_random_bytes((12 << 20) + 12345, 42);
  S3PutOptions o;
  o.content_type = "application/octet-stream";
  o.metadata = {{"sha256", sha256_hex(body)}};
  // Through a recorder, to see the parts (s3rver's multipart ETag is a plain MD5, unlike AWS's "-N").
  test::RecordingHttp recorder(&rig->http());
  S3Client recorded(recorder, rig->credentials(), client().config());
  auto put = rig->run(recorded.put_large(bucket, "large/blob", body, o));
  ASSERT_TRUE(put) << put.error().message;
  std::vector<std::string> calls;
  std::size_t part_bytes = 0;
  for (const auto& r : recorder.seen) {
    calls.push_back(r.method + " " + r.url.substr(r.url.find("/large/blob")));
    if (r.url.find("partNumber=") != std::string::npos) {
      part_bytes += r.body.size();
      EXPECT_GE(r.body.size(), (r.url.find("partNumber=3") == std::string::npos) ? std::size_t{5} << 20 : 1u);
      EXPECT_EQ(r.headers.get("x-amz-content-sha256").value_or(""), sha256_hex(r.body));
    }
  }
  ASSERT_EQ(calls.size(), 5u);
  EXPECT_EQ(calls[0], "POST /large/blob?uploads");
  EXPECT_TRUE(calls[1].starts_with("PUT /large/blob?partNumber=1&uploadId=")) << calls[1];
  EXPECT_TRUE(calls[3].starts_with("PUT /large/blob?partNumber=3&uploadId=")) << calls[3];
  EXPECT_TRUE(calls[4].starts_with("POST /large/blob?uploadId=")) << calls[4];
  EXPECT_EQ(part_bytes, body.size());

  std::string streamed;
  S3Sink sink = [&](std::string_view chunk) -> awaitable<bool> {
    streamed.append(chunk);
    co_return true;
  };
  auto got = rig->run(client().get_object(bucket, "large/blob", sink));
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(streamed.size(), body.size());
  EXPECT_EQ(sha256_hex(streamed), sha256_hex(body));
  EXPECT_EQ(got->meta("sha256").value_or(""), sha256_hex(body));
  EXPECT_EQ(got->content_type, "application/octet-stream");

  // Below the threshold: one PutObject (a plain MD5 ETag).
  auto small = rig->run(client().put_large(bucket, "large/small", "tiny"));
  ASSERT_TRUE(small);
  EXPECT_EQ(small->etag.find('-'), std::string::npos) << small->etag;
}

TEST_F(S3Live, MultipartPiecesAndAbort) {
  auto id = rig->run(client().create_multipart_upload(bucket, "mp", {.content_type = "text/plain"}));
  ASSERT_TRUE(id) << id.error().message;
  const std::string part1(5 << 20, '1');
  auto e1 = rig->run(client().upload_part(bucket, "mp", *id, 1, part1));
  ASSERT_TRUE(e1) << e1.error().message;
  auto e2 = rig->run(client().upload_part(bucket, "mp", *id, 2, "tail"));
  ASSERT_TRUE(e2);
  EXPECT_FALSE(rig->run(client().upload_part(bucket, "mp", *id, 0, "x")));
  auto done = rig->run(client().complete_multipart_upload(bucket, "mp", *id, {{1, *e1}, {2, *e2}}));
  ASSERT_TRUE(done) << done.error().message;
  auto got = rig->run(client().get_object_bytes(bucket, "mp"));
  ASSERT_TRUE(got);
  EXPECT_EQ(got->second, part1 + "tail");
  EXPECT_EQ(got->first.content_type, "text/plain");

  auto id2 = rig->run(client().create_multipart_upload(bucket, "aborted"));
  ASSERT_TRUE(id2);
  ASSERT_TRUE(rig->run(client().upload_part(bucket, "aborted", *id2, 1, "x")));
  // s3rver has no AbortMultipartUpload (MethodNotAllowed); AWS answers 204.
  auto aborted = rig->run(client().abort_multipart_upload(bucket, "aborted", *id2));
  if (!aborted) {
    EXPECT_EQ(aborted.error().code, "MethodNotAllowed") << aborted.error().message;
  }
  EXPECT_EQ(rig->run(client().head_object(bucket, "aborted")).error().kind, ErrorKind::not_found);
}

// Presigned URLs used by a plain HTTP client that knows nothing about signing.
TEST_F(S3Live, PresignedPutAndGetWorkWithAPlainClient) {
  ASSERT_TRUE(rig->run(client().refresh_credentials()));
  auto put_url = client().presign("PUT", bucket, "presigned/up.txt", std::chrono::seconds(300),
                                  net::Headers{{"Content-Type", "text/plain"}});
  ASSERT_TRUE(put_url) << put_url.error().message;
  net::HttpRequest put;
  put.method = put_url->method;
  put.url = put_url->url;
  for (const auto& [k, v] : put_url->headers) put.headers.add(k, v);
  put.body = "uploaded without signing";
  auto put_resp = rig->run(rig->http().send(put));
  ASSERT_TRUE(put_resp) << put_resp.error().message;
  EXPECT_EQ(put_resp->status, 200) << put_resp->body;

  auto head = rig->run(client().head_object(bucket, "presigned/up.txt"));
  ASSERT_TRUE(head) << head.error().message;
  EXPECT_EQ(head->content_type, "text/plain");

  auto get_url = client().presign("GET", bucket, "presigned/up.txt", std::chrono::seconds(300));
  ASSERT_TRUE(get_url);
  net::HttpRequest get;
  get.url = get_url->url;
  auto got = rig->run(rig->http().send(get));
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, 200);
  EXPECT_EQ(got->body, "uploaded without signing");

  // The same URL with its signature tampered with is refused... by AWS; s3rver does not check
  // signatures, but it does check expiry: a URL signed an hour ago for 60 s is refused.
  auto old = client().presign_with(test::s3rver_credentials(), system_clock().wall() - std::chrono::hours(1), "GET",
                                   bucket, "presigned/up.txt", std::chrono::seconds(60));
  ASSERT_TRUE(old);
  net::HttpRequest expired;
  expired.url = old->url;
  auto refused = rig->run(rig->http().send(expired));
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 403) << refused->body;
  EXPECT_EQ(parse_s3_error(*refused).kind, ErrorKind::forbidden);
}

}  // namespace
}  // namespace ba::aws
