#include "store/file_store_suite.hpp"

#include <algorithm>
#include <set>
#include <thread>
#include <vector>

#include "support/run_sync.hpp"
#include "util/encoding.hpp"

namespace ba::test {
namespace {

using namespace std::chrono_literals;

// Every byte value, repeated to `size` bytes.
std::string binary(std::size_t size) {
  std::string s(size, '\0');
  for (std::size_t i = 0; i < size; ++i) s[i] = static_cast<char>((i * 7 + i / 256) & 0xff);
  return s;
}

struct Download {
  Result<store::FileInfo> result;
  std::string body;
  int chunks = 0;
  bool info_before_first_chunk = false;
};

Download download(store::FileStore& s, const std::string& owner, const std::string& id, int stop_after = -1) {
  Download d{fail(ErrorKind::internal, "not run"), {}, 0, false};
  bool have_info = false;
  bool first = true;
  auto on_info = [&](const store::FileInfo&) { have_info = true; };
  store::ChunkSink sink = [&](std::string_view chunk) -> boost::asio::awaitable<bool> {
    if (first) d.info_before_first_chunk = have_info;
    first = false;
    if (stop_after >= 0 && d.chunks >= stop_after) co_return false;
    d.body += chunk;
    ++d.chunks;
    co_return true;
  };
  d.result = run_sync(s.get(owner, id, on_info, sink));
  return d;
}

std::vector<std::string> all_ids(store::FileStore& s, const std::string& owner, std::size_t page_size) {
  std::vector<std::string> ids;
  std::string token;
  for (int guard = 0; guard < 1000; ++guard) {
    auto page = run_sync(s.list(owner, page_size, token));
    EXPECT_TRUE(page) << page.error().message;
    if (!page) break;
    EXPECT_LE(page->files.size(), page_size);
    for (const auto& f : page->files) ids.push_back(f.id);
    if (page->next_token.empty()) break;
    token = page->next_token;
  }
  return ids;
}

}  // namespace

void FileStoreSuite::SetUp() {
  dir_ = std::filesystem::temp_directory_path() / ("ba-files-" + uuid_v4());
  std::filesystem::create_directories(dir_);
}

void FileStoreSuite::TearDown() {
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

TEST_P(FileStoreSuite, PutReturnsInfoAndHeadReadGetAgree) {
  auto s = open();
  const std::string content = "hello, files\n";
  auto put = run_sync(s->put("alice", "notes.txt", "text/plain", content));
  ASSERT_TRUE(put) << put.error().message;
  EXPECT_TRUE(store::valid_file_id(put->id)) << put->id;
  EXPECT_EQ(put->name, "notes.txt");
  EXPECT_EQ(put->content_type, "text/plain");
  EXPECT_EQ(put->size, content.size());
  EXPECT_EQ(put->sha256_hex, sha256_hex(content));
  EXPECT_GT(put->created_at_ms, 1'600'000'000'000);

  auto head = run_sync(s->head("alice", put->id));
  ASSERT_TRUE(head) << head.error().message;
  EXPECT_EQ(head->id, put->id);
  EXPECT_EQ(head->name, "notes.txt");
  EXPECT_EQ(head->content_type, "text/plain");
  EXPECT_EQ(head->size, content.size());
  EXPECT_EQ(head->sha256_hex, put->sha256_hex);
  EXPECT_EQ(head->created_at_ms, put->created_at_ms);

  auto read = run_sync(s->read("alice", put->id));
  ASSERT_TRUE(read) << read.error().message;
  EXPECT_EQ(*read, content);

  auto d = download(*s, "alice", put->id);
  ASSERT_TRUE(d.result) << d.result.error().message;
  EXPECT_EQ(d.body, content);
  EXPECT_TRUE(d.info_before_first_chunk);
  EXPECT_EQ(d.result->size, content.size());
}

TEST_P(FileStoreSuite, BinaryContentRoundTripsInSeveralChunks) {
  auto s = open();
  const std::string content = binary(200 * 1024);
  auto put = run_sync(s->put("alice", "blob.bin", "application/octet-stream", content));
  ASSERT_TRUE(put) << put.error().message;
  auto read = run_sync(s->read("alice", put->id));
  ASSERT_TRUE(read);
  EXPECT_TRUE(*read == content);
  auto d = download(*s, "alice", put->id);
  ASSERT_TRUE(d.result) << d.result.error().message;
  EXPECT_TRUE(d.body == content);
  EXPECT_GT(d.chunks, 1) << "get() should stream, not hand over one big buffer";
}

TEST_P(FileStoreSuite, EmptyFileIsAllowed) {
  auto s = open();
  auto put = run_sync(s->put("alice", "empty.txt", "text/plain", ""));
  ASSERT_TRUE(put) << put.error().message;
  EXPECT_EQ(put->size, 0u);
  auto read = run_sync(s->read("alice", put->id));
  ASSERT_TRUE(read);
  EXPECT_TRUE(read->empty());
  auto d = download(*s, "alice", put->id);
  ASSERT_TRUE(d.result);
  EXPECT_TRUE(d.body.empty());
}

TEST_P(FileStoreSuite, SinkReturningFalseCancelsTheDownload) {
  auto s = open();
  auto put = run_sync(s->put("alice", "big.bin", "application/octet-stream", binary(200 * 1024)));
  ASSERT_TRUE(put);
  auto d = download(*s, "alice", put->id, /*stop_after=*/0);
  ASSERT_FALSE(d.result);
  EXPECT_EQ(d.result.error().kind, ErrorKind::cancelled);
  EXPECT_TRUE(d.body.empty());
}

TEST_P(FileStoreSuite, SameNameTwiceGivesTwoFiles) {
  auto s = open();
  auto a = run_sync(s->put("alice", "same.txt", "text/plain", "one"));
  auto b = run_sync(s->put("alice", "same.txt", "text/plain", "two"));
  ASSERT_TRUE(a);
  ASSERT_TRUE(b);
  EXPECT_NE(a->id, b->id);
  EXPECT_EQ(*run_sync(s->read("alice", a->id)), "one");
  EXPECT_EQ(*run_sync(s->read("alice", b->id)), "two");
}

TEST_P(FileStoreSuite, ListPaginatesInAStableOrder) {
  auto s = open();
  std::set<std::string> expected;
  for (int i = 0; i < 7; ++i) {
    auto put = run_sync(s->put("alice", "f" + std::to_string(i) + ".txt", "text/plain", "x" + std::to_string(i)));
    ASSERT_TRUE(put);
    expected.insert(put->id);
  }
  ASSERT_TRUE(run_sync(s->put("bob", "other.txt", "text/plain", "bob's")));
  auto ids = all_ids(*s, "alice", 3);
  EXPECT_EQ(ids.size(), 7u);
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()), expected);
  EXPECT_EQ(all_ids(*s, "alice", 3), ids) << "the order must be stable between listings";
  EXPECT_EQ(all_ids(*s, "alice", 1000), ids);

