#include "ratelimit/targets.hpp"

#include <cmath>
#include <fstream>
#include <sstream>

#include "bedrock/model_id.hpp"
#include "util/encoding.hpp"

namespace ba::ratelimit {

double TargetSpec::effective_rpm(double default_rpm) const {
  if (units) return rpm_per_unit ? *units * *rpm_per_unit : 0;  // provisioned: no request quota unless given
  return rpm ? *rpm : default_rpm;
}

double TargetSpec::effective_tpm(double default_tpm) const {
  if (units) return tpm_per_unit ? *units * *tpm_per_unit : 0;
  return tpm ? *tpm : default_tpm;
}

std::string TargetSpec::name() const {
  return (model_id.empty() ? std::string("(--model-id)") : model_id) + "@" +
         (region.empty() ? std::string("(region)") : region);
}

namespace {

bool valid_region(std::string_view r) {
  if (r.size() < 3 || r.size() > 32) return false;
  for (char c : r) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return r.front() != '-' && r.back() != '-';
}

std::optional<double> number(std::string_view v) {
  if (v.empty()) return std::nullopt;
  std::string s(v);
  std::size_t used = 0;
  double d = 0;
  try {
    d = std::stod(s, &used);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (used != s.size() || !std::isfinite(d) || d < 0) return std::nullopt;
  return d;
}

}  // namespace

Result<BudgetValue> parse_budget_value(std::string_view text) {
  BudgetValue out;
  std::string_view v = text;
  if (v == "auto") {
    out.automatic = true;
    return out;
  }
  if (v.starts_with("auto:")) {
    out.automatic = true;
    v.remove_prefix(5);
  }
  auto n = number(v);
  if (!n) {
    return fail(ErrorKind::invalid_input,
                "'" + std::string(text) + "' is not a number >= 0, auto, or auto:N (N the fallback)");
  }
  out.value = n;
  return out;
}

Result<TargetSpec> parse_target(std::string_view text) {
  TargetSpec t;
  std::string normalized(text);
  for (char& c : normalized) {
    if (c == ',' || c == '\t') c = ' ';
  }
  std::istringstream in(normalized);
  std::string item;
  std::vector<std::string> seen;
  while (in >> item) {
    const auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0) {
      return fail(ErrorKind::invalid_input, "expected key=value, got '" + item + "'");
    }
    const std::string key = item.substr(0, eq);
    const std::string value = item.substr(eq + 1);
    for (const auto& k : seen) {
      if (k == key) return fail(ErrorKind::invalid_input, "key '" + key + "' is given twice");
    }
    seen.push_back(key);
    if (value.empty()) return fail(ErrorKind::invalid_input, "key '" + key + "' has no value");
    auto num = [&](std::optional<double>& out) -> Status {
      auto n = number(value);
      if (!n) return fail(ErrorKind::invalid_input, key + "=" + value + " is not a number >= 0");
      out = *n;
      return {};
    };
    Status st;
    if (key == "model") {
      if (auto v = bedrock::validate_model_id(value); !v) {
        return fail(ErrorKind::invalid_input, "model '" + value + "': " + v.error().message);
      }
      t.model_id = value;
    } else if (key == "region") {
      if (!valid_region(value)) {
        return fail(ErrorKind::invalid_input, "region '" + value + "' is not a region name (like us-east-1)");
      }
      t.region = value;
    } else if (key == "endpoint" || key == "quotas_endpoint") {
      if (!value.starts_with("http://") && !value.starts_with("https://")) {
        return fail(ErrorKind::invalid_input, key + " '" + value + "' must be an http:// or https:// URL");
      }
      (key == "endpoint" ? t.endpoint : t.quotas_endpoint) = value;
    } else if (key == "rpm" || key == "tpm") {
      auto b = parse_budget_value(value);
      if (!b) return fail(ErrorKind::invalid_input, key + "=" + value + " is not a number >= 0, auto or auto:N");
      (key == "rpm" ? t.rpm : t.tpm) = b->value;
      (key == "rpm" ? t.rpm_auto : t.tpm_auto) = b->automatic;
    } else if (key == "rpm_quota" || key == "tpm_quota") {
      if (!value.starts_with("L-") || value.size() < 3) {
        return fail(ErrorKind::invalid_input, key + "=" + value + " is not a quota code (like L-1234ABCD)");
      }
      (key == "rpm_quota" ? t.rpm_quota : t.tpm_quota) = value;
    } else if (key == "weight") {
      std::optional<double> w;
      st = num(w);
      if (st && *w <= 0) return fail(ErrorKind::invalid_input, "weight must be > 0");
      if (st) t.weight = *w;
    } else if (key == "units") {
      st = num(t.units);
      if (st && *t.units <= 0) return fail(ErrorKind::invalid_input, "units must be > 0");
    } else if (key == "rpm_per_unit") {
      st = num(t.rpm_per_unit);
    } else if (key == "tpm_per_unit") {
      st = num(t.tpm_per_unit);
    } else {
      return fail(ErrorKind::invalid_input, "unknown key '" + key +
                                                "'; accepted: model, region, rpm, tpm, rpm_quota, tpm_quota, weight, "
                                                "units, rpm_per_unit, tpm_per_unit, endpoint, quotas_endpoint");
    }
    if (!st) return fail(st.error());
  }
  if (seen.empty()) return fail(ErrorKind::invalid_input, "empty target");
  if (!t.rpm_quota.empty() && !t.rpm_auto) return fail(ErrorKind::invalid_input, "rpm_quota needs rpm=auto");
  if (!t.tpm_quota.empty() && !t.tpm_auto) return fail(ErrorKind::invalid_input, "tpm_quota needs tpm=auto");
  if (t.units && (t.rpm || t.tpm || t.rpm_auto || t.tpm_auto)) {
    return fail(ErrorKind::invalid_input,
                "a provisioned target (units=) takes rpm_per_unit/tpm_per_unit, not rpm/tpm");
  }
  if (!t.units && (t.rpm_per_unit || t.tpm_per_unit)) {
    return fail(ErrorKind::invalid_input, "rpm_per_unit/tpm_per_unit need units=");
  }
  if (t.units && !t.tpm_per_unit && !t.rpm_per_unit) {
    return fail(ErrorKind::invalid_input, "a provisioned target (units=) needs tpm_per_unit and/or rpm_per_unit");
  }
  if (t.units && !t.model_id.empty()) {
    const auto info = bedrock::describe_model_id(t.model_id);
    if (info.kind != bedrock::ModelIdInfo::Kind::arn || info.arn_resource_type != "provisioned-model") {
      return fail(ErrorKind::invalid_input, "units= is for a provisioned-model ARN, got model '" + t.model_id + "'");
    }
  }
  return t;
}

Result<std::vector<TargetSpec>> parse_targets(std::string_view text, std::string_view file_name) {
  std::vector<TargetSpec> out;
  std::size_t line_no = 0;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    const std::size_t end = std::min(text.find('\n', pos), text.size());
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (const auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    line = trim(line);
    if (line.empty()) {
      if (end == text.size()) break;
      continue;
    }
    auto t = parse_target(line);
    if (!t) {
      return fail(ErrorKind::invalid_input,
                  std::string(file_name) + ":" + std::to_string(line_no) + ": " + t.error().message);
    }
    out.push_back(std::move(*t));
    if (end == text.size()) break;
  }
  if (out.empty()) return fail(ErrorKind::invalid_input, std::string(file_name) + ": no targets (one per line)");
  return out;
}

Result<std::vector<TargetSpec>> load_targets_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(ErrorKind::invalid_input, "cannot read the targets file '" + path + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse_targets(ss.str(), path);
}

}  // namespace ba::ratelimit
