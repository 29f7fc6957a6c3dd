// 2-d convolution: oneDNN primitives for float32, plain loops for float64 (see conv.h).
#include "kernels/conv.h"

#include "kernels/blocked_pool.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <map>
#include <mutex>
#include <new>
#include <oneapi/dnnl/dnnl.hpp>
#include <tuple>
#include <unordered_map>
#include <vector>

namespace descent::kernels {

int64_t conv2d_out_size(int64_t in, int64_t k, int64_t stride, int64_t pad, int64_t dil) {
  return (in + 2 * pad - dil * (k - 1) - 1) / stride + 1;
}

namespace {

using dnnl::memory;
using Tag = memory::format_tag;
using Dt = memory::data_type;

dnnl::engine& cpu_engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}
dnnl::stream& cpu_stream() {
  static dnnl::stream s(cpu_engine());
  return s;
}

// Grow-only buffers for layout reorders, shared by every shape: memory stays at the largest
// layer's need instead of one copy per cached shape.
class Arena {
 public:
  static constexpr int kSlots = 8;  // 6 and 7: the fused conv + pool
  ~Arena() {
    for (auto& s : slots_) std::free(s.ptr);
  }
  void* get(int i, size_t bytes) {
    Slot& s = slots_[static_cast<size_t>(i)];
    if (bytes > s.cap) {
      std::free(s.ptr);
      size_t cap = (bytes + 4095) / 4096 * 4096;
      s.ptr = std::aligned_alloc(64, cap);
      if (!s.ptr) throw std::bad_alloc();
      s.cap = cap;
    }
    return s.ptr;
  }

 private:
  struct Slot {
    void* ptr = nullptr;
    size_t cap = 0;
  };
  std::array<Slot, kSlots> slots_{};
};

// The largest batch the forward runs in one primitive call (see conv2d_forward).
constexpr int64_t kForwardSlice = 128;

ConvLayout g_layout[3] = {ConvLayout::Blocked, ConvLayout::Blocked, ConvLayout::Blocked};

struct Reorder {
  memory::desc from, to;
  dnnl::reorder prim;
};

// Everything built once per geometry.
struct Entry {
  memory::desc x, w, b, y;  // plain (PyTorch) layouts
  dnnl::convolution_forward::primitive_desc fwd_pd;
  dnnl::convolution_forward fwd;
  bool has_bwd = false;
  dnnl::convolution_backward_data::primitive_desc bd_pd;
  dnnl::convolution_backward_data bd;
  dnnl::convolution_backward_weights::primitive_desc bw_pd;
  dnnl::convolution_backward_weights bw;
  std::vector<Reorder> reorders;

