#include "aws/xml.hpp"

#include <charconv>
#include <cstdint>

namespace ba::aws {
namespace {

std::string_view local_name(std::string_view qname) {
  auto colon = qname.rfind(':');
  return colon == std::string_view::npos ? qname : qname.substr(colon + 1);
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool is_name_char(char c) {
  return !is_space(c) && c != '<' && c != '>' && c != '/' && c != '=' && c != '"' && c != '\'' && c != '&' &&
         c != '!' && c != '?';
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

class Parser {
 public:
  Parser(std::string_view doc, const XmlLimits& limits) : s_(doc), limits_(limits) {}

  Result<XmlNode> document() {
    if (s_.size() > limits_.max_bytes)
      return error("document of " + std::to_string(s_.size()) + " bytes is over the limit of " +
                   std::to_string(limits_.max_bytes));
    if (s_.starts_with("\xEF\xBB\xBF")) pos_ = 3;
    if (auto ok = misc(true); !ok) return std::unexpected(std::move(ok.error()));
    if (eof() || s_[pos_] != '<') return error("no root element");
    ++pos_;
    XmlNode root;
    if (auto ok = element(root, 1); !ok) return std::unexpected(std::move(ok.error()));
    if (auto ok = misc(false); !ok) return std::unexpected(std::move(ok.error()));
    if (!eof()) return error("content after the root element");
    return root;
  }

 private:
  std::string_view s_;
  const XmlLimits& limits_;
  std::size_t pos_ = 0;
  std::size_t elements_ = 0;

  bool eof() const { return pos_ >= s_.size(); }
  bool at(std::string_view lit) const { return s_.substr(pos_).starts_with(lit); }
  void skip_space() {
    while (!eof() && is_space(s_[pos_])) ++pos_;
  }

  std::unexpected<Error> error(std::string what) const {
    Error e = Error::make(ErrorKind::invalid_input, "malformed XML at byte " + std::to_string(pos_) + ": " + what);
    e.code = "MalformedXML";
    return std::unexpected(std::move(e));
  }

  // Skips past `end`, or fails.
  Status skip_past(std::string_view end, std::string_view what) {
    auto at_end = s_.find(end, pos_);
    if (at_end == std::string_view::npos) return error("unterminated " + std::string(what));
    pos_ = at_end + end.size();
    return {};
  }

  // Whitespace, comments and processing instructions around the root element (the XML declaration is a PI
  // for our purposes). A DOCTYPE is refused.
  Status misc(bool prolog) {
    while (true) {
      skip_space();
      if (at("<?")) {
        if (auto ok = skip_past("?>", "processing instruction"); !ok) return ok;
      } else if (at("<!--")) {
        if (auto ok = skip_past("-->", "comment"); !ok) return ok;
      } else if (at("<!")) {
        return error(prolog ? "DOCTYPE and DTDs are not accepted" : "markup after the root element");
      } else {
        return {};
      }
    }
  }

  std::string_view name() {
    const std::size_t start = pos_;
    while (!eof() && is_name_char(s_[pos_])) ++pos_;
    return s_.substr(start, pos_ - start);
  }

  // Appends `raw` (which may hold entity references) to `out`, decoded.
  Status decode(std::string_view raw, std::string& out) {
    std::size_t i = 0;
    while (i < raw.size()) {
      auto amp = raw.find('&', i);
      if (amp == std::string_view::npos) {
        out.append(raw.substr(i));
        break;
      }
      out.append(raw.substr(i, amp - i));
      auto semi = raw.find(';', amp);
      if (semi == std::string_view::npos || semi - amp > 12) return error("bad entity reference");
      const std::string_view ent = raw.substr(amp + 1, semi - amp - 1);
      if (ent == "amp") out += '&';
      else if (ent == "lt") out += '<';
      else if (ent == "gt") out += '>';
      else if (ent == "quot") out += '"';
      else if (ent == "apos") out += '\'';
      else if (ent.size() >= 2 && ent[0] == '#') {
        const bool hex = ent[1] == 'x' || ent[1] == 'X';
        const std::string_view digits = ent.substr(hex ? 2 : 1);
        std::uint32_t cp = 0;
        auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), cp, hex ? 16 : 10);
        if (digits.empty() || ec != std::errc{} || p != digits.data() + digits.size() || cp == 0 || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
          return error("bad character reference &" + std::string(ent) + ";");
        append_utf8(out, cp);
      } else {
        return error("unknown entity &" + std::string(ent) + ";");
      }
      i = semi + 1;
    }
    return {};
  }

  // Parses one element; pos_ is just after its '<'.
  Status element(XmlNode& node, std::size_t depth) {
    if (depth > limits_.max_depth) return error("nesting deeper than " + std::to_string(limits_.max_depth));
    if (++elements_ > limits_.max_elements)
      return error("more than " + std::to_string(limits_.max_elements) + " elements");
    const std::string_view qname = name();
    if (local_name(qname).empty()) return error("expected an element name");
    node = XmlNode(std::string(local_name(qname)));
    // Attributes.
    while (true) {
      const std::size_t before = pos_;
      skip_space();
      if (eof()) return error("unterminated start tag <" + std::string(qname) + ">");
      if (at("/>")) {
        pos_ += 2;
        return {};
      }
      if (s_[pos_] == '>') {
        ++pos_;
        break;
      }
      if (pos_ == before) return error("expected whitespace before an attribute");
      const std::string_view attr = name();
      if (local_name(attr).empty()) return error("expected an attribute name");
      skip_space();
      if (eof() || s_[pos_] != '=') return error("expected '=' after attribute " + std::string(attr));
      ++pos_;
      skip_space();
      if (eof() || (s_[pos_] != '"' && s_[pos_] != '\'')) return error("expected a quoted attribute value");
      const char quote = s_[pos_++];
      const auto end = s_.find(quote, pos_);
      if (end == std::string_view::npos) return error("unterminated attribute value");
      const std::string_view raw = s_.substr(pos_, end - pos_);
      if (raw.find('<') != std::string_view::npos) return error("'<' in an attribute value");
      std::string value;
      if (auto ok = decode(raw, value); !ok) return ok;
      pos_ = end + 1;
      if (attr == "xmlns" || attr.starts_with("xmlns:")) continue;
      node.set_attribute(std::string(local_name(attr)), std::move(value));
    }
    // Content.
    while (true) {
      if (eof()) return error("unclosed element <" + std::string(qname) + ">");
      if (s_[pos_] != '<') {
        auto lt = s_.find('<', pos_);
        if (lt == std::string_view::npos) lt = s_.size();
        std::string text;
        if (auto ok = decode(s_.substr(pos_, lt - pos_), text); !ok) return ok;
        node.append_text(text);
        pos_ = lt;
        continue;
      }
      if (at("</")) {
        pos_ += 2;
        const std::string_view close = name();
        if (close != qname)
          return error("</" + std::string(close) + "> does not close <" + std::string(qname) + ">");
        skip_space();
        if (eof() || s_[pos_] != '>') return error("expected '>' in an end tag");
        ++pos_;
        return {};
      }
      if (at("<!--")) {
        if (auto ok = skip_past("-->", "comment"); !ok) return ok;
      } else if (at("<![CDATA[")) {
        pos_ += 9;
        const auto end = s_.find("]]>", pos_);
        if (end == std::string_view::npos) return error("unterminated CDATA section");
        node.append_text(s_.substr(pos_, end - pos_));
        pos_ = end + 3;
      } else if (at("<?")) {
        if (auto ok = skip_past("?>", "processing instruction"); !ok) return ok;
      } else if (at("<!")) {
        return error("unexpected markup declaration");
      } else {
        ++pos_;
        XmlNode child;
        if (auto ok = element(child, depth + 1); !ok) return ok;
        node.add_child(std::move(child));
      }
    }
  }
};

}  // namespace

const XmlNode* XmlNode::child(std::string_view name) const {
  for (const auto& c : children_) {
    if (c.name_ == name) return &c;
  }
  return nullptr;
}

std::vector<const XmlNode*> XmlNode::children(std::string_view name) const {
  std::vector<const XmlNode*> out;
  for (const auto& c : children_) {
    if (c.name_ == name) out.push_back(&c);
  }
  return out;
}

std::string XmlNode::child_text(std::string_view name) const {
  const XmlNode* c = child(name);
  return c ? c->text_ : std::string();
}

std::optional<std::string> XmlNode::find_text(std::string_view name) const {
  const XmlNode* c = child(name);
  if (!c) return std::nullopt;
  return c->text_;
}

const XmlNode* XmlNode::path(std::initializer_list<std::string_view> names) const {
  const XmlNode* at = this;
  for (auto n : names) {
    at = at->child(n);
    if (!at) return nullptr;
  }
  return at;
}

std::optional<std::string_view> XmlNode::attribute(std::string_view name) const {
  for (const auto& [k, v] : attributes_) {
    if (k == name) return std::string_view(v);
  }
  return std::nullopt;
}

Result<XmlNode> parse_xml(std::string_view document, const XmlLimits& limits) {
  return Parser(document, limits).document();
}

std::string xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace ba::aws
