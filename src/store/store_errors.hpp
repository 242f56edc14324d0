#pragma once
// The one place where a store's failure becomes the caller's error (docs/api.md, "Errors"; docs/storage.md,
// "When a store fails"). Every backend (SQLite, DynamoDB, local folder, S3) fails in its own words: a
// resolver or socket message with an internal address, a DynamoDB or S3 error code, an SQLite or errno
// message with a path. The caller gets none of that:
//  - the store is down, slow, throttling or answering 5xx (also: credentials that expired, SQLite busy or
//    I/O errors, a local folder that cannot be written): ErrorKind::unavailable (503) "<store> unavailable,
//    retry shortly", retryable, with retry_after (the backend's own hint, else 1 s) for Retry-After;
//  - the store is misconfigured (its DynamoDB table or S3 bucket does not exist, access denied, credentials
//    refused): ErrorKind::internal (500) "<store> misconfigured: see the server log";
//  - any other failure underneath (a corrupt item, a request the backend refused): internal (500)
//    "<store> failed: see the server log".
// The backend's words, with the table/bucket/file the store uses and the backend's code and request id,
// go to the server log (the guard's StoreLog, one line per failure) and never into a response body; the
// translated error's code says which of the three it was ("store.unavailable", "store.misconfigured",
// "store.failed"). What a store decides itself (a conversation or file that does not exist, a bad
// cursor, a conflict, a file over the limit) stays as it is: those are answers, not failures. A missing
// item is told from a missing table by the backend's error code (DynamoDB answers
// ResourceNotFoundException for a missing table, and no error for a missing item; S3 NoSuchKey vs
// NoSuchBucket), never by an HTTP status.
//
// The guard_* decorators apply this to every call of a store; the server wraps the stores it opens in
// them (cli/app_context.cpp), so the HTTP layer and the chat use case only ever see the caller's errors.
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "store/files.hpp"
#include "store/history.hpp"
#include "store/idempotency.hpp"
#include "util/result.hpp"

namespace ba::store {

enum class StoreFault {
  none,           // an answer of the store itself (not found, conflict, invalid input...): passed on as is
  unavailable,    // down, slow, throttling, 5xx, expired credentials, busy: 503 with Retry-After
  misconfigured,  // missing table/bucket, access denied, credentials refused: 500, details in the log
  failed,         // anything else that went wrong underneath: 500, details in the log
};

// How a store's error is classified (by kind and the backend's error code, never by HTTP status alone).
StoreFault classify_store_error(const Error& e);

// The hint for Retry-After when the backend gave none.
inline constexpr std::chrono::milliseconds kStoreRetryAfter{1000};

inline constexpr std::string_view kCodeUnavailable = "store.unavailable";
inline constexpr std::string_view kCodeMisconfigured = "store.misconfigured";
inline constexpr std::string_view kCodeFailed = "store.failed";

// `e` as the caller's error. `store` names the store in the caller's terms ("history store", "file store").
// An error already translated (its code one of the above) is returned unchanged.
Error store_error(Error e, std::string_view store);

// One failure as the operator's log sees it.
struct StoreFailure {
  StoreFault fault = StoreFault::failed;
  std::string_view store;     // "history store", "file store"
  std::string_view resource;  // what the store uses: "DynamoDB table 'chat'", "s3://bucket/prefix", "sqlite:..."
  const Error* error = nullptr;  // the backend's error (message, code, HTTP status, request id)
};
// "DynamoDB table 'chat': DynamoDB Query: Requested resource not found (ResourceNotFoundException)".
std::string describe(const StoreFailure& failure);
using StoreLog = std::function<void(const StoreFailure&)>;

// Decorators that pass every call through and translate its error with store_error(), logging each
// failure (fault != none) through `log` (may be empty). `resource` names what the store uses, for the log.
std::unique_ptr<HistoryStore> guard_history(std::unique_ptr<HistoryStore> inner, std::string resource, StoreLog log);
std::unique_ptr<FileStore> guard_files(std::unique_ptr<FileStore> inner, StoreLog log);  // resource: describe()
// Idempotency records live on the history backend: their failures are the history store's.
std::unique_ptr<IdempotencyStore> guard_idempotency(std::unique_ptr<IdempotencyStore> inner, std::string resource,
                                                    StoreLog log);

}  // namespace ba::store
