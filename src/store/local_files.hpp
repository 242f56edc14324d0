#pragma once
// FileStore on a local folder (the embedded default: `--files ./data/files`).
//
// Layout under the root:
//   owners/<sha256(owner), 32 hex>/<id>.bin    the content
//   owners/<sha256(owner), 32 hex>/<id>.json   the metadata sidecar (its presence means "the file exists")
//   blobs/<key>                                internal blobs (history spill)
//   tmp/                                       writes land here first, then rename() into place (atomic)
// No path is built from caller input except validated ids and blob keys; the owner string never
// appears in a path. Calls are synchronous inside the returned awaitable (short local-disk I/O on the
// caller's io thread, as the SQLite store does); get() streams in 64 KiB chunks.
#include <cstdint>
#include <memory>
#include <string>

#include "store/files.hpp"
#include "util/clock.hpp"
#include "util/result.hpp"

namespace ba::store {

struct LocalFileOptions {
  std::uint64_t max_file_bytes = 20ull * 1024 * 1024;  // larger puts are too_large
  std::size_t chunk_bytes = 64 * 1024;                 // get() chunk size
  Clock* clock = nullptr;    // created_at; nullptr: system_clock()
  Random* random = nullptr;  // ids; nullptr: system_random()
};

// Creates the root (and its subfolders) if needed. Errors: unavailable (cannot create or write).
Result<std::unique_ptr<FileStore>> make_local_file_store(const std::string& root_dir, LocalFileOptions options = {});

}  // namespace ba::store
