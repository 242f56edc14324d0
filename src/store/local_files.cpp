#include "store/local_files.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include "util/encoding.hpp"

namespace ba::store {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

constexpr std::string_view kPresignMessage =
    "the local file store cannot presign URLs; use an S3 file store (--files s3://bucket/prefix) for "
    "uploads and downloads larger than the API's payload limit";

std::unexpected<Error> io_error(std::string_view what, const fs::path& path, int err) {
  return fail(ErrorKind::unavailable,
              "file store: " + std::string(what) + " " + path.string() + " failed: " + std::strerror(err));
}

std::string invalid_id_message() {
  return "file id must be 1-64 characters of A-Z a-z 0-9 _ - (as returned by POST /files)";
}

// Writes `data` to a new file in `tmp_dir` and fsyncs it: renamed into place, it appears whole (atomic on
// POSIX).
Result<fs::path> write_temp(const fs::path& tmp_dir, std::string_view data, Random& random) {
  fs::path tmp = tmp_dir / (std::to_string(random.next_u64()) + "-" + std::to_string(random.next_u64()) + ".tmp");
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return io_error("create", tmp, errno);
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return io_error("write", tmp, err);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return io_error("sync", tmp, err);
  }
  ::close(fd);
  return tmp;
}

Status rename_into(const fs::path& tmp, const fs::path& target) {
  if (::rename(tmp.c_str(), target.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return io_error("rename into", target, err);
  }
  return {};
}

// Writes `data` to `target` atomically: a temporary file in `tmp_dir`, fsynced, renamed over it.
Status write_atomically(const fs::path& tmp_dir, const fs::path& target, std::string_view data, Random& random) {
  auto tmp = write_temp(tmp_dir, data, random);
  if (!tmp) return fail(tmp.error());
  return rename_into(*tmp, target);
}

bool same_time(const struct timespec& a, const struct timespec& b) {
  return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

// The whole file; not_found when absent.
Result<std::string> read_whole(const fs::path& path, std::string_view what) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return fail(ErrorKind::not_found, std::string(what));
    return io_error("open", path, errno);
  }
  std::string out;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && st.st_size > 0) out.reserve(static_cast<std::size_t>(st.st_size));
  char buf[64 * 1024];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return io_error("read", path, err);
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

std::string info_json(const FileInfo& info) {
  json::object o;
  o["id"] = info.id;
  o["name"] = info.name;
  o["content_type"] = info.content_type;
  o["size"] = info.size;
  o["sha256"] = info.sha256_hex;
  o["created_at_ms"] = info.created_at_ms;
  return json::serialize(o);
}

Result<FileInfo> parse_info(std::string_view text, const fs::path& path) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return fail(ErrorKind::internal, "file store: corrupt metadata in " + path.string());
  const auto& o = v.as_object();
  FileInfo info;
  auto str = [&](std::string_view k) -> std::string {
    auto it = o.find(k);
    return it != o.end() && it->value().is_string() ? std::string(it->value().as_string()) : std::string();
  };
  auto num = [&](std::string_view k) -> std::int64_t {
    auto it = o.find(k);
    if (it == o.end()) return 0;
    if (it->value().is_int64()) return it->value().as_int64();
    if (it->value().is_uint64()) return static_cast<std::int64_t>(it->value().as_uint64());
    return 0;
  };
  info.id = str("id");
  info.name = str("name");
  info.content_type = str("content_type");
  info.size = static_cast<std::uint64_t>(num("size"));
  info.sha256_hex = str("sha256");
  info.created_at_ms = num("created_at_ms");
  if (!valid_file_id(info.id)) return fail(ErrorKind::internal, "file store: corrupt metadata in " + path.string());
  return info;
}

class LocalFileStore final : public FileStore {
 public:
  LocalFileStore(fs::path root, LocalFileOptions options) : root_(std::move(root)), options_(options) {
    if (options_.chunk_bytes == 0) options_.chunk_bytes = 64 * 1024;
  }

  Status init() {
    for (const fs::path& p : {root_, root_ / "owners", root_ / "blobs", root_ / "tmp"}) {
      std::error_code ec;
      fs::create_directories(p, ec);
      if (ec) return fail(ErrorKind::unavailable, "file store: cannot create " + p.string() + ": " + ec.message());
      if (!fs::is_directory(p, ec)) return fail(ErrorKind::unavailable, "file store: " + p.string() + " is not a directory");
    }
    return check();
  }

