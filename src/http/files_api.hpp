#pragma once
// The Files API (docs/api.md, "Files"); the router (api.cpp) routes /files and /files/... here after authentication.
//
//   POST   /files            JSON {"name", "content_type", "content_base64"} -> 201 with the file's JSON
//   PUT    /files/{name}     raw body, Content-Type header (default application/octet-stream) -> 201
//   GET    /files            ?limit=1..1000 (default 100)&next_token= -> {"files": [...], "next_token"}
//   GET    /files/{id}       the bytes, with Content-Type, Content-Length and a safe Content-Disposition
//   DELETE /files/{id}       204
//   POST   /files/presign    {"name", "content_type"} -> a presigned PUT; {"file_id"} -> a presigned GET
//                            (S3 store only; the local store answers 400 with the reason)
//
// Files belong to the authenticated caller (another caller's id is 404). Without a file store every
// route answers 501 not_implemented saying how to configure one.
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "net/http_server.hpp"
#include "store/files.hpp"

namespace ba::http {

inline constexpr std::string_view kFilesRoute = "/files";
inline constexpr std::string_view kFilesPresignRoute = "/files/presign";
inline constexpr std::string_view kFileRoute = "/files/{id}";

// The route label of a /files path ("/files", "/files/presign" or "/files/{id}"), nullopt otherwise.
std::optional<std::string_view> files_route(std::string_view path);
// The methods a files route allows ("GET, POST" ...).
std::string_view files_route_methods(std::string_view route);

struct FilesApiOptions {
  std::chrono::seconds presign_expiry{900};
};

struct FilesApiResult {
  net::ServerResponse response;
  std::string error_type;  // for the request log; empty on success
};

// `files` may be null (501). `owner` is the authenticated caller.
boost::asio::awaitable<FilesApiResult> handle_files(store::FileStore* files, FilesApiOptions options,
                                                    net::ServerRequest& req, std::string route, std::string owner);

// `attachment; filename="<ASCII fallback>"; filename*=UTF-8''<percent-encoded>` for a stored name.
std::string content_disposition(std::string_view name);

}  // namespace ba::http
