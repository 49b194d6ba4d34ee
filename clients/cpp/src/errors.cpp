// Value checks shared by everything the client sends (mirrors iroko_gym.remote.protocol.check_values).
#include "iroko/errors.hpp"

#include <cmath>

#include "json.hpp"

namespace iroko {

namespace {

// As Python's repr shows the values that matter here: nan, inf, -inf, else the JSON digits.
std::string show(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return json::number(v);
}

[[noreturn]] void refuse(const std::string& where, double v) {
  throw MalformedMessage(where + "=" + show(v) +
                         ": values must be finite and within [-1e+09, 1e+09]; scale them (or fix the NaN/inf "
                         "at its source)");
}

bool bad(double v) { return !(v >= -kMaxMagnitude && v <= kMaxMagnitude); }  // NaN compares false

}  // namespace

void check_values(const std::string& field, const float* values, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    if (bad(values[i])) refuse(field + "[" + std::to_string(i) + "]", values[i]);
  }
}

void check_value(const std::string& field, double value) {
  // Worded as iroko_gym.validate.check_real, which the Python client uses for one value.
  if (bad(value)) {
    throw MalformedMessage(field + "=" + show(value) + ": must be a finite number in [-1000000000.0, 1000000000.0]");
  }
}

}  // namespace iroko
