// The Files API (http::handle_files over an in-memory FileStore; docs/testing.md, "Fuzzing"): fuzzed
// method, route, path segment, query, Content-Type and body, as the caller "alice", with one file of
// hers and one of "bob" already stored. Checked:
// - the answer is 200, 201, 204, 400, 404 or 413 (the store never fails, so nothing else);
// - errors are JSON {"error": {"type", "message"}} with the log's error type set, successes leave it empty;
// - what reaches the store is valid (file names, content types, ids), bob's file is never alice's;
// - an upload (201) stores exactly the body (PUT) or the decoded content_base64 (POST) and answers its JSON;
// - no response header value holds a control character (Content-Disposition is built from the name).
#include <fuzzer/FuzzedDataProvider.h>

#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "fuzz_check.hpp"
#include "run_sync.hpp"
#include "http/files_api.hpp"
#include "util/encoding.hpp"

namespace {

using ba::Result;
using ba::Status;
using boost::asio::awaitable;
namespace store = ba::store;

struct Stored {
  std::string owner;
  store::FileInfo info;
  std::string content;
};

class MemoryFiles final : public store::FileStore {
 public:
  std::map<std::string, Stored> files;
  std::string last_put;

  awaitable<Result<store::FileInfo>> put(std::string owner, std::string name, std::string content_type,
                                         std::string content) override {
    FUZZ_CHECK(store::valid_file_name(name));
    FUZZ_CHECK(store::valid_content_type(content_type));
    if (content.size() > max_file_bytes()) co_return ba::fail(ba::ErrorKind::too_large, "too large");
    store::FileInfo info{"f" + std::to_string(files.size() + 1), name, content_type, content.size(),
                         ba::sha256_hex(content), 1'700'000'000'000};
    last_put = info.id;
    files[info.id] = Stored{owner, info, std::move(content)};
    co_return info;
  }
  const Stored* find(const std::string& owner, const std::string& id) {
    FUZZ_CHECK(store::valid_file_id(id));
    auto it = files.find(id);
    return it == files.end() || it->second.owner != owner ? nullptr : &it->second;
  }
  awaitable<Result<store::FileInfo>> head(std::string owner, std::string id) override {
    if (auto* f = find(owner, id)) co_return f->info;
    co_return ba::fail(ba::ErrorKind::not_found, "no such file");
  }
  awaitable<Result<std::string>> read(std::string owner, std::string id) override {
    if (auto* f = find(owner, id)) co_return f->content;
    co_return ba::fail(ba::ErrorKind::not_found, "no such file");
  }
  awaitable<Result<store::FileInfo>> get(std::string owner, std::string id, std::function<void(const store::FileInfo&)> on_info,
                                         store::ChunkSink sink) override {
    auto* f = find(owner, id);
    if (!f) co_return ba::fail(ba::ErrorKind::not_found, "no such file");
    on_info(f->info);
    if (!co_await sink(f->content)) co_return ba::fail(ba::ErrorKind::cancelled, "stopped");
    co_return f->info;
  }
  awaitable<Result<store::FilePage>> list(std::string owner, std::size_t limit, std::string token) override {
    FUZZ_CHECK(limit >= 1 && limit <= 1000);
    store::FilePage page;
    for (const auto& [id, f] : files)
      if (f.owner == owner && id > token && page.files.size() < limit) page.files.push_back(f.info);
    co_return page;
  }
  awaitable<Status> remove(std::string owner, std::string id) override {
    if (!find(owner, id)) co_return ba::fail(ba::ErrorKind::not_found, "no such file");
    files.erase(id);
    co_return Status{};
  }
  Result<store::PresignedUrl> presign_get(const std::string& owner, const std::string& id, std::chrono::seconds) override {
    if (!find(owner, id)) return ba::fail(ba::ErrorKind::not_found, "no such file");
    return store::PresignedUrl{"https://example.com/" + id, "GET", 1, id, {}};
  }
  Result<store::PresignedUrl> presign_put(const std::string&, const std::string& name, const std::string& content_type,
                                          std::chrono::seconds) override {
    FUZZ_CHECK(store::valid_file_name(name));
    FUZZ_CHECK(store::valid_content_type(content_type));
    return store::PresignedUrl{"https://example.com/new", "PUT", 1, "f99", {{"content-type", content_type}}};
  }
  awaitable<Status> put_blob(std::string, std::string) override { co_return Status{}; }
  awaitable<Result<std::string>> get_blob(std::string) override { co_return std::string(); }
  awaitable<Status> remove_blob(std::string) override { co_return Status{}; }
  std::uint64_t max_file_bytes() const override { return 4096; }
  Status check() override { return {}; }
  std::string describe() const override { return "memory"; }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  MemoryFiles files;
  files.files["f1"] = Stored{"alice", {"f1", "a.txt", "text/plain", 2, ba::sha256_hex("hi"), 1}, "hi"};
  files.files["f2"] = Stored{"bob", {"f2", "b.txt", "text/plain", 3, ba::sha256_hex("bob"), 1}, "bob"};

