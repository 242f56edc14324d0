#pragma once
// A small, safe XML reader for AWS responses (S3 REST-XML, the Query protocol of CloudFormation/STS)
// and an escaper for request bodies. Not a general XML processor:
// - elements, attributes, character data, CDATA, comments and processing instructions;
// - the XML declaration is skipped; a DOCTYPE is rejected (no DTDs, so no entity expansion attacks);
// - entities: &amp; &lt; &gt; &quot; &apos; and numeric &#NN; / &#xHH; (encoded as UTF-8);
// - namespaces are tolerated: prefixes are stripped from element and attribute names ("s3:Key" -> "Key")
//   and xmlns / xmlns:* attributes are dropped;
// - limits on input size, nesting depth and element count; every failure is an Error (invalid_input,
//   code "MalformedXML") with the byte offset in the message.
#include <cstddef>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/result.hpp"

namespace ba::aws {

struct XmlLimits {
  std::size_t max_bytes = 64 * 1024 * 1024;
  std::size_t max_depth = 64;
  std::size_t max_elements = 1'000'000;
};

class XmlNode {
 public:
  XmlNode() = default;
  explicit XmlNode(std::string name) : name_(std::move(name)) {}

  // Local name (namespace prefix removed).
  const std::string& name() const { return name_; }
  // The element's own character data (entity-decoded, CDATA included), concatenated in document order,
  // untrimmed. For elements that also hold child elements this includes the whitespace between them.
  const std::string& text() const { return text_; }
  const std::vector<XmlNode>& children() const { return children_; }
  const std::vector<std::pair<std::string, std::string>>& attributes() const { return attributes_; }

  // The first child element called `name`; nullptr if none.
  const XmlNode* child(std::string_view name) const;
  // Every child element called `name`, in document order.
  std::vector<const XmlNode*> children(std::string_view name) const;
  // The text of the first child called `name`; empty if there is none.
  std::string child_text(std::string_view name) const;
  // Like child_text, but nullopt when the child is absent (to tell <Key></Key> from no Key).
  std::optional<std::string> find_text(std::string_view name) const;
  // Follows a path of child names ({"Result", "Stacks"}); nullptr if a step is missing.
  const XmlNode* path(std::initializer_list<std::string_view> names) const;
  std::optional<std::string_view> attribute(std::string_view name) const;

  // Building (used by the parser; handy in tests).
  XmlNode& add_child(XmlNode node) { return children_.emplace_back(std::move(node)); }
  void append_text(std::string_view s) { text_.append(s); }
  void set_attribute(std::string name, std::string value) { attributes_.emplace_back(std::move(name), std::move(value)); }

 private:
  std::string name_;
  std::string text_;
  std::vector<std::pair<std::string, std::string>> attributes_;
  std::vector<XmlNode> children_;
};

// Parses a document and returns its root element.
Result<XmlNode> parse_xml(std::string_view document, const XmlLimits& limits = {});

// Escapes & < > " ' for element text and attribute values.
std::string xml_escape(std::string_view text);

}  // namespace ba::aws
