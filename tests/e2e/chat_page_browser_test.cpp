// The chat page (web/, served at GET /) in Debian's Chromium, driven by playwright-core
// (tests/browser/chat_page.mjs): the real binary, the simulator as its own process, three configurations
// (open, --api-keys-file, --max-rpm 1). And the committed web/dist must be what web/src builds to.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "support/shell.hpp"
#include "util/encoding.hpp"

namespace ba::test {
namespace {

namespace fs = std::filesystem;

const fs::path kSource{BA_SOURCE_DIR};

std::string chromium_path() {
  const char* env = std::getenv("CHROMIUM");
  return env && *env ? env : "/usr/bin/chromium";
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(ChatPageBrowser, StreamsStopsListsRendersSafelyAsksForAKeyAndExplainsA429) {
  if (!fs::exists(chromium_path())) {
    GTEST_SKIP() << chromium_path() << " not found: install Debian's chromium (scripts/install-deps.sh does)";
  }
  if (!fs::exists(kSource / "node_modules" / "playwright-core")) {
    GTEST_SKIP() << "node_modules/playwright-core not found: run npm ci (scripts/install-deps.sh does)";
  }
  const fs::path binary = fs::path(BA_BINARY_DIR) / "bedrock-agent";
  ASSERT_TRUE(fs::exists(binary)) << binary;
  auto run = shell("cd " + quote(kSource) + " && NODE_NO_WARNINGS=1 node tests/browser/chat_page.mjs " + quote(binary));
  EXPECT_EQ(run.rc, 0) << run.output;
  EXPECT_NE(run.output.find("all checks passed"), std::string::npos) << run.output;
}

TEST(ChatPageAssets, CommittedWebDistIsWhatWebSrcBuildsTo) {
  if (!fs::exists(kSource / "node_modules" / "esbuild")) {
    GTEST_SKIP() << "node_modules/esbuild not found: run npm ci (scripts/install-deps.sh does)";
  }
  const fs::path out = fs::temp_directory_path() / ("ba-web-" + uuid_v4());
  auto run = shell("cd " + quote(kSource) + " && node web/build.mjs --out " + quote(out));
  ASSERT_EQ(run.rc, 0) << run.output;
  std::set<std::string> built, committed;
  for (const auto& e : fs::directory_iterator(out)) built.insert(e.path().filename().string());
  for (const auto& e : fs::directory_iterator(kSource / "web" / "dist")) committed.insert(e.path().filename().string());
  EXPECT_EQ(built, committed) << "run `npm run build:web` and commit web/dist";
  for (const auto& name : built) {
    EXPECT_TRUE(read_file(out / name) == read_file(kSource / "web" / "dist" / name))
        << "web/dist/" << name << " is stale: run `npm run build:web` and commit web/dist";
  }
  fs::remove_all(out);
}

}  // namespace
}  // namespace ba::test
