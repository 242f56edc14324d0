#include "sim/service_quotas.hpp"

#include <boost/json.hpp>
#include <cstdio>

namespace ba::sim {

namespace json = boost::json;

namespace {

net::ServerResponse json_reply(int status, const json::value& body, const std::string& request_id) {
  net::ServerResponse r;
  r.status = status;
  r.headers.set("Content-Type", "application/x-amz-json-1.1");
  r.headers.set("x-amzn-RequestId", request_id);
  r.body = json::serialize(body);
  return r;
}

net::ServerResponse error_reply(int status, std::string_view type, std::string_view message,
                                const std::string& request_id) {
  json::object body{{"__type", type}, {"Message", message}};
  return json_reply(status, body, request_id);
}

json::object quota_json(const ServiceQuota& q, double value, std::string_view region) {
  json::object o;
  o["ServiceCode"] = "bedrock";
  o["ServiceName"] = "Amazon Bedrock";
  o["QuotaArn"] = "arn:aws:servicequotas:" + std::string(region) + ":123456789012:bedrock/" + q.code;
  o["QuotaCode"] = q.code;
  o["QuotaName"] = q.name;
  o["Value"] = value;
  o["Unit"] = "None";
  o["Adjustable"] = true;
  o["GlobalQuota"] = false;
  o["QuotaAppliedAtLevel"] = "ACCOUNT";
  return o;
}

}  // namespace

std::string quota_code_for(std::string_view name) {
  std::uint32_t h = 2166136261u;  // FNV-1a
  for (char c : name) {
    h ^= static_cast<unsigned char>(c);
    h *= 16777619u;
  }
  char buf[16];
  std::snprintf(buf, sizeof buf, "L-%08X", h);
  return buf;
}

std::vector<ServiceQuota> default_service_quotas(std::int64_t rpm, std::int64_t tpm) {
  std::vector<ServiceQuota> out;
  const double r = rpm > 0 ? static_cast<double>(rpm) : 200;
  const double t = tpm > 0 ? static_cast<double>(tpm) : 200'000;
  for (const char* model : {"Anthropic Claude 3 Haiku", "Anthropic Claude 3.5 Haiku", "Anthropic Claude Sonnet 4",
                            "Amazon Nova Pro"}) {
    for (const char* kind : {"On-demand", "Cross-Region", "Global cross-Region"}) {
      for (bool tokens : {false, true}) {
        ServiceQuota q;
        q.name = std::string(kind) + " InvokeModel " + (tokens ? "tokens" : "requests") + " per minute for " + model;
        q.code = quota_code_for(q.name);
        q.value = tokens ? t : r;
        out.push_back(std::move(q));
      }
    }
    ServiceQuota day;
    day.name = std::string("Model invocation max tokens per day for ") + model;
    day.code = quota_code_for(day.name);
    day.value = t * 1440;
    out.push_back(std::move(day));
  }
  return out;
}

net::ServerResponse serve_service_quotas(const net::ServerRequest& request, std::string_view operation,
                                         const std::vector<ServiceQuota>& quotas, std::string_view region,
                                         const std::string& request_id) {
  const auto content_type = request.headers.get("content-type").value_or("");
  if (content_type != "application/x-amz-json-1.1") {
    return error_reply(400, "SerializationException", "expected Content-Type application/x-amz-json-1.1", request_id);
  }
  boost::system::error_code ec;
  json::value parsed = json::parse(request.body.empty() ? std::string_view("{}") : std::string_view(request.body), ec);
  if (ec || !parsed.is_object()) return error_reply(400, "SerializationException", "the body is not a JSON object", request_id);
  const json::object& in = parsed.as_object();
  auto str = [&](std::string_view k) -> std::string {
    const auto* v = in.if_contains(k);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
  };
  const std::string service = str("ServiceCode");
  if (service.empty()) {
    return error_reply(400, "ValidationException",
                       "1 validation error detected: Value null at 'serviceCode' failed to satisfy constraint: Member "
                       "must not be null",
                       request_id);
  }
  const bool bedrock = service == "bedrock";
  if (operation == "GetServiceQuota") {
    const std::string code = str("QuotaCode");
    for (const auto& q : quotas) {
      if (bedrock && q.code == code) return json_reply(200, json::object{{"Quota", quota_json(q, q.value, region)}}, request_id);
    }
    return error_reply(400, "NoSuchResourceException", "The request failed because the specified quota does not exist.",
                       request_id);
  }
  if (operation != "ListServiceQuotas" && operation != "ListAWSDefaultServiceQuotas") {
    return error_reply(400, "UnknownOperationException", "Unknown operation " + std::string(operation), request_id);
  }
  std::int64_t max_results = 100;
  if (const auto* m = in.if_contains("MaxResults")) {
    if (!m->is_int64() || m->as_int64() < 1 || m->as_int64() > 100) {
      return error_reply(400, "ValidationException",
                         "1 validation error detected: Value at 'maxResults' failed to satisfy constraint: Member must "
                         "have value between 1 and 100",
                         request_id);
    }
    max_results = m->as_int64();
  }
  std::size_t start = 0;
  if (const std::string token = str("NextToken"); !token.empty()) {
    try {
      start = std::stoul(token);
    } catch (const std::exception&) {
      return error_reply(400, "InvalidPaginationTokenException", "Invalid pagination token", request_id);
    }
  }
  json::array list;
  std::size_t i = start;
  if (bedrock) {
    for (; i < quotas.size() && list.size() < static_cast<std::size_t>(max_results); ++i) {
      const auto& q = quotas[i];
      const double v = operation == "ListAWSDefaultServiceQuotas" && q.default_value >= 0 ? q.default_value : q.value;
      list.push_back(quota_json(q, v, region));
    }
  }
  json::object out{{"Quotas", std::move(list)}};
  if (bedrock && i < quotas.size()) out["NextToken"] = std::to_string(i);
  return json_reply(200, out, request_id);
}

}  // namespace ba::sim
