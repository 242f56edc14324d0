#pragma once
// Which of Bedrock's Service Quotas (ServiceCode "bedrock") limit a target: `--max-rpm auto` /
// `--max-tpm auto` and rpm=auto / tpm=auto in a targets file (docs/configuration.md, "Quotas from the
// account"). Bedrock names its per-model inference quotas
//
//   "<kind> <api> <tokens|requests> per minute for <model name>"
//   kind: "On-demand" (a model id in one region), "Cross-Region" (a geographic inference profile: us.,
//         eu., apac., ...), "Global cross-Region" (global.); api: "InvokeModel" or "model inference";
//   model name: the console's display name, e.g. "Anthropic Claude Sonnet 4", "Anthropic Claude 3.5
//         Sonnet V2", "Meta Llama 3.1 70B Instruct".
//
// Quota codes (L-...) are not documented and differ per model, so a target is matched by name: the
// quota's kind must be the target's, and its model name's words must be the words of the target's base
// model id without its date and a "v1" version (anthropic.claude-3-5-sonnet-20241022-v2:0 -> anthropic
// claude 3 5 sonnet v 2; letters and digits split, case ignored, order ignored), or those words without the
// provider. Quotas for other context lengths ("... (1M context length)") have more words and do not match.
// Where the name cannot be derived (an application inference profile ARN) or several quotas match, the
// user pins the quota code (rpm_quota= / tpm_quota=).
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ba::ratelimit {

struct QuotaEntry {
  std::string code;
  std::string name;
  double value = 0;
};

enum class QuotaKind { on_demand, cross_region, global };

struct QuotaPins {
  std::string rpm_code, tpm_code;  // empty: match by name
};

struct QuotaLookup {
  std::optional<QuotaEntry> quota;  // the applied quota for this dimension
  std::string problem;              // when none: why (for the warning log line)
};

struct QuotaMatch {
  QuotaLookup rpm, tpm;
};

// The words a model id or a quota's model name is compared by (sorted; see the header comment).
std::vector<std::string> quota_words(std::string_view text);
std::vector<std::string> model_quota_words(std::string_view base_model_id);

// The kind of quota that limits `model_id` (a model id, inference profile id or ARN); nullopt when it
// cannot be told from the id (application inference profiles, provisioned models).
std::optional<QuotaKind> quota_kind(std::string_view model_id);

// Parses a quota name of the form above: kind, whether it counts tokens (else requests), model name.
struct ParsedQuotaName {
  QuotaKind kind;
  bool tokens;
  std::string model;
};
std::optional<ParsedQuotaName> parse_quota_name(std::string_view name);

// The RPM and TPM quotas of `model_id` among `quotas` (one region's bedrock quotas).
QuotaMatch match_bedrock_quotas(std::string_view model_id, const std::vector<QuotaEntry>& quotas,
                                const QuotaPins& pins = {});

}  // namespace ba::ratelimit
