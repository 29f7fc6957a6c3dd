// Doubles in JSON state files (checkpoints, the health monitor's state): finite values as JSON
// numbers — nlohmann prints enough digits to read back the same bits — and NaN and the
// infinities, which JSON cannot hold, as the strings "nan", "inf", "-inf".
#pragma once
#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>

#include "descent/error.h"

namespace descent::io {

inline nlohmann::json json_number(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return v;
}

/// The double json_number() wrote; `what` names the file kind in the error for anything else.
inline double number_from_json(const nlohmann::json& j, const char* what) {
  if (j.is_number()) return j.get<double>();
  const std::string s = j.is_string() ? j.get<std::string>() : j.dump();
  if (s == "nan") return std::numeric_limits<double>::quiet_NaN();
  if (s == "inf") return std::numeric_limits<double>::infinity();
  if (s == "-inf") return -std::numeric_limits<double>::infinity();
  throw Error(fmt::format("{}: '{}' is not a number", what, s));
}

}  // namespace descent::io
