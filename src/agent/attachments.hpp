#pragma once
// Files attached to a chat turn ("files": [id, ...] on POST /chat) become Converse content blocks:
// images (png, jpeg, gif, webp) as image blocks, documents (pdf, csv, doc, docx, xls, xlsx, html, txt,
// md) as document blocks, chosen by the file's content type (application/octet-stream: by the name's
// extension). Limits (Converse ContentBlock): at most 20 images of <= 3.75 MB and 5 documents of
// <= 4.5 MB per request; document names only letters, digits, single spaces, '-', '(', ')', '[', ']'.
#include <optional>
#include <string>
#include <string_view>

#include "bedrock/types.hpp"

namespace ba::agent {

struct AttachmentKind {
  bedrock::ContentBlock::Type type = bedrock::ContentBlock::Type::document;
  std::string format;  // the Converse format: png|jpeg|gif|webp or pdf|csv|doc|docx|xls|xlsx|html|txt|md
};

// The block kind for a stored file, or nullopt when the model cannot take it.
std::optional<AttachmentKind> attachment_kind(std::string_view content_type, std::string_view file_name);

// For error messages: "image/png, image/jpeg, ..." (every content type attachment_kind accepts).
std::string_view supported_attachment_types();

// A document block name from a file name: the extension is dropped, every character Bedrock does not
// allow becomes a space, runs of spaces become one, the result is trimmed and cut to 200 characters;
// `fallback` when nothing is left.
std::string document_block_name(std::string_view file_name, std::string_view fallback);

}  // namespace ba::agent
