// The XML reader for S3 and the Query protocol (aws::parse_xml; docs/testing.md, "Fuzzing"). Checked:
// - the limits hold (depth, element count) and names are local names (not empty, no prefix);
// - a parsed tree written back as XML (names, xml_escape'd attributes and text) parses to the same tree;
// - parse_s3_error on the same bytes as an error response's body gives an error (never a success kind).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "aws/s3.hpp"
#include "aws/xml.hpp"
#include "fuzz_check.hpp"

namespace {

using ba::aws::XmlNode;

constexpr ba::aws::XmlLimits kLimits{.max_bytes = 1 << 20, .max_depth = 16, .max_elements = 2000};

void write(const XmlNode& n, std::string& out) {
  out += '<';
  out += n.name();
  for (const auto& [k, v] : n.attributes()) {
    out += ' ';
    out += k;
    out += "=\"";
    out += ba::aws::xml_escape(v);
    out += '"';
  }
  out += '>';
  out += ba::aws::xml_escape(n.text());  // the text is the concatenation, whatever its place
  for (const auto& c : n.children()) write(c, out);
  out += "</";
  out += n.name();
  out += '>';
}

bool same(const XmlNode& a, const XmlNode& b) {
  if (a.name() != b.name() || a.text() != b.text() || a.attributes() != b.attributes() ||
      a.children().size() != b.children().size())
    return false;
  for (std::size_t i = 0; i < a.children().size(); ++i)
    if (!same(a.children()[i], b.children()[i])) return false;
  return true;
}

std::size_t check(const XmlNode& n, std::size_t depth) {
  FUZZ_CHECK(depth <= kLimits.max_depth);
  FUZZ_CHECK(!n.name().empty() && n.name().find(':') == std::string::npos);
  for (const auto& [k, v] : n.attributes()) FUZZ_CHECK(!k.empty() && k.find(':') == std::string::npos);
  std::size_t count = 1;
  for (const auto& c : n.children()) count += check(c, depth + 1);
  return count;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view doc(reinterpret_cast<const char*>(data), size);
  auto root = ba::aws::parse_xml(doc, kLimits);
  if (root) {
    FUZZ_CHECK(check(*root, 0) <= kLimits.max_elements);
    std::string again;
    write(*root, again);
    auto reparsed = ba::aws::parse_xml(again, kLimits);
    FUZZ_CHECK(reparsed.has_value());
    FUZZ_CHECK(same(*root, *reparsed));
  } else {
    FUZZ_CHECK(root.error().kind == ba::ErrorKind::invalid_input);
  }

  ba::net::HttpResponse response;
  response.status = 400 + static_cast<int>(size % 200);  // 4xx and 5xx
  response.headers.set("Content-Type", "application/xml");
  response.body = std::string(doc);
  const ba::Error e = ba::aws::parse_s3_error(response);
  FUZZ_CHECK(!e.message.empty());
  return 0;
}
