// 2-d pooling loops (see pool.h). One template per pass, instantiated for float and double.
#include "kernels/pool.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

// The AVX-512 paths: x86-64 with GCC (target attributes), not under AddressSanitizer (masked
// loads and stores near a buffer's end look like overflows to it).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__SANITIZE_ADDRESS__)
#define DESCENT_POOL_AVX512 1
#include "kernels/max_step_avx512.h"
#else
#define DESCENT_POOL_AVX512 0
#endif

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
int32_t pick(bool t, int32_t a, int32_t b) {
  const int32_t m = -static_cast<int32_t>(t);
  return (a & m) | (b & ~m);
}

// The fused ReLU of a pooled value, NaN kept (torch's ReLU): relu(max_pool(x)), which equals
// max_pool(relu(x)) because the max commutes with a monotone function.
template <class T>
T relu_keep_nan(T m) {
  return pick((m > T(0)) | (m != m), m, T(0));
}

// The common 2x2 / stride 2 / no padding pool: after a ReLU many windows tie, and the generic
// loop's unpredictable compares cost 5x the loads, so its rows run without data-dependent branches
// (AVX-512 where the CPU has it, 16 windows per step).
bool is_2x2_s2(const Pool2dShape& s) {
  return s.kh == 2 && s.kw == 2 && s.stride_h == 2 && s.stride_w == 2 && s.pad_h == 0 && s.pad_w == 0 && s.dil_h == 1 &&
         s.dil_w == 1;
}

// One output row of the 2x2 forward: r0, r1 are the window rows, base the flat index of r0[0]
// in its plane, w the plane's width. Row-major order with strict '>' keeps the first of tied
// maxima; NaN wins, as in PyTorch.
template <class T>
void max_row_2x2(const T* r0, const T* r1, T* y, int32_t* arg, int64_t ow, int32_t base, int32_t w, bool relu) {
  for (int64_t ox = 0; ox < ow; ++ox) {
    const T a = r0[2 * ox], b = r0[2 * ox + 1], c = r1[2 * ox], d = r1[2 * ox + 1];
    T m = a;
    int32_t i = 0;
    bool t = (b > m) | (b != b);
    m = pick(t, b, m);
    i = pick(t, int32_t{1}, i);
    t = (c > m) | (c != c);
    m = pick(t, c, m);
    i = pick(t, w, i);
    t = (d > m) | (d != d);
    m = pick(t, d, m);
    i = pick(t, w + 1, i);
    y[ox] = relu ? relu_keep_nan(m) : m;
    if (arg) arg[ox] = base + 2 * static_cast<int32_t>(ox) + i;
  }
}

#if DESCENT_POOL_AVX512
// The library is built for baseline x86-64; these two row kernels are compiled for AVX-512 and
// chosen at run time. Lanes are windows: a window's four inputs are gathered from the two rows by
// even/odd permutes, and the tail of a row is masked (loads and stores never pass the row).
const bool kHaveAvx512 = __builtin_cpu_supports("avx512f");

// The lane masks of one step over a row with `left` windows still to do: the windows (at most
// 16), then the first and second 16 of their 2 x windows inputs in the row.
struct StepMasks {
  __mmask16 windows, inputs_lo, inputs_hi;
};
inline StepMasks step_masks(int64_t left) {
  const int64_t n = std::min<int64_t>(16, left), n2 = 2 * n;
  return {static_cast<__mmask16>((1u << n) - 1), static_cast<__mmask16>(n2 >= 16 ? 0xFFFFu : (1u << n2) - 1),
          static_cast<__mmask16>(n2 > 16 ? (1u << (n2 - 16)) - 1 : 0u)};
}

