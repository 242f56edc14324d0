#pragma once
// The chat page's assets (web/dist, built from web/src by web/build.mjs), compiled into the binary by
// cmake/embed_web_assets.cmake: nothing to lose or misplace at run time.
#include <span>
#include <string_view>

namespace ba::http {

struct WebAsset {
  std::string_view name;          // file name in web/dist, e.g. "app.js"
  std::string_view content_type;
  std::string_view body;
};

std::span<const WebAsset> web_assets();

}  // namespace ba::http
