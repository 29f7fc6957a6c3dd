// Numbers of the layer ops: forward values against plain float64 loops written here, the
// float32 oneDNN convolution against the float64 loops, and outputs and gradients against
// PyTorch's (tests/golden/layers.json, written by scripts/gen_layers_golden.py).
//
// To add a case: a golden case is a row in scripts/gen_layers_golden.py plus a TEST below that
// looks it up by name; a reference case needs its loop here, independent of src/kernels.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <tuple>

#include "descent/nn.h"
#include "descent/ops.h"
#include "kernels/conv.h"
#include "kernels/norm.h"
#include "kernels/pool.h"

using namespace descent;
using json = nlohmann::json;

namespace {

Tensor rand_tensor(const Shape& s, uint64_t seed, DType d = DType::F64, double lo = -1, double hi = 1) {
  Generator gen(seed);
  return uniform(s, lo, hi, gen, d);
}

void expect_near_all(const Tensor& got, const std::vector<double>& want, double rtol, double atol,
                     const std::string& what) {
  ASSERT_EQ(got.numel(), static_cast<int64_t>(want.size())) << what;
  std::vector<double> g = got.to_vector();
  for (size_t i = 0; i < g.size(); ++i)
    ASSERT_NEAR(g[i], want[i], atol + rtol * std::abs(want[i])) << what << " at flat index " << i;
}

// ---- reference loops (written independently of src/kernels) ----------------------------------

// Explicitly zero-padded input, then the textbook sum: y[n,o,i,j] = b[o] + Σ x_pad[n, g·cg+c, i·s + k·d] w[o,c,k].
std::vector<double> ref_conv(const Tensor& x, const Tensor& w, const Tensor& b, const ops::Conv2dOptions& o,
                             Shape& out) {
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), wd = x.size(3);
  const int64_t oc = w.size(0), cg = w.size(1), kh = w.size(2), kw = w.size(3), og = oc / o.groups;
  const int64_t hp = h + 2 * o.padding[0], wp = wd + 2 * o.padding[1];
  std::vector<double> pad(static_cast<size_t>(n * c * hp * wp), 0.0);
  for (int64_t a = 0; a < n * c; ++a)
    for (int64_t i = 0; i < h; ++i)
      for (int64_t j = 0; j < wd; ++j)
        pad[(a * hp + i + o.padding[0]) * wp + j + o.padding[1]] = x.at({a / c, a % c, i, j});
  const int64_t oh = (hp - o.dilation[0] * (kh - 1) - 1) / o.stride[0] + 1;
  const int64_t ow = (wp - o.dilation[1] * (kw - 1) - 1) / o.stride[1] + 1;
  out = {n, oc, oh, ow};
  std::vector<double> y;
  for (int64_t s = 0; s < n; ++s)
    for (int64_t f = 0; f < oc; ++f)
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j) {
          double acc = b.defined() ? b.at({f}) : 0.0;
          for (int64_t ci = 0; ci < cg; ++ci)
            for (int64_t ki = 0; ki < kh; ++ki)
              for (int64_t kj = 0; kj < kw; ++kj) {
                const int64_t ch = (f / og) * cg + ci;
                acc += pad[((s * c + ch) * hp + i * o.stride[0] + ki * o.dilation[0]) * wp + j * o.stride[1] +
                           kj * o.dilation[1]] *
                       w.at({f, ci, ki, kj});
              }
          y.push_back(acc);
        }
  return y;
}

