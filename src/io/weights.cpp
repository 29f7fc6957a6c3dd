// Weights into a model by state_dict name: all checks first, then the copies, so a mismatch
// leaves the model exactly as it was.
#include <map>

#include <fmt/format.h>

#include "descent/io.h"

namespace descent::io {

void load_state_dict(nn::Module& model, const nn::NamedTensors& tensors, const std::string& source) {
  std::map<std::string, const Tensor*> given;
  for (const auto& [name, t] : tensors) given[name] = &t;
  nn::NamedTensors own = model.state_dict();
  std::vector<std::string> problems;
  for (const auto& [name, t] : own) {
    auto it = given.find(name);
    if (it == given.end()) {
      problems.push_back(fmt::format("'{}' {} is missing from the file", name, t.shape_str()));
      continue;
    }
    const Tensor& src = *it->second;
    if (src.shape() != t.shape())
      problems.push_back(fmt::format("'{}' has shape {} in the file but {} in the model", name, src.shape_str(), t.shape_str()));
    else if (is_floating(src.dtype()) != is_floating(t.dtype()))
      problems.push_back(fmt::format("'{}' is {} in the file but {} in the model", name, dtype_name(src.dtype()),
                                     dtype_name(t.dtype())));
    given.erase(it);
  }
  for (const auto& [name, t] : given)
    problems.push_back(fmt::format("'{}' {} in the file matches no tensor of the model", name, t->shape_str()));
  if (!problems.empty()) {
    std::string list;
    const size_t shown = std::min<size_t>(problems.size(), 8);
    for (size_t i = 0; i < shown; ++i) list += (i ? "; " : "") + problems[i];
    if (shown < problems.size()) list += fmt::format("; and {} more", problems.size() - shown);
    throw Error(fmt::format("{}: does not fit the model ({} mismatch{}): {}", source, problems.size(),
                            problems.size() == 1 ? "" : "es", list));
  }
  std::map<std::string, const Tensor*> by_name;
  for (const auto& [name, t] : tensors) by_name[name] = &t;
  for (auto& [name, t] : own) t.copy_(*by_name.at(name));  // copy_ converts float32 <-> float64
}

void load_weights(nn::Module& model, const std::string& path) {
  SafetensorsData d = load_safetensors(path);
  load_state_dict(model, d.tensors, path);
}

}  // namespace descent::io
