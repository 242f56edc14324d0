#include "http/files_api.hpp"

#include <boost/json.hpp>

#include "http/api_internal.hpp"
#include "http/errors.hpp"
#include "net/url.hpp"
#include "util/clock.hpp"
#include "util/encoding.hpp"

namespace ba::http {
namespace {

namespace json = boost::json;
constexpr std::string_view kPrefix = "/files/";

FilesApiResult failed(const Error& e) { return {error_response(e), std::string(to_string(e.kind))}; }
FilesApiResult failed(ErrorKind kind, std::string message) { return failed(Error::make(kind, std::move(message))); }

FilesApiResult json_result(int status, const json::value& v) {
  net::ServerResponse r;
  r.status = status;
  r.headers.set("Content-Type", "application/json");
  r.body = json::serialize(v);
  return {std::move(r), {}};
}

json::object file_json(const store::FileInfo& f) {
  json::object o;
  o["id"] = f.id;
  o["name"] = f.name;
  o["content_type"] = f.content_type;
  o["size"] = f.size;
  o["sha256"] = f.sha256_hex;
  o["created_at"] = iso8601_ms(WallTime{std::chrono::milliseconds{f.created_at_ms}});
  return o;
}

FilesApiResult created(const store::FileInfo& f) {
  auto r = json_result(201, file_json(f));
  r.response.headers.set("Location", "/files/" + f.id);
  return r;
}

// The value of `name` in an application/x-www-form-urlencoded style query; nullopt when absent.
std::optional<std::string> query_param(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    auto eq = part.find('=');
    std::string key = net::uri_decode(part.substr(0, eq));
    if (key == name) return eq == std::string_view::npos ? std::string() : net::uri_decode(part.substr(eq + 1));
  }
  return std::nullopt;
}

std::string file_id_rule() { return "a file id is 1-64 characters of A-Z a-z 0-9 _ - (as returned by POST /files)"; }

Result<json::object> parse_object(std::string_view body) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec) return fail(ErrorKind::invalid_input, "the request body is not valid JSON (" + ec.message() + ")");
  if (!v.is_object()) return fail(ErrorKind::invalid_input, "the request body must be a JSON object");
  return std::move(v.as_object());
}

// Reads string fields of `o`; unknown or non-string fields are errors.
Status string_fields(const json::object& o, std::initializer_list<std::pair<std::string_view, std::string*>> fields,
                     std::string_view accepted) {
  for (const auto& [key, val] : o) {
    std::string* target = nullptr;
    for (const auto& [name, out] : fields) {
      if (key == name) target = out;
    }
    if (!target) {
      return fail(ErrorKind::invalid_input,
                  "unknown field '" + std::string(key) + "'; accepted: " + std::string(accepted));
    }
    if (!val.is_string()) return fail(ErrorKind::invalid_input, "field '" + std::string(key) + "' must be a string");
    *target = std::string(val.as_string());
  }
  return {};
}

boost::asio::awaitable<FilesApiResult> post_file(store::FileStore& files, const net::ServerRequest& req,
                                                 const std::string& owner) {
  auto body = parse_object(req.body);
  if (!body) co_return failed(body.error());
  std::string name, content_type, content_base64;
  bool have_content = body->contains("content_base64");
  if (auto st = string_fields(*body, {{"name", &name}, {"content_type", &content_type}, {"content_base64", &content_base64}},
                              "name, content_type, content_base64");
      !st) {
    co_return failed(st.error());
  }
  if (!body->contains("name")) co_return failed(ErrorKind::invalid_input, "field 'name' is required (" + std::string(store::kFileNameRule) + ")");
  if (!have_content) co_return failed(ErrorKind::invalid_input, "field 'content_base64' is required (the file's bytes, base64)");
  if (content_type.empty()) content_type = "application/octet-stream";
  if (!store::valid_file_name(name)) co_return failed(ErrorKind::invalid_input, "name must be " + std::string(store::kFileNameRule));
  if (!store::valid_content_type(content_type)) {
    co_return failed(ErrorKind::invalid_input, "content_type must be " + std::string(store::kContentTypeRule));
  }
  // Refuse obviously oversized content before decoding it.
  const std::uint64_t decoded_at_least = content_base64.size() / 4 * 3 - (content_base64.size() >= 4 ? 2 : 0);
  if (content_base64.size() >= 4 && decoded_at_least > files.max_file_bytes()) {
    co_return failed(ErrorKind::too_large, "the file is about " + std::to_string(decoded_at_least) +
                                               " bytes; the limit is " + std::to_string(files.max_file_bytes()));
  }
  auto content = base64_decode(content_base64);
  if (!content) co_return failed(ErrorKind::invalid_input, "content_base64 is not valid base64 (RFC 4648, standard or URL-safe alphabet; padding optional)");
  auto info = co_await files.put(owner, std::move(name), std::move(content_type), std::move(*content));
  if (!info) co_return failed(info.error());
  co_return created(*info);
}

