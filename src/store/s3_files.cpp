#include "store/s3_files.hpp"

#include <charconv>
#include <cstdio>

#include "net/url.hpp"
#include "util/encoding.hpp"

namespace ba::store {
namespace {

using boost::asio::awaitable;

std::string invalid_id_message() {
  return "file id must be 1-64 characters of A-Z a-z 0-9 _ - (as returned by POST /files)";
}

std::int64_t parse_i64(std::string_view s) {
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return (ec == std::errc{} && p == s.data() + s.size()) ? v : 0;
}

class S3FileStore final : public FileStore {
 public:
  S3FileStore(aws::S3Client& client, S3FileOptions options)
      : client_(client),
        options_(std::move(options)),
        clock_(options_.clock ? *options_.clock : system_clock()),
        random_(options_.random ? *options_.random : system_random()) {
    while (!options_.prefix.empty() && options_.prefix.back() == '/') options_.prefix.pop_back();
    while (!options_.prefix.empty() && options_.prefix.front() == '/') options_.prefix.erase(0, 1);
    base_ = options_.prefix.empty() ? std::string() : options_.prefix + "/";
  }

  awaitable<Result<FileInfo>> put(std::string owner, std::string name, std::string content_type,
                                  std::string content) override {
    if (auto ok = validate_upload(name, content_type); !ok) co_return std::unexpected(std::move(ok.error()));
    if (content.size() > options_.max_file_bytes) co_return fail(too_large(content.size()));
    FileInfo info;
    info.id = new_id();
    info.name = std::move(name);
    info.content_type = std::move(content_type);
    info.size = content.size();
    info.sha256_hex = sha256_hex(content);
    info.created_at_ms = now_ms();
    aws::S3PutOptions o;
    o.content_type = info.content_type;
    o.metadata = {{"name", net::uri_encode(info.name)},
                  {"sha256", info.sha256_hex},
                  {"created-ms", std::to_string(info.created_at_ms)}};
    const std::string key = file_key(owner, info.id);
    auto put = co_await client_.put_large(options_.bucket, key, std::move(content), std::move(o));
    if (!put) co_return std::unexpected(std::move(put.error()));
    co_return info;
  }

  awaitable<Result<FileInfo>> head(std::string owner, std::string id) override {
    if (!valid_file_id(id)) co_return fail(ErrorKind::invalid_input, invalid_id_message());
    const std::string key = file_key(owner, id);
    auto obj = co_await client_.head_object(options_.bucket, key);
    if (!obj) {
      Error miss = co_await head_miss(std::move(obj.error()));
      co_return std::unexpected(not_found_for_file(std::move(miss), id));
    }
    co_return to_info(id, *obj);
  }

  awaitable<Result<std::string>> read(std::string owner, std::string id) override {
    if (!valid_file_id(id)) co_return fail(ErrorKind::invalid_input, invalid_id_message());
    const std::string key = file_key(owner, id);
    auto got = co_await client_.get_object_bytes(options_.bucket, key);
    if (!got) co_return std::unexpected(not_found_for_file(std::move(got.error()), id));
    co_return std::move(got->second);
  }

  awaitable<Result<FileInfo>> get(std::string owner, std::string id, std::function<void(const FileInfo&)> on_info,
                                  ChunkSink sink) override {
    if (!valid_file_id(id)) co_return fail(ErrorKind::invalid_input, invalid_id_message());
    const std::string key = file_key(owner, id);
    auto obj = co_await client_.head_object(options_.bucket, key);
    if (!obj) {
      Error miss = co_await head_miss(std::move(obj.error()));
      co_return std::unexpected(not_found_for_file(std::move(miss), id));
    }
    FileInfo info = to_info(id, *obj);
    if (on_info) on_info(info);
    aws::S3GetOptions go;
    go.if_match = obj->etag;
    auto got = co_await client_.get_object(options_.bucket, key, sink, go);
    if (!got) co_return std::unexpected(not_found_for_file(std::move(got.error()), id));
    co_return info;
  }

  awaitable<Result<FilePage>> list(std::string owner, std::size_t limit, std::string token) override {
    if (limit < 1 || limit > 1000) co_return fail(ErrorKind::invalid_input, "limit must be 1..1000");
    if (!token.empty() && !valid_file_id(token))
      co_return fail(ErrorKind::invalid_input, "next_token is not one this store made");
    const std::string prefix = owner_prefix(owner);
    aws::S3ListOptions lo;
    lo.prefix = prefix;
    lo.max_keys = static_cast<int>(limit);
    if (!token.empty()) lo.start_after = prefix + token;
    auto page = co_await client_.list_objects(options_.bucket, lo);
    if (!page) co_return std::unexpected(std::move(page.error()));
    FilePage out;
    std::string last_id;
    for (const auto& o : page->objects) {
      std::string id = o.key.substr(prefix.size());
      if (!valid_file_id(id)) continue;  // not ours (e.g. a stray object): skip
      last_id = id;
      auto obj = co_await client_.head_object(options_.bucket, o.key);
      if (!obj) {
        if (obj.error().kind == ErrorKind::not_found) continue;  // deleted meanwhile
        co_return std::unexpected(std::move(obj.error()));
      }
      out.files.push_back(to_info(id, *obj));
    }
    if (!page->next_token.empty() && !last_id.empty()) out.next_token = last_id;
    co_return out;
  }

