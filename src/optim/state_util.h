// Internal: saving and restoring per-parameter optimizer state by name ("<index>.<name>"), and the
// checks every step() makes on a gradient.
#pragma once
#include <fmt/format.h>

#include <map>
#include <string>
#include <vector>

#include "descent/optim.h"

namespace descent::optim {

/// Appends the defined tensors of `buffers` as "<i>.<name>" (copies, so later steps do not alter them).
void export_state(const std::vector<Tensor>& buffers, const std::string& name, nn::NamedTensors& out);
/// Appends per-parameter step counts t > 0 as 0-d float64 tensors "<i>.<name>" (torch's state["step"]).
void export_steps(const std::vector<int64_t>& steps, const std::string& name, nn::NamedTensors& out);

/// Reads a state() dump back, validating everything before the optimizer changes anything: a
/// failed load leaves the optimizer as it was.
class StateReader {
 public:
  /// Parses the "<i>.<name>" keys; throws on a key that is not of that form or an index out of range.
  StateReader(const nn::NamedTensors& state, const std::vector<Tensor>& params, std::string who);
  /// The buffers called `name`, shape-checked and converted to each parameter's dtype.
  std::vector<Tensor> buffers(const std::string& name);
  /// The step counts called `name` (0 where absent); throws unless each is a positive integer.
  std::vector<int64_t> steps(const std::string& name);
  /// Throws on an entry no call above consumed, or a parameter holding only some of `together`.
  void finish(const std::vector<std::string>& together) const;

 private:
  struct Entry {
    size_t index;
    std::string name;
    Tensor value;
    std::string key;
  };
  std::vector<Entry> entries_;
  std::vector<bool> used_;
  const std::vector<Tensor>& params_;
  std::string who_;
};

/// Throws unless `g` can be the gradient of `p` (same dtype and element count).
void check_grad(const Tensor& p, const Tensor& g, size_t index, const std::string& who);

}  // namespace descent::optim
