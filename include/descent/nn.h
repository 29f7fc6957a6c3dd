// descent/nn.h — modules: layers with parameters, composed into networks.
//
// A Module owns named parameters (trainable leaves) and buffers (state saved with the weights,
// e.g. batch-norm running statistics) and child modules. Names follow PyTorch's state_dict, so
// a `Sequential` of Linear/ReLU/Linear has parameters "0.weight", "0.bias", "2.weight", "2.bias"
// and Linear's weight is [out, in]: weights move between descent and torch.nn without renaming.
//
//   auto net = std::make_shared<descent::nn::Sequential>();
//   net->push_back(std::make_shared<descent::nn::Linear>(784, 256));
//   net->push_back(std::make_shared<descent::nn::ReLU>());
//   net->push_back(std::make_shared<descent::nn::Linear>(256, 10));
//   descent::Tensor logits = (*net)(x);          // x: [N, 784]
#pragma once
#include <array>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "descent/config.h"
#include "descent/ops.h"
#include "descent/tensor.h"

namespace descent::nn {

/// (name, tensor) pairs in registration order.
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

/// Base of every layer and network.
class Module {
 public:
  virtual ~Module() = default;
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  /// Computes the output for a batch.
  virtual Tensor forward(const Tensor& x) = 0;
  /// Same as forward.
  Tensor operator()(const Tensor& x) { return forward(x); }
  /// Type as in torch.nn ("Linear", "ReLU", ...).
  virtual std::string type_name() const = 0;
  /// One-line description with the layer's arguments.
  virtual std::string describe() const { return type_name(); }
  /// Per-sample output shape for a per-sample input shape; throws when the shapes do not chain.
  virtual Shape output_shape(const Shape& input) const { return input; }

  /// All trainable parameters, depth-first.
  std::vector<Tensor> parameters() const;
  /// Parameters with PyTorch state_dict names ("0.weight").
  NamedTensors named_parameters() const;
  /// Buffers with PyTorch state_dict names ("1.running_mean").
  NamedTensors named_buffers() const;
  /// Parameters and buffers together, in PyTorch's state_dict order.
  NamedTensors state_dict() const;
  /// Direct children with their names.
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const { return children_; }

  /// Training mode on/off (dropout, batch norm), recursively.
  void train(bool on = true);
  /// Evaluation mode.
  void eval() { train(false); }
  /// True in training mode.
  bool is_training() const { return training_; }
  /// Clears every parameter's gradient.
  void zero_grad();
  /// Converts parameters and buffers to a dtype (keeps requires_grad).
  void to(DType dtype);

 protected:
  /// Registers a parameter stored in a member field (the field stays the handle users see).
  void register_parameter(const std::string& name, Tensor* field);
  /// Registers a buffer stored in a member field.
  void register_buffer(const std::string& name, Tensor* field);
  /// Registers a child module.
  void register_module(const std::string& name, std::shared_ptr<Module> child);
  /// Hook for modules whose behaviour depends on the mode.
  virtual void on_mode_change(bool /*training*/) {}

 private:
  void collect(const std::string& prefix, NamedTensors& out, bool params, bool buffers) const;
  std::vector<std::pair<std::string, Tensor*>> params_;
  std::vector<std::pair<std::string, Tensor*>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

/// Options of Linear.
struct LinearOptions {
  bool bias = true;            ///< learnable bias
  DType dtype = DType::F32;    ///< parameter dtype
  uint64_t seed = 0;           ///< seed of torch's default init (kaiming_uniform a=√5)
};

/// y = x W^T + b with W [out, in], b [out]; default init as torch.nn.Linear.
class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, const LinearOptions& options = {});
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Linear"; }
  std::string describe() const override;
  Shape output_shape(const Shape& input) const override;
  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }
  Tensor weight;  ///< [out, in]
  Tensor bias;    ///< [out] or undefined

 private:
  int64_t in_, out_;
};

/// Runs children in order; children are named "0", "1", ...
class Sequential : public Module {
 public:
  Sequential() = default;
  /// Appends a module.
  void push_back(std::shared_ptr<Module> m);
  /// Number of modules.
  size_t size() const { return children().size(); }
  /// The i-th module.
  std::shared_ptr<Module> at(size_t i) const { return children().at(i).second; }
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Sequential"; }
  Shape output_shape(const Shape& input) const override;
  /// Called with (index, output) after each child's forward (monitors, init-check); {} clears it.
  using Observer = std::function<void(size_t index, const Tensor& output)>;
  /// Installs the observer.
  void set_observer(Observer observer) { observer_ = std::move(observer); }