// Pools over windows listed explicitly; max ignores padding, avg divides by k² (count_include_pad).
std::vector<double> ref_pool(const Tensor& x, int64_t k, int64_t s, int64_t p, bool max) {
  const int64_t planes = x.size(0) * x.size(1), h = x.size(2), w = x.size(3);
  const int64_t oh = (h + 2 * p - k) / s + 1, ow = (w + 2 * p - k) / s + 1;
  std::vector<double> xs = x.to_vector(), y;
  for (int64_t a = 0; a < planes; ++a)
    for (int64_t i = 0; i < oh; ++i)
      for (int64_t j = 0; j < ow; ++j) {
        double acc = max ? -std::numeric_limits<double>::infinity() : 0.0;
        for (int64_t u = i * s - p; u < i * s - p + k; ++u)
          for (int64_t v = j * s - p; v < j * s - p + k; ++v) {
            if (u < 0 || v < 0 || u >= h || v >= w) continue;
            const double e = xs[static_cast<size_t>((a * h + u) * w + v)];
            acc = max ? std::max(acc, e) : acc + e;
          }
        y.push_back(max ? acc : acc / static_cast<double>(k * k));
      }
  return y;
}

TEST(Conv2d, Float64MatchesReferenceLoops) {
  struct G {
    Shape x, w;
    ops::Conv2dOptions o;
    bool bias;
  };
  for (const G& g :
       {G{{2, 3, 8, 7}, {4, 3, 3, 3}, {}, true}, G{{1, 2, 9, 9}, {3, 2, 3, 2}, {{2, 1}, {1, 2}, {1, 2}, 1}, false},
        G{{2, 4, 6, 6}, {6, 2, 2, 3}, {{1, 2}, {0, 1}, {2, 1}, 2}, true}}) {
    Tensor x = rand_tensor(g.x, 1), w = rand_tensor(g.w, 2), b = g.bias ? rand_tensor({g.w[0]}, 3) : Tensor();
    Shape shape;
    std::vector<double> want = ref_conv(x, w, b, g.o, shape);
    Tensor y = ops::conv2d(x, w, b, g.o);
    EXPECT_EQ(y.shape(), shape);
    expect_near_all(y, want, 1e-12, 1e-12, "conv2d f64");
  }
}

// The float32 path (oneDNN, in either layout) against the float64 loops, forward and backward.
TEST(Conv2d, Float32OneDnnMatchesFloat64Loops) {
  struct G {
    Shape x, w;
    ops::Conv2dOptions o;
  };
  const std::vector<G> geometries = {{{8, 1, 28, 28}, {32, 1, 3, 3}, {}},
                                     {{4, 32, 13, 13}, {64, 32, 3, 3}, {}},
                                     {{3, 6, 11, 10}, {8, 6, 3, 2}, {{2, 1}, {1, 2}, {1, 2}, 1}},
                                     {{2, 8, 9, 9}, {12, 4, 3, 3}, {{1, 1}, {1, 1}, {2, 2}, 2}}};
  using kernels::ConvLayout;
  for (ConvLayout layout : {ConvLayout::Blocked, ConvLayout::Plain}) {
    kernels::set_conv_layout(layout, layout, layout);
    for (const G& g : geometries) {
      Tensor x = rand_tensor(g.x, 4), w = rand_tensor(g.w, 5), b = rand_tensor({g.w[0]}, 6);
      Tensor x32 = x.to(DType::F32).requires_grad_(), w32 = w.to(DType::F32).requires_grad_(),
             b32 = b.to(DType::F32).requires_grad_();
      Tensor x64 = x.requires_grad_(), w64 = w.requires_grad_(), b64 = b.requires_grad_();
      Tensor y32 = ops::conv2d(x32, w32, b32, g.o), y64 = ops::conv2d(x64, w64, b64, g.o);
      Tensor r = rand_tensor(y64.shape(), 7);
      ops::sum(y32 * r.to(DType::F32)).backward();
      ops::sum(y64 * r).backward();
      const std::string what = "conv2d f32 " + shape_str(g.x) + " x " + shape_str(g.w);
      // float32 sums of up to 288 products of values in [-1, 1]: error ~1e-6 relative to the scale
      expect_near_all(y32, y64.to_vector(), 1e-4, 1e-4, what + " forward");
      expect_near_all(x32.grad(), x64.grad().to_vector(), 1e-4, 1e-4, what + " dx");
      expect_near_all(w32.grad(), w64.grad().to_vector(), 1e-4, 1e-3, what + " dw");
      expect_near_all(b32.grad(), b64.grad().to_vector(), 1e-4, 1e-3, what + " db");
    }
  }
  kernels::set_conv_layout(ConvLayout::Blocked, ConvLayout::Blocked, ConvLayout::Blocked);
}

