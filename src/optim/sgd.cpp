// SGD with momentum, dampening, Nesterov and coupled weight decay (torch.optim.SGD).
#include <fmt/format.h>
#include <omp.h>

#include <algorithm>

#include "descent/autograd.h"
#include "optim/state_util.h"
#include "tensor/dispatch.h"

namespace descent::optim {
namespace {

// The update is one streaming pass over parameter, gradient and momentum buffer, run every step on
// every parameter. The library is built for baseline x86-64 (4-wide SSE2); like the kernels in
// kernels/eltwise.cpp this loop is compiled for AVX-512, AVX2 and the baseline and picked at load
// time: measured on the reference MLP's parameters (269k floats, gradients just written), 116 ->
// 63 us per step at 1 thread. fp-contract=off keeps every clone bit-identical to the baseline (and
// to torch's separate multiply and add): with FMA in the ISA, GCC would otherwise fuse
// mom * b + damp * d into one rounding.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define DESCENT_SGD_CLONES __attribute__((target_clones("avx512f", "avx2", "default"), optimize("fp-contract=off")))
#else
#define DESCENT_SGD_CLONES
#endif

// The fused update of elements [0, n) of one parameter; b is the momentum buffer (Momentum),
// First its first step.
template <class T, bool Momentum, bool First, bool Nesterov>
DESCENT_SGD_CLONES void sgd_range(int64_t n, T* __restrict p, const T* __restrict g, T* __restrict b, T sign, T wd,
                                  T lr, T mom, T damp) {
  for (int64_t k = 0; k < n; ++k) {
    T d = sign * g[k] + wd * p[k];
    if constexpr (Momentum) {
      if constexpr (First) b[k] = d;  // torch: buf = clone(d) at the first step
      else b[k] = mom * b[k] + damp * d;
      d = Nesterov ? d + mom * b[k] : b[k];
    }
    p[k] -= lr * d;
  }
}

// Splits large parameters over the OpenMP threads, one chunk each (outside the clones: an outlined
// parallel body would not be cloned with them); small ones run on the caller.
template <class T, bool Momentum, bool First, bool Nesterov>
void sgd_update(int64_t n, T* p, const T* g, T* b, T sign, T wd, T lr, T mom, T damp) {
  if (n <= 65536 || omp_get_max_threads() == 1)
    return sgd_range<T, Momentum, First, Nesterov>(n, p, g, b, sign, wd, lr, mom, damp);
#pragma omp parallel
  {
    const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    const int64_t chunk = (n + nt - 1) / nt / 16 * 16 + 16;  // 64-byte aligned chunk starts
    const int64_t lo = std::min(n, t * chunk), hi = std::min(n, lo + chunk);
    if (lo < hi)
      sgd_range<T, Momentum, First, Nesterov>(hi - lo, p + lo, g + lo, Momentum ? b + lo : nullptr, sign, wd, lr, mom,
                                              damp);
  }
}

}  // namespace

SGD::SGD(std::vector<Tensor> params, const SGDOptions& o) : SGD(std::vector<ParamGroup>{{.params = std::move(params)}}, o) {}

SGD::SGD(std::vector<ParamGroup> groups, const SGDOptions& o)
    : Optimizer(std::move(groups), o.lr, o.weight_decay, "SGD"), opt_(o) {
  if (!(o.momentum >= 0)) throw Error(fmt::format("SGD: momentum must be >= 0, got {}", o.momentum));
  if (!(o.dampening >= 0 && o.dampening <= 1)) throw Error(fmt::format("SGD: dampening must be in [0, 1], got {}", o.dampening));
  if (o.nesterov && (o.momentum <= 0 || o.dampening != 0))
    throw Error("SGD: nesterov needs momentum > 0 and dampening = 0");
  momentum_buffer_.resize(params_.size());
}

void SGD::set_momentum(double m) {
  if (!(m >= 0)) throw Error(fmt::format("SGD: momentum must be >= 0, got {}", m));
  opt_.momentum = m;
}

SGDOptions SGD::options() const {
  SGDOptions o = opt_;
  o.lr = lr();
  return o;
}

void SGD::step() {
  NoGradGuard no_grad;
  for (const GroupState& group : groups_) {
    for (size_t i = group.begin; i < group.end; ++i) {
      Tensor p = params_[i];
      Tensor g = p.grad();
      if (!g.defined()) continue;  // as torch: parameters without a gradient are skipped
      check_grad(p, g, i, "SGD");
      Tensor& buf = momentum_buffer_[i];
      const bool first = !buf.defined();
      if (opt_.momentum != 0.0 && first) buf = empty(p.shape(), p.dtype());
      dispatch_float(p.dtype(), "SGD", [&](auto tag) {
        using T = typename decltype(tag)::type;
        const int64_t n = p.numel();
        T* pp = p.data<T>();
        const T* pg = g.data<T>();
        const T sign = opt_.maximize ? T(-1) : T(1), wd = static_cast<T>(group.weight_decay);
        const T lr = static_cast<T>(group.lr), mom = static_cast<T>(opt_.momentum);
        const T damp = static_cast<T>(1.0 - opt_.dampening);
        if (opt_.momentum == 0.0) return sgd_update<T, false, false, false>(n, pp, pg, nullptr, sign, wd, lr, mom, damp);
        T* pb = buf.data<T>();
        if (first && opt_.nesterov) return sgd_update<T, true, true, true>(n, pp, pg, pb, sign, wd, lr, mom, damp);
        if (first) return sgd_update<T, true, true, false>(n, pp, pg, pb, sign, wd, lr, mom, damp);
        if (opt_.nesterov) return sgd_update<T, true, false, true>(n, pp, pg, pb, sign, wd, lr, mom, damp);
        sgd_update<T, true, false, false>(n, pp, pg, pb, sign, wd, lr, mom, damp);
      });
    }
  }
  steps_++;
}

nn::NamedTensors SGD::state() const {
  nn::NamedTensors out;
  export_state(momentum_buffer_, "momentum_buffer", out);
  return out;
}

void SGD::load_state(const nn::NamedTensors& state, int64_t steps) {
  StateReader r(state, params_, "SGD");
  auto buffers = r.buffers("momentum_buffer");
  r.finish({});
  momentum_buffer_ = std::move(buffers);
  steps_ = steps;
}

}  // namespace descent::optim