 private:
  Observer observer_;
};

/// Flattens every dim after the batch dim.
class Flatten : public Module {
 public:
  Tensor forward(const Tensor& x) override { return ops::flatten(x, 1); }
  std::string type_name() const override { return "Flatten"; }
  Shape output_shape(const Shape& input) const override;
};

/// Identity (placeholder layer).
class Identity : public Module {
 public:
  Tensor forward(const Tensor& x) override { return x; }
  std::string type_name() const override { return "Identity"; }
};

/// max(x, 0).
class ReLU : public Module {
 public:
  Tensor forward(const Tensor& x) override { return ops::relu(x); }
  std::string type_name() const override { return "ReLU"; }
};
/// Logistic sigmoid.
class Sigmoid : public Module {
 public:
  Tensor forward(const Tensor& x) override { return ops::sigmoid(x); }
  std::string type_name() const override { return "Sigmoid"; }
};
/// tanh.
class Tanh : public Module {
 public:
  Tensor forward(const Tensor& x) override { return ops::tanh(x); }
  std::string type_name() const override { return "Tanh"; }
};
/// Leaky ReLU with a negative slope.
class LeakyReLU : public Module {
 public:
  explicit LeakyReLU(double negative_slope = 0.01) : slope_(negative_slope) {}
  Tensor forward(const Tensor& x) override { return ops::leaky_relu(x, slope_); }
  std::string type_name() const override { return "LeakyReLU"; }
  double negative_slope() const { return slope_; }

 private:
  double slope_;
};
/// ELU with alpha.
class ELU : public Module {
 public:
  explicit ELU(double alpha = 1.0) : alpha_(alpha) {}
  Tensor forward(const Tensor& x) override { return ops::elu(x, alpha_); }
  std::string type_name() const override { return "ELU"; }
  double alpha() const { return alpha_; }

 private:
  double alpha_;
};
/// GELU (erf form).
class GELU : public Module {
 public:
  Tensor forward(const Tensor& x) override { return ops::gelu(x); }
  std::string type_name() const override { return "GELU"; }
};
/// SELU.
class SELU : public Module {
 public:
  Tensor forward(const Tensor& x) override { return ops::selu(x); }
  std::string type_name() const override { return "SELU"; }
};
/// Softplus with beta and threshold.
class Softplus : public Module {
 public:
  explicit Softplus(double beta = 1.0, double threshold = 20.0) : beta_(beta), threshold_(threshold) {}
  Tensor forward(const Tensor& x) override { return ops::softplus(x, beta_, threshold_); }
  std::string type_name() const override { return "Softplus"; }

 private:
  double beta_, threshold_;
};
/// Softmax over a dim.
class Softmax : public Module {
 public:
  explicit Softmax(int64_t dim = -1) : dim_(dim) {}
  Tensor forward(const Tensor& x) override { return ops::softmax(x, dim_); }
  std::string type_name() const override { return "Softmax"; }
  /// The dim normalized over.
  int64_t dim() const { return dim_; }

 private:
  int64_t dim_;
};
/// Log-softmax over a dim.
class LogSoftmax : public Module {
 public:
  explicit LogSoftmax(int64_t dim = -1) : dim_(dim) {}
  Tensor forward(const Tensor& x) override { return ops::log_softmax(x, dim_); }
  std::string type_name() const override { return "LogSoftmax"; }
  /// The dim normalized over.
  int64_t dim() const { return dim_; }

 private:
  int64_t dim_;
};

/// Builds one layer from its config table for a per-sample input shape (`type` as torch.nn,
/// lower-case: "linear", "relu", "conv2d", ...); throws naming the layer for unknown types or keys.
std::shared_ptr<Module> make_layer(const Args& spec, const Shape& input_shape, DType dtype, Generator& gen,
                                   const std::string& default_init);
/// Builds the [model] section: a Sequential whose output shapes chain from input_shape.
std::shared_ptr<Sequential> build_model(const ModelConfig& model, DType dtype, uint64_t seed);
/// Prints each layer, its output shape and parameter count (torchsummary style).
std::string summary(const Sequential& model, const Shape& input_shape);

// ---- convolution and pooling (inputs [N, C, H, W]; per-axis values are {h, w}) ---------------