boost::asio::awaitable<FilesApiResult> put_file(store::FileStore& files, net::ServerRequest& req, const std::string& owner,
                                                std::string name) {
  if (!store::valid_file_name(name)) {
    co_return failed(ErrorKind::invalid_input, "the file name in PUT /files/{name} must be " + std::string(store::kFileNameRule) +
                                                   " (after percent-decoding)");
  }
  // No Content-Type, or curl's default for --data-binary (a form encoding is never a file's type): untyped.
  std::string content_type = "application/octet-stream";
  if (auto ct = req.headers.get("content-type");
      ct && !trim(*ct).empty() && !iequals(trim(ct->substr(0, ct->find(';'))), "application/x-www-form-urlencoded")) {
    content_type = std::string(trim(*ct));
  }
  if (!store::valid_content_type(content_type)) {
    co_return failed(ErrorKind::invalid_input, "the Content-Type header must be " + std::string(store::kContentTypeRule));
  }
  auto info = co_await files.put(owner, std::move(name), std::move(content_type), std::move(req.body));
  if (!info) co_return failed(info.error());
  co_return created(*info);
}

boost::asio::awaitable<FilesApiResult> list_files(store::FileStore& files, const net::ServerRequest& req,
                                                  const std::string& owner) {
  std::size_t limit = 100;
  if (auto v = query_param(req.query, "limit")) {
    std::size_t n = 0;
    bool ok = !v->empty() && v->size() <= 4;
    for (char c : *v) {
      if (c < '0' || c > '9') ok = false;
      n = n * 10 + static_cast<std::size_t>(c - '0');
    }
    if (!ok || n < 1 || n > 1000) co_return failed(ErrorKind::invalid_input, "limit must be an integer between 1 and 1000");
    limit = n;
  }
  std::string token = query_param(req.query, "next_token").value_or("");
  auto page = co_await files.list(owner, limit, std::move(token));
  if (!page) co_return failed(page.error());
  json::array list;
  for (const auto& f : page->files) list.push_back(file_json(f));
  json::object body;
  body["files"] = std::move(list);
  if (page->next_token.empty()) {
    body["next_token"] = nullptr;
  } else {
    body["next_token"] = page->next_token;
  }
  co_return json_result(200, body);
}

boost::asio::awaitable<FilesApiResult> download(store::FileStore& files, const std::string& owner, std::string id) {
  std::string content;
  store::ChunkSink sink = [&content](std::string_view chunk) -> boost::asio::awaitable<bool> {
    content += chunk;
    co_return true;
  };
  auto info = co_await files.get(owner, std::move(id), [](const store::FileInfo&) {}, sink);
  if (!info) co_return failed(info.error());
  net::ServerResponse r;
  r.status = 200;
  r.headers.set("Content-Type", info->content_type);
  r.headers.set("Content-Length", std::to_string(content.size()));
  r.headers.set("Content-Disposition", content_disposition(info->name));
  r.headers.set("X-Content-Type-Options", "nosniff");
  // Stored HTML or SVG must never run in a browser on the API's origin.
  r.headers.set("Content-Security-Policy", "default-src 'none'; sandbox");
  r.headers.set("Cache-Control", "private, no-store");
  r.headers.set("ETag", "\"" + info->sha256_hex + "\"");
  r.body = std::move(content);
  co_return FilesApiResult{std::move(r), {}};
}

