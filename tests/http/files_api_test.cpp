#include "http/files_api.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <set>

#include "support/fake_model.hpp"
#include "http/api.hpp"
#include "net/http_client.hpp"
#include "support/server_harness.hpp"
#include "store/local_files.hpp"
#include "support/run_sync.hpp"
#include "store/sqlite_history.hpp"
#include "util/encoding.hpp"

namespace ba::test {
namespace {

namespace json = boost::json;

class FilesApiTest : public ::testing::Test {
 protected:
  void SetUp() override { build({"key-a", "key-b"}); }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

  void build(std::vector<std::string> keys, bool with_files = true) {
    auto s = store::make_sqlite_history(":memory:");
    ASSERT_TRUE(s);
    history = std::move(*s);
    if (dir.empty()) dir = std::filesystem::temp_directory_path() / ("ba-files-api-" + uuid_v4());
    auto f = store::make_local_file_store(dir.string(), {.max_file_bytes = 10'000});
    ASSERT_TRUE(f) << f.error().message;
    files = std::move(*f);
    service = std::make_unique<agent::ChatService>(model, *history, agent::ChatConfig{}, files.get());
    api_keys = http::ApiKeys(keys);
    context = std::make_unique<http::ApiContext>(http::ApiContext{
        .chat = *service,
        .history = *history,
        .keys = api_keys,
        .config = {.body_limit = 4096, .files_body_limit = 20'000, .model_id = "anthropic.claude-3-sonnet-20240229-v1:0",
                   .credentials_source = "environment"},
        .log = [this](std::string_view line) { logs.emplace_back(line); },
        .files = with_files ? files.get() : nullptr,
    });
    handler = http::make_api_handler(*context);
  }

  net::ServerResponse call(std::string method, std::string target, std::string body = {}, net::Headers headers = {},
                           std::string key = "key-a") {
    net::ServerRequest req;
    req.method = std::move(method);
    req.target = target;
    auto q = target.find('?');
    req.path = target.substr(0, q);
    if (q != std::string::npos) req.query = target.substr(q + 1);
    req.headers = std::move(headers);
    if (!key.empty()) req.headers.set("x-api-key", key);
    req.body = std::move(body);
    return run_sync(handler(req));
  }

  net::ServerResponse post_file(const std::string& name, const std::string& type, const std::string& content,
                                std::string key = "key-a") {
    json::object o;
    o["name"] = name;
    o["content_type"] = type;
    o["content_base64"] = base64_encode(content);
    return call("POST", "/files", json::serialize(o), {}, std::move(key));
  }

  std::string upload(const std::string& name, const std::string& type, const std::string& content,
                     std::string key = "key-a") {
    auto r = post_file(name, type, content, std::move(key));
    EXPECT_EQ(r.status, 201) << r.body;
    return std::string(json::parse(r.body).at("id").as_string());
  }

  static std::string error_type(const net::ServerResponse& r) {
    return std::string(json::parse(r.body).at("error").at("type").as_string());
  }
  static std::string error_message(const net::ServerResponse& r) {
    return std::string(json::parse(r.body).at("error").at("message").as_string());
  }

  FakeModel model;
  std::filesystem::path dir;
  std::unique_ptr<store::HistoryStore> history;
  std::unique_ptr<store::FileStore> files;
  std::unique_ptr<agent::ChatService> service;
  http::ApiKeys api_keys;
  std::unique_ptr<http::ApiContext> context;
  net::Handler handler;
  std::vector<std::string> logs;
};

TEST_F(FilesApiTest, PostFileReturns201WithTheFilesJson) {
  auto r = post_file("report.pdf", "application/pdf", "%PDF-1.4 hello");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.headers.get("Content-Type"), "application/json");
  auto b = json::parse(r.body).as_object();
  const std::string id(b.at("id").as_string());
  EXPECT_TRUE(store::valid_file_id(id));
  EXPECT_EQ(b.at("name").as_string(), "report.pdf");
  EXPECT_EQ(b.at("content_type").as_string(), "application/pdf");
  EXPECT_EQ(b.at("size").as_int64(), 14);
  EXPECT_EQ(b.at("sha256").as_string(), sha256_hex("%PDF-1.4 hello"));
  EXPECT_TRUE(std::string_view(b.at("created_at").as_string()).ends_with("Z"));
  EXPECT_EQ(r.headers.get("Location"), "/files/" + id);
  auto log = json::parse(logs.back()).as_object();
  EXPECT_EQ(log.at("route").as_string(), "/files");
  EXPECT_EQ(log.at("status").as_int64(), 201);
}

TEST_F(FilesApiTest, PutRawBodyUsesTheNameFromThePathAndTheContentType) {
  const std::string bytes("\x00\x01\x02\xff binary", 11);
  auto r = call("PUT", "/files/My%20Chart%20%28v2%29.png", bytes, {{"Content-Type", "image/png"}});
  ASSERT_EQ(r.status, 201) << r.body;
  auto b = json::parse(r.body).as_object();
  EXPECT_EQ(b.at("name").as_string(), "My Chart (v2).png");
  EXPECT_EQ(b.at("content_type").as_string(), "image/png");
  EXPECT_EQ(b.at("size").as_int64(), 11);
  auto get = call("GET", "/files/" + std::string(b.at("id").as_string()));
  ASSERT_EQ(get.status, 200);
  EXPECT_TRUE(get.body == bytes);
  auto untyped = call("PUT", "/files/data.bin", "xyz");
  ASSERT_EQ(untyped.status, 201);
  EXPECT_EQ(json::parse(untyped.body).at("content_type").as_string(), "application/octet-stream");
  // curl --data-binary's default type is not a file type.
  auto form = call("PUT", "/files/report.pdf", "%PDF", {{"Content-Type", "application/x-www-form-urlencoded"}});
  ASSERT_EQ(form.status, 201);
  EXPECT_EQ(json::parse(form.body).at("content_type").as_string(), "application/octet-stream");
  EXPECT_EQ(json::parse(logs.back()).at("route").as_string(), "/files/{id}");
}

TEST_F(FilesApiTest, DownloadHasContentTypeLengthAndASafeDisposition) {
  const std::string id = upload("r\xc3\xa9sum\xc3\xa9 \"final\";.txt", "text/plain; charset=utf-8", "hello");
  auto r = call("GET", "/files/" + id);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "hello");
  EXPECT_EQ(r.headers.get("Content-Type"), "text/plain; charset=utf-8");
  EXPECT_EQ(r.headers.get("Content-Length"), "5");
  EXPECT_EQ(r.headers.get("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(r.headers.get("Content-Security-Policy"), "default-src 'none'; sandbox");
  EXPECT_EQ(r.headers.get("Content-Disposition"),
            "attachment; filename=\"r__sum__ _final__.txt\"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%22final%22%3B.txt");
  EXPECT_EQ(r.headers.get("ETag"), "\"" + sha256_hex("hello") + "\"");
}

TEST_F(FilesApiTest, ContentDispositionNeverCarriesControlCharactersOrQuotes) {
  std::string d = http::content_disposition("a\"b\\c;d%e\x7f.txt");
  EXPECT_EQ(d, "attachment; filename=\"a_b_c_d_e_.txt\"; filename*=UTF-8''a%22b%5Cc%3Bd%25e%7F.txt");
}

TEST_F(FilesApiTest, ListPaginates) {
  std::set<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.insert(upload("f" + std::to_string(i) + ".txt", "text/plain", "x"));
  std::set<std::string> seen;
  std::string token;
  int pages = 0;
  while (true) {
    auto r = call("GET", "/files?limit=2" + (token.empty() ? "" : "&next_token=" + token));
    ASSERT_EQ(r.status, 200) << r.body;
    auto b = json::parse(r.body).as_object();
    auto& list = b.at("files").as_array();
    EXPECT_LE(list.size(), 2u);
    for (auto& f : list) {
      seen.insert(std::string(f.at("id").as_string()));
      EXPECT_TRUE(f.as_object().contains("name"));
      EXPECT_TRUE(f.as_object().contains("size"));
    }
    ++pages;
    if (b.at("next_token").is_null()) break;
    token = std::string(b.at("next_token").as_string());
    ASSERT_LT(pages, 10);
  }
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(seen, ids);
  auto all = call("GET", "/files");
  ASSERT_EQ(all.status, 200);
  EXPECT_EQ(json::parse(all.body).at("files").as_array().size(), 5u);
  for (std::string bad : {"limit=0", "limit=1001", "limit=abc", "limit=-1", "next_token=..%2Fx"}) {
    auto r = call("GET", "/files?" + bad);
    EXPECT_EQ(r.status, 400) << bad << ": " << r.body;
  }
}

TEST_F(FilesApiTest, DeleteRemovesTheFile) {
  const std::string id = upload("a.txt", "text/plain", "x");
  auto del = call("DELETE", "/files/" + id);
  EXPECT_EQ(del.status, 204);
  EXPECT_TRUE(del.body.empty());
  EXPECT_EQ(call("GET", "/files/" + id).status, 404);
  EXPECT_EQ(call("DELETE", "/files/" + id).status, 404);
}

TEST_F(FilesApiTest, FilesBelongToTheCaller) {
  const std::string id = upload("secret.txt", "text/plain", "a's secret", "key-a");
  auto get = call("GET", "/files/" + id, {}, {}, "key-b");
  EXPECT_EQ(get.status, 404);
  EXPECT_EQ(error_type(get), "not_found");
  EXPECT_EQ(get.body.find("secret"), std::string::npos);
  EXPECT_EQ(call("DELETE", "/files/" + id, {}, {}, "key-b").status, 404);
  auto list = call("GET", "/files", {}, {}, "key-b");
  ASSERT_EQ(list.status, 200);
  EXPECT_TRUE(json::parse(list.body).at("files").as_array().empty());
  EXPECT_EQ(call("GET", "/files/" + id, {}, {}, "key-a").status, 200);
  // No key at all: 401 before anything else.
  EXPECT_EQ(call("GET", "/files/" + id, {}, {}, "").status, 401);
  EXPECT_EQ(call("POST", "/files", "{}", {}, "").status, 401);
}

TEST_F(FilesApiTest, TraversalAndBadNamesAreRefused) {
  for (std::string path : {"/files/..%2Fx", "/files/%2e%2e", "/files/%2E%2E", "/files/a%2Fb", "/files/a%5Cb",
                           "/files/x%0Ay", "/files/x%00y", "/files/.", "/files/%7F"}) {
    auto r = call("PUT", path, "data", {{"Content-Type", "text/plain"}});
    EXPECT_EQ(r.status, 400) << path << ": " << r.body;
    EXPECT_EQ(error_type(r), "invalid_request");
  }
  // A raw '/' makes it a different path: refused as well.
  EXPECT_EQ(call("PUT", "/files/a/b", "data").status, 400);
  EXPECT_EQ(call("PUT", "/files/../x", "data").status, 400);
  for (std::string name : std::vector<std::string>{"../x", "a/b", "..", "x\ny", std::string(256, 'n'), std::string("bell\x07")}) {
    auto r = post_file(name, "text/plain", "data");
    EXPECT_EQ(r.status, 400) << name << ": " << r.body;
  }
  for (std::string path : std::vector<std::string>{"/files/..%2Fx", "/files/%2e%2e", "/files/a.b", "/files/" + std::string(65, 'a')}) {
    EXPECT_EQ(call("GET", path).status, 400) << path;
    EXPECT_EQ(call("DELETE", path).status, 400) << path;
  }
  auto page = call("GET", "/files");
  EXPECT_TRUE(json::parse(page.body).at("files").as_array().empty());
  // Nothing escaped the store's folder.
  EXPECT_FALSE(std::filesystem::exists(dir.parent_path() / "x"));
}

TEST_F(FilesApiTest, OversizedFilesAndBodiesAre413) {
  // Over the store's max_file_bytes (10,000) but within the body limit.
  auto put = call("PUT", "/files/big.bin", std::string(10'001, 'b'));
  EXPECT_EQ(put.status, 413) << put.body;
  EXPECT_EQ(error_type(put), "payload_too_large");
  auto post = post_file("big.bin", "application/octet-stream", std::string(10'001, 'b'));
  EXPECT_EQ(post.status, 413) << post.body;
  // Over the files body limit (20,000).
  auto huge = call("PUT", "/files/huge.bin", std::string(20'001, 'b'));
  EXPECT_EQ(huge.status, 413);
  EXPECT_NE(error_message(huge).find("20000"), std::string::npos);
  // The files limit does not widen /chat's.
  auto chat = call("POST", "/chat", std::string(5000, ' ') + R"({"input":"x"})");
  EXPECT_EQ(chat.status, 413);
  // Exactly the limit is fine.
  EXPECT_EQ(call("PUT", "/files/ok.bin", std::string(10'000, 'b')).status, 201);
}

TEST_F(FilesApiTest, BadJsonAndBase64Are400) {
  struct Case {
    std::string body;
    std::string needle;
  } cases[] = {
      {"not json", "not valid JSON"},
      {"[]", "JSON object"},
      {R"({"name":"a.txt","content_base64":"@@@@"})", "base64"},
      {R"({"name":"a.txt","content_base64":"aGk=aGk="})", "base64"},
      {R"({"name":"a.txt","content_base64":"a"})", "base64"},
      {R"({"name":"a.txt"})", "content_base64"},
      {R"({"content_base64":"aGk="})", "name"},
      {R"({"name":"a.txt","content_base64":"aGk=","extra":1})", "unknown field 'extra'"},
      {R"({"name":5,"content_base64":"aGk="})", "must be a string"},
      {R"({"name":"a.txt","content_type":"text","content_base64":"aGk="})", "content_type"},
  };
  for (const auto& c : cases) {
    auto r = call("POST", "/files", c.body);
    EXPECT_EQ(r.status, 400) << c.body << ": " << r.body;
    EXPECT_NE(error_message(r).find(c.needle), std::string::npos) << c.body << ": " << r.body;
  }
  auto ok = call("POST", "/files", R"({"name":"a.txt","content_base64":"aGk="})");
  ASSERT_EQ(ok.status, 201) << ok.body;
  EXPECT_EQ(json::parse(ok.body).at("content_type").as_string(), "application/octet-stream");
}

TEST_F(FilesApiTest, PresignOnTheLocalStoreIs400WithTheReason) {
  auto up = call("POST", "/files/presign", R"({"name":"big.pdf","content_type":"application/pdf"})");
  EXPECT_EQ(up.status, 400) << up.body;
  EXPECT_NE(error_message(up).find("s3://"), std::string::npos);
  const std::string id = upload("a.txt", "text/plain", "x");
  auto down = call("POST", "/files/presign", R"({"file_id":")" + id + R"("})");
  EXPECT_EQ(down.status, 400);
  EXPECT_EQ(call("POST", "/files/presign", R"({"file_id":"../x"})").status, 400);
  EXPECT_EQ(call("POST", "/files/presign", R"({})").status, 400);
  auto get = call("GET", "/files/presign");
  EXPECT_EQ(get.status, 405);
  EXPECT_EQ(get.headers.get("Allow"), "POST");
}

TEST_F(FilesApiTest, MethodsAreChecked) {
  auto r = call("DELETE", "/files");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.headers.get("Allow"), "GET, HEAD, POST");
  EXPECT_EQ(call("PATCH", "/files").status, 501);  // implemented nowhere (RFC 9110 section 9.1)
  EXPECT_EQ(call("POST", "/files/abc").status, 405);
  EXPECT_EQ(call("DELETE", "/files").status, 405);
  EXPECT_EQ(call("GET", "/files/presign/x").status, 400);
}

TEST_F(FilesApiTest, WithoutAFileStoreTheRoutesAre501) {
  build({"key-a"}, false);
  auto r = call("GET", "/files");
  EXPECT_EQ(r.status, 501);
  EXPECT_EQ(error_type(r), "not_implemented");
  EXPECT_NE(error_message(r).find("--files"), std::string::npos);
  EXPECT_EQ(call("POST", "/files", "{}").status, 501);
}

TEST_F(FilesApiTest, HealthReportsTheFileStore) {
  auto r = call("GET", "/health");
  ASSERT_EQ(r.status, 200) << r.body;
  auto b = json::parse(r.body).as_object();
  EXPECT_EQ(b.at("files").at("backend").as_string(), "local:" + dir.string());
  EXPECT_EQ(b.at("files").at("status").as_string(), "ok");
  EXPECT_EQ(b.at("status").as_string(), "ok");
}

TEST_F(FilesApiTest, ChatWithAnAttachedFileSendsADocumentBlock) {
  const std::string id = upload("notes.md", "text/markdown", "# Notes\nbuy milk");
  model.reply("You should buy milk.");
  auto r = call("POST", "/chat", R"({"input":"What should I buy?","files":[")" + id + R"("]})");
  ASSERT_EQ(r.status, 200) << r.body;
  const auto& content = model.requests.at(0).messages.at(0).content;
  ASSERT_EQ(content.size(), 2u);
  EXPECT_EQ(content[0].type, bedrock::ContentBlock::Type::document);
  EXPECT_EQ(content[0].format, "md");
  EXPECT_EQ(content[0].name, "notes");
  EXPECT_EQ(content[0].bytes, "# Notes\nbuy milk");
  EXPECT_EQ(content[1].text, "What should I buy?");
}

TEST_F(FilesApiTest, ChatFileErrorsKeepTheirStatusEvenWhenStreaming) {
  const std::string zip = upload("a.zip", "application/zip", "PK");
  const std::string foreign = upload("b.txt", "text/plain", "b", "key-b");
  for (bool stream : {false, true}) {
    const std::string s = stream ? "true" : "false";
    auto unsupported = call("POST", "/chat", R"({"input":"x","stream":)" + s + R"(,"files":[")" + zip + R"("]})");
    EXPECT_EQ(unsupported.status, 400) << unsupported.body;
    EXPECT_FALSE(unsupported.stream);
    EXPECT_NE(error_message(unsupported).find("application/zip"), std::string::npos);
    auto missing = call("POST", "/chat", R"({"input":"x","stream":)" + s + R"(,"files":[")" + foreign + R"("]})");
    EXPECT_EQ(missing.status, 404) << missing.body;
    EXPECT_FALSE(missing.stream);
  }
  EXPECT_EQ(call("POST", "/chat", R"({"input":"x","files":"abc"})").status, 400);
  EXPECT_EQ(call("POST", "/chat", R"({"input":"x","files":[1]})").status, 400);
  EXPECT_EQ(call("POST", "/chat", R"({"input":"x","files":["../x"]})").status, 400);
  EXPECT_TRUE(model.requests.empty());
}

// Through a real server: the raw bytes and the headers on the wire.
TEST_F(FilesApiTest, UploadAndDownloadOverHttp) {
  net::testing::ServerThread server({.body_limit = 64 * 1024}, handler);
  boost::asio::io_context io;
  auto client = net::make_http_client(io, net::ClientConfig{.use_proxy_env = false});
  std::string bytes;
  for (int i = 0; i < 9000; ++i) bytes.push_back(static_cast<char>(i * 31 & 0xff));
  net::HttpRequest put;
  put.method = "PUT";
  put.url = server.url("/files/wire%20test.bin");
  put.headers = {{"x-api-key", "key-a"}, {"Content-Type", "application/octet-stream"}};
  put.body = bytes;
  auto created = net::testing::run_until_done(io, client->send(put));
  ASSERT_TRUE(created) << created.error().message;
  ASSERT_EQ(created->status, 201) << created->body;
  const std::string id(json::parse(created->body).at("id").as_string());
  net::HttpRequest get;
  get.url = server.url("/files/" + id);
  get.headers = {{"x-api-key", "key-a"}};
  auto got = net::testing::run_until_done(io, client->send(get));
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->status, 200);
  EXPECT_TRUE(got->body == bytes);
  EXPECT_EQ(got->headers.get("Content-Length"), std::to_string(bytes.size()));
  EXPECT_EQ(got->headers.get("Content-Type"), "application/octet-stream");
  EXPECT_EQ(got->headers.get("Content-Disposition"),
            "attachment; filename=\"wire test.bin\"; filename*=UTF-8''wire%20test.bin");
}

}  // namespace
}  // namespace ba::test
