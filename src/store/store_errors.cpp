#include "store/store_errors.hpp"

#include <algorithm>
#include <array>
#include <utility>

namespace ba::store {
namespace {

using boost::asio::awaitable;

bool from_backend(const Error& e) { return e.http_status != 0 || !e.code.empty(); }

bool in(std::string_view code, const auto& list) { return std::ranges::find(list, code) != list.end(); }

// Codes that say "this table/bucket does not exist" (as opposed to an item or object that does not).
constexpr std::array<std::string_view, 2> kMissingResource = {"ResourceNotFoundException", "NoSuchBucket"};

// Credentials that were good and ran out: the provider refreshes them, so a retry shortly can succeed.
constexpr std::array<std::string_view, 5> kExpiredCredentials = {"ExpiredToken", "ExpiredTokenException",
                                                                 "TokenRefreshRequired", "RequestExpired",
                                                                 "RequestTimeTooSkewed"};

bool translated(const Error& e) {
  return e.code == kCodeUnavailable || e.code == kCodeMisconfigured || e.code == kCodeFailed;
}

}  // namespace

StoreFault classify_store_error(const Error& e) {
  switch (e.kind) {
    case ErrorKind::network:
      // A certificate we do not trust is not an outage: the endpoint is not the one configured.
      return e.code == "net.tls_certificate" ? StoreFault::misconfigured : StoreFault::unavailable;
    case ErrorKind::timeout:
    case ErrorKind::unavailable:
    case ErrorKind::throttled:
    case ErrorKind::quota_exceeded:
    case ErrorKind::upstream:  // a reply that is not the backend's protocol (a proxy's page, a cut body)
      return StoreFault::unavailable;
    case ErrorKind::unauthorized:
      // No credentials from the provider right now (a refresh that failed), or ones that just expired.
      if (!from_backend(e) || in(e.code, kExpiredCredentials)) return StoreFault::unavailable;
      return StoreFault::misconfigured;
    case ErrorKind::forbidden: return StoreFault::misconfigured;
    case ErrorKind::not_found: return in(e.code, kMissingResource) ? StoreFault::misconfigured : StoreFault::none;
    case ErrorKind::invalid_input: return from_backend(e) ? StoreFault::failed : StoreFault::none;
    case ErrorKind::internal: return StoreFault::failed;
    case ErrorKind::conflict:
    case ErrorKind::too_large:
    case ErrorKind::rate_limited:
    case ErrorKind::cancelled: return StoreFault::none;
  }
  return StoreFault::failed;
}

Error store_error(Error e, std::string_view store) {
  if (translated(e)) return e;  // already the caller's (a history turn spilled to the file store)
  const StoreFault fault = classify_store_error(e);
  if (fault == StoreFault::none) return e;
  Error out;
  out.request_id = std::move(e.request_id);
  switch (fault) {
    case StoreFault::unavailable:
      out.kind = ErrorKind::unavailable;
      out.code = std::string(kCodeUnavailable);
      out.message = std::string(store) + " unavailable, retry shortly";
      out.retryable = true;
      out.retry_after = e.retry_after && e.retry_after->count() > 0 ? *e.retry_after : kStoreRetryAfter;
      break;
    case StoreFault::misconfigured:
      out.kind = ErrorKind::internal;
      out.code = std::string(kCodeMisconfigured);
      out.message = std::string(store) + " misconfigured: see the server log";
      break;
    default:
      out.kind = ErrorKind::internal;
      out.code = std::string(kCodeFailed);
      out.message = std::string(store) + " failed: see the server log";
      break;
  }
  return out;
}

std::string describe(const StoreFailure& f) {
  std::string d(f.resource);
  if (!f.error) return d;
  const Error& e = *f.error;
  if (!d.empty()) d += ": ";
  d += e.message.empty() ? std::string(to_string(e.kind)) : e.message;
  if (!e.code.empty() && e.message.find(e.code) == std::string::npos) d += " (" + e.code + ")";
  return d;
}

namespace {

constexpr std::string_view kHistory = "history store";
constexpr std::string_view kFiles = "file store";

// Every decorator holds this: which store, what it uses, where failures are logged.
struct Guard {
  std::string_view store;
  std::string resource;
  StoreLog log;

  template <class T>
  Result<T> operator()(Result<T> r, bool log_failure = true) const {
    if (r) return r;
    if (translated(r.error())) return r;
    const StoreFault fault = classify_store_error(r.error());
    if (fault == StoreFault::none) return r;
    if (log && log_failure) log(StoreFailure{fault, store, resource, &r.error()});
    return std::unexpected(store_error(std::move(r.error()), store));
  }
};

class GuardedHistory final : public HistoryStore {
 public:
  GuardedHistory(std::unique_ptr<HistoryStore> inner, std::string resource, StoreLog log)
      : inner_(std::move(inner)), guard_{kHistory, std::move(resource), std::move(log)} {}

