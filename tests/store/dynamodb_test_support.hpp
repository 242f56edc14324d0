#pragma once
// DynamoDB store tests: stores on the shared dynalite rig (tests/support/dynamodb_rig.hpp), a table per test
// directory, and forwarders that run every call on the rig's io thread so the stores can be driven from
// any thread or io_context (the backend-independent suites use run_sync on private io_contexts).
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <filesystem>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>

#include "support/dynamodb_rig.hpp"
#include "store/dynamodb_history.hpp"
#include "store/dynamodb_idempotency.hpp"
#include "store/dynamodb_table.hpp"
#include "store/files.hpp"
#include "store/history.hpp"
#include "store/idempotency.hpp"

namespace ba::test {

// Creates `table` (documented schema) on the rig and waits until it is ACTIVE; throws on failure.
inline void create_table(DynamoRig& rig, const std::string& table) {
  auto st = rig.run(store::ensure_dynamodb_table(rig.client(), table, {.create_missing = true,
                                                                      .poll_interval = std::chrono::milliseconds(50)}));
  if (!st) throw std::runtime_error("creating table " + table + ": " + st.error().message);
}

// The table for a test directory, created on first use (same dir -> same table).
inline std::string table_for(DynamoRig& rig, const std::filesystem::path& dir) {
  static std::mutex mutex;
  static std::map<std::string, std::string> tables;
  std::lock_guard lock(mutex);
  auto [it, fresh] = tables.emplace(dir.string(), "");
  if (fresh) {
    it->second = DynamoRig::unique_table("t");
    create_table(rig, it->second);
  }
  return it->second;
}

// Runs `f()` (which returns an awaitable) on the rig's io thread and resumes the caller with its result.
// (Named locals, not temporaries, inside co_await: GCC 12 mishandles lambda temporaries there.)
template <class F>
auto on_rig_impl(DynamoRig& rig, F f) -> decltype(f()) {
  auto task = boost::asio::co_spawn(rig.io(), std::move(f), boost::asio::use_awaitable);
  co_return co_await std::move(task);
}

class ForwardingHistory final : public store::HistoryStore {
 public:
  ForwardingHistory(DynamoRig& rig, std::unique_ptr<store::HistoryStore> inner) : rig_(rig), inner_(std::move(inner)) {}
  boost::asio::awaitable<Result<std::vector<store::Turn>>> load(std::string owner, std::string id,
                                                                std::size_t limit) override {
    auto call = [this, owner, id, limit] { return inner_->load(owner, id, limit); };
    co_return co_await on_rig_impl(rig_, std::move(call));
  }
  boost::asio::awaitable<Result<store::Turn>> append(std::string owner, store::Turn turn) override {
    auto call = [this, owner, turn] { return inner_->append(owner, turn); };
    co_return co_await on_rig_impl(rig_, std::move(call));
  }
  boost::asio::awaitable<Result<std::optional<std::string>>> owner_of(std::string id) override {
    auto call = [this, id] { return inner_->owner_of(id); };
    co_return co_await on_rig_impl(rig_, std::move(call));
  }
  boost::asio::awaitable<Status> remove(std::string owner, std::string id) override {
    auto call = [this, owner, id] { return inner_->remove(owner, id); };
    co_return co_await on_rig_impl(rig_, std::move(call));
  }
  boost::asio::awaitable<Result<store::ConversationPage>> list(std::string owner, std::size_t limit,
                                                              std::string cursor) override {
    auto call = [this, owner, limit, cursor] { return inner_->list(owner, limit, cursor); };
    co_return co_await on_rig_impl(rig_, std::move(call));
  }
  Status check() override { return inner_->check(); }

 private:
  DynamoRig& rig_;
  std::unique_ptr<store::HistoryStore> inner_;
};

class ForwardingIdempotency final : public store::IdempotencyStore {
 public:
  ForwardingIdempotency(DynamoRig& rig, std::unique_ptr<store::IdempotencyStore> inner)
      : rig_(rig), inner_(std::move(inner)) {}
  boost::asio::awaitable<Result<std::optional<store::IdempotencyRecord>>> claim(
      std::string owner, std::string key, std::string hash, std::chrono::milliseconds ttl) override {
    auto call = [this, owner, key, hash, ttl] { return inner_->claim(owner, key, hash, ttl); };
    co_return co_await on_rig_impl(rig_, std::move(call));
  }
  boost::asio::awaitable<Status> complete(std::string owner, std::string key, int status, std::string body,
                                          std::chrono::milliseconds retention) override {
    auto call = [this, owner, key, status, body, retention] { return inner_->complete(owner, key, status, body, retention); };
    co_return co_await on_rig_impl(rig_, std::move(call));
  }
  boost::asio::awaitable<Status> release(std::string owner, std::string key) override {
    auto call = [this, owner, key] { return inner_->release(owner, key); };
    co_return co_await on_rig_impl(rig_, std::move(call));
  }

 private:
  DynamoRig& rig_;
  std::unique_ptr<store::IdempotencyStore> inner_;
};

// Internal blobs in memory (the FileStore's other calls are not used by the history store).
class MemoryBlobs final : public store::FileStore {
 public:
  std::map<std::string, std::string> blobs;
  int puts = 0;
  std::mutex mutex;

  boost::asio::awaitable<Status> put_blob(std::string key, std::string content) override {
    std::lock_guard lock(mutex);
    ++puts;
    blobs[key] = std::move(content);
    co_return Status{};
  }
  boost::asio::awaitable<Result<std::string>> get_blob(std::string key) override {
    std::lock_guard lock(mutex);
    auto it = blobs.find(key);
    if (it == blobs.end()) co_return fail(ErrorKind::not_found, "no blob " + key);
    co_return it->second;
  }
  boost::asio::awaitable<Status> remove_blob(std::string key) override {
    std::lock_guard lock(mutex);
    blobs.erase(key);
    co_return Status{};
  }

  boost::asio::awaitable<Result<store::FileInfo>> put(std::string, std::string, std::string, std::string) override {
    co_return unused();
  }
  boost::asio::awaitable<Result<store::FileInfo>> head(std::string, std::string) override { co_return unused(); }
  boost::asio::awaitable<Result<std::string>> read(std::string, std::string) override { co_return unused(); }
  boost::asio::awaitable<Result<store::FileInfo>> get(std::string, std::string, std::function<void(const store::FileInfo&)>,
                                                      store::ChunkSink) override {
    co_return unused();
  }
  boost::asio::awaitable<Result<store::FilePage>> list(std::string, std::size_t, std::string) override {
    co_return unused();
  }
  boost::asio::awaitable<Status> remove(std::string, std::string) override { co_return unused(); }
  Result<store::PresignedUrl> presign_get(const std::string&, const std::string&, std::chrono::seconds) override {
    return unused();
  }
  Result<store::PresignedUrl> presign_put(const std::string&, const std::string&, const std::string&,
                                          std::chrono::seconds) override {
    return unused();
  }
  std::uint64_t max_file_bytes() const override { return 0; }
  Status check() override { return {}; }
  std::string describe() const override { return "memory"; }

 private:
  static std::unexpected<Error> unused() { return fail(ErrorKind::internal, "not used by these tests"); }
};

}  // namespace ba::test