  auto first = run_sync(s->list("alice", 3, ""));
  ASSERT_TRUE(first);
  ASSERT_EQ(first->files.size(), 3u);
  EXPECT_FALSE(first->next_token.empty());
  const auto& f = first->files[0];
  EXPECT_FALSE(f.name.empty());
  EXPECT_EQ(f.content_type, "text/plain");
  EXPECT_EQ(f.size, 2u);
  EXPECT_EQ(f.sha256_hex.size(), 64u);
  auto whole = run_sync(s->list("alice", 7, ""));
  ASSERT_TRUE(whole);
  EXPECT_EQ(whole->files.size(), 7u);
}

TEST_P(FileStoreSuite, ListOfAnOwnerWithNoFilesIsEmpty) {
  auto s = open();
  auto page = run_sync(s->list("nobody", 10, ""));
  ASSERT_TRUE(page) << page.error().message;
  EXPECT_TRUE(page->files.empty());
  EXPECT_TRUE(page->next_token.empty());
}

TEST_P(FileStoreSuite, ListRefusesBadLimitsAndTokens) {
  auto s = open();
  ASSERT_TRUE(run_sync(s->put("alice", "a.txt", "text/plain", "a")));
  for (std::size_t limit : {std::size_t{0}, std::size_t{1001}}) {
    auto page = run_sync(s->list("alice", limit, ""));
    ASSERT_FALSE(page) << limit;
    EXPECT_EQ(page.error().kind, ErrorKind::invalid_input);
  }
  for (std::string token : std::vector<std::string>{"../x", "a/b", std::string(2000, 'x')}) {
    auto page = run_sync(s->list("alice", 10, token));
    ASSERT_FALSE(page) << token;
    EXPECT_EQ(page.error().kind, ErrorKind::invalid_input);
  }
}