  awaitable<Result<std::vector<Turn>>> load(std::string owner, std::string id, std::size_t limit) override {
    co_return guard_(co_await inner_->load(std::move(owner), std::move(id), limit));
  }
  awaitable<Result<Turn>> append(std::string owner, Turn turn) override {
    co_return guard_(co_await inner_->append(std::move(owner), std::move(turn)));
  }
  awaitable<Result<std::optional<std::string>>> owner_of(std::string id) override {
    co_return guard_(co_await inner_->owner_of(std::move(id)));
  }
  awaitable<Status> remove(std::string owner, std::string id) override {
    co_return guard_(co_await inner_->remove(std::move(owner), std::move(id)));
  }
  awaitable<Result<ConversationPage>> list(std::string owner, std::size_t limit, std::string cursor) override {
    co_return guard_(co_await inner_->list(std::move(owner), limit, std::move(cursor)));
  }
  Status check() override { return guard_(inner_->check(), false); }  // /health polls: not logged

 private:
  std::unique_ptr<HistoryStore> inner_;
  Guard guard_;
};

class GuardedFiles final : public FileStore {
 public:
  GuardedFiles(std::unique_ptr<FileStore> inner, StoreLog log)
      : inner_(std::move(inner)), guard_{kFiles, inner_->describe(), std::move(log)} {}

  awaitable<Result<FileInfo>> put(std::string owner, std::string name, std::string content_type,
                                  std::string content) override {
    co_return guard_(co_await inner_->put(std::move(owner), std::move(name), std::move(content_type), std::move(content)));
  }
  awaitable<Result<FileInfo>> head(std::string owner, std::string id) override {
    co_return guard_(co_await inner_->head(std::move(owner), std::move(id)));
  }
  awaitable<Result<std::string>> read(std::string owner, std::string id) override {
    co_return guard_(co_await inner_->read(std::move(owner), std::move(id)));
  }
  awaitable<Result<FileInfo>> get(std::string owner, std::string id, std::function<void(const FileInfo&)> on_info,
                                  ChunkSink sink) override {
    co_return guard_(co_await inner_->get(std::move(owner), std::move(id), std::move(on_info), std::move(sink)));
  }
  awaitable<Result<FilePage>> list(std::string owner, std::size_t limit, std::string token) override {
    co_return guard_(co_await inner_->list(std::move(owner), limit, std::move(token)));
  }
  awaitable<Status> remove(std::string owner, std::string id) override {
    co_return guard_(co_await inner_->remove(std::move(owner), std::move(id)));
  }
  Result<PresignedUrl> presign_get(const std::string& owner, const std::string& id,
                                   std::chrono::seconds expires) override {
    return guard_(inner_->presign_get(owner, id, expires));
  }
  Result<PresignedUrl> presign_put(const std::string& owner, const std::string& name, const std::string& content_type,
                                   std::chrono::seconds expires) override {
    return guard_(inner_->presign_put(owner, name, content_type, expires));
  }
  awaitable<Status> put_blob(std::string key, std::string content) override {
    co_return guard_(co_await inner_->put_blob(std::move(key), std::move(content)));
  }
  awaitable<Result<std::string>> get_blob(std::string key) override {
    co_return guard_(co_await inner_->get_blob(std::move(key)));
  }
  awaitable<Status> remove_blob(std::string key) override {
    co_return guard_(co_await inner_->remove_blob(std::move(key)));
  }
  std::uint64_t max_file_bytes() const override { return inner_->max_file_bytes(); }
  Status check() override { return guard_(inner_->check(), false); }  // /health polls: not logged
  std::string describe() const override { return guard_.resource; }

 private:
  std::unique_ptr<FileStore> inner_;
  Guard guard_;
};

class GuardedIdempotency final : public IdempotencyStore {
 public:
  GuardedIdempotency(std::unique_ptr<IdempotencyStore> inner, std::string resource, StoreLog log)
      : inner_(std::move(inner)), guard_{kHistory, std::move(resource), std::move(log)} {}

  awaitable<Result<std::optional<IdempotencyRecord>>> claim(std::string owner, std::string key, std::string hash,
                                                             std::chrono::milliseconds ttl) override {
    co_return guard_(co_await inner_->claim(std::move(owner), std::move(key), std::move(hash), ttl));
  }
  awaitable<Status> complete(std::string owner, std::string key, int status, std::string body,
                             std::chrono::milliseconds retention) override {
    co_return guard_(co_await inner_->complete(std::move(owner), std::move(key), status, std::move(body), retention));
  }
  awaitable<Status> release(std::string owner, std::string key) override {
    co_return guard_(co_await inner_->release(std::move(owner), std::move(key)));
  }

 private:
  std::unique_ptr<IdempotencyStore> inner_;
  Guard guard_;
};

}  // namespace

std::unique_ptr<HistoryStore> guard_history(std::unique_ptr<HistoryStore> inner, std::string resource, StoreLog log) {
  return std::make_unique<GuardedHistory>(std::move(inner), std::move(resource), std::move(log));
}

std::unique_ptr<FileStore> guard_files(std::unique_ptr<FileStore> inner, StoreLog log) {
  return std::make_unique<GuardedFiles>(std::move(inner), std::move(log));
}

std::unique_ptr<IdempotencyStore> guard_idempotency(std::unique_ptr<IdempotencyStore> inner, std::string resource,
                                                    StoreLog log) {
  return std::make_unique<GuardedIdempotency>(std::move(inner), std::move(resource), std::move(log));
}

}  // namespace ba::store
