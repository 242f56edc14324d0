#pragma once
// Helpers shared by the aws and store tests: locating /work/shared and running the Node oracles.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <unistd.h>

namespace ba::aws::test {

inline std::filesystem::path shared_dir() {
  if (const char* env = std::getenv("BA_SHARED_DIR"); env && *env) return env;
  return std::filesystem::path(BA_SOURCE_DIR) / ".." / "shared";
}

// A temporary directory removed on destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ba-aws-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path write(const std::string& name, const std::string& content) const {
    auto p = path_ / name;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << content;
    return p;
  }

 private:
  std::filesystem::path path_;
};

// True when node and the project's node_modules are available.
inline bool node_available() {
  if (!std::filesystem::exists(std::filesystem::path(BA_SOURCE_DIR) / "node_modules" / "@smithy")) return false;
  return std::system("node --version > /dev/null 2>&1") == 0;
}

// Runs tests/node/<script> with `input` on stdin and returns its stdout (nullopt if it failed).
inline std::optional<std::string> run_node(const std::string& script, const std::string& input) {
  TempDir dir;
  auto in = dir.write("in.jsonl", input);
  auto out = dir.path() / "out.txt";
  std::string cmd = "cd '" + std::string(BA_SOURCE_DIR) + "' && NODE_NO_WARNINGS=1 node tests/node/" + script + " < '" +
                    in.string() + "' > '" + out.string() + "'";
  if (std::system(cmd.c_str()) != 0) return std::nullopt;
  std::ifstream f(out, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline std::string unhex(std::string_view h) {
  std::string out;
  for (std::size_t i = 0; i + 1 < h.size(); i += 2) out.push_back(static_cast<char>(std::stoi(std::string(h.substr(i, 2)), nullptr, 16)));
  return out;
}

}  // namespace ba::aws::test
