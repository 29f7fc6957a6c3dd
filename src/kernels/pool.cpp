// 2-d pooling loops (see pool.h). One template per pass, instantiated for float and double.
#include "kernels/pool.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

namespace descent::kernels {

int64_t pool2d_out_size(int64_t in, int64_t k, int64_t stride, int64_t pad, int64_t dil, bool ceil_mode) {
  const int64_t span = in + 2 * pad - dil * (k - 1) - 1;
  int64_t out = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
  // PyTorch: the last window must start inside the input or its left padding.
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

namespace {

// Parallel over planes only when there is enough work to pay for the threads.
bool parallel(const Pool2dShape& s) { return s.planes > 1 && s.planes * s.oh * s.ow * s.kh * s.kw > 32768; }

// t ? a : b through bit masks: compilers turn the ternary on floats into a branch, which the
// data (ReLU outputs, many ties) mispredicts half the time.
template <class T>
T pick(bool t, T a, T b) {
  using U = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  const U m = U(0) - static_cast<U>(t);
  return std::bit_cast<T>(static_cast<U>((std::bit_cast<U>(a) & m) | (std::bit_cast<U>(b) & ~m)));
}
int64_t pick(bool t, int64_t a, int64_t b) {
  const int64_t m = -static_cast<int64_t>(t);
  return (a & m) | (b & ~m);
}

// The common 2x2 / stride 2 / no padding forward without data-dependent branches: after a ReLU
// many windows tie, and the generic loop's unpredictable compares cost 5x the loads. (The
// backward's zero fill plus scatter is already faster than writing each window.)
bool is_2x2_s2(const Pool2dShape& s) {
  return s.kh == 2 && s.kw == 2 && s.stride_h == 2 && s.stride_w == 2 && s.pad_h == 0 && s.pad_w == 0 && s.dil_h == 1 &&
         s.dil_w == 1;
}

template <class T>
void max_fwd_2x2(const Pool2dShape& s, const T* x, T* y, int64_t* arg) {
  // locals: stores through int64_t* arg could otherwise alias the fields of s
  const int64_t h = s.h, w = s.w, oh = s.oh, ow = s.ow;
#pragma omp parallel for if (parallel(s))
  for (int64_t p = 0; p < s.planes; ++p) {
    for (int64_t oy = 0; oy < oh; ++oy) {
      const T* r0 = x + p * h * w + 2 * oy * w;
      const T* r1 = r0 + w;
      T* yr = y + (p * oh + oy) * ow;
      int64_t* ar = arg + (p * oh + oy) * ow;
      for (int64_t ox = 0; ox < ow; ++ox) {
        // Row-major order with strict '>' keeps the first of tied maxima; NaN wins as in PyTorch.
        const T a = r0[2 * ox], b = r0[2 * ox + 1], c = r1[2 * ox], d = r1[2 * ox + 1];
        T m = a;
        int64_t i = 0;
        bool t = (b > m) | (b != b);
        m = pick(t, b, m);
        i = pick(t, int64_t(1), i);
        t = (c > m) | (c != c);
        m = pick(t, c, m);
        i = pick(t, w, i);
        t = (d > m) | (d != d);
        m = pick(t, d, m);
        i = pick(t, w + 1, i);
        yr[ox] = m;
        ar[ox] = 2 * oy * w + 2 * ox + i;
      }
    }
  }
}

template <class T>
void max_fwd(const Pool2dShape& s, const T* x, T* y, int64_t* arg) {
  if (is_2x2_s2(s)) return max_fwd_2x2(s, x, y, arg);
#pragma omp parallel for if (parallel(s))
  for (int64_t p = 0; p < s.planes; ++p) {
    const T* xp = x + p * s.h * s.w;
    T* yp = y + p * s.oh * s.ow;
    int64_t* ap = arg + p * s.oh * s.ow;
    for (int64_t oy = 0; oy < s.oh; ++oy) {
      int64_t y0 = oy * s.stride_h - s.pad_h;
      const int64_t y1 = std::min(y0 + (s.kh - 1) * s.dil_h + 1, s.h);
      while (y0 < 0) y0 += s.dil_h;
      for (int64_t ox = 0; ox < s.ow; ++ox) {
        int64_t x0 = ox * s.stride_w - s.pad_w;
        const int64_t x1 = std::min(x0 + (s.kw - 1) * s.dil_w + 1, s.w);
        while (x0 < 0) x0 += s.dil_w;
        int64_t best = y0 * s.w + x0;
        T m = -std::numeric_limits<T>::infinity();
        for (int64_t iy = y0; iy < y1; iy += s.dil_h)
          for (int64_t ix = x0; ix < x1; ix += s.dil_w) {
            const T v = xp[iy * s.w + ix];
            if (v > m || std::isnan(v)) {  // strict '>': ties keep the first, as PyTorch
              m = v;
              best = iy * s.w + ix;
            }
          }
        yp[oy * s.ow + ox] = m;
        ap[oy * s.ow + ox] = best;
      }
    }
  }
}

template <class T>
void max_bwd(const Pool2dShape& s, const T* gy, const int64_t* arg, T* gx) {
#pragma omp parallel for if (parallel(s))
  for (int64_t p = 0; p < s.planes; ++p) {
    T* gp = gx + p * s.h * s.w;
    std::fill(gp, gp + s.h * s.w, T(0));
    const T* g = gy + p * s.oh * s.ow;
    const int64_t* ap = arg + p * s.oh * s.ow;
    for (int64_t i = 0; i < s.oh * s.ow; ++i) gp[ap[i]] += g[i];  // overlapping windows add up
  }
}

// Calls f(y0, y1, x0, x1, divisor) for each output window (clipped to the input).
template <class F>
void avg_windows(const Pool2dShape& s, bool include_pad, int64_t oy, int64_t ox, F f) {
  int64_t y0 = oy * s.stride_h - s.pad_h, x0 = ox * s.stride_w - s.pad_w;
  int64_t y1 = std::min(y0 + s.kh, s.h + s.pad_h), x1 = std::min(x0 + s.kw, s.w + s.pad_w);
  const int64_t padded = (y1 - y0) * (x1 - x0);
  y0 = std::max<int64_t>(y0, 0);
  x0 = std::max<int64_t>(x0, 0);
  y1 = std::min(y1, s.h);
  x1 = std::min(x1, s.w);
  if (y0 >= y1 || x0 >= x1) {
    f(y0, y0, x0, x0, int64_t(1));  // empty window: output 0
    return;
  }
  f(y0, y1, x0, x1, include_pad ? padded : (y1 - y0) * (x1 - x0));
}

template <class T>
void avg_fwd(const Pool2dShape& s, bool include_pad, const T* x, T* y) {
#pragma omp parallel for if (parallel(s))
  for (int64_t p = 0; p < s.planes; ++p) {
    const T* xp = x + p * s.h * s.w;
    T* yp = y + p * s.oh * s.ow;
    for (int64_t oy = 0; oy < s.oh; ++oy)
      for (int64_t ox = 0; ox < s.ow; ++ox)
        avg_windows(s, include_pad, oy, ox, [&](int64_t y0, int64_t y1, int64_t x0, int64_t x1, int64_t div) {
          T acc = 0;
          for (int64_t iy = y0; iy < y1; ++iy)
            for (int64_t ix = x0; ix < x1; ++ix) acc += xp[iy * s.w + ix];
          yp[oy * s.ow + ox] = acc / static_cast<T>(div);
        });
  }
}

template <class T>
void avg_bwd(const Pool2dShape& s, bool include_pad, const T* gy, T* gx) {
#pragma omp parallel for if (parallel(s))
  for (int64_t p = 0; p < s.planes; ++p) {
    T* gp = gx + p * s.h * s.w;
    std::fill(gp, gp + s.h * s.w, T(0));
    const T* g = gy + p * s.oh * s.ow;
    for (int64_t oy = 0; oy < s.oh; ++oy)
      for (int64_t ox = 0; ox < s.ow; ++ox)
        avg_windows(s, include_pad, oy, ox, [&](int64_t y0, int64_t y1, int64_t x0, int64_t x1, int64_t div) {
          const T share = g[oy * s.ow + ox] / static_cast<T>(div);  // d mean / dx = 1 / divisor
          for (int64_t iy = y0; iy < y1; ++iy)
            for (int64_t ix = x0; ix < x1; ++ix) gp[iy * s.w + ix] += share;
        });
  }
}

}  // namespace

void max_pool2d_forward(const Pool2dShape& s, const float* x, float* y, int64_t* a) { max_fwd(s, x, y, a); }
void max_pool2d_forward(const Pool2dShape& s, const double* x, double* y, int64_t* a) { max_fwd(s, x, y, a); }
void max_pool2d_backward(const Pool2dShape& s, const float* gy, const int64_t* a, float* gx) { max_bwd(s, gy, a, gx); }
void max_pool2d_backward(const Pool2dShape& s, const double* gy, const int64_t* a, double* gx) {
  max_bwd(s, gy, a, gx);
}
void avg_pool2d_forward(const Pool2dShape& s, bool inc, const float* x, float* y) { avg_fwd(s, inc, x, y); }
void avg_pool2d_forward(const Pool2dShape& s, bool inc, const double* x, double* y) { avg_fwd(s, inc, x, y); }
void avg_pool2d_backward(const Pool2dShape& s, bool inc, const float* gy, float* gx) { avg_bwd(s, inc, gy, gx); }
void avg_pool2d_backward(const Pool2dShape& s, bool inc, const double* gy, double* gx) { avg_bwd(s, inc, gy, gx); }

}  // namespace descent::kernels