TEST_P(FileStoreSuite, OwnersAreIsolated) {
  auto s = open();
  auto put = run_sync(s->put("alice", "secret.txt", "text/plain", "alice's secret"));
  ASSERT_TRUE(put);
  auto head = run_sync(s->head("bob", put->id));
  ASSERT_FALSE(head);
  EXPECT_EQ(head.error().kind, ErrorKind::not_found);
  auto read = run_sync(s->read("bob", put->id));
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error().kind, ErrorKind::not_found);
  auto d = download(*s, "bob", put->id);
  ASSERT_FALSE(d.result);
  EXPECT_EQ(d.result.error().kind, ErrorKind::not_found);
  EXPECT_TRUE(d.body.empty());
  auto del = run_sync(s->remove("bob", put->id));
  ASSERT_FALSE(del);
  EXPECT_EQ(del.error().kind, ErrorKind::not_found);
  auto page = run_sync(s->list("bob", 100, ""));
  ASSERT_TRUE(page);
  EXPECT_TRUE(page->files.empty());
  // Owner strings that look like paths or differ only in case are different owners.
  for (std::string other : {"Alice", "alice/", "../alice", "alice\n"}) {
    auto h = run_sync(s->head(other, put->id));
    ASSERT_FALSE(h) << other;
    EXPECT_EQ(h.error().kind, ErrorKind::not_found);
  }
  auto mine = run_sync(s->read("alice", put->id));
  ASSERT_TRUE(mine);
  EXPECT_EQ(*mine, "alice's secret");
}

TEST_P(FileStoreSuite, RemoveDeletesTheFile) {
  auto s = open();
  auto keep = run_sync(s->put("alice", "keep.txt", "text/plain", "keep"));
  auto put = run_sync(s->put("alice", "gone.txt", "text/plain", "gone"));
  ASSERT_TRUE(keep);
  ASSERT_TRUE(put);
  ASSERT_TRUE(run_sync(s->remove("alice", put->id)));
  auto head = run_sync(s->head("alice", put->id));
  ASSERT_FALSE(head);
  EXPECT_EQ(head.error().kind, ErrorKind::not_found);
  auto read = run_sync(s->read("alice", put->id));
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error().kind, ErrorKind::not_found);
  auto again = run_sync(s->remove("alice", put->id));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().kind, ErrorKind::not_found);
  EXPECT_EQ(all_ids(*s, "alice", 10), std::vector<std::string>{keep->id});
}

TEST_P(FileStoreSuite, UnknownAndInvalidIds) {
  auto s = open();
  auto unknown = run_sync(s->head("alice", "AAAAAAAAAAAAAAAAAAAAAA"));
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().kind, ErrorKind::not_found);
  for (std::string id : std::vector<std::string>{"", "../x", "..", "a/b", "a\\b", "a.b", "id\n", "%2e%2e", std::string(65, 'a')}) {
    auto head = run_sync(s->head("alice", id));
    ASSERT_FALSE(head) << id;
    EXPECT_EQ(head.error().kind, ErrorKind::invalid_input) << id;
    auto read = run_sync(s->read("alice", id));
    ASSERT_FALSE(read) << id;
    EXPECT_EQ(read.error().kind, ErrorKind::invalid_input) << id;
    auto d = download(*s, "alice", id);
    ASSERT_FALSE(d.result) << id;
    EXPECT_EQ(d.result.error().kind, ErrorKind::invalid_input) << id;
    auto del = run_sync(s->remove("alice", id));
    ASSERT_FALSE(del) << id;
    EXPECT_EQ(del.error().kind, ErrorKind::invalid_input) << id;
  }
}

