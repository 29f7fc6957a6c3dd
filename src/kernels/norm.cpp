// Batch and layer normalization loops (see norm.h). With x̂ = (x - μ)·σ⁻¹ and M values per
// statistic, the backward through μ and σ² collapses to
//   dx = w·σ⁻¹ · (g - mean(g) - x̂ · mean(g·x̂)),   dw = Σ g·x̂,   db = Σ g.
#include "kernels/norm.h"

#include <cmath>
#include <vector>

namespace descent::kernels {
namespace {

bool big(int64_t n) { return n > 32768; }

template <class T>
void bn_stats(const T* x, int64_t outer, int64_t c, int64_t inner, double* mean, double* var) {
  const double m = static_cast<double>(outer * inner);
#pragma omp parallel for if (big(outer * c * inner) && c > 1)
  for (int64_t ch = 0; ch < c; ++ch) {
    double s = 0.0;
    for (int64_t o = 0; o < outer; ++o) {
      const T* p = x + (o * c + ch) * inner;
      for (int64_t i = 0; i < inner; ++i) s += p[i];
    }
    const double mu = s / m;
    double v = 0.0;  // two passes: no cancellation for large means
    for (int64_t o = 0; o < outer; ++o) {
      const T* p = x + (o * c + ch) * inner;
      for (int64_t i = 0; i < inner; ++i) v += (p[i] - mu) * (p[i] - mu);
    }
    mean[ch] = mu;
    var[ch] = v / m;
  }
}

template <class T>
void bn_apply(const T* x, int64_t outer, int64_t c, int64_t inner, const double* mean, const double* invstd, const T* w,
              const T* b, T* y) {
#pragma omp parallel for if (big(outer * c * inner))
  for (int64_t oc = 0; oc < outer * c; ++oc) {
    const int64_t ch = oc % c;
    const T scale = static_cast<T>(invstd[ch] * (w ? static_cast<double>(w[ch]) : 1.0));
    const T shift = static_cast<T>((b ? static_cast<double>(b[ch]) : 0.0) - mean[ch] * static_cast<double>(scale));
    const T* p = x + oc * inner;
    T* q = y + oc * inner;
#pragma omp simd
    for (int64_t i = 0; i < inner; ++i) q[i] = p[i] * scale + shift;
  }
}

template <class T>
void bn_backward(const T* x, const T* gy, int64_t outer, int64_t c, int64_t inner, const double* mean,
                 const double* invstd, const T* w, bool batch_stats, T* gx, T* gw, T* gb) {
  const double m = static_cast<double>(outer * inner);
#pragma omp parallel for if (big(outer * c * inner) && c > 1)
  for (int64_t ch = 0; ch < c; ++ch) {
    double sg = 0.0, sgx = 0.0;  // Σ g and Σ g·x̂ over the channel
    for (int64_t o = 0; o < outer; ++o) {
      const T* p = x + (o * c + ch) * inner;
      const T* g = gy + (o * c + ch) * inner;
      for (int64_t i = 0; i < inner; ++i) {
        sg += g[i];
        sgx += g[i] * (p[i] - mean[ch]);
      }
    }
    sgx *= invstd[ch];
    if (gw) gw[ch] = static_cast<T>(sgx);  // dw = Σ g·x̂
    if (gb) gb[ch] = static_cast<T>(sg);   // db = Σ g
    if (!gx) continue;
    const double k = (w ? static_cast<double>(w[ch]) : 1.0) * invstd[ch];
    // dx = k·(g - Σg/M - x̂·Σgx̂/M) in training; k·g when μ, σ are constants (evaluation)
    const double a = batch_stats ? sg / m : 0.0;
    const double bcoef = batch_stats ? sgx / m * invstd[ch] : 0.0;
    for (int64_t o = 0; o < outer; ++o) {
      const T* p = x + (o * c + ch) * inner;
      const T* g = gy + (o * c + ch) * inner;
      T* q = gx + (o * c + ch) * inner;
      for (int64_t i = 0; i < inner; ++i) q[i] = static_cast<T>(k * (g[i] - a - (p[i] - mean[ch]) * bcoef));
    }
  }
}

template <class T>
void ln_forward(const T* x, int64_t rows, int64_t d, const T* w, const T* b, double eps, T* y, double* mean,
                double* invstd) {
#pragma omp parallel for if (big(rows * d) && rows > 1)
  for (int64_t r = 0; r < rows; ++r) {
    const T* p = x + r * d;
    double s = 0.0;
    for (int64_t i = 0; i < d; ++i) s += p[i];
    const double mu = s / static_cast<double>(d);
    double v = 0.0;
    for (int64_t i = 0; i < d; ++i) v += (p[i] - mu) * (p[i] - mu);
    const double is = 1.0 / std::sqrt(v / static_cast<double>(d) + eps);
    mean[r] = mu;
    invstd[r] = is;
    T* q = y + r * d;
    for (int64_t i = 0; i < d; ++i)
      q[i] = static_cast<T>((p[i] - mu) * is * (w ? static_cast<double>(w[i]) : 1.0) +
                            (b ? static_cast<double>(b[i]) : 0.0));
  }
}

template <class T>
void ln_backward(const T* x, const T* gy, int64_t rows, int64_t d, const double* mean, const double* invstd, const T* w,
                 T* gx, T* gw, T* gb) {
  if (gx) {
#pragma omp parallel for if (big(rows * d) && rows > 1)
    for (int64_t r = 0; r < rows; ++r) {
      const T* p = x + r * d;
      const T* g = gy + r * d;
      double s1 = 0.0, s2 = 0.0;  // Σ g·w and Σ g·w·x̂ over the row
      for (int64_t i = 0; i < d; ++i) {
        const double gw_i = g[i] * (w ? static_cast<double>(w[i]) : 1.0);
        s1 += gw_i;
        s2 += gw_i * (p[i] - mean[r]) * invstd[r];
      }
      const double inv_d = 1.0 / static_cast<double>(d);
      T* q = gx + r * d;
      for (int64_t i = 0; i < d; ++i) {  // dx = σ⁻¹·(g·w - mean(g·w) - x̂·mean(g·w·x̂))
        const double xh = (p[i] - mean[r]) * invstd[r];
        q[i] =
            static_cast<T>(invstd[r] * (g[i] * (w ? static_cast<double>(w[i]) : 1.0) - s1 * inv_d - xh * s2 * inv_d));
      }
    }
  }
  if (gw || gb) {
    std::vector<double> aw(static_cast<size_t>(d), 0.0), ab(static_cast<size_t>(d), 0.0);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t i = 0; i < d; ++i) {
        const double g = gy[r * d + i];
        aw[i] += g * (x[r * d + i] - mean[r]) * invstd[r];  // dw = Σ_rows g·x̂
        ab[i] += g;                                         // db = Σ_rows g
      }
    for (int64_t i = 0; i < d; ++i) {
      if (gw) gw[i] = static_cast<T>(aw[i]);
      if (gb) gb[i] = static_cast<T>(ab[i]);
    }
  }
}

}  // namespace