  static constexpr const char* kMethods[] = {"GET", "POST", "PUT", "DELETE", "PATCH"};
  ba::net::ServerRequest req;
  req.method = kMethods[in.ConsumeIntegralInRange(0, 4)];
  switch (in.ConsumeIntegralInRange(0, 2)) {
    case 0: req.path = "/files"; break;
    case 1: req.path = "/files/presign"; break;
    default: req.path = "/files/" + in.ConsumeRandomLengthString(80); break;
  }
  req.query = in.ConsumeRandomLengthString(40);
  req.target = req.path + (req.query.empty() ? "" : "?" + req.query);
  if (in.ConsumeBool()) req.headers.set("Content-Type", in.ConsumeRandomLengthString(64));
  req.body = in.ConsumeRemainingBytesAsString();
  const std::string body = req.body;
  const auto route = ba::http::files_route(req.path);
  FUZZ_CHECK(route.has_value());

  auto r = ba::fuzz::run_sync(ba::http::handle_files(&files, {}, req, std::string(*route), "alice"));
  const int s = r.response.status;
  FUZZ_CHECK(s == 200 || s == 201 || s == 204 || s == 400 || s == 404 || s == 413);
  for (const auto& h : r.response.headers)
    for (unsigned char c : h.value) FUZZ_CHECK(c >= 0x20 && c != 0x7f);
  FUZZ_CHECK(files.files.at("f2").owner == "bob" && files.files.at("f2").content == "bob");

  if (s >= 400) {
    FUZZ_CHECK(!r.error_type.empty());
    boost::system::error_code ec;
    auto v = boost::json::parse(r.response.body, ec);
    FUZZ_CHECK(!ec && v.as_object().at("error").as_object().at("type").is_string());
    return 0;
  }
  FUZZ_CHECK(r.error_type.empty());
  if (s == 201) {
    const Stored& f = files.files.at(files.last_put);
    FUZZ_CHECK(f.owner == "alice");
    if (req.method == "PUT") {
      FUZZ_CHECK(f.content == body);
    } else {
      auto o = boost::json::parse(body).as_object();
      auto decoded = ba::base64_decode(o.at("content_base64").as_string());
      FUZZ_CHECK(decoded && *decoded == f.content);
    }
    auto answer = boost::json::parse(r.response.body).as_object();
    FUZZ_CHECK(answer.at("id").as_string() == f.info.id && answer.at("size").to_number<std::uint64_t>() == f.content.size());
    FUZZ_CHECK(r.response.headers.get("Location") == "/files/" + f.info.id);
  }
  if (s == 200 && req.method == "GET" && *route == ba::http::kFileRoute) {
    FUZZ_CHECK(r.response.body == "hi");  // alice's only file
  }
  return 0;
}
