// Runs every case of AWS's SigV4 test suite (/work/shared/testdata/sigv4, from awslabs/aws-c-auth).
//
// The suite's request.txt holds paths as the signer should see them *before* its own encoding pass
// (raw UTF-8, spaces), and aws-c-auth encodes that path once. Our signer's input is request.url, whose
// path is taken as sent and encoded once more for non-S3 services, so the raw path goes into the url
// verbatim and double_encode_path stays on; the suite's `normalize` flag maps to normalize_path.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <ctime>
#include <iomanip>
#include <iostream>
#include <fstream>
#include <sstream>

#include "aws/sigv4.hpp"
#include "support/aws_oracles.hpp"
#include "util/encoding.hpp"

namespace ba::aws {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

WallTime parse_time(const std::string& iso) {  // 2015-08-30T12:36:00Z
  std::tm tm{};
  std::istringstream in(iso);
  in >> std::get_time(&tm, "%Y-%m-%dT%H:%M:%SZ");
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

// request.txt: "METHOD PATH HTTP/1.1", header lines (continuation lines start with whitespace,
// duplicate names allowed), a blank line, the body.
net::HttpRequest parse_request(const std::string& text) {
  net::HttpRequest req;
  std::size_t pos = 0;
  auto next_line = [&](std::string& line) {
    if (pos >= text.size()) return false;
    auto nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    line = text.substr(pos, nl - pos);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    pos = nl + 1;
    return true;
  };
  std::string line;
  next_line(line);
  auto sp = line.find(' ');
  auto http = line.rfind(" HTTP/");
  req.method = line.substr(0, sp);
  std::string target = line.substr(sp + 1, http - sp - 1);
  std::vector<net::Header> headers;
  while (next_line(line)) {
    if (line.empty()) break;
    if ((line[0] == ' ' || line[0] == '\t') && !headers.empty()) {
      headers.back().value += " " + line;
      continue;
    }
    auto colon = line.find(':');
    headers.push_back({line.substr(0, colon), line.substr(colon + 1)});
  }
  if (pos < text.size()) req.body = text.substr(pos);
  std::string host;
  for (auto& h : headers) {
    if (iequals(h.name, "host")) host = std::string(trim(h.value));
    req.headers.add(h.name, h.value);
  }
  req.url = "https://" + host + target;
  return req;
}

TEST(SigV4Vectors, EveryCaseOfTheAwsSuite) {
  const fs::path root = test::shared_dir() / "testdata" / "sigv4";
  if (!fs::is_directory(root)) GTEST_SKIP() << "SigV4 test vectors not found at " << root;
  std::size_t folders = 0, header_cases = 0, query_cases = 0;
  for (const auto& entry : fs::directory_iterator(root)) {
    if (!entry.is_directory()) continue;
    ++folders;
    const fs::path dir = entry.path();
    const std::string name = dir.filename().string();
    SCOPED_TRACE(name);
    auto ctx = boost::json::parse(slurp(dir / "context.json")).as_object();
    const auto& c = ctx.at("credentials").as_object();
    Credentials creds{.access_key_id = std::string(c.at("access_key_id").as_string()),
                      .secret_access_key = std::string(c.at("secret_access_key").as_string())};
    if (auto* t = c.if_contains("token")) creds.session_token = std::string(t->as_string());
    SigningParams params{.region = std::string(ctx.at("region").as_string()),
                         .service = std::string(ctx.at("service").as_string()),
                         .time = parse_time(std::string(ctx.at("timestamp").as_string())),
                         .double_encode_path = true,
                         .normalize_path = ctx.at("normalize").as_bool(),
                         .sign_body = ctx.at("sign_body").as_bool()};
    if (auto* o = ctx.if_contains("omit_session_token")) params.omit_session_token = o->as_bool();
    const std::string request_text = slurp(dir / "request.txt");

    if (fs::exists(dir / "header-canonical-request.txt")) {
      auto req = parse_request(request_text);
      auto d = sign_request(req, creds, params);
      EXPECT_EQ(d.canonical_request, slurp(dir / "header-canonical-request.txt")) << "header canonical request";
      EXPECT_EQ(d.string_to_sign, slurp(dir / "header-string-to-sign.txt")) << "header string to sign";
      EXPECT_EQ(d.signature, trim(slurp(dir / "header-signature.txt"))) << "header signature";
      auto auth = req.headers.get("Authorization");
      ASSERT_TRUE(auth.has_value());
      EXPECT_NE(auth->find("Signature=" + d.signature), std::string_view::npos);
      if (!creds.session_token.empty()) {
        EXPECT_EQ(req.headers.get("X-Amz-Security-Token"), creds.session_token);
      }
      ++header_cases;
    }
    if (fs::exists(dir / "query-canonical-request.txt")) {
      auto req = parse_request(request_text);
      auto expires = std::chrono::seconds(ctx.at("expiration_in_seconds").to_number<std::int64_t>());
      SigningParams qp = params;
      qp.sign_body = false;
      auto d = presign_request(req, creds, qp, expires);
      EXPECT_EQ(d.canonical_request, slurp(dir / "query-canonical-request.txt")) << "query canonical request";
      EXPECT_EQ(d.string_to_sign, slurp(dir / "query-string-to-sign.txt")) << "query string to sign";
      EXPECT_EQ(d.signature, trim(slurp(dir / "query-signature.txt"))) << "query signature";
      EXPECT_NE(req.url.find("X-Amz-Signature=" + d.signature), std::string::npos) << req.url;
      ++query_cases;
    }
  }
  std::cout << "[sigv4 vectors] folders=" << folders << " header cases=" << header_cases
            << " query cases=" << query_cases << "\n";
  EXPECT_GE(folders, 38u);
  EXPECT_EQ(header_cases, folders);
  EXPECT_EQ(query_cases, folders);
}

}  // namespace
}  // namespace ba::aws
