#include "agent/attachments.hpp"

#include <set>

#include "util/encoding.hpp"

namespace ba::agent {
namespace {

using Type = bedrock::ContentBlock::Type;

struct Mapping {
  std::string_view content_type;
  Type type;
  std::string_view format;
};

constexpr Mapping kTypes[] = {
    {"image/png", Type::image, "png"},
    {"image/jpeg", Type::image, "jpeg"},
    {"image/jpg", Type::image, "jpeg"},
    {"image/gif", Type::image, "gif"},
    {"image/webp", Type::image, "webp"},
    {"application/pdf", Type::document, "pdf"},
    {"text/csv", Type::document, "csv"},
    {"application/msword", Type::document, "doc"},
    {"application/vnd.openxmlformats-officedocument.wordprocessingml.document", Type::document, "docx"},
    {"application/vnd.ms-excel", Type::document, "xls"},
    {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", Type::document, "xlsx"},
    {"text/html", Type::document, "html"},
    {"text/plain", Type::document, "txt"},
    {"text/markdown", Type::document, "md"},
    {"text/x-markdown", Type::document, "md"},
};

struct Extension {
  std::string_view ext;
  Type type;
  std::string_view format;
};

constexpr Extension kExtensions[] = {
    {"png", Type::image, "png"},        {"jpg", Type::image, "jpeg"},     {"jpeg", Type::image, "jpeg"},
    {"gif", Type::image, "gif"},        {"webp", Type::image, "webp"},    {"pdf", Type::document, "pdf"},
    {"csv", Type::document, "csv"},     {"doc", Type::document, "doc"},   {"docx", Type::document, "docx"},
    {"xls", Type::document, "xls"},     {"xlsx", Type::document, "xlsx"}, {"html", Type::document, "html"},
    {"htm", Type::document, "html"},    {"txt", Type::document, "txt"},   {"md", Type::document, "md"},
    {"markdown", Type::document, "md"},
};

bool allowed_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '(' ||
         c == ')' || c == '[' || c == ']';
}

}  // namespace

std::optional<AttachmentKind> attachment_kind(std::string_view content_type, std::string_view file_name) {
  std::string media = to_lower(trim(content_type.substr(0, content_type.find(';'))));
  for (const auto& m : kTypes) {
    if (media == m.content_type) return AttachmentKind{m.type, std::string(m.format)};
  }
  if (media == "application/octet-stream" || media == "binary/octet-stream") {
    auto dot = file_name.rfind('.');
    if (dot == std::string_view::npos) return std::nullopt;
    std::string ext = to_lower(file_name.substr(dot + 1));
    for (const auto& e : kExtensions) {
      if (ext == e.ext) return AttachmentKind{e.type, std::string(e.format)};
    }
  }
  return std::nullopt;
}

std::string_view supported_attachment_types() {
  return "images: image/png, image/jpeg, image/gif, image/webp; documents: application/pdf, text/csv, "
         "application/msword (doc), application/vnd.openxmlformats-officedocument.wordprocessingml.document (docx), "
         "application/vnd.ms-excel (xls), application/vnd.openxmlformats-officedocument.spreadsheetml.sheet (xlsx), "
         "text/html, text/plain, text/markdown (application/octet-stream is typed by the file name's extension)";
}

std::string document_block_name(std::string_view file_name, std::string_view fallback) {
  std::string_view stem = file_name;
  if (auto dot = stem.rfind('.'); dot != std::string_view::npos && dot > 0) stem = stem.substr(0, dot);
  std::string out;
  bool pending_space = false;
  for (char c : stem) {
    if (allowed_name_char(c)) {
      if (pending_space && !out.empty()) out += ' ';
      pending_space = false;
      out += c;
    } else {
      pending_space = true;
    }
    if (out.size() >= 200) break;
  }
  if (out.size() > 200) out.resize(200);
  while (!out.empty() && out.back() == ' ') out.pop_back();
  if (out.empty()) return std::string(fallback);
  return out;
}

std::optional<bedrock::ContentBlock> inline_document(std::string_view media_type, std::string_view file_name,
                                                     std::string bytes, std::string name) {
  auto kind = attachment_kind(media_type, file_name);
  if (!kind || kind->type != Type::document) return std::nullopt;
  return bedrock::ContentBlock{.type = Type::document, .format = kind->format, .name = std::move(name), .bytes = std::move(bytes)};
}

void name_documents(std::vector<bedrock::Message>& messages) {
  std::set<std::string> names;
  std::size_t n = 0;
  auto name_one = [&](bedrock::ContentBlock& b) {
    const std::string fallback = "document " + std::to_string(++n);
    std::string base = document_block_name(b.name, fallback);
    if (base.size() > 190) base.resize(190);  // room for a " (N)" suffix within Converse's 200
    while (!base.empty() && base.back() == ' ') base.pop_back();
    std::string name = base;
    for (int k = 2; !names.insert(name).second; ++k) name = base + " (" + std::to_string(k) + ")";
    b.name = std::move(name);
  };
  for (auto& m : messages) {
    for (auto& b : m.content) {
      if (b.type == Type::document) name_one(b);
      if (b.type != Type::tool_result) continue;
      for (auto& part : b.content)  // documents a tool returned
        if (part.type == Type::document) name_one(part);
    }
  }
}

}  // namespace ba::agent
