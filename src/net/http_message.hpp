#pragma once
// Plain HTTP messages shared by the client, the server, the signer and the Lambda adapter.
// No Beast types here: the Beast-facing code lives in net/*.cpp only.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ba::net {

struct Header {
  std::string name;
  std::string value;
};

// Ordered header list with case-insensitive lookup (HTTP field names are case-insensitive).
class Headers {
 public:
  Headers() = default;
  Headers(std::initializer_list<Header> init) : items_(init) {}

  std::optional<std::string_view> get(std::string_view name) const;  // first match
  bool has(std::string_view name) const { return get(name).has_value(); }
  void set(std::string name, std::string value);  // replaces every existing value
  void add(std::string name, std::string value);  // appends
  void remove(std::string_view name);

  const std::vector<Header>& items() const { return items_; }
  auto begin() const { return items_.begin(); }
  auto end() const { return items_.end(); }
  std::size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }

 private:
  std::vector<Header> items_;
};

struct HttpRequest {
  std::string method = "GET";
  std::string url;  // absolute: scheme://host[:port]/path?query (path already percent-encoded)
  Headers headers;
  std::string body;
};

struct HttpResponse {
  int status = 0;
  Headers headers;
  std::string body;
};

std::string_view reason_phrase(int status);

}  // namespace ba::net
