#include <fmt/format.h>

#include <cmath>

#include "descent/init.h"
#include "descent/nn.h"

namespace descent::nn {

Linear::Linear(int64_t in_features, int64_t out_features, const LinearOptions& opt) : in_(in_features), out_(out_features) {
  if (in_features <= 0 || out_features <= 0)
    throw Error(fmt::format("Linear: in_features and out_features must be positive, got {} and {}", in_features, out_features));
  // torch.nn.Linear's default: kaiming_uniform(a=√5) for W, i.e. U(±1/√in), and U(±1/√in) for b.
  Generator gen(opt.seed);
  const double bound = 1.0 / std::sqrt(static_cast<double>(in_features));
  weight = uniform({out_features, in_features}, -bound, bound, gen, opt.dtype).requires_grad_();
  register_parameter("weight", &weight);
  if (opt.bias) {
    bias = uniform({out_features}, -bound, bound, gen, opt.dtype).requires_grad_();
    register_parameter("bias", &bias);
  }
}

Tensor Linear::forward(const Tensor& x) {
  if (x.dim() != 2 || x.size(1) != in_)
    throw Error(fmt::format("Linear({} -> {}): input of shape {} (expected [N, {}])", in_, out_, x.shape_str(), in_));
  return ops::linear(x, weight, bias);
}

std::string Linear::describe() const {
  return fmt::format("Linear(in_features={}, out_features={}, bias={})", in_, out_, bias.defined());
}

Shape Linear::output_shape(const Shape& input) const {
  if (input.size() != 1 || input[0] != in_)
    throw Error(fmt::format("Linear expects {} input features, gets shape {}{}", in_, shape_str(input),
                            input.size() > 1 ? " (add a flatten layer before it)" : ""));
  return {out_};
}

}  // namespace descent::nn
