// [schedule] → ScheduleSpec. Unknown keys are errors (a typo must not silently train with a
// default), checked before anything else so a misspelt required key is reported as the typo.
#include "sched/spec_toml.h"

#include <fmt/format.h>

#include <algorithm>

#include "descent/error.h"
#include "sched/check.h"
#include "sched/text.h"

namespace descent::sched {
namespace {

using Keys = std::vector<std::string>;

// "a string (\"0.1\")" — what the user wrote, for "must be X, got Y" messages.
std::string describe(const toml::node& n) {
  if (auto v = n.as_integer()) return fmt::format("an integer ({})", v->get());
  if (auto v = n.as_floating_point()) return fmt::format("a float ({})", v->get());
  if (auto v = n.as_string()) return fmt::format("a string (\"{}\")", v->get());
  if (auto v = n.as_boolean()) return fmt::format("a boolean ({})", v->get());
  if (n.is_array()) return "an array";
  if (n.is_table()) return "a table";
  return "a date/time";
}

// One table of the config: typed getters whose errors name the file, the table and the key.
class Section {
 public:
  Section(const toml::table& t, const std::string& where, std::string name)
      : table_(t), prefix_(fmt::format("{}: [{}]", where, name)) {}

  [[noreturn]] void fail(const std::string& what) const { throw Error(fmt::format("{} {}", prefix_, what)); }

  // Every key must be in `allowed`; `context` (" for type 'step'") explains a key that is valid
  // elsewhere but not here.
  void allow(const Keys& allowed, const std::string& context = "") const {
    for (auto&& [k, v] : table_) {
      const std::string key(k.str());
      if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
      if (auto guess = detail::closest(key, allowed))
        fail(fmt::format("unknown key '{}' (did you mean '{}'?)", key, *guess));
      fail(fmt::format("unknown key '{}'{} (valid keys: {})", key, context, detail::join(allowed)));
    }
  }

  const toml::node* get(const std::string& key) const { return table_.get(key); }

  std::optional<std::int64_t> integer(const std::string& key) const {
    const toml::node* n = get(key);
    if (!n) return std::nullopt;
    if (!n->is_integer()) fail(fmt::format("'{}' must be an integer, got {}", key, describe(*n)));
    return n->as_integer()->get();
  }

  // Float keys take integers too: `eta_min = 0` is what people write.
  std::optional<double> number(const std::string& key) const {
    const toml::node* n = get(key);
    if (!n) return std::nullopt;
    if (auto i = n->as_integer()) return static_cast<double>(i->get());
    if (!n->is_floating_point()) fail(fmt::format("'{}' must be a number, got {}", key, describe(*n)));
    return n->as_floating_point()->get();
  }

  std::optional<bool> boolean(const std::string& key) const {
    const toml::node* n = get(key);
    if (!n) return std::nullopt;
    if (!n->is_boolean()) fail(fmt::format("'{}' must be true or false, got {}", key, describe(*n)));
    return n->as_boolean()->get();
  }

  std::optional<std::string> string(const std::string& key) const {
    const toml::node* n = get(key);
    if (!n) return std::nullopt;
    if (!n->is_string()) fail(fmt::format("'{}' must be a string, got {}", key, describe(*n)));
    return n->as_string()->get();
  }

  std::optional<std::vector<std::int64_t>> integers(const std::string& key) const {
    const toml::node* n = get(key);
    if (!n) return std::nullopt;
    const toml::array* a = n->as_array();
    if (!a) fail(fmt::format("'{}' must be an array of integers, got {}", key, describe(*n)));
    std::vector<std::int64_t> out;
    for (const toml::node& e : *a) {
      if (!e.is_integer())
        fail(fmt::format("'{}' must be an array of integers, got an element that is {}", key, describe(e)));
      out.push_back(e.as_integer()->get());
    }
    return out;
  }

