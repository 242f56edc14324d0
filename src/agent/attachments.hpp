#pragma once
// Files attached to a chat turn ("files": [id, ...] on POST /chat) become Converse content blocks:
// images (png, jpeg, gif, webp) as image blocks, documents (pdf, csv, doc, docx, xls, xlsx, html, txt,
// md) as document blocks, chosen by the file's content type (application/octet-stream: by the name's
// extension). Limits (Converse ContentBlock): at most 20 images of <= 3.75 MB and 5 documents of
// <= 4.5 MB per request; document names only letters, digits, single spaces, '-', '(', ')', '[', ']'.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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

// A document block for a stateless conversation's inline document (Anthropic's document blocks, OpenAI's
// file parts): its Converse format from the media type (application/octet-stream: from `file_name`), and
// the name as given (a title or file name; name_documents() makes it safe). nullopt: not a document type
// the model can read.
std::optional<bedrock::ContentBlock> inline_document(std::string_view media_type, std::string_view file_name,
                                                     std::string bytes, std::string name);

// Names the document blocks of a conversation as Converse wants them: each block's name (from the front
// door) through document_block_name, "document N" (N: its place among the documents) when nothing is
// left, then made unique within the request with " (2)", " (3)"...
void name_documents(std::vector<bedrock::Message>& messages);

}  // namespace ba::agent
