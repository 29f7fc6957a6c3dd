// Elementwise unary ops and activations. Backward lambdas keep the output (or input) detached
// and express the local derivative with other ops, or with a fused loop where that is hot.
#include <cmath>

#include "kernels/eltwise.h"
#include "ops/internal.h"

namespace descent::ops {

using autograd::Grads;
using autograd::record;

namespace {
// y = f(x) elementwise on a floating tensor.
template <class F>
Tensor unary(const Tensor& x, const char* what, F f) {
  Tensor y = empty(x.shape(), x.dtype());
  dispatch_float(x.dtype(), what, [&](auto tag) {
    using T = typename decltype(tag)::type;
    map_into<T>(x.data<T>(), y.data<T>(), x.numel(), [&](T v) { return static_cast<T>(f(v)); });
  });
  return y;
}
// out = g * f(a) elementwise (a has g's shape): the common "g times local derivative" step.
template <class F>
Tensor grad_times(const Tensor& g, const Tensor& a, const char* what, F f) {
  Tensor out = empty(g.shape(), g.dtype());
  dispatch_float(g.dtype(), what, [&](auto tag) {
    using T = typename decltype(tag)::type;
    zip_into<T>(g.data<T>(), a.data<T>(), out.data<T>(), g.numel(),
                [&](T gv, T av) { return static_cast<T>(gv * f(av)); });
  });
  return out;
}
}  // namespace

Tensor neg(const Tensor& x) {
  Tensor y = unary(x, "neg", [](auto v) { return -v; });
  return record(Op::Neg, y, {x}, [](const Tensor& g) {
    return Grads{neg(g)};                                     // d(-x)/dx = -1
  });
}

Tensor pow(const Tensor& x, double p) {
  Tensor y = unary(x, "pow", [p](auto v) { return std::pow(v, static_cast<decltype(v)>(p)); });
  return record(Op::PowScalar, y, {x}, [x = x.detach(), p](const Tensor& g) {
    return Grads{grad_times(g, x, "pow", [p](auto v) {     // d x^p/dx = p x^(p-1)
      return static_cast<decltype(v)>(p) * std::pow(v, static_cast<decltype(v)>(p - 1));
    })};
  });
}

Tensor square(const Tensor& x) { return x * x; }

Tensor exp(const Tensor& x) {
  Tensor y = unary(x, "exp", [](auto v) { return std::exp(v); });
  return record(Op::Exp, y, {x}, [y = y.detach()](const Tensor& g) {
    return Grads{g * y};                                      // d e^x/dx = e^x
  });
}

Tensor log(const Tensor& x) {
  Tensor y = unary(x, "log", [](auto v) { return std::log(v); });
  return record(Op::Log, y, {x}, [x = x.detach()](const Tensor& g) {
    return Grads{g / x};                                      // d log x/dx = 1/x
  });
}

Tensor sqrt(const Tensor& x) {
  Tensor y = unary(x, "sqrt", [](auto v) { return std::sqrt(v); });
  return record(Op::Sqrt, y, {x}, [y = y.detach()](const Tensor& g) {
    return Grads{g / (y * 2.0)};                              // d sqrt x/dx = 1/(2 sqrt x)
  });
}

Tensor abs(const Tensor& x) {
  Tensor y = unary(x, "abs", [](auto v) { return std::abs(v); });
  return record(Op::Abs, y, {x}, [x = x.detach()](const Tensor& g) {
    return Grads{grad_times(g, x, "abs", [](auto v) {       // d|x|/dx = sign x (0 at 0)
      return static_cast<decltype(v)>((v > 0) - (v < 0));
    })};
  });
}

Tensor clamp(const Tensor& x, double lo, double hi) {
  Tensor y = unary(x, "clamp", [lo, hi](auto v) {
    using T = decltype(v);
    return std::min(std::max(v, static_cast<T>(lo)), static_cast<T>(hi));
  });
  return record(Op::Clamp, y, {x}, [x = x.detach(), lo, hi](const Tensor& g) {
    return Grads{grad_times(g, x, "clamp", [lo, hi](auto v) {  // 1 inside [lo, hi], else 0
      return static_cast<decltype(v)>(v >= lo && v <= hi ? 1 : 0);
    })};
  });
}

Tensor sigmoid(const Tensor& x) {
  Tensor y = unary(x, "sigmoid", [](auto v) {
    using T = decltype(v);
    return v >= 0 ? T(1) / (T(1) + std::exp(-v)) : std::exp(v) / (T(1) + std::exp(v));  // no overflow
  });
  return record(Op::Sigmoid, y, {x}, [y = y.detach()](const Tensor& g) {
    return Grads{grad_times(g, y, "sigmoid", [](auto s) { return s * (1 - s); })};  // σ' = σ(1-σ)
  });
}

Tensor tanh(const Tensor& x) {
  Tensor y = unary(x, "tanh", [](auto v) { return std::tanh(v); });
  return record(Op::Tanh, y, {x}, [y = y.detach()](const Tensor& g) {
    return Grads{grad_times(g, y, "tanh", [](auto t) { return 1 - t * t; })};  // tanh' = 1 - tanh^2
  });
}

Tensor relu(const Tensor& x) {
  Tensor y;
  if (x.dtype() == DType::F32) {  // the hot case: a branch-free, ISA-dispatched pass
    y = empty(x.shape(), x.dtype());
    kernels::relu_forward(x.data<float>(), y.data<float>(), x.numel());
  } else {
    y = unary(x, "relu", [](auto v) { return v > 0 ? v : decltype(v)(0); });
  }
  return record(Op::Relu, y, {x}, [y = y.detach()](const Tensor& g) {
    if (g.dtype() == DType::F32) {  // g masked by y > 0 (i.e. x > 0)
      Tensor out = empty(g.shape(), g.dtype());
      kernels::relu_backward(g.data<float>(), y.data<float>(), out.data<float>(), g.numel());
      return Grads{out};
    }
    return Grads{grad_times(g, y, "relu", [](auto v) { return decltype(v)(v > 0 ? 1 : 0); })};  // 1 if x > 0
  });
}

Tensor leaky_relu(const Tensor& x, double slope) {
  Tensor y = unary(x, "leaky_relu", [slope](auto v) { return v > 0 ? v : static_cast<decltype(v)>(slope) * v; });
  return record(Op::LeakyRelu, y, {x}, [x = x.detach(), slope](const Tensor& g) {
    return Grads{grad_times(g, x, "leaky_relu", [slope](auto v) {  // 1 if x > 0 else slope
      return static_cast<decltype(v)>(v > 0 ? 1.0 : slope);
    })};
  });
}

Tensor elu(const Tensor& x, double alpha) {
  Tensor y = unary(x, "elu", [alpha](auto v) {
    using T = decltype(v);
    return v > 0 ? v : static_cast<T>(alpha) * std::expm1(v);
  });
  return record(Op::Elu, y, {x}, [x = x.detach(), alpha](const Tensor& g) {
    return Grads{grad_times(g, x, "elu", [alpha](auto v) {  // 1 if x > 0 else alpha e^x
      using T = decltype(v);
      return v > 0 ? T(1) : static_cast<T>(alpha) * std::exp(v);
    })};
  });
}

Tensor gelu(const Tensor& x) {
  Tensor y = unary(x, "gelu", [](auto v) {
    using T = decltype(v);
    return v * T(0.5) * (T(1) + std::erf(v * T(M_SQRT1_2)));
  });
  return record(Op::Gelu, y, {x}, [x = x.detach()](const Tensor& g) {
    return Grads{grad_times(g, x, "gelu", [](auto v) {      // Φ(x) + x φ(x)
      using T = decltype(v);
      T cdf = T(0.5) * (T(1) + std::erf(v * T(M_SQRT1_2)));
      T pdf = std::exp(T(-0.5) * v * v) * T(0.5 * M_2_SQRTPI * M_SQRT1_2);
      return cdf + v * pdf;
    })};
  });
}

namespace {
constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
constexpr double kSeluScale = 1.0507009873554804934193349852946;
}  // namespace

Tensor selu(const Tensor& x) {
  Tensor y = unary(x, "selu", [](auto v) {
    using T = decltype(v);
    return static_cast<T>(kSeluScale) * (v > 0 ? v : static_cast<T>(kSeluAlpha) * std::expm1(v));
  });
  return record(Op::Selu, y, {x}, [x = x.detach()](const Tensor& g) {
    return Grads{grad_times(g, x, "selu", [](auto v) {      // scale (1 if x > 0 else alpha e^x)
      using T = decltype(v);
      return static_cast<T>(kSeluScale) * (v > 0 ? T(1) : static_cast<T>(kSeluAlpha) * std::exp(v));
    })};
  });
}

Tensor softplus(const Tensor& x, double beta, double threshold) {
  Tensor y = unary(x, "softplus", [beta, threshold](auto v) {
    using T = decltype(v);
    T bx = static_cast<T>(beta) * v;
    return bx > static_cast<T>(threshold) ? v : std::log1p(std::exp(bx)) / static_cast<T>(beta);
  });
  return record(Op::Softplus, y, {x}, [x = x.detach(), beta, threshold](const Tensor& g) {
    return Grads{grad_times(g, x, "softplus", [beta, threshold](auto v) {  // σ(beta x), 1 past threshold
      using T = decltype(v);
      T bx = static_cast<T>(beta) * v;
      return bx > static_cast<T>(threshold) ? T(1) : T(1) / (T(1) + std::exp(-bx));
    })};
  });
}

}  // namespace descent::ops
