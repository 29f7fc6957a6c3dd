#include "diag/stats.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>

namespace descent::diag {

LayerKind layer_kind(const nn::Module& m) {
  const std::string t = m.type_name();
  if (t == "ReLU") return LayerKind::Relu;
  if (t == "Sigmoid") return LayerKind::Sigmoid;
  if (t == "Tanh") return LayerKind::Tanh;
  return LayerKind::Other;
}

std::string layer_type(const nn::Module& m) {
  std::string t = m.type_name();
  for (char& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return t;
}

bool has_parameters(const nn::Module& m) { return !m.named_parameters().empty(); }

namespace {

template <class T>
bool finite_of(const T* p, int64_t n);

// The usual case, every element finite: one branch-free pass the compiler vectorizes (the
// monitor runs this on every layer output of a monitored step, so it is most of its cost).
template <class T>
OutputStats stats_finite(const T* p, int64_t n, LayerKind kind) {
  OutputStats s;
  s.count = n;
  const double pivot = static_cast<double>(p[0]);  // shifted sums keep the variance accurate for large means
  // |tanh| > 0.99; sigmoid outside [0.01, 0.99]
  const T sat_hi = T(0.99), sat_lo = kind == LayerKind::Tanh ? T(-0.99) : T(0.01);
  const bool sat_kind = kind == LayerKind::Tanh || kind == LayerKind::Sigmoid;
  double sum = 0.0, sq = 0.0;
  T lo = p[0], hi = p[0];
  int64_t zeros = 0, sat = 0;
#pragma omp simd reduction(+ : sum, sq, zeros, sat) reduction(min : lo) reduction(max : hi)
  for (int64_t i = 0; i < n; ++i) {
    const T v = p[i];
    const double d = static_cast<double>(v) - pivot;
    sum += d;
    sq += d * d;
    lo = v < lo ? v : lo;
    hi = v > hi ? v : hi;
    zeros += v == T(0);
    sat += (v > sat_hi) | (v < sat_lo);
  }
  if (!sat_kind) sat = 0;
  s.zeros = zeros, s.saturated = sat;
  const double m = sum / static_cast<double>(n);
  s.mean = pivot + m;
  s.std = std::sqrt(std::max(0.0, sq / static_cast<double>(n) - m * m));
  s.min = static_cast<double>(lo), s.max = static_cast<double>(hi);
  return s;
}

template <class T>
OutputStats stats_of(const T* p, int64_t n, LayerKind kind) {
  if (n > 0 && finite_of(p, n)) return stats_finite(p, n, kind);
  OutputStats s;
  s.count = n;
  // Shifted sums: the first element as pivot keeps the variance accurate for large means.
  const double pivot = n > 0 && std::isfinite(static_cast<double>(p[0])) ? static_cast<double>(p[0]) : 0.0;
  double sum = 0.0, sq = 0.0, lo = INFINITY, hi = -INFINITY;
  int64_t zeros = 0, sat = 0, bad = 0, finite = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double v = static_cast<double>(p[i]);
    if (!std::isfinite(v)) {
      ++bad;
      continue;
    }
    ++finite;
    const double d = v - pivot;
    sum += d;
    sq += d * d;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    zeros += v == 0.0;
    if (kind == LayerKind::Tanh) sat += std::abs(v) > 0.99;
    else if (kind == LayerKind::Sigmoid) sat += v < 0.01 || v > 0.99;
  }
  s.zeros = zeros, s.saturated = sat, s.nonfinite = bad;
  if (finite > 0) {
    const double m = sum / static_cast<double>(finite);
    s.mean = pivot + m;
    s.std = std::sqrt(std::max(0.0, sq / static_cast<double>(finite) - m * m));
    s.min = lo, s.max = hi;
  }
  return s;
}

template <class T>
void alive_of(const T* p, int64_t rows, int64_t units, std::vector<uint8_t>& alive) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* row = p + r * units;
    for (int64_t u = 0; u < units; ++u) alive[static_cast<size_t>(u)] |= row[u] > T(0);
  }
}

template <class T>
void hist_of(const T* p, int64_t n, double lo, double hi, std::vector<int64_t>& counts) {
  const auto bins = static_cast<int64_t>(counts.size());
  const double scale = hi > lo ? static_cast<double>(bins) / (hi - lo) : 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double v = static_cast<double>(p[i]);
    if (!std::isfinite(v)) continue;
    const auto b = static_cast<int64_t>((v - lo) * scale);
    ++counts[static_cast<size_t>(std::clamp<int64_t>(b, 0, bins - 1))];
  }
}

