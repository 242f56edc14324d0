#pragma once
// Numbers for people in boost::json documents. boost::json writes every double in exponent form
// (50.0 as 5E1, 100.0 as 1E2); a whole number stored as an integer reads 50 and 100. For documents
// people read (the start-up log line, /health, benchmark results); documents built on every request use
// JsonWriter (util/json_writer.hpp), which writes doubles as the shortest round-trip decimal.
#include <boost/json/value.hpp>

namespace ba {

// A whole number within ±2^53 as an integer, anything else (fractions, NaN, infinities) as the double.
boost::json::value json_number(double v);

// json_number applied to every double in the document, in place.
void whole_numbers_as_integers(boost::json::value& doc);

}  // namespace ba
