#pragma once
// An in-memory store::IdempotencyStore for tests (the SQLite and DynamoDB ones have their own suites).
#include <map>
#include <mutex>
#include <utility>

#include "store/idempotency.hpp"
#include "util/clock.hpp"

namespace ba::test {

class MemoryIdempotency final : public store::IdempotencyStore {
 public:
  explicit MemoryIdempotency(Clock& clock) : clock_(clock) {}

  boost::asio::awaitable<Result<std::optional<store::IdempotencyRecord>>> claim(
      std::string owner, std::string key, std::string request_hash, std::chrono::milliseconds in_flight_ttl) override {
    std::lock_guard lock(mutex_);
    ++claims;
    last_ttl = in_flight_ttl;
    auto k = std::make_pair(owner, key);
    if (auto it = records_.find(k); it != records_.end() && it->second.expires_at_ms > now_ms()) {
      co_return std::optional<store::IdempotencyRecord>(it->second);
    }
    store::IdempotencyRecord r;
    r.state = store::IdempotencyRecord::State::in_flight;
    r.request_hash = std::move(request_hash);
    r.expires_at_ms = now_ms() + in_flight_ttl.count();
    records_[k] = std::move(r);
    co_return std::optional<store::IdempotencyRecord>();
  }

  boost::asio::awaitable<Status> complete(std::string owner, std::string key, int status, std::string response_body,
                                          std::chrono::milliseconds retention) override {
    std::lock_guard lock(mutex_);
    ++completes;
    auto it = records_.find({owner, key});
    if (it == records_.end()) co_return fail(ErrorKind::not_found, "no claim");
    it->second.state = store::IdempotencyRecord::State::completed;
    it->second.status = status;
    it->second.response_body = std::move(response_body);
    it->second.expires_at_ms = now_ms() + retention.count();
    co_return Status{};
  }

  boost::asio::awaitable<Status> release(std::string owner, std::string key) override {
    std::lock_guard lock(mutex_);
    ++releases;
    records_.erase({owner, key});
    co_return Status{};
  }

  std::size_t size() const {
    std::lock_guard lock(mutex_);
    return records_.size();
  }

  int claims = 0, completes = 0, releases = 0;
  std::chrono::milliseconds last_ttl{0};

 private:
  std::int64_t now_ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock_.wall().time_since_epoch()).count();
  }
  Clock& clock_;
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, std::string>, store::IdempotencyRecord> records_;
};

}  // namespace ba::test
