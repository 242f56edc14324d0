#pragma once
// How the HTTP server reads requests from a connection's bytes, without the connection: the same parser,
// limits, Host check and target split as a session of net::make_http_server (http_server.cpp), for
// fuzz/net/http_request_fuzz.cpp and tests.
#include <cstddef>
#include <optional>
#include <string_view>
#include <vector>

#include "net/http_server.hpp"

namespace ba::net {

struct ReadRequests {
  std::vector<ServerRequest> requests;
  std::optional<ServerResponse> error;  // the answer that ends the connection (400, 413, 431), if any
  bool incomplete = false;              // the bytes ended inside a request (the server answers nothing)
};

// `bytes` arrive `piece` bytes at a time (0: all at once), then the peer closes. The requests are those a
// handler would get, in order, until one is not keep-alive, one is malformed or the bytes end.
ReadRequests read_requests(std::string_view bytes, const ServerOptions& options, std::size_t piece = 0);

}  // namespace ba::net
