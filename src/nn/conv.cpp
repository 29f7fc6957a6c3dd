// Conv2d and the pooling modules: argument checks, torch's default init, and per-sample shape
// inference ([C, H, W] in, [C', H', W'] out) so a config's layer chain is checked at build time.
#include "kernels/conv.h"

#include <fmt/format.h>

#include <cmath>

#include "descent/nn.h"
#include "kernels/pool.h"

namespace descent::nn {

namespace {
void check_chw(const Shape& in, const char* what) {
  if (in.size() != 3)
    throw Error(fmt::format("{} needs a per-sample input [C, H, W], gets {}{}", what, shape_str(in),
                            in.size() == 1 ? " (set [model] input_shape = [C, H, W], e.g. [1, 28, 28])" : ""));
}
std::string pair_str(const std::array<int64_t, 2>& p) { return fmt::format("({}, {})", p[0], p[1]); }
}  // namespace

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, std::array<int64_t, 2> kernel_size, const Conv2dOptions& opt)
    : in_(in_channels), out_(out_channels), kernel_(kernel_size), opt_(opt) {
  if (in_channels <= 0 || out_channels <= 0 || kernel_size[0] <= 0 || kernel_size[1] <= 0)
    throw Error(fmt::format("Conv2d: in_channels, out_channels and kernel_size must be positive, got {}, {}, {}",
                            in_channels, out_channels, pair_str(kernel_size)));
  if (opt.groups < 1 || in_channels % opt.groups != 0 || out_channels % opt.groups != 0)
    throw Error(fmt::format("Conv2d: groups = {} must divide in_channels = {} and out_channels = {}", opt.groups,
                            in_channels, out_channels));
  for (int i = 0; i < 2; ++i)
    if (opt.stride[i] < 1 || opt.dilation[i] < 1 || opt.padding[i] < 0)
      throw Error(fmt::format("Conv2d: stride {} and dilation {} must be >= 1, padding {} >= 0", pair_str(opt.stride),
                              pair_str(opt.dilation), pair_str(opt.padding)));
  // torch.nn.Conv2d's default: kaiming_uniform(a=√5) for W, i.e. U(±1/√fan_in), and the same bound for b.
  Generator gen(opt.seed);
  const int64_t fan_in = in_channels / opt.groups * kernel_size[0] * kernel_size[1];
  const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
  weight =
      uniform({out_channels, in_channels / opt.groups, kernel_size[0], kernel_size[1]}, -bound, bound, gen, opt.dtype)
          .requires_grad_();
  register_parameter("weight", &weight);
  if (opt.bias) {
    bias = uniform({out_channels}, -bound, bound, gen, opt.dtype).requires_grad_();
    register_parameter("bias", &bias);
  }
}

Tensor Conv2d::forward(const Tensor& x) {
  if (x.dim() != 4 || x.size(1) != in_)
    throw Error(
        fmt::format("Conv2d({} -> {}): input of shape {} (expected [N, {}, H, W])", in_, out_, x.shape_str(), in_));
  return ops::conv2d(
      x, weight, bias,
      {.stride = opt_.stride, .padding = opt_.padding, .dilation = opt_.dilation, .groups = opt_.groups});
}

std::string Conv2d::describe() const {
  std::string s =
      fmt::format("Conv2d({}, {}, kernel_size={}, stride={}", in_, out_, pair_str(kernel_), pair_str(opt_.stride));
  if (opt_.padding != std::array<int64_t, 2>{0, 0}) s += fmt::format(", padding={}", pair_str(opt_.padding));
  if (opt_.dilation != std::array<int64_t, 2>{1, 1}) s += fmt::format(", dilation={}", pair_str(opt_.dilation));
  if (opt_.groups != 1) s += fmt::format(", groups={}", opt_.groups);
  if (!bias.defined()) s += ", bias=False";
  return s + ")";
}

