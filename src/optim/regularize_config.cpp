// [regularization] and [early_stopping] from config Args; each calls finish() so typos are errors.
#include <fmt/format.h>

#include <cmath>

#include "descent/regularize.h"

namespace descent::optim {
namespace {

double non_negative(const Args& a, const char* key, double def) {
  double v = a.get_double(key, def);
  if (!(v >= 0)) throw Error(fmt::format("{}: '{}' must be >= 0, got {}", a.where(), key, v));
  return v;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

RegularizationOptions parse_regularization(const Args& a) {
  RegularizationOptions o;
  o.l1 = non_negative(a, "l1", 0.0);
  o.l2 = non_negative(a, "l2", 0.0);
  if (a.has("exclude")) {
    // TOML's `[]` arrives as an empty number list.
    auto* empty = std::get_if<std::vector<double>>(&a.values().at("exclude"));
    if (empty && empty->empty()) a.touch("exclude"), o.exclude.clear();
    else o.exclude = a.get_strings("exclude");
  }
  o.clip_grad_norm = non_negative(a, "clip_grad_norm", 0.0);
  o.clip_grad_value = non_negative(a, "clip_grad_value", 0.0);
  o.norm_type = a.get_double("norm_type", 2.0);
  if (!(o.norm_type > 0))
    throw Error(fmt::format("{}: 'norm_type' must be > 0 (2 for the Euclidean norm, inf for the largest |g|), got {}",
                            a.where(), o.norm_type));
  std::string nf = a.get_string("nonfinite", "skip");
  if (nf == "skip") o.nonfinite = NonFinite::Skip;
  else if (nf == "error") o.nonfinite = NonFinite::Error;
  else throw Error(fmt::format("{}: 'nonfinite' must be \"skip\" or \"error\", got \"{}\"", a.where(), nf));
  a.finish();
  return o;
}

EarlyStoppingOptions parse_early_stopping(const Args& a) {
  EarlyStoppingOptions o;
  o.metric = a.get_string("metric", "val_loss");
  if (o.metric.empty()) throw Error(fmt::format("{}: 'metric' must name a metric, e.g. \"val_loss\"", a.where()));
  std::string mode = a.get_string("mode", "auto");
  if (mode == "min") o.mode = StopMode::Min;
  else if (mode == "max") o.mode = StopMode::Max;
  else if (mode == "auto") o.mode = ends_with(o.metric, "acc") || ends_with(o.metric, "accuracy") ? StopMode::Max : StopMode::Min;
  else throw Error(fmt::format("{}: 'mode' must be \"min\", \"max\" or \"auto\", got \"{}\"", a.where(), mode));
  o.patience = a.get_int("patience", 5);
  if (o.patience < 1) throw Error(fmt::format("{}: 'patience' must be >= 1, got {}", a.where(), o.patience));
  o.min_delta = non_negative(a, "min_delta", 0.0);
  o.restore_best = a.get_bool("restore_best", true);
  a.finish();
  return o;
}

}  // namespace descent::optim
