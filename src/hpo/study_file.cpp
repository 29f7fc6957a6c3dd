// hpo/study_file.cpp — reading a study file (TOML) into a Study, strictly.
//
// Every key is checked: an unknown key, a wrong type or a bad range throws descent::Error with
// one line naming the file and the field, because a typo in a study silently searches the
// wrong thing for hours.
#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "descent/error.h"
#include "descent/hpo.h"
#include "hpo/space_util.h"

namespace descent::hpo {
namespace {

std::string_view type_name(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    default:
      return "a date/time";
  }
}

// Reads typed fields of one table and reports errors as "<file>: <field> <problem>".
class Reader {
 public:
  Reader(std::string file, const toml::table& table, std::string prefix)
      : file_(std::move(file)), table_(table), prefix_(std::move(prefix)) {}

  std::string field(std::string_view key) const {
    return prefix_.empty() ? std::string(key) : fmt::format("{}.{}", prefix_, key);
  }
  [[noreturn]] void fail(std::string_view key, const std::string& problem) const {
    throw Error(fmt::format("{}: {} {}", file_, field(key), problem));
  }
  const toml::node* node(std::string_view key) const { return table_.get(key); }

  void allow_only(std::initializer_list<std::string_view> keys) const {
    for (auto&& [k, v] : table_) {
      if (std::find(keys.begin(), keys.end(), k.str()) == keys.end()) {
        std::string list;
        for (std::string_view a : keys) list += (list.empty() ? "" : ", ") + std::string(a);
        throw Error(fmt::format("{}: unknown field {} (expected one of: {})", file_, field(k.str()), list));
      }
    }
  }
  std::optional<std::string> string(std::string_view key) const {
    const toml::node* n = node(key);
    if (!n) return std::nullopt;
    if (!n->is_string()) fail(key, fmt::format("must be a string, got {}", type_name(*n)));
    return n->as_string()->get();
  }
  std::optional<std::int64_t> integer(std::string_view key, std::int64_t min) const {
    const toml::node* n = node(key);
    if (!n) return std::nullopt;
    if (!n->is_integer()) fail(key, fmt::format("must be an integer, got {}", type_name(*n)));
    const std::int64_t v = n->as_integer()->get();
    if (v < min) fail(key, fmt::format("must be >= {} (got {})", min, v));
    if (v > INT32_MAX) fail(key, fmt::format("is too large (got {})", v));
    return v;
  }
  std::optional<double> number(std::string_view key) const {
    const toml::node* n = node(key);
    if (!n) return std::nullopt;
    if (n->is_integer()) return static_cast<double>(n->as_integer()->get());
    if (!n->is_floating_point()) fail(key, fmt::format("must be a number, got {}", type_name(*n)));
    const double v = n->as_floating_point()->get();
    if (!std::isfinite(v)) fail(key, "must be a finite number");
    return v;
  }
  std::optional<double> positive(std::string_view key) const {
    auto v = number(key);
    if (v && !(*v > 0)) fail(key, fmt::format("must be positive (got {})", *v));
    return v;
  }
  std::optional<bool> boolean(std::string_view key) const {
    const toml::node* n = node(key);
    if (!n) return std::nullopt;
    if (!n->is_boolean()) fail(key, fmt::format("must be true or false, got {}", type_name(*n)));
    return n->as_boolean()->get();
  }
  template <class T>
  void set(T& out, std::optional<std::int64_t> v) const {
    if (v) out = static_cast<T>(*v);
  }

  const std::string& file() const { return file_; }