  dnnl::reorder& reorder(const memory::desc& from, const memory::desc& to) {
    for (auto& r : reorders)
      if (r.from == from && r.to == to) return r.prim;
    reorders.push_back({from, to, dnnl::reorder(dnnl::reorder::primitive_desc(cpu_engine(), from, cpu_engine(), to))});
    return reorders.back().prim;
  }
};

using Key = std::tuple<std::array<int64_t, 16>, int, int, int>;

struct Cache {
  std::mutex mu;
  std::map<Key, Entry> entries;
  Arena arena;
};
Cache& cache() {
  static Cache c;
  return c;
}

memory::dims wdims(const Conv2dShape& s) {
  if (s.groups == 1) return {s.oc, s.c, s.kh, s.kw};
  return {s.groups, s.oc / s.groups, s.c / s.groups, s.kh, s.kw};
}

struct Geometry {
  memory::dims strides, dilates, pad_l, pad_r;
};
Geometry geometry(const Conv2dShape& s) {
  // oneDNN counts dilation from 0; symmetric padding reproduces PyTorch's floor formula.
  return {{s.stride_h, s.stride_w}, {s.dil_h - 1, s.dil_w - 1}, {s.pad_h, s.pad_w}, {s.pad_h, s.pad_w}};
}

memory::desc want(const memory::desc& plain, ConvLayout layout) {
  return layout == ConvLayout::Plain ? plain : memory::desc(plain.dims(), Dt::f32, Tag::any);
}

// relu: the forward ends with a ReLU post-op (the fused conv + ReLU); backward entries never do.
Entry& entry_for(const Conv2dShape& s, bool has_bias, bool backward, bool relu = false) {
  Cache& c = cache();
  Key key{{s.n, s.c, s.h, s.w, s.oc, s.kh, s.kw, s.oh, s.ow, s.stride_h, s.stride_w, s.pad_h, s.pad_w, s.dil_h, s.dil_w,
           s.groups},
          has_bias ? 1 : 0,
          static_cast<int>(g_layout[0]) * 9 + static_cast<int>(g_layout[1]) * 3 + static_cast<int>(g_layout[2]),
          relu ? 1 : 0};
  auto it = c.entries.find(key);
  if (it == c.entries.end()) {
    if (c.entries.size() >= 64) c.entries.clear();  // bounded: shapes of a run are few
    Entry e;
    e.x = memory::desc({s.n, s.c, s.h, s.w}, Dt::f32, Tag::nchw);
    e.w = memory::desc(wdims(s), Dt::f32, s.groups == 1 ? Tag::oihw : Tag::goihw);
    e.b = memory::desc({s.oc}, Dt::f32, Tag::x);
    e.y = memory::desc({s.n, s.oc, s.oh, s.ow}, Dt::f32, Tag::nchw);
    Geometry g = geometry(s);
    auto any_w = memory::desc(wdims(s), Dt::f32, Tag::any);
    auto d = has_bias
                 ? dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training,
                                                   dnnl::algorithm::convolution_direct, want(e.x, g_layout[0]), any_w,
                                                   e.b, want(e.y, g_layout[0]), g.strides, g.dilates, g.pad_l, g.pad_r)
                 : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training,
                                                   dnnl::algorithm::convolution_direct, want(e.x, g_layout[0]), any_w,
                                                   want(e.y, g_layout[0]), g.strides, g.dilates, g.pad_l, g.pad_r);
    dnnl::primitive_attr attr;
    if (relu) {
      dnnl::post_ops ops;
      ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
      attr.set_post_ops(ops);
    }
    e.fwd_pd = dnnl::convolution_forward::primitive_desc(d, attr, cpu_engine());
    e.fwd = dnnl::convolution_forward(e.fwd_pd);
    it = c.entries.emplace(key, std::move(e)).first;
  }
  Entry& e = it->second;
  if (backward && !e.has_bwd) {
    Geometry g = geometry(s);
    auto any_w = memory::desc(wdims(s), Dt::f32, Tag::any);
    dnnl::convolution_backward_data::desc dd(dnnl::algorithm::convolution_direct, want(e.x, g_layout[1]), any_w,
                                             want(e.y, g_layout[1]), g.strides, g.dilates, g.pad_l, g.pad_r);
    e.bd_pd = dnnl::convolution_backward_data::primitive_desc(dd, cpu_engine(), e.fwd_pd);
    e.bd = dnnl::convolution_backward_data(e.bd_pd);
    auto wd = has_bias ? dnnl::convolution_backward_weights::desc(
                             dnnl::algorithm::convolution_direct, want(e.x, g_layout[2]), any_w, e.b,
                             want(e.y, g_layout[2]), g.strides, g.dilates, g.pad_l, g.pad_r)
                       : dnnl::convolution_backward_weights::desc(dnnl::algorithm::convolution_direct,
                                                                  want(e.x, g_layout[2]), any_w, want(e.y, g_layout[2]),
                                                                  g.strides, g.dilates, g.pad_l, g.pad_r);
    e.bw_pd = dnnl::convolution_backward_weights::primitive_desc(wd, cpu_engine(), e.fwd_pd);
    e.bw = dnnl::convolution_backward_weights(e.bw_pd);
    e.has_bwd = true;
  }
  return e;
}

