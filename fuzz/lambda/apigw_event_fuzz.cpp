// API Gateway proxy events, v1 and v2 (lambda::parse_apigw_event, to_apigw_response; docs/testing.md,
// "Fuzzing"). Checked on every event that parses:
// - the method is set, the path starts with '/', the target is the path plus "?query" when there is one;
// - no client-supplied x-ba-* header survives: the only one is x-ba-caller, and it is the identity's;
// - the request's body sent back as a response (with the request's Content-Type) comes out of
//   to_apigw_response, v1 or v2, as JSON whose body (base64-decoded when isBase64Encoded) is those bytes,
//   with every response header.
#include <boost/json.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "lambda/apigw.hpp"
#include "util/encoding.hpp"

namespace json = boost::json;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view event(reinterpret_cast<const char*>(data), size);
  auto parsed = ba::lambda::parse_apigw_event(event);
  if (!parsed) {
    FUZZ_CHECK(parsed.error().kind == ba::ErrorKind::invalid_input);
    return 0;
  }
  const ba::net::ServerRequest& r = parsed->request;
  FUZZ_CHECK(parsed->version == 1 || parsed->version == 2);
  FUZZ_CHECK(!r.method.empty());
  FUZZ_CHECK(r.path.starts_with('/'));
  FUZZ_CHECK(r.target == (r.query.empty() ? r.path : r.path + "?" + r.query));
  int callers = 0;
  for (const auto& h : r.headers) {
    FUZZ_CHECK(!h.name.empty());
    if (ba::iequals(h.name.substr(0, std::min<std::size_t>(h.name.size(), 5)), "x-ba-")) {
      FUZZ_CHECK(h.name == ba::lambda::kCallerHeader);
      FUZZ_CHECK(h.value == parsed->identity.header_value());
      ++callers;
    }
  }
  FUZZ_CHECK(callers == (parsed->identity.principal.empty() ? 0 : 1));
  auto via = ba::lambda::from_apigw_event(event);
  FUZZ_CHECK(via && via->body == r.body && via->target == r.target);

  ba::net::ServerResponse resp;
  resp.status = 200;
  if (auto ct = r.headers.get("content-type")) resp.headers.add("Content-Type", std::string(*ct));
  resp.headers.add("X-Test", r.method);
  resp.headers.add("x-test", r.path);
  resp.headers.add("Set-Cookie", "a=b");
  resp.body = r.body;
  for (int version : {1, 2}) {
    const std::string text = ba::lambda::to_apigw_response(resp, version);
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    FUZZ_CHECK(!ec && v.is_object());
    const json::object& o = v.as_object();
    FUZZ_CHECK(o.at("statusCode") == 200);
    FUZZ_CHECK(o.at("body").is_string() && o.at("isBase64Encoded").is_bool());
    std::string body(o.at("body").as_string());
    if (o.at("isBase64Encoded").as_bool()) {
      auto decoded = ba::base64_decode(body);
      FUZZ_CHECK(decoded.has_value());
      body = std::move(*decoded);
    }
    FUZZ_CHECK(body == r.body);
    const json::object& headers = o.at("headers").as_object();
    if (version == 2) {
      FUZZ_CHECK(headers.at("X-Test").as_string() == r.method + "," + r.path);
      FUZZ_CHECK(o.at("cookies").as_array().size() == 1);
    } else {
      FUZZ_CHECK(o.at("multiValueHeaders").as_object().at("X-Test").as_array().size() == 2);
      FUZZ_CHECK(o.at("multiValueHeaders").as_object().contains("Set-Cookie"));
    }
  }
  return 0;
}
