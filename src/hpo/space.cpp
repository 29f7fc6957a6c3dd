// hpo/space.cpp — search-space checks, conditions, and value formatting.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "descent/error.h"
#include "descent/hpo.h"
#include "hpo/rng.h"
#include "hpo/space_util.h"

namespace descent::hpo {
namespace {

constexpr const char* kKindNames[] = {"uniform", "loguniform", "int", "categorical"};
static_assert(std::size(kKindNames) == static_cast<std::size_t>(ParamKind::Count));

constexpr const char* kStateNames[] = {"waiting", "running", "complete", "pruned", "failed"};
static_assert(std::size(kStateNames) == static_cast<std::size_t>(TrialState::Count));

bool is_integral(double x) { return std::isfinite(x) && x == std::floor(x); }

// Lattice membership with a tolerance: low + i * step is not exact in binary floating point.
bool on_lattice(double x, double low, double step) {
  const double i = std::round((x - low) / step);
  return std::abs(low + i * step - x) <= 1e-9 * std::max({1.0, std::abs(x), std::abs(step)});
}

void check_numeric(const ParamSpec& p, std::string_view where) {
  auto fail = [&](std::string_view field, const std::string& what) {
    throw Error(fmt::format("{}: {} {}", where, param_field(p.name, field), what));
  };
  if (!std::isfinite(p.low)) fail("low", "must be a finite number");
  if (!std::isfinite(p.high)) fail("high", "must be a finite number");
  if (!(p.low < p.high)) fail("low", fmt::format("must be less than high (got {} >= {})", p.low, p.high));
  if (!p.choices.empty()) fail("choices", "is only for type = \"categorical\"");
  switch (p.kind) {
    case ParamKind::Uniform:
      if (p.log) fail("log", "is only for type = \"int\"; use type = \"loguniform\"");
      if (!(p.step >= 0) || !std::isfinite(p.step)) fail("step", "must be a positive number");
      if (p.step > p.high - p.low) fail("step", fmt::format("must not exceed high - low = {}", p.high - p.low));
      break;
    case ParamKind::LogUniform:
      if (!(p.low > 0)) fail("low", fmt::format("must be positive for a log scale (got {})", p.low));
      if (p.step != 0) fail("step", "is not supported with a log scale");
      if (p.log) fail("log", "is implied by type = \"loguniform\"");
      break;
    case ParamKind::Int:
      if (!is_integral(p.low)) fail("low", fmt::format("must be an integer (got {})", p.low));
      if (!is_integral(p.high)) fail("high", fmt::format("must be an integer (got {})", p.high));
      if (!is_integral(p.step) || p.step < 1) fail("step", fmt::format("must be an integer >= 1 (got {})", p.step));
      if (p.step > p.high - p.low) fail("step", fmt::format("must not exceed high - low = {}", p.high - p.low));
      if (p.log && p.low < 1) fail("low", fmt::format("must be >= 1 with log = true (got {})", p.low));
      if (p.log && p.step != 1) fail("step", "must be 1 with log = true");
      break;
    default:
      break;
  }
}

void check_categorical(const ParamSpec& p, std::string_view where) {
  auto fail = [&](std::string_view field, const std::string& what) {
    throw Error(fmt::format("{}: {} {}", where, param_field(p.name, field), what));
  };
  if (p.choices.empty()) fail("choices", "must list at least one value");
  if (p.low != 0 || p.high != 0 || p.step != 0 || p.log)
    fail("", "low/high/step/log do not apply to a categorical parameter");
  for (std::size_t i = 0; i < p.choices.size(); ++i) {
    if (p.choices[i].index() != p.choices[0].index()) fail("choices", "must all have the same type");
    if (const double* d = std::get_if<double>(&p.choices[i]); d && !std::isfinite(*d))
      fail("choices", "must be finite numbers");
    for (std::size_t j = 0; j < i; ++j)
      if (p.choices[i] == p.choices[j]) fail("choices", fmt::format("lists {} twice", to_json(p.choices[i])));
  }
}

}  // namespace

std::string param_field(std::string_view param, std::string_view field) {
  std::string s = fmt::format("space.\"{}\"", param);
  if (!field.empty()) s += fmt::format(".{}", field);
  return s;
}

std::int64_t lattice_size(const ParamSpec& spec) {
  return static_cast<std::int64_t>(std::floor((spec.high - spec.low) / spec.step + 1e-9)) + 1;
}

Value lattice_value(const ParamSpec& spec, std::int64_t i) {
  if (spec.kind == ParamKind::Int)
    return static_cast<std::int64_t>(spec.low) + i * static_cast<std::int64_t>(spec.step);
  return std::min(spec.high, spec.low + static_cast<double>(i) * spec.step);
}

Value draw_random(const ParamSpec& spec, Rng& rng) {
  switch (spec.kind) {
    case ParamKind::Categorical:
      return spec.choices[rng.index(spec.choices.size())];
    case ParamKind::LogUniform:
      return std::clamp(std::exp(rng.uniform(std::log(spec.low), std::log(spec.high))), spec.low, spec.high);
    case ParamKind::Int:
      if (spec.log) {  // as Optuna: uniform in log space over [low - 0.5, high + 0.5], rounded
        const auto [lo, hi] = internal_bounds(spec);
        return from_internal(spec, rng.uniform(lo, hi));
      }
      return lattice_value(spec, static_cast<std::int64_t>(rng.index(lattice_size(spec))));
    case ParamKind::Uniform:
      if (spec.step > 0) return lattice_value(spec, static_cast<std::int64_t>(rng.index(lattice_size(spec))));
      return rng.uniform(spec.low, spec.high);
    default:
      throw Error("hpo: unknown parameter kind");
  }
}

std::pair<double, double> internal_bounds(const ParamSpec& spec) {
  const double half = spec.kind == ParamKind::LogUniform ? 0.0 : spec.step / 2;
  double lo = spec.low - half, hi = spec.high + half;
  if (spec.kind == ParamKind::Uniform && spec.step > 0)
    hi = spec.low + static_cast<double>(lattice_size(spec) - 1) * spec.step + half;
  if (spec.kind == ParamKind::Int && !spec.log)
    hi = spec.low + static_cast<double>(lattice_size(spec) - 1) * spec.step + half;
  if (is_log(spec)) return {std::log(lo), std::log(hi)};
  return {lo, hi};
}

double to_internal(const ParamSpec& spec, const Value& value) {
  double x = 0;
  if (const auto* i = std::get_if<std::int64_t>(&value))
    x = static_cast<double>(*i);
  else if (const auto* d = std::get_if<double>(&value))
    x = *d;
  else
    throw Error(fmt::format("hpo: parameter '{}' holds a non-numeric value", spec.name));
  return is_log(spec) ? std::log(x) : x;
}

Value from_internal(const ParamSpec& spec, double x) {
  if (is_log(spec)) x = std::exp(x);
  if (spec.kind == ParamKind::Int || (spec.kind == ParamKind::Uniform && spec.step > 0)) {
    const auto i = std::clamp<std::int64_t>(static_cast<std::int64_t>(std::llround((x - spec.low) / spec.step)), 0,
                                            lattice_size(spec) - 1);
    return lattice_value(spec, i);
  }
  return std::clamp(x, spec.low, spec.high);
}

int choice_index(const ParamSpec& spec, const Value& value) {
  for (std::size_t i = 0; i < spec.choices.size(); ++i)
    if (spec.choices[i] == value) return static_cast<int>(i);
  return -1;
}

void validate(const SearchSpace& space, std::string_view where) {
  if (space.params.empty()) throw Error(fmt::format("{}: [space] must define at least one parameter", where));
  std::set<std::string> names;
  for (const ParamSpec& p : space.params) {
    if (p.name.empty()) throw Error(fmt::format("{}: a parameter of [space] has an empty name", where));
    if (!names.insert(p.name).second) throw Error(fmt::format("{}: {} is defined twice", where, param_field(p.name)));
    if (p.kind == ParamKind::Categorical)
      check_categorical(p, where);
    else
      check_numeric(p, where);
  }
  for (const ParamSpec& p : space.params) {
    for (const Condition& c : p.conditions) {
      auto fail = [&](const std::string& what) {
        throw Error(fmt::format("{}: {} {}", where, param_field(p.name, "condition"), what));
      };
      if (c.param == p.name) fail("refers to the parameter itself");
      auto it =
          std::find_if(space.params.begin(), space.params.end(), [&](const ParamSpec& q) { return q.name == c.param; });
      if (it == space.params.end()) fail(fmt::format("refers to '{}', which is not a parameter of [space]", c.param));
      if (it->kind != ParamKind::Categorical && it->kind != ParamKind::Int)
        fail(fmt::format("refers to '{}', which is neither categorical nor int", c.param));
      if (c.values.empty()) fail(fmt::format("lists no value for '{}'", c.param));
      for (const Value& v : c.values)
        if (!contains(*it, v)) fail(fmt::format("value {} for '{}' is not in its domain", to_json(v), c.param));
    }
  }
}

void order_by_conditions(SearchSpace& space, std::string_view where) {
  // Stable topological order (Kahn): parameters keep their relative order unless a condition
  // forces one after another, so the order is a function of the file alone.
  std::vector<ParamSpec> rest = std::move(space.params), done;
  std::set<std::string> placed;
  while (!rest.empty()) {
    auto ready = std::find_if(rest.begin(), rest.end(), [&](const ParamSpec& p) {
      return std::all_of(p.conditions.begin(), p.conditions.end(),
                         [&](const Condition& c) { return placed.count(c.param) > 0; });
    });
    if (ready == rest.end()) {
      space.params = std::move(done);
      space.params.insert(space.params.end(), rest.begin(), rest.end());
      throw Error(fmt::format("{}: the conditions of {} form a cycle (or name an unknown parameter)", where,
                              param_field(rest.front().name, "condition")));
    }
    placed.insert(ready->name);
    done.push_back(std::move(*ready));
    rest.erase(ready);
  }
  space.params = std::move(done);
}

bool is_active(const ParamSpec& spec, const Params& params) {
  for (const Condition& c : spec.conditions) {
    auto it = params.find(c.param);
    if (it == params.end()) return false;  // the parent is itself inactive
    if (std::find(c.values.begin(), c.values.end(), it->second) == c.values.end()) return false;
  }
  return true;
}

bool contains(const ParamSpec& spec, const Value& value) {
  switch (spec.kind) {
    case ParamKind::Categorical:
      return choice_index(spec, value) >= 0;
    case ParamKind::Int: {
      const auto* i = std::get_if<std::int64_t>(&value);
      if (!i) return false;
      const double x = static_cast<double>(*i);
      return x >= spec.low && x <= spec.high &&
             (*i - static_cast<std::int64_t>(spec.low)) % static_cast<std::int64_t>(spec.step) == 0;
    }
    case ParamKind::Uniform:
    case ParamKind::LogUniform: {
      const auto* d = std::get_if<double>(&value);
      if (!d || !(*d >= spec.low && *d <= spec.high)) return false;
      return spec.step == 0 || on_lattice(*d, spec.low, spec.step);
    }
    default:
      return false;
  }
}

std::string format_value(const Value& value) {
  if (const auto* i = std::get_if<std::int64_t>(&value)) return fmt::format("{}", *i);
  if (const auto* b = std::get_if<bool>(&value)) return *b ? "true" : "false";
  if (const auto* s = std::get_if<std::string>(&value)) return *s;
  // Shortest text that reads back to the same double; keep a '.' or exponent so that TOML
  // reads a float, not an integer.
  std::string s = fmt::format("{}", std::get<double>(value));
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

std::string to_json(const Value& value) {
  if (const auto* s = std::get_if<std::string>(&value)) {
    std::string out = "\"";
    for (char c : *s) {
      if (c == '"' || c == '\\') out += '\\';
      if (static_cast<unsigned char>(c) < 0x20) {
        out += fmt::format("\\u{:04x}", c);
        continue;
      }
      out += c;
    }
    return out + "\"";
  }
  if (const auto* d = std::get_if<double>(&value); d && !std::isfinite(*d)) return "null";
  return format_value(value);
}

std::string signature(const SearchSpace& space) {
  std::string s;
  for (const ParamSpec& p : space.params) {
    s += fmt::format("{}:{}:{}:{}:{}:{}:[", p.name, kKindNames[static_cast<int>(p.kind)], p.low, p.high, p.step, p.log);
    for (const Value& v : p.choices) s += to_json(v) + ",";
    s += "]:{";
    for (const Condition& c : p.conditions) {
      s += c.param + "=";
      for (const Value& v : c.values) s += to_json(v) + ",";
    }
    s += "};";
  }
  return s;
}

std::string_view to_string(TrialState state) { return kStateNames[static_cast<int>(state)]; }

TrialState parse_trial_state(std::string_view name) {
  for (int i = 0; i < static_cast<int>(TrialState::Count); ++i)
    if (name == kStateNames[i]) return static_cast<TrialState>(i);
  throw Error(fmt::format("hpo: unknown trial state '{}'", name));
}

std::optional<int> Trial::last_step() const {
  if (intermediate.empty()) return std::nullopt;
  return intermediate.rbegin()->first;
}

}  // namespace descent::hpo