TEST_P(FileStoreSuite, TooLargeIsRefusedAndTheLimitItselfIsAccepted) {
  auto s = open(1000);
  EXPECT_EQ(s->max_file_bytes(), 1000u);
  auto at_limit = run_sync(s->put("alice", "ok.bin", "application/octet-stream", std::string(1000, 'a')));
  ASSERT_TRUE(at_limit) << at_limit.error().message;
  auto over = run_sync(s->put("alice", "big.bin", "application/octet-stream", std::string(1001, 'a')));
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().kind, ErrorKind::too_large);
  EXPECT_NE(over.error().message.find("1000"), std::string::npos) << over.error().message;
  EXPECT_EQ(all_ids(*s, "alice", 10), std::vector<std::string>{at_limit->id});
}

TEST_P(FileStoreSuite, BadNamesAreRefused) {
  auto s = open();
  const std::string bad[] = {"",      ".",     "..",         "../x",          "a/b",          "a\\b",
                             "x\ny",  "tab\t", "del\x7f",    "nul" + std::string(1, '\0'), std::string(256, 'n'),
                             "\xff",  "\xc3",  "c1\xc2\x85", "/etc/passwd"};
  for (const auto& name : bad) {
    auto put = run_sync(s->put("alice", name, "text/plain", "x"));
    ASSERT_FALSE(put) << "accepted name: " << name;
    EXPECT_EQ(put.error().kind, ErrorKind::invalid_input);
  }
  const std::string good[] = {"report 2026 (final).pdf", "%2e%2e", "...", ".hidden", "r\xc3\xa9sum\xc3\xa9.txt",
                              std::string(255, 'n'), "a:b*c?.txt"};
  for (const auto& name : good) {
    auto put = run_sync(s->put("alice", name, "text/plain", "x"));
    ASSERT_TRUE(put) << "refused name: " << name << ": " << put.error().message;
    EXPECT_EQ(put->name, name);
    auto head = run_sync(s->head("alice", put->id));
    ASSERT_TRUE(head);
    EXPECT_EQ(head->name, name);
  }
  EXPECT_EQ(all_ids(*s, "alice", 100).size(), std::size(good));
}

TEST_P(FileStoreSuite, BadContentTypesAreRefused) {
  auto s = open();
  for (std::string type : {"", "text", "text/", "/plain", "text/plain; boundary=x", "a b/c", "text/plain\r\nX-Evil: 1",
                           "text/plain; charset=utf-8; x=y"}) {
    auto put = run_sync(s->put("alice", "a.txt", type, "x"));
    ASSERT_FALSE(put) << "accepted content type: " << type;
    EXPECT_EQ(put.error().kind, ErrorKind::invalid_input);
  }
  for (std::string type : {"text/plain", "text/plain; charset=utf-8", "application/vnd.ms-excel", "image/png"}) {
    auto put = run_sync(s->put("alice", "a.txt", type, "x"));
    ASSERT_TRUE(put) << "refused content type: " << type;
    EXPECT_EQ(put->content_type, type);
  }
}

TEST_P(FileStoreSuite, BlobsRoundTripAndStayOutOfListings) {
  auto s = open();
  ASSERT_TRUE(run_sync(s->put_blob("history/c1/0001.json", "{\"big\":1}")));
  auto got = run_sync(s->get_blob("history/c1/0001.json"));
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(*got, "{\"big\":1}");
  ASSERT_TRUE(run_sync(s->put_blob("history/c1/0001.json", binary(1000))));
  got = run_sync(s->get_blob("history/c1/0001.json"));
  ASSERT_TRUE(got);
  EXPECT_TRUE(*got == binary(1000));
  // Blobs are not limited by max_file_bytes (they are internal), at least up to a few times it.
  ASSERT_TRUE(run_sync(s->put_blob("big", binary(2 * kMaxBytes))));
  for (std::string owner : {"", "anonymous", "history"}) {
    auto page = run_sync(s->list(owner, 100, ""));
    ASSERT_TRUE(page);
    EXPECT_TRUE(page->files.empty()) << owner;
  }
  ASSERT_TRUE(run_sync(s->remove_blob("history/c1/0001.json")));
  auto gone = run_sync(s->get_blob("history/c1/0001.json"));
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().kind, ErrorKind::not_found);
  EXPECT_TRUE(run_sync(s->remove_blob("history/c1/0001.json"))) << "removing an absent blob is not an error";
  auto never = run_sync(s->get_blob("never/written"));
  ASSERT_FALSE(never);
  EXPECT_EQ(never.error().kind, ErrorKind::not_found);
}