/// Options of Conv2d, as torch.nn.Conv2d's keyword arguments.
struct Conv2dOptions {
  std::array<int64_t, 2> stride{1, 1};    ///< step between windows
  std::array<int64_t, 2> padding{0, 0};   ///< zeros on each side
  std::array<int64_t, 2> dilation{1, 1};  ///< spacing of kernel taps
  int64_t groups = 1;                     ///< channel groups (in and out divisible by it)
  bool bias = true;                       ///< learnable bias
  DType dtype = DType::F32;               ///< parameter dtype
  uint64_t seed = 0;                      ///< seed of torch's default init (kaiming_uniform a=√5)
};

/// 2-d convolution, weight [out, in/groups, kh, kw] and bias [out] as torch.nn.Conv2d (same init).
class Conv2d : public Module {
 public:
  /// in_channels -> out_channels with a kh x kw kernel.
  Conv2d(int64_t in_channels, int64_t out_channels, std::array<int64_t, 2> kernel_size, const Conv2dOptions& options = {});
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Conv2d"; }
  std::string describe() const override;
  Shape output_shape(const Shape& input) const override;
  /// Input channels.
  int64_t in_channels() const { return in_; }
  /// Output channels.
  int64_t out_channels() const { return out_; }
  /// Kernel extent {kh, kw}.
  std::array<int64_t, 2> kernel_size() const { return kernel_; }
  /// Stride, padding, dilation, groups as constructed.
  const Conv2dOptions& options() const { return opt_; }
  Tensor weight;  ///< [out, in/groups, kh, kw]
  Tensor bias;    ///< [out] or undefined

 private:
  int64_t in_, out_;
  std::array<int64_t, 2> kernel_;
  Conv2dOptions opt_;
};

/// Max pooling (torch.nn.MaxPool2d); the gradient goes to the first arg-max of each window.
class MaxPool2d : public Module {
 public:
  /// Pooling with ops::Pool2dOptions (stride 0 = kernel_size).
  explicit MaxPool2d(const ops::Pool2dOptions& options) : opt_(options) {}
  Tensor forward(const Tensor& x) override { return ops::max_pool2d(x, opt_); }
  std::string type_name() const override { return "MaxPool2d"; }
  std::string describe() const override;
  Shape output_shape(const Shape& input) const override;
  /// The pooling options as constructed.
  const ops::Pool2dOptions& options() const { return opt_; }

 private:
  ops::Pool2dOptions opt_;
};

/// Average pooling (torch.nn.AvgPool2d, count_include_pad by default).
class AvgPool2d : public Module {
 public:
  /// Pooling with ops::Pool2dOptions (stride 0 = kernel_size).
  explicit AvgPool2d(const ops::Pool2dOptions& options) : opt_(options) {}
  Tensor forward(const Tensor& x) override { return ops::avg_pool2d(x, opt_); }
  std::string type_name() const override { return "AvgPool2d"; }
  std::string describe() const override;
  Shape output_shape(const Shape& input) const override;
  /// The pooling options as constructed.
  const ops::Pool2dOptions& options() const { return opt_; }

 private:
  ops::Pool2dOptions opt_;
};

/// torch.nn.AdaptiveAvgPool2d for output sizes dividing the input (1 = global mean, [N, C, 1, 1]).
class AdaptiveAvgPool2d : public Module {
 public:
  /// Output extent {h, w}.
  explicit AdaptiveAvgPool2d(std::array<int64_t, 2> output_size) : size_(output_size) {}
  Tensor forward(const Tensor& x) override { return ops::adaptive_avg_pool2d(x, size_); }
  std::string type_name() const override { return "AdaptiveAvgPool2d"; }
  std::string describe() const override;
  Shape output_shape(const Shape& input) const override;
  /// Output extent {h, w}.
  std::array<int64_t, 2> output_size() const { return size_; }

 private:
  std::array<int64_t, 2> size_;
};

/// Mean over H and W: [N, C, H, W] -> [N, C] (global average pooling, flattened).
class GlobalAvgPool2d : public Module {
 public:
  Tensor forward(const Tensor& x) override { return ops::global_avg_pool2d(x); }
  std::string type_name() const override { return "GlobalAvgPool2d"; }
  Shape output_shape(const Shape& input) const override;
};

// ---- normalization and dropout --------------------------------------------------------------

/// Options of BatchNorm1d / BatchNorm2d, as torch.
struct BatchNormOptions {
  double eps = 1e-5;                ///< added to the variance
  double momentum = 0.1;            ///< running = (1 - momentum) running + momentum batch
  /// torch's momentum=None: the running statistics are the plain average of every batch seen so
  /// far (factor 1 / num_batches_tracked after the increment); `momentum` is then ignored.
  bool cumulative = false;
  bool affine = true;               ///< learnable weight (γ, init 1) and bias (β, init 0)
  bool track_running_stats = true;  ///< keep running_mean / running_var and use them in eval mode
  DType dtype = DType::F32;         ///< parameter and buffer dtype
};