 private:
  std::string file_;
  const toml::table& table_;
  std::string prefix_;
};

std::optional<Value> scalar(const toml::node& n) {
  if (auto v = n.value<std::int64_t>(); v && n.is_integer()) return Value{*v};
  if (n.is_floating_point()) return Value{n.as_floating_point()->get()};
  if (n.is_string()) return Value{n.as_string()->get()};
  if (n.is_boolean()) return Value{n.as_boolean()->get()};
  return std::nullopt;
}

// A sampler or pruner is `key = "name"` or a table `[key]` with `type = "name"` and options.
std::pair<std::string, const toml::table*> kind_and_options(const toml::table& root, std::string_view key,
                                                            const std::string& file, std::string_view fallback) {
  const toml::node* n = root.get(key);
  if (!n) return {std::string(fallback), nullptr};
  if (n->is_string()) return {n->as_string()->get(), nullptr};
  if (!n->is_table())
    throw Error(fmt::format("{}: {} must be a string or a table with 'type', got {}", file, key, type_name(*n)));
  const toml::node* type = n->as_table()->get("type");
  if (!type || !type->is_string()) throw Error(fmt::format("{}: {}.type must be a string", file, key));
  return {type->as_string()->get(), n->as_table()};
}

SamplerConfig read_sampler(const toml::table& root, const std::string& file) {
  auto [kind, table] = kind_and_options(root, "sampler", file, "tpe");
  static const toml::table kEmpty;
  Reader r(file, table ? *table : kEmpty, "sampler");
  if (kind == "grid") {
    r.allow_only({"type", "points"});
    GridOptions o;
    r.set(o.points, r.integer("points", 2));
    return o;
  }
  if (kind == "random") {
    r.allow_only({"type"});
    return RandomOptions{};
  }
  if (kind == "tpe") {
    r.allow_only({"type", "n_startup_trials", "n_ei_candidates", "gamma", "prior_weight"});
    TpeOptions o;
    r.set(o.n_startup_trials, r.integer("n_startup_trials", 0));
    r.set(o.n_ei_candidates, r.integer("n_ei_candidates", 1));
    if (auto g = r.positive("gamma")) {
      if (*g > 1) r.fail("gamma", fmt::format("must be in (0, 1] (got {})", *g));
      o.gamma = *g;
    }
    if (auto w = r.positive("prior_weight")) o.prior_weight = *w;
    return o;
  }
  throw Error(fmt::format("{}: sampler must be \"grid\", \"random\" or \"tpe\" (got \"{}\")", file, kind));
}

PrunerConfig read_pruner(const toml::table& root, const std::string& file) {
  auto [kind, table] = kind_and_options(root, "pruner", file, "none");
  static const toml::table kEmpty;
  Reader r(file, table ? *table : kEmpty, "pruner");
  if (kind == "none") {
    r.allow_only({"type"});
    return NoPruning{};
  }
  if (kind == "median") {
    r.allow_only({"type", "n_startup_trials", "n_warmup_steps", "interval_steps", "n_min_trials", "percentile"});
    MedianOptions o;
    r.set(o.n_startup_trials, r.integer("n_startup_trials", 0));
    r.set(o.n_warmup_steps, r.integer("n_warmup_steps", 0));
    r.set(o.interval_steps, r.integer("interval_steps", 1));
    r.set(o.n_min_trials, r.integer("n_min_trials", 1));
    if (auto p = r.number("percentile")) {
      if (*p < 0 || *p > 100) r.fail("percentile", fmt::format("must be in [0, 100] (got {})", *p));
      o.percentile = *p;
    }
    return o;
  }
  if (kind == "asha") {
    r.allow_only({"type", "min_resource", "reduction_factor", "min_early_stopping_rate", "bootstrap_count"});
    AshaOptions o;
    r.set(o.min_resource, r.integer("min_resource", 1));
    r.set(o.reduction_factor, r.integer("reduction_factor", 2));
    r.set(o.min_early_stopping_rate, r.integer("min_early_stopping_rate", 0));
    r.set(o.bootstrap_count, r.integer("bootstrap_count", 0));
    return o;
  }
  if (kind == "hyperband") {
    r.allow_only({"type", "min_resource", "max_resource", "reduction_factor", "bootstrap_count"});
    HyperbandOptions o;
    r.set(o.min_resource, r.integer("min_resource", 1));
    r.set(o.reduction_factor, r.integer("reduction_factor", 2));
    r.set(o.bootstrap_count, r.integer("bootstrap_count", 0));
    auto max = r.integer("max_resource", 1);
    if (!max) r.fail("max_resource", "is required for hyperband (the steps of a full trial, e.g. epochs)");
    if (*max <= o.min_resource)
      r.fail("max_resource", fmt::format("must be greater than min_resource = {} (got {})", o.min_resource, *max));
    o.max_resource = static_cast<int>(*max);
    return o;
  }
  throw Error(
      fmt::format("{}: pruner must be \"none\", \"median\", \"asha\" or \"hyperband\" (got \"{}\")", file, kind));
}

// condition = { "optimizer.type" = "sgd" } or { "optimizer.type" = ["sgd", "rmsprop"] };
// nested tables ({ optimizer = { type = "sgd" } }) are read as dotted names.
void read_conditions(const toml::table& t, const std::string& prefix, const std::string& file, const std::string& field,
                     std::vector<Condition>& out) {
  for (auto&& [k, n] : t) {
    const std::string name = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    if (const toml::table* sub = n.as_table()) {
      read_conditions(*sub, name, file, field, out);
      continue;
    }
    Condition c{.param = name, .values = {}};
    auto add = [&](const toml::node& v) {
      auto value = scalar(v);
      if (!value)
        throw Error(fmt::format("{}: {}.\"{}\" must be a value or an array of values, got {}", file, field, name,
                                type_name(v)));
      c.values.push_back(*value);
    };
    if (const toml::array* a = n.as_array()) {
      for (const toml::node& v : *a) add(v);
    } else {
      add(n);
    }
    out.push_back(std::move(c));
  }
}

ParamSpec read_param(const std::string& name, const toml::table& t, const std::string& file) {
  Reader r(file, t, param_field(name));
  ParamSpec p{.name = name};
  const std::string type = r.string("type").value_or("");
  if (type == "uniform") {
    r.allow_only({"type", "low", "high", "step", "condition"});
    p.kind = ParamKind::Uniform;
    if (auto s = r.positive("step")) p.step = *s;
  } else if (type == "loguniform") {
    r.allow_only({"type", "low", "high", "condition"});
    p.kind = ParamKind::LogUniform;
  } else if (type == "int") {
    r.allow_only({"type", "low", "high", "step", "log", "condition"});
    p.kind = ParamKind::Int;
    p.step = static_cast<double>(r.integer("step", 1).value_or(1));
    p.log = r.boolean("log").value_or(false);
  } else if (type == "categorical") {
    r.allow_only({"type", "choices", "condition"});
    p.kind = ParamKind::Categorical;
    const toml::node* n = r.node("choices");
    if (!n) r.fail("choices", "is required for type = \"categorical\"");
    if (!n->is_array()) r.fail("choices", fmt::format("must be an array, got {}", type_name(*n)));
    for (const toml::node& v : *n->as_array()) {
      auto value = scalar(v);
      if (!value) r.fail("choices", fmt::format("must hold numbers, strings or booleans, got {}", type_name(v)));
      p.choices.push_back(*value);
    }
  } else {
    r.fail("type", fmt::format("must be \"uniform\", \"loguniform\", \"int\" or \"categorical\" (got \"{}\")", type));
  }
  if (p.kind == ParamKind::Int) {
    for (std::string_view key : {"low", "high"}) {
      const toml::node* n = r.node(key);
      if (n && !n->is_integer()) r.fail(key, fmt::format("must be an integer, got {}", type_name(*n)));
    }
  }
  if (p.kind != ParamKind::Categorical) {
    auto low = r.number("low"), high = r.number("high");
    if (!low) r.fail("low", "is required");
    if (!high) r.fail("high", "is required");
    p.low = *low;
    p.high = *high;
  }
  if (const toml::node* c = r.node("condition")) {
    if (!c->is_table())
      r.fail("condition",
             fmt::format("must be a table like {{ \"optimizer.type\" = \"sgd\" }}, got {}", type_name(*c)));
    read_conditions(*c->as_table(), "", file, r.field("condition"), p.conditions);
    if (p.conditions.empty()) r.fail("condition", "is empty");
  }
  return p;
}

// [space] maps names to parameter tables; a table without `type` whose entries are all tables
// is a namespace ([space.optimizer] lr = {...} defines "optimizer.lr").
void read_space(const toml::table& t, const std::string& prefix, const std::string& file, SearchSpace& space) {
  for (auto&& [k, n] : t) {
    const std::string name = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    const toml::table* sub = n.as_table();
    if (!sub)
      throw Error(fmt::format("{}: {} must be a table like {{ type = \"uniform\", low = 0.0, high = 1.0 }}, got {}",
                              file, param_field(name), type_name(n)));
    const bool is_namespace = !sub->contains("type") && !sub->empty() &&
                              std::all_of(sub->begin(), sub->end(), [](auto&& kv) { return kv.second.is_table(); });
    if (is_namespace)
      read_space(*sub, name, file, space);
    else if (!sub->contains("type"))
      throw Error(
          fmt::format("{}: {} is required (uniform, loguniform, int or categorical)", file, param_field(name, "type")));
    else
      space.params.push_back(read_param(name, *sub, file));
  }
}

// [set] maps config keys to values; nested tables are read as dotted names, as in [space].
void read_fixed(const toml::table& t, const std::string& prefix, const std::string& file, Params& out) {
  for (auto&& [k, n] : t) {
    const std::string name = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    if (const toml::table* sub = n.as_table()) {
      read_fixed(*sub, name, file, out);
      continue;
    }
    auto value = scalar(n);
    if (!value)
      throw Error(fmt::format("{}: set.\"{}\" must be a number, string or boolean, got {}", file, name, type_name(n)));
    out[name] = *value;
  }
}

}  // namespace

