#include <iterator>

#include "descent/autograd.h"

namespace descent {

const char* op_name(Op op) {
  static constexpr const char* kNames[] = {
      "add", "sub", "mul", "div", "neg", "pow", "exp", "log", "sqrt", "abs", "clamp",
      "sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu", "selu", "softplus",
      "matmul", "linear", "sum", "sum_dim", "max", "max_dim",
      "reshape", "transpose", "index_select", "concat", "cast", "clone",
      "softmax", "log_softmax", "cross_entropy", "nll_loss",
      "conv2d", "max_pool2d", "avg_pool2d", "batch_norm", "layer_norm", "dropout",
      "binary_cross_entropy_with_logits", "huber_loss",
      "linear_relu", "conv2d_relu", "max_pool2d_relu", "conv2d_pool_relu",
  };
  static_assert(std::size(kNames) == static_cast<size_t>(Op::Count), "every Op needs a name");
  auto i = static_cast<size_t>(op);
  return i < std::size(kNames) ? kNames[i] : "invalid";
}

}  // namespace descent