// Kernels assign their outputs: every element is written even when the buffer starts as NaN
// (odd extents leave rows outside every pooling window; ceil_mode adds clipped windows).
TEST(Kernels, AssignEveryOutputElement) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  auto all_finite = [](const std::vector<double>& v) {
    return std::all_of(v.begin(), v.end(), [](double e) { return std::isfinite(e); });
  };
  kernels::Conv2dShape cs{2, 4, 7, 6, 6, 3, 2, 0, 0, 2, 1, 1, 0, 1, 2, 2};
  cs.oh = kernels::conv2d_out_size(7, 3, 2, 1, 1);
  cs.ow = kernels::conv2d_out_size(6, 2, 1, 0, 2);
  std::vector<double> x(2 * 4 * 7 * 6, 0.5), w(6 * 2 * 3 * 2, 0.25), b(6, 0.1);
  std::vector<double> y(static_cast<size_t>(2 * 6 * cs.oh * cs.ow), nan), gx(x.size(), nan), gw(w.size(), nan),
      gb(6, nan);
  kernels::conv2d_forward(cs, x.data(), w.data(), b.data(), y.data());
  kernels::conv2d_backward(cs, x.data(), w.data(), y.data(), gx.data(), gw.data(), gb.data());
  EXPECT_TRUE(all_finite(y) && all_finite(gx) && all_finite(gw) && all_finite(gb));
  std::vector<float> xf(x.begin(), x.end()), wf(w.begin(), w.end()), bf(b.begin(), b.end()), yf(y.size(), NAN),
      gxf(x.size(), NAN), gwf(w.size(), NAN), gbf(6, NAN);
  kernels::conv2d_forward(cs, xf.data(), wf.data(), bf.data(), yf.data());
  kernels::conv2d_backward(cs, xf.data(), wf.data(), yf.data(), gxf.data(), gwf.data(), gbf.data());
  for (const auto* v : {&yf, &gxf, &gwf, &gbf}) EXPECT_TRUE(all_finite(std::vector<double>(v->begin(), v->end())));

  for (auto [k, st, pad, ceil] : {std::tuple{2, 2, 0, false}, std::tuple{3, 2, 1, true}, std::tuple{2, 2, 1, true}}) {
    kernels::Pool2dShape ps{3, 7, 5, 0, 0, k, k, st, st, pad, pad, 1, 1};
    ps.oh = kernels::pool2d_out_size(7, k, st, pad, 1, ceil);
    ps.ow = kernels::pool2d_out_size(5, k, st, pad, 1, ceil);
    std::vector<double> px(3 * 7 * 5), py(static_cast<size_t>(3 * ps.oh * ps.ow), nan), pg(px.size(), nan);
    for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<double>((i * 7) % 11);
    std::vector<int32_t> arg(py.size(), -1);
    kernels::max_pool2d_forward(ps, px.data(), py.data(), arg.data());
    kernels::max_pool2d_backward(ps, py.data(), arg.data(), pg.data());
    EXPECT_TRUE(all_finite(py) && all_finite(pg)) << "max k" << k;
    std::fill(py.begin(), py.end(), nan);
    std::fill(pg.begin(), pg.end(), nan);
    kernels::avg_pool2d_forward(ps, false, px.data(), py.data());
    kernels::avg_pool2d_backward(ps, false, py.data(), pg.data());
    EXPECT_TRUE(all_finite(py) && all_finite(pg)) << "avg k" << k;
  }
}

