// hpo/trial_output.cpp — tailing trial output and reading its lines.
#include "hpo/trial_output.h"

#include <fmt/format.h>

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <utility>

namespace descent::hpo {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// A JSON metric value as a double: numbers as they are; null and strings ("nan", "inf" as some
// writers print non-finite floats) as NaN.
std::optional<double> as_number(const nlohmann::json& v) {
  if (v.is_number()) return v.get<double>();
  if (v.is_null() || v.is_string()) return kNaN;
  return std::nullopt;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// The whole of `s` as a double (strtod also reads "nan" and "inf").
std::optional<double> parse_double(std::string_view s) {
  const std::string text(trim(s));
  if (text.empty()) return std::nullopt;
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size()) return std::nullopt;
  return v;
}

}  // namespace

std::vector<std::string> LineTail::read(bool flush) {
  std::ifstream in(file_, std::ios::binary);
  std::vector<std::string> lines;
  if (in) {
    in.seekg(static_cast<std::streamoff>(offset_));
    std::string chunk((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    offset_ += chunk.size();
    partial_ += chunk;
  }
  std::size_t start = 0;
  for (std::size_t nl; (nl = partial_.find('\n', start)) != std::string::npos; start = nl + 1)
    lines.push_back(partial_.substr(start, nl - start));
  partial_.erase(0, start);
  if (flush && !partial_.empty()) lines.push_back(std::exchange(partial_, {}));
  return lines;
}

LineReport parse_metrics_line(std::string_view line, std::string_view metric, int line_number) {
  LineReport report;
  if (trim(line).empty()) return report;
  const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) {
    report.error = fmt::format("metrics.jsonl line {} is not a JSON object", line_number);
    return report;
  }
  report.step = line_number;
  if (auto e = j.find("epoch"); e != j.end() && e->is_number_integer()) report.step = e->get<int>();
  if (auto h = j.find("health"); h != j.end() && h->is_string()) {
    const std::string health = h->get<std::string>();
    if (health == "dead" || health == "diverged")
      report.stop = fmt::format("health monitor: {} at step {}", health, *report.step);
  }
  for (const auto& [key, v] : j.items()) {
    if (key != "loss" && !ends_with(key, "_loss")) continue;
    const auto x = as_number(v);
    if (x && !std::isfinite(*x) && report.stop.empty())
      report.stop = fmt::format("{} is not finite at step {}", key, *report.step);
  }
  if (auto m = j.find(std::string(metric)); m != j.end()) {
    const auto x = as_number(*m);
    if (x) report.value = std::isfinite(*x) ? *x : kNaN;
  }
  return report;
}

LineReport parse_program_line(std::string_view line) {
  LineReport report;
  const std::string_view t = trim(line);
  constexpr std::string_view kTag = "intermediate";
  if (t.substr(0, kTag.size()) == kTag && t.size() > kTag.size() &&
      std::isspace(static_cast<unsigned char>(t[kTag.size()]))) {
    std::string_view rest = trim(t.substr(kTag.size()));
    const std::size_t space = rest.find_first_of(" \t");
    if (space == std::string_view::npos) return report;
    const auto step = parse_double(rest.substr(0, space));
    const auto value = parse_double(rest.substr(space));
    if (step && value && *step == std::floor(*step) && *step >= 0 && *step < 1e9) {
      report.step = static_cast<int>(*step);
      report.value = std::isfinite(*value) ? *value : kNaN;
    }
    return report;
  }
  report.objective = parse_double(t);
  return report;
}

}  // namespace descent::hpo
