#include <fmt/format.h>

#include <algorithm>

#include "descent/config.h"

namespace descent {

std::string closest_match(const std::string& word, const std::vector<std::string>& candidates) {
  auto distance = [](const std::string& a, const std::string& b) {
    std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
      cur[0] = i;
      for (size_t j = 1; j <= b.size(); ++j)
        cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
      std::swap(prev, cur);
    }
    return prev[b.size()];
  };
  std::string best;
  size_t best_d = 3;
  for (const auto& c : candidates) {
    size_t d = distance(word, c);
    if (d < best_d) best_d = d, best = c;
  }
  return best;
}

const ArgValue* Args::find(const std::string& key) const {
  used_.insert(key);
  auto it = values_.find(key);
  return it == values_.end() ? nullptr : &it->second;
}

void Args::type_error(const std::string& key, const char* expected) const {
  throw Error(fmt::format("{}: key '{}' must be {}", where_, key, expected));
}

namespace {
template <class T>
T missing(const std::string& where, const std::string& key, const std::optional<T>& def) {
  if (!def) throw Error(fmt::format("{}: missing key '{}'", where, key));
  return *def;
}
}  // namespace

int64_t Args::get_int(const std::string& key, std::optional<int64_t> def) const {
  const ArgValue* v = find(key);
  if (!v) return missing(where_, key, def);
  if (auto p = std::get_if<int64_t>(v)) return *p;
  type_error(key, "an integer");
}

double Args::get_double(const std::string& key, std::optional<double> def) const {
  const ArgValue* v = find(key);
  if (!v) return missing(where_, key, def);
  if (auto p = std::get_if<double>(v)) return *p;
  if (auto p = std::get_if<int64_t>(v)) return static_cast<double>(*p);
  type_error(key, "a number");
}

bool Args::get_bool(const std::string& key, std::optional<bool> def) const {
  const ArgValue* v = find(key);
  if (!v) return missing(where_, key, def);
  if (auto p = std::get_if<bool>(v)) return *p;
  type_error(key, "true or false");
}

std::string Args::get_string(const std::string& key, std::optional<std::string> def) const {
  const ArgValue* v = find(key);
  if (!v) return missing(where_, key, def);
  if (auto p = std::get_if<std::string>(v)) return *p;
  type_error(key, "a string");
}

std::vector<double> Args::get_doubles(const std::string& key, std::optional<std::vector<double>> def) const {
  const ArgValue* v = find(key);
  if (!v) return missing(where_, key, def);
  if (auto p = std::get_if<std::vector<double>>(v)) return *p;
  if (auto p = std::get_if<double>(v)) return {*p};
  if (auto p = std::get_if<int64_t>(v)) return {static_cast<double>(*p)};
  type_error(key, "a number or an array of numbers");
}

std::vector<int64_t> Args::get_ints(const std::string& key, std::optional<std::vector<int64_t>> def) const {
  const ArgValue* v = find(key);
  if (!v) return missing(where_, key, def);
  if (auto p = std::get_if<int64_t>(v)) return {*p};
  if (auto p = std::get_if<std::vector<double>>(v)) {
    std::vector<int64_t> out;
    for (double d : *p) {
      if (d != static_cast<double>(static_cast<int64_t>(d))) type_error(key, "an integer or an array of integers");
      out.push_back(static_cast<int64_t>(d));
    }
    return out;
  }
  type_error(key, "an integer or an array of integers");
}

std::vector<std::string> Args::get_strings(const std::string& key, std::optional<std::vector<std::string>> def) const {
  const ArgValue* v = find(key);
  if (!v) return missing(where_, key, def);
  if (auto p = std::get_if<std::vector<std::string>>(v)) return *p;
  if (auto p = std::get_if<std::string>(v)) return {*p};
  type_error(key, "a string or an array of strings");
}

std::vector<std::string> Args::keys() const {
  std::vector<std::string> k;
  for (const auto& [key, v] : values_) k.push_back(key);
  return k;
}

void Args::finish() const {
  std::vector<std::string> known(used_.begin(), used_.end());
  for (const auto& [key, v] : values_) {
    if (used_.count(key)) continue;
    std::string hint = closest_match(key, known);
    throw Error(fmt::format("{}: unknown key '{}'{}", where_, key, hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint)));
  }
}

}  // namespace descent
