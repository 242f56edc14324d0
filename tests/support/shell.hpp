#pragma once
// Shell commands from tests (packaging checks, cfn-lint) and the CloudFormation template decoded by
// cfn-lint's own loader (python3 `cfnlint.decode`: intrinsics become {"Ref": ...}, {"Fn::Sub": ...}).
#include <sys/wait.h>

#include <array>
#include <boost/json.hpp>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>

namespace ba::test {

struct ShellRun {
  int rc = -1;
  std::string output;  // stdout and stderr together
};

inline ShellRun shell(const std::string& command) {
  ShellRun r;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  while (auto n = std::fread(buf.data(), 1, buf.size(), p)) r.output.append(buf.data(), n);
  const int status = ::pclose(p);
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

inline std::string quote(const std::filesystem::path& p) { return "'" + p.string() + "'"; }

inline std::filesystem::path template_path() { return std::filesystem::path(BA_SOURCE_DIR) / "deploy" / "template.yaml"; }

inline bool cfn_lint_available() { return shell("cfn-lint --version").rc == 0; }

// deploy/template.yaml as JSON; nullopt when cfn-lint's loader is not importable or the YAML does not decode.
inline std::optional<boost::json::object> decode_template() {
  auto r = shell("python3 -c 'import json,sys; from cfnlint.decode import decode; t,m=decode(sys.argv[1]); "
                 "print(json.dumps(t, default=str)) if not m else sys.exit(1)' " + quote(template_path()));
  if (r.rc != 0) return std::nullopt;
  boost::system::error_code ec;
  auto v = boost::json::parse(r.output, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return v.as_object();
}

}  // namespace ba::test