__attribute__((target("avx512f"))) void max_row_2x2_avx512(const float* r0, const float* r1, float* y, int32_t* arg,
                                                            int64_t ow, int32_t base, int32_t w, bool relu) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  for (int64_t ox = 0; ox < ow; ox += 16) {
    const auto [mo, mlo, mhi] = step_masks(ow - ox);
    const float* p0 = r0 + 2 * ox;
    const float* p1 = r1 + 2 * ox;
    const __m512 lo0 = _mm512_maskz_loadu_ps(mlo, p0), hi0 = _mm512_maskz_loadu_ps(mhi, p0 + 16);
    const __m512 lo1 = _mm512_maskz_loadu_ps(mlo, p1), hi1 = _mm512_maskz_loadu_ps(mhi, p1 + 16);
    const __m512 a = _mm512_permutex2var_ps(lo0, even, hi0), b = _mm512_permutex2var_ps(lo0, odd, hi0);
    const __m512 c = _mm512_permutex2var_ps(lo1, even, hi1), d = _mm512_permutex2var_ps(lo1, odd, hi1);
    __m512 m = a;
    __m512i k = _mm512_setzero_si512();
    avx512::take_max(b, 1, m, k);
    avx512::take_max(c, w, m, k);
    avx512::take_max(d, w + 1, m, k);
    if (relu) m = _mm512_maskz_mov_ps(avx512::relu_keeps(m), m);
    _mm512_mask_storeu_ps(y + ox, mo, m);
    if (arg) {
      const __m512i first = _mm512_add_epi32(_mm512_set1_epi32(base + 2 * static_cast<int32_t>(ox)), even);
      _mm512_mask_storeu_epi32(arg + ox, mo, _mm512_add_epi32(first, k));
    }
  }
}

// One output row of the 2x2 backward, written directly (windows do not overlap): q0, q1 are the
// two gx rows of the windows; each gets its window's gradient at the arg-max and 0 elsewhere.
// (+0 turns a -0 gradient into +0, as the zero fill plus scatter of the generic path does.)
__attribute__((target("avx512f"))) void max_bwd_row_2x2_avx512(const float* g, const int32_t* arg,
                                                                const float* relu_y, float* q0, float* q1,
                                                                int64_t ow, int32_t base, int32_t w) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const __m512 zero = _mm512_setzero_ps();
  for (int64_t ox = 0; ox < ow; ox += 16) {
    const auto [mo, mlo, mhi] = step_masks(ow - ox);
    __m512 v = _mm512_add_ps(_mm512_maskz_loadu_ps(mo, g + ox), zero);
    if (relu_y) v = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(_mm512_maskz_loadu_ps(mo, relu_y + ox), zero, _CMP_GT_OQ), v);
    const __m512i first = _mm512_add_epi32(_mm512_set1_epi32(base + 2 * static_cast<int32_t>(ox)), even);
    const __m512i k = _mm512_sub_epi32(_mm512_maskz_loadu_epi32(mo, arg + ox), first);
    const __m512 v00 = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(k, _mm512_setzero_si512()), v);
    const __m512 v01 = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(k, _mm512_set1_epi32(1)), v);
    const __m512 v10 = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(k, _mm512_set1_epi32(w)), v);
    const __m512 v11 = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(k, _mm512_set1_epi32(w + 1)), v);
    _mm512_mask_storeu_ps(q0 + 2 * ox, mlo, _mm512_permutex2var_ps(v00, lo, v01));
    _mm512_mask_storeu_ps(q0 + 2 * ox + 16, mhi, _mm512_permutex2var_ps(v00, hi, v01));
    _mm512_mask_storeu_ps(q1 + 2 * ox, mlo, _mm512_permutex2var_ps(v10, lo, v11));
    _mm512_mask_storeu_ps(q1 + 2 * ox + 16, mhi, _mm512_permutex2var_ps(v10, hi, v11));
  }
}
#endif

template <class T>
void max_fwd_2x2(const Pool2dShape& s, const T* x, T* y, int32_t* arg, bool relu) {
  // locals: stores through int32_t* arg could otherwise alias the fields of s
  const int64_t h = s.h, w = s.w, oh = s.oh, ow = s.ow;
#pragma omp parallel for if (parallel(s))
  for (int64_t p = 0; p < s.planes; ++p) {
    for (int64_t oy = 0; oy < oh; ++oy) {
      const T* r0 = x + p * h * w + 2 * oy * w;
      T* yr = y + (p * oh + oy) * ow;
      int32_t* ar = arg ? arg + (p * oh + oy) * ow : nullptr;
      const auto base = static_cast<int32_t>(2 * oy * w);
#if DESCENT_POOL_AVX512
      if constexpr (std::is_same_v<T, float>)
        if (kHaveAvx512) {
          max_row_2x2_avx512(r0, r0 + w, yr, ar, ow, base, static_cast<int32_t>(w), relu);
          continue;
        }
#endif
      max_row_2x2(r0, r0 + w, yr, ar, ow, base, static_cast<int32_t>(w), relu);
    }
  }
}