Study parse_study(std::string_view text, const std::filesystem::path& file) {
  const std::string where = file.string();
  toml::table root;
  try {
    root = toml::parse(text, where);
  } catch (const toml::parse_error& e) {
    throw Error(fmt::format("{}:{}:{}: {}", where, e.source().begin.line, e.source().begin.column, e.description()));
  }
  Reader r(where, root, "");
  r.allow_only({"name", "base", "command", "metric", "direction", "trials", "timeout", "trial_timeout",
                "threads_per_trial", "seed", "sampler", "pruner", "space", "set"});
  Study s;
  s.file = file;
  s.text = text;
  s.name = r.string("name").value_or(file.stem().string());
  if (r.node("name") &&
      (s.name.empty() || s.name.find_first_not_of(
                             "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != std::string::npos))
    r.fail("name",
           fmt::format("must be letters, digits, '.', '_' or '-' (it names the study folder), got \"{}\"", s.name));
  if (s.name.empty()) s.name = "study";

  if (const toml::node* base = r.node("base")) {
    if (base->is_string()) {
      std::filesystem::path p = base->as_string()->get();
      if (p.empty()) r.fail("base", "must not be empty");
      s.base = p.is_relative() ? file.parent_path() / p : p;
    } else if (base->is_table()) {
      std::ostringstream out;
      out << *base->as_table();
      s.base_inline = out.str();
    } else {
      r.fail("base", fmt::format("must be a config path or an inline table, got {}", type_name(*base)));
    }
  }
  if (const toml::node* cmd = r.node("command")) {
    if (!cmd->is_array() || cmd->as_array()->empty()) r.fail("command", "must be a non-empty array of strings");
    for (const toml::node& a : *cmd->as_array()) {
      if (!a.is_string()) r.fail("command", fmt::format("must hold strings only, got {}", type_name(a)));
      s.command.push_back(a.as_string()->get());
    }
    if (r.node("base"))
      r.fail("command", "cannot be combined with 'base': a trial is either a descent config or a program");
  }
  s.metric = r.string("metric").value_or("");
  if (s.metric.empty() && r.node("base"))
    r.fail("metric", "is required: the metrics.jsonl key to optimize, e.g. \"val_acc\"");
  const auto direction = r.string("direction");
  if (!direction) r.fail("direction", "is required: \"minimize\" or \"maximize\"");
  if (*direction == "minimize")
    s.direction = Direction::Minimize;
  else if (*direction == "maximize")
    s.direction = Direction::Maximize;
  else
    r.fail("direction", fmt::format("must be \"minimize\" or \"maximize\" (got \"{}\")", *direction));

  r.set(s.trials, r.integer("trials", 1));
  s.timeout = r.positive("timeout").value_or(0);
  s.trial_timeout = r.positive("trial_timeout").value_or(0);
  r.set(s.threads_per_trial, r.integer("threads_per_trial", 1));
  r.set(s.seed, r.integer("seed", 0));

  s.sampler = read_sampler(root, where);
  std::visit([&](auto& o) { o.seed = s.seed; }, s.sampler);
  s.pruner = read_pruner(root, where);
  if (s.trials == 0 && s.timeout == 0 && !std::holds_alternative<GridOptions>(s.sampler))
    r.fail("trials", "or 'timeout' (seconds) is required: the budget of the study");

  const toml::node* space = r.node("space");
  if (!space) r.fail("space", "is required: the parameters to search");
  if (!space->is_table()) r.fail("space", fmt::format("must be a table, got {}", type_name(*space)));
  read_space(*space->as_table(), "", where, s.space);
  validate(s.space, where);
  order_by_conditions(s.space, where);

  if (const toml::node* set = r.node("set")) {
    if (!set->is_table()) r.fail("set", fmt::format("must be a table of config keys, got {}", type_name(*set)));
    if (!s.command.empty())
      r.fail("set", "is for descent trials (base); a program gets fixed values in its command instead");
    read_fixed(*set->as_table(), "", where, s.fixed);
    for (const ParamSpec& p : s.space.params)
      if (s.fixed.count(p.name))
        throw Error(
            fmt::format("{}: set.\"{}\" is also a parameter of [space]; keep it in one of them", where, p.name));
  }
  return s;
}

Study load_study(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error(fmt::format("{}: cannot open the study file", file.string()));
  std::ostringstream text;
  text << in.rdbuf();
  return parse_study(text.str(), file);
}

}  // namespace descent::hpo