// A memory of layout `to` holding the plain data at p: p itself, or a reordered copy in a slot.
memory as_input(Entry& e, const memory::desc& plain, const memory::desc& to, const void* p, int slot) {
  memory src(plain, cpu_engine(), const_cast<void*>(p));
  if (plain == to) return src;
  memory dst(to, cpu_engine(), cache().arena.get(slot, to.get_size()));
  e.reorder(plain, to).execute(cpu_stream(), src, dst);
  return dst;
}
// Where a primitive writes an output of layout `from` that must end up plain at p.
memory as_output(const memory::desc& plain, const memory::desc& from, void* p, int slot) {
  if (plain == from) return memory(plain, cpu_engine(), p);
  return memory(from, cpu_engine(), cache().arena.get(slot, from.get_size()));
}
void finish_output(Entry& e, const memory& out, const memory::desc& plain, void* p) {
  if (out.get_desc() == plain) return;
  memory dst(plain, cpu_engine(), p);
  e.reorder(out.get_desc(), plain).execute(cpu_stream(), const_cast<memory&>(out), dst);
}

// The backward passes of entry e with the incoming gradient gy in layout gy_desc (plain NCHW, or
// the forward's blocked output layout for the fused conv + pool).
void run_backward(Entry& e, const Conv2dShape& s, const float* x, const float* w, const memory::desc& gy_desc,
                  const float* gy, float* gx, float* gw, float* gb) {
  memory mg_data;
  if (gx) {
    memory mg = as_input(e, gy_desc, e.bd_pd.diff_dst_desc(), gy, 0);
    mg_data = mg;
    memory mw = as_input(e, e.w, e.bd_pd.weights_desc(), w, 1);
    memory mgx = as_output(e.x, e.bd_pd.diff_src_desc(), gx, 2);
    e.bd.execute(cpu_stream(), {{DNNL_ARG_DIFF_DST, mg}, {DNNL_ARG_WEIGHTS, mw}, {DNNL_ARG_DIFF_SRC, mgx}});
    finish_output(e, mgx, e.x, gx);
  }
  if (gw || gb) {
    // Reuse the reordered gy of the data pass when both passes want the same layout.
    memory mg = gx && mg_data.get_desc() == e.bw_pd.diff_dst_desc()
                    ? mg_data
                    : as_input(e, gy_desc, e.bw_pd.diff_dst_desc(), gy, 3);
    memory mx = as_input(e, e.x, e.bw_pd.src_desc(), x, 4);
    std::vector<float> unused;
    float* gw_dst = gw;
    if (!gw_dst) {
      unused.resize(static_cast<size_t>(s.oc * (s.c / s.groups) * s.kh * s.kw));
      gw_dst = unused.data();
    }
    memory mgw = as_output(e.w, e.bw_pd.diff_weights_desc(), gw_dst, 5);
    std::unordered_map<int, memory> args{{DNNL_ARG_DIFF_DST, mg}, {DNNL_ARG_SRC, mx}, {DNNL_ARG_DIFF_WEIGHTS, mgw}};
    if (gb) args.emplace(DNNL_ARG_DIFF_BIAS, memory(e.b, cpu_engine(), gb));
    e.bw.execute(cpu_stream(), args);
    finish_output(e, mgw, e.w, gw_dst);
  }
  cpu_stream().wait();
}

// The channel block of a convolution output layout as the blocked pool loops take it: 1 for
// dense NCHW, 8 or 16 for dense nChw8c / nChw16c, 0 for anything else.
int64_t pool_block(const memory::desc& d) {
  const dnnl_memory_desc_t& md = d.data;
  if (md.ndims != 4 || md.format_kind != dnnl_blocked || md.offset0 != 0) return 0;
  const auto& blk = md.format_desc.blocking;
  int64_t block = 1;
  if (blk.inner_nblks == 1 && blk.inner_idxs[0] == 1) block = blk.inner_blks[0];
  else if (blk.inner_nblks != 0) return 0;
  if (block != 1 && block != 8 && block != 16) return 0;
  const int64_t c = md.padded_dims[1], h = md.padded_dims[2], w = md.padded_dims[3];
  if (c % block != 0 || md.padded_dims[0] != md.dims[0] || h != md.dims[2] || w != md.dims[3]) return 0;
  const bool dense = blk.strides[3] == block && blk.strides[2] == w * block && blk.strides[1] == h * w * block &&
                     blk.strides[0] == c * h * w;
  return dense ? block : 0;
}

