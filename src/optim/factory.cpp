// Optimizers by name from the [optimizer] config table. To add one: a branch in read_type() and its
// name in kTypes. Every key is read before anything is built, so an unknown key (a typo) is
// reported before the value errors it may cause.
#include <fmt/format.h>

#include <cmath>
#include <functional>

#include "descent/optim.h"

namespace descent::optim {
namespace {

const std::vector<std::string> kTypes = {"sgd", "adam", "adamw", "rmsprop", "adagrad"};

// TOML's `[]` arrives as an empty number list; accept it where strings are expected.
std::vector<std::string> strings_or_empty(const Args& a, const std::string& key, std::vector<std::string> def) {
  if (a.has(key))
    if (auto p = std::get_if<std::vector<double>>(&a.values().at(key)); p && p->empty()) {
      a.touch(key);
      return {};
    }
  return a.get_strings(key, std::move(def));
}

GroupingOptions read_grouping(const Args& a) {
  GroupingOptions g;
  g.no_decay = strings_or_empty(a, "no_decay", g.no_decay);
  std::vector<std::string> globs = strings_or_empty(a, "groups", {});
  std::vector<double> lrs = a.get_doubles("group_lr", std::vector<double>{});
  std::vector<double> wds = a.get_doubles("group_weight_decay", std::vector<double>{});
  auto check_len = [&](const char* key, size_t n) {
    if (n != 0 && n != globs.size())
      throw Error(fmt::format("{}: '{}' has {} values for {} groups (one per entry of 'groups')", a.where(), key, n,
                              globs.size()));
  };
  check_len("group_lr", lrs.size());
  check_len("group_weight_decay", wds.size());
  for (size_t i = 0; i < globs.size(); ++i) {
    GroupRule r{.params = globs[i]};
    // nan: this group takes the optimizer-wide value (what a group table without the key means).
    if (!lrs.empty() && !std::isnan(lrs[i])) r.lr = lrs[i];
    if (!wds.empty() && !std::isnan(wds[i])) r.weight_decay = wds[i];
    g.groups.push_back(r);
  }
  return g;
}

std::array<double, 2> read_betas(const Args& a) {
  std::vector<double> b = a.get_doubles("betas", std::vector<double>{0.9, 0.999});
  if (b.size() != 2) throw Error(fmt::format("{}: 'betas' must be two numbers [beta1, beta2], got {}", a.where(), b.size()));
  return {b[0], b[1]};
}

// Reads the type's keys into a constructor call to run once the keys are known to be valid.
std::function<std::unique_ptr<Optimizer>(std::vector<ParamGroup>)> read_type(const Args& a, const std::string& type) {
  const bool maximize = a.get_bool("maximize", false);
  if (type == "sgd") {
    SGDOptions o{.lr = a.get_double("lr"), .momentum = a.get_double("momentum", 0.0),
                 .dampening = a.get_double("dampening", 0.0), .weight_decay = a.get_double("weight_decay", 0.0),
                 .nesterov = a.get_bool("nesterov", false), .maximize = maximize};
    return [o](std::vector<ParamGroup> g) { return std::make_unique<SGD>(std::move(g), o); };
  }
  if (type == "adam" || type == "adamw") {
    const bool w = type == "adamw";
    AdamOptions o{.lr = a.get_double("lr", 1e-3), .betas = read_betas(a), .eps = a.get_double("eps", 1e-8),
                  .weight_decay = a.get_double("weight_decay", w ? 1e-2 : 0.0), .amsgrad = a.get_bool("amsgrad", false),
                  .maximize = maximize};
    if (!w) return [o](std::vector<ParamGroup> g) { return std::make_unique<Adam>(std::move(g), o); };
    AdamWOptions ow{.lr = o.lr, .betas = o.betas, .eps = o.eps, .weight_decay = o.weight_decay, .amsgrad = o.amsgrad,
                    .maximize = o.maximize};
    return [ow](std::vector<ParamGroup> g) { return std::make_unique<AdamW>(std::move(g), ow); };
  }
  if (type == "rmsprop") {
    RMSpropOptions o{.lr = a.get_double("lr", 1e-2), .alpha = a.get_double("alpha", 0.99), .eps = a.get_double("eps", 1e-8),
                     .weight_decay = a.get_double("weight_decay", 0.0), .momentum = a.get_double("momentum", 0.0),
                     .centered = a.get_bool("centered", false), .maximize = maximize};
    return [o](std::vector<ParamGroup> g) { return std::make_unique<RMSprop>(std::move(g), o); };
  }
  if (type == "adagrad") {
    AdagradOptions o{.lr = a.get_double("lr", 1e-2), .lr_decay = a.get_double("lr_decay", 0.0),
                     .weight_decay = a.get_double("weight_decay", 0.0),
                     .initial_accumulator_value = a.get_double("initial_accumulator_value", 0.0),
                     .eps = a.get_double("eps", 1e-10), .maximize = maximize};
    return [o](std::vector<ParamGroup> g) { return std::make_unique<Adagrad>(std::move(g), o); };
  }
  std::string hint = closest_match(type, kTypes);
  throw Error(fmt::format("{}: unknown optimizer type '{}'{}", a.where(), type,
                          hint.empty() ? " (known: sgd, adam, adamw, rmsprop, adagrad)"
                                       : fmt::format(" (did you mean '{}'?)", hint)));
}

}  // namespace

std::unique_ptr<Optimizer> make_optimizer(const Args& a, const nn::Module& model) {
  const std::string type = a.get_string("type", "sgd");
  auto build = read_type(a, type);
  GroupingOptions grouping = read_grouping(a);
  a.finish();
  try {
    return build(param_groups(model, grouping));
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}", a.where(), e.what()));
  }
}

}  // namespace descent::optim
