// Layer costs of the Fashion-MNIST CNN (examples/fashion_cnn.toml) at batch 128, float32:
//
// 1. the whole training step (forward, cross-entropy, backward; no optimizer, no data loading),
//    median over steps, and the forward alone;
// 2. each convolution's forward and backward in the two oneDNN layouts (Blocked: oneDNN picks
//    its blocked format, reorders around the call; Plain: NCHW throughout), interleaved in one
//    run so the ratio is fair on a noisy machine — this picks kernels::set_conv_layout's default;
// 3. max-pool 2x2 forward and backward: our loops against oneDNN's pooling primitive.
//
//   build/bench/bench_cnn_layers [steps=20] [threads=0 (all cores)]
#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <oneapi/dnnl/dnnl.hpp>
#include <vector>

#include "bench_util.h"
#include "descent/descent.h"
#include "kernels/conv.h"
#include "kernels/pool.h"

using namespace descent;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_of(const std::function<void()>& f) {
  auto t0 = Clock::now();
  f();
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// What a pooling layer sees after a ReLU: about half zeros (ties), the rest positive and random.
void relu_like(float* p, int64_t n) {
  Generator gen(1);
  for (int64_t i = 0; i < n; ++i) p[i] = static_cast<float>(std::max(0.0, gen.normal()));
}

// Median forward and backward time of one convolution geometry in the current layout.
std::pair<double, double> conv_times(const kernels::Conv2dShape& s, int reps) {
  std::vector<float> x(static_cast<size_t>(s.n * s.c * s.h * s.w), 0.5f),
      w(static_cast<size_t>(s.oc * s.c * s.kh * s.kw), 0.1f), b(static_cast<size_t>(s.oc), 0.0f),
      y(static_cast<size_t>(s.n * s.oc * s.oh * s.ow)), gy(y.size(), 0.01f), gx(x.size()), gw(w.size()), gb(b.size());
  const bool first_layer = s.c == 1;  // the data batch needs no gradient
  std::vector<double> f, bw;
  for (int r = 0; r < reps + 2; ++r) {
    double tf = seconds_of([&] { kernels::conv2d_forward(s, x.data(), w.data(), b.data(), y.data()); });
    double tb = seconds_of([&] {
      kernels::conv2d_backward(s, x.data(), w.data(), gy.data(), first_layer ? nullptr : gx.data(), gw.data(),
                               gb.data());
    });
    if (r >= 2) f.push_back(tf), bw.push_back(tb);
  }
  return {bench::median(f), bench::median(bw)};
}

// oneDNN max pooling 2x2/2 forward + backward (training, with workspace), for comparison.
std::pair<double, double> dnnl_pool_times(int64_t n, int64_t c, int64_t h, int reps) {
  using namespace dnnl;
  engine eng(engine::kind::cpu, 0);
  stream st(eng);
  const int64_t oh = h / 2;
  memory::desc src({n, c, h, h}, memory::data_type::f32, memory::format_tag::nchw);
  memory::desc dst({n, c, oh, oh}, memory::data_type::f32, memory::format_tag::nchw);
  pooling_forward::desc fd(prop_kind::forward_training, algorithm::pooling_max, src, dst, {2, 2}, {2, 2}, {0, 0},
                           {0, 0});
  pooling_forward::primitive_desc fpd(fd, eng);
  pooling_backward::desc bd(algorithm::pooling_max, src, dst, {2, 2}, {2, 2}, {0, 0}, {0, 0});
  pooling_backward::primitive_desc bpd(bd, eng, fpd);
  memory ms(src, eng), md(dst, eng), mws(fpd.workspace_desc(), eng), mgd(dst, eng), mgs(src, eng);
  relu_like(static_cast<float*>(ms.get_data_handle()), n * c * h * h);
  std::fill_n(static_cast<float*>(mgd.get_data_handle()), n * c * oh * oh, 0.1f);
  pooling_forward fp(fpd);
  pooling_backward bp(bpd);
  std::vector<double> f, b;
  for (int r = 0; r < reps + 2; ++r) {
    double tf = seconds_of([&] {
      fp.execute(st, {{DNNL_ARG_SRC, ms}, {DNNL_ARG_DST, md}, {DNNL_ARG_WORKSPACE, mws}});
      st.wait();
    });
    double tb = seconds_of([&] {
      bp.execute(st, {{DNNL_ARG_DIFF_DST, mgd}, {DNNL_ARG_DIFF_SRC, mgs}, {DNNL_ARG_WORKSPACE, mws}});
      st.wait();
    });
    if (r >= 2) f.push_back(tf), b.push_back(tb);
  }
  return {bench::median(f), bench::median(b)};
}

std::pair<double, double> our_pool_times(int64_t n, int64_t c, int64_t h, int reps) {
  kernels::Pool2dShape s{n * c, h, h, h / 2, h / 2, 2, 2, 2, 2, 0, 0, 1, 1};
  std::vector<float> x(static_cast<size_t>(n * c * h * h), 0.5f), y(static_cast<size_t>(n * c * s.oh * s.ow)),
      gy(y.size(), 0.1f), gx(x.size());
  relu_like(x.data(), static_cast<int64_t>(x.size()));
  std::vector<int32_t> arg(y.size());
  std::vector<double> f, b;
  for (int r = 0; r < reps + 2; ++r) {
    double tf = seconds_of([&] { kernels::max_pool2d_forward(s, x.data(), y.data(), arg.data()); });
    double tb = seconds_of([&] { kernels::max_pool2d_backward(s, gy.data(), arg.data(), gx.data()); });
    if (r >= 2) f.push_back(tf), b.push_back(tb);
  }
  return {bench::median(f), bench::median(b)};
}

}  // namespace