// The pooled output [n, oc, oh / 2, ow / 2] in channel blocks of `block` (8 or 16).
memory::desc pooled_desc(const Conv2dShape& s, int64_t block) {
  return memory::desc({s.n, s.oc, s.oh / 2, s.ow / 2}, Dt::f32, block == 16 ? Tag::nChw16c : Tag::nChw8c);
}

// ---- float64 reference loops ---------------------------------------------------------------
template <class F>
void for_each_tap(const Conv2dShape& s, F f) {
  // f(n, oc, ic, oy, ox, ky, kx, iy, ix) for every in-bounds tap; ic counts within the group.
  const int64_t cg = s.c / s.groups, og = s.oc / s.groups;
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t o = 0; o < s.oc; ++o) {
      const int64_t g = o / og;
      for (int64_t ic = 0; ic < cg; ++ic)
        for (int64_t oy = 0; oy < s.oh; ++oy)
          for (int64_t ky = 0; ky < s.kh; ++ky) {
            const int64_t iy = oy * s.stride_h - s.pad_h + ky * s.dil_h;
            if (iy < 0 || iy >= s.h) continue;
            for (int64_t ox = 0; ox < s.ow; ++ox)
              for (int64_t kx = 0; kx < s.kw; ++kx) {
                const int64_t ix = ox * s.stride_w - s.pad_w + kx * s.dil_w;
                if (ix < 0 || ix >= s.w) continue;
                f(((n * s.c + g * cg + ic) * s.h + iy) * s.w + ix, ((o * cg + ic) * s.kh + ky) * s.kw + kx,
                  ((n * s.oc + o) * s.oh + oy) * s.ow + ox);
              }
          }
    }
}

}  // namespace

void set_conv_layout(ConvLayout fwd, ConvLayout bwd_data, ConvLayout bwd_weights) {
  std::lock_guard<std::mutex> lock(cache().mu);
  g_layout[0] = fwd;
  g_layout[1] = bwd_data;
  g_layout[2] = bwd_weights;
}

const char* conv2d_impl_name(const Conv2dShape& s, int pass) {
  std::lock_guard<std::mutex> lock(cache().mu);
  Entry& e = entry_for(s, true, true);
  return pass == 0 ? e.fwd_pd.impl_info_str() : pass == 1 ? e.bd_pd.impl_info_str() : e.bw_pd.impl_info_str();
}

void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* b, float* y, bool relu) {
  // Images are independent in the forward, so a large batch (evaluation runs 1000 at a time) goes
  // through in slices of a training batch's size: the reorder arena stays at the training step's
  // size (a 1000-image slice would grow it by ~100 MB for the Fashion CNN, for good), and the
  // slices reuse the training shape's primitive instead of compiling one per large batch.
  if (s.n > kForwardSlice) {
    for (int64_t n0 = 0; n0 < s.n; n0 += kForwardSlice) {
      Conv2dShape part = s;
      part.n = std::min(kForwardSlice, s.n - n0);
      conv2d_forward(part, x + n0 * s.c * s.h * s.w, w, b, y + n0 * s.oc * s.oh * s.ow, relu);
    }
    return;
  }
  std::lock_guard<std::mutex> lock(cache().mu);
  Entry& e = entry_for(s, b != nullptr, false, relu);
  memory mx = as_input(e, e.x, e.fwd_pd.src_desc(), x, 0);
  memory mw = as_input(e, e.w, e.fwd_pd.weights_desc(), w, 1);
  memory my = as_output(e.y, e.fwd_pd.dst_desc(), y, 2);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, mx}, {DNNL_ARG_WEIGHTS, mw}, {DNNL_ARG_DST, my}};
  if (b) args.emplace(DNNL_ARG_BIAS, memory(e.b, cpu_engine(), const_cast<float*>(b)));
  e.fwd.execute(cpu_stream(), args);
  finish_output(e, my, e.y, y);
  cpu_stream().wait();
}

