#include "util/json_number.hpp"

#include <cmath>
#include <cstdint>

namespace ba {

boost::json::value json_number(double v) {
  constexpr double kExact = 9007199254740992.0;  // 2^53: every integer up to here is exact in a double
  if (std::isfinite(v) && std::trunc(v) == v && std::fabs(v) <= kExact) return static_cast<std::int64_t>(v);
  return v;
}

void whole_numbers_as_integers(boost::json::value& doc) {
  if (doc.is_double()) {
    doc = json_number(doc.get_double());
  } else if (doc.is_array()) {
    for (auto& v : doc.get_array()) whole_numbers_as_integers(v);
  } else if (doc.is_object()) {
    for (auto& m : doc.get_object()) whole_numbers_as_integers(m.value());
  }
}

}  // namespace ba
