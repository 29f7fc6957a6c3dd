// Early stopping on a validation metric, with a copy of the best weights.
#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "descent/autograd.h"
#include "descent/regularize.h"

namespace descent::optim {

EarlyStopping::EarlyStopping(const EarlyStoppingOptions& o)
    : opt_(o), best_(o.mode == StopMode::Min ? std::numeric_limits<double>::infinity()
                                             : -std::numeric_limits<double>::infinity()) {
  if (o.patience < 1) throw Error(fmt::format("early stopping: patience must be >= 1, got {}", o.patience));
  if (!(o.min_delta >= 0)) throw Error(fmt::format("early stopping: min_delta must be >= 0, got {}", o.min_delta));
}

bool EarlyStopping::step(double value, const nn::Module& model) {
  // Keras / Lightning's rule: an improvement beats the best by more than min_delta.
  improved_ = opt_.mode == StopMode::Min ? value < best_ - opt_.min_delta : value > best_ + opt_.min_delta;
  if (improved_) {
    best_ = value;
    best_index_ = evaluations_;
    wait_ = 0;
    if (opt_.restore_best) {
      NoGradGuard no_grad;
      best_state_.clear();
      for (const auto& [name, t] : model.state_dict()) best_state_.emplace_back(name, t.detach().clone());
    }
  } else {
    wait_++;
  }
  evaluations_++;
  if (wait_ >= opt_.patience) stopped_ = true;
  return stopped_;
}

bool EarlyStopping::restore_best(nn::Module& model) const {
  if (best_state_.empty()) return false;
  nn::NamedTensors current = model.state_dict();
  if (current.size() != best_state_.size())
    throw Error(fmt::format("early stopping: the model has {} tensors, the best weights {}", current.size(),
                            best_state_.size()));
  // Check everything first so that a mismatch leaves the model untouched.
  for (size_t i = 0; i < current.size(); ++i) {
    const auto& [name, t] = current[i];
    const auto& [best_name, best] = best_state_[i];
    if (name != best_name || t.shape() != best.shape())
      throw Error(fmt::format("early stopping: model tensor '{}' {} does not match best weights '{}' {}", name,
                              t.shape_str(), best_name, best.shape_str()));
  }
  NoGradGuard no_grad;
  for (size_t i = 0; i < current.size(); ++i) current[i].second.copy_(best_state_[i].second);
  return true;
}

std::string EarlyStopping::state_json() const {
  nlohmann::json j;
  j["best"] = std::isfinite(best_) ? nlohmann::json(best_) : nlohmann::json(nullptr);
  j["best_index"] = best_index_;
  j["evaluations"] = evaluations_;
  j["wait"] = wait_;
  j["stopped"] = stopped_;
  return j.dump();
}

void EarlyStopping::load_state_json(const std::string& text) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("early stopping state: not JSON ({})", e.what()));
  }
  if (!j.is_object()) throw Error("early stopping state: expected a JSON object");
  auto integer = [&](const char* key) {
    if (!j.contains(key) || !j[key].is_number_integer())
      throw Error(fmt::format("early stopping state: '{}' must be an integer", key));
    return j[key].get<int64_t>();
  };
  if (!j.contains("best") || !(j["best"].is_number() || j["best"].is_null()))
    throw Error("early stopping state: 'best' must be a number or null");
  if (!j.contains("stopped") || !j["stopped"].is_boolean())
    throw Error("early stopping state: 'stopped' must be true or false");
  const int64_t best_index = integer("best_index"), evaluations = integer("evaluations"), wait = integer("wait");
  if (evaluations < 0 || wait < 0 || wait > evaluations || best_index < -1 || best_index >= evaluations)
    throw Error("early stopping state: inconsistent counters");
  best_ = j["best"].is_null() ? (opt_.mode == StopMode::Min ? std::numeric_limits<double>::infinity()
                                                           : -std::numeric_limits<double>::infinity())
                              : j["best"].get<double>();
  best_index_ = best_index;
  evaluations_ = evaluations;
  wait_ = wait;
  stopped_ = j["stopped"].get<bool>();
  improved_ = false;
}

}  // namespace descent::optim