// The normalization kernels assign every output too (gradients of x, weight and bias).
TEST(Kernels, NormsAssignEveryOutputElement) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  auto finite = [](const std::vector<double>& v) {
    return std::all_of(v.begin(), v.end(), [](double e) { return std::isfinite(e); });
  };
  const int64_t outer = 3, c = 4, inner = 5;
  std::vector<double> x(outer * c * inner), g(x.size()), w(c, 1.5), b(c, 0.5), mean(c), var(c), invstd(c);
  for (size_t i = 0; i < x.size(); ++i)
    x[i] = std::sin(static_cast<double>(i)), g[i] = std::cos(static_cast<double>(i));
  kernels::batch_norm_stats(x.data(), outer, c, inner, mean.data(), var.data());
  for (int64_t k = 0; k < c; ++k) invstd[k] = 1 / std::sqrt(var[k] + 1e-5);
  for (bool batch_stats : {true, false}) {
    std::vector<double> y(x.size(), nan), gx(x.size(), nan), gw(c, nan), gb(c, nan);
    kernels::batch_norm_apply(x.data(), outer, c, inner, mean.data(), invstd.data(), w.data(), b.data(), y.data());
    kernels::batch_norm_backward(x.data(), g.data(), outer, c, inner, mean.data(), invstd.data(), w.data(), batch_stats,
                                 gx.data(), gw.data(), gb.data());
    EXPECT_TRUE(finite(y) && finite(gx) && finite(gw) && finite(gb)) << "batch_stats " << batch_stats;
  }
  std::vector<double> y(x.size(), nan), gx(x.size(), nan), gw(inner, nan), gb(inner, nan), lm(outer * c), ls(outer * c);
  std::vector<double> lw(inner, 1.5), lb(inner, 0.5);
  kernels::layer_norm_forward(x.data(), outer * c, inner, lw.data(), lb.data(), 1e-5, y.data(), lm.data(), ls.data());
  kernels::layer_norm_backward(x.data(), g.data(), outer * c, inner, lm.data(), ls.data(), lw.data(), gx.data(),
                               gw.data(), gb.data());
  EXPECT_TRUE(finite(y) && finite(gx) && finite(gw) && finite(gb));
}

TEST(Conv2d, RejectsMismatchedShapes) {
  Tensor x = zeros({1, 3, 5, 5}, DType::F64), w = zeros({4, 2, 3, 3}, DType::F64);
  EXPECT_THROW(ops::conv2d(x, w), Error);                                // 3 channels vs 2
  EXPECT_THROW(ops::conv2d(x, zeros({4, 3, 7, 7}, DType::F64)), Error);  // kernel larger than input
  EXPECT_THROW(ops::conv2d(x, zeros({4, 3, 3, 3}, DType::F64), zeros({3}, DType::F64)), Error);   // bias size
  EXPECT_THROW(ops::conv2d(x, zeros({4, 1, 3, 3}, DType::F64), Tensor(), {.groups = 2}), Error);  // 3 % 2
}

TEST(Pool2d, MatchReferenceLoops) {
  Tensor x = rand_tensor({2, 3, 7, 6}, 8);
  expect_near_all(ops::max_pool2d(x), ref_pool(x, 2, 2, 0, true), 0, 0, "max 2x2");
  expect_near_all(ops::max_pool2d(x, {.kernel_size = {3, 3}, .stride = {2, 2}, .padding = {1, 1}}),
                  ref_pool(x, 3, 2, 1, true), 0, 0, "max 3x3 s2 p1");
  expect_near_all(ops::avg_pool2d(x), ref_pool(x, 2, 2, 0, false), 1e-15, 1e-15, "avg 2x2");
  expect_near_all(ops::avg_pool2d(x, {.kernel_size = {3, 3}, .stride = {1, 1}, .padding = {1, 1}}),
                  ref_pool(x, 3, 1, 1, false), 1e-15, 1e-15, "avg 3x3 s1 p1");
  Tensor xf = x.to(DType::F32);
  expect_near_all(ops::max_pool2d(xf), ops::max_pool2d(x).to_vector(), 1e-7, 0, "max f32");
}

