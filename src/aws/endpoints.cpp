#include "aws/endpoints.hpp"

#include <cstdlib>

#include "aws/config_file.hpp"

namespace ba::aws {

std::string resolve_endpoint(std::string_view service_id, std::string_view endpoint_prefix, std::string_view region,
                             const GetEnv& env) {
  std::string var = "AWS_ENDPOINT_URL_";
  for (char c : service_id) {
    if (c == ' ' || c == '-') var += '_';
    else if (c >= 'a' && c <= 'z') var += static_cast<char>(c - 'a' + 'A');
    else var += c;
  }
  auto strip = [](std::string url) {
    while (!url.empty() && url.back() == '/') url.pop_back();
    return url;
  };
  if (auto v = env(var); v && !v->empty()) return strip(*v);
  if (auto v = env("AWS_ENDPOINT_URL"); v && !v->empty()) return strip(*v);
  std::string suffix = std::string(region).starts_with("cn-") ? ".amazonaws.com.cn" : ".amazonaws.com";
  return "https://" + std::string(endpoint_prefix) + "." + std::string(region) + suffix;
}

S3Endpoint resolve_s3_endpoint(std::string_view region, const GetEnv& env) {
  S3Endpoint out;
  out.url = resolve_endpoint("S3", "s3", region, env);
  const bool overridden = [&] {
    for (const char* var : {"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"}) {
      if (auto v = env(var); v && !v->empty()) return true;
    }
    return false;
  }();
  out.path_style = overridden;
  return out;
}

std::string resolve_region(std::string_view explicit_region, std::string_view profile, const GetEnv& env) {
  if (!explicit_region.empty()) return std::string(explicit_region);
  if (auto v = env("AWS_REGION"); v && !v->empty()) return *v;
  if (auto v = env("AWS_DEFAULT_REGION"); v && !v->empty()) return *v;
  auto files = shared_files(env);
  if (auto config = load_ini(files.config)) {
    if (auto section = config_profile(*config, profile_name(profile, env))) {
      if (auto it = section->find("region"); it != section->end() && !it->second.empty()) return it->second;
    }
  }
  return {};
}

}  // namespace ba::aws
