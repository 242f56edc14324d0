#pragma once
// Writes JSON text straight into a string, for the documents built on every request (the Converse
// request body, the /chat answer, the request log line). Building a boost::json DOM for them only to
// serialize it at once cost an allocation per member and a hash table per object. Output is what
// boost::json::serialize writes for the same members in the same order (the same string escapes),
// except doubles, written as the shortest round-trip decimal (0.5 and 1, not 5E-1 and 1E0).
#include <cstdint>
#include <string>
#include <string_view>

namespace ba {

// Appends `s` as a JSON string literal, quotes included.
void append_json_string(std::string& out, std::string_view s);

class JsonWriter {
 public:
  explicit JsonWriter(std::string& out) : out_(out) {}

  JsonWriter& begin_object() { return open('{'); }
  JsonWriter& end_object() { return close('}'); }
  JsonWriter& begin_array() { return open('['); }
  JsonWriter& end_array() { return close(']'); }
  // A member's name; its value comes next.
  JsonWriter& key(std::string_view name);

  JsonWriter& value(std::string_view s);
  JsonWriter& value(const char* s) { return value(std::string_view(s)); }
  JsonWriter& value(const std::string& s) { return value(std::string_view(s)); }
  JsonWriter& value(std::int64_t v);
  JsonWriter& value(int v) { return value(static_cast<std::int64_t>(v)); }
  JsonWriter& value(double v);  // non-finite values as null (JSON has no NaN)
  JsonWriter& value(bool v);
  JsonWriter& null();
  // Already serialized JSON, written as it is.
  JsonWriter& raw(std::string_view json);

  // name: value, in one call.
  template <class T>
  JsonWriter& member(std::string_view name, const T& v) {
    key(name);
    return value(v);
  }

 private:
  JsonWriter& open(char c);
  JsonWriter& close(char c);
  void separate();

  std::string& out_;
  bool need_comma_ = false;
};

}  // namespace ba