// PyTorch sends a max-pool gradient to the first maximum of a window (row-major), nowhere else.
TEST(Pool2d, MaxGradientGoesToFirstOfTiedMaxima) {
  // 2x2 windows: top-left has 3 at (0,1) and (1,0) -> (0,1); top-right 3 at (0,2) only;
  // bottom-left four 5s -> (2,0); bottom-right four 0s -> (2,2).
  Tensor x = from_vector({1, 3, 3, 0, 3, 2, 1, 1, 5, 5, 0, 0, 5, 5, 0, 0}, {1, 1, 4, 4}, DType::F64).requires_grad_();
  ops::sum(ops::max_pool2d(x)).backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{0, 1, 1, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0}));
}

TEST(Pool2d, GlobalAverageIsThePlaneMean) {
  Tensor x = rand_tensor({2, 3, 4, 5}, 9);
  Tensor y = ops::global_avg_pool2d(x);
  ASSERT_EQ(y.shape(), (Shape{2, 3}));
  for (int64_t a = 0; a < 6; ++a) {
    double s = 0;
    for (int64_t i = 0; i < 20; ++i) s += x.to_vector()[static_cast<size_t>(a * 20 + i)];
    EXPECT_NEAR(y.to_vector()[static_cast<size_t>(a)], s / 20, 1e-15);
  }
  EXPECT_EQ(ops::adaptive_avg_pool2d(x, {1, 1}).shape(), (Shape{2, 3, 1, 1}));
  EXPECT_THROW(ops::adaptive_avg_pool2d(x, {3, 3}), Error);  // 3 does not divide 4
}

TEST(Norm, BatchAndLayerNormMatchTheFormula) {
  Tensor x = rand_tensor({4, 3, 2, 2}, 10, DType::F64, -2, 3);
  Tensor w = from_vector({0.5, 1.5, 2.0}, {3}, DType::F64), b = from_vector({0.1, -0.2, 0.3}, {3}, DType::F64);
  Tensor y = ops::batch_norm(x, Tensor(), Tensor(), w, b, true, 0.1, 1e-5);
  for (int64_t c = 0; c < 3; ++c) {
    double m = 0, v = 0;
    for (int64_t n = 0; n < 4; ++n)
      for (int64_t i = 0; i < 4; ++i) m += x.at({n, c, i / 2, i % 2}) / 16;
    for (int64_t n = 0; n < 4; ++n)
      for (int64_t i = 0; i < 4; ++i) v += std::pow(x.at({n, c, i / 2, i % 2}) - m, 2) / 16;  // biased
    for (int64_t n = 0; n < 4; ++n)
      for (int64_t i = 0; i < 4; ++i)
        EXPECT_NEAR(y.at({n, c, i / 2, i % 2}),
                    (x.at({n, c, i / 2, i % 2}) - m) / std::sqrt(v + 1e-5) * w.at({c}) + b.at({c}), 1e-12);
  }
  Tensor z = rand_tensor({3, 6}, 11);
  Tensor lz = ops::layer_norm(z, {6});
  for (int64_t r = 0; r < 3; ++r) {
    double m = 0, v = 0;
    for (int64_t i = 0; i < 6; ++i) m += z.at({r, i}) / 6;
    for (int64_t i = 0; i < 6; ++i) v += std::pow(z.at({r, i}) - m, 2) / 6;
    for (int64_t i = 0; i < 6; ++i) EXPECT_NEAR(lz.at({r, i}), (z.at({r, i}) - m) / std::sqrt(v + 1e-5), 1e-12);
  }
  Tensor one = rand_tensor({1, 3}, 12);
  EXPECT_THROW(ops::batch_norm(one, Tensor(), Tensor(), Tensor(), Tensor(), true), Error);  // 1 value per channel
}