FilesApiResult presign(store::FileStore& files, const net::ServerRequest& req, const std::string& owner,
                       std::chrono::seconds expiry) {
  auto body = parse_object(req.body);
  if (!body) return failed(body.error());
  std::string name, content_type, file_id;
  if (auto st = string_fields(*body, {{"name", &name}, {"content_type", &content_type}, {"file_id", &file_id}},
                              "name and content_type (an upload), or file_id (a download)");
      !st) {
    return failed(st.error());
  }
  Result<store::PresignedUrl> url;
  if (body->contains("file_id")) {
    if (body->contains("name") || body->contains("content_type")) {
      return failed(ErrorKind::invalid_input, "send either file_id (a download) or name and content_type (an upload)");
    }
    if (!store::valid_file_id(file_id)) return failed(ErrorKind::invalid_input, "file_id: " + file_id_rule());
    url = files.presign_get(owner, file_id, expiry);
  } else {
    if (!body->contains("name")) {
      return failed(ErrorKind::invalid_input, "send name and content_type (an upload) or file_id (a download)");
    }
    if (content_type.empty()) content_type = "application/octet-stream";
    if (!store::valid_file_name(name)) return failed(ErrorKind::invalid_input, "name must be " + std::string(store::kFileNameRule));
    if (!store::valid_content_type(content_type)) {
      return failed(ErrorKind::invalid_input, "content_type must be " + std::string(store::kContentTypeRule));
    }
    url = files.presign_put(owner, name, content_type, expiry);
  }
  if (!url) return failed(url.error());
  json::object o;
  o["url"] = url->url;
  o["method"] = url->method;
  o["expires_at"] = iso8601_ms(WallTime{std::chrono::milliseconds{url->expires_at_ms}});
  if (!url->file_id.empty()) o["file_id"] = url->file_id;
  json::object headers;
  for (const auto& [k, v] : url->headers) headers[k] = v;
  o["headers"] = std::move(headers);
  return json_result(200, o);
}

}  // namespace

std::optional<std::string_view> files_route(std::string_view path) {
  if (path == kFilesRoute) return kFilesRoute;
  if (path == kFilesPresignRoute) return kFilesPresignRoute;
  if (path.starts_with(kPrefix)) return kFileRoute;  // the rest is checked by the handler (one segment)
  return std::nullopt;
}

std::string_view files_route_methods(std::string_view route) {
  if (route == kFilesRoute) return "GET, POST";
  if (route == kFilesPresignRoute) return "POST";
  return "GET, PUT, DELETE";
}

std::string content_disposition(std::string_view name) {
  std::string ascii;
  for (unsigned char c : name) {
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\' && c != ';' && c != '%') {
      ascii += static_cast<char>(c);
    } else {
      ascii += '_';
    }
  }
  if (ascii.empty()) ascii = "file";
  return "attachment; filename=\"" + ascii + "\"; filename*=UTF-8''" + net::uri_encode(name);
}

boost::asio::awaitable<FilesApiResult> handle_files(store::FileStore* files, FilesApiOptions options,
                                                    net::ServerRequest& req, std::string route, std::string owner) {
  if (!files) {
    auto r = error_response(501, "not_implemented",
                            "this server has no file store; start it with --files PATH (a local folder) or "
                            "--files s3://bucket/prefix");
    co_return FilesApiResult{std::move(r), "not_implemented"};
  }
  if (route == kFilesRoute) {
    if (req.method == "POST") co_return co_await post_file(*files, req, owner);
    co_return co_await list_files(*files, req, owner);
  }
  if (route == kFilesPresignRoute) co_return presign(*files, req, owner, options.presign_expiry);

  // /files/{segment}: one path segment, percent-decoded.
  std::string_view raw = std::string_view(req.path).substr(kPrefix.size());
  if (raw.empty() || raw.find('/') != std::string_view::npos) {
    co_return failed(ErrorKind::invalid_input,
                     "expected /files/{id} (or PUT /files/{name}) with a single path segment; names may not contain '/'");
  }
  std::string segment = net::uri_decode(raw);
  if (req.method == "PUT") co_return co_await put_file(*files, req, owner, std::move(segment));
  if (!store::valid_file_id(segment)) co_return failed(ErrorKind::invalid_input, file_id_rule());
  if (req.method == "DELETE") {
    auto st = co_await files->remove(owner, segment);
    if (!st) co_return failed(st.error());
    net::ServerResponse r;
    r.status = 204;
    co_return FilesApiResult{std::move(r), {}};
  }
  co_return co_await download(*files, owner, std::move(segment));
}

}  // namespace ba::http

namespace ba::http {

// The router's entry to the Files API (the route label is the log's).
boost::asio::awaitable<Reply> handle_files_route(std::shared_ptr<ApiState> state, net::ServerRequest& req,
                                                 RequestLog& log, std::string /*param*/) {
  auto r = co_await handle_files(state->ctx.files, {.presign_expiry = state->ctx.config.presign_expiry}, req,
                                 std::string(log.route), log.caller);
  log.error_type = std::move(r.error_type);
  co_return Reply{std::move(r.response), nullptr};
}

}  // namespace ba::http