  awaitable<Status> remove(std::string owner, std::string id) override {
    if (!valid_file_id(id)) co_return fail(ErrorKind::invalid_input, invalid_id_message());
    const std::string key = file_key(owner, id);
    // S3 deletes absent keys without complaint; the API says not_found for files that are not there.
    auto obj = co_await client_.head_object(options_.bucket, key);
    if (!obj) {
      Error miss = co_await head_miss(std::move(obj.error()));
      co_return std::unexpected(not_found_for_file(std::move(miss), id));
    }
    Status deleted = co_await client_.delete_object(options_.bucket, key);
    co_return deleted;
  }

  Result<PresignedUrl> presign_get(const std::string& owner, const std::string& id,
                                   std::chrono::seconds expires) override {
    if (!valid_file_id(id)) return fail(ErrorKind::invalid_input, invalid_id_message());
    auto p = client_.presign("GET", options_.bucket, file_key(owner, id), expires);
    if (!p) return std::unexpected(std::move(p.error()));
    return to_presigned(std::move(*p), "");
  }

  Result<PresignedUrl> presign_put(const std::string& owner, const std::string& name, const std::string& content_type,
                                   std::chrono::seconds expires) override {
    if (auto ok = validate_upload(name, content_type); !ok) return std::unexpected(std::move(ok.error()));
    const std::string id = new_id();
    net::Headers headers{{"Content-Type", content_type},
                         {"x-amz-meta-name", net::uri_encode(name)},
                         {"x-amz-meta-created-ms", std::to_string(now_ms())}};
    auto p = client_.presign("PUT", options_.bucket, file_key(owner, id), expires, headers);
    if (!p) return std::unexpected(std::move(p.error()));
    return to_presigned(std::move(*p), id);
  }

  awaitable<Status> put_blob(std::string key, std::string content) override {
    if (!valid_blob_key(key)) co_return fail(ErrorKind::invalid_input, "invalid blob key");
    const std::string full = blob_key(key);
    auto put = co_await client_.put_large(options_.bucket, full, std::move(content));
    if (!put) co_return std::unexpected(std::move(put.error()));
    co_return Status{};
  }

  awaitable<Result<std::string>> get_blob(std::string key) override {
    if (!valid_blob_key(key)) co_return fail(ErrorKind::invalid_input, "invalid blob key");
    const std::string full = blob_key(key);
    auto got = co_await client_.get_object_bytes(options_.bucket, full);
    if (!got) co_return std::unexpected(std::move(got.error()));
    co_return std::move(got->second);
  }

  awaitable<Status> remove_blob(std::string key) override {
    if (!valid_blob_key(key)) co_return fail(ErrorKind::invalid_input, "invalid blob key");
    const std::string full = blob_key(key);
    Status deleted = co_await client_.delete_object(options_.bucket, full);
    co_return deleted;
  }

  std::uint64_t max_file_bytes() const override { return options_.max_file_bytes; }

  // No I/O here (it is synchronous): the configuration is sound. Reachability is checked at start-up
  // (ensure_bucket) and surfaces on every call.
  Status check() override {
    if (!aws::valid_bucket_name(options_.bucket))
      return fail(ErrorKind::unavailable, "S3 file store: invalid bucket name \"" + options_.bucket + "\"");
    return {};
  }

  std::string describe() const override {
    return "s3://" + options_.bucket + (options_.prefix.empty() ? "" : "/" + options_.prefix);
  }

 private:
  aws::S3Client& client_;
  S3FileOptions options_;
  Clock& clock_;
  Random& random_;
  std::string base_;  // "PREFIX/" or ""

  std::int64_t now_ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock_.wall().time_since_epoch()).count();
  }

  std::string owner_prefix(const std::string& owner) const {
    return base_ + "files/" + sha256_hex(owner).substr(0, 32) + "/";
  }
  std::string file_key(const std::string& owner, const std::string& id) const { return owner_prefix(owner) + id; }
  std::string blob_key(const std::string& key) const { return base_ + "blobs/" + key; }

  std::string new_id() {
    static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char hex[13];
    std::snprintf(hex, sizeof hex, "%012llx", static_cast<unsigned long long>(now_ms()) & 0xffffffffffffULL);
    std::string id(hex);
    for (int i = 0; i < 2; ++i) {
      std::uint64_t v = random_.next_u64();
      for (int k = 0; k < 8; ++k) {
        id += kAlphabet[v & 63];
        v >>= 6;
      }
    }
    return id;
  }