Shape Conv2d::output_shape(const Shape& in) const {
  check_chw(in, "Conv2d");
  if (in[0] != in_) throw Error(fmt::format("Conv2d expects {} input channels, gets shape {}", in_, shape_str(in)));
  const int64_t oh = kernels::conv2d_out_size(in[1], kernel_[0], opt_.stride[0], opt_.padding[0], opt_.dilation[0]);
  const int64_t ow = kernels::conv2d_out_size(in[2], kernel_[1], opt_.stride[1], opt_.padding[1], opt_.dilation[1]);
  if (oh < 1 || ow < 1)
    throw Error(fmt::format("Conv2d kernel {} (dilation {}, padding {}) does not fit the input {}", pair_str(kernel_),
                            pair_str(opt_.dilation), pair_str(opt_.padding), shape_str(in)));
  return {out_, oh, ow};
}

// ---- pooling ------------------------------------------------------------------------------------
namespace {
Shape pooled(const Shape& in, const ops::Pool2dOptions& o, const char* what) {
  check_chw(in, what);
  int64_t out[2];
  for (int i = 0; i < 2; ++i) {
    const int64_t k = o.kernel_size[i], st = o.stride[i] == 0 ? k : o.stride[i];
    if (k < 1 || st < 1 || o.dilation[i] < 1 || o.padding[i] < 0 || 2 * o.padding[i] > k)
      throw Error(
          fmt::format("{}: kernel_size {}, stride {}, padding {} are invalid (positive sizes, padding at most half "
                      "the kernel)",
                      what, pair_str(o.kernel_size), pair_str(o.stride), pair_str(o.padding)));
    out[i] = kernels::pool2d_out_size(in[1 + i], k, st, o.padding[i], o.dilation[i], o.ceil_mode);
  }
  if (out[0] < 1 || out[1] < 1)
    throw Error(fmt::format("{} kernel {} does not fit the input {}", what, pair_str(o.kernel_size), shape_str(in)));
  return {in[0], out[0], out[1]};
}
std::string pool_str(const char* name, const ops::Pool2dOptions& o) {
  std::array<int64_t, 2> st{o.stride[0] == 0 ? o.kernel_size[0] : o.stride[0],
                            o.stride[1] == 0 ? o.kernel_size[1] : o.stride[1]};
  std::string s = fmt::format("{}(kernel_size={}, stride={}", name, pair_str(o.kernel_size), pair_str(st));
  if (o.padding != std::array<int64_t, 2>{0, 0}) s += fmt::format(", padding={}", pair_str(o.padding));
  if (o.ceil_mode) s += ", ceil_mode=True";
  return s + ")";
}
}  // namespace

std::string MaxPool2d::describe() const { return pool_str("MaxPool2d", opt_); }
Shape MaxPool2d::output_shape(const Shape& in) const { return pooled(in, opt_, "MaxPool2d"); }
std::string AvgPool2d::describe() const { return pool_str("AvgPool2d", opt_); }
Shape AvgPool2d::output_shape(const Shape& in) const { return pooled(in, opt_, "AvgPool2d"); }

std::string AdaptiveAvgPool2d::describe() const {
  return fmt::format("AdaptiveAvgPool2d(output_size={})", pair_str(size_));
}
Shape AdaptiveAvgPool2d::output_shape(const Shape& in) const {
  check_chw(in, "AdaptiveAvgPool2d");
  if (size_[0] < 1 || size_[1] < 1 || in[1] % size_[0] != 0 || in[2] % size_[1] != 0)
    throw Error(
        fmt::format("AdaptiveAvgPool2d: output_size {} must divide the input's {}x{}", pair_str(size_), in[1], in[2]));
  return {in[0], size_[0], size_[1]};
}

Shape GlobalAvgPool2d::output_shape(const Shape& in) const {
  check_chw(in, "GlobalAvgPool2d");
  return {in[0]};
}

}  // namespace descent::nn
