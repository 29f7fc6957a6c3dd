// hpo/trial_config.cpp — a trial's parameters written into the base config (best.toml).
#include <fmt/format.h>
#include <toml++/toml.h>

#include <fstream>
#include <sstream>

#include "descent/error.h"
#include "descent/hpo.h"

namespace descent::hpo {
namespace {

toml::table read_base(const Study& study) {
  try {
    if (!study.base_inline.empty()) return toml::parse(study.base_inline, std::string_view("inline base"));
    return toml::parse_file(study.base.string());
  } catch (const toml::parse_error& e) {
    throw Error(fmt::format("{}:{}:{}: {}", study.base_inline.empty() ? study.base.string() : "inline base",
                            e.source().begin.line, e.source().begin.column, e.description()));
  }
}

template <class Container, class Key>
void assign(Container& c, Key key, const Value& value) {
  std::visit(
      [&](const auto& v) {
        if constexpr (std::is_same_v<Container, toml::table>)
          c.insert_or_assign(key, v);
        else
          c.replace(c.begin() + static_cast<std::ptrdiff_t>(key), v);
      },
      value);
}

// "model.layers.0.out_features": tables are created as needed, array elements must exist.
void set_key(toml::table& root, const std::string& key, const Value& value, const std::string& where) {
  std::vector<std::string> parts;
  std::stringstream ss(key);
  for (std::string part; std::getline(ss, part, '.');) parts.push_back(part);
  toml::node* node = &root;
  for (std::size_t i = 0; i + 1 <= parts.size(); ++i) {
    const std::string& part = parts[i];
    const bool last = i + 1 == parts.size();
    if (toml::table* t = node->as_table()) {
      if (last) return assign(*t, part, value);
      if (!t->contains(part)) t->insert(part, toml::table{});
      node = t->get(part);
    } else if (toml::array* a = node->as_array()) {
      std::size_t index = 0;
      try {
        index = std::stoul(part);
      } catch (...) {
        throw Error(fmt::format("{}: parameter '{}': '{}' indexes an array, so it must be a number", where, key, part));
      }
      if (index >= a->size())
        throw Error(fmt::format("{}: parameter '{}': index {} is past the end of an array of {}", where, key, index,
                                a->size()));
      if (last) return assign(*a, index, value);
      node = a->get(index);
    } else {
      throw Error(fmt::format("{}: parameter '{}': '{}' is a value, not a table", where, key, parts[i - 1]));
    }
  }
}

}  // namespace

void write_trial_config(const std::filesystem::path& file, const Study& study, const Trial& trial) {
  std::ofstream out(file, std::ios::binary);
  if (!out) throw Error(fmt::format("{}: cannot write", file.string()));
  out << fmt::format("# {}: trial {} of study '{}'", study.command.empty() ? "descent train" : "parameters",
                     trial.number, study.name);
  if (trial.value) out << fmt::format(", {} = {}", study.metric.empty() ? "value" : study.metric, *trial.value);
  out << "\n";
  if (study.command.empty()) {
    toml::table config = read_base(study);
    for (const auto& [key, value] : study.fixed) set_key(config, key, value, study.file.string());
    for (const auto& [key, value] : trial.params) set_key(config, key, value, study.file.string());
    out << config << "\n";
  } else {
    for (const auto& [key, value] : trial.params) out << fmt::format("\"{}\" = {}\n", key, to_json(value));
  }
  if (!out) throw Error(fmt::format("{}: write failed", file.string()));
}

}  // namespace descent::hpo
