#pragma once
// Files: what callers upload (the Files API, files as model input) and internal blobs (history turns too
// large for one DynamoDB item). Embedded default: a local folder; S3 when configured. Both implement
// this interface and pass tests/store/file_store_suite.hpp.
//
// Files belong to an owner (the caller's identity, as for conversations): another owner's file is
// "not found", never "forbidden". Ids are assigned by the store (opaque, URL-safe, [A-Za-z0-9_-], at
// most 64 characters). Names are what the caller called the file: validated by valid_file_name().
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.hpp"

namespace ba::store {

struct FileInfo {
  std::string id;
  std::string name;
  std::string content_type;     // as given at upload (validated: type/subtype, no parameters beyond charset)
  std::uint64_t size = 0;       // bytes
  std::string sha256_hex;       // of the content
  std::int64_t created_at_ms = 0;
};

struct FilePage {
  std::vector<FileInfo> files;  // newest first is not promised; stable order (by id) within a listing
  std::string next_token;       // empty: last page
};

// 1-255 bytes of UTF-8; no '/', '\\', control characters (< 0x20, 0x7f), and not "." or "..".
bool valid_file_name(std::string_view name);
inline constexpr std::string_view kFileNameRule =
    "1-255 bytes of UTF-8 without '/', '\\', control characters, and not '.' or '..'";
// Ids as the stores make them: 1-64 characters of [A-Za-z0-9_-].
bool valid_file_id(std::string_view id);

// Added (files helper): checks shared by every store and the HTTP layer.
// "type/subtype" (RFC 7230 tokens) with at most one parameter, charset=<token>; at most 255 bytes.
bool valid_content_type(std::string_view type);
inline constexpr std::string_view kContentTypeRule =
    "type/subtype (e.g. application/pdf), optionally with '; charset=<name>' and no other parameters";
// Blob keys: 1-1024 bytes of [A-Za-z0-9._-] segments separated by '/', no empty, "." or ".." segment.
bool valid_blob_key(std::string_view key);

// Receives a download chunk by chunk; return false to stop (the get ends with ErrorKind::cancelled).
using ChunkSink = std::function<boost::asio::awaitable<bool>(std::string_view)>;

struct PresignedUrl {
  std::string url;
  std::string method;           // "GET" or "PUT"
  std::int64_t expires_at_ms = 0;
  std::string file_id;          // PUT: the id the file will have once uploaded
  std::vector<std::pair<std::string, std::string>> headers;  // headers the client must send (PUT: content-type)
};

class FileStore {
 public:
  virtual ~FileStore() = default;

  // Stores a new file for `owner` and returns its info (new id). too_large above max_file_bytes().
  virtual boost::asio::awaitable<Result<FileInfo>> put(std::string owner, std::string name, std::string content_type,
                                                       std::string content) = 0;
  virtual boost::asio::awaitable<Result<FileInfo>> head(std::string owner, std::string id) = 0;
  // The whole content (for model input: callers check head() sizes first).
  virtual boost::asio::awaitable<Result<std::string>> read(std::string owner, std::string id) = 0;
  // Streams the content to `sink` (downloads); returns the info, sent before the first chunk through
  // `on_info` so a server can write headers first.
  virtual boost::asio::awaitable<Result<FileInfo>> get(std::string owner, std::string id,
                                                       std::function<void(const FileInfo&)> on_info,
                                                       ChunkSink sink) = 0;
  // One page of the owner's files; `limit` 1..1000; `token` from the previous page's next_token.
  virtual boost::asio::awaitable<Result<FilePage>> list(std::string owner, std::size_t limit, std::string token) = 0;
  virtual boost::asio::awaitable<Status> remove(std::string owner, std::string id) = 0;

  // Presigned URLs for files larger than the API's payload limits. Stores that cannot presign (the local
  // folder) answer ErrorKind::invalid_input with a message saying so.
  virtual Result<PresignedUrl> presign_get(const std::string& owner, const std::string& id,
                                           std::chrono::seconds expires) = 0;
  virtual Result<PresignedUrl> presign_put(const std::string& owner, const std::string& name,
                                           const std::string& content_type, std::chrono::seconds expires) = 0;

  // Internal blobs (history spill): keyed by the caller of these functions, never listed by list() nor
  // reachable through the Files API. `key` is [A-Za-z0-9._/-], no "..".
  virtual boost::asio::awaitable<Status> put_blob(std::string key, std::string content) = 0;
  virtual boost::asio::awaitable<Result<std::string>> get_blob(std::string key) = 0;
  virtual boost::asio::awaitable<Status> remove_blob(std::string key) = 0;

  virtual std::uint64_t max_file_bytes() const = 0;
  // Cheap readiness probe for /health; a description like "local:./data/files" or "s3://bucket/prefix".
  virtual Status check() = 0;
  virtual std::string describe() const = 0;
};

}  // namespace ba::store