  // One of `names` (a string key); returns its index, or nullopt when the key is absent.
  std::optional<std::size_t> choice(const std::string& key, const Keys& names) const {
    auto s = string(key);
    if (!s) return std::nullopt;
    auto it = std::find(names.begin(), names.end(), *s);
    if (it == names.end()) {
      std::string options;
      for (const auto& n : names) options += fmt::format("{}\"{}\"", options.empty() ? "" : " or ", n);
      fail(fmt::format("'{}' must be {}, got \"{}\"", key, options, *s));
    }
    return static_cast<std::size_t>(it - names.begin());
  }

  template <class T>
  T required(std::optional<T> v, const std::string& key, const std::string& context = "") const {
    if (!v) fail(fmt::format("missing key '{}'{}", key, context));
    return *v;
  }

 private:
  const toml::table& table_;
  std::string prefix_;
};

LinearLR parse_linear(const Section& s, LinearLR out, bool total_required, const std::string& context) {
  if (auto v = s.number("start_factor")) out.start_factor = *v;
  if (auto v = s.number("end_factor")) out.end_factor = *v;
  auto total = s.integer("total_iters");
  out.total_iters = total_required ? s.required(total, "total_iters", context) : total.value_or(out.total_iters);
  return out;
}

// The keys each main type takes, besides `type`.
Keys main_keys(std::string_view type) {
  if (type == "constant") return {"factor", "total_iters"};
  if (type == "step") return {"step_size", "gamma"};
  if (type == "multistep") return {"milestones", "gamma"};
  if (type == "exponential") return {"gamma"};
  if (type == "polynomial") return {"total_iters", "power"};
  if (type == "linear") return {"start_factor", "end_factor", "total_iters"};
  if (type == "cosine") return {"T_max", "eta_min"};
  if (type == "cosine_warm_restarts") return {"T_0", "T_mult", "eta_min"};
  return {"max_lr", "total_steps", "pct_start", "anneal_strategy", "cycle_momentum", "base_momentum",
          "max_momentum", "div_factor", "final_div_factor"};  // one_cycle
}

MainSchedule parse_main(const Section& s) {
  Keys types(detail::kMainTypeNames.begin(), detail::kMainTypeNames.end());
  if (!s.get("type")) {
    // A misspelt `type` shows up as an unknown key among all the keys any type takes.
    Keys all{"type"};
    for (auto t : detail::kMainTypeNames)
      for (auto& k : main_keys(t))
        if (std::find(all.begin(), all.end(), k) == all.end()) all.push_back(k);
    s.allow(all);
    s.fail(fmt::format("missing key 'type' (one of: {})", detail::join(types)));
  }
  const std::string type = s.string("type").value();
  if (std::find(types.begin(), types.end(), type) == types.end()) {
    if (auto guess = detail::closest(type, types))
      s.fail(fmt::format("unknown type '{}' (did you mean '{}'?)", type, *guess));
    s.fail(fmt::format("unknown type '{}' (one of: {})", type, detail::join(types)));
  }
  Keys allowed = main_keys(type);
  allowed.insert(allowed.begin(), "type");
  s.allow(allowed, fmt::format(" for type '{}'", type));
  const std::string req = fmt::format(" (required for type '{}')", type);

  if (type == "constant") {
    ConstantLR m;
    if (auto v = s.number("factor")) m.factor = *v;
    if (auto v = s.integer("total_iters")) m.total_iters = *v;
    return m;
  }
  if (type == "step") {
    StepLR m;
    m.step_size = s.required(s.integer("step_size"), "step_size", req);
    if (auto v = s.number("gamma")) m.gamma = *v;
    return m;
  }
  if (type == "multistep") {
    MultiStepLR m;
    m.milestones = s.required(s.integers("milestones"), "milestones", req);
    if (auto v = s.number("gamma")) m.gamma = *v;
    return m;
  }
  if (type == "exponential") {
    return ExponentialLR{.gamma = s.required(s.number("gamma"), "gamma", req)};
  }
  if (type == "polynomial") {
    PolynomialLR m;
    if (auto v = s.integer("total_iters")) m.total_iters = *v;
    if (auto v = s.number("power")) m.power = *v;
    return m;
  }
  if (type == "linear") {
    return parse_linear(s, LinearLR{}, false, req);
  }
  if (type == "cosine") {
    CosineAnnealingLR m;
    if (auto v = s.integer("T_max")) m.t_max = *v;
    if (auto v = s.number("eta_min")) m.eta_min = *v;
    return m;
  }
  if (type == "cosine_warm_restarts") {
    CosineAnnealingWarmRestarts m;
    m.t_0 = s.required(s.integer("T_0"), "T_0", req);
    if (auto v = s.integer("T_mult")) m.t_mult = *v;
    if (auto v = s.number("eta_min")) m.eta_min = *v;
    return m;
  }
  OneCycleLR m;
  m.max_lr = s.number("max_lr");
  if (auto v = s.integer("total_steps")) m.total_steps = *v;
  if (auto v = s.number("pct_start")) m.pct_start = *v;
  if (auto v = s.choice("anneal_strategy", {"cos", "linear"})) m.anneal_strategy = *v == 0 ? Anneal::Cos : Anneal::Linear;
  if (auto v = s.boolean("cycle_momentum")) m.cycle_momentum = *v;
  if (auto v = s.number("base_momentum")) m.base_momentum = *v;
  if (auto v = s.number("max_momentum")) m.max_momentum = *v;
  if (auto v = s.number("div_factor")) m.div_factor = *v;
  if (auto v = s.number("final_div_factor")) m.final_div_factor = *v;
  return m;
}

ReduceLROnPlateau parse_plateau(const Section& s) {
  s.allow({"metric", "mode", "factor", "patience", "threshold", "threshold_mode", "cooldown", "min_lr", "eps"});
  ReduceLROnPlateau p;
  if (auto v = s.string("metric")) p.metric = *v;
  if (auto v = s.choice("mode", {"min", "max"})) p.mode = *v == 0 ? PlateauMode::Min : PlateauMode::Max;
  if (auto v = s.number("factor")) p.factor = *v;
  if (auto v = s.integer("patience")) p.patience = *v;
  if (auto v = s.number("threshold")) p.threshold = *v;
  if (auto v = s.choice("threshold_mode", {"rel", "abs"}))
    p.threshold_mode = *v == 0 ? ThresholdMode::Rel : ThresholdMode::Abs;
  if (auto v = s.integer("cooldown")) p.cooldown = *v;
  if (auto v = s.number("min_lr")) p.min_lr = *v;
  if (auto v = s.number("eps")) p.eps = *v;
  return p;
}

}  // namespace

ScheduleSpec parse_schedule_spec(const toml::table& schedule_table, const std::string& where) {
  const Section top(schedule_table, where, "schedule");
  top.allow({"granularity", "warmup", "main", "plateau"});
  // A part may be an inline table or a [schedule.<part>] header; both arrive as tables.
  auto part = [&](const std::string& key) -> std::optional<Section> {
    const toml::node* n = top.get(key);
    if (!n) return std::nullopt;
    if (!n->is_table()) top.fail(fmt::format("'{}' must be a table, got {}", key, describe(*n)));
    return Section(*n->as_table(), where, fmt::format("schedule.{}", key));
  };

  ScheduleSpec spec;
  if (auto g = top.choice("granularity", {"step", "epoch"}))
    spec.granularity = *g == 0 ? Granularity::Step : Granularity::Epoch;
  if (auto s = part("warmup")) {
    s->allow({"start_factor", "end_factor", "total_iters"});
    spec.warmup = parse_linear(*s, LinearLR{}, true, "");
  }
  if (auto s = part("main")) spec.main = parse_main(*s);
  if (auto s = part("plateau")) spec.plateau = parse_plateau(*s);
  detail::check_spec(spec, where);
  return spec;
}

ScheduleSpec parse_schedule_spec(const std::string& schedule_toml, const std::string& where) {
  toml::table table;
  try {
    table = toml::parse(schedule_toml, where);
  } catch (const toml::parse_error& e) {
    throw Error(fmt::format("{}: [schedule] is not valid TOML: {}", where, e.description()));
  }
  return parse_schedule_spec(table, where);
}

}  // namespace descent::sched
