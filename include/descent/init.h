// descent/init.h — weight initializers, as torch.nn.init, chosen per layer.
//
// The lecture's point: initialization decides whether activations and gradients survive the
// depth of the network. Xavier (Glorot) keeps the variance for tanh/sigmoid layers, Kaiming (He)
// for ReLU; too small (normal 0.01) or too large (normal 1.0) weights saturate or vanish.
// Fans follow torch: for a weight [out, in, k...], fan_in = in·Πk, fan_out = out·Πk.
//
//   descent::Generator gen(0);
//   descent::init::kaiming_uniform_(linear.weight, gen);          // gain √2, fan_in
//   descent::init::apply(linear, descent::init::parse("xavier_normal"), gen);
#pragma once
#include <string>

#include "descent/tensor.h"

namespace descent::nn {
class Module;
}

namespace descent::init {

/// Fan mode for Kaiming initializers.
enum class FanMode { FanIn, FanOut };

/// Recommended gain of torch.nn.init.calculate_gain ("linear", "sigmoid", "tanh", "relu",
/// "leaky_relu" with `param` as the slope, "selu").
double calculate_gain(const std::string& nonlinearity, double param = 0.01);
/// (fan_in, fan_out) of a weight of at least 2 dims.
std::pair<int64_t, int64_t> fans(const Tensor& w);

/// U(-a, a), a = gain·√(6 / (fan_in + fan_out)).
void xavier_uniform_(Tensor& w, Generator& gen, double gain = 1.0);
/// N(0, gain²·2 / (fan_in + fan_out)).
void xavier_normal_(Tensor& w, Generator& gen, double gain = 1.0);
/// U(-b, b), b = gain·√(3 / fan), gain from `nonlinearity` and slope a.
void kaiming_uniform_(Tensor& w, Generator& gen, double a = 0.0, FanMode mode = FanMode::FanIn,
                      const std::string& nonlinearity = "relu");
/// N(0, gain² / fan).
void kaiming_normal_(Tensor& w, Generator& gen, double a = 0.0, FanMode mode = FanMode::FanIn,
                     const std::string& nonlinearity = "relu");
/// N(0, 1 / fan_in) (for SELU networks).
void lecun_normal_(Tensor& w, Generator& gen);
/// N(mean, std²).
void normal_(Tensor& w, Generator& gen, double mean = 0.0, double std = 1.0);
/// U(a, b).
void uniform_(Tensor& w, Generator& gen, double a = 0.0, double b = 1.0);
/// Every element = v.
void constant_(Tensor& w, double v);
/// Every element = 0.
void zeros_(Tensor& w);

/// A named initializer with its arguments, as written in a config.
struct Spec {
  std::string name = "default";  ///< default | xavier_uniform | xavier_normal | kaiming_uniform |
                                 ///< kaiming_normal | lecun_normal | normal | uniform | constant | zeros
  double gain = 1.0;             ///< xavier gain
  double std = 0.01;             ///< normal std
  double mean = 0.0;             ///< normal mean
  double a = -0.05, b = 0.05;    ///< uniform bounds
  double value = 0.0;            ///< constant value
  std::string nonlinearity = "relu";  ///< kaiming gain
  FanMode mode = FanMode::FanIn;      ///< kaiming fan
  double slope = 0.0;                 ///< kaiming leaky_relu slope
};
/// Parses "xavier_uniform", "normal(0.01)", "normal(std=1.0)", "uniform(-0.1,0.1)", "constant(0.5)";
/// throws descent::Error naming the text.
Spec parse(const std::string& text);
/// Applies spec to a tensor (weights of >= 2 dims for the fan-based schemes).
void apply(Tensor& w, const Spec& spec, Generator& gen);
/// Applies spec to every weight of a module (biases are set to zero unless spec is "default",
/// which keeps torch's default init of the layer).
void apply(nn::Module& m, const Spec& spec, Generator& gen);

}  // namespace descent::init
