// Explicit L1 / L2 penalties as differentiable scalars (the loss side of regularization).
#include "descent/ops.h"
#include "descent/regularize.h"

namespace descent::optim {
namespace {

template <class F>
Tensor sum_over(const std::vector<Tensor>& params, F term) {
  Tensor total;
  for (const Tensor& p : params) {
    Tensor t = ops::sum(term(p));
    total = total.defined() ? total + t : t;
  }
  // No parameters: a constant 0 that adds nothing to the loss (and nothing to the graph).
  return total.defined() ? total : scalar(0.0);
}

}  // namespace

Tensor l1_penalty(const std::vector<Tensor>& params) {
  return sum_over(params, [](const Tensor& p) { return ops::abs(p); });
}

Tensor l2_penalty(const std::vector<Tensor>& params) {
  return sum_over(params, [](const Tensor& p) { return p * p; });
}

}  // namespace descent::optim