void conv2d_backward(const Conv2dShape& s, const float* x, const float* w, const float* gy, float* gx, float* gw,
                     float* gb) {
  std::lock_guard<std::mutex> lock(cache().mu);
  // The cached entry decides whether a bias gradient exists; a bias-free request uses the
  // bias-free primitives.
  Entry& e = entry_for(s, gb != nullptr, true);
  run_backward(e, s, x, w, e.y, gy, gx, gw, gb);
}

size_t conv2d_pool_relu_code_bytes(const Conv2dShape& s) {
  return static_cast<size_t>(s.n * ((s.oc + 15) / 16 * 16) * (s.oh / 2) * (s.ow / 2));  // blocks of at most 16
}

void conv2d_pool_relu_forward(const Conv2dShape& s, const float* x, const float* w, const float* b, float* y,
                              uint8_t* code) {
  const int64_t ph = s.oh / 2, pw = s.ow / 2;
  if (s.n > kForwardSlice && !code) {  // inference: large batches in slices, as conv2d_forward
    for (int64_t n0 = 0; n0 < s.n; n0 += kForwardSlice) {
      Conv2dShape part = s;
      part.n = std::min(kForwardSlice, s.n - n0);
      conv2d_pool_relu_forward(part, x + n0 * s.c * s.h * s.w, w, b, y + n0 * s.oc * ph * pw, nullptr);
    }
    return;
  }
  std::lock_guard<std::mutex> lock(cache().mu);
  Entry& e = entry_for(s, b != nullptr, false);
  memory mx = as_input(e, e.x, e.fwd_pd.src_desc(), x, 0);
  memory mw = as_input(e, e.w, e.fwd_pd.weights_desc(), w, 1);
  const memory::desc dst = e.fwd_pd.dst_desc();
  memory my(dst, cpu_engine(), cache().arena.get(6, dst.get_size()));
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, mx}, {DNNL_ARG_WEIGHTS, mw}, {DNNL_ARG_DST, my}};
  if (b) args.emplace(DNNL_ARG_BIAS, memory(e.b, cpu_engine(), const_cast<float*>(b)));
  e.fwd.execute(cpu_stream(), args);
  int64_t block = pool_block(dst);
  const float* conv_y = static_cast<const float*>(my.get_data_handle());
  if (block == 0) {  // a layout the pool loops do not know: through NCHW
    memory plain(e.y, cpu_engine(), cache().arena.get(2, e.y.get_size()));
    e.reorder(dst, e.y).execute(cpu_stream(), my, plain);
    conv_y = static_cast<const float*>(plain.get_data_handle());
    block = 1;
  }
  cpu_stream().wait();  // the loops below read what the primitives wrote
  const BlockedDims d{s.n, s.oc, s.oh, s.ow, block};
  if (block == 1) {
    pool2x2_relu_blocked_forward(d, conv_y, y, code);
    return;
  }
  const memory::desc pooled = pooled_desc(s, block), plain_pooled({s.n, s.oc, ph, pw}, Dt::f32, Tag::nchw);
  memory mp(pooled, cpu_engine(), cache().arena.get(7, pooled.get_size()));
  pool2x2_relu_blocked_forward(d, conv_y, static_cast<float*>(mp.get_data_handle()), code);
  memory out(plain_pooled, cpu_engine(), y);
  e.reorder(pooled, plain_pooled).execute(cpu_stream(), mp, out);
  cpu_stream().wait();
}

