// Internal: saving and restoring per-parameter optimizer state by name ("<index>.<name>").
#pragma once
#include <fmt/format.h>

#include <map>

#include "descent/optim.h"

namespace descent::optim {

/// Appends the defined tensors of `buffers` as "<i>.<name>".
inline void export_state(const std::vector<Tensor>& buffers, const std::string& name, nn::NamedTensors& out) {
  for (size_t i = 0; i < buffers.size(); ++i)
    if (buffers[i].defined()) out.emplace_back(fmt::format("{}.{}", i, name), buffers[i].clone());
}

/// Fills `buffers` from entries "<i>.<name>" of `state`, checking shapes against the params;
/// `used` counts the entries consumed so a caller can reject leftovers.
inline void import_state(const nn::NamedTensors& state, const std::string& name, const std::vector<Tensor>& params,
                         std::vector<Tensor>& buffers, size_t& used, const std::string& who) {
  buffers.assign(params.size(), Tensor());
  for (const auto& [key, t] : state) {
    auto dot = key.find('.');
    if (dot == std::string::npos || key.substr(dot + 1) != name) continue;
    size_t i = std::stoul(key.substr(0, dot));
    if (i >= params.size()) throw Error(fmt::format("{}: state '{}' refers to parameter {} of {}", who, key, i, params.size()));
    if (t.shape() != params[i].shape())
      throw Error(fmt::format("{}: state '{}' has shape {}, parameter has {}", who, key, t.shape_str(), params[i].shape_str()));
    buffers[i] = t.to(params[i].dtype()).clone();
    used++;
  }
}

}  // namespace descent::optim