void batch_norm_stats(const float* x, int64_t o, int64_t c, int64_t i, double* m, double* v) {
  bn_stats(x, o, c, i, m, v);
}
void batch_norm_stats(const double* x, int64_t o, int64_t c, int64_t i, double* m, double* v) {
  bn_stats(x, o, c, i, m, v);
}
void batch_norm_apply(const float* x, int64_t o, int64_t c, int64_t i, const double* m, const double* s, const float* w,
                      const float* b, float* y) {
  bn_apply(x, o, c, i, m, s, w, b, y);
}
void batch_norm_apply(const double* x, int64_t o, int64_t c, int64_t i, const double* m, const double* s,
                      const double* w, const double* b, double* y) {
  bn_apply(x, o, c, i, m, s, w, b, y);
}
void batch_norm_backward(const float* x, const float* g, int64_t o, int64_t c, int64_t i, const double* m,
                         const double* s, const float* w, bool bs, float* gx, float* gw, float* gb) {
  bn_backward(x, g, o, c, i, m, s, w, bs, gx, gw, gb);
}
void batch_norm_backward(const double* x, const double* g, int64_t o, int64_t c, int64_t i, const double* m,
                         const double* s, const double* w, bool bs, double* gx, double* gw, double* gb) {
  bn_backward(x, g, o, c, i, m, s, w, bs, gx, gw, gb);
}
void layer_norm_forward(const float* x, int64_t r, int64_t d, const float* w, const float* b, double eps, float* y,
                        double* m, double* s) {
  ln_forward(x, r, d, w, b, eps, y, m, s);
}
void layer_norm_forward(const double* x, int64_t r, int64_t d, const double* w, const double* b, double eps, double* y,
                        double* m, double* s) {
  ln_forward(x, r, d, w, b, eps, y, m, s);
}
void layer_norm_backward(const float* x, const float* g, int64_t r, int64_t d, const double* m, const double* s,
                         const float* w, float* gx, float* gw, float* gb) {
  ln_backward(x, g, r, d, m, s, w, gx, gw, gb);
}
void layer_norm_backward(const double* x, const double* g, int64_t r, int64_t d, const double* m, const double* s,
                         const double* w, double* gx, double* gw, double* gb) {
  ln_backward(x, g, r, d, m, s, w, gx, gw, gb);
}

}  // namespace descent::kernels
