#include "net/http_message.hpp"

#include <algorithm>

#include "util/encoding.hpp"

namespace ba::net {

std::optional<std::string_view> Headers::get(std::string_view name) const {
  for (const auto& h : items_)
    if (iequals(h.name, name)) return std::string_view(h.value);
  return std::nullopt;
}

void Headers::set(std::string name, std::string value) {
  remove(name);
  items_.push_back({std::move(name), std::move(value)});
}

void Headers::add(std::string name, std::string value) { items_.push_back({std::move(name), std::move(value)}); }

void Headers::remove(std::string_view name) {
  std::erase_if(items_, [&](const Header& h) { return iequals(h.name, name); });
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 411: return "Length Required";
    case 415: return "Unsupported Media Type";
    case 424: return "Failed Dependency";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Unknown";
  }
}

}  // namespace ba::net
