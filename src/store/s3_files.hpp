#pragma once
// FileStore on S3 (`--files s3://BUCKET[/PREFIX]`, env FILES_BUCKET).
//
// Layout in the bucket (PREFIX may be empty):
//   PREFIX/files/<sha256(owner), first 32 hex>/<id>   the content; the object's Content-Type is the file's,
//                                                      x-amz-meta-name (percent-encoded UTF-8),
//                                                      x-amz-meta-sha256, x-amz-meta-created-ms
//   PREFIX/blobs/<key>                                 internal blobs (history spill)
// The owner string never appears in a key. Ids are 12 hex digits of the creation time in ms followed by
// 16 random URL-safe characters, so a listing (sorted by key) is oldest first.
//
// list(): ListObjectsV2 on the owner's prefix (start-after the page token, which is the last id of the
// previous page: tokens are ids, validated as such) plus one HeadObject per listed file, because
// ListObjectsV2 returns no metadata. Trade-off: a page of N files costs N+1 requests (sequential), in
// exchange for keeping the name out of the key (names are free-form UTF-8 up to 255 bytes and would
// leak into access logs and key-length limits). Pages are meant to be small (the API's default is 20).
//
// get(): HeadObject (for on_info, before any byte), then GetObject with If-Match on the ETag, so a file
// replaced between the two calls is a conflict rather than a mix of two versions (S3 ids are never
// reused, so this only guards against tampering).
//
// presign_put(): a new id; x-amz-meta-* go into the URL's query (AWS applies them; s3rver ignores them,
// and such a file then reports its id as its name); the client must send the returned Content-Type.
// Files uploaded that way have no stored SHA-256 (FileInfo::sha256_hex empty) and a size from S3.
// Presigned URLs use the credentials of the store's last S3 call: open_s3_file_store() makes one.
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <memory>
#include <string>

#include "aws/s3.hpp"
#include "store/files.hpp"
#include "util/clock.hpp"
#include "util/result.hpp"

namespace ba::store {

struct S3FileOptions {
  std::string bucket;
  std::string prefix;                                    // no leading/trailing '/', may be empty
  std::uint64_t max_file_bytes = 100ull * 1024 * 1024;   // put() above this is too_large
  Clock* clock = nullptr;    // created_at and presign time; nullptr: system_clock()
  Random* random = nullptr;  // ids; nullptr: system_random()
};

// Parses "s3://BUCKET[/PREFIX]" into bucket and prefix (trailing '/' dropped). invalid_input otherwise.
Result<std::pair<std::string, std::string>> parse_s3_uri(std::string_view uri);

// No I/O. `client` must outlive the store. Calls must come from the client's io_context thread.
std::unique_ptr<FileStore> make_s3_file_store(aws::S3Client& client, S3FileOptions options);

// HeadBucket; when the bucket is absent: not_found (with a hint about --create-missing), or, with
// `create_missing`, CreateBucket. Also fetches credentials, so presigning works right after.
boost::asio::awaitable<Status> ensure_bucket(aws::S3Client& client, std::string bucket, bool create_missing);

// ensure_bucket() then make_s3_file_store(): what `serve --files s3://...` calls at start-up.
boost::asio::awaitable<Result<std::unique_ptr<FileStore>>> open_s3_file_store(aws::S3Client& client,
                                                                              S3FileOptions options,
                                                                              bool create_missing);

}  // namespace ba::store
