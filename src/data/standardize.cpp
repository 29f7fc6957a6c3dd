// Per-feature imputation and scaling, fitted on the training split only: statistics that saw
// validation or test samples would leak them into training and flatter the reported metrics.
#include <fmt/format.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "data/gather.h"
#include "descent/data.h"

namespace descent::data {
namespace {

int64_t features_of(const Tensor& x) { return shape_numel(Shape(x.shape().begin() + 1, x.shape().end())); }

template <class T>
void transform_rows(T* x, int64_t rows, int64_t f, const std::vector<double>& fill, const std::vector<double>& shift,
                    const std::vector<double>& scale) {
  for (int64_t r = 0; r < rows; ++r) {
    T* row = x + r * f;
    for (int64_t j = 0; j < f; ++j) {
      double v = static_cast<double>(row[j]);
      if (std::isnan(v)) v = fill[static_cast<size_t>(j)];
      row[j] = static_cast<T>((v - shift[static_cast<size_t>(j)]) / scale[static_cast<size_t>(j)]);
    }
  }
}

}  // namespace

Standardizer Standardizer::fit(const Dataset& dataset, const std::vector<int64_t>& indices, Scaling scaling) {
  const Tensor& x = dataset.inputs;
  if (!x.defined() || x.dtype() != DType::F64) {
    throw Error(fmt::format("data: standardization fits float64 tabular inputs, got {}{}",
                            x.defined() ? dtype_name(x.dtype()) : "no inputs",
                            x.defined() && x.dtype() == DType::U8 ? " (images are scaled by the loader's scale)" : ""));
  }
  check_indices(indices, dataset.size(), "standardize");
  const int64_t f = features_of(x);
  const int64_t rows = indices.empty() ? dataset.size() : static_cast<int64_t>(indices.size());
  const double* p = x.data<double>();
  std::vector<double> sum(static_cast<size_t>(f), 0.0), lo(static_cast<size_t>(f), INFINITY), hi(static_cast<size_t>(f), -INFINITY);
  std::vector<int64_t> count(static_cast<size_t>(f), 0);
  auto row_of = [&](int64_t k) { return p + (indices.empty() ? k : indices[static_cast<size_t>(k)]) * f; };
  for (int64_t k = 0; k < rows; ++k) {
    const double* row = row_of(k);
    for (int64_t j = 0; j < f; ++j) {
      if (std::isnan(row[j])) continue;
      auto u = static_cast<size_t>(j);
      sum[u] += row[j];
      ++count[u];
      lo[u] = std::min(lo[u], row[j]);
      hi[u] = std::max(hi[u], row[j]);
    }
  }
  Standardizer s;
  s.scaling_ = scaling;
  s.fill_.resize(static_cast<size_t>(f));
  s.shift_.assign(static_cast<size_t>(f), 0.0);
  s.scale_.assign(static_cast<size_t>(f), 1.0);
  for (int64_t j = 0; j < f; ++j) {
    auto u = static_cast<size_t>(j);
    if (count[u] == 0) {
      std::string name = u < dataset.feature_names.size() ? dataset.feature_names[u] : std::to_string(j);
      throw Error(fmt::format("data: feature '{}' has no value in the {} training samples", name, rows));
    }
    s.fill_[u] = sum[u] / static_cast<double>(count[u]);
  }
  if (scaling == Scaling::Standard) {
    // Second pass for the variance: the two-pass form does not cancel catastrophically.
    std::vector<double> sq(static_cast<size_t>(f), 0.0);
    for (int64_t k = 0; k < rows; ++k) {
      const double* row = row_of(k);
      for (int64_t j = 0; j < f; ++j) {
        auto u = static_cast<size_t>(j);
        double d = (std::isnan(row[j]) ? s.fill_[u] : row[j]) - s.fill_[u];
        sq[u] += d * d;
      }
    }
    for (size_t u = 0; u < sq.size(); ++u) {
      double sd = std::sqrt(sq[u] / static_cast<double>(rows));
      s.shift_[u] = s.fill_[u];
      s.scale_[u] = sd > 0.0 ? sd : 1.0;
    }
  } else if (scaling == Scaling::MinMax) {
    for (size_t u = 0; u < lo.size(); ++u) {
      s.shift_[u] = lo[u];
      s.scale_[u] = hi[u] > lo[u] ? hi[u] - lo[u] : 1.0;
    }
  }
  return s;
}

void Standardizer::apply(Dataset& dataset) const {
  if (shift_.empty()) return;
  dataset.inputs = transform(dataset.inputs);
}

Tensor Standardizer::transform(const Tensor& x) const {
  if (shift_.empty()) return x;
  if (x.dim() < 1 || features_of(x) != num_features()) {
    throw Error(fmt::format("data: standardizer fitted on {} features applied to {}", num_features(), x.shape_str()));
  }
  Tensor out = x.detach().clone();
  const int64_t rows = x.size(0), f = num_features();
  switch (out.dtype()) {
    case DType::F64: transform_rows(out.data<double>(), rows, f, fill_, shift_, scale_); break;
    case DType::F32: transform_rows(out.data<float>(), rows, f, fill_, shift_, scale_); break;
    default: throw Error(fmt::format("data: standardizer needs float inputs, got {}", dtype_name(x.dtype())));
  }
  return out;
}

std::string Standardizer::to_json() const {
  nlohmann::json j;
  j["scaling"] = scaling_name(scaling_);
  j["fill"] = fill_;
  j["shift"] = shift_;
  j["scale"] = scale_;
  return j.dump();
}

Standardizer Standardizer::from_json(const std::string& text) {
  Standardizer s;
  try {
    nlohmann::json j = nlohmann::json::parse(text);
    s.scaling_ = scaling_from_name(j.at("scaling").get<std::string>());
    s.fill_ = j.at("fill").get<std::vector<double>>();
    s.shift_ = j.at("shift").get<std::vector<double>>();
    s.scale_ = j.at("scale").get<std::vector<double>>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("standardizer: malformed JSON ({})", e.what()));
  }
  if (s.fill_.size() != s.shift_.size() || s.scale_.size() != s.shift_.size()) {
    throw Error(fmt::format("standardizer: fill, shift and scale differ in length ({}, {}, {})", s.fill_.size(),
                            s.shift_.size(), s.scale_.size()));
  }
  for (double v : s.scale_)
    if (!(v > 0.0) || !std::isfinite(v)) throw Error(fmt::format("standardizer: scale {} is not a positive number", v));
  return s;
}

}  // namespace descent::data