/// Batch normalization per channel (dim 1); BatchNorm1d and BatchNorm2d fix the input rank.
class BatchNorm : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  Shape output_shape(const Shape& input) const override;
  /// Channels (features) normalized.
  int64_t num_features() const { return features_; }
  /// eps, momentum, affine, track_running_stats as constructed.
  const BatchNormOptions& options() const { return opt_; }
  Tensor weight;               ///< γ [C] (affine)
  Tensor bias;                 ///< β [C] (affine)
  Tensor running_mean;         ///< [C], init 0 (track_running_stats)
  Tensor running_var;          ///< [C], init 1 (track_running_stats)
  Tensor num_batches_tracked;  ///< int64 0-d count of training batches (track_running_stats)

 protected:
  /// ranks = accepted per-sample ranks (e.g. {1, 2} for 1d, {3} for 2d).
  BatchNorm(int64_t num_features, const BatchNormOptions& options, std::vector<int64_t> ranks);

 private:
  int64_t features_;
  BatchNormOptions opt_;
  std::vector<int64_t> ranks_;
};

/// Batch normalization of [N, F] (or [N, C, L]) per feature.
class BatchNorm1d : public BatchNorm {
 public:
  /// Normalizes num_features features.
  explicit BatchNorm1d(int64_t num_features, const BatchNormOptions& options = {}) : BatchNorm(num_features, options, {1, 2}) {}
  std::string type_name() const override { return "BatchNorm1d"; }
};

/// Batch normalization of [N, C, H, W] per channel.
class BatchNorm2d : public BatchNorm {
 public:
  /// Normalizes num_features channels.
  explicit BatchNorm2d(int64_t num_features, const BatchNormOptions& options = {}) : BatchNorm(num_features, options, {3}) {}
  std::string type_name() const override { return "BatchNorm2d"; }
};

/// Options of LayerNorm, as torch.
struct LayerNormOptions {
  double eps = 1e-5;                ///< added to the variance
  bool elementwise_affine = true;   ///< learnable weight (init 1) and bias (init 0)
  bool bias = true;                 ///< learnable bias (with elementwise_affine)
  DType dtype = DType::F32;         ///< parameter dtype
};

/// Layer normalization over the trailing dims `normalized_shape` of each sample.
class LayerNorm : public Module {
 public:
  /// Normalizes over the last normalized_shape.size() dims.
  explicit LayerNorm(Shape normalized_shape, const LayerNormOptions& options = {});
  Tensor forward(const Tensor& x) override { return ops::layer_norm(x, shape_, weight, bias, opt_.eps); }
  std::string type_name() const override { return "LayerNorm"; }
  std::string describe() const override;
  Shape output_shape(const Shape& input) const override;
  Tensor weight;  ///< normalized_shape (elementwise_affine)
  Tensor bias;    ///< normalized_shape (elementwise_affine and bias)

 private:
  Shape shape_;
  LayerNormOptions opt_;
};

/// Dropout with inverted scaling: zeroes each value with probability p in training mode and
/// divides the rest by 1 - p; the identity in eval mode. Masks come from the module's own
/// generator, seeded at construction, so a run is reproducible.
class Dropout : public Module {
 public:
  /// Drop probability p in [0, 1] and the generator's seed.
  explicit Dropout(double p = 0.5, uint64_t seed = 0);
  Tensor forward(const Tensor& x) override { return ops::dropout(x, p_, is_training(), gen_); }
  std::string type_name() const override { return "Dropout"; }
  std::string describe() const override;
  /// Drop probability.
  double p() const { return p_; }
  /// The mask generator (its state goes into checkpoints).
  Generator& generator() { return gen_; }

 protected:
  double p_;
  Generator gen_;
};

/// Channel dropout (torch's Dropout2d) on [N, C, H, W] (or [C, H, W] unbatched): zeroes whole
/// feature maps with probability p, the kept ones divided by 1 - p. Neighbouring pixels of a map
/// are correlated, so element dropout barely regularizes convolutional features; dropping maps does.
class Dropout2d : public Dropout {
 public:
  explicit Dropout2d(double p = 0.5, uint64_t seed = 0) : Dropout(p, seed) {}
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Dropout2d"; }
  std::string describe() const override;
};

}  // namespace descent::nn