TEST(Losses, MatchTheirDefinitions) {
  Tensor x = rand_tensor({4, 3}, 13, DType::F64, -3, 3), y = rand_tensor({4, 3}, 14, DType::F64, 0, 1);
  std::vector<double> xs = x.to_vector(), ys = y.to_vector();
  double bce = 0, l1 = 0, hub = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const double s = 1 / (1 + std::exp(-xs[i]));
    bce += -(ys[i] * std::log(s) + (1 - ys[i]) * std::log(1 - s)) / 12;
    const double d = std::abs(xs[i] - ys[i]);
    l1 += d / 12;
    hub += (d < 0.5 ? 0.5 * d * d : 0.5 * (d - 0.25)) / 12;
  }
  EXPECT_NEAR(ops::binary_cross_entropy_with_logits(x, y).item(), bce, 1e-12);
  EXPECT_NEAR(ops::l1_loss(x, y).item(), l1, 1e-12);
  EXPECT_NEAR(ops::huber_loss(x, y, ops::Reduction::Mean, 0.5).item(), hub, 1e-12);
  EXPECT_NEAR(ops::smooth_l1_loss(x, y, ops::Reduction::Mean, 0.5).item(), hub / 0.5, 1e-12);
  EXPECT_NEAR(ops::smooth_l1_loss(x, y, ops::Reduction::Mean, 0.0).item(), l1, 1e-12);
  // Stable at extreme logits: loss ≈ |x| for the wrong label, ≈ 0 for the right one, never inf/NaN.
  Tensor big = from_vector({1000, -1000, 1000, -1000}, {4}), lab = from_vector({0, 1, 1, 0}, {4});
  Tensor per = ops::binary_cross_entropy_with_logits(big, lab, {.reduction = ops::Reduction::None});
  EXPECT_EQ(per.to_vector(), (std::vector<double>{1000, 1000, 0, 0}));
}

// ---- PyTorch golden values -------------------------------------------------------------------
const json& golden() {
  static const json j = [] {
    std::ifstream in(std::string(DESCENT_SOURCE_DIR) + "/tests/golden/layers.json");
    if (!in) throw std::runtime_error("tests/golden/layers.json missing (run scripts/gen_layers_golden.py)");
    return json::parse(in);
  }();
  return j;
}
const json& golden_case(const std::string& name) {
  for (const json& c : golden()["cases"])
    if (c["name"] == name) return c;
  throw std::runtime_error("no golden case " + name);
}
Tensor tensor_of(const json& j) {
  return from_vector(j["values"].get<std::vector<double>>(), j["shape"].get<Shape>(), DType::F64);
}
std::array<int64_t, 2> pair_of(const json& j) {
  if (j.is_number()) return {j.get<int64_t>(), j.get<int64_t>()};
  return {j[0].get<int64_t>(), j[1].get<int64_t>()};
}
constexpr double kTol = 1e-9;

// Runs fn on the case's inputs (as leaves), checks output and the gradients of sum(output * r).
void check_case(const std::string& name, const std::function<Tensor(const std::vector<Tensor>&)>& fn) {
  const json& c = golden_case(name);
  std::vector<Tensor> in;
  for (const json& t : c["inputs"]) in.push_back(tensor_of(t).requires_grad_());
  Tensor y = fn(in);
  expect_near_all(y, c["output"]["values"].get<std::vector<double>>(), kTol, kTol, name + " output");
  ops::sum(y * tensor_of(c["r"])).backward();
  for (size_t i = 0; i < in.size(); ++i)
    expect_near_all(in[i].grad(), c["grads"][i]["values"].get<std::vector<double>>(), kTol, kTol,
                    name + " grad of input " + std::to_string(i));
}

TEST(TorchGolden, Conv2d) {
  for (std::string name : {"conv_stride_pad_dil", "conv_groups", "conv_no_bias_stride3"}) {
    const json& a = golden_case(name)["args"];
    ops::Conv2dOptions o{.stride = pair_of(a["stride"]),
                         .padding = pair_of(a["padding"]),
                         .dilation = pair_of(a["dilation"]),
                         .groups = a["groups"].get<int64_t>()};
    check_case(name, [&](const auto& x) { return ops::conv2d(x[0], x[1], x.size() > 2 ? x[2] : Tensor(), o); });
  }
}