TEST_P(FileStoreSuite, BadBlobKeysAreRefused) {
  auto s = open();
  for (std::string key : std::vector<std::string>{"", "../x", "a/../b", "/abs", "a//b", "a/", ".", "a b", "a\nb", "a\\b", "..",
                          std::string(1025, 'k')}) {
    auto put = run_sync(s->put_blob(key, "x"));
    ASSERT_FALSE(put) << "accepted blob key: " << key;
    EXPECT_EQ(put.error().kind, ErrorKind::invalid_input);
    auto get = run_sync(s->get_blob(key));
    ASSERT_FALSE(get) << key;
    EXPECT_EQ(get.error().kind, ErrorKind::invalid_input);
    auto del = run_sync(s->remove_blob(key));
    ASSERT_FALSE(del) << key;
    EXPECT_EQ(del.error().kind, ErrorKind::invalid_input);
  }
}

TEST_P(FileStoreSuite, DataSurvivesReopen) {
  std::string id;
  {
    auto s = open();
    auto put = run_sync(s->put("alice", "keep.txt", "text/plain", "kept"));
    ASSERT_TRUE(put);
    id = put->id;
    ASSERT_TRUE(run_sync(s->put_blob("b/1", "blob")));
  }
  auto s = open();
  auto read = run_sync(s->read("alice", id));
  ASSERT_TRUE(read) << read.error().message;
  EXPECT_EQ(*read, "kept");
  auto blob = run_sync(s->get_blob("b/1"));
  ASSERT_TRUE(blob);
  EXPECT_EQ(*blob, "blob");
}

TEST_P(FileStoreSuite, ConcurrentPutsLoseNothing) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 10;
  auto a = open();
  auto b = open();
  std::vector<std::thread> threads;
  std::vector<int> failures(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      store::FileStore& s = (t % 2 == 0) ? *a : *b;
      for (int i = 0; i < kPerThread; ++i) {
        if (!run_sync(s.put("alice", "t" + std::to_string(t), "text/plain", std::to_string(i)))) ++failures[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int f : failures) EXPECT_EQ(f, 0);
  EXPECT_EQ(all_ids(*a, "alice", 7).size(), static_cast<std::size_t>(kThreads * kPerThread));
}

TEST_P(FileStoreSuite, PresignAnswersAccordingToTheBackend) {
  auto s = open();
  auto put = run_sync(s->put("alice", "a.txt", "text/plain", "x"));
  ASSERT_TRUE(put);
  auto get = s->presign_get("alice", put->id, 300s);
  auto up = s->presign_put("alice", "upload.pdf", "application/pdf", 300s);
  if (!GetParam().presigns) {
    ASSERT_FALSE(get);
    EXPECT_EQ(get.error().kind, ErrorKind::invalid_input);
    EXPECT_FALSE(get.error().message.empty());
    ASSERT_FALSE(up);
    EXPECT_EQ(up.error().kind, ErrorKind::invalid_input);
    return;
  }
  ASSERT_TRUE(get) << get.error().message;
  EXPECT_EQ(get->method, "GET");
  EXPECT_FALSE(get->url.empty());
  EXPECT_GT(get->expires_at_ms, 0);
  ASSERT_TRUE(up) << up.error().message;
  EXPECT_EQ(up->method, "PUT");
  EXPECT_TRUE(store::valid_file_id(up->file_id));
  auto bad = s->presign_put("alice", "../x", "application/pdf", 300s);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind, ErrorKind::invalid_input);
}

TEST_P(FileStoreSuite, CheckAndDescribe) {
  auto s = open();
  EXPECT_TRUE(s->check());
  EXPECT_FALSE(s->describe().empty());
}

}  // namespace ba::test
