// TOML → Config: apply `--set` overrides to the parsed table, then read every section with
// typed getters, rejecting unknown sections and keys with the file, the section and a hint.
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <toml++/toml.h>

#include "descent/config.h"

namespace descent {
namespace {

const std::vector<std::string> kSections = {"data",     "model",      "loss",           "optimizer",      "schedule",
                                            "train",    "checkpoint", "health",         "early_stopping", "regularization",
                                            "distributed", "augment"};

std::string node_where(const std::string& file, const std::string& section) {
  return fmt::format("{}: [{}]", file, section);
}

// A TOML node as an Args value; nested tables are not allowed inside an item.
ArgValue to_arg(const toml::node& n, const std::string& where, const std::string& key) {
  if (auto v = n.as_boolean()) return v->get();
  if (auto v = n.as_integer()) return v->get();
  if (auto v = n.as_floating_point()) return v->get();
  if (auto v = n.as_string()) return v->get();
  if (auto arr = n.as_array()) {
    if (arr->empty()) return std::vector<double>{};
    if (arr->front().is_string()) {
      std::vector<std::string> out;
      for (const auto& e : *arr) {
        if (!e.is_string()) throw Error(fmt::format("{}: key '{}' mixes strings and other values", where, key));
        out.push_back(e.as_string()->get());
      }
      return out;
    }
    std::vector<double> out;
    for (const auto& e : *arr) {
      if (auto i = e.as_integer()) out.push_back(static_cast<double>(i->get()));
      else if (auto f = e.as_floating_point()) out.push_back(f->get());
      else throw Error(fmt::format("{}: key '{}' must be an array of numbers or of strings", where, key));
    }
    return out;
  }
  throw Error(fmt::format("{}: key '{}' has an unsupported value (nested table)", where, key));
}

Args table_to_args(const toml::table& t, const std::string& where) {
  Args a(where);
  for (const auto& [k, v] : t) a.set(std::string(k.str()), to_arg(v, where, std::string(k.str())));
  return a;
}

// [optimizer]: like any item, except that `groups` may be torch's list of parameter groups,
// `groups = [{ params = "0.*", lr = 0.01, weight_decay = 0.0 }, ...]`; it becomes the flat form
// the optimizer factory reads (`groups` globs, `group_lr`, `group_weight_decay`, nan = unset).
Args optimizer_args(const toml::table& t, const std::string& where) {
  const toml::array* groups = t.get_as<toml::array>("groups");
  if (!groups || groups->empty() || !groups->front().is_table()) return table_to_args(t, where);
  toml::table rest = t;
  rest.erase("groups");
  Args a = table_to_args(rest, where);
  if (a.has("group_lr") || a.has("group_weight_decay"))
    throw Error(fmt::format("{}: with groups as tables, give lr and weight_decay inside each group, not as group_lr/"
                            "group_weight_decay", where));
  std::vector<std::string> globs;
  std::vector<double> lrs, wds;
  bool any_lr = false, any_wd = false;
  const double unset = std::numeric_limits<double>::quiet_NaN();
  for (size_t i = 0; i < groups->size(); ++i) {
    const std::string gw = fmt::format("{} groups[{}]", where, i);
    const toml::table* g = groups->get(i)->as_table();
    if (!g) throw Error(fmt::format("{}: must be a table like {{ params = \"0.*\", lr = 0.01 }}", gw));
    Args ga = table_to_args(*g, gw);
    globs.push_back(ga.get_string("params"));
    any_lr |= ga.has("lr");
    any_wd |= ga.has("weight_decay");
    lrs.push_back(ga.get_double("lr", unset));  // read with a default: a typo gets "did you mean"
    wds.push_back(ga.get_double("weight_decay", unset));
    ga.finish();
  }
  a.set("groups", globs);
  if (any_lr) a.set("group_lr", lrs);
  if (any_wd) a.set("group_weight_decay", wds);
  return a;
}

// Applies "a.b.c=value" to the table; numeric segments index arrays (model.layers.0.out_features).
void apply_override(toml::table& root, const std::string& text, const std::string& file) {
  auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0)
    throw Error(fmt::format("--set '{}': expected section.key=value", text));
  std::string path = text.substr(0, eq), value = text.substr(eq + 1);
  std::vector<std::string> parts;
  std::stringstream ss(path);
  for (std::string p; std::getline(ss, p, '.');) parts.push_back(p);
  if (parts.size() < 2) throw Error(fmt::format("--set '{}': expected section.key=value", text));
  // Parse the value as TOML; a bare word that is not valid TOML is taken as a string.
  toml::table parsed;
  try {
    parsed = toml::parse("v = " + value);
  } catch (const toml::parse_error&) {
    parsed = toml::table{{"v", value}};
  }
  toml::node* cur = &root;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    const std::string& seg = parts[i];
    if (auto tbl = cur->as_table()) {
      if (!tbl->contains(seg)) tbl->insert(seg, toml::table{});
      cur = tbl->get(seg);
    } else if (auto arr = cur->as_array()) {
      size_t idx = 0;
      try {
        idx = std::stoul(seg);
      } catch (...) {
        throw Error(fmt::format("--set '{}': '{}' must be an index into an array", text, seg));
      }
      if (idx >= arr->size()) throw Error(fmt::format("--set '{}': index {} out of range ({} items)", text, idx, arr->size()));
      cur = arr->get(idx);
    } else {
      throw Error(fmt::format("--set '{}': '{}' is not a table in {}", text, seg, file));
    }
  }
  auto tbl = cur->as_table();
  if (!tbl) throw Error(fmt::format("--set '{}': parent of '{}' is not a table", text, parts.back()));
  tbl->insert_or_assign(parts.back(), *parsed.get("v"));
}