  Status validate_upload(const std::string& name, const std::string& content_type) const {
    if (!valid_file_name(name)) return fail(ErrorKind::invalid_input, "file name must be " + std::string(kFileNameRule));
    if (!valid_content_type(content_type))
      return fail(ErrorKind::invalid_input, "content type must be " + std::string(kContentTypeRule));
    return {};
  }

  Error too_large(std::uint64_t size) const {
    return Error::make(ErrorKind::too_large, "file of " + std::to_string(size) + " bytes is over the limit of " +
                                                 std::to_string(options_.max_file_bytes) + " bytes");
  }

  // A HEAD answers 404 without a body both for a missing object and a missing bucket: after a miss, the
  // bucket is asked for (HeadBucket), so a bucket that went away is NoSuchBucket (a misconfigured store,
  // store_errors.hpp), not "no file". Only misses pay for the second request.
  awaitable<Error> head_miss(Error e) {
    if (e.kind != ErrorKind::not_found || e.code == "NoSuchBucket") co_return e;
    auto bucket = co_await client_.head_bucket(options_.bucket);
    if (!bucket && bucket.error().code == "NoSuchBucket") {
      Error gone = std::move(bucket.error());
      gone.message = "S3 bucket " + options_.bucket + " does not exist (" + gone.message + ")";
      co_return gone;
    }
    co_return e;
  }

  static Error not_found_for_file(Error e, const std::string& id) {
    if (e.kind == ErrorKind::not_found && e.code != "NoSuchBucket") {
      e.message = "no file " + id;
    }
    return e;
  }

  static FileInfo to_info(const std::string& id, const aws::S3Object& obj) {
    FileInfo info;
    info.id = id;
    auto name = obj.meta("name");
    info.name = name ? net::uri_decode(*name) : id;
    info.content_type = obj.content_type;
    info.size = obj.size;
    info.sha256_hex = std::string(obj.meta("sha256").value_or(""));
    auto created = obj.meta("created-ms");
    info.created_at_ms = created ? parse_i64(*created) : 0;
    if (info.created_at_ms == 0) info.created_at_ms = obj.last_modified_ms;
    return info;
  }

  static PresignedUrl to_presigned(aws::S3Presigned p, std::string id) {
    PresignedUrl out;
    out.url = std::move(p.url);
    out.method = std::move(p.method);
    out.expires_at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(p.expires_at.time_since_epoch()).count();
    out.file_id = std::move(id);
    out.headers = std::move(p.headers);
    return out;
  }
};

}  // namespace

Result<std::pair<std::string, std::string>> parse_s3_uri(std::string_view uri) {
  if (!uri.starts_with("s3://")) return fail(ErrorKind::invalid_input, "expected s3://BUCKET[/PREFIX], got \"" + std::string(uri) + "\"");
  uri.remove_prefix(5);
  const auto slash = uri.find('/');
  std::string bucket(uri.substr(0, slash));
  std::string prefix(slash == std::string_view::npos ? std::string_view{} : uri.substr(slash + 1));
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  if (!aws::valid_bucket_name(bucket))
    return fail(ErrorKind::invalid_input, "invalid S3 bucket name \"" + bucket + "\" (3-63 characters of a-z 0-9 . -)");
  if (prefix.find("//") != std::string::npos || prefix.starts_with('/'))
    return fail(ErrorKind::invalid_input, "invalid S3 prefix \"" + prefix + "\"");
  return std::pair{std::move(bucket), std::move(prefix)};
}

std::unique_ptr<FileStore> make_s3_file_store(aws::S3Client& client, S3FileOptions options) {
  return std::make_unique<S3FileStore>(client, std::move(options));
}

awaitable<Status> ensure_bucket(aws::S3Client& client, std::string bucket, bool create_missing) {
  auto head = co_await client.head_bucket(bucket);
  if (head) co_return Status{};
  if (head.error().kind != ErrorKind::not_found || !create_missing) {
    Error e = std::move(head.error());
    if (e.kind == ErrorKind::not_found) e.message += " (bucket " + bucket + " does not exist: create it, or pass --create-missing)";
    co_return std::unexpected(std::move(e));
  }
  auto made = co_await client.create_bucket(bucket);
  if (!made && made.error().kind == ErrorKind::conflict) {
    // Created by someone else meanwhile (or an S3-compatible server that says BucketAlreadyExists to its owner).
    Status again = co_await client.head_bucket(bucket);
    co_return again;
  }
  co_return made;
}

awaitable<Result<std::unique_ptr<FileStore>>> open_s3_file_store(aws::S3Client& client, S3FileOptions options,
                                                                 bool create_missing) {
  if (auto ok = co_await ensure_bucket(client, options.bucket, create_missing); !ok)
    co_return std::unexpected(std::move(ok.error()));
  co_return make_s3_file_store(client, std::move(options));
}

}  // namespace ba::store