  boost::asio::awaitable<Result<FileInfo>> put(std::string owner, std::string name, std::string content_type,
                                               std::string content) override {
    co_return put_sync(owner, std::move(name), std::move(content_type), content);
  }

  boost::asio::awaitable<Result<FileInfo>> head(std::string owner, std::string id) override {
    co_return head_sync(owner, id);
  }

  boost::asio::awaitable<Result<std::string>> read(std::string owner, std::string id) override {
    auto info = head_sync(owner, id);
    if (!info) co_return fail(info.error());
    co_return read_whole(content_path(owner, id), not_found_message(id));
  }

  boost::asio::awaitable<Result<FileInfo>> get(std::string owner, std::string id,
                                               std::function<void(const FileInfo&)> on_info, ChunkSink sink) override {
    auto info = head_sync(owner, id);
    if (!info) co_return fail(info.error());
    const fs::path path = content_path(owner, id);
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) co_return fail(ErrorKind::not_found, not_found_message(id));
      co_return io_error("open", path, errno);
    }
    struct Closer {
      int fd;
      ~Closer() { ::close(fd); }
    } closer{fd};
    if (on_info) on_info(*info);
    std::string buf(options_.chunk_bytes, '\0');
    while (true) {
      ssize_t n = ::read(fd, buf.data(), buf.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        co_return io_error("read", path, errno);
      }
      if (n == 0) break;
      if (!co_await sink(std::string_view(buf.data(), static_cast<std::size_t>(n)))) {
        co_return fail(ErrorKind::cancelled, "the download was stopped by its receiver");
      }
    }
    co_return *info;
  }

  boost::asio::awaitable<Result<FilePage>> list(std::string owner, std::size_t limit, std::string token) override {
    co_return list_sync(owner, limit, token);
  }

  boost::asio::awaitable<Status> remove(std::string owner, std::string id) override {
    if (!valid_file_id(id)) co_return fail(ErrorKind::invalid_input, invalid_id_message());
    const fs::path meta = meta_path(owner, id);
    const fs::path content = content_path(owner, id);
    co_return change_dir(
        owner_dir(owner),
        [&]() -> Status {
          if (::unlink(meta.c_str()) != 0) {
            if (errno == ENOENT) return fail(ErrorKind::not_found, not_found_message(id));
            return io_error("remove", meta, errno);
          }
          if (::unlink(content.c_str()) != 0 && errno != ENOENT) return io_error("remove", content, errno);
          return {};
        },
        [&](std::vector<std::string>& ids) {
          auto at = std::lower_bound(ids.begin(), ids.end(), id);
          if (at != ids.end() && *at == id) ids.erase(at);
        });
  }

  Result<PresignedUrl> presign_get(const std::string&, const std::string&, std::chrono::seconds) override {
    return fail(ErrorKind::invalid_input, std::string(kPresignMessage));
  }
  Result<PresignedUrl> presign_put(const std::string&, const std::string&, const std::string&,
                                   std::chrono::seconds) override {
    return fail(ErrorKind::invalid_input, std::string(kPresignMessage));
  }

  boost::asio::awaitable<Status> put_blob(std::string key, std::string content) override {
    if (!valid_blob_key(key)) co_return fail(ErrorKind::invalid_input, "file store: invalid blob key");
    const fs::path path = root_ / "blobs" / key;
    std::error_code ec;
    fs::create_directories(path.parent_path(), ec);
    if (ec) co_return fail(ErrorKind::unavailable, "file store: cannot create " + path.parent_path().string() + ": " + ec.message());
    co_return write_atomically(root_ / "tmp", path, content, random());
  }

  boost::asio::awaitable<Result<std::string>> get_blob(std::string key) override {
    if (!valid_blob_key(key)) co_return fail(ErrorKind::invalid_input, "file store: invalid blob key");
    co_return read_whole(root_ / "blobs" / key, "no blob '" + key + "'");
  }

  boost::asio::awaitable<Status> remove_blob(std::string key) override {
    if (!valid_blob_key(key)) co_return fail(ErrorKind::invalid_input, "file store: invalid blob key");
    const fs::path path = root_ / "blobs" / key;
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) co_return io_error("remove", path, errno);
    co_return Status{};
  }

  std::uint64_t max_file_bytes() const override { return options_.max_file_bytes; }

  Status check() override {
    const fs::path tmp = root_ / "tmp";
    if (::access(tmp.c_str(), W_OK | X_OK) != 0) return io_error("write access to", tmp, errno);
    return {};
  }

  std::string describe() const override { return "local:" + root_.string(); }

 private:
  Random& random() { return options_.random ? *options_.random : system_random(); }

  std::int64_t now_ms() const {
    Clock& clock = options_.clock ? *options_.clock : system_clock();
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock.wall().time_since_epoch()).count();
  }

  static std::string not_found_message(std::string_view id) { return "no file '" + std::string(id) + "'"; }

  fs::path owner_dir(std::string_view owner) const { return root_ / "owners" / sha256_hex(owner).substr(0, 32); }
  fs::path meta_path(std::string_view owner, std::string_view id) const {
    return owner_dir(owner) / (std::string(id) + ".json");
  }
  fs::path content_path(std::string_view owner, std::string_view id) const {
    return owner_dir(owner) / (std::string(id) + ".bin");
  }

  // 16 random bytes, base64url without padding: 22 characters of [A-Za-z0-9_-].
  std::string new_id() {
    std::string raw;
    for (int i = 0; i < 2; ++i) {
      std::uint64_t v = random().next_u64();
      for (int b = 0; b < 8; ++b) raw.push_back(static_cast<char>((v >> (8 * b)) & 0xff));
    }
    std::string id = base64_encode(raw);
    while (!id.empty() && id.back() == '=') id.pop_back();
    for (char& c : id) {
      if (c == '+') c = '-';
      if (c == '/') c = '_';
    }
    return id;
  }

  Result<FileInfo> put_sync(const std::string& owner, std::string name, std::string content_type,
                            const std::string& content) {
    if (!valid_file_name(name)) return fail(ErrorKind::invalid_input, "file name must be " + std::string(kFileNameRule));
    if (!valid_content_type(content_type)) {
      return fail(ErrorKind::invalid_input, "content type must be " + std::string(kContentTypeRule));
    }
    if (content.size() > options_.max_file_bytes) {
      return fail(ErrorKind::too_large, "the file is " + std::to_string(content.size()) + " bytes; the limit is " +
                                            std::to_string(options_.max_file_bytes));
    }
    const fs::path dir = owner_dir(owner);
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return fail(ErrorKind::unavailable, "file store: cannot create " + dir.string() + ": " + ec.message());
    FileInfo info;
    info.name = std::move(name);
    info.content_type = std::move(content_type);
    info.size = content.size();
    info.sha256_hex = sha256_hex(content);
    info.created_at_ms = now_ms();
    for (int attempt = 0;; ++attempt) {
      info.id = new_id();
      if (!fs::exists(meta_path(owner, info.id), ec)) break;
      if (attempt >= 8) return fail(ErrorKind::internal, "file store: could not pick a new file id");
    }
    // Both written and synced first; then renamed into place, content first: a file exists once its
    // sidecar does.
    auto tmp_content = write_temp(root_ / "tmp", content, random());
    if (!tmp_content) return fail(tmp_content.error());
    auto tmp_meta = write_temp(root_ / "tmp", info_json(info), random());
    if (!tmp_meta) {
      ::unlink(tmp_content->c_str());
      return fail(tmp_meta.error());
    }
    const std::string id = info.id;
    auto st = change_dir(
        dir,
        [&]() -> Status {
          if (auto r = rename_into(*tmp_content, content_path(owner, id)); !r) {
            ::unlink(tmp_meta->c_str());
            return r;
          }
          if (auto r = rename_into(*tmp_meta, meta_path(owner, id)); !r) {
            ::unlink(content_path(owner, id).c_str());
            return r;
          }
          return {};
        },
        [&](std::vector<std::string>& ids) { ids.insert(std::lower_bound(ids.begin(), ids.end(), id), id); });
    if (!st) return fail(st.error());
    return info;
  }

  Result<FileInfo> head_sync(const std::string& owner, const std::string& id) {
    if (!valid_file_id(id)) return fail(ErrorKind::invalid_input, invalid_id_message());
    const fs::path meta = meta_path(owner, id);
    auto text = read_whole(meta, not_found_message(id));
    if (!text) return fail(text.error());
    return parse_info(*text, meta);
  }

  Result<FilePage> list_sync(const std::string& owner, std::size_t limit, const std::string& token) {
    if (limit < 1 || limit > 1000) return fail(ErrorKind::invalid_input, "limit must be between 1 and 1000");
    if (!token.empty() && !valid_file_id(token)) {
      return fail(ErrorKind::invalid_input, "next_token is not valid (pass the next_token of the previous page)");
    }
    const fs::path dir = owner_dir(owner);
    FilePage page;
    std::string after = token;
    for (;;) {
      // One more id than the page still needs: it says whether there is a next page.
      auto ids = next_ids(dir, after, limit + 1 - page.files.size());
      if (!ids) return fail(ids.error());
      if (ids->empty()) return page;
      for (const auto& id : *ids) {
        if (page.files.size() == limit) {
          page.next_token = page.files.back().id;
          return page;
        }
        after = id;
        auto info = head_sync(owner, id);
        if (!info) {
          if (info.error().kind == ErrorKind::not_found) continue;  // removed meanwhile
          return fail(info.error());
        }
        page.files.push_back(std::move(*info));
      }
    }
  }

  // Up to `n` ids after `after` in `dir`, from its listing index (read again if the folder changed).
  Result<std::vector<std::string>> next_ids(const fs::path& dir, const std::string& after, std::size_t n) {
    std::lock_guard lock(index_mutex_);
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) {
      if (errno == ENOENT) return std::vector<std::string>{};
      return io_error("list", dir, errno);
    }
    ListIndex& index = index_[dir.native()];
    if (!index.valid || !same_time(index.mtime, st.st_mtim)) {
      auto scanned = scan(dir);
      if (!scanned) {
        index_.erase(dir.native());
        return fail(scanned.error());
      }
      index.ids = std::move(*scanned);
      index.mtime = st.st_mtim;
      index.valid = true;
    }
    std::vector<std::string> out;
    for (auto it = std::upper_bound(index.ids.begin(), index.ids.end(), after); it != index.ids.end() && out.size() < n;
         ++it)
      out.push_back(*it);
    return out;
  }

  // The ids of the files in `dir` (their sidecars), sorted.
  static Result<std::vector<std::string>> scan(const fs::path& dir) {
    DIR* d = ::opendir(dir.c_str());
    if (!d) return io_error("list", dir, errno);
    std::vector<std::string> ids;
    errno = 0;
    while (const dirent* e = ::readdir(d)) {
      std::string_view name(e->d_name);
      if (!name.ends_with(".json")) continue;
      name.remove_suffix(5);
      if (valid_file_id(name)) ids.emplace_back(name);
    }
    const int err = errno;
    ::closedir(d);
    if (err != 0) return io_error("list", dir, err);
    std::sort(ids.begin(), ids.end());
    return ids;
  }

  // Makes `change` (renames or unlinks in `dir`) and keeps the directory's listing index in step with
  // `apply`, if the index was up to date before it; otherwise the next listing reads the folder again.
  template <class Change, class Apply>
  Status change_dir(const fs::path& dir, Change change, Apply apply) {
    std::lock_guard lock(index_mutex_);
    auto it = index_.find(dir.native());
    struct stat before {};
    const bool current = it != index_.end() && it->second.valid && ::stat(dir.c_str(), &before) == 0 &&
                         same_time(before.st_mtim, it->second.mtime);
    Status st = change();
    if (it == index_.end()) return st;
    struct stat after {};
    if (current && ::stat(dir.c_str(), &after) == 0) {
      if (st) apply(it->second.ids);
      it->second.mtime = after.st_mtim;
    } else {
      index_.erase(it);
    }
    return st;
  }

  // A listing index per owner folder: its sorted file ids as of the folder's modification time. Listing
  // used to read the whole folder for every page, O(files) on the io thread for each GET /files (found by
  // the soak: 25 lists/s over a folder growing by 25 files/s saturated the agent within 20 minutes). Now
  // a page costs a stat and a binary search; this process's own puts and removes update the index, and a
  // folder changed by anything else (its modification time moved) is read again.
  struct ListIndex {
    struct timespec mtime {};
    std::vector<std::string> ids;
    bool valid = false;
  };
  std::mutex index_mutex_;
  std::unordered_map<std::string, ListIndex> index_;

  fs::path root_;
  LocalFileOptions options_;
};

}  // namespace

Result<std::unique_ptr<FileStore>> make_local_file_store(const std::string& root_dir, LocalFileOptions options) {
  if (root_dir.empty()) return fail(ErrorKind::invalid_input, "file store: the folder path is empty");
  auto store = std::make_unique<LocalFileStore>(fs::path(root_dir), options);
  if (auto st = store->init(); !st) return fail(st.error());
  return std::unique_ptr<FileStore>(std::move(store));
}

}  // namespace ba::store
