// Internal: statistics of one layer output (the monitor and init-check share them), finite checks,
// and small text helpers of the diag folder.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "descent/nn.h"
#include "descent/tensor.h"

namespace descent::diag {

/// What a layer's output means for the rules.
enum class LayerKind : uint8_t { Relu, Sigmoid, Tanh, Other, Count };

/// Kind of a module by its type name.
LayerKind layer_kind(const nn::Module& m);
/// Lower-case type name as in configs ("linear", "relu", "conv2d").
std::string layer_type(const nn::Module& m);
/// True for modules that hold parameters (their gradient norms are tracked).
bool has_parameters(const nn::Module& m);

/// Moments, saturation and zeros of one output tensor (one pass; F32 or F64).
struct OutputStats {
  double mean = 0.0, std = 0.0, min = 0.0, max = 0.0;
  int64_t count = 0;      ///< elements
  int64_t zeros = 0;      ///< elements exactly 0
  int64_t saturated = 0;  ///< elements saturated for the layer kind (0 for Other/Relu)
  int64_t nonfinite = 0;  ///< NaN or Inf elements
};
/// Measures `t`; saturation is judged by `kind`.
OutputStats output_stats(const Tensor& t, LayerKind kind);

/// Ors into `alive` (one flag per unit = per element of a sample) whether the unit was > 0 on any
/// sample of the batch `t` [N, ...]; resizes `alive` on first use.
void mark_alive(const Tensor& t, std::vector<uint8_t>& alive);

/// Histogram of `t` over [lo, hi] with `bins` bins (values outside are clamped into the end bins).
std::vector<int64_t> histogram(const Tensor& t, double lo, double hi, int64_t bins);
/// A histogram range for a layer: fixed for tanh [-1, 1] and sigmoid [0, 1], else [min, max].
void histogram_range(LayerKind kind, const OutputStats& s, double& lo, double& hi);

/// True when every element of a floating tensor is finite (undefined counts as finite).
bool all_finite(const Tensor& t);
/// Euclidean norm of a floating tensor (0 for undefined).
double l2_norm(const Tensor& t);
/// ‖a − b‖ of two floating tensors of one dtype and size, without a temporary (NaN otherwise).
double l2_distance(const Tensor& a, const Tensor& b);
/// Population std of a floating tensor (0 for undefined or empty).
double tensor_std(const Tensor& t);

/// "1.2e-05", "0.31", "12.5": a compact number for messages.
std::string fmt_num(double v);
/// Escapes &, <, >, " for HTML.
std::string html_escape(const std::string& s);

}  // namespace descent::diag
