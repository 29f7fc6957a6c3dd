// descent/gradcheck.h — "check the gradient!" as a library function.
//
// Compares backprop with central differences in float64 on the scalar sum(fn(x) * w), where w is
// a fixed random projection, so one backward checks every output element. An element passes when
// |analytic - numeric| <= atol + rtol * |numeric|. The first mismatch is reported: which input,
// which element, both values.
//
//   auto x = descent::uniform({3, 4}, -1, 1, gen, descent::DType::F64).requires_grad_();
//   auto r = descent::gradcheck([](const auto& in) { return descent::ops::tanh(in[0]); }, {x});
//   if (!r.ok) std::cerr << r.message << "\n";
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "descent/tensor.h"

namespace descent {

/// Step and tolerances of gradcheck (the defaults are the project's; do not loosen per op).
struct GradcheckOptions {
  double eps = 1e-6;    ///< central-difference step
  double atol = 1e-5;   ///< absolute tolerance
  double rtol = 1e-3;   ///< relative tolerance
  uint64_t seed = 0;    ///< seed of the projection w
};

/// Outcome of gradcheck; on failure the first mismatching element.
struct GradcheckResult {
  bool ok = true;          ///< every checked element within tolerance
  std::string message;     ///< one line describing the first mismatch
  int64_t input = -1;      ///< index of the input holding the mismatch
  int64_t index = -1;      ///< flat element index in that input
  double numeric = 0.0;    ///< central difference at that element
  double analytic = 0.0;   ///< backprop value at that element
  int64_t checked = 0;     ///< elements compared
};

/// Checks the gradients of fn with respect to every float64 input that requires grad.
GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& fn,
                          const std::vector<Tensor>& inputs, const GradcheckOptions& options = {});

}  // namespace descent