#if DESCENT_POOL_AVX512
// The 2x2 backward without the zero fill and scatter: every gx row is written once.
void max_bwd_2x2_avx512(const Pool2dShape& s, const float* gy, const int32_t* arg, float* gx, const float* relu_y) {
  const int64_t h = s.h, w = s.w, oh = s.oh, ow = s.ow;
#pragma omp parallel for if (parallel(s))
  for (int64_t p = 0; p < s.planes; ++p) {
    float* gp = gx + p * h * w;
    for (int64_t oy = 0; oy < oh; ++oy) {
      const int64_t o = (p * oh + oy) * ow;
      float* q0 = gp + 2 * oy * w;
      max_bwd_row_2x2_avx512(gy + o, arg + o, relu_y ? relu_y + o : nullptr, q0, q0 + w, ow,
                             static_cast<int32_t>(2 * oy * w), static_cast<int32_t>(w));
      if (2 * ow < w) {  // an odd width: the last column is in no window
        std::fill(q0 + 2 * ow, q0 + w, 0.0f);
        std::fill(q0 + w + 2 * ow, q0 + 2 * w, 0.0f);
      }
    }
    std::fill(gp + 2 * oh * w, gp + h * w, 0.0f);  // an odd height: the last row is in no window
  }
}
#endif

template <class T>
void max_fwd(const Pool2dShape& s, const T* x, T* y, int32_t* arg, bool relu) {
  if (is_2x2_s2(s)) return max_fwd_2x2(s, x, y, arg, relu);
#pragma omp parallel for if (parallel(s))
  for (int64_t p = 0; p < s.planes; ++p) {
    const T* xp = x + p * s.h * s.w;
    T* yp = y + p * s.oh * s.ow;
    int32_t* ap = arg ? arg + p * s.oh * s.ow : nullptr;
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
        yp[oy * s.ow + ox] = relu ? relu_keep_nan(m) : m;
        if (ap) ap[oy * s.ow + ox] = static_cast<int32_t>(best);
      }
    }
  }
}

template <class T>
void max_bwd(const Pool2dShape& s, const T* gy, const int32_t* arg, T* gx, const T* relu_y) {
#if DESCENT_POOL_AVX512
  if constexpr (std::is_same_v<T, float>)
    if (kHaveAvx512 && is_2x2_s2(s)) return max_bwd_2x2_avx512(s, gy, arg, gx, relu_y);
#endif
#pragma omp parallel for if (parallel(s))
  for (int64_t p = 0; p < s.planes; ++p) {
    T* gp = gx + p * s.h * s.w;
    std::fill(gp, gp + s.h * s.w, T(0));
    const T* g = gy + p * s.oh * s.ow;
    const T* ry = relu_y ? relu_y + p * s.oh * s.ow : nullptr;
    const int32_t* ap = arg + p * s.oh * s.ow;
    for (int64_t i = 0; i < s.oh * s.ow; ++i)  // overlapping windows add up
      gp[ap[i]] += ry ? pick(ry[i] > T(0), g[i], T(0)) : g[i];
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

void max_pool2d_forward(const Pool2dShape& s, const float* x, float* y, int32_t* a, bool relu) {
  max_fwd(s, x, y, a, relu);
}
void max_pool2d_forward(const Pool2dShape& s, const double* x, double* y, int32_t* a, bool relu) {
  max_fwd(s, x, y, a, relu);
}
void max_pool2d_backward(const Pool2dShape& s, const float* gy, const int32_t* a, float* gx, const float* relu_y) {
  max_bwd(s, gy, a, gx, relu_y);
}
void max_pool2d_backward(const Pool2dShape& s, const double* gy, const int32_t* a, double* gx, const double* relu_y) {
  max_bwd(s, gy, a, gx, relu_y);
}
void avg_pool2d_forward(const Pool2dShape& s, bool inc, const float* x, float* y) { avg_fwd(s, inc, x, y); }
void avg_pool2d_forward(const Pool2dShape& s, bool inc, const double* x, double* y) { avg_fwd(s, inc, x, y); }
void avg_pool2d_backward(const Pool2dShape& s, bool inc, const float* gy, float* gx) { avg_bwd(s, inc, gy, gx); }
void avg_pool2d_backward(const Pool2dShape& s, bool inc, const double* gy, double* gx) { avg_bwd(s, inc, gy, gx); }

}  // namespace descent::kernels