Shape read_shape(const Args& a, const std::string& key) {
  Shape s;
  for (int64_t v : a.get_ints(key)) {
    if (v <= 0) throw Error(fmt::format("{}: '{}' extents must be positive", a.where(), key));
    s.push_back(v);
  }
  return s;
}

}  // namespace

Config parse_config(const std::string& text, const std::string& file, const std::vector<std::string>& overrides) {
  toml::table root;
  try {
    root = toml::parse(text, file);
  } catch (const toml::parse_error& e) {
    const auto& src = e.source();
    throw Error(fmt::format("{}:{}:{}: {}", file, src.begin.line, src.begin.column, e.description()));
  }
  for (const auto& o : overrides) apply_override(root, o, file);

  Config cfg;
  cfg.source = file;
  cfg.name = std::filesystem::path(file).stem().string();
  for (const auto& [k, v] : root) {
    std::string key(k.str());
    if (std::find(kSections.begin(), kSections.end(), key) == kSections.end()) {
      std::string hint = closest_match(key, kSections);
      throw Error(fmt::format("{}: unknown section [{}]{}", file, key, hint.empty() ? "" : fmt::format(" (did you mean [{}]?)", hint)));
    }
    if (!v.is_table()) throw Error(fmt::format("{}: '{}' must be a table [{}]", file, key, key));
  }
  auto section = [&](const std::string& name) -> const toml::table* { return root[name].as_table(); };

  // [data]
  if (const toml::table* t = section("data")) {
    toml::table copy = *t;
    Args a = table_to_args(copy, node_where(file, "data"));
    cfg.data.name = a.get_string("name", "");
    cfg.data.format = a.get_string("format", "idx");
    cfg.data.train_images = a.get_string("train_images", "");
    cfg.data.train_labels = a.get_string("train_labels", "");
    cfg.data.test_images = a.get_string("test_images", "");
    cfg.data.test_labels = a.get_string("test_labels", "");
    cfg.data.validation_split = a.get_double("validation_split", 0.0);
    cfg.data.stratify = a.get_bool("stratify", false);
    if (cfg.data.validation_split < 0.0 || cfg.data.validation_split >= 1.0)
      throw Error(fmt::format("{}: validation_split must be in [0, 1), got {}", a.where(), cfg.data.validation_split));
    cfg.data.extra = a;  // the data subsystem reads its own keys and calls finish()
  } else {
    throw Error(fmt::format("{}: missing section [data]", file));
  }

  // [model]
  if (const toml::table* t = section("model")) {
    Args a(node_where(file, "model"));
    for (const auto& [k, v] : *t) {
      std::string key(k.str());
      if (key == "layers") continue;
      a.set(key, to_arg(v, a.where(), key));
    }
    cfg.model.input_shape = read_shape(a, "input_shape");
    cfg.model.init = a.get_string("init", "default");
    cfg.model.init_from = a.get_string("init_from", "");
    a.finish();
    const toml::array* layers = (*t)["layers"].as_array();
    if (!layers || layers->empty()) throw Error(fmt::format("{}: [model] needs a non-empty array 'layers'", file));
    for (size_t i = 0; i < layers->size(); ++i) {
      const toml::table* lt = layers->get(i)->as_table();
      std::string where = fmt::format("{}: [model] layers[{}]", file, i);
      if (!lt) throw Error(fmt::format("{}: must be a table like {{ type = \"linear\", out_features = 10 }}", where));
      cfg.model.layers.push_back(table_to_args(*lt, where));
    }
  } else {
    throw Error(fmt::format("{}: missing section [model]", file));
  }

  // [loss], [optimizer]
  cfg.loss = section("loss") ? table_to_args(*section("loss"), node_where(file, "loss")) : Args(node_where(file, "loss"));
  if (!cfg.loss.has("type")) cfg.loss.set("type", std::string("cross_entropy"));
  if (!section("optimizer")) throw Error(fmt::format("{}: missing section [optimizer]", file));
  cfg.optimizer = optimizer_args(*section("optimizer"), node_where(file, "optimizer"));
  if (!cfg.optimizer.has("type")) cfg.optimizer.set("type", std::string("sgd"));

  // [schedule] stays TOML: its items are nested tables (warmup = {...}, main = {...}).
  if (const toml::table* t = section("schedule")) {
    std::ostringstream os;
    os << *t;
    cfg.schedule_toml = os.str();
  }

  // [train]
  {
    Args a(node_where(file, "train"));
    if (const toml::table* t = section("train")) a = table_to_args(*t, node_where(file, "train"));
    TrainConfig& tc = cfg.train;
    tc.epochs = a.get_int("epochs", 10);
    if (a.has("batch_size") && std::holds_alternative<std::string>(a.values().at("batch_size"))) {
      if (a.get_string("batch_size") != "full")
        throw Error(fmt::format("{}: batch_size must be a positive integer or \"full\"", a.where()));
      tc.full_batch = true;
    } else {
      tc.batch_size = a.get_int("batch_size", 128);
    }
    tc.seed = static_cast<uint64_t>(a.get_int("seed", 0));
    tc.threads = a.get_int("threads", 0);
    tc.dtype = dtype_from_name(a.get_string("dtype", "float32"));
    if (!is_floating(tc.dtype)) throw Error(fmt::format("{}: dtype must be float32 or float64", a.where()));
    tc.shuffle = a.get_bool("shuffle", true);
    tc.max_steps = a.get_int("max_steps", 0);
    tc.log_every = a.get_int("log_every", 0);
    tc.progress = a.get_bool("progress", true);
    if (tc.epochs <= 0) throw Error(fmt::format("{}: epochs must be positive, got {}", a.where(), tc.epochs));
    if (!tc.full_batch && tc.batch_size <= 0)
      throw Error(fmt::format("{}: batch_size must be positive, got {}", a.where(), tc.batch_size));
    if (tc.threads < 0) throw Error(fmt::format("{}: threads must be >= 0", a.where()));
    tc.extra = a;
  }

  for (const auto& name : {"checkpoint", "health", "early_stopping", "regularization", "distributed", "augment"})
    if (const toml::table* t = section(name)) cfg.sections[name] = table_to_args(*t, node_where(file, name));

  std::ostringstream os;
  os << root;
  cfg.resolved_toml = os.str();
  return cfg;
}

Config load_config(const std::string& path, const std::vector<std::string>& overrides) {
  std::ifstream in(path);
  if (!in) throw Error(fmt::format("{}: cannot open config file", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_config(ss.str(), path, overrides);
}

}  // namespace descent
