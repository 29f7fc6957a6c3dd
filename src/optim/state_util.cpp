#include "optim/state_util.h"

#include <algorithm>
#include <cmath>

namespace descent::optim {

void export_state(const std::vector<Tensor>& buffers, const std::string& name, nn::NamedTensors& out) {
  for (size_t i = 0; i < buffers.size(); ++i)
    if (buffers[i].defined()) out.emplace_back(fmt::format("{}.{}", i, name), buffers[i].detach().clone());
}

void export_steps(const std::vector<int64_t>& steps, const std::string& name, nn::NamedTensors& out) {
  for (size_t i = 0; i < steps.size(); ++i)
    if (steps[i] > 0) out.emplace_back(fmt::format("{}.{}", i, name), scalar(static_cast<double>(steps[i]), DType::F64));
}

StateReader::StateReader(const nn::NamedTensors& state, const std::vector<Tensor>& params, std::string who)
    : used_(state.size(), false), params_(params), who_(std::move(who)) {
  for (const auto& [key, t] : state) {
    auto dot = key.find('.');
    size_t index = 0, digits = 0;
    if (dot != std::string::npos && dot > 0 && dot <= 9) {
      for (; digits < dot && key[digits] >= '0' && key[digits] <= '9'; ++digits)
        index = index * 10 + static_cast<size_t>(key[digits] - '0');
    }
    if (dot == std::string::npos || digits != dot || dot + 1 == key.size())
      throw Error(fmt::format("{}: optimizer state '{}' is not named '<parameter index>.<name>'", who_, key));
    if (index >= params_.size())
      throw Error(fmt::format("{}: optimizer state '{}' refers to parameter {} of {}", who_, key, index, params_.size()));
    if (!t.defined()) throw Error(fmt::format("{}: optimizer state '{}' is empty", who_, key));
    entries_.push_back({index, key.substr(dot + 1), t, key});
  }
}

std::vector<Tensor> StateReader::buffers(const std::string& name) {
  std::vector<Tensor> out(params_.size());
  for (size_t e = 0; e < entries_.size(); ++e) {
    const Entry& en = entries_[e];
    if (en.name != name) continue;
    const Tensor& p = params_[en.index];
    if (en.value.shape() != p.shape())
      throw Error(fmt::format("{}: optimizer state '{}' has shape {}, parameter has {}", who_, en.key,
                              en.value.shape_str(), p.shape_str()));
    if (!is_floating(en.value.dtype()))
      throw Error(fmt::format("{}: optimizer state '{}' has dtype {}", who_, en.key, dtype_name(en.value.dtype())));
    out[en.index] = en.value.detach().to(p.dtype()).detach().clone();
    used_[e] = true;
  }
  return out;
}

std::vector<int64_t> StateReader::steps(const std::string& name) {
  std::vector<int64_t> out(params_.size(), 0);
  for (size_t e = 0; e < entries_.size(); ++e) {
    const Entry& en = entries_[e];
    if (en.name != name) continue;
    double v = en.value.numel() == 1 ? en.value.item() : -1.0;
    if (!(v >= 1.0 && v <= 9007199254740992.0 && v == std::floor(v)))
      throw Error(fmt::format("{}: optimizer state '{}' must hold one positive integer", who_, en.key));
    out[en.index] = static_cast<int64_t>(v);
    used_[e] = true;
  }
  return out;
}

void StateReader::finish(const std::vector<std::string>& together) const {
  for (size_t e = 0; e < entries_.size(); ++e)
    if (!used_[e]) throw Error(fmt::format("{}: checkpoint holds optimizer state '{}' that {} does not use", who_, entries_[e].key, who_));
  // A parameter with a step count but no moment estimate (or the reverse) would resume silently wrong.
  std::map<size_t, std::vector<std::string>> seen;
  for (const Entry& en : entries_) seen[en.index].push_back(en.name);
  for (const auto& [index, names] : seen)
    for (const auto& want : together)
      if (std::find(names.begin(), names.end(), want) == names.end())
        throw Error(fmt::format("{}: optimizer state of parameter {} lacks '{}.{}'", who_, index, index, want));
}

void check_grad(const Tensor& p, const Tensor& g, size_t index, const std::string& who) {
  if (g.dtype() != p.dtype() || g.numel() != p.numel())
    throw Error(fmt::format("{}: gradient of parameter {} is {} {}, parameter is {} {}", who, index,
                            dtype_name(g.dtype()), g.shape_str(), dtype_name(p.dtype()), p.shape_str()));
}

}  // namespace descent::optim
