// Splitting a model's parameters into groups: glob rules with their own lr / weight decay, and
// the no_decay selectors that keep biases and normalization parameters out of weight decay.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <map>

#include "descent/optim.h"

namespace descent::optim {
namespace {

// Parameter name → type of the module that registered it (the deepest module holding it).
void collect_owners(const nn::Module& m, const std::string& prefix, std::map<std::string, std::string>& out) {
  for (const auto& [name, t] : m.named_parameters()) out[prefix + name] = m.type_name();
  for (const auto& [child_name, child] : m.children()) collect_owners(*child, prefix + child_name + ".", out);
}

bool contains_norm(std::string type) {
  std::transform(type.begin(), type.end(), type.begin(), [](unsigned char c) { return std::tolower(c); });
  return type.find("norm") != std::string::npos;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Which parameters no selector exempts from decay; throws on an empty selector or a glob that
// matches nothing (a typo would otherwise decay what the user meant to exempt).
std::vector<bool> decay_mask(const nn::Module& model, const nn::NamedTensors& named,
                             const std::vector<std::string>& no_decay) {
  std::map<std::string, std::string> owner;
  collect_owners(model, "", owner);
  std::vector<bool> decay(named.size(), true);
  for (const auto& sel : no_decay) {
    if (sel.empty()) throw Error("no_decay: empty selector (use \"bias\", \"norm\", \"1d\" or a glob on parameter names)");
    bool any = false;
    for (size_t i = 0; i < named.size(); ++i) {
      const auto& [name, t] = named[i];
      bool hit = sel == "bias"   ? ends_with(name, "bias")
                 : sel == "norm" ? contains_norm(owner[name])
                 : sel == "1d"   ? t.dim() <= 1
                                 : glob_match(sel, name);
      if (hit) decay[i] = false;
      any = any || hit;
    }
    if (!any && sel != "bias" && sel != "norm" && sel != "1d")
      throw Error(fmt::format("no_decay: '{}' matches no parameter name", sel));
  }
  return decay;
}

}  // namespace

bool glob_match(const std::string& pattern, const std::string& name) {
  // Iterative wildcard matching with one backtrack point: linear in practice, no recursion.
  size_t p = 0, n = 0, star = std::string::npos, mark = 0;
  while (n < name.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == name[n])) {
      ++p, ++n;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++, mark = n;
    } else if (star != std::string::npos) {
      p = star + 1, n = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

std::vector<ParamGroup> param_groups(const nn::Module& model, const GroupingOptions& o) {
  nn::NamedTensors named = model.named_parameters();
  std::vector<bool> decay = decay_mask(model, named, o.no_decay);
  // group[i] = index of the first rule matching parameter i; o.groups.size() = no rule.
  std::vector<size_t> group(named.size(), o.groups.size());
  for (size_t r = 0; r < o.groups.size(); ++r) {
    const GroupRule& rule = o.groups[r];
    if (rule.params.empty()) throw Error(fmt::format("groups[{}]: empty glob", r));
    bool any = false;
    for (size_t i = 0; i < named.size(); ++i)
      if (group[i] == o.groups.size() && glob_match(rule.params, named[i].first)) group[i] = r, any = true;
    if (!any)
      throw Error(fmt::format("groups[{}]: '{}' matches no parameter (not taken by an earlier group){}", r, rule.params,
                              named.empty() ? "" : fmt::format("; names look like '{}'", named.front().first)));
  }
  std::vector<ParamGroup> out;
  for (size_t r = 0; r <= o.groups.size(); ++r) {
    for (bool decayed : {true, false}) {
      ParamGroup g;
      if (r < o.groups.size()) g.lr = o.groups[r].lr, g.weight_decay = o.groups[r].weight_decay;
      if (!decayed) g.weight_decay = 0.0;
      for (size_t i = 0; i < named.size(); ++i)
        if (group[i] == r && decay[i] == decayed) g.params.push_back(named[i].second), g.names.push_back(named[i].first);
      if (!g.params.empty()) out.push_back(std::move(g));
    }
  }
  return out;
}

std::vector<Tensor> decayed_parameters(const nn::Module& model, const std::vector<std::string>& no_decay) {
  nn::NamedTensors named = model.named_parameters();
  std::vector<bool> decay = decay_mask(model, named, no_decay);
  std::vector<Tensor> out;
  for (size_t i = 0; i < named.size(); ++i)
    if (decay[i]) out.push_back(named[i].second);
  return out;
}

}  // namespace descent::optim
