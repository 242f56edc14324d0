#include "util/result.hpp"

namespace ba {

std::string_view to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::invalid_input: return "invalid_request";
    case ErrorKind::unauthorized: return "unauthorized";
    case ErrorKind::forbidden: return "forbidden";
    case ErrorKind::not_found: return "not_found";
    case ErrorKind::conflict: return "conflict";
    case ErrorKind::too_large: return "payload_too_large";
    case ErrorKind::rate_limited: return "rate_limited";
    case ErrorKind::throttled: return "throttled";
    case ErrorKind::quota_exceeded: return "quota_exceeded";
    case ErrorKind::unavailable: return "unavailable";
    case ErrorKind::timeout: return "timeout";
    case ErrorKind::upstream: return "model_error";
    case ErrorKind::network: return "network_error";
    case ErrorKind::cancelled: return "cancelled";
    case ErrorKind::internal: return "internal_error";
  }
  return "internal_error";
}

}  // namespace ba
