// The wiring decided in one place for serve and Lambda (cli/app_context.hpp): which history, file and
// budget stores the options and the environment name, and the Lambda mode's CA bundle.
#include "cli/app_context.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

namespace ba::test {
namespace {

aws::GetEnv env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST(ResolveHistory, AnExplicitHistoryWinsInBothModes) {
  auto env = env_of({{"CONVERSATION_TABLE", "chat-table"}});
  EXPECT_EQ(cli::resolve_history("sqlite:/data/h.db", cli::Mode::lambda, env), "sqlite:/data/h.db");
  EXPECT_EQ(cli::resolve_history("sqlite:/data/h.db", cli::Mode::server, env), "sqlite:/data/h.db");
}

TEST(ResolveHistory, ConversationTableNamesTheDynamoDbTable) {
  auto env = env_of({{"CONVERSATION_TABLE", "chat-table"}});
  EXPECT_EQ(cli::resolve_history("", cli::Mode::lambda, env), "dynamodb:chat-table");
  EXPECT_EQ(cli::resolve_history("", cli::Mode::server, env), "dynamodb:chat-table");
}

TEST(ResolveHistory, DefaultsToTmpInLambdaAndDataDirForServe) {
  auto none = env_of({});
  EXPECT_EQ(cli::resolve_history("", cli::Mode::lambda, none), "sqlite:/tmp/history.db");
  EXPECT_EQ(cli::resolve_history("", cli::Mode::server, none), "sqlite:./data/history.db");
  auto empty = env_of({{"CONVERSATION_TABLE", ""}});
  EXPECT_EQ(cli::resolve_history("", cli::Mode::lambda, empty), "sqlite:/tmp/history.db");
}

TEST(ResolveFiles, AnExplicitFolderOrBucketWins) {
  auto env = env_of({{"FILES_BUCKET", "files-bucket"}});
  EXPECT_EQ(cli::resolve_files("/srv/files", cli::Mode::lambda, env), "/srv/files");
  EXPECT_EQ(cli::resolve_files("s3://other/prefix", cli::Mode::server, env), "s3://other/prefix");
}

TEST(ResolveFiles, FilesBucketNamesTheS3Bucket) {
  auto env = env_of({{"FILES_BUCKET", "files-bucket"}});
  EXPECT_EQ(cli::resolve_files("", cli::Mode::lambda, env), "s3://files-bucket");
  EXPECT_EQ(cli::resolve_files("", cli::Mode::server, env), "s3://files-bucket");
}

TEST(ResolveFiles, DefaultsToTmpInLambdaAndDataDirForServe) {
  auto none = env_of({});
  EXPECT_EQ(cli::resolve_files("", cli::Mode::lambda, none), "/tmp/files");
  EXPECT_EQ(cli::resolve_files("", cli::Mode::server, none), "./data/files");
  EXPECT_EQ(cli::resolve_files("", cli::Mode::server, env_of({{"FILES_BUCKET", ""}})), "./data/files");
}

TEST(ResolveSharedBudget, AnExplicitTableWinsInBothModes) {
  auto env = env_of({{"BUDGET_TABLE", "budget-table"}});
  EXPECT_EQ(cli::resolve_shared_budget("dynamodb:mine", cli::Mode::lambda, env), "dynamodb:mine");
  EXPECT_EQ(cli::resolve_shared_budget("dynamodb:mine", cli::Mode::server, env), "dynamodb:mine");
}

TEST(ResolveSharedBudget, BudgetTableIsReadInLambdaModeOnly) {
  auto env = env_of({{"BUDGET_TABLE", "budget-table"}});
  EXPECT_EQ(cli::resolve_shared_budget("", cli::Mode::lambda, env), "dynamodb:budget-table");
  EXPECT_EQ(cli::resolve_shared_budget("", cli::Mode::server, env), "");  // a per-process budget
  EXPECT_EQ(cli::resolve_shared_budget("", cli::Mode::lambda, env_of({{"BUDGET_TABLE", ""}})), "");
  EXPECT_EQ(cli::resolve_shared_budget("", cli::Mode::lambda, env_of({})), "");
}

// The packaged binary's OpenSSL looks in the build machine's /usr/lib/ssl; on Amazon Linux the bundle
// is elsewhere.
TEST(LambdaCaBundle, PointsOpenSslAtTheSystemBundleOnlyWhenItsDefaultIsMissing) {
  std::set<std::string> files{"/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"};
  auto exists = [&](const std::string& p) { return files.contains(p); };
  auto none = env_of({});
  EXPECT_EQ(cli::lambda_ca_bundle("/usr/lib/ssl/cert.pem", exists, none), "/etc/pki/tls/certs/ca-bundle.crt");
  files.insert("/usr/lib/ssl/cert.pem");
  EXPECT_EQ(cli::lambda_ca_bundle("/usr/lib/ssl/cert.pem", exists, none), "");
  files = {"/etc/ssl/certs/ca-certificates.crt"};
  EXPECT_EQ(cli::lambda_ca_bundle("/usr/lib/ssl/cert.pem", exists, none), "/etc/ssl/certs/ca-certificates.crt");
  EXPECT_EQ(cli::lambda_ca_bundle("/usr/lib/ssl/cert.pem", exists, env_of({{"SSL_CERT_FILE", "/x.pem"}})), "");
  EXPECT_EQ(cli::lambda_ca_bundle("/usr/lib/ssl/cert.pem", exists, env_of({{"SSL_CERT_DIR", "/certs"}})), "");
  files.clear();
  EXPECT_EQ(cli::lambda_ca_bundle("/usr/lib/ssl/cert.pem", exists, none), "");
}

}  // namespace
}  // namespace ba::test
