#pragma once
// `bedrock-agent deploy`: packages are uploaded to an artifacts bucket, then deploy/template.yaml is
// created or updated through a CloudFormation change set, with progress printed until the stack settles.
// `--delete` tears the stack down. Speaks CloudFormation's Query protocol, STS and S3 itself
// (deploy/cloudformation.hpp, aws/s3.hpp); honours AWS_ENDPOINT_URL_* and profiles. See docs/deploy.md.
#include <chrono>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bedrock/model_id.hpp"
#include "util/clock.hpp"

namespace ba::deploy {

inline constexpr const char* kDefaultStackName = "ai-agent-stack";
inline constexpr const char* kDefaultPackagePath = "build-lambda-pkg/bedrock-agent-lambda.zip";
inline constexpr const char* kDefaultTemplatePath = "deploy/template.yaml";

struct DeployOptions {
  std::string stack_name = kDefaultStackName;
  std::string region;   // empty: AWS_REGION, AWS_DEFAULT_REGION, the profile's region, else us-east-1
  std::string profile;  // empty: AWS_PROFILE, else "default"
  std::string model_id = bedrock::kDefaultModelId;
  double max_rpm = 50;
  double max_tpm = 0;
  std::int64_t max_tokens_per_day = 0;
  std::string package_path;     // empty: build-lambda-pkg/bedrock-agent-lambda.zip (here, else in the source tree)
  std::string template_path;    // empty: deploy/template.yaml (here, else in the source tree)
  std::string artifact_bucket;  // empty: bedrock-agent-artifacts-<account id>-<region> (STS GetCallerIdentity)
  std::vector<std::string> parameters;  // extra template parameters, "Key=Value"
  bool remove = false;                  // --delete
  bool no_wait = false;                 // return once the change set (or deletion) has started
  std::chrono::seconds timeout{3600};   // waiting for the stack
  std::chrono::milliseconds poll_interval{5000};

  // Tests: the environment (nullptr: the process's), the home directory for ~/.aws, the clock.
  std::function<std::optional<std::string>(std::string_view)> getenv;
  std::optional<std::string> home;
  Clock* clock = nullptr;
};

// Runs deploy (or --delete). Progress and results on `out`, errors on `err`.
// Exit codes: 0 deployed / up to date / deleted; 1 failed (the failing event's reason on `err`);
// 2 invalid configuration (no package, no template, bad --parameter).
int run_deploy(const DeployOptions& options, std::ostream& out, std::ostream& err);
int run_deploy(const DeployOptions& options);  // stdout / stderr

// The artifacts bucket name for an account and region: bedrock-agent-artifacts-<account>-<region>.
std::string artifact_bucket_name(std::string_view account_id, std::string_view region);
// The content-addressed key of a package: bedrock-agent/<sha256 hex of the zip>.zip.
std::string artifact_key(std::string_view zip_bytes);

}  // namespace ba::deploy