void conv2d_pool_relu_backward(const Conv2dShape& s, bool has_bias, const float* x, const float* w, const float* gy,
                               const uint8_t* code, float* gx, float* gw, float* gb) {
  std::lock_guard<std::mutex> lock(cache().mu);
  Entry& e = entry_for(s, has_bias, true);  // the forward's entry: the same layout, the same codes
  const memory::desc dst = e.fwd_pd.dst_desc();
  int64_t block = pool_block(dst);
  const memory::desc grad_desc = block == 0 ? e.y : dst;
  if (block == 0) block = 1;
  const float* g_pooled = gy;
  if (block > 1) {  // the pooled gradient in the blocked layout (4x smaller than the convolution's)
    const int64_t ph = s.oh / 2, pw = s.ow / 2;
    const memory::desc pooled = pooled_desc(s, block), plain_pooled({s.n, s.oc, ph, pw}, Dt::f32, Tag::nchw);
    memory src(plain_pooled, cpu_engine(), const_cast<float*>(gy));
    memory mp(pooled, cpu_engine(), cache().arena.get(7, pooled.get_size()));
    e.reorder(plain_pooled, pooled).execute(cpu_stream(), src, mp);
    cpu_stream().wait();
    g_pooled = static_cast<const float*>(mp.get_data_handle());
  }
  auto* g = static_cast<float*>(cache().arena.get(6, grad_desc.get_size()));
  pool2x2_relu_blocked_backward({s.n, s.oc, s.oh, s.ow, block}, g_pooled, code, g);
  std::vector<float> unused_gb;
  if (has_bias && !gb) {  // the primitives have a bias: its gradient needs somewhere to go
    unused_gb.resize(static_cast<size_t>(s.oc));
    gb = unused_gb.data();
  }
  run_backward(e, s, x, w, grad_desc, g, gx, gw, gb);
}

void conv2d_pool_relu_forward(const Conv2dShape& s, const double* x, const double* w, const double* b, double* y,
                              uint8_t* code) {
  std::vector<double> conv_y(static_cast<size_t>(s.n * s.oc * s.oh * s.ow));
  conv2d_forward(s, x, w, b, conv_y.data(), false);
  pool2x2_relu_blocked_forward({s.n, s.oc, s.oh, s.ow, 1}, conv_y.data(), y, code);
}

void conv2d_pool_relu_backward(const Conv2dShape& s, bool /*has_bias*/, const double* x, const double* w,
                               const double* gy, const uint8_t* code, double* gx, double* gw, double* gb) {
  std::vector<double> g(static_cast<size_t>(s.n * s.oc * s.oh * s.ow));
  pool2x2_relu_blocked_backward({s.n, s.oc, s.oh, s.ow, 1}, gy, code, g.data());
  conv2d_backward(s, x, w, g.data(), gx, gw, gb);
}

void conv2d_forward(const Conv2dShape& s, const double* x, const double* w, const double* b, double* y, bool relu) {
  const int64_t plane = s.oh * s.ow;
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t o = 0; o < s.oc; ++o)
      for (int64_t i = 0; i < plane; ++i) y[(n * s.oc + o) * plane + i] = b ? b[o] : 0.0;
  for_each_tap(s, [&](int64_t xi, int64_t wi, int64_t yi) { y[yi] += x[xi] * w[wi]; });
  if (relu)
    for (int64_t i = 0, n = s.n * s.oc * plane; i < n; ++i) y[i] = y[i] > 0 ? y[i] : 0.0;
}

void conv2d_backward(const Conv2dShape& s, const double* x, const double* w, const double* gy, double* gx, double* gw,
                     double* gb) {
  const int64_t wn = s.oc * (s.c / s.groups) * s.kh * s.kw;
  if (gx) std::fill(gx, gx + s.n * s.c * s.h * s.w, 0.0);
  if (gw) std::fill(gw, gw + wn, 0.0);
  if (gx || gw)
    for_each_tap(s, [&](int64_t xi, int64_t wi, int64_t yi) {
      if (gx) gx[xi] += gy[yi] * w[wi];  // dL/dx = Σ over taps reading x of gy · w
      if (gw) gw[wi] += gy[yi] * x[xi];  // dL/dw = Σ over positions of gy · x
    });
  if (gb) {
    const int64_t plane = s.oh * s.ow;
    for (int64_t o = 0; o < s.oc; ++o) {
      double acc = 0.0;
      for (int64_t n = 0; n < s.n; ++n)
        for (int64_t i = 0; i < plane; ++i) acc += gy[(n * s.oc + o) * plane + i];
      gb[o] = acc;  // dL/db = Σ gy over batch and positions
    }
  }
}

}  // namespace descent::kernels
