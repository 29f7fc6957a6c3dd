// BatchNorm1d/2d and LayerNorm modules: parameters and buffers under torch's state_dict names,
// mode-dependent statistics (batch in training, running in eval), shape checks.
#include <fmt/format.h>

#include <algorithm>

#include "descent/nn.h"

namespace descent::nn {

BatchNorm::BatchNorm(int64_t num_features, const BatchNormOptions& opt, std::vector<int64_t> ranks)
    : features_(num_features), opt_(opt), ranks_(std::move(ranks)) {
  if (num_features <= 0) throw Error(fmt::format("BatchNorm: num_features must be positive, got {}", num_features));
  if (!(opt.eps > 0)) throw Error(fmt::format("BatchNorm: eps must be positive, got {}", opt.eps));
  if (!(opt.momentum >= 0 && opt.momentum <= 1))
    throw Error(fmt::format("BatchNorm: momentum must be in [0, 1], got {}", opt.momentum));
  if (opt.affine) {
    weight = ones({num_features}, opt.dtype).requires_grad_();
    bias = zeros({num_features}, opt.dtype).requires_grad_();
    register_parameter("weight", &weight);
    register_parameter("bias", &bias);
  }
  if (opt.track_running_stats) {
    running_mean = zeros({num_features}, opt.dtype);
    running_var = ones({num_features}, opt.dtype);
    num_batches_tracked = zeros({}, DType::I64);
    register_buffer("running_mean", &running_mean);
    register_buffer("running_var", &running_var);
    register_buffer("num_batches_tracked", &num_batches_tracked);
  }
}

Tensor BatchNorm::forward(const Tensor& x) {
  const int64_t rank = x.dim() - 1;
  if (std::find(ranks_.begin(), ranks_.end(), rank) == ranks_.end() || x.size(1) != features_)
    throw Error(fmt::format("{}({}): input of shape {} (expected {})", type_name(), features_, x.shape_str(),
                            ranks_.front() == 3 ? fmt::format("[N, {}, H, W]", features_)
                                                : fmt::format("[N, {}] or [N, {}, L]", features_, features_)));
  const bool training = is_training();
  // torch: eval mode with tracked statistics uses them; otherwise the batch's own statistics.
  double momentum = opt_.momentum;
  if (opt_.cumulative && training && opt_.track_running_stats)  // torch: 1 / num_batches_tracked after ++
    momentum = 1.0 / static_cast<double>(*num_batches_tracked.data<int64_t>() + 1);
  Tensor y = ops::batch_norm(x, running_mean, running_var, weight, bias, training || !opt_.track_running_stats,
                             momentum, opt_.eps);
  if (training && opt_.track_running_stats)
    ++*num_batches_tracked.data<int64_t>();  // after: a failed step counts nothing
  return y;
}

std::string BatchNorm::describe() const {
  return fmt::format("{}({}, eps={}, momentum={}, affine={}, track_running_stats={})", type_name(), features_, opt_.eps,
                     opt_.cumulative ? std::string("None") : fmt::format("{}", opt_.momentum), opt_.affine,
                     opt_.track_running_stats);
}

Shape BatchNorm::output_shape(const Shape& in) const {
  const auto rank = static_cast<int64_t>(in.size());
  if (std::find(ranks_.begin(), ranks_.end(), rank) == ranks_.end())
    throw Error(fmt::format("{} needs a per-sample input of {}, gets {}", type_name(),
                            ranks_.front() == 3 ? "[C, H, W]" : "[F] or [C, L]", shape_str(in)));
  if (in[0] != features_)
    throw Error(fmt::format("{} expects {} features/channels, gets shape {}", type_name(), features_, shape_str(in)));
  return in;
}

LayerNorm::LayerNorm(Shape normalized_shape, const LayerNormOptions& opt)
    : shape_(std::move(normalized_shape)), opt_(opt) {
  if (shape_.empty() || std::any_of(shape_.begin(), shape_.end(), [](int64_t e) { return e <= 0; }))
    throw Error(fmt::format("LayerNorm: normalized_shape must be non-empty and positive, got {}", shape_str(shape_)));
  if (!(opt.eps > 0)) throw Error(fmt::format("LayerNorm: eps must be positive, got {}", opt.eps));
  if (opt.elementwise_affine) {
    weight = ones(shape_, opt.dtype).requires_grad_();
    register_parameter("weight", &weight);
    if (opt.bias) {
      bias = zeros(shape_, opt.dtype).requires_grad_();
      register_parameter("bias", &bias);
    }
  }
}

std::string LayerNorm::describe() const {
  return fmt::format("LayerNorm({}, eps={}, elementwise_affine={})", shape_str(shape_), opt_.eps,
                     opt_.elementwise_affine);
}

Shape LayerNorm::output_shape(const Shape& in) const {
  bool ok = in.size() >= shape_.size() &&
            std::equal(shape_.begin(), shape_.end(), in.end() - static_cast<ptrdiff_t>(shape_.size()));
  if (!ok)
    throw Error(fmt::format("LayerNorm: normalized_shape {} must be the trailing dims of the per-sample input, gets {}",
                            shape_str(shape_), shape_str(in)));
  return in;
}

}  // namespace descent::nn
