#include "ratelimit/bedrock_quotas.hpp"

#include <algorithm>
#include <cctype>

#include "bedrock/model_id.hpp"

namespace ba::ratelimit {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Splits on everything but letters and digits, and between a letter and a digit.
std::vector<std::string> words(std::string_view text) {
  std::vector<std::string> out;
  std::string cur;
  int cur_type = 0;  // 1 letter, 2 digit
  auto flush = [&] {
    if (!cur.empty()) out.push_back(std::move(cur));
    cur.clear();
  };
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    const int type = std::isalpha(c) ? 1 : std::isdigit(c) ? 2 : 0;
    if (type == 0 || type != cur_type) flush();
    cur_type = type;
    if (type) cur += static_cast<char>(std::tolower(c));
  }
  flush();
  return out;
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

const char* kind_name(QuotaKind k) {
  switch (k) {
    case QuotaKind::on_demand: return "On-demand";
    case QuotaKind::cross_region: return "Cross-Region";
    case QuotaKind::global: return "Global cross-Region";
  }
  return "";
}

}  // namespace

std::vector<std::string> quota_words(std::string_view text) {
  auto w = words(text);
  std::sort(w.begin(), w.end());
  return w;
}

std::vector<std::string> model_quota_words(std::string_view base_model_id) {
  std::string_view id = base_model_id;
  if (const auto colon = id.find(':'); colon != std::string_view::npos) id = id.substr(0, colon);  // ":0", ":200k"
  // Segments separated by '.', '-' and '_': drop dates (8 digits) and a "v1" version; "vN" (N > 1) stays.
  std::vector<std::string> out;
  std::string seg;
  auto flush = [&] {
    if (seg.empty()) return;
    const std::string s = lower(seg);
    seg.clear();
    if (s.size() == 8 && all_digits(s)) return;
    if (s == "v1") return;
    for (auto& w : words(s)) out.push_back(std::move(w));
  };
  for (char c : id) {
    if (c == '.' || c == '-' || c == '_') flush();
    else seg += c;
  }
  flush();
  std::sort(out.begin(), out.end());
  return out;
}

std::optional<QuotaKind> quota_kind(std::string_view model_id) {
  const auto info = bedrock::describe_model_id(model_id);
  if (info.base_model_id.empty()) return std::nullopt;
  if (info.kind == bedrock::ModelIdInfo::Kind::arn && info.arn_resource_type != "foundation-model" &&
      info.arn_resource_type != "inference-profile") {
    return std::nullopt;
  }
  if (info.geo_prefix.empty()) return QuotaKind::on_demand;
  return info.geo_prefix == "global" ? QuotaKind::global : QuotaKind::cross_region;
}

std::optional<ParsedQuotaName> parse_quota_name(std::string_view name) {
  const std::string l = lower(name);
  constexpr std::string_view kFor = " per minute for ";
  const auto at = l.find(kFor);
  if (at == std::string::npos) return std::nullopt;
  std::string_view left = std::string_view(l).substr(0, at);
  ParsedQuotaName out{};
  out.model = std::string(name.substr(at + kFor.size()));
  if (left.ends_with(" tokens")) {
    out.tokens = true;
    left.remove_suffix(7);
  } else if (left.ends_with(" requests")) {
    out.tokens = false;
    left.remove_suffix(9);
  } else {
    return std::nullopt;
  }
  if (left.ends_with(" invokemodel")) left.remove_suffix(12);
  else if (left.ends_with(" model inference")) left.remove_suffix(16);
  else return std::nullopt;
  if (left == "on-demand" || left == "on demand") out.kind = QuotaKind::on_demand;
  else if (left == "cross-region" || left == "cross region") out.kind = QuotaKind::cross_region;
  else if (left == "global cross-region" || left == "global cross region") out.kind = QuotaKind::global;
  else return std::nullopt;
  return out;
}

QuotaMatch match_bedrock_quotas(std::string_view model_id, const std::vector<QuotaEntry>& quotas,
                                const QuotaPins& pins) {
  QuotaMatch out;
  const auto kind = quota_kind(model_id);
  const auto info = bedrock::describe_model_id(model_id);
  const auto want = info.base_model_id.empty() ? std::vector<std::string>{} : model_quota_words(info.base_model_id);
  std::vector<std::string> want_no_provider = want;
  if (!info.base_model_id.empty()) {
    const auto dot = info.base_model_id.find('.');
    if (dot != std::string::npos) {
      for (const auto& w : words(std::string_view(info.base_model_id).substr(0, dot))) {
        auto it = std::find(want_no_provider.begin(), want_no_provider.end(), w);
        if (it != want_no_provider.end()) want_no_provider.erase(it);
      }
    }
  }
  auto lookup = [&](bool tokens, const std::string& pin) {
    QuotaLookup r;
    const char* dim = tokens ? "tokens" : "requests";
    if (!pin.empty()) {
      for (const auto& q : quotas) {
        if (q.code == pin) {
          r.quota = q;
          return r;
        }
      }
      r.problem = "no bedrock quota has the code " + pin;
      return r;
    }
    if (!kind) {
      r.problem = "the quota cannot be told from the model id (an application inference profile or a provisioned "
                  "model); pin it with " + std::string(tokens ? "tpm_quota" : "rpm_quota") + "=L-...";
      return r;
    }
    std::vector<const QuotaEntry*> found;
    for (const auto& q : quotas) {
      auto p = parse_quota_name(q.name);
      if (!p || p->kind != *kind || p->tokens != tokens) continue;
      const auto w = quota_words(p->model);
      if (w == want || (!want_no_provider.empty() && w == want_no_provider)) found.push_back(&q);
    }
    if (found.size() == 1) {
      r.quota = *found.front();
      return r;
    }
    if (found.empty()) {
      r.problem = "no bedrock quota named '" + std::string(kind_name(*kind)) + " InvokeModel " + dim +
                  " per minute for <" + info.base_model_id + ">'";
      return r;
    }
    r.problem = std::to_string(found.size()) + " bedrock quotas match:";
    for (const auto* q : found) r.problem += " " + q->code + " '" + q->name + "'";
    r.problem += "; pin one with " + std::string(tokens ? "tpm_quota" : "rpm_quota") + "=";
    return r;
  };
  out.rpm = lookup(false, pins.rpm_code);
  out.tpm = lookup(true, pins.tpm_code);
  return out;
}

}  // namespace ba::ratelimit