template <class T>
bool finite_of(const T* p, int64_t n) {
  // x - x is 0 for finite x and NaN for NaN/Inf; the sum vectorizes without -ffast-math. Many
  // independent partial sums: with one, each add waits for the previous (the build targets plain
  // x86-64, 4 floats per SSE add), and the check of every gradient every step cost 2% of an MLP step.
  constexpr int kLanes = 32;
  T acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int k = 0; k < kLanes; ++k) acc[k] += p[i + k] - p[i + k];
  T total = 0;
  for (; i < n; ++i) total += p[i] - p[i];
  for (T a : acc) total += a;
  return total == T(0);
}

template <class T>
double sqdist_of(const T* a, const T* b, int64_t n) {
  constexpr int kLanes = 16;  // independent sums, as in finite_of
  double acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int k = 0; k < kLanes; ++k) {
      const double d = static_cast<double>(a[i + k]) - static_cast<double>(b[i + k]);
      acc[k] += d * d;
    }
  double total = 0;
  for (; i < n; ++i) {
    const double d = static_cast<double>(a[i]) - static_cast<double>(b[i]);
    total += d * d;
  }
  for (double v : acc) total += v;
  return total;
}

template <class T>
double sumsq_of(const T* p, int64_t n) {
  constexpr int kLanes = 16;  // independent sums, as in finite_of
  double acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int k = 0; k < kLanes; ++k) acc[k] += static_cast<double>(p[i + k]) * static_cast<double>(p[i + k]);
  double total = 0;
  for (; i < n; ++i) total += static_cast<double>(p[i]) * static_cast<double>(p[i]);
  for (double a : acc) total += a;
  return total;
}

}  // namespace

OutputStats output_stats(const Tensor& t, LayerKind kind) {
  if (t.dtype() == DType::F32) return stats_of(t.data<float>(), t.numel(), kind);
  if (t.dtype() == DType::F64) return stats_of(t.data<double>(), t.numel(), kind);
  return stats_of(t.detach().to(DType::F64).data<double>(), t.numel(), kind);
}

void mark_alive(const Tensor& t, std::vector<uint8_t>& alive) {
  const int64_t rows = t.dim() > 0 ? t.size(0) : 1;
  const int64_t units = rows > 0 ? t.numel() / rows : 0;
  if (alive.size() != static_cast<size_t>(units)) alive.assign(static_cast<size_t>(units), 0);
  if (t.dtype() == DType::F32) alive_of(t.data<float>(), rows, units, alive);
  else if (t.dtype() == DType::F64) alive_of(t.data<double>(), rows, units, alive);
}

std::vector<int64_t> histogram(const Tensor& t, double lo, double hi, int64_t bins) {
  std::vector<int64_t> counts(static_cast<size_t>(std::max<int64_t>(bins, 1)), 0);
  if (t.dtype() == DType::F32) hist_of(t.data<float>(), t.numel(), lo, hi, counts);
  else if (t.dtype() == DType::F64) hist_of(t.data<double>(), t.numel(), lo, hi, counts);
  return counts;
}

void histogram_range(LayerKind kind, const OutputStats& s, double& lo, double& hi) {
  if (kind == LayerKind::Tanh) {
    lo = -1.0, hi = 1.0;
  } else if (kind == LayerKind::Sigmoid) {
    lo = 0.0, hi = 1.0;
  } else {
    lo = s.min, hi = s.max;
    if (!(hi > lo)) lo -= 0.5, hi += 0.5;  // a constant output still gets a visible bar
  }
}

bool all_finite(const Tensor& t) {
  if (!t.defined()) return true;
  if (t.dtype() == DType::F32) return finite_of(t.data<float>(), t.numel());
  if (t.dtype() == DType::F64) return finite_of(t.data<double>(), t.numel());
  return true;
}

double l2_norm(const Tensor& t) {
  if (!t.defined()) return 0.0;
  if (t.dtype() == DType::F32) return std::sqrt(sumsq_of(t.data<float>(), t.numel()));
  if (t.dtype() == DType::F64) return std::sqrt(sumsq_of(t.data<double>(), t.numel()));
  return 0.0;
}

double l2_distance(const Tensor& a, const Tensor& b) {
  if (!a.defined() || !b.defined() || a.numel() != b.numel() || a.dtype() != b.dtype()) return NAN;
  if (a.dtype() == DType::F32) return std::sqrt(sqdist_of(a.data<float>(), b.data<float>(), a.numel()));
  if (a.dtype() == DType::F64) return std::sqrt(sqdist_of(a.data<double>(), b.data<double>(), a.numel()));
  return NAN;
}

double tensor_std(const Tensor& t) {
  if (!t.defined() || t.numel() == 0) return 0.0;
  return output_stats(t, LayerKind::Other).std;
}

std::string fmt_num(double v) {
  if (!std::isfinite(v)) return std::isnan(v) ? "NaN" : (v > 0 ? "Inf" : "-Inf");
  const double a = std::abs(v);
  if (a != 0.0 && (a < 1e-3 || a >= 1e5)) return fmt::format("{:.2g}", v);
  return fmt::format("{:.3g}", v);
}

std::string html_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace descent::diag
