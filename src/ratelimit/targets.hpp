#pragma once
// Targets: where a model call may go. An ordered list of (model id, inference profile id or provisioned-
// model ARN; region; budgets), written one per line in a file (--targets-file) or one per --target flag,
// in one format (docs/configuration.md, "Targets"):
//
//   model=us.anthropic.claude-sonnet-4-20250514-v1:0 region=us-east-1 rpm=600 tpm=400000
//   model=eu.anthropic.claude-sonnet-4-20250514-v1:0 region=eu-west-1 rpm=300
//   model=arn:aws:bedrock:us-west-2:123456789012:provisioned-model/abc123 region=us-west-2 units=2 tpm_per_unit=60000
//
// Space- or comma-separated key=value pairs; `#` starts a comment. Keys: model (default: --model-id),
// region (default: the agent's region), rpm and tpm (default: --max-rpm / --max-tpm; 0: unlimited;
// `auto` or `auto:N`: the applied quota read from Service Quotas, N (else --max-rpm / --max-tpm) when it
// cannot be read; auto_quotas.hpp), rpm_quota / tpm_quota (with auto: the quota code to read, L-...,
// when the name does not tell), weight (> 0, default 1: how calls spread among targets that can all
// take them now; router.hpp),
// units with tpm_per_unit / rpm_per_unit (a provisioned throughput's capacity: rpm/tpm = units × per-unit
// rate), endpoint (an http(s) URL instead of the region's Bedrock Runtime endpoint: a VPC endpoint or a
// simulator), quotas_endpoint (likewise for Service Quotas, with auto). Unknown keys, repeated keys, bad numbers and a model id Bedrock would reject are errors
// naming the line.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.hpp"

namespace ba::ratelimit {

struct TargetSpec {
  std::string model_id;  // empty: the agent's --model-id
  std::string region;    // empty: the agent's region
  std::string endpoint;  // empty: the region's Bedrock Runtime endpoint
  std::string quotas_endpoint;  // with auto: the Service Quotas endpoint (empty: the region's)
  std::optional<double> rpm, tpm;  // absent: --max-rpm / --max-tpm (with auto: the fallback, if given)
  bool rpm_auto = false, tpm_auto = false;  // rpm=auto / tpm=auto: read from Service Quotas
  std::string rpm_quota, tpm_quota;         // pinned quota codes (with auto)
  double weight = 1;                        // > 0
  // Provisioned throughput: its capacity in model units and what one unit carries per minute.
  std::optional<double> units, rpm_per_unit, tpm_per_unit;

  // The budgets in force: the provisioned capacity when `units` is given, else rpm/tpm, else the defaults.
  double effective_rpm(double default_rpm) const;
  double effective_tpm(double default_tpm) const;
  bool provisioned() const { return units.has_value(); }
  // "model@region" for messages and logs.
  std::string name() const;
};

// A budget value: a number >= 0, `auto` or `auto:N` (N >= 0, the fallback). Errors: invalid_input.
struct BudgetValue {
  std::optional<double> value;  // the number, or auto's fallback
  bool automatic = false;
};
Result<BudgetValue> parse_budget_value(std::string_view text);

// One target from `text` (a --target value or a line of a targets file, without the comment). Errors:
// invalid_input with a message naming the offending key.
Result<TargetSpec> parse_target(std::string_view text);

// Every target of a targets file's `text`; blank and comment lines are skipped. Errors name the file
// and line: "targets.conf:3: unknown key 'rmp' ...". An empty list is an error.
Result<std::vector<TargetSpec>> parse_targets(std::string_view text, std::string_view file_name);

// Reads and parses a targets file.
Result<std::vector<TargetSpec>> load_targets_file(const std::string& path);

}  // namespace ba::ratelimit