int main(int argc, char** argv) {
  const int steps = argc > 1 ? std::atoi(argv[1]) : 20;
  const int threads = argc > 2 ? std::atoi(argv[2]) : 0;
  if (threads > 0) omp_set_num_threads(threads);
  fmt::print("threads {}, batch 128, float32\n", omp_get_max_threads());

  // 1. whole step
  auto net = bench::reference_cnn();
  Generator gen(0);
  Tensor x = uniform({128, 1, 28, 28}, 0, 1, gen);
  Tensor labels = empty({128}, DType::I64);
  for (int64_t i = 0; i < 128; ++i) labels.data<int64_t>()[i] = i % 10;
  std::vector<double> step, fwd;
  for (int s = 0; s < steps + 2; ++s) {
    net->zero_grad();
    double tf = 0;
    double t = seconds_of([&] {
      Tensor logits;
      tf = seconds_of([&] { logits = (*net)(x); });
      ops::cross_entropy(logits, labels).backward();
    });
    if (s >= 2) step.push_back(t), fwd.push_back(tf);
  }
  const double batches = 60000.0 / 128.0;
  fmt::print("train step  median {:.2f} ms (forward {:.2f} ms) -> {:.1f} s per 60k-sample epoch of steps\n",
             bench::median(step) * 1e3, bench::median(fwd) * 1e3, bench::median(step) * batches);

  // 2. convolution layouts
  using kernels::ConvLayout;
  const std::vector<kernels::Conv2dShape> convs = {{128, 1, 28, 28, 32, 3, 3, 26, 26, 1, 1, 0, 0, 1, 1, 1},
                                                   {128, 32, 13, 13, 64, 3, 3, 11, 11, 1, 1, 0, 0, 1, 1, 1}};
  for (const auto& s : convs) {
    double fb = 0, bb = 0, fp = 0, bp = 0;
    std::string ib, ip;
    for (int round = 0; round < 3; ++round) {  // interleave the layouts against drift in machine load
      kernels::set_conv_layout(ConvLayout::Blocked, ConvLayout::Blocked, ConvLayout::Blocked);
      auto [f1, b1] = conv_times(s, steps);
      ib = fmt::format("{} / {} / {}", kernels::conv2d_impl_name(s, 0), kernels::conv2d_impl_name(s, 1),
                       kernels::conv2d_impl_name(s, 2));
      kernels::set_conv_layout(ConvLayout::Plain, ConvLayout::Plain, ConvLayout::Plain);
      auto [f2, b2] = conv_times(s, steps);
      ip = fmt::format("{} / {} / {}", kernels::conv2d_impl_name(s, 0), kernels::conv2d_impl_name(s, 1),
                       kernels::conv2d_impl_name(s, 2));
      fb += f1, bb += b1, fp += f2, bp += b2;
    }
    fmt::print("conv {}->{} on {}x{}: blocked fwd {:.2f} ms bwd {:.2f} ms [{}]\n", s.c, s.oc, s.h, s.w, fb / 3 * 1e3,
               bb / 3 * 1e3, ib);
    fmt::print("{:>22} plain   fwd {:.2f} ms bwd {:.2f} ms [{}]  (plain/blocked fwd {:.2f}, bwd {:.2f})\n", "",
               fp / 3 * 1e3, bp / 3 * 1e3, ip, fp / fb, bp / bb);
  }
  kernels::set_conv_layout(ConvLayout::Blocked, ConvLayout::Blocked, ConvLayout::Blocked);

  // 3. max pooling
  for (auto [c, h] : {std::pair<int64_t, int64_t>{32, 26}, {64, 11}}) {
    auto [of, ob] = our_pool_times(128, c, h, steps);
    auto [df, db] = dnnl_pool_times(128, c, h, steps);
    fmt::print(
        "max_pool 2x2 [128, {}, {}, {}]: ours fwd {:.3f} ms bwd {:.3f} ms, oneDNN fwd {:.3f} ms bwd {:.3f} ms "
        "(ours/oneDNN {:.2f}, {:.2f})\n",
        c, h, h, of * 1e3, ob * 1e3, df * 1e3, db * 1e3, of / df, ob / db);
  }
  return 0;
}
