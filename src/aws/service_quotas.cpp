#include "aws/service_quotas.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <stdexcept>

#include "aws/credentials.hpp"
#include "aws/errors.hpp"
#include "aws/sigv4.hpp"
#include "net/http_client.hpp"
#include "net/url.hpp"

namespace ba::aws::service_quotas {
namespace json = boost::json;
using boost::asio::awaitable;

std::string resolve_service_quotas_endpoint(std::string_view region, const GetEnv& env) {
  return resolve_endpoint("Service Quotas", "servicequotas", region, env);
}

std::string list_service_quotas_body(std::string_view service_code, std::optional<int> max_results,
                                     std::string_view next_token) {
  json::object o;  // the model's member order, as the SDKs serialize it
  o["ServiceCode"] = service_code;
  if (!next_token.empty()) o["NextToken"] = next_token;
  if (max_results) o["MaxResults"] = *max_results;
  return json::serialize(o);
}

Result<Page> parse_list_service_quotas(std::string_view body) {
  boost::system::error_code ec;
  json::value v = json::parse(body.empty() ? std::string_view("{}") : body, ec);
  if (ec || !v.is_object()) return fail(ErrorKind::upstream, "Service Quotas ListServiceQuotas: the response is not a JSON object");
  Page page;
  const json::object& o = v.as_object();
  if (const auto* t = o.if_contains("NextToken"); t && t->is_string()) page.next_token = std::string(t->as_string());
  const auto* quotas = o.if_contains("Quotas");
  if (!quotas) return page;
  if (!quotas->is_array()) return fail(ErrorKind::upstream, "Service Quotas ListServiceQuotas: Quotas is not an array");
  for (const auto& q : quotas->as_array()) {
    if (!q.is_object()) continue;
    const json::object& qo = q.as_object();
    Quota quota;
    auto str = [&](std::string_view k) {
      const auto* s = qo.if_contains(k);
      return s && s->is_string() ? std::string(s->as_string()) : std::string();
    };
    quota.code = str("QuotaCode");
    quota.name = str("QuotaName");
    quota.unit = str("Unit");
    const auto* value = qo.if_contains("Value");
    if (!value || !value->is_number() || quota.code.empty()) continue;  // a quota without a value: nothing to apply
    quota.value = value->to_number<double>();
    page.quotas.push_back(std::move(quota));
  }
  return page;
}

Client::Client(net::HttpClient& http, CredentialsProvider& credentials, ClientConfig config, const Clock& clock)
    : http_(http), credentials_(credentials), config_(std::move(config)), clock_(clock) {
  if (config_.region.empty()) throw std::invalid_argument("Service Quotas client: no region configured");
  while (!config_.endpoint.empty() && config_.endpoint.back() == '/') config_.endpoint.pop_back();
  if (config_.endpoint.empty()) throw std::invalid_argument("Service Quotas client: no endpoint configured");
  if (auto url = net::parse_url(config_.endpoint); !url) {
    throw std::invalid_argument("Service Quotas client: bad endpoint \"" + config_.endpoint + "\": " + url.error().message);
  }
}

awaitable<Result<std::string>> Client::call(std::string_view operation, std::string body) {
  auto creds = co_await credentials_.get();
  if (!creds) co_return std::unexpected(std::move(creds.error()));
  net::HttpRequest req;
  req.method = "POST";
  req.url = config_.endpoint + "/";
  req.headers.set("Content-Type", std::string(kContentType));
  req.headers.set("X-Amz-Target", std::string(kTargetPrefix) + std::string(operation));
  req.headers.set("Accept-Encoding", "identity");
  req.body = std::move(body);
  SigningParams params;
  params.region = config_.region;
  params.service = std::string(kSigningName);
  params.time = clock_.wall();
  sign_request(req, *creds, params);

  net::RequestOptions options;
  options.connect_timeout = config_.connect_timeout;
  options.read_timeout = config_.read_timeout;
  auto sent = co_await http_.send(std::move(req), options);
  if (!sent) co_return std::unexpected(std::move(sent.error()));
  const net::HttpResponse& response = *sent;
  if (response.status < 200 || response.status > 299) {
    Error e = parse_json_error(response);
    if (e.request_id.empty()) e.request_id = std::string(response.headers.get("x-amzn-RequestId").value_or(""));
    e.message = "Service Quotas " + std::string(operation) + ": " + e.message;
    co_return std::unexpected(std::move(e));
  }
  co_return response.body;
}

awaitable<Result<std::vector<Quota>>> Client::list_service_quotas(std::string service_code) {
  std::vector<Quota> out;
  std::string token;
  for (int page_no = 0; page_no < config_.max_pages; ++page_no) {
    auto body = co_await call("ListServiceQuotas", list_service_quotas_body(service_code, 100, token));
    if (!body) co_return std::unexpected(std::move(body.error()));
    auto page = parse_list_service_quotas(*body);
    if (!page) co_return std::unexpected(std::move(page.error()));
    for (auto& q : page->quotas) out.push_back(std::move(q));
    if (page->next_token.empty()) co_return out;
    token = std::move(page->next_token);
  }
  co_return fail(ErrorKind::upstream, "Service Quotas ListServiceQuotas: more than " +
                                          std::to_string(config_.max_pages) + " pages; stopped");
}

}  // namespace ba::aws::service_quotas