TEST(TorchGolden, Pooling) {
  for (std::string name :
       {"max_pool_k3s2p1_ceil", "max_pool_dilation", "avg_pool_k3s2p1_ceil_exclude", "avg_pool_k2s1p1_include"}) {
    const json& c = golden_case(name);
    const json& a = c["args"];
    ops::Pool2dOptions o{.kernel_size = pair_of(a["kernel_size"]),
                         .stride = pair_of(a["stride"]),
                         .padding = pair_of(a.value("padding", json(0))),
                         .dilation = pair_of(a.value("dilation", json(1))),
                         .ceil_mode = a.value("ceil_mode", false),
                         .count_include_pad = a.value("count_include_pad", true)};
    const bool is_max = c["op"] == "max_pool2d";
    check_case(name, [&](const auto& x) { return is_max ? ops::max_pool2d(x[0], o) : ops::avg_pool2d(x[0], o); });
  }
}

TEST(TorchGolden, LayerNormAndLosses) {
  check_case("layer_norm", [](const auto& x) { return ops::layer_norm(x[0], {4, 5}, x[1], x[2], 1e-5); });
  const json& a = golden_case("bce_with_logits")["args"];
  ops::BceWithLogitsOptions o{.reduction = ops::Reduction::None,
                              .weight = from_vector(a["weight"].get<std::vector<double>>(), {3}, DType::F64),
                              .pos_weight = from_vector(a["pos_weight"].get<std::vector<double>>(), {3}, DType::F64)};
  check_case("bce_with_logits", [&](const auto& x) { return ops::binary_cross_entropy_with_logits(x[0], x[1], o); });
  check_case("huber", [](const auto& x) { return ops::huber_loss(x[0], x[1], ops::Reduction::None, 0.7); });
  check_case("smooth_l1", [](const auto& x) { return ops::smooth_l1_loss(x[0], x[1], ops::Reduction::None, 0.4); });
}

// The modules through several training steps: outputs, gradients, running statistics and the
// step count after each step, then the evaluation-mode output from the running statistics.
TEST(TorchGolden, BatchNormModules) {
  for (std::string name : {"batch_norm2d", "batch_norm1d"}) {
    const json& c = golden_case(name);
    const int64_t f = c["args"]["features"].get<int64_t>();
    nn::BatchNormOptions o{
        .eps = c["args"]["eps"].get<double>(), .momentum = c["args"]["momentum"].get<double>(), .dtype = DType::F64};
    std::shared_ptr<nn::BatchNorm> m = name == "batch_norm2d"
                                           ? std::shared_ptr<nn::BatchNorm>(std::make_shared<nn::BatchNorm2d>(f, o))
                                           : std::make_shared<nn::BatchNorm1d>(f, o);
    m->weight.copy_(tensor_of(c["init"]["weight"]));
    m->bias.copy_(tensor_of(c["init"]["bias"]));
    int step = 0;
    for (const json& s : c["steps"]) {
      const std::string at = name + " step " + std::to_string(step++);
      m->zero_grad();
      Tensor x = tensor_of(s["x"]).requires_grad_();
      Tensor y = (*m)(x);
      expect_near_all(y, s["output"]["values"].get<std::vector<double>>(), kTol, kTol, at + " output");
      ops::sum(y * tensor_of(s["r"])).backward();
      expect_near_all(x.grad(), s["grad_x"]["values"].get<std::vector<double>>(), kTol, kTol, at + " dx");
      expect_near_all(m->weight.grad(), s["grad_weight"]["values"].get<std::vector<double>>(), kTol, kTol,
                      at + " dweight");
      expect_near_all(m->bias.grad(), s["grad_bias"]["values"].get<std::vector<double>>(), kTol, kTol, at + " dbias");
      expect_near_all(m->running_mean, s["running_mean"]["values"].get<std::vector<double>>(), kTol, kTol,
                      at + " running_mean");
      expect_near_all(m->running_var, s["running_var"]["values"].get<std::vector<double>>(), kTol, kTol,
                      at + " running_var");
      EXPECT_EQ(m->num_batches_tracked.item(), s["num_batches_tracked"].get<double>()) << at;
    }
    m->eval();
    expect_near_all((*m)(tensor_of(c["eval_x"])), c["eval_output"]["values"].get<std::vector<double>>(), kTol, kTol,
                    name + " eval output");
  }
}

}  // namespace
